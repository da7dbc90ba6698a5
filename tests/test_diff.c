/* test_diff.c -- the comparison rule and `vt_diff` on golden traces and doctored copies. */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/diff.h"
#include "format/manifest.h"
#include "format/npy.h"

static const char *const golden_cases[] = {
    "qwen2vl-image", "qwen2vl-image-bf16", "qwen2vl-multi", "qwen25vl-image", "qwen25vl-multi",
    "qwenvl-image", "qwenvl-abspos", "kimivl-image", "kimivl-multi", "preprocess-sizes", "preprocess-exif",
    "rope-index/qwen2vl-text", "rope-index/qwen2vl-mrope", "rope-index/qwen25vl-video-time",
};

/* Run vt_diff, capturing its report. */
static int run_diff(const char *ours, const char *ref, const vt_diff_opts *o, char **text, vt_status *st)
{
    size_t len;
    FILE *mem = open_memstream(text, &len);
    int rc = vt_diff(ours, ref, o, mem, st);
    fclose(mem);
    return rc;
}

static void copy_case(const char *src, char *tmp, char *dst)
{
    char cmd[512];
    vt_test_tmpdir(tmp);
    sprintf(dst, "%s/ours", tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && chmod -R u+w '%s'", src, dst, dst);
    assert_int_equal(system(cmd), 0);
}

/* Overwrite element `flat` of the tensor stored in dir/file with v (float32 or integer). */
static void poke(const char *dir, const char *file, int64_t flat, double v)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    vt_tensor t;
    void *owned;
    vt_status st = {0};
    if (vt_npy_read(path, &t, &owned, &st)) fail_msg("%s", st.msg);
    if (t.dtype == VT_F32) vt_f32(&t)[flat] = (float)v;
    else if (t.dtype == VT_I32) vt_i32(&t)[flat] = (int32_t)v;
    else if (t.dtype == VT_I64) vt_i64(&t)[flat] = (int64_t)v;
    else vt_u8(&t)[flat] = (uint8_t)v;
    assert_int_equal(vt_npy_write(path, &t, &st), 0);
    free(owned);
}

static double golden_value(const char *name, int64_t flat)
{
    vt_tensor t;
    void *owned;
    vt_test_load_golden(VT_GOLDEN("qwen2vl-image"), name, &t, &owned);
    double v = vt_elem(&t, flat);
    free(owned);
    return v;
}

static void test_diff_golden_against_itself(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof golden_cases / sizeof golden_cases[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, VT_GOLDEN_ROOT "/%s", golden_cases[i]);
        assert_dirs_match(dir, dir);
    }
}

static void test_diff_one_element_changed(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    poke(ours, "visual.blocks.1.attn.qkv.npy", 17 * 96 + 40, 1.0);
    int rc = run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st);
    assert_int_equal(rc, VT_EDIFF);
    assert_non_null(strstr(text, "FAIL     visual.blocks.1.attn.qkv"));
    assert_non_null(strstr(text, "worst element [17, 40]: ours 1,"));
    assert_non_null(strstr(text, "1 of 30720 elements out of tolerance"));
    assert_non_null(strstr(text, "first divergence: visual.blocks.1.attn.qkv (last passing before it: visual.blocks.1.norm1)"));
    assert_null(strstr(text, "visual.blocks.1.attn.q_rope")); /* stopped at the first failure */
    free(text);
    /* --all keeps going; the later tensors that share nothing with the poked file still pass */
    o.all = 1;
    rc = run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st);
    assert_int_equal(rc, VT_EDIFF);
    assert_non_null(strstr(text, "ok       visual.blocks.1.attn.q_rope"));
    free(text);
    vt_test_rmtree(tmp);
}

/* The tolerance edge: half the allowance passes, twice the allowance fails. */
static void test_diff_tolerance_edge(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    int64_t at = 5 * 32 + 3;
    double r = golden_value("visual.patch_embed", at);
    vt_tensor t;
    void *owned;
    vt_test_load_golden(VT_GOLDEN("qwen2vl-image"), "visual.patch_embed", &t, &owned);
    double maxr = 0;
    for (int64_t i = 0; i < vt_numel(&t); i++) maxr = fmax(maxr, fabs(vt_elem(&t, i)));
    free(owned);
    double allow = VT_DEFAULT_ATOL * fmax(1, maxr) + VT_DEFAULT_RTOL * fabs(r);

    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    poke(ours, "visual.patch_embed.npy", at, r + 0.5 * allow);
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), 0);
    free(text);
    poke(ours, "visual.patch_embed.npy", at, r + 2 * allow);
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), VT_EDIFF);
    assert_non_null(strstr(text, "worst element [5, 3]"));
    free(text);
    /* --atol widens the allowance for this run only */
    o.cmp.atol = 1e-3;
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), 0);
    free(text);
    vt_test_rmtree(tmp);
}

static void test_diff_integers_exact(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    poke(ours, "image.0.resized.npy", 1000, golden_value("image.0.resized", 1000) + 1); /* one level of one byte */
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), VT_EDIFF);
    assert_non_null(strstr(text, "FAIL     image.0.resized"));
    assert_non_null(strstr(text, "integers must match exactly"));
    assert_non_null(strstr(text, "worst element [1, 53, 1]"));
    free(text);
    vt_test_rmtree(tmp);
}

