/*
 * test_bugzoo.c -- the bug zoo (`--inject BUG`) and the diff's locator, --json and --summary.
 *
 * Per bug: run the command with the bug on an input that exposes it, then diff against the clean golden
 * trace with --all: the first divergence is the tensor of the stage that holds the bug (and the last
 * passing one is its input), the tensors downstream diverge too, the ones upstream or elsewhere do not,
 * and the trace's manifest is labelled with the bug. cross-image-leak on kimivl-multi must move the
 * final output by what the reference's own eager path shows (inputs.json, max_abs_diff_eager_vs_sdpa).
 * Then the locator on crafted divergences (one poked element: its patch, head, segment, window), checked
 * against what the golden trace itself says (rot_pos_ids, patch rows), and the two reports parsed.
 */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "diff/diff.h"
#include "io/fileio.h"
#include "diff/locate.h"
#include "format/manifest.h"
#include "format/npy.h"

static char out[1 << 16];

/* ======================================== helpers ======================================== */

/* A command that must succeed (exit 0). */
static void cli_ok(const char *args)
{
    int rc = vt_test_cli(out, sizeof out, "%s", args);
    if (rc != 0) fail_msg("vlmtrace %s -> exit %d\n%s", args, rc, out);
}

/* An error: exit 2, one line, containing every `want` string. */
static void cli_refused(const char *args, const char *want1, const char *want2)
{
    int rc = vt_test_cli(out, sizeof out, "%s", args);
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, want1) || (want2 && !strstr(out, want2)))
        fail_msg("vlmtrace %s: wanted exit 2 and one line with '%s' / '%s'; got exit %d:\n%s", args, want1,
                 want2 ? want2 : "", rc, out);
}

/* `vlmtrace run` arguments for a Qwen2 golden case, from its inputs.json (images, videos, fps, pixels). */
static void qwen2_run_args(char *buf, size_t cap, const char *case_dir)
{
    char path[512];
    void *text;
    size_t len;
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/inputs.json", case_dir);
    if (vt_read_file(path, &text, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) fail_msg("%s: not JSON", path);
    size_t off = (size_t)snprintf(buf, cap, "run --model %s", case_dir);
    const cJSON *e, *f;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "images"))
        off += (size_t)snprintf(buf + off, cap - off, " --image %s/%s", case_dir,
                                cJSON_GetStringValue(cJSON_GetObjectItem(e, "file")));
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "videos")) {
        int k = 0;
        off += (size_t)snprintf(buf + off, cap - off, " --video ");
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(e, "frames"))
            off += (size_t)snprintf(buf + off, cap - off, "%s%s/%s", k++ ? "," : "", case_dir, cJSON_GetStringValue(f));
        off += (size_t)snprintf(buf + off, cap - off, " --fps %g", cJSON_GetNumberValue(cJSON_GetObjectItem(e, "fps")));
    }
    snprintf(buf + off, cap - off, " --min-pixels %.0f --max-pixels %.0f",
             cJSON_GetNumberValue(cJSON_GetObjectItem(j, "min_pixels")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(j, "max_pixels")));
    cJSON_Delete(j);
}

/* The diff as parsed JSON (in-process, --all). */
static cJSON *diff_json(const char *ours, const char *ref)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    vt_diff_opts o = vt_diff_defaults();
    o.all = 1;
    o.format = VT_DIFF_JSON;
    vt_status st = {0};
    int rc = vt_diff(ours, ref, &o, mem, &st);
    fclose(mem);
    if (rc != VT_OK && rc != VT_EDIFF) fail_msg("diff %s %s -> %d: %s", ours, ref, rc, st.msg);
    cJSON *j = cJSON_Parse(text);
    if (!j) fail_msg("diff --json is not JSON:\n%.2000s", text);
    free(text);
    return j;
}

static const cJSON *tensor_of(const cJSON *root, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tensors"))
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), name)) return t;
    fail_msg("no tensor %s in the diff", name);
    return NULL;
}

static void expect_status(const cJSON *root, const char *name, const char *status)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(tensor_of(root, name), "status"));
    if (strcmp(s, status) != 0) fail_msg("%s: status %s, wanted %s", name, s, status);
}

static const char *verdict_str(const cJSON *root, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "verdict"), key);
    return cJSON_IsString(v) ? v->valuestring : "(null)";
}

static void expect_label(const char *trace, const char *bug)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, trace, &st)) fail_msg("%s", st.msg);
    if (!m.inject || strcmp(m.inject, bug) != 0) fail_msg("%s: manifest inject '%s', wanted '%s'", trace, m.inject ? m.inject : "", bug);
    vt_manifest_free(&m);
}

/*
 * One bug: `cmd --trace TMP/t --inject bug`, labelled; the diff against ref diverges first at `first`
 * (last passing `last_pass`); every name of `bad` (NULL-terminated) diverges; every name of `good` matches.
 */
