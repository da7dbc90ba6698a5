/* test_lm.c -- the Qwen2 language model and greedy generation: hand-computed stages (masked_scatter, the
 * causal mask with 4.51.3's sliding window, the two attention paths), both e2e golden cases through
 * `vlmtrace generate --trace` + diff (every reference tensor, ids exact), the KV cache against full
 * recomputation, eos, a checkpoint saved with transformers >= 4.52 key names in shards, and bad input. */
#include "vt_test.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ops.h"
#include "format/manifest.h"
#include "model/model.h"
#include "format/npy.h"
#include "lm/lm.h"
#include "qwen2_cases.h"
#include "synth/synth.h"

static char out[1 << 17];

#define E2E2 VT_GOLDEN("qwen2vl-e2e")
#define E2E25 VT_GOLDEN("qwen25vl-e2e")

/* An error: exit 2, exactly one line, containing `what`. */
static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* `generate` with a golden case's inputs (inputs.json), the extra arguments after them. */
static int generate_case(const char *case_dir, const char *extra_fmt, ...) VT_PRINTF(2, 3);
static void write_ids(const char *path, const int64_t *v, int64_t n);
static int generate_case(const char *case_dir, const char *extra_fmt, ...)
{
    char args[4096], extra[2048];
    case_run_args(args, sizeof args, case_dir); /* "run --model CASE --image ... --min-pixels ..." */
    va_list ap;
    va_start(ap, extra_fmt);
    vsnprintf(extra, sizeof extra, extra_fmt, ap);
    va_end(ap);
    return vt_test_cli(out, sizeof out, "generate%s %s", args + 3, extra);
}

/* ======================================== stages by hand ======================================== */

/* masked_scatter: ids [1, 9, 2, 9, 3] with token 9 and rows [[10, 11], [20, 21]] put row 0 at position 1
 * and row 1 at position 3, in order; the other rows stay. One row too many is HF's error, both counts. */
static void test_lm_masked_scatter_by_hand(void **state)
{
    (void)state;
    const int64_t ids[5] = {1, 9, 2, 9, 3};
    float x[10], rows_v[6] = {10, 11, 20, 21, 30, 31};
    for (int i = 0; i < 10; i++) x[i] = (float)-i;
    vt_tensor rows = vt_tensor_of(VT_F32, rows_v, VT_DIMS(2, 2));
    vt_status st = {0};
    assert_int_equal(vt_lm_masked_scatter(x, ids, 5, 2, 9, &rows, "Image", &st), 0);
    const float want[10] = {0, -1, 10, 11, -4, -5, 20, 21, -8, -9};
    assert_memory_equal(x, want, sizeof want);
    rows = vt_tensor_of(VT_F32, rows_v, VT_DIMS(3, 2));
    assert_int_equal(vt_lm_masked_scatter(x, ids, 5, 2, 9, &rows, "Image", &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "Image features and image tokens do not match: tokens: 2, features 3"));
}

/* The causal mask with 4.51.3's sliding window, by hand: q = k = 0 makes every allowed key equally likely,
 * and v_j = j, so each output is the mean index of the keys the row may see. Window 2: row 0 sees {0},
 * row 1 {0, 1}, row 2 {1, 2}, row 3 {2, 3} -> 0, 0.5, 1.5, 2.5; no window: row 3 sees {0..3} -> 1.5.
 * Rows 2 and 3 asked as a decode step after 2 cached rows (q0 = 2) give the same. */
static void test_lm_causal_window_by_hand(void **state)
{
    (void)state;
    float q[4] = {0}, k[4] = {0}, v[4] = {0, 1, 2, 3}, o[4];
    vt_heads qh = {q, 1, 1}, kh = {k, 1, 1}, vh = {v, 1, 1};
    for (int mode = 0; mode < 2; mode++) {
        vt_attn_mode m = mode ? VT_ATTN_LITERAL : VT_ATTN_SEGMENTS;
        assert_int_equal(vt_attention_causal(o, qh, kh, vh, 4, 0, 1, 1, 1, 2, 1.0f, m), 0);
        const float w2[4] = {0, 0.5f, 1.5f, 2.5f};
        for (int i = 0; i < 4; i++) assert_true(fabsf(o[i] - w2[i]) < 1e-6f);
        assert_int_equal(vt_attention_causal(o, qh, kh, vh, 4, 0, 1, 1, 1, 0, 1.0f, m), 0);
        const float w0[4] = {0, 0.5f, 1.0f, 1.5f};
        for (int i = 0; i < 4; i++) assert_true(fabsf(o[i] - w0[i]) < 1e-6f);
        assert_int_equal(vt_attention_causal(o, qh, kh, vh, 2, 2, 1, 1, 1, 2, 1.0f, m), 0);
        assert_true(fabsf(o[0] - 1.5f) < 1e-6f && fabsf(o[1] - 2.5f) < 1e-6f);
    }
}

