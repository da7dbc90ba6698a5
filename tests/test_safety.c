/* test_safety.c -- issue 21 through the binary: never lose a user's reference, never answer silently wrong.
 *
 * Data safety: every writing command (run --trace / --out, preprocess, rope, synth --out) refuses a target
 * that holds a checkpoint, a config or another producer's trace, and after the refusal every file there is
 * byte-identical; --force overrides; our own earlier trace may be replaced. preprocess refuses a --family
 * the directory contradicts. --only matching nothing. diff of two different models says so first, and
 * never for a matching golden case. Never silent: the summary line, --quiet, --json, progress on a
 * terminal. --attn literal over the limit. The messages of issue 21. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char out[1 << 17];

#define Q2 VT_GOLDEN("qwen2vl-image")
#define Q2_RUN "--image " Q2 "/image.0.png --min-pixels 3136 --max-pixels 64000"

/* One family's tiny run: its golden directory (a model directory too) and inputs. */
typedef struct family_run {
    const char *golden, *inputs, *label;
} family_run;

static const family_run families[] = {
    {Q2, Q2_RUN, "qwen2_vl"},
    {VT_GOLDEN("qwen25vl-image"), "--image " VT_GOLDEN("qwen25vl-image") "/image.0.png --max-pixels 20000", "qwen2_5_vl"},
    {VT_GOLDEN("qwenvl-image"), "--image " VT_GOLDEN("qwenvl-image") "/image0.png", "qwen"},
    {VT_GOLDEN("kimivl-image"), "--image " VT_GOLDEN("kimivl-image") "/image0.png", "kimi_vl"},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

/* An error: exit code rc_want, exactly one line, containing each of the strings. */
static void expect_refusal(int rc, int rc_want, const char *a, const char *b)
{
    if (rc != rc_want || vt_test_lines(out) != 1 || !strstr(out, a) || (b && !strstr(out, b)))
        fail_msg("wanted exit %d and one line containing '%s'%s%s; got exit %d:\n%s", rc_want, a, b ? " and " : "",
                 b ? b : "", rc, out);
}

static void sh(const char *fmt, ...) VT_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("failed: %s", cmd);
}

/* A writable copy of a golden directory. */
static void copy_golden(const char *golden, const char *dst)
{
    sh("cp -r %s %s && chmod -R u+w %s", golden, dst, dst);
}

/* sha256 of every file under dir (names and bytes), into a malloc'd string. */
static char *snapshot(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && find . -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    n = fread(s, 1, cap - 1, p);
    s[n] = 0;
    pclose(p);
    return s;
}

