/* test_trace.c -- the tap, the file-writing tracer, --only filtering and the manifest contract. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/manifest.h"
#include "core/tap.h"
#include "format/tracer.h"

static int exists(const char *dir, const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* A stand-in forward: three named stages, the second only computed when wanted. */
static int fake_forward(const vt_tap *tap, int fail_at, vt_status *st)
{
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t ids[2] = {7, 8};
    vt_tensor t = vt_tensor_of(VT_F32, a, VT_DIMS(2, 3));
    VT_TRY(vt_tap_emit(tap, "visual.patch_embed", &t, st));
    if (vt_tap_wants(tap, "visual.blocks.0.attn.q_rope")) {
        vt_tensor q = vt_tensor_of(VT_F32, a, VT_DIMS(1, 2, 3));
        VT_TRY(vt_tap_emitf(tap, st, &q, "visual.blocks.%d.attn.q_rope", 0));
    }
    if (fail_at == 2) return vt_fail(st, VT_EINPUT, "model.safetensors: missing key visual.blocks.1.norm1.weight");
    vt_tensor i = vt_tensor_of(VT_I64, ids, VT_DIMS(2));
    return vt_tap_emit(tap, "visual.cu_seqlens", &i, st);
}

static void test_trace_writes_npy_and_manifest_last(void **state)
{
    (void)state;
    char tmp[64], dir[128];
    vt_test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/a/b", tmp); /* parents are created */
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, dir, "qwen2_vl", NULL, 0, &st), 0);
    vt_tap tap = vt_tracer_tap(&tr);
    assert_int_equal(fake_forward(&tap, 0, &st), 0);
    assert_true(exists(dir, "visual.patch_embed.npy"));
    assert_true(exists(dir, "visual.blocks.0.attn.q_rope.npy"));
    assert_false(exists(dir, "manifest.json")); /* not before finish */
    assert_int_equal(vt_tracer_finish(&tr, &st), 0);
    vt_tracer_close(&tr);

    vt_manifest m;
    assert_int_equal(vt_manifest_read(&m, dir, &st), 0);
    assert_string_equal(m.model, "qwen2_vl");
    assert_int_equal(m.n, 3);
    assert_string_equal(m.t[0].name, "visual.patch_embed");
    assert_string_equal(m.t[1].name, "visual.blocks.0.attn.q_rope");
    assert_string_equal(m.t[2].name, "visual.cu_seqlens");
    assert_int_equal(m.t[2].dtype, VT_I64);
    assert_int_equal(m.t[1].ndim, 3);
    vt_tensor t;
    void *owned;
    assert_int_equal(vt_manifest_load(&m, &m.t[0], &t, &owned, &st), 0);
    assert_true(vt_f32(&t)[5] == 6.0f);
    free(owned);
    vt_manifest_free(&m);
    vt_test_rmtree(tmp);
}

static void test_trace_only_filter(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    char *only[] = {"*.attn.*", "visual.cu_*"};
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, tmp, "qwen2_vl", only, 2, &st), 0);
    vt_tap tap = vt_tracer_tap(&tr);
    assert_false(vt_tap_wants(&tap, "visual.patch_embed"));
    assert_true(vt_tap_wants(&tap, "visual.blocks.0.attn.q_rope")); /* '*' crosses dots */
    assert_int_equal(fake_forward(&tap, 0, &st), 0);
    assert_int_equal(vt_tracer_finish(&tr, &st), 0);
    vt_tracer_close(&tr);
    assert_false(exists(tmp, "visual.patch_embed.npy"));
    vt_manifest m;
    assert_int_equal(vt_manifest_read(&m, tmp, &st), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.n_only, 2);
    assert_string_equal(m.only[0], "*.attn.*");
    assert_false(vt_manifest_only_keeps(&m, "visual.patch_embed"));
    vt_manifest_free(&m);
    vt_test_rmtree(tmp);
}