static float *rand_floats(int64_t n, unsigned seed)
{
    float *p = malloc((size_t)n * sizeof(float));
    assert_non_null(p);
    unsigned s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

/* The two paths of vt_attention_causal give the same bits (grouped-query heads, a prefix in the cache,
 * more rows than one tile, with and without a window), and both agree with attention in double. */
static void test_lm_causal_paths_agree(void **state)
{
    (void)state;
    enum { Lq = 70, P = 5, H = 4, G = 2, D = 12, Lk = P + Lq };
    float *q = rand_floats(Lq * H * D, 1), *k = rand_floats(Lk * G * D, 2), *v = rand_floats(Lk * G * D, 3);
    float *o1 = malloc(Lq * H * D * sizeof(float)), *o2 = malloc(Lq * H * D * sizeof(float));
    assert_true(o1 && o2);
    vt_heads qh = {q, H * D, D}, kh = {k, G * D, D}, vh = {v, G * D, D};
    const int windows[2] = {0, 9};
    for (int wi = 0; wi < 2; wi++) {
        const int W = windows[wi];
        assert_int_equal(vt_attention_causal(o1, qh, kh, vh, Lq, P, H, G, D, W, sqrtf(D), VT_ATTN_SEGMENTS), 0);
        assert_int_equal(vt_attention_causal(o2, qh, kh, vh, Lq, P, H, G, D, W, sqrtf(D), VT_ATTN_LITERAL), 0);
        if (memcmp(o1, o2, Lq * H * D * sizeof(float)) != 0) fail_msg("window %d: the two paths differ", W);
        for (int i = 0; i < Lq; i++)
            for (int h = 0; h < H; h++) {
                const int g = h / (H / G), p = P + i, lo = W && p - W + 1 > 0 ? p - W + 1 : 0;
                double s[Lk], mx = -1e300, sum = 0;
                for (int j = lo; j <= p; j++) {
                    s[j] = 0;
                    for (int d = 0; d < D; d++) s[j] += (double)q[(i * H + h) * D + d] * k[(j * G + g) * D + d];
                    s[j] /= sqrt((double)D);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = lo; j <= p; j++) sum += (s[j] = exp(s[j] - mx));
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int j = lo; j <= p; j++) acc += s[j] / sum * v[(j * G + g) * D + d];
                    if (fabs(acc - o1[(i * H + h) * D + d]) > 1e-5)
                        fail_msg("window %d row %d head %d: %g, double says %g", W, i, h, o1[(i * H + h) * D + d], acc);
                }
            }
    }
    free(q), free(k), free(v), free(o1), free(o2);
}

/* ======================================== the goldens ======================================== */

/* The done-when of issue 22: generate with the case's inputs and --trace, then diff against the case:
 * every reference tensor present and within the rule, generated_ids and every int tensor exact. */
static void golden_generate(const char *case_dir)
{
    char dir[64], trace[128], ids[128];
    vt_test_tmpdir(dir);
    snprintf(trace, sizeof trace, "%s/trace", dir);
    snprintf(ids, sizeof ids, "%s/ids.npy", dir);
    int rc = generate_case(case_dir, "--input-ids %s/input_ids.npy --max-new-tokens 8 --trace %s --out %s --quiet",
                           case_dir, trace, ids);
    if (rc != 0) fail_msg("generate exited %d:\n%s", rc, out);
    assert_dirs_match(trace, case_dir);
    /* stdout: the ids on one line, as --out has them */
    vt_tensor t, g;
    void *o1, *o2;
    vt_status st = {0};
    if (vt_npy_read(ids, &t, &o1, &st)) fail_msg("%s", st.msg);
    vt_test_load_golden(case_dir, "generated_ids", &g, &o2);
    assert_int_equal(t.shape[1], g.shape[1]);
    assert_memory_equal(t.data, g.data, vt_nbytes(&g));
    char line[256] = "";
    for (int64_t j = 0; j < g.shape[1]; j++)
        snprintf(line + strlen(line), sizeof line - strlen(line), "%s%lld", j ? " " : "", (long long)vt_i64(&g)[j]);
    strcat(line, "\n");
    assert_string_equal(out, line);
    free(o1), free(o2);
    vt_test_rmtree(dir);
}