static void check_bug(const char *cmd, const char *bug, const char *ref, const char *first, const char *last_pass,
                      const char *const *bad, const char *const *good)
{
    char tmp[64], trace[128], args[8192];
    vt_test_tmpdir(tmp);
    snprintf(trace, sizeof trace, "%s/t", tmp);
    snprintf(args, sizeof args, "%s --trace %s --inject %s", cmd, trace, bug);
    cli_ok(args);
    expect_label(trace, bug);
    cJSON *j = diff_json(trace, ref);
    if (strcmp(verdict_str(j, "first_divergence"), first) != 0 || strcmp(verdict_str(j, "last_pass_before"), last_pass) != 0)
        fail_msg("%s: first divergence %s (last pass %s), wanted %s (%s)", bug, verdict_str(j, "first_divergence"),
                 verdict_str(j, "last_pass_before"), first, last_pass);
    for (int i = 0; bad && bad[i]; i++) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(tensor_of(j, bad[i]), "status"));
        if (strcmp(s, "fail") != 0 && strcmp(s, "shape") != 0) fail_msg("%s: %s is %s downstream of the bug", bug, bad[i], s);
    }
    for (int i = 0; good && good[i]; i++) expect_status(j, good[i], "ok");
    cJSON_Delete(j);
    vt_test_rmtree(tmp);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *exif_images(void)
{
    static char buf[1024];
    const char *files[] = {"image.0.jpg", "image.1.png", "image.2.jpg", "image.3.jpg", "image.4.png", "image.5.jpg"};
    size_t off = (size_t)snprintf(buf, sizeof buf, "preprocess --family qwen2-vl");
    for (int i = 0; i < 6; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, " --image " VT_GOLDEN("preprocess-exif") "/%s", files[i]);
    return buf;
}

/* ======================================== the bugs ======================================== */

static void test_bugzoo_bilinear_resize(void **state)
{
    (void)state;
    char cmd[4096];
    qwen2_run_args(cmd, sizeof cmd, VT_GOLDEN("qwen2vl-image"));
    check_bug(cmd, "bilinear-resize", VT_GOLDEN("qwen2vl-image"), "image.0.resized", "image.0.rgb",
              LIST("image.0.normalized", "image.0.patches", "pixel_values", "visual.patch_embed", "visual.blocks.2",
                   "visual"),
              LIST("image.0.rgb", "image_grid_thw", "visual.rot_pos_ids", "visual.cu_seqlens"));
    /* preprocess: every resized image diverges; image.3 is already 84x56, and a same-size resize is a copy */
    check_bug(exif_images(), "bilinear-resize", VT_GOLDEN("preprocess-exif"), "image.0.resized", "image.0.rgb",
              LIST("image.0.patches", "image.1.resized", "image.5.patches"),
              LIST("image.3.resized", "image.3.patches", "image.4.grid_thw"));
}

static void test_bugzoo_round_half_away(void **state)
{
    (void)state;
    /* image.4 is 70 px wide after its EXIF rotation: 70 / 28 = 2.5, Python rounds to 2, C's round() to 3 */
    check_bug(exif_images(), "round-half-away", VT_GOLDEN("preprocess-exif"), "image.4.resized", "image.4.rgb",
              LIST("image.4.normalized", "image.4.patches", "image.4.grid_thw", "image.5.resized"),
              LIST("image.0.resized", "image.3.patches"));
    cJSON *j;
    char tmp[64], args[2048];
    vt_test_tmpdir(tmp);
    snprintf(args, sizeof args, "%s --trace %s/t --inject round-half-away", exif_images(), tmp);
    cli_ok(args);
    assert_non_null(strstr(out, "70x56 -> 84x56")); /* the size the CLI reports is the buggy one too */
    snprintf(args, sizeof args, "%s/t", tmp);
    j = diff_json(args, VT_GOLDEN("preprocess-exif"));
    const cJSON *t = tensor_of(j, "image.4.resized");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "why")),
                        "ours is uint8 [56, 84, 3], reference is uint8 [56, 56, 3]");
    cJSON_Delete(j);
    /* `run` takes it as well: the same image through the Qwen2-VL tower, against a clean run */
    snprintf(args, sizeof args, "run --model " VT_GOLDEN("qwen2vl-image") " --image " VT_GOLDEN("preprocess-exif")
             "/image.4.png --trace %s/clean", tmp);
    cli_ok(args);
    snprintf(args, sizeof args, "run --model " VT_GOLDEN("qwen2vl-image") " --image " VT_GOLDEN("preprocess-exif")
             "/image.4.png --trace %s/bug --inject round-half-away", tmp);
    cli_ok(args);
    char bug[128], clean[128];
    snprintf(bug, sizeof bug, "%s/bug", tmp);
    snprintf(clean, sizeof clean, "%s/clean", tmp);
    j = diff_json(bug, clean);
    assert_string_equal(verdict_str(j, "first_divergence"), "image.0.resized");
    expect_status(j, "visual", "shape");
    cJSON_Delete(j);
    vt_test_rmtree(tmp);
}

static void test_bugzoo_no_segment_mask(void **state)
{
    (void)state;
    char cmd[4096];
    /* two images and a two-slice video: four segments that now see each other */
    qwen2_run_args(cmd, sizeof cmd, VT_GOLDEN("qwen2vl-multi"));
    check_bug(cmd, "no-segment-mask", VT_GOLDEN("qwen2vl-multi"), "visual.blocks.0.attn.out",
              "visual.blocks.0.attn.k_rope", LIST("visual.blocks.0.attn.proj", "visual.blocks.0", "visual.merger", "visual"),
              LIST("visual.cu_seqlens", "visual.blocks.0.attn.qkv", "visual.patch_embed"));
    /* one image, four windows */
    qwen2_run_args(cmd, sizeof cmd, VT_GOLDEN("qwen25vl-image"));
    check_bug(cmd, "no-segment-mask", VT_GOLDEN("qwen25vl-image"), "visual.blocks.0.attn.out",
              "visual.blocks.0.attn.k_rope", LIST("visual.blocks.1", "visual.merger.unwindowed", "visual"),
              LIST("visual.cu_window_seqlens", "visual.window_index", "visual.patch_embed.windowed"));
    /* Kimi-VL packs images too */
    check_bug("run --model " VT_GOLDEN("kimivl-multi") " --image " VT_GOLDEN("kimivl-multi") "/image0.png --image "
              VT_GOLDEN("kimivl-multi") "/image1.png",
              "no-segment-mask", VT_GOLDEN("kimivl-multi"), "vision_tower.encoder.blocks.0.attn_out",
              "vision_tower.encoder.blocks.0.k_rope", LIST("vision_tower.encoder.blocks.1", "multi_modal_projector"),
              LIST("vision_tower.encoder.cu_seqlens", "vision_tower.patch_embed"));
}

