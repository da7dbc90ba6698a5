/* test_generate_cli.c -- `vlmtrace generate` keeps the house rules every writing command keeps (issue 21,
 * docs/design.md): its flags through the one table-driven parser (vt_opts_parse: nearest-name hints, a
 * forgotten value, --flag=value, a flag given twice), the one summary line on stderr, --quiet, --json (stdout
 * exactly one JSON document holding the ids, and the text with --prompt), --processor slow|fast through
 * vt_run_processor_opts with the mode recorded in the manifest as `run` records it, and progress on a
 * terminal covering decoding, loading and preprocessing as well as the tokens. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "format/manifest.h"
#include "format/npy.h"
#include "qwen2_cases.h"

#define E2E2 VT_GOLDEN("qwen2vl-e2e")
#define E2E25 VT_GOLDEN("qwen25vl-e2e")
#define E2E2_ARGS "--model " E2E2 " --image " E2E2 "/image.0.png --min-pixels 3136 --max-pixels 40000 " \
                  "--input-ids " E2E2 "/input_ids.npy --max-new-tokens 8"

static char out[1 << 17];
static char so[1 << 20], se[1 << 16];

/* The whole of a small file as a NUL-terminated string (malloc'd); "" when it cannot be read. */
static char *slurp(const char *path)
{
    void *b = NULL;
    size_t n = 0;
    vt_status st = {0};
    if (vt_read_file(path, &b, &n, 1 << 20, &st)) return calloc(1, 1);
    char *s = realloc(b, n + 1);
    s[n] = 0;
    return s;
}

/* `vlmtrace ARGS` with stdout and stderr apart (into so / se); the exit code. */
static int run_split(const char *fmt, ...) VT_PRINTF(1, 2);
static int run_split(const char *fmt, ...)
{
    const char *bin = getenv("VLMTRACE_BIN");
    char tmp[64], args[4096], cmd[8192], p[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    vt_test_tmpdir(tmp);
    snprintf(cmd, sizeof cmd, "%s %s >%s/o 2>%s/e", bin ? bin : "bin/vlmtrace", args, tmp, tmp);
    int rc = system(cmd);
    snprintf(p, sizeof p, "%s/o", tmp);
    char *o = slurp(p);
    snprintf(so, sizeof so, "%s", o);
    free(o);
    snprintf(p, sizeof p, "%s/e", tmp);
    char *e = slurp(p);
    snprintf(se, sizeof se, "%s", e);
    free(e);
    vt_test_rmtree(tmp);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* The golden generated ids as the line generate prints. */
static void golden_ids_line(char *line, size_t cap, const char *case_dir)
{
    vt_tensor g;
    void *owned;
    vt_test_load_golden(case_dir, "generated_ids", &g, &owned);
    line[0] = 0;
    for (int64_t j = 0; j < g.shape[1]; j++)
        snprintf(line + strlen(line), cap - strlen(line), "%s%lld", j ? " " : "", (long long)vt_i64(&g)[j]);
    snprintf(line + strlen(line), cap - strlen(line), "\n");
    free(owned);
}

/* stdout holds exactly one JSON document (and nothing but blanks after it); returns it parsed. */
static cJSON *one_json_document(const char *what)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(so, &end, 0);
    if (!doc) fail_msg("%s: stdout is not one JSON document:\n%s", what, so);
    while (end && (*end == '\n' || *end == ' ')) end++;
    if (end && *end) fail_msg("%s: something after the JSON document on stdout:\n%s", what, end);
    return doc;
}

/* A manifest's processor_mode ("" when it records none). */
static void manifest_mode(char *mode, size_t cap, const char *dir)
{
    char p[256];
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    char *text = slurp(p);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) fail_msg("%s: no manifest", dir);
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "processor_mode"));
    snprintf(mode, cap, "%s", m ? m : "");
    cJSON_Delete(j);
}

/* ======================================== the summary, --quiet, --json ======================================== */