static void test_lm_golden_qwen2vl(void **state)
{
    (void)state;
    golden_generate(E2E2);
}

static void test_lm_golden_qwen25vl(void **state)
{
    (void)state;
    golden_generate(E2E25);
}

/* The KV cache against full recomputation at every step (the goldens' protocol), and the literal
 * attention path against the segment path: identical generated_ids, every other tensor within the rule
 * (in fact the same bits: each element is the same chain either way). */
static void test_lm_cache_vs_recompute(void **state)
{
    (void)state;
    char dir[64], a[128], b[128], fa[160], fb[160];
    vt_test_tmpdir(dir);
    snprintf(a, sizeof a, "%s/cached", dir);
    snprintf(b, sizeof b, "%s/full", dir);
    if (generate_case(E2E25, "--input-ids %s/input_ids.npy --max-new-tokens 8 --trace %s", E2E25, a))
        fail_msg("cached: %s", out);
    if (generate_case(E2E25, "--input-ids %s/input_ids.npy --max-new-tokens 8 --trace %s --no-cache --attn literal",
                      E2E25, b))
        fail_msg("no-cache: %s", out);
    assert_dirs_match(a, b);
    const char *same[] = {"generated_ids", "generate.logits", "generate.position_ids", "lm_head"};
    for (int i = 0; i < 4; i++) {
        snprintf(fa, sizeof fa, "%s/%s.npy", a, same[i]);
        snprintf(fb, sizeof fb, "%s/%s.npy", b, same[i]);
        void *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        vt_status st = {0};
        if (vt_read_file(fa, &x, &nx, 1 << 24, &st) || vt_read_file(fb, &y, &ny, 1 << 24, &st)) fail_msg("%s", st.msg);
        if (nx != ny || memcmp(x, y, nx)) fail_msg("%s: the cached and recomputed runs differ in bits", same[i]);
        free(x), free(y);
    }
    vt_test_rmtree(dir);
}