/* No tap: nothing is computed for tracing, nothing is written, and nothing fails. */
static void test_trace_null_tap_costs_nothing(void **state)
{
    (void)state;
    vt_status st = {0};
    assert_false(vt_tap_wants(NULL, "visual.patch_embed"));
    assert_int_equal(fake_forward(NULL, 0, &st), 0);
    vt_tap empty = {0};
    assert_int_equal(fake_forward(&empty, 0, &st), 0);
}

/* A run that fails halfway leaves no manifest, and an old manifest in the directory is gone too. */
static void test_trace_failed_run_leaves_no_manifest(void **state)
{
    (void)state;
    char tmp[64], path[200];
    vt_test_tmpdir(tmp);
    snprintf(path, sizeof path, "%s/manifest.json", tmp);
    vt_test_write_file(path, "{\"tensors\": []}", 15); /* from an earlier, complete run */
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, tmp, "qwen2_vl", NULL, 0, &st), 0);
    assert_false(exists(tmp, "manifest.json"));
    vt_tap tap = vt_tracer_tap(&tr);
    assert_int_equal(fake_forward(&tap, 2, &st), VT_EINPUT);
    vt_tracer_close(&tr);
    assert_true(exists(tmp, "visual.patch_embed.npy"));
    assert_false(exists(tmp, "manifest.json"));
    vt_manifest m;
    assert_int_equal(vt_manifest_read(&m, tmp, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "no readable manifest.json"));
    vt_test_rmtree(tmp);
}

static void test_trace_uncreatable_directory(void **state)
{
    (void)state;
    char tmp[64], dir[200], file[200];
    vt_test_tmpdir(tmp);
    snprintf(file, sizeof file, "%s/plainfile", tmp);
    vt_test_write_file(file, "x", 1);
    snprintf(dir, sizeof dir, "%s/plainfile/trace", tmp);
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, dir, "qwen2_vl", NULL, 0, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "cannot create directory"));
    assert_non_null(strstr(st.msg, "plainfile"));
    vt_tracer_close(&tr);
    assert_int_equal(vt_tracer_open(&tr, file, "qwen2_vl", NULL, 0, &st), VT_EINPUT); /* a file, not a dir */
    vt_tracer_close(&tr);
    vt_test_rmtree(tmp);
}

/* Malformed manifests: each an input error with a one-line reason. */
static void test_trace_bad_manifests(void **state)
{
    (void)state;
    struct {
        const char *json, *why;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"[1, 2]", "not a JSON object"},
        {"{\"model\": \"x\"}", "no \"tensors\" list"},
        {"{\"tensors\": [{\"file\": \"a.npy\", \"dtype\": \"float32\", \"shape\": [1]}]}", "has no name"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"../../etc/passwd\", \"dtype\": \"float32\", \"shape\": [1]}]}",
         "relative path inside"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"/etc/passwd\", \"dtype\": \"float32\", \"shape\": [1]}]}",
         "relative path inside"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"a.npy\", \"dtype\": \"float64\", \"shape\": [1]}]}", "unknown dtype"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"a.npy\", \"dtype\": \"float32\", \"shape\": [-1]}]}",
         "non-negative integers"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"a.npy\", \"dtype\": \"float32\", \"shape\": [1.5]}]}",
         "non-negative integers"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"a.npy\", \"dtype\": \"float32\", \"shape\": [1,1,1,1,1,1,1,1,1,1]}]}",
         "dims"},
        {"{\"tensors\": [{\"name\": \"a\", \"file\": \"a.npy\", \"dtype\": \"float32\", \"shape\": [1]},"
         " {\"name\": \"a\", \"file\": \"b.npy\", \"dtype\": \"float32\", \"shape\": [1]}]}",
         "listed twice"},
        {"{\"only\": [3], \"tensors\": []}", "non-string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vt_manifest m;
        vt_status st = {0};
        int rc = vt_manifest_parse(&m, cases[i].json, strlen(cases[i].json), &st);
        if (rc != VT_EINPUT || !strstr(st.msg, cases[i].why))
            fail_msg("case %zu: rc %d '%s' (wanted '%s')", i, rc, st.msg, cases[i].why);
    }
}