static void test_bugzoo_fullatt_as_strings(void **state)
{
    (void)state;
    char cmd[4096];
    qwen2_run_args(cmd, sizeof cmd, VT_GOLDEN("qwen25vl-image"));
    /* fullatt_block_indexes [1, 3]: block 0 is a window block either way, block 1 is where it shows */
    check_bug(cmd, "fullatt-as-strings", VT_GOLDEN("qwen25vl-image"), "visual.blocks.1.attn.out",
              "visual.blocks.1.attn.k_rope", LIST("visual.blocks.1", "visual.blocks.3.attn.out", "visual"),
              LIST("visual.blocks.0", "visual.blocks.0.attn.out", "visual.cu_seqlens"));
}

static void test_bugzoo_no_reverse_index(void **state)
{
    (void)state;
    char cmd[4096];
    qwen2_run_args(cmd, sizeof cmd, VT_GOLDEN("qwen25vl-image"));
    check_bug(cmd, "no-reverse-index", VT_GOLDEN("qwen25vl-image"), "visual.merger.unwindowed", "visual.merger",
              LIST("visual"), LIST("visual.merger", "visual.blocks.3", "visual.window_index"));
}

static void test_bugzoo_qkv_global_split(void **state)
{
    (void)state;
    check_bug("run --model " VT_GOLDEN("qwenvl-image") " --image " VT_GOLDEN("qwenvl-image") "/image0.png", "qkv-global-split",
              VT_GOLDEN("qwenvl-image"), "transformer.visual.transformer.resblocks.0.attn.out",
              "transformer.visual.transformer.resblocks.0.attn.in_proj",
              LIST("transformer.visual.transformer.resblocks.0", "transformer.visual.transformer.resblocks.1",
                   "transformer.visual.attn_pool", "transformer.visual"),
              LIST("transformer.visual.ln_pre", "transformer.visual.transformer.resblocks.0.ln_1"));
}

/* The final output moves by what the reference's eager path shows: inputs.json records it. */
static void test_bugzoo_cross_image_leak(void **state)
{
    (void)state;
    const char *imgs = "--image " VT_GOLDEN("kimivl-multi") "/image0.png --image " VT_GOLDEN("kimivl-multi") "/image1.png";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "run --model " VT_GOLDEN("kimivl-multi") " %s", imgs);
    check_bug(cmd, "cross-image-leak", VT_GOLDEN("kimivl-multi"), "vision_tower.encoder.blocks.0.attn_out",
              "vision_tower.encoder.blocks.0.k_rope",
              LIST("vision_tower.encoder.blocks.0", "vision_tower.encoder.final_layernorm", "multi_modal_projector"),
              LIST("vision_tower.encoder.cu_seqlens", "vision_tower.encoder.blocks.0.q_rope"));

    char tmp[64], args[2048], path[256];
    vt_test_tmpdir(tmp);
    snprintf(args, sizeof args, "run --model " VT_GOLDEN("kimivl-multi") " %s --out %s/leak.npy --inject cross-image-leak",
             imgs, tmp);
    cli_ok(args);
    snprintf(path, sizeof path, "%s/leak.npy", tmp);
    vt_tensor ours, ref;
    void *bo, *br;
    vt_status st = {0};
    if (vt_npy_read(path, &ours, &bo, &st)) fail_msg("%s", st.msg);
    vt_test_load_golden(VT_GOLDEN("kimivl-multi"), "multi_modal_projector", &ref, &br);
    assert_int_equal(vt_numel(&ours), vt_numel(&ref));
    double max_abs = 0;
    for (int64_t i = 0; i < vt_numel(&ref); i++) max_abs = fmax(max_abs, fabs(vt_elem(&ours, i) - vt_elem(&ref, i)));
    /* the recorded value, read from inputs.json, compared by the comparison rule (docs/design.md) */
    void *text;
    size_t len;
    if (vt_read_file(VT_GOLDEN("kimivl-multi") "/inputs.json", &text, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    double recorded = cJSON_GetNumberValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "cross_checks"), "max_abs_diff_eager_vs_sdpa"));
    cJSON_Delete(j);
    assert_true(fabs(recorded - 0.445) < 5e-4); /* the 0.445 of the issue */
    double allowed = VT_DEFAULT_ATOL * fmax(1, recorded) + VT_DEFAULT_RTOL * recorded;
    if (fabs(max_abs - recorded) > allowed)
        fail_msg("cross-image-leak moves the output by %.9g; the reference's eager path by %.9g (allowed %.3g)", max_abs,
                 recorded, allowed);
    free(bo);
    free(br);

    /* one image alone: the +1 lands on every score of the row, softmax does not see it */
    snprintf(args, sizeof args, "run --model " VT_GOLDEN("kimivl-image") " --image " VT_GOLDEN("kimivl-image")
             "/image0.png --trace %s/one --inject cross-image-leak", tmp);
    cli_ok(args);
    snprintf(path, sizeof path, "%s/one", tmp);
    assert_dirs_match(path, VT_GOLDEN("kimivl-image"));
    vt_test_rmtree(tmp);
}