/* A model directory in dir: the case's files linked, config.json replaced. */
static void link_case(const char *dir, const char *case_dir, const char *from, const char *to)
{
    const char *files[] = {"model.safetensors", "image.0.png", "input_ids.npy"};
    char abs[4096], src[4300], dst[4300];
    if (!realpath(case_dir, abs)) fail_msg("%s: no such case", case_dir);
    for (int i = 0; i < 3; i++) {
        snprintf(src, sizeof src, "%s/%s", abs, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (symlink(src, dst)) fail_msg("cannot link %s", dst);
    }
    snprintf(src, sizeof src, "%s/config.json", case_dir);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    copy_text_replacing(src, dst, from, to);
}

/* A copy of qwen2vl-e2e whose config says eos_token_id 5 stops after [193, 193, 193, 5] (the eos kept),
 * with generate.logits equal to the golden's first four rows. */
static void test_lm_stops_at_eos(void **state)
{
    (void)state;
    char dir[64], trace[128];
    vt_test_tmpdir(dir);
    link_case(dir, E2E2, "\"eos_token_id\": 243", "\"eos_token_id\": 5");
    snprintf(trace, sizeof trace, "%s/trace", dir);
    int rc = vt_test_cli(out, sizeof out, "generate --model %s --input-ids %s/input_ids.npy --image %s/image.0.png "
                         "--min-pixels 3136 --max-pixels 40000 --max-new-tokens 8 --trace %s --quiet", dir, dir, dir, trace);
    if (rc) fail_msg("exit %d:\n%s", rc, out);
    assert_string_equal(out, "193 193 193 5\n");
    vt_tensor ours, ref;
    void *o1, *o2;
    vt_test_load_golden(trace, "generate.logits", &ours, &o1);
    vt_test_load_golden(E2E2, "generate.logits", &ref, &o2);
    assert_int_equal(ours.shape[0], 4);
    vt_tensor first4 = vt_tensor_of(VT_F32, ref.data, VT_DIMS(4, ref.shape[1]));
    assert_tensor_close(&ours, &first4, "generate.logits (first 4 rows)");
    free(o1), free(o2);
    vt_test_rmtree(dir);
}

/* ======================================== checkpoints ======================================== */

/* The golden checkpoint re-saved as transformers >= 4.52 saves it: model.visual.*, model.language_model.*
 * and lm_head.weight, in several shards with an index. Generation reads it as the hub layout. */
typedef struct resave_ctx {
    const vt_checkpoint *ck;
    const vt_weight_spec *canon; /* the names to read */
    float *buf;
} resave_ctx;

static int resave_fill(void *ctx, int i, float *dst, size_t at, size_t n, vt_status *st)
{
    resave_ctx *c = ctx;
    const vt_weight_spec *w = &c->canon[i];
    free(c->buf);
    c->buf = malloc((size_t)vt_shape_numel(w->ndim, w->shape) * sizeof(float));
    VT_TRY(vt_checkpoint_read_f32(c->ck, w->name, w->ndim, w->shape, c->buf, st));
    memcpy(dst, c->buf + at, n * sizeof(float));
    return VT_OK;
}

static void test_lm_language_model_prefix_sharded(void **state)
{
    (void)state;
    char dir[64], path[256], trace[128];
    vt_test_tmpdir(dir);
    vt_checkpoint ck;
    vt_status st = {0};
    if (vt_checkpoint_open(&ck, E2E25, &st)) fail_msg("%s", st.msg);
    vt_weight_spec *canon = calloc((size_t)ck.n, sizeof *canon), *saved = calloc((size_t)ck.n, sizeof *saved);
    assert_true(canon && saved);
    for (int i = 0; i < ck.n; i++) {
        const vt_st_tensor *t = &ck.t[i];
        snprintf(canon[i].name, sizeof canon[i].name, "%s", t->name);
        if (!t->lm) snprintf(saved[i].name, sizeof saved[i].name, "model.%s", t->canon);
        else if (!strcmp(t->name, "lm_head.weight")) snprintf(saved[i].name, sizeof saved[i].name, "lm_head.weight");
        else snprintf(saved[i].name, sizeof saved[i].name, "model.language_model.%s", t->canon);
        canon[i].ndim = saved[i].ndim = t->ndim;
        memcpy(canon[i].shape, t->shape, sizeof t->shape);
        memcpy(saved[i].shape, t->shape, sizeof t->shape);
    }
    resave_ctx rc_ = {&ck, canon, NULL};
    vt_stw_opts so = {dir, saved, ck.n, VT_ST_F32, 400000, NULL, 0, resave_fill, &rc_};
    int n_files = 0;
    if (vt_stw_write(&so, &n_files, &st)) fail_msg("%s", st.msg);
    assert_true(n_files >= 3);
    free(rc_.buf);
    vt_checkpoint_close(&ck);
    free(canon), free(saved);
    snprintf(path, sizeof path, "%s/config.json", E2E25);
    char dst[256];
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    copy_text_replacing(path, dst, "\"model_type\"", "\"model_type\"");
    snprintf(trace, sizeof trace, "%s/trace", dir);
    char args[4096];
    case_run_args(args, sizeof args, E2E25);
    const char *rest = strstr(args, " --image"); /* the inputs, with our directory as --model */
    int rc = vt_test_cli(out, sizeof out, "generate --model %s%s --input-ids %s/input_ids.npy --max-new-tokens 8 "
                         "--trace %s", dir, rest, E2E25, trace);
    if (rc) fail_msg("exit %d:\n%s", rc, out);
    assert_dirs_match(trace, E2E25);
    vt_test_rmtree(dir);
}

/* BF16 weights kept BF16 and widened inside the matrix kernel give the traces that widening at load gives,
 * byte for byte: a synth checkpoint of qwen2vl-e2e's config in BF16, generated from both ways. */
static void test_lm_bf16_kept_equals_widened(void **state)
{
    (void)state;
    char dir[64], preset[128], model[128], a[128], b[128], src[256], dst[256];
    vt_test_tmpdir(dir);
    snprintf(preset, sizeof preset, "%s/preset", dir);
    snprintf(model, sizeof model, "%s/model", dir);
    mkdir(preset, 0755);
    snprintf(src, sizeof src, "%s/config.json", E2E2);
    snprintf(dst, sizeof dst, "%s/config.json", preset);
    copy_text_replacing(src, dst, "\"model_type\"", "\"model_type\"");
    if (vt_test_cli(out, sizeof out, "synth --preset %s --dtype bf16 --out %s", preset, model)) fail_msg("%s", out);
    assert_non_null(strstr(out, "2 of 2 language-model layers"));
    snprintf(a, sizeof a, "%s/kept", dir);
    snprintf(b, sizeof b, "%s/widened", dir);
    const char *common = "--image " E2E2 "/image.0.png --min-pixels 3136 --max-pixels 40000 --input-ids " E2E2
                         "/input_ids.npy --max-new-tokens 8";
    if (vt_test_cli(out, sizeof out, "generate --model %s %s --trace %s", model, common, a)) fail_msg("%s", out);
    if (vt_test_cli(out, sizeof out, "generate --model %s %s --trace %s --widen-bf16", model, common, b))
        fail_msg("%s", out);
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, a, &st)) fail_msg("%s", st.msg);
    assert_true(m.n > 100);
    for (int i = 0; i < m.n; i++) {
        char fa[512], fb[512];
        snprintf(fa, sizeof fa, "%s/%s", a, m.t[i].file);
        snprintf(fb, sizeof fb, "%s/%s", b, m.t[i].file);
        void *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        if (vt_read_file(fa, &x, &nx, 1 << 26, &st) || vt_read_file(fb, &y, &ny, 1 << 26, &st)) fail_msg("%s", st.msg);
        if (nx != ny || memcmp(x, y, nx)) fail_msg("%s: BF16 kept and widened at load differ", m.t[i].name);
        free(x), free(y);
    }
    vt_manifest_free(&m);

    /* --layers cuts both stacks: 1 of the 3 vision blocks, 1 of the 2 language-model layers; it generates */
    if (vt_test_cli(out, sizeof out, "synth --preset %s --layers 1 --out %s/one", preset, dir)) fail_msg("%s", out);
    assert_non_null(strstr(out, "1 of 3 blocks + 1 of 2 language-model layers"));
    static vt_model_config cfg;
    snprintf(model, sizeof model, "%s/one", dir);
    if (vt_config_load(&cfg, model, &st)) fail_msg("%s", st.msg);
    assert_int_equal(cfg.qwen2vl.vision.depth, 1);
    assert_int_equal(cfg.lm.num_hidden_layers, 1);
    if (vt_test_cli(out, sizeof out, "generate --model %s %s", model, common)) fail_msg("%s", out);
    vt_test_rmtree(dir);
}

