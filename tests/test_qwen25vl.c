/* test_qwen25vl.c -- the Qwen2.5-VL vision tower: the seed's window example by hand, deduplication, the
 * reverse index, both golden cases through `vlmtrace run` + diff, and bad config. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "format/npy.h"
#include "qwen25vl/qwen25vl.h"
#include "qwen2_cases.h"

static char out[1 << 16];

static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

/* ======================================== windows by hand ======================================== */

/* The seed document's example: a 6 x 6 merged grid (12 x 12 patches), windows of 4 x 4 merged tokens.
 * Padded to 8 x 8 with -100; the four windows hold 16, 8, 8 and 4 tokens. */
static void test_qwen25vl_seed_window_example(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int64_t g[3] = {1, 12, 12};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(1, 3)), wi, raw, cu;
    assert_int_equal(vt_qwen25vl_get_window_index(&wi, &raw, &grid, 4, 2, &a, &st), 0);
    assert_int_equal(wi.shape[0], 36);
    const int64_t w0[16] = {0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15, 18, 19, 20, 21};
    const int64_t w1[8] = {4, 5, 10, 11, 16, 17, 22, 23};
    const int64_t w2[8] = {24, 25, 26, 27, 30, 31, 32, 33};
    const int64_t w3[4] = {28, 29, 34, 35};
    assert_memory_equal(vt_i64(&wi), w0, sizeof w0);
    assert_memory_equal(vt_i64(&wi) + 16, w1, sizeof w1);
    assert_memory_equal(vt_i64(&wi) + 24, w2, sizeof w2);
    assert_memory_equal(vt_i64(&wi) + 32, w3, sizeof w3);
    const int32_t want_cu[5] = {0, 64, 96, 128, 144}; /* [0] + cumsum([16, 8, 8, 4]) * 4 */
    assert_int_equal(raw.shape[0], 5);
    assert_memory_equal(raw.data, want_cu, sizeof want_cu);
    assert_int_equal(vt_qwen25vl_unique_consecutive(&cu, &raw, &a, &st), 0);
    assert_int_equal(cu.shape[0], 5); /* nothing to remove here */
    vt_arena_free(&a);
}

/* A merged side already divisible by 4 still gets a whole window of padding: grid 8 x 4 patches is 4 x 2
 * merged, padded to 8 x 4, windows [8 tokens, 0 tokens] -> raw [0, 32, 32] -> deduplicated [0, 32]. Two
 * time slices of a video each get their own windows, offset by the slice's tokens. */
static void test_qwen25vl_empty_windows_deduplicated(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int64_t g[6] = {1, 8, 4, 2, 4, 4};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(2, 3)), wi, raw, cu;
    assert_int_equal(vt_qwen25vl_get_window_index(&wi, &raw, &grid, 4, 2, &a, &st), 0);
    const int32_t want_raw[5] = {0, 32, 32, 48, 64}; /* image: 8 then 0; video: 4 per slice */
    assert_int_equal(raw.shape[0], 5);
    assert_memory_equal(raw.data, want_raw, sizeof want_raw);
    assert_int_equal(vt_qwen25vl_unique_consecutive(&cu, &raw, &a, &st), 0);
    const int32_t want_cu[4] = {0, 32, 48, 64};
    assert_int_equal(cu.shape[0], 4);
    assert_memory_equal(cu.data, want_cu, sizeof want_cu);
    const int64_t want_wi[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    assert_memory_equal(wi.data, want_wi, sizeof want_wi);
    vt_arena_free(&a);
}

/* The reorder moves whole merged tokens (U rows together) and argsort undoes it; full attention is chosen
 * by integer comparison. */
static void test_qwen25vl_reorder_reverse_fullatt(void **state)
{
    (void)state;
    const int64_t wi[3] = {2, 0, 1};
    float src[12], dst[12]; /* M = 3 tokens of U = 2 rows of width 2 */
    for (int i = 0; i < 12; i++) src[i] = (float)i;
    vt_qwen25vl_window_reorder(dst, src, wi, 3, 2, 2);
    const float want[12] = {8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7};
    assert_memory_equal(dst, want, sizeof want);
    int64_t rev[3];
    vt_qwen25vl_argsort(rev, wi, 3);
    const int64_t want_rev[3] = {1, 2, 0};
    assert_memory_equal(rev, want_rev, sizeof want_rev);
    vt_qwen25vl_config c;
    memset(&c, 0, sizeof c);
    c.n_fullatt = 2;
    c.fullatt_block_indexes[0] = 7;
    c.fullatt_block_indexes[1] = 15;
    assert_true(vt_qwen25vl_is_fullatt(&c, 7) && vt_qwen25vl_is_fullatt(&c, 15));
    assert_false(vt_qwen25vl_is_fullatt(&c, 0) || vt_qwen25vl_is_fullatt(&c, 8) || vt_qwen25vl_is_fullatt(&c, 31));
}