static void expect_unchanged(const char *dir, const char *before)
{
    char *after = snapshot(dir);
    if (strcmp(before, after) != 0) fail_msg("%s changed after a refusal:\nbefore:\n%s\nafter:\n%s", dir, before, after);
    free(after);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------- data safety */

/* run --model X --trace X, for every family: refused, every file of X byte-identical; --out into X too. */
static void test_safety_run_never_overwrites_a_reference(void **state)
{
    (void)state;
    char tmp[64], x[256];
    vt_test_tmpdir(tmp);
    for (size_t f = 0; f < N_FAMILIES; f++) {
        snprintf(x, sizeof x, "%s/ref%zu", tmp, f);
        copy_golden(families[f].golden, x);
        char *before = snapshot(x);
        int rc = vt_test_cli(out, sizeof out, "run --model %s %s --trace %s", x, families[f].inputs, x);
        expect_refusal(rc, 2, "--trace", "--force");
        expect_unchanged(x, before);
        rc = vt_test_cli(out, sizeof out, "run --model %s %s --out %s/visual.npy", x, families[f].inputs, x);
        expect_refusal(rc, 2, "--out", "checkpoint");
        expect_unchanged(x, before);
        free(before);
    }
    /* a golden trace copied elsewhere without its checkpoint: a manifest with no producer is another's */
    snprintf(x, sizeof x, "%s/hf", tmp);
    copy_golden(Q2, x);
    sh("rm %s/model.safetensors %s/config.json", x, x);
    char *before = snapshot(x);
    int rc = vt_test_cli(out, sizeof out, "run --model " Q2 " " Q2_RUN " --trace %s", x);
    expect_refusal(rc, 2, "names no producer", "--force");
    expect_unchanged(x, before);
    free(before);
    /* hf_trace.py's own label is another producer too */
    sh("sed -i 's/\"model\":/\"producer\": \"hf_trace.py\", \"model\":/' %s/manifest.json", x);
    before = snapshot(x);
    rc = vt_test_cli(out, sizeof out, "run --model " Q2 " " Q2_RUN " --trace %s", x);
    expect_refusal(rc, 2, "written by hf_trace.py", NULL);
    expect_unchanged(x, before);
    free(before);
    /* --force overrides */
    rc = vt_test_cli(out, sizeof out, "run --model " Q2 " " Q2_RUN " --trace %s --force --quiet", x);
    if (rc != 0) fail_msg("--force: exit %d\n%s", rc, out);
    char p[512];
    snprintf(p, sizeof p, "%s/manifest.json", x);
    assert_non_null(strstr(read_text(p), "\"producer\":\t\"vlmtrace "));
    /* our own earlier trace may be replaced, again and again */
    snprintf(x, sizeof x, "%s/ours", tmp);
    for (int k = 0; k < 2; k++) {
        rc = vt_test_cli(out, sizeof out, "run --model " Q2 " " Q2_RUN " --trace %s --out %s/visual.npy", x, x);
        if (rc != 0) fail_msg("rewriting our own trace (%d): exit %d\n%s", k, rc, out);
    }
    vt_test_rmtree(tmp);
}

static void test_safety_other_commands_never_overwrite_a_reference(void **state)
{
    (void)state;
    char tmp[64], x[256], r[256];
    vt_test_tmpdir(tmp);
    snprintf(x, sizeof x, "%s/q2", tmp);
    copy_golden(Q2, x);
    snprintf(r, sizeof r, "%s/rope", tmp);
    copy_golden(VT_GOLDEN("rope-index/qwen2vl-image"), r);
    char pp[256];
    snprintf(pp, sizeof pp, "%s/pp", tmp);
    copy_golden(VT_GOLDEN("preprocess-sizes"), pp);
    char *bx = snapshot(x), *br = snapshot(r), *bp = snapshot(pp);
    /* preprocess into a model directory, into a golden preprocess trace (its manifest names no producer) */
    int rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s/image.0.png --trace %s", x, x);
    expect_refusal(rc, 2, "--trace", "checkpoint or config");
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image %s/image.0.png --trace %s", x, pp);
    expect_refusal(rc, 2, "names no producer", "--force");
    /* rope into a golden rope case (it holds the config.json it was made with), into a golden trace */
    rc = vt_test_cli(out, sizeof out, "rope --model %s --layout 'text:3 image:1x4x4 text:2' --trace %s", x, r);
    expect_refusal(rc, 2, "--trace", "checkpoint or config (config.json)");
    rc = vt_test_cli(out, sizeof out, "rope --model %s --layout 'text:3' --trace %s", x, pp);
    expect_refusal(rc, 2, "names no producer", NULL);
    /* synth --out over a golden directory (a trace), over a real checkpoint, over a trace */
    rc = vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s", x);
    expect_refusal(rc, 2, "holds a trace", "--force");
    char ck[256];
    snprintf(ck, sizeof ck, "%s/ck", tmp);
    sh("mkdir %s && cp %s/config.json %s/model.safetensors %s/", ck, x, x, ck);
    char *bck = snapshot(ck);
    rc = vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s", ck);
    expect_refusal(rc, 2, "synth did not write", "--force");
    expect_unchanged(ck, bck);
    free(bck);
    rc = vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s", r);
    expect_refusal(rc, 2, "holds a trace", NULL);
    expect_unchanged(x, bx);
    expect_unchanged(r, br);
    expect_unchanged(pp, bp);
    free(bx);
    free(br);
    free(bp);
    /* synth may rewrite a checkpoint synth wrote (its config.json carries the mark) */
    snprintf(x, sizeof x, "%s/synth", tmp);
    for (int k = 0; k < 2; k++) {
        rc = vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s --quiet", x);
        if (rc != 0) fail_msg("synth over its own checkpoint (%d): exit %d\n%s", k, rc, out);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", x);
    assert_non_null(strstr(read_text(p), "\"vlmtrace_synth\""));
    /* an older synth's checkpoint (no mark in config.json) is known by its safetensors header */
    sh("sed -i '/vlmtrace_synth/d' %s/config.json", x);
    rc = vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s --quiet", x);
    if (rc != 0) fail_msg("synth over an older synth's checkpoint: exit %d\n%s", rc, out);
    vt_test_rmtree(tmp);
}

/* ---------------------------------------------------------------- preprocess --family */

static void test_safety_preprocess_family_must_match_the_directory(void **state)
{
    (void)state;
    char tmp[64], d[256];
    vt_test_tmpdir(tmp);
    const char *img = Q2 "/image.0.png";
    int rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model " VT_GOLDEN("kimivl-image")
                         " --image %s --trace %s/a", img, tmp);
    expect_refusal(rc, 2, "--family qwen2-vl", "kimi_vl");
    snprintf(d, sizeof d, "%s/a", tmp);
    assert_false(file_exists(d));
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2.5-vl --model " VT_GOLDEN("qwenvl-image")
                     " --image %s --trace %s/a", img, tmp);
    expect_refusal(rc, 2, "--family qwen2.5-vl", "model_type qwen");
    /* a preprocessor_config.json of another processor, in a directory without config.json */
    snprintf(d, sizeof d, "%s/kimi-pre", tmp);
    sh("mkdir -p %s && cp " VT_GOLDEN("kimivl-image") "/preprocessor_config.json %s/", d, d);
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --image %s --trace %s/a", d, img, tmp);
    expect_refusal(rc, 2, "KimiVLImageProcessor", "--family qwen2-vl");
    /* Qwen2-VL and Qwen2.5-VL share one processor; "...Fast" names its fast mode, not another family */
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2.5-vl --model " Q2 " --image %s --trace %s/b --quiet",
                     img, tmp);
    if (rc != 0) fail_msg("qwen2.5-vl on a qwen2_vl directory: exit %d\n%s", rc, out);
    snprintf(d, sizeof d, "%s/fast", tmp);
    sh("mkdir -p %s && printf '{\"image_processor_type\": \"Qwen2VLImageProcessorFast\", \"min_pixels\": 3136, "
       "\"max_pixels\": 64000}' > %s/preprocessor_config.json", d, d);
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model %s --image %s --trace %s/c --quiet", d, img,
                     tmp);
    if (rc != 0) fail_msg("a Fast processor type: exit %d\n%s", rc, out);
    /* a directory without preprocessor_config.json: the defaults, said on stderr and in the manifest */
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --model " Q2 " --image %s --trace %s/e", img, tmp);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "published defaults"));
    char p[512];
    snprintf(p, sizeof p, "%s/e/manifest.json", tmp);
    assert_non_null(strstr(read_text(p), "\"preprocessor_config\":\t\"the published defaults"));
    vt_test_rmtree(tmp);
}