/* Issue 23's done-when, through generate: on a synth model with the real vocabulary and special ids (the
 * tiny-qwen2-vl preset) and the golden tokenizer, `--prompt "Describe this image."` with a 112 x 112 PNG
 * that --min/--max-pixels 3136 make 56 x 56 (4 pads) writes input_ids equal to chat.json's chat-image-4 ids,
 * prints the answer as text, and --input-ids with those ids gives the same trace byte for byte (all but
 * generate.text, the decoded answer only --prompt records). */
static void test_lm_prompt_chat_image_4(void **state)
{
    (void)state;
    static const int64_t chat_image_4[] = {151644, 8948,   198,    2610,   525,    264,   10950, 17847,  13,    151645,
                                           198,    151644, 872,    198,    151652, 151655, 151655, 151655, 151655, 151653,
                                           74785,  419,    2168,   13,     151645, 198,   151644, 77091, 198};
    const int64_t L = (int64_t)(sizeof chat_image_4 / sizeof *chat_image_4);
    char dir[64], model[128], a[128], b[128], ids[128];
    vt_test_tmpdir(dir);
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(a, sizeof a, "%s/prompt", dir);
    snprintf(b, sizeof b, "%s/ids", dir);
    snprintf(ids, sizeof ids, "%s/ids.npy", dir);
    if (vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s --quiet", model)) fail_msg("%s", out);
    const char *common = "--image " VT_GOLDEN("kimivl-multi") "/image0.png --min-pixels 3136 --max-pixels 3136 "
                         "--max-new-tokens 4 --quiet";
    if (vt_test_cli(out, sizeof out, "generate --model %s --tokenizer " VT_GOLDEN("tokenizer") "/tokenizer.json "
                    "--prompt \"Describe this image.\" %s --trace %s", model, common, a))
        fail_msg("%s", out);
    vt_tensor t, text;
    void *o1, *o2;
    vt_test_load_golden(a, "input_ids", &t, &o1);
    assert_int_equal(t.shape[1], L);
    assert_memory_equal(t.data, chat_image_4, sizeof chat_image_4);
    vt_test_load_golden(a, "generate.text", &text, &o2); /* what was printed: the text, then a newline */
    assert_int_equal(strlen(out), (size_t)text.shape[0] + 1);
    assert_memory_equal(out, text.data, (size_t)text.shape[0]);
    write_ids(ids, chat_image_4, L);
    if (vt_test_cli(out, sizeof out, "generate --model %s --input-ids %s %s --trace %s", model, ids, common, b))
        fail_msg("%s", out);
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, b, &st)) fail_msg("%s", st.msg);
    for (int i = 0; i < m.n; i++) {
        char fa[512], fb[512];
        snprintf(fa, sizeof fa, "%s/%s", a, m.t[i].file);
        snprintf(fb, sizeof fb, "%s/%s", b, m.t[i].file);
        void *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        if (vt_read_file(fa, &x, &nx, 1 << 26, &st) || vt_read_file(fb, &y, &ny, 1 << 26, &st)) fail_msg("%s", st.msg);
        if (nx != ny || memcmp(x, y, nx)) fail_msg("%s: --prompt and --input-ids traces differ", m.t[i].name);
        free(x), free(y);
    }
    vt_manifest_free(&m);
    /* one or the other, and the flags that need --prompt */
    assert_int_equal(vt_test_cli(out, sizeof out, "generate --model %s --input-ids %s --prompt hi %s", model, ids, common), 2);
    expect_error(2, "--prompt and --input-ids both given");
    assert_int_equal(vt_test_cli(out, sizeof out, "generate --model %s --input-ids %s --raw %s", model, ids, common), 2);
    expect_error(2, "--raw needs --prompt");
    assert_int_equal(vt_test_cli(out, sizeof out, "generate --model %s --prompt hi %s", model, common), 2);
    expect_error(2, "tokenizer.json"); /* the synth directory has no tokenizer */
    free(o1), free(o2);
    vt_test_rmtree(dir);
}