/* Rewrite dir's manifest with one entry dropped, or its shape changed. */
static void edit_manifest(const char *dir, const char *name, int drop, int64_t new_dim0, char **only, int n_only)
{
    vt_manifest m;
    vt_status st = {0};
    assert_int_equal(vt_manifest_read(&m, dir, &st), 0);
    for (int i = 0; i < m.n; i++) {
        if (strcmp(m.t[i].name, name) != 0) continue;
        if (drop) {
            free(m.t[i].name);
            free(m.t[i].file);
            free(m.t[i].note);
            memmove(&m.t[i], &m.t[i + 1], (size_t)(m.n - i - 1) * sizeof m.t[0]);
            m.n--;
        } else {
            m.t[i].shape[0] = new_dim0;
        }
        break;
    }
    if (n_only) {
        m.only = calloc((size_t)n_only, sizeof(char *));
        for (int i = 0; i < n_only; i++) m.only[i] = strdup(only[i]);
        m.n_only = n_only;
    }
    assert_int_equal(vt_manifest_write(&m, dir, &st), 0);
    vt_manifest_free(&m);
}

static void test_diff_missing_tensor(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    edit_manifest(ours, "visual.merger.ln_q", 1, 0, NULL, 0);
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), VT_EDIFF);
    assert_non_null(strstr(text, "MISSING  visual.merger.ln_q"));
    assert_non_null(strstr(text, "first divergence: visual.merger.ln_q (last passing before it: visual.blocks.2)"));
    free(text);
    vt_test_rmtree(tmp);
}

static void test_diff_shape_mismatch(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    edit_manifest(ours, "visual.cu_seqlens", 0, 3, NULL, 0); /* the manifest now disagrees with its own file */
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "in the file but int32 [3] in the manifest"));
    free(text);
    vt_test_rmtree(tmp);
}

/* Ours traced with --only: excluded tensors are "not traced", not failures. The diff's own --only too. */
static void test_diff_only_filters(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    char *only[] = {"image.*", "visual.blocks.0.*"};
    edit_manifest(ours, "visual.merger", 1, 0, only, 2); /* dropped, but outside ours' --only */
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), 0);
    assert_non_null(strstr(text, "not traced (excluded by ours' --only)"));
    assert_non_null(strstr(text, "1 not traced by ours"));
    free(text);
    edit_manifest(ours, "visual.blocks.0.norm1", 1, 0, NULL, 0); /* inside ours' --only: a real miss */
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), VT_EDIFF);
    free(text);
    char *donly[] = {"image.*"};
    o.only = donly;
    o.n_only = 1;
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), 0);
    assert_non_null(strstr(text, "PASS: 4 tensor(s) match"));
    free(text);
    vt_test_rmtree(tmp);
}

static void test_diff_refuses_incomplete_trace(void **state)
{
    (void)state;
    char tmp[64], ours[128], path[200], *text;
    vt_status st = {0};
    vt_diff_opts o = vt_diff_defaults();
    copy_case(VT_GOLDEN("qwen2vl-image"), tmp, ours);
    snprintf(path, sizeof path, "%s/manifest.json", ours);
    remove(path);
    assert_int_equal(run_diff(ours, VT_GOLDEN("qwen2vl-image"), &o, &text, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "no readable manifest.json"));
    free(text);
    vt_test_rmtree(tmp);
}

/* NaN and infinities: equal only to themselves. */
static void test_compare_nonfinite(void **state)
{
    (void)state;
    float r[3] = {1, NAN, INFINITY}, o1[3] = {1, NAN, INFINITY}, o2[3] = {1, 0, INFINITY}, o3[3] = {NAN, NAN, INFINITY};
    vt_tensor tr = vt_tensor_of(VT_F32, r, VT_DIMS(3)), t1 = vt_tensor_of(VT_F32, o1, VT_DIMS(3));
    vt_tensor t2 = vt_tensor_of(VT_F32, o2, VT_DIMS(3)), t3 = vt_tensor_of(VT_F32, o3, VT_DIMS(3));
    vt_cmp_opts o = {VT_DEFAULT_ATOL, VT_DEFAULT_RTOL};
    vt_cmp_result c;
    vt_compare(&t1, &tr, &o, &c);
    assert_true(c.pass);
    vt_compare(&t2, &tr, &o, &c);
    assert_false(c.pass);
    assert_int_equal(c.worst, 1);
    vt_compare(&t3, &tr, &o, &c);
    assert_false(c.pass);
    assert_int_equal(c.worst, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_golden_against_itself), cmocka_unit_test(test_diff_one_element_changed),
        cmocka_unit_test(test_diff_tolerance_edge),        cmocka_unit_test(test_diff_integers_exact),
        cmocka_unit_test(test_diff_missing_tensor),        cmocka_unit_test(test_diff_shape_mismatch),
        cmocka_unit_test(test_diff_only_filters),          cmocka_unit_test(test_diff_refuses_incomplete_trace),
        cmocka_unit_test(test_compare_nonfinite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
