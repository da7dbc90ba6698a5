/* test_trace_fail.c -- runs that fail halfway, through the binary, for every family: a write that fails in
 * the middle of a trace (VLMTRACE_FAIL_WRITE_AFTER, outfile.h), a bad weight in the last block, a truncated
 * checkpoint, an old complete trace in the directory, an unwritable directory. Each ends with one line
 * naming the tensor or the file, the exit code of docs/design.md, and no manifest.json: a half-written trace never
 * looks complete, and show / diff refuse it. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fileio.h"
#include "format/manifest.h"

static char out[1 << 16];

/* One family's tiny reference run, the tensor a write should fail on, and the last block's weight to break. */
typedef struct family_case {
    const char *golden, *inputs, *fail_at, *weight;
} family_case;

static const family_case families[] = {
    {VT_GOLDEN("qwen2vl-image"), "--image " VT_GOLDEN("qwen2vl-image") "/image.0.png --max-pixels 20000",
     "visual.blocks.1.attn.qkv", "visual.blocks.1.mlp.fc2.weight"},
    {VT_GOLDEN("qwen25vl-image"), "--image " VT_GOLDEN("qwen2vl-image") "/image.0.png --max-pixels 20000",
     "visual.blocks.2.mlp.gate_proj", "visual.blocks.3.mlp.down_proj.weight"},
    {VT_GOLDEN("qwenvl-image"), "--image " VT_GOLDEN("qwenvl-image") "/image0.png",
     "transformer.visual.transformer.resblocks.1.attn.in_proj", "transformer.visual.transformer.resblocks.1.mlp.c_proj.weight"},
    {VT_GOLDEN("kimivl-multi"), "--image " VT_GOLDEN("kimivl-multi") "/image0.png --image " VT_GOLDEN("kimivl-multi") "/image1.png",
     "vision_tower.encoder.blocks.1.wqkv", "vision_tower.encoder.blocks.1.mlp.fc1.weight"},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

static void clean_env(void) { unsetenv("VLMTRACE_FAIL_WRITE_AFTER"); }

static int exists(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void expect_line(int rc, int code, const char *a, const char *b, const char *c)
{
    if (rc != code || vt_test_lines(out) != 1 || (a && !strstr(out, a)) || (b && !strstr(out, b)) ||
        (c && !strstr(out, c)))
        fail_msg("wanted exit %d and one line with '%s' / '%s' / '%s'; got exit %d:\n%s", code, a ? a : "",
                 b ? b : "", c ? c : "", rc, out);
}

static int run_into(const family_case *f, const char *model, const char *trace)
{
    return vt_test_cli(out, sizeof out, "run --model %s %s --trace %s", model, f->inputs, trace);
}

/* Bytes the tracer writes before `name`'s file: the files of a complete trace, in manifest order. */
static long long bytes_before(const char *dir, const char *name)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, dir, &st)) fail_msg("%s", st.msg);
    long long total = 0;
    int found = 0;
    for (int i = 0; i < m.n && !found; i++) {
        if (!strcmp(m.t[i].name, name)) {
            found = 1;
            break;
        }
        char p[600];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, m.t[i].file);
        if (stat(p, &sb) != 0) fail_msg("%s missing", p);
        total += (long long)sb.st_size;
    }
    vt_manifest_free(&m);
    if (!found) fail_msg("%s: no tensor %s", dir, name);
    return total;
}

/* (a) + (c) + (d): a write fails in the middle of the trace (as a full disk would). The error names the
 * tensor being written, its partial file is gone, no manifest is left, and show / diff refuse the
 * directory -- also when it held a complete trace before the failing run. */
static void test_trace_fail_write_fails_halfway(void **state)
{
    (void)state;
    clean_env();
    char tmp[64], good[128], bad[128], file[160], env[32];
    vt_test_tmpdir(tmp);
    for (size_t i = 0; i < N_FAMILIES; i++) {
        const family_case *f = &families[i];
        snprintf(good, sizeof good, "%s/good%zu", tmp, i);
        snprintf(bad, sizeof bad, "%s/bad%zu", tmp, i);
        if (run_into(f, f->golden, good) != 0) fail_msg("complete run of %s: %s", f->golden, out);
        snprintf(env, sizeof env, "%lld", bytes_before(good, f->fail_at) + 40); /* inside its npy header */
        snprintf(file, sizeof file, "%s.npy", f->fail_at);
        setenv("VLMTRACE_FAIL_WRITE_AFTER", env, 1);
        int rc = run_into(f, f->golden, bad);
        clean_env();
        expect_line(rc, 3, "tensor ", f->fail_at, "No space left on device");
        assert_non_null(strstr(out, file));
        assert_false(exists(bad, "manifest.json"));
        assert_false(exists(bad, file));             /* the partial file was removed */
        assert_true(exists(bad, "image.0.rgb.npy")); /* what came before it is there, but incomplete */
        expect_line(vt_test_cli(out, sizeof out, "show %s", bad), 2, "no readable manifest.json", NULL, NULL);
        expect_line(vt_test_cli(out, sizeof out, "diff %s %s", bad, f->golden), 2, "no readable manifest.json", NULL,
                    NULL);
        /* the same failure over the complete trace: its old manifest must not survive to describe a mix */
        setenv("VLMTRACE_FAIL_WRITE_AFTER", env, 1);
        rc = run_into(f, f->golden, good);
        clean_env();
        expect_line(rc, 3, f->fail_at, NULL, NULL);
        assert_false(exists(good, "manifest.json"));
        expect_line(vt_test_cli(out, sizeof out, "show %s", good), 2, "no readable manifest.json", NULL, NULL);
    }
    vt_test_rmtree(tmp);
}