static void test_generate_summary_quiet_json(void **state)
{
    (void)state;
    char dir[64], ids[256];
    vt_test_tmpdir(dir);
    golden_ids_line(ids, sizeof ids, E2E2);

    /* the ids on stdout, one summary line on stderr: tokens, what was written where, seconds */
    int rc = run_split("generate " E2E2_ARGS " --trace %s/a --out %s/a.npy", dir, dir);
    if (rc) fail_msg("exit %d:\n%s", rc, se);
    assert_string_equal(so, ids);
    if (vt_test_lines(se) != 1 || strncmp(se, "vlmtrace generate: 8 tokens generated; wrote trace ", 51) ||
        !strstr(se, "--out ") || !strstr(se, " tensors, ") || !strstr(se, " s\n"))
        fail_msg("wanted one summary line on stderr; got:\n%s", se);
    /* without --trace / --out the line still comes, and says nothing was written */
    assert_int_equal(run_split("generate " E2E2_ARGS), 0);
    assert_string_equal(so, ids);
    if (vt_test_lines(se) != 1 || !strstr(se, "vlmtrace generate: 8 tokens generated; nothing written"))
        fail_msg("wanted one summary line on stderr; got:\n%s", se);

    /* --quiet: the ids, nothing on stderr */
    assert_int_equal(run_split("generate " E2E2_ARGS " --trace %s/b --quiet", dir), 0);
    assert_string_equal(so, ids);
    if (se[0]) fail_msg("--quiet: wanted nothing on stderr; got:\n%s", se);

    /* --json: stdout is one document -- what every command says, then the ids; nothing on stderr */
    assert_int_equal(run_split("generate " E2E2_ARGS " --trace %s/c --out %s/c.npy --json", dir, dir), 0);
    if (se[0]) fail_msg("--json: wanted nothing on stderr; got:\n%s", se);
    cJSON *doc = one_json_document("generate --json");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "command")), "generate");
    const cJSON *w = cJSON_GetObjectItem(doc, "written");
    assert_int_equal(cJSON_GetArraySize(w), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 0), "what")), "trace");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 1), "what")), "--out");
    vt_manifest m;
    vt_status st = {0};
    char trace[128];
    snprintf(trace, sizeof trace, "%s/c", dir);
    if (vt_manifest_read(&m, trace, &st)) fail_msg("%s", st.msg);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 0), "tensors")), m.n);
    vt_manifest_free(&m);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(doc, "seconds")));
    assert_null(cJSON_GetObjectItem(doc, "text")); /* --input-ids: no tokenizer, no text */
    const cJSON *arr = cJSON_GetObjectItem(doc, "ids");
    char line[256] = "";
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        snprintf(line + strlen(line), sizeof line - strlen(line), "%s%.0f", line[0] ? " " : "", cJSON_GetNumberValue(e));
    strcat(line, "\n");
    assert_string_equal(line, ids);
    cJSON_Delete(doc);
    /* --json with nothing written: still one document with the ids */
    assert_int_equal(run_split("generate " E2E2_ARGS " --json"), 0);
    doc = one_json_document("generate --json (nothing written)");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "ids")), 8);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "written")), 0);
    cJSON_Delete(doc);
    vt_test_rmtree(dir);
}

/* --prompt --json: the answer goes into the document as "text" (equal to the trace's generate.text), not
 * streamed onto stdout beside it. */
static void test_generate_json_prompt(void **state)
{
    (void)state;
    char dir[64];
    vt_test_tmpdir(dir);
    if (vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s/model --quiet", dir)) fail_msg("%s", out);
    int rc = run_split("generate --model %s/model --tokenizer " VT_GOLDEN("tokenizer") "/tokenizer.json --prompt "
                       "\"Describe this image.\" --image " VT_GOLDEN("kimivl-multi") "/image0.png --min-pixels 3136 "
                       "--max-pixels 3136 --max-new-tokens 4 --trace %s/t --json", dir, dir);
    if (rc) fail_msg("exit %d:\n%s", rc, se);
    if (se[0]) fail_msg("--json: wanted nothing on stderr; got:\n%s", se);
    cJSON *doc = one_json_document("generate --prompt --json");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "command")), "generate");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "ids")), 4);
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "text"));
    assert_non_null(text);
    char trace[128];
    snprintf(trace, sizeof trace, "%s/t", dir);
    vt_tensor t;
    void *owned;
    vt_test_load_golden(trace, "generate.text", &t, &owned);
    assert_int_equal(strlen(text), (size_t)t.shape[0]);
    assert_memory_equal(text, t.data, (size_t)t.shape[0]);
    free(owned);
    cJSON_Delete(doc);
    vt_test_rmtree(dir);
}

/* ======================================== --processor ======================================== */

/* Compare one tensor of two traces byte for byte. */
static void same_tensor(const char *a, const char *b, const char *name)
{
    vt_tensor x, y;
    void *ox, *oy;
    vt_test_load_golden(a, name, &x, &ox);
    vt_test_load_golden(b, name, &y, &oy);
    if (x.dtype != y.dtype || x.ndim != y.ndim || vt_nbytes(&x) != vt_nbytes(&y) ||
        memcmp(x.data, y.data, vt_nbytes(&x)))
        fail_msg("%s differs between %s and %s", name, a, b);
    free(ox), free(oy);
}