static void test_bugzoo_sequential_positions(void **state)
{
    (void)state;
#define RI VT_GOLDEN("rope-index/qwen2vl-multi")
    check_bug("rope --model " RI " --input-ids " RI "/input_ids.npy --image-grid-thw " RI "/image_grid_thw.npy "
              "--video-grid-thw " RI "/video_grid_thw.npy --quiet",
              "sequential-positions", RI, "position_ids", "video_grid_thw", LIST("rope_deltas"), LIST("input_ids"));
#undef RI
}

static void test_bugzoo_no_mrope_sections(void **state)
{
    (void)state;
#define RM VT_GOLDEN("rope-index/qwen2vl-mrope")
    check_bug("rope --model " RM " --input-ids " RM "/input_ids.npy --position-ids " RM "/position_ids.npy --q " RM
              "/mrope.q.npy --k " RM "/mrope.k.npy --quiet",
              "no-mrope-sections", RM, "mrope.cos", "mrope.inv_freq", LIST("mrope.sin", "mrope.q_embed", "mrope.k_embed"),
              LIST("position_ids", "mrope.q"));
    /* the channels mrope_section gives to t are right either way: the worst element is an h or w channel */
    char tmp[64], args[4096], trace[128];
    vt_test_tmpdir(tmp);
    snprintf(trace, sizeof trace, "%s/t", tmp);
    snprintf(args, sizeof args, "rope --model " RM " --input-ids " RM "/input_ids.npy --position-ids " RM
             "/position_ids.npy --q " RM "/mrope.q.npy --k " RM "/mrope.k.npy --quiet --trace %s --inject no-mrope-sections",
             trace);
    cli_ok(args);
    cJSON *j = diff_json(trace, RM);
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "tensors")) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "status")), "fail") != 0) continue;
        const char *where = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "locator"), "text"));
        if (!where || (!strstr(where, "which mrope_section [2, 3, 3] gives to axis h") &&
                       !strstr(where, "which mrope_section [2, 3, 3] gives to axis w")))
            fail_msg("%s: worst element %s", cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), where ? where : "(none)");
    }
    cJSON_Delete(j);
    vt_test_rmtree(tmp);
#undef RM
}

#define E2E VT_GOLDEN("qwen2vl-e2e")
#define E2E_ARGS "generate --model " E2E " --image " E2E "/image.0.png --min-pixels 3136 --max-pixels 40000 " \
                 "--input-ids " E2E "/input_ids.npy --max-new-tokens 8"

/* The decoder's rotary: the tables right, the split wrong, the answer different. */
static void test_bugzoo_mrope_section_order(void **state)
{
    (void)state;
    check_bug(E2E_ARGS, "mrope-section-order", E2E, "mrope.cos", "model.rotary_emb.sin",
              LIST("mrope.sin", "model.layers.0.self_attn.q_rope", "model.layers.0.self_attn.out", "lm_head",
                   "generated_ids"),
              LIST("visual", "inputs_embeds", "position_ids", "rope_deltas", "model.rotary_emb.cos",
                   "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"));
}

/* Cached decoding without rope_deltas: the prompt (and its token) right, every later one wrong. */
static void test_bugzoo_decode_positions_restart(void **state)
{
    (void)state;
    check_bug(E2E_ARGS, "decode-positions-restart", E2E, "generated_ids", "lm_head",
              LIST("generate.logits", "generate.position_ids"),
              LIST("position_ids", "rope_deltas", "model.layers.1", "model.norm", "lm_head"));
}

/* Unknown bugs, bugs of another family or command, and misuse: one line, exit 2, the valid names. */
static void test_bugzoo_refusals(void **state)
{
    (void)state;
    char cmd[4096], args[8192];
    qwen2_run_args(cmd, sizeof cmd, VT_GOLDEN("qwen2vl-image"));
    snprintf(args, sizeof args, "%s --inject bogus", cmd);
    cli_refused(args, "--inject bogus: no such bug", "bilinear-resize, round-half-away, no-segment-mask");
    snprintf(args, sizeof args, "%s --inject no-reverse-index", cmd);
    cli_refused(args, "does not apply to vlmtrace run on Qwen2-VL", "valid here: bilinear-resize");
    snprintf(args, sizeof args, "%s --inject no-segment-mask --inject bilinear-resize", cmd);
    cli_refused(args, "--inject given twice", NULL);
    cli_refused("run --model " VT_GOLDEN("qwenvl-image") " --image " VT_GOLDEN("qwenvl-image") "/image0.png --inject no-segment-mask",
                "does not apply to vlmtrace run on Qwen-VL", "valid here: qkv-global-split");
    cli_refused("run --model " VT_GOLDEN("kimivl-image") " --image " VT_GOLDEN("kimivl-image") "/image0.png --inject bilinear-resize",
                "does not apply to vlmtrace run on Kimi-VL", "no-segment-mask, cross-image-leak");
    snprintf(args, sizeof args, "%s --trace /tmp/never --inject cross-image-leak", exif_images());
    cli_refused(args, "does not apply to vlmtrace preprocess", "valid here: bilinear-resize, round-half-away");
#define RI VT_GOLDEN("rope-index/qwen2vl-mrope")
    cli_refused("rope --model " RI " --input-ids " RI "/input_ids.npy --trace /tmp/never --inject no-reverse-index",
                "does not apply to vlmtrace rope", "sequential-positions, no-mrope-sections");
    cli_refused("rope --model " RI " --input-ids " RI "/input_ids.npy --position-ids " RI "/position_ids.npy --q " RI
                "/mrope.q.npy --k " RI "/mrope.k.npy --trace /tmp/never --inject sequential-positions",
                "which --position-ids replaces", NULL);
    cli_refused("rope --model " RI " --input-ids " RI "/input_ids.npy --trace /tmp/never --inject no-mrope-sections",
                "give --q and --k", NULL);
#undef RI
    cli_refused(E2E_ARGS " --inject qkv-global-split", "does not apply to vlmtrace generate on Qwen2-VL",
                "mrope-section-order, decode-positions-restart");
    cli_refused("run --model " E2E " --image " E2E "/image.0.png --inject decode-positions-restart",
                "does not apply to vlmtrace run on Qwen2-VL", NULL);
}