/* ---------------------------------------------------------------- --only */

static void test_safety_only_matching_nothing(void **state)
{
    (void)state;
    char tmp[64], p[512];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "run --model " Q2 " " Q2_RUN " --trace %s/a --only 'vision.*'", tmp);
    expect_refusal(rc, 2, "--only 'vision.*' matched no tensor", "nearest names: visual.");
    snprintf(p, sizeof p, "%s/a/manifest.json", tmp);
    assert_false(file_exists(p));
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image " Q2 "/image.0.png --trace %s/b --only 'pixel'",
                     tmp);
    expect_refusal(rc, 2, "--only 'pixel' matched no tensor", "pixel_values");
    /* one glob of two matching nothing: a warning naming it, the trace of the other */
    rc = vt_test_cli(out, sizeof out, "run --model " Q2 " " Q2_RUN " --trace %s/c --only 'vision.*' --only 'visual.merger*'",
                     tmp);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "warning: --only 'vision.*' matched no tensor of this qwen2_vl run (nearest names: visual."));
    snprintf(p, sizeof p, "%s/c/manifest.json", tmp);
    assert_non_null(strstr(read_text(p), "visual.merger.ln_q"));
    vt_test_rmtree(tmp);
}

/* ---------------------------------------------------------------- diff of two models */

/* Our trace of each family (and of preprocess and rope) against every golden case of the same kind: no
 * model warning; against another family's golden case: the warning, first. */