/* A copy of golden's checkpoint with the two dimensions of `key`'s shape swapped (same bytes, same length
 * of header), beside golden's config.json. */
static void model_with_swapped_shape(const char *dir, const char *golden, const char *key)
{
    char p[600];
    void *buf;
    size_t n;
    vt_status st = {0};
    snprintf(p, sizeof p, "%s/model.safetensors", golden);
    if (vt_read_file(p, &buf, &n, (size_t)1 << 30, &st)) fail_msg("%s", st.msg);
    char *text = buf;
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--) hlen = hlen << 8 | (unsigned char)text[b];
    char quoted[200];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    char *e = NULL;
    for (size_t at = 8; !e && at + strlen(quoted) <= 8 + hlen && at + strlen(quoted) <= n; at++)
        if (!memcmp(text + at, quoted, strlen(quoted))) e = text + at;
    if (!e) fail_msg("%s has no %s", p, key);
    char *sh = strstr(e, "\"shape\":[");
    if (!sh) fail_msg("no shape for %s", key);
    sh += 9;
    long a, b;
    if (sscanf(sh, "%ld,%ld]", &a, &b) != 2 || a == b) fail_msg("%s: not a 2-D shape with distinct dims", key);
    char swapped[64], orig[64];
    int la = snprintf(orig, sizeof orig, "%ld,%ld", a, b);
    snprintf(swapped, sizeof swapped, "%ld,%ld", b, a);
    memcpy(sh, swapped, (size_t)la);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    vt_test_write_file(p, buf, n);
    free(buf);
    snprintf(p, sizeof p, "%s/config.json", golden);
    if (vt_read_file(p, &buf, &n, 1 << 20, &st)) fail_msg("%s", st.msg);
    snprintf(p, sizeof p, "%s/config.json", dir);
    vt_test_write_file(p, buf, n);
    free(buf);
}

/* (b) + (d): a bad weight in the last block, over a directory that holds a complete trace: exit 2 naming
 * the tensor, and the old manifest is gone. Then the same with a truncated checkpoint. */
static void test_trace_fail_bad_weight_in_last_block(void **state)
{
    (void)state;
    clean_env();
    char tmp[64], model[128], trace[128], want[256], ck[160];
    vt_test_tmpdir(tmp);
    snprintf(model, sizeof model, "%s/model", tmp);
    assert_int_equal(mkdir(model, 0755), 0);
    snprintf(ck, sizeof ck, "%s/model.safetensors", model);
    for (size_t i = 0; i < N_FAMILIES; i++) {
        const family_case *f = &families[i];
        snprintf(trace, sizeof trace, "%s/trace%zu", tmp, i);
        if (run_into(f, f->golden, trace) != 0) fail_msg("complete run of %s: %s", f->golden, out);
        assert_true(exists(trace, "manifest.json"));

        model_with_swapped_shape(model, f->golden, f->weight);
        snprintf(want, sizeof want, "%s has shape [", f->weight);
        expect_line(run_into(f, model, trace), 2, ck, want, "but config.json implies");
        assert_false(exists(trace, "manifest.json"));
        expect_line(vt_test_cli(out, sizeof out, "diff %s %s", trace, f->golden), 2, "no readable manifest.json",
                    NULL, NULL);

        /* truncated in the data: the header promises bytes the file does not have */
        void *buf;
        size_t n;
        vt_status st = {0};
        char p[600];
        snprintf(p, sizeof p, "%s/model.safetensors", f->golden);
        if (vt_read_file(p, &buf, &n, (size_t)1 << 30, &st)) fail_msg("%s", st.msg);
        vt_test_write_file(ck, buf, n - 100);
        free(buf);
        expect_line(run_into(f, model, trace), 2, ck, "past the end", NULL);
        assert_false(exists(trace, "manifest.json"));
    }
    vt_test_rmtree(tmp);
}

/* (e): a trace directory that cannot be written: one line, exit 2, nothing computed. Root ignores
 * permissions, so as root the unwritable case is a path under a regular file (and that is said). */
static void test_trace_fail_unwritable_directory(void **state)
{
    (void)state;
    clean_env();
    char tmp[64], path[160];
    vt_test_tmpdir(tmp);
    const family_case *f = &families[0];
    snprintf(path, sizeof path, "%s/plainfile", tmp);
    vt_test_write_file(path, "x", 1);
    snprintf(path, sizeof path, "%s/plainfile/trace", tmp);
    expect_line(run_into(f, f->golden, path), 2, "cannot create directory", "plainfile", NULL);
    snprintf(path, sizeof path, "%s/plainfile", tmp);
    expect_line(run_into(f, f->golden, path), 2, "plainfile", "a file of that name exists", NULL);
    if (geteuid() == 0) {
        print_message("[ SKIPPED  ] the chmod 0500 case: running as root, which writes into any directory; the "
                      "paths under a regular file above stand for it\n");
    } else {
        snprintf(path, sizeof path, "%s/locked", tmp);
        assert_int_equal(mkdir(path, 0500), 0);
        expect_line(run_into(f, f->golden, path), 2, "cannot write into", "locked", NULL);
        chmod(path, 0700);
    }
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_fail_write_fails_halfway),
        cmocka_unit_test(test_trace_fail_bad_weight_in_last_block),
        cmocka_unit_test(test_trace_fail_unwritable_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