/* ======================================== docs/bug-zoo.md ======================================== */

/* s with every `from` replaced by `to` (malloc'd). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t n = 0, lf = strlen(from), lt = strlen(to);
    for (const char *p = strstr(s, from); p; p = strstr(p + lf, from)) n++;
    char *r = malloc(strlen(s) + n * (lt > lf ? lt - lf : 0) + 1), *w = r;
    assert_non_null(r);
    for (const char *p = s;;) {
        const char *q = strstr(p, from);
        size_t k = q ? (size_t)(q - p) : strlen(p);
        memcpy(w, p, k);
        w += k;
        if (!q) break;
        memcpy(w, to, lt);
        w += lt;
        p = q + lf;
    }
    *w = 0;
    return r;
}

/* Every command of the page runs, and every report on it is what the tool prints today: the ```sh
 * blocks are run in order, each block that starts with "$ bin/vlmtrace ..." is re-run and compared. */
static void test_bugzoo_docs_are_live(void **state)
{
    (void)state;
    void *raw;
    size_t len;
    vt_status st = {0};
    if (vt_read_file("docs/bug-zoo.md", &raw, &len, 1 << 20, &st)) fail_msg("%s", st.msg);
    char tmp[64], zoo[80];
    vt_test_tmpdir(tmp);
    snprintf(zoo, sizeof zoo, "%s/", tmp);
    static char got[1 << 16];
    int reports = 0;
    char *doc = raw;
    for (char *p = strstr(doc, "```"); p; ) {
        char *body = strchr(p, '\n');
        if (!body) break;
        body++;
        char *end = strstr(body, "```");
        if (!end) break;
        *end = 0;
        if (!strncmp(p, "```sh", 5)) {
            char *joined = replace_all(body, "\\\n", " ");
            for (char *line = strtok(joined, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "bin/vlmtrace ", 13) != 0) continue;
                char *cmd = replace_all(line + 13, "zoo/", zoo);
                int rc = vt_test_cli(got, sizeof got, "%s", cmd);
                if (rc != 0) fail_msg("docs/bug-zoo.md: %s -> exit %d\n%s", line, rc, got);
                free(cmd);
            }
            free(joined);
        } else if (!strncmp(body, "$ bin/vlmtrace ", 15)) {
            char *nl = strchr(body, '\n');
            assert_non_null(nl);
            *nl = 0;
            char *cmd = replace_all(body + 15, "zoo/", zoo);
            vt_test_cli(got, sizeof got, "%s", cmd);
            char *printed = replace_all(got, zoo, "zoo/");
            if (strcmp(printed, nl + 1) != 0)
                fail_msg("docs/bug-zoo.md: `%s` prints\n%s\nbut the page shows\n%s", body + 2, printed, nl + 1);
            free(printed);
            free(cmd);
            reports++;
        }
        p = strstr(end + 3, "```");
    }
    assert_int_equal(reports, 15); /* every `$ bin/vlmtrace` report block of docs/bug-zoo.md */
    free(raw);
    vt_test_rmtree(tmp);
}

/* ======================================== the locator ======================================== */

/* Copy a golden case and set element `flat` of tensor `name` to v: a crafted one-element divergence. */
static void poke_copy(const char *src, char *tmp, char *dst, const char *name, int64_t flat, double v)
{
    char cmd[1024], path[512];
    vt_test_tmpdir(tmp);
    sprintf(dst, "%s/ours", tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && chmod -R u+w '%s'", src, dst, dst);
    assert_int_equal(system(cmd), 0);
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, dst, &st)) fail_msg("%s", st.msg);
    const vt_manifest_entry *e = vt_manifest_find(&m, name);
    assert_non_null(e);
    snprintf(path, sizeof path, "%s/%s", dst, e->file);
    vt_manifest_free(&m);
    vt_tensor t;
    void *owned;
    if (vt_npy_read(path, &t, &owned, &st)) fail_msg("%s", st.msg);
    vt_f32(&t)[flat] = (float)v;
    if (vt_npy_write(path, &t, &st)) fail_msg("%s", st.msg);
    free(owned);
}

/* The text report of a diff (stops at the first failure). */
static char *diff_text(const char *ours, const char *ref)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    vt_diff_opts o = vt_diff_defaults();
    vt_status st = {0};
    int rc = vt_diff(ours, ref, &o, mem, &st);
    fclose(mem);
    assert_int_equal(rc, VT_EDIFF);
    return text;
}