/* ======================================== bad input ======================================== */

/* Write the golden prompt with one edit (index at -> value), or of another shape, to path. */
static void write_ids(const char *path, const int64_t *v, int64_t n)
{
    vt_status st = {0};
    vt_tensor t = vt_tensor_of(VT_I64, (void *)v, VT_DIMS(1, n));
    if (vt_npy_write(path, &t, &st)) fail_msg("%s", st.msg);
}

/* Each bad input: exit 2, one line naming it, no manifest.json, no --out file. */
static void expect_refused(const char *dir, const char *what, const char *model, const char *ids_path,
                           const char *extra)
{
    char trace[128], ids_out[128];
    snprintf(trace, sizeof trace, "%s/trace", dir);
    snprintf(ids_out, sizeof ids_out, "%s/out.npy", dir);
    int rc = vt_test_cli(out, sizeof out, "generate --model %s --input-ids %s --image %s/image.0.png --min-pixels 3136 "
                         "--max-pixels 40000 --trace %s --out %s %s", model, ids_path, E2E2, trace, ids_out, extra);
    expect_error(rc, what);
    char mf[160];
    snprintf(mf, sizeof mf, "%s/manifest.json", trace);
    if (exists(mf)) fail_msg("%s: a manifest.json was written for a failed run", what);
    if (exists(ids_out)) fail_msg("%s: --out was written for a failed run", what);
}