static void test_safety_diff_says_when_models_differ(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    for (size_t f = 0; f < N_FAMILIES; f++) {
        int rc = vt_test_cli(out, sizeof out, "run --model %s %s --trace %s/%s --quiet", families[f].golden,
                             families[f].inputs, tmp, families[f].label);
        if (rc != 0) fail_msg("run %s: exit %d\n%s", families[f].label, rc, out);
    }
    assert_int_equal(vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image " Q2 "/image.0.png --trace %s/pp "
                                 "--quiet", tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "rope --model " Q2 " --layout 'text:3' --trace %s/rope --quiet", tmp), 0);
    static const struct {
        const char *prefix, *ours;
    } kinds[] = {
        {"qwen2vl-", "qwen2_vl"}, {"qwen25vl-", "qwen2_5_vl"}, {"qwenvl-", "qwen"}, {"kimivl-", "kimi_vl"},
        {"preprocess-", "pp"},    {"rope-index/", "rope"},
    };
    FILE *ls = popen("cd " VT_GOLDEN_ROOT " && ls -d */manifest.json */*/manifest.json | sed 's|/manifest.json||'", "r");
    assert_non_null(ls);
    char c[256];
    int n_cases = 0;
    while (fgets(c, sizeof c, ls)) {
        c[strcspn(c, "\n")] = 0;
        size_t k = 0;
        while (k < sizeof kinds / sizeof kinds[0] && strncmp(c, kinds[k].prefix, strlen(kinds[k].prefix)) != 0) k++;
        if (k == sizeof kinds / sizeof kinds[0]) fail_msg("golden case %s: no kind in this test", c);
        vt_test_cli(out, sizeof out, "diff %s/%s " VT_GOLDEN_ROOT "/%s --quiet", tmp, kinds[k].ours, c);
        if (strstr(out, "different models")) fail_msg("diff of our %s trace against %s warns:\n%.400s", kinds[k].ours, c, out);
        vt_test_cli(out, sizeof out, "diff %s/%s " VT_GOLDEN_ROOT "/%s --json 2>/dev/null", tmp, kinds[k].ours, c);
        if (strstr(out, "different models")) fail_msg("diff --json of %s against %s warns", kinds[k].ours, c);
        n_cases++;
    }
    pclose(ls);
    assert_true(n_cases >= 24);
    /* two different models: said first, in one line */
    vt_test_cli(out, sizeof out, "diff %s/kimi_vl " Q2, tmp);
    if (strncmp(out, "warning: ours is a kimi_vl trace and the reference a qwen2_vl trace", 67) != 0)
        fail_msg("wanted the models warning first; got:\n%.300s", out);
    vt_test_cli(out, sizeof out, "diff %s/qwen " VT_GOLDEN("kimivl-image"), tmp);
    assert_non_null(strstr(out, "ours is a qwen trace and the reference a kimi_vl trace"));
    vt_test_rmtree(tmp);
}

/* ---------------------------------------------------------------- never silent */