static void expect_in(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("wanted '%s' in:\n%s", want, text);
}

/* qwen2vl-multi: rows of the video's second time slice; q_rope [N, H, D], qkv's k part, attn.out. */
static void test_locate_qwen2_head_segment(void **state)
{
    (void)state;
    char tmp[64], ours[128], want[256], *text;
    vt_tensor ids;
    void *owned;
    vt_test_load_golden(VT_GOLDEN("qwen2vl-multi"), "visual.rot_pos_ids", &ids, &owned);
    const int64_t row = 77; /* images 24 + 24 rows, the video 2 x 24: row 77 is video.0, t 1 */
    const int64_t h = vt_i64(&ids)[2 * row], w = vt_i64(&ids)[2 * row + 1];
    free(owned);

    poke_copy(VT_GOLDEN("qwen2vl-multi"), tmp, ours, "visual.blocks.1.attn.q_rope", (row * 2 + 1) * 16 + 5, 9.0);
    text = diff_text(ours, VT_GOLDEN("qwen2vl-multi"));
    snprintf(want, sizeof want, "where: row 77 -> video.0, patch (t 1, h %lld, w %lld); head 1 of 2; segment 3 of 4 = "
             "video.0 t 1 (visual.cu_seqlens rows [72, 96))", (long long)h, (long long)w);
    expect_in(text, want);
    free(text);
    vt_test_rmtree(tmp);

    /* qkv [N, 3C], C = 32, D = 16: column 32 + 16 + 3 is k, head 1 */
    poke_copy(VT_GOLDEN("qwen2vl-multi"), tmp, ours, "visual.blocks.0.attn.qkv", 30 * 96 + 51, 9.0);
    text = diff_text(ours, VT_GOLDEN("qwen2vl-multi"));
    expect_in(text, "head 1 of 2 (k); segment 1 of 4 = image.1 (visual.cu_seqlens rows [24, 48))");
    free(text);
    vt_test_rmtree(tmp);

    /* attn.out [N, C]: column 7 is head 0 */
    poke_copy(VT_GOLDEN("qwen2vl-multi"), tmp, ours, "visual.blocks.2.attn.out", 3 * 32 + 7, 9.0);
    text = diff_text(ours, VT_GOLDEN("qwen2vl-multi"));
    expect_in(text, "where: row 3 -> image.0, patch (t 0, h 1, w 1); head 0 of 2; segment 0 of 4");
    free(text);
    vt_test_rmtree(tmp);
}

/* Every patch row the locator names is the one the golden trace's own rot_pos_ids name (Qwen2-VL), and
 * in window order the row holds the same data as the named row of the unwindowed tensor (Qwen2.5-VL). */
static void check_rows_against_trace(const char *case_dir, const char *rows_name)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, case_dir, &st)) fail_msg("%s", st.msg);
    vt_locator *l;
    if (vt_locator_build(&l, &m, &st)) fail_msg("%s", st.msg);
    vt_tensor ids, pe, t;
    void *o1, *o2, *o3;
    vt_test_load_golden(case_dir, "visual.rot_pos_ids", &ids, &o1);
    vt_test_load_golden(case_dir, "visual.patch_embed", &pe, &o2);
    vt_test_load_golden(case_dir, rows_name, &t, &o3);
    vt_tensor cu;
    void *o4;
    vt_test_load_golden(case_dir, "visual.cu_seqlens", &cu, &o4);
    const int64_t N = t.shape[0], C = t.shape[1];
    for (int64_t r = 0; r < N; r++) {
        vt_location loc;
        vt_locate(l, rows_name, &t, r * C, &loc);
        if (!loc.valid || loc.row != r) fail_msg("%s row %lld: not located", rows_name, (long long)r);
        /* the original row with that input's (t, h, w): the segment of (input, t), then (h, w) in rot_pos_ids */
        int64_t found = -1;
        for (int64_t j = 0; j < N && found < 0; j++) {
            if (vt_i64(&ids)[2 * j] != loc.h || vt_i64(&ids)[2 * j + 1] != loc.w) continue;
            vt_location lj;
            vt_locate(l, "visual.patch_embed", &pe, j * C, &lj);
            if (!strcmp(lj.input, loc.input) && lj.t == loc.t) found = j;
        }
        if (found < 0) fail_msg("%s row %lld: %s names no row of rot_pos_ids", rows_name, (long long)r, loc.text);
        if (memcmp(vt_f32(&t) + r * C, vt_f32(&pe) + found * C, (size_t)C * sizeof(float)) != 0)
            fail_msg("%s row %lld (%s) is not patch_embed row %lld", rows_name, (long long)r, loc.text, (long long)found);
    }
    free(o1);
    free(o2);
    free(o3);
    free(o4);
    vt_locator_free(l);
    vt_manifest_free(&m);
}

static void test_locate_rows_match_trace(void **state)
{
    (void)state;
    check_rows_against_trace(VT_GOLDEN("qwen2vl-multi"), "visual.patch_embed");
    check_rows_against_trace(VT_GOLDEN("qwen25vl-image"), "visual.patch_embed.windowed");
    check_rows_against_trace(VT_GOLDEN("qwen25vl-multi"), "visual.patch_embed.windowed");
}

/* A pixel of image.{k}.normalized sits in the patch the locator names: its value is in that patch's row
 * of image.{k}.patches, at column c*T*P*P + (y % P)*P + x % P (2x2 merge-block row order undone). */