static void test_generate_processor_mode(void **state)
{
    (void)state;
    char dir[64], a[128], b[128], mode[32];
    vt_test_tmpdir(dir);
    /* no flag: the model directory's mode (slow for Qwen2-VL), recorded as run records it */
    snprintf(a, sizeof a, "%s/default", dir);
    assert_int_equal(vt_test_cli(out, sizeof out, "generate " E2E2_ARGS " --trace %s --quiet", a), 0);
    manifest_mode(mode, sizeof mode, a);
    assert_string_equal(mode, "slow");
    /* --processor fast: the fast processor's pixels, the same as `preprocess --processor fast` gives */
    snprintf(a, sizeof a, "%s/fast", dir);
    snprintf(b, sizeof b, "%s/pre", dir);
    assert_int_equal(vt_test_cli(out, sizeof out, "generate " E2E2_ARGS " --processor fast --trace %s --quiet", a), 0);
    manifest_mode(mode, sizeof mode, a);
    assert_string_equal(mode, "fast");
    if (vt_test_cli(out, sizeof out, "preprocess --family qwen2-vl --processor fast --image " E2E2 "/image.0.png "
                    "--min-pixels 3136 --max-pixels 40000 --trace %s --quiet", b))
        fail_msg("%s", out);
    same_tensor(a, b, "image.0.resized");
    same_tensor(a, b, "pixel_values");
    /* and it is not the slow one: the golden's resized image differs somewhere */
    vt_tensor x, y;
    void *ox, *oy;
    vt_test_load_golden(a, "image.0.resized", &x, &ox);
    vt_test_load_golden(E2E2, "image.0.resized", &y, &oy);
    assert_int_equal(vt_nbytes(&x), vt_nbytes(&y));
    if (!memcmp(x.data, y.data, vt_nbytes(&x))) fail_msg("--processor fast gave the slow processor's pixels");
    free(ox), free(oy);
    /* a video in fast mode: the pads are counted with the video processor's grid, and the run goes through */
    char args[4096];
    case_run_args(args, sizeof args, E2E25);
    snprintf(a, sizeof a, "%s/video", dir);
    assert_int_equal(vt_test_cli(out, sizeof out, "generate%s --input-ids %s/input_ids.npy --max-new-tokens 2 "
                                 "--processor fast --trace %s --quiet", args + 3, E2E25, a), 0);
    manifest_mode(mode, sizeof mode, a);
    assert_string_equal(mode, "fast");
    /* --processor slow reproduces the goldens (test_lm.c's golden cases run the default); a bad value */
    assert_int_equal(vt_test_cli(out, sizeof out, "generate " E2E2_ARGS " --processor medium"), 2);
    if (vt_test_lines(out) != 1 || !strstr(out, "--processor: processor 'medium'")) fail_msg("%s", out);
    vt_test_rmtree(dir);
}

/* ======================================== the flag table ======================================== */

static void test_generate_flags_table(void **state)
{
    (void)state;
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"generate " E2E2_ARGS " --max-new-token 3", "unknown option --max-new-token (did you mean --max-new-tokens?"},
        {"generate " E2E2_ARGS " --trace --quiet", "--trace needs a value (DIR), got the option --quiet"},
        {"generate " E2E2_ARGS " --max-new-tokens 4", "--max-new-tokens given twice (8, then 4)"},
        {"generate " E2E2_ARGS " --attn diagonal", "--attn: 'diagonal' is not one of segments, literal"},
        {"generate " E2E2_ARGS " --quiet=1", "--quiet takes no value"},
        {"generate " E2E2_ARGS " stray", "unexpected argument 'stray'"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = vt_test_cli(out, sizeof out, "%s", bad[k].args);
        if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, bad[k].want))
            fail_msg("%s: wanted exit 2 and one line containing '%s'; got exit %d:\n%s", bad[k].args, bad[k].want, rc,
                     out);
    }
    /* --flag=value, and the same value twice is no conflict */
    assert_int_equal(run_split("generate --model=" E2E2 " --image " E2E2 "/image.0.png --min-pixels=3136 --max-pixels "
                               "40000 --input-ids " E2E2 "/input_ids.npy --max-new-tokens=2 --max-new-tokens 2 --quiet"),
                     0);
    assert_string_equal(so, "193 193\n");
}

/* ======================================== progress on a terminal ======================================== */

static void test_generate_progress_on_a_terminal(void **state)
{
    (void)state;
    if (system("command -v script >/dev/null 2>&1") != 0) {
        printf("SKIPPED: no script(1) to give the run a terminal\n");
        return;
    }
    const char *bin = getenv("VLMTRACE_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "script -qec \"%s generate " E2E2_ARGS "\" /dev/null", bin ? bin : "bin/vlmtrace");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
    static const char *const stages[] = {"decoding the inputs", "preprocessing", "loading the weights", "prefill ",
                                         "token 8/8", "vlmtrace generate: 8 tokens generated"};
    for (size_t k = 0; k < sizeof stages / sizeof stages[0]; k++)
        if (!strstr(out, stages[k])) fail_msg("no '%s' in the terminal's progress:\n%s", stages[k], out);
}

int main(void)
{
    (void)copy_checkpoint_without, (void)copy_text_replacing, (void)copy_case_edited; /* qwen2_cases.h's other helpers */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_summary_quiet_json),
        cmocka_unit_test(test_generate_json_prompt),
        cmocka_unit_test(test_generate_processor_mode),
        cmocka_unit_test(test_generate_flags_table),
        cmocka_unit_test(test_generate_progress_on_a_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