/* ======================================== golden cases ======================================== */

static void run_golden(const char *case_dir, const char *extra)
{
    char tmp[64], args[8192], tr[128];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, case_dir);
    int rc = vt_test_cli(out, sizeof out, "%s --trace %s/trace %s", args, tmp, extra);
    if (rc != 0) fail_msg("%s --trace -> %d\n%s", args, rc, out);
    snprintf(tr, sizeof tr, "%s/trace", tmp);
    assert_dirs_match(tr, case_dir);
    vt_test_rmtree(tmp);
}

static void test_qwen25vl_golden_image(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen25vl-image"), "");
    run_golden(VT_GOLDEN("qwen25vl-image"), "--attn literal");
}

static void test_qwen25vl_golden_multi(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen25vl-multi"), "");
    run_golden(VT_GOLDEN("qwen25vl-multi"), "--attn literal");
}

/* --viz: both masks and one window picture per input, listed in the manifest. */
static void test_qwen25vl_viz(void **state)
{
    (void)state;
    char tmp[64], args[8192], p[256];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, VT_GOLDEN("qwen25vl-multi"));
    assert_int_equal(vt_test_cli(out, sizeof out, "%s --trace %s/t --viz", args, tmp), 0);
    const char *pics[] = {"visual.window_mask.png", "visual.full_mask.png", "image.0.windows.png",
                          "image.1.windows.png", "video.0.windows.png"};
    void *text;
    size_t len;
    vt_status st = {0};
    snprintf(p, sizeof p, "%s/t/manifest.json", tmp);
    assert_int_equal(vt_read_file(p, &text, &len, 1 << 24, &st), 0);
    for (size_t i = 0; i < sizeof pics / sizeof pics[0]; i++) {
        struct stat sb;
        snprintf(p, sizeof p, "%s/t/%s", tmp, pics[i]);
        if (stat(p, &sb) != 0) fail_msg("no %s", p);
        assert_non_null(strstr(text, pics[i]));
    }
    free(text);
    vt_test_rmtree(tmp);
}

/* ======================================== bad config ======================================== */

static void make_model(char *dir, size_t cap, const char *tmp, const char *name, const char *from, const char *to)
{
    copy_case_edited(dir, cap, tmp, name, VT_GOLDEN("qwen25vl-image"), from, to, "none-dropped");
}

static void test_qwen25vl_bad_config(void **state)
{
    (void)state;
    char tmp[64], dir[256];
    const char *img = VT_GOLDEN("qwen25vl-image") "/image.0.png";
    vt_test_tmpdir(tmp);
    /* fullatt_block_indexes past the last block (depth 4) */
    make_model(dir, sizeof dir, tmp, "fullatt", "\"fullatt_block_indexes\": [\n      1,\n      3\n    ]",
               "\"fullatt_block_indexes\": [1, 4]");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 20000", dir, img),
                 "fullatt_block_indexes");
    /* window_size 100 is not a multiple of patch_size * spatial_merge_size = 28 */
    make_model(dir, sizeof dir, tmp, "window", "\"window_size\": 112", "\"window_size\": 100");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 20000", dir, img), "window_size");
    /* a checkpoint whose block 3 lost its MLP */
    snprintf(dir, sizeof dir, "%s/nomlp", tmp);
    assert_int_equal(mkdir(dir, 0777), 0);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    copy_text_replacing(VT_GOLDEN("qwen25vl-image") "/config.json", p, "\"depth\": 4", "\"depth\": 4");
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    copy_checkpoint_without(VT_GOLDEN("qwen25vl-image") "/model.safetensors", p, "visual.blocks.3.mlp.");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 20000", dir, img),
                 "visual.blocks.3.mlp.");
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen25vl_seed_window_example),
        cmocka_unit_test(test_qwen25vl_empty_windows_deduplicated),
        cmocka_unit_test(test_qwen25vl_reorder_reverse_fullatt),
        cmocka_unit_test(test_qwen25vl_golden_image),
        cmocka_unit_test(test_qwen25vl_golden_multi),
        cmocka_unit_test(test_qwen25vl_viz),
        cmocka_unit_test(test_qwen25vl_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