static void test_locate_pixels(void **state)
{
    (void)state;
    const char *dir = VT_GOLDEN("qwen2vl-multi");
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, dir, &st)) fail_msg("%s", st.msg);
    vt_locator *l;
    if (vt_locator_build(&l, &m, &st)) fail_msg("%s", st.msg);
    vt_tensor nz, pa;
    void *o1, *o2;
    vt_test_load_golden(dir, "image.1.normalized", &nz, &o1); /* [3, 84, 56] */
    vt_test_load_golden(dir, "image.1.patches", &pa, &o2);    /* [24, 1176] */
    const int64_t H = nz.shape[1], W = nz.shape[2], P = 14, T = 2;
    for (int64_t c = 0; c < 3; c++)
        for (int64_t y = 0; y < H; y += 5)
            for (int64_t x = 0; x < W; x += 3) {
                vt_location pix, row;
                vt_locate(l, "image.1.normalized", &nz, (c * H + y) * W + x, &pix);
                assert_string_equal(pix.input, "image.1");
                int64_t hit = -1;
                for (int64_t j = 0; j < pa.shape[0] && hit < 0; j++) {
                    vt_locate(l, "image.1.patches", &pa, j * pa.shape[1], &row);
                    if (row.h == pix.h && row.w == pix.w) hit = j;
                }
                assert_true(hit >= 0);
                float v = vt_f32(&pa)[hit * pa.shape[1] + c * T * P * P + (y % P) * P + x % P];
                if (v != vt_f32(&nz)[(c * H + y) * W + x])
                    fail_msg("pixel (%lld, %lld, %lld): %s, but patches row %lld holds another value", (long long)c,
                             (long long)y, (long long)x, pix.text, (long long)hit);
            }
    free(o1);
    free(o2);
    vt_locator_free(l);
    vt_manifest_free(&m);
}

/* Qwen2.5-VL window blocks, Kimi-VL rows, Qwen-VL's [L, B, W] and per-head in_proj. */
static void test_locate_other_families(void **state)
{
    (void)state;
    char tmp[64], ours[128], *text;
    /* qwen25vl-image: window-order row 70 is in window 1 (rows [64, 80)); block 0 attends within windows */
    poke_copy(VT_GOLDEN("qwen25vl-image"), tmp, ours, "visual.blocks.0.attn.q_rope", (70 * 4 + 3) * 16, 9.0);
    text = diff_text(ours, VT_GOLDEN("qwen25vl-image"));
    expect_in(text, "where: row 70 in window order (mapped back through visual.window_index) -> image.0, patch (t 0, h 3, w 8); "
                    "head 3 of 4; window 1 of 4 (visual.cu_window_seqlens rows [64, 80)), segment 0 of 1 = image.0 "
                    "(visual.cu_seqlens rows [0, 100)); block 0 attends within the window");
    free(text);
    vt_test_rmtree(tmp);
    /* kimivl-multi: row 64 + 2*6 + 5 = 81 is image.1 (grid 10x6) patch (2, 5); wqkv's v part of head 3 */
    poke_copy(VT_GOLDEN("kimivl-multi"), tmp, ours, "vision_tower.encoder.blocks.0.wqkv", 81 * 192 + 128 + 3 * 16 + 1, 9.0);
    text = diff_text(ours, VT_GOLDEN("kimivl-multi"));
    expect_in(text, "where: row 81 -> image.1, patch (h 2, w 5); head 3 of 4 (v); segment 1 of 2 = image.1 "
                    "(vision_tower.encoder.cu_seqlens rows [64, 124))");
    free(text);
    vt_test_rmtree(tmp);
    /* qwenvl-image: in_proj [L, B, 3W] is per head [q|k|v]: column 2*24 + 8 + 1 is head 2's k; token 19 of 8x8 */
    poke_copy(VT_GOLDEN("qwenvl-image"), tmp, ours, "transformer.visual.transformer.resblocks.1.attn.in_proj",
              19 * 96 + 2 * 24 + 8 + 1, 9.0);
    text = diff_text(ours, VT_GOLDEN("qwenvl-image"));
    expect_in(text, "where: token 19 of image.0 -> patch (h 2, w 3); head 2 of 4 (k); image 0 of the batch");
    free(text);
    vt_test_rmtree(tmp);
}

/* A reference whose grids and window index are nonsense: the locator knows less, nothing breaks. */
static void test_locate_survives_broken_grids(void **state)
{
    (void)state;
    char tmp[64], ref[128], path[256];
    poke_copy(VT_GOLDEN("qwen25vl-image"), tmp, ref, "visual.blocks.0.attn.out", 0, 9.0);
    vt_status st = {0};
    const int64_t grids[][3] = {{1, (int64_t)1 << 40, 3}, {0, 10, 10}, {-1, 10, 10}, {1, 1, 1}};
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++) {
        int64_t thw[3] = {grids[g][0], grids[g][1], grids[g][2]};
        vt_tensor t = vt_tensor_of(VT_I64, thw, VT_DIMS(1, 3));
        snprintf(path, sizeof path, "%s/image_grid_thw.npy", ref);
        if (vt_npy_write(path, &t, &st)) fail_msg("%s", st.msg);
        int64_t wi[25];
        for (int i = 0; i < 25; i++) wi[i] = (i * 7919) % 61 - 30; /* out of range, negative, repeated */
        vt_tensor w = vt_tensor_of(VT_I64, wi, VT_DIMS(25));
        snprintf(path, sizeof path, "%s/visual.window_index.npy", ref);
        if (vt_npy_write(path, &w, &st)) fail_msg("%s", st.msg);
        cJSON *j = diff_json(VT_GOLDEN("qwen25vl-image"), ref); /* ours = the golden: every poked tensor fails */
        expect_status(j, "visual.blocks.0.attn.out", "fail");
        cJSON_Delete(j);
    }
    vt_test_rmtree(tmp);
}