static void test_lm_bad_input(void **state)
{
    (void)state;
    char dir[64], ids[128], cfgdir[128];
    vt_test_tmpdir(dir);
    vt_tensor g;
    void *owned;
    vt_test_load_golden(E2E2, "input_ids", &g, &owned);
    const int64_t L = g.shape[1];
    int64_t *v = malloc((size_t)L * sizeof *v);
    snprintf(ids, sizeof ids, "%s/ids.npy", dir);

    /* one <|image_pad|> fewer than the image's 35 merged tokens */
    memcpy(v, g.data, (size_t)L * sizeof *v);
    for (int64_t l = 0; l < L; l++)
        if (v[l] == 253) {
            v[l] = 100;
            break;
        }
    write_ids(ids, v, L);
    expect_refused(dir, "Image features and image tokens do not match: tokens: 34, features 35", E2E2, ids, "");
    /* an id outside the vocabulary of 256 */
    memcpy(v, g.data, (size_t)L * sizeof *v);
    v[3] = 300;
    write_ids(ids, v, L);
    expect_refused(dir, "input_ids[0, 3] = 300 is outside the vocabulary (vocab_size 256)", E2E2, ids, "");
    /* an empty prompt */
    write_ids(ids, v, 0);
    expect_refused(dir, "input_ids is empty", E2E2, ids, "");
    /* not int64 */
    {
        float f[2] = {1, 2};
        vt_tensor t = vt_tensor_of(VT_F32, f, VT_DIMS(1, 2));
        vt_status st = {0};
        if (vt_npy_write(ids, &t, &st)) fail_msg("%s", st.msg);
        expect_refused(dir, "expected int64 [1, L]", E2E2, ids, "");
    }
    /* a prompt longer than max_position_embeddings (a config that allows 40 positions; the prompt is 56) */
    snprintf(cfgdir, sizeof cfgdir, "%s/short", dir);
    mkdir(cfgdir, 0755);
    link_case(cfgdir, E2E2, "\"max_position_embeddings\": 32768", "\"max_position_embeddings\": 40");
    char gids[160];
    snprintf(gids, sizeof gids, "%s/input_ids.npy", E2E2);
    expect_refused(dir, "56 tokens, more than max_position_embeddings 40", cfgdir, gids, "");
    /* --max-new-tokens negative, zero, absurd, or past max_position_embeddings */
    expect_refused(dir, "--max-new-tokens: '-1' is not an integer", E2E2, gids, "--max-new-tokens -1");
    expect_refused(dir, "--max-new-tokens: '0' is not an integer", E2E2, gids, "--max-new-tokens 0");
    expect_refused(dir, "--max-new-tokens: '1000000000000' is not an integer", E2E2, gids,
                   "--max-new-tokens 1000000000000");
    expect_refused(dir, "--max-new-tokens 40000: the prompt's 56 tokens plus that many exceed max_position_embeddings",
                   E2E2, gids, "--max-new-tokens 40000");
    /* a checkpoint with the vision tower only: generate names what is missing, run keeps working */
    expect_refused(dir, "no language model in this checkpoint: model.embed_tokens.weight", VT_GOLDEN("qwen2vl-image"),
                   gids, "");
    char args[4096];
    case_run_args(args, sizeof args, VT_GOLDEN("qwen2vl-image"));
    assert_int_equal(vt_test_cli(out, sizeof out, "%s", args), 0);
    /* a checkpoint missing layer 1, and one deeper than its config (num_hidden_layers 1) */
    char layered[128];
    copy_case_edited(layered, sizeof layered, dir, "nolayer1", E2E2, "\"model_type\"", "\"model_type\"",
                     "model.layers.1.");
    expect_refused(dir, "weight not found: model.layers.1.input_layernorm.weight", layered, gids, "");
    snprintf(layered, sizeof layered, "%s/deeper", dir);
    mkdir(layered, 0755);
    link_case(layered, E2E2, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1");
    expect_refused(dir, "more layers than config.json's num_hidden_layers 1", layered, gids, "");
    /* --trace into a golden case: refused (the reference is never overwritten), nothing written */
    assert_int_equal(vt_test_cli(out, sizeof out, "generate --model %s --image %s/image.0.png --input-ids %s "
                                 "--trace %s", E2E2, E2E2, gids, E2E2), 2);
    expect_error(2, "not a trace; nothing was written");
    /* missing --input-ids */
    assert_int_equal(vt_test_cli(out, sizeof out, "generate --model %s --image %s/image.0.png", E2E2, E2E2), 2);
    expect_error(2, "no --prompt TEXT or --input-ids F.npy given");
    free(v);
    free(owned);
    vt_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lm_masked_scatter_by_hand),
        cmocka_unit_test(test_lm_causal_window_by_hand),
        cmocka_unit_test(test_lm_causal_paths_agree),
        cmocka_unit_test(test_lm_golden_qwen2vl),
        cmocka_unit_test(test_lm_golden_qwen25vl),
        cmocka_unit_test(test_lm_cache_vs_recompute),
        cmocka_unit_test(test_lm_stops_at_eos),
        cmocka_unit_test(test_lm_language_model_prefix_sharded),
        cmocka_unit_test(test_lm_bf16_kept_equals_widened),
        cmocka_unit_test(test_lm_prompt_chat_image_4),
        cmocka_unit_test(test_lm_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