/* Duplicate names: the message names the first entry whose name came earlier (here "a" at position 3, not
 * "b" at 4), and a list of 200,000 names is checked at once (sorted, not pairwise: 2 * 10^10 string
 * comparisons otherwise) with its one duplicate at the very end found. */
static void test_trace_manifest_duplicates(void **state)
{
    (void)state;
    const char *small = "{\"tensors\": [{\"name\": \"b\", \"file\": \"b.npy\", \"dtype\": \"float32\", \"shape\": [1]},"
                        " {\"name\": \"a\", \"file\": \"a.npy\", \"dtype\": \"float32\", \"shape\": [1]},"
                        " {\"name\": \"c\", \"file\": \"c.npy\", \"dtype\": \"float32\", \"shape\": [1]},"
                        " {\"name\": \"a\", \"file\": \"a2.npy\", \"dtype\": \"float32\", \"shape\": [1]},"
                        " {\"name\": \"b\", \"file\": \"b2.npy\", \"dtype\": \"float32\", \"shape\": [1]}]}";
    vt_manifest m;
    vt_status st = {0};
    assert_int_equal(vt_manifest_parse(&m, small, strlen(small), &st), VT_EINPUT);
    assert_string_equal(st.msg, "tensor a listed twice");

    enum { N = 200000 };
    const size_t cap = (size_t)N * 80 + 64;
    char *json = malloc(cap);
    assert_non_null(json);
    size_t n = (size_t)snprintf(json, cap, "{\"tensors\": [");
    for (int i = 0; i <= N; i++) /* entry N repeats the name of entry 17 */
        n += (size_t)snprintf(json + n, cap - n,
                              "%s{\"name\": \"t%d\", \"file\": \"f%d.npy\", \"dtype\": \"uint8\", \"shape\": []}",
                              i ? ", " : "", i < N ? N - i : N - 17, i);
    size_t body = n;
    snprintf(json + n, cap - n, "]}");
    assert_int_equal(vt_manifest_parse(&m, json, strlen(json), &st), VT_EINPUT);
    assert_string_equal(st.msg, "tensor t199983 listed twice");
    /* without the last entry: all distinct */
    char *last = json + body;
    while (*last != '{') last--;
    snprintf(last - 2, cap - (size_t)(last - 2 - json), "]}");
    if (vt_manifest_parse(&m, json, strlen(json), &st)) fail_msg("%s", st.msg);
    assert_int_equal(m.n, N);
    vt_manifest_free(&m);
    free(json);
}

/* Manifest entries whose file disagrees with the manifest's dtype or shape are refused on load. */
static void test_trace_manifest_file_mismatch(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    vt_tracer tr;
    vt_status st = {0};
    assert_int_equal(vt_tracer_open(&tr, tmp, "x", NULL, 0, &st), 0);
    vt_tap tap = vt_tracer_tap(&tr);
    assert_int_equal(fake_forward(&tap, 0, &st), 0);
    tr.m.t[0].shape[0] = 3; /* lie about the shape */
    assert_int_equal(vt_tracer_finish(&tr, &st), 0);
    vt_tracer_close(&tr);
    vt_manifest m;
    assert_int_equal(vt_manifest_read(&m, tmp, &st), 0);
    vt_tensor t;
    void *owned;
    assert_int_equal(vt_manifest_load(&m, &m.t[0], &t, &owned, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "[2, 3] in the file but float32 [3, 3] in the manifest"));
    vt_manifest_free(&m);
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_writes_npy_and_manifest_last),
        cmocka_unit_test(test_trace_only_filter),
        cmocka_unit_test(test_trace_null_tap_costs_nothing),
        cmocka_unit_test(test_trace_failed_run_leaves_no_manifest),
        cmocka_unit_test(test_trace_uncreatable_directory),
        cmocka_unit_test(test_trace_bad_manifests),
        cmocka_unit_test(test_trace_manifest_duplicates),
        cmocka_unit_test(test_trace_manifest_file_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