/* ======================================== --json and --summary ======================================== */

static void test_diff_json_and_summary(void **state)
{
    (void)state;
    char tmp[64], ours[128];
    static char big[1 << 20];
    poke_copy(VT_GOLDEN("qwen2vl-multi"), tmp, ours, "visual.blocks.1.attn.out", 50 * 32 + 20, 9.0);

    /* --json through the CLI: one document; stops at the first failure without --all */
    int rc = vt_test_cli(big, sizeof big, "diff %s " VT_GOLDEN("qwen2vl-multi") " --json", ours);
    assert_int_equal(rc, 1);
    cJSON *j = cJSON_Parse(big);
    if (!j) fail_msg("not JSON:\n%.2000s", big);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "ours_inject")));
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rule"), "atol")) == VT_DEFAULT_ATOL);
    const cJSON *v = cJSON_GetObjectItem(j, "verdict");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(v, "pass")));
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "exit_status")), 1);
    assert_string_equal(verdict_str(j, "first_divergence"), "visual.blocks.1.attn.out");
    assert_string_equal(verdict_str(j, "last_pass_before"), "visual.blocks.1.attn.k_rope");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "not_compared")) > 0);
    expect_status(j, "visual.blocks.1.attn.proj", "not_compared");
    expect_status(j, "visual.cu_seqlens", "ok");
    const cJSON *t = tensor_of(j, "visual.blocks.1.attn.out");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "dtype")), "float32");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "shape")), 2);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(t, "n_bad")), 1);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(t, "cosine")) < 1);
    const cJSON *wst = cJSON_GetObjectItem(t, "worst");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(wst, "index"), 0)), 50);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(wst, "index"), 1)), 20);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(wst, "ours")) == 9.0);
    assert_true(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(t, "max_abs")) -
                     fabs(9.0 - cJSON_GetNumberValue(cJSON_GetObjectItem(wst, "reference")))) < 1e-6);
    const cJSON *loc = cJSON_GetObjectItem(t, "locator");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(loc, "input")), "video.0"); /* row 50: video, t 0 */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(loc, "patch"), "t")), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(loc, "head")), 1);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(loc, "heads")), 2);
    const cJSON *seg = cJSON_GetObjectItem(loc, "segment");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(seg, "index")), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(seg, "source")), "visual.cu_seqlens");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(seg, "rows"), 0)), 48);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(seg, "rows"), 1)), 72);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(loc, "window")));
    cJSON_Delete(j);

    /* --summary: one line per block; only the poked file differs (the copy's later tensors are the
     * golden ones), so block 1 fails with one bad tensor and blocks 0 and 2 pass */
    rc = vt_test_cli(big, sizeof big, "diff %s " VT_GOLDEN("qwen2vl-multi") " --summary", ours);
    assert_int_equal(rc, 1);
    int blocks_seen = 0;
    for (char *line = strtok(big, "\n"); line; line = strtok(NULL, "\n")) {
        char tag[8], group[64];
        int n;
        if (sscanf(line, " %7s %63s %d tensor(s)", tag, group, &n) != 3 || strncmp(group, "visual.blocks.", 14) != 0)
            continue;
        int b = atoi(group + 14);
        assert_int_equal(n, 13);
        assert_string_equal(tag, b == 1 ? "FAIL" : "ok");
        if (b == 1) assert_non_null(strstr(line, "1 bad; first visual.blocks.1.attn.out; worst visual.blocks.1.attn.out"));
        blocks_seen |= 1 << b;
    }
    assert_int_equal(blocks_seen, 7);
    /* --summary and --json are exclusive */
    rc = vt_test_cli(big, sizeof big, "diff %s " VT_GOLDEN("qwen2vl-multi") " --summary --json", ours);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(big, "--summary and --json"));
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bugzoo_bilinear_resize),    cmocka_unit_test(test_bugzoo_round_half_away),
        cmocka_unit_test(test_bugzoo_no_segment_mask),    cmocka_unit_test(test_bugzoo_fullatt_as_strings),
        cmocka_unit_test(test_bugzoo_no_reverse_index),   cmocka_unit_test(test_bugzoo_qkv_global_split),
        cmocka_unit_test(test_bugzoo_cross_image_leak),   cmocka_unit_test(test_bugzoo_sequential_positions),
        cmocka_unit_test(test_bugzoo_no_mrope_sections),
        cmocka_unit_test(test_bugzoo_mrope_section_order),
        cmocka_unit_test(test_bugzoo_decode_positions_restart),  cmocka_unit_test(test_bugzoo_refusals),
        cmocka_unit_test(test_bugzoo_docs_are_live),
        cmocka_unit_test(test_locate_qwen2_head_segment), cmocka_unit_test(test_locate_rows_match_trace),
        cmocka_unit_test(test_locate_pixels),             cmocka_unit_test(test_locate_other_families),
        cmocka_unit_test(test_locate_survives_broken_grids),
        cmocka_unit_test(test_diff_json_and_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