/* Run a command with stdout and stderr apart. */
static int run_split(const char *args, char *so, size_t nso, char *se, size_t nse)
{
    const char *bin = getenv("VLMTRACE_BIN");
    char tmp[64], cmd[4096];
    vt_test_tmpdir(tmp);
    snprintf(cmd, sizeof cmd, "%s %s >%s/o 2>%s/e", bin ? bin : "bin/vlmtrace", args, tmp, tmp);
    int rc = system(cmd);
    char p[128];
    snprintf(p, sizeof p, "%s/o", tmp);
    snprintf(so, nso, "%s", read_text(p) ? read_text(p) : "");
    snprintf(p, sizeof p, "%s/e", tmp);
    snprintf(se, nse, "%s", read_text(p) ? read_text(p) : "");
    vt_test_rmtree(tmp);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void test_safety_summary_quiet_json(void **state)
{
    (void)state;
    static char so[1 << 20], se[1 << 20];
    char tmp[64], a[1024];
    vt_test_tmpdir(tmp);
    static const char *const cmds[] = {
        "run --model " Q2 " " Q2_RUN " --trace %s/t --out %s/v.npy",
        "run --model " Q2 " " Q2_RUN,
        "preprocess --family qwen2-vl --image " Q2 "/image.0.png --trace %s/p",
        "rope --model " Q2 " --layout 'text:2 image:1x2x2' --trace %s/r",
        "synth --preset tiny-qwen2-vl --out %s/s",
    };
    static const char *const names[] = {"run", "run", "preprocess", "rope", "synth"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        char base[900];
        snprintf(base, sizeof base, cmds[k], tmp, tmp);
        /* one summary line on stderr */
        assert_int_equal(run_split(base, so, sizeof so, se, sizeof se), 0);
        char want[64];
        snprintf(want, sizeof want, "vlmtrace %s: ", names[k]);
        if (vt_test_lines(se) != 1 || !strstr(se, want) || !strstr(se, " s\n"))
            fail_msg("%s: wanted a summary line on stderr; got:\n%s", base, se);
        if (k != 1 && !strstr(se, "wrote")) fail_msg("%s: the summary says nothing of what was written:\n%s", base, se);
        /* --quiet: none */
        snprintf(a, sizeof a, "%s --quiet", base);
        assert_int_equal(run_split(a, so, sizeof so, se, sizeof se), 0);
        if (se[0]) fail_msg("%s: wanted nothing on stderr; got:\n%s", a, se);
        /* --json: stdout is exactly one JSON document */
        snprintf(a, sizeof a, "%s --json", base);
        assert_int_equal(run_split(a, so, sizeof so, se, sizeof se), 0);
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithOpts(so, &end, 0);
        if (!doc) fail_msg("%s: stdout is not one JSON document:\n%s", a, so);
        while (end && (*end == '\n' || *end == ' ')) end++;
        if (end && *end) fail_msg("%s: something after the JSON document:\n%s", a, end);
        assert_string_equal(cJSON_GetObjectItem(doc, "command")->valuestring, names[k]);
        cJSON_Delete(doc);
    }
    vt_test_rmtree(tmp);
}

/* Progress on a terminal covers decoding, loading and preprocessing, not only blocks (script(1) gives the
 * run a terminal). */
static void test_safety_progress_on_a_terminal(void **state)
{
    (void)state;
    if (system("command -v script >/dev/null 2>&1") != 0) {
        printf("SKIPPED: no script(1) to give the run a terminal\n");
        return;
    }
    const char *bin = getenv("VLMTRACE_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "script -qec \"%s run --model " Q2 " " Q2_RUN "\" /dev/null", bin ? bin : "bin/vlmtrace");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
    static const char *const stages[] = {"decoding the inputs", "loading the weights", "preprocessing", "block 1/"};
    for (size_t k = 0; k < sizeof stages / sizeof stages[0]; k++)
        if (!strstr(out, stages[k])) fail_msg("no '%s' in the terminal's progress:\n%s", stages[k], out);
}

/* --attn literal refuses a mask over VT_ATTN_LITERAL_MAX_N patches before the weights are loaded, for the
 * Qwen2 families as for Kimi-VL. */
static void test_safety_literal_mask_over_the_limit(void **state)
{
    (void)state;
    /* 240x300 upscaled to 12845056 pixels: 66240 patches, a 16 GiB mask */
    int rc = vt_test_cli(out, sizeof out, "run --model " Q2 " --image " Q2 "/image.0.png --min-pixels 12845056 "
                         "--max-pixels 12845056 --attn literal");
    expect_refusal(rc, 2, "--attn literal: a 66240 x 66240 mask", "--attn segments");
}

/* ---------------------------------------------------------------- messages */

static void test_safety_messages(void **state)
{
    (void)state;
    int rc = vt_test_cli(out, sizeof out, "run --model " Q2 " --video '" Q2 "/image.0.png, " Q2 "/image.0.png'");
    expect_refusal(rc, 2, "begins with a blank", "commas alone");
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --video 'a.png ,b.png' --trace /nonexistent/x");
    expect_refusal(rc, 2, "ends with a blank", NULL);
    rc = vt_test_cli(out, sizeof out, "run --model " Q2 " --video a.png --fps 1 --fps 2");
    expect_refusal(rc, 2, "--fps given 2 times but there is 1 --video", NULL);
    if (strstr(out, "1 videos")) fail_msg("%s", out);
    rc = vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --image x.png --inject no-reverse-index --trace /tmp/x");
    expect_refusal(rc, 2, "no-reverse-index", "it lives in the reverse window index after the merger");
    rc = vt_test_cli(out, sizeof out, "run --model " Q2 "/image.0.png --image " Q2 "/image.0.png");
    expect_refusal(rc, 2, "image.0.png is a file, not a model directory", NULL);
    if (strstr(out, "Not a directory")) fail_msg("%s", out);
    rc = vt_test_cli(out, sizeof out, "inspect --model " Q2 "/image.0.png");
    expect_refusal(rc, 2, "is a file, not a model directory", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safety_run_never_overwrites_a_reference),
        cmocka_unit_test(test_safety_other_commands_never_overwrite_a_reference),
        cmocka_unit_test(test_safety_preprocess_family_must_match_the_directory),
        cmocka_unit_test(test_safety_only_matching_nothing),
        cmocka_unit_test(test_safety_diff_says_when_models_differ),
        cmocka_unit_test(test_safety_summary_quiet_json),
        cmocka_unit_test(test_safety_progress_on_a_terminal),
        cmocka_unit_test(test_safety_literal_mask_over_the_limit),
        cmocka_unit_test(test_safety_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
