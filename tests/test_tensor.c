/* test_tensor.c -- tensors, reshape, the generic permute and the arena. */
#include "vt_test.h"

#include <string.h>

#include "core/arena.h"

static void test_tensor_numel_and_overflow(void **state)
{
    (void)state;
    assert_int_equal(vt_shape_numel(VT_DIMS(2, 3, 4)), 24);
    assert_int_equal(vt_shape_numel(0, NULL), 1); /* a scalar */
    assert_int_equal(vt_shape_numel(VT_DIMS(2, -1)), -1);
    assert_int_equal(vt_shape_numel(VT_DIMS(INT64_MAX, 2)), -1);
    assert_int_equal(vt_shape_numel(VT_DIMS(0, INT64_MAX)), 0);
}

static void test_tensor_reshape(void **state)
{
    (void)state;
    float buf[24];
    vt_status st = {0};
    vt_tensor t = vt_tensor_of(VT_F32, buf, VT_DIMS(2, 12));
    assert_int_equal(vt_reshape(&t, VT_DIMS(2, 3, 4), &st), 0);
    assert_int_equal(t.ndim, 3);
    assert_int_equal(t.shape[2], 4);
    assert_int_equal(vt_reshape(&t, VT_DIMS(-1, 6), &st), 0);
    assert_int_equal(t.shape[0], 4);
    assert_int_equal(vt_reshape(&t, VT_DIMS(5, 5), &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "cannot reshape [4, 6] into [5, 5]"));
    assert_int_equal(vt_reshape(&t, VT_DIMS(-1, -1), &st), VT_EINPUT);
    assert_int_equal(vt_reshape(&t, VT_DIMS(-1, 7), &st), VT_EINPUT);
}

/* transpose of a 2x3 matrix, by hand */
static void test_tensor_permute_2d(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int32_t x[6] = {0, 1, 2, 3, 4, 5};
    vt_tensor t = vt_tensor_of(VT_I32, x, VT_DIMS(2, 3)), y;
    assert_int_equal(vt_permute(&y, &t, VT_PERM(1, 0), &a, &st), 0);
    assert_int_equal(y.shape[0], 3);
    assert_int_equal(y.shape[1], 2);
    int32_t want[6] = {0, 3, 1, 4, 2, 5};
    assert_memory_equal(y.data, want, sizeof want);
    vt_arena_free(&a);
}

/* a 3-d permute against the index formula, and permute(inverse(p)) == identity on 9 dims */
static void test_tensor_permute_nd(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int64_t x[2 * 3 * 4];
    for (int i = 0; i < 24; i++) x[i] = i;
    vt_tensor t = vt_tensor_of(VT_I64, x, VT_DIMS(2, 3, 4)), y;
    assert_int_equal(vt_permute(&y, &t, VT_PERM(2, 0, 1), &a, &st), 0);
    /* y[k][i][j] = x[i][j][k] = 12 i + 4 j + k */
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) assert_int_equal(vt_i64(&y)[k * 6 + i * 3 + j], 12 * i + 4 * j + k);

    float big[2 * 1 * 3 * 2 * 2 * 1 * 2 * 2 * 3];
    for (int i = 0; i < (int)(sizeof big / sizeof big[0]); i++) big[i] = (float)i;
    vt_tensor b = vt_tensor_of(VT_F32, big, VT_DIMS(2, 1, 3, 2, 2, 1, 2, 2, 3)), p, q;
    const int perm[9] = {0, 3, 6, 4, 7, 2, 1, 5, 8}; /* the Qwen2-VL patchify order */
    int inv[9];
    for (int i = 0; i < 9; i++) inv[perm[i]] = i;
    assert_int_equal(vt_permute(&p, &b, 9, perm, &a, &st), 0);
    for (int i = 0; i < 9; i++) assert_int_equal(p.shape[i], b.shape[perm[i]]);
    assert_int_equal(vt_permute(&q, &p, 9, inv, &a, &st), 0);
    assert_memory_equal(q.data, big, sizeof big);
    assert_int_equal(vt_permute(&q, &p, VT_PERM(0, 1, 2), &a, &st), VT_EINPUT);
    assert_int_equal(vt_permute(&q, &t, VT_PERM(0, 0, 1), &a, &st), VT_EINPUT);
    vt_arena_free(&a);
}

static void test_arena_mark_reset_and_limit(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 8u << 20);
    vt_status st = {0};
    void *p = vt_arena_alloc(&a, 100, &st);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    vt_arena_pos m = vt_arena_mark(&a);
    assert_non_null(vt_arena_alloc(&a, 3u << 20, &st)); /* a chunk of its own */
    assert_non_null(vt_arena_alloc(&a, 3u << 20, &st));
    assert_null(vt_arena_alloc(&a, 3u << 20, &st)); /* past the 8 MiB limit */
    assert_int_equal(st.code, VT_ERESOURCE);
    assert_non_null(strstr(st.msg, "arena limit"));
    vt_arena_reset(&a, m);
    assert_int_equal(a.in_use, 128);
    assert_non_null(vt_arena_alloc(&a, 3u << 20, &st));
    vt_arena_free(&a);
    assert_null(a.head);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_numel_and_overflow), cmocka_unit_test(test_tensor_reshape),
        cmocka_unit_test(test_tensor_permute_2d),         cmocka_unit_test(test_tensor_permute_nd),
        cmocka_unit_test(test_arena_mark_reset_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
