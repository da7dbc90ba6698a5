/* test_qwen3vl.c -- Qwen3-VL: torch's float32 linspace and the interpolation weights by hand, both vision
 * golden cases through `vlmtrace run --trace` + diff, every rope-index-qwen3vl sub-case through `vlmtrace
 * rope` + diff, the interleaved axis layout, the config's two rope spellings, the --viz pictures, synth
 * --preset qwen3-vl-2b, the two bug-zoo entries localised by diff, and the bad inputs of issue 25. */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "core/bugzoo.h"
#include "io/fileio.h"
#include "model/model.h"
#include "cli/rope_layout.h"
#include "qwen2_cases.h"
#include "qwen3vl/qwen3vl.h"

static char out[1 << 16];

static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

/* ======================================== linspace and weights ======================================== */

/* The hazard the goldens' 8 x 8 table does not reach: torch.linspace(0, 47, 142) in float32 gives
 * 29.999998 and 30.999998 at elements 90 and 93 (so int() floors them to 29 and 30), where start + i*step
 * in float or double gives 30 and 31. Values checked against torch 1.13 (and, by the same code, every n
 * up to 512: docs/qwen3vl.md). */
static void test_qwen3vl_linspace_matches_torch(void **state)
{
    (void)state;
    float x[142];
    vt_qwen3vl_linspace(x, 142, 0.0f, 47.0f);
    assert_true(x[90] == nextafterf(30.0f, 0.0f)); /* 29.999998092651367 */
    assert_true(x[93] == nextafterf(31.0f, 0.0f)); /* 30.999998092651367 */
    assert_int_equal((int)x[90], 29);
    assert_int_equal((int)x[93], 30);
    const float step = 47.0f / 141.0f;
    assert_int_equal((int)(0.0f + 90.0f * step), 30); /* what a naive port computes */
    assert_int_equal((int)(90.0 * 47.0 / 141.0), 30);
    assert_true(x[0] == 0.0f && x[141] == 47.0f);
    float one;
    vt_qwen3vl_linspace(&one, 1, 0.0f, 47.0f);
    assert_true(one == 0.0f); /* torch fills start when steps == 1 */
}

/* A 2 x 4 grid on a 4 x 4 table: rows at 0 and 3 (exact, ceil clipped to 3 on the last row), columns at
 * 0, 1, 2, 3: every weight 0 or 1, each grid point reads exactly one table row. */
static void test_qwen3vl_interp_exact_grid(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int64_t g[3] = {1, 2, 4};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(1, 3)), idx, wgt;
    assert_int_equal(vt_qwen3vl_pos_interp_weights(&idx, &wgt, &grid, 4, 0, &a, &st), 0);
    assert_int_equal(idx.shape[0], 4);
    assert_int_equal(idx.shape[1], 8);
    const int64_t want_i0[8] = {0, 1, 2, 3, 12, 13, 14, 15}; /* (floor_h, floor_w) */
    const int64_t want_i3[8] = {5, 6, 7, 7, 13, 14, 15, 15}; /* (ceil_h, ceil_w), both clipped at 3 */
    assert_memory_equal(vt_i64(&idx), want_i0, sizeof want_i0);
    assert_memory_equal(vt_i64(&idx) + 24, want_i3, sizeof want_i3);
    for (int s = 0; s < 8; s++) {
        assert_true(vt_f32(&wgt)[s] == 1.0f);
        for (int k = 1; k < 4; k++) assert_true(vt_f32(&wgt)[k * 8 + s] == 0.0f);
    }
    /* the interpolated rows are then the table's rows, repeated over t = 2 in merge-block order */
    float table[16 * 2];
    for (int i = 0; i < 32; i++) table[i] = (float)i;
    int64_t g2[3] = {2, 2, 4};
    vt_tensor grid2 = vt_tensor_of(VT_I64, g2, VT_DIMS(1, 3)), pos;
    assert_int_equal(vt_qwen3vl_fast_pos_embed_interpolate(&pos, table, &idx, &wgt, &grid2, 2, 2, &a, &st), 0);
    assert_int_equal(pos.shape[0], 16);
    const int64_t rows[8] = {0, 1, 12, 13, 2, 3, 14, 15}; /* block (0,0): (0,0) (0,1) (1,0) (1,1); block (0,1) */
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < 8; r++) assert_true(vt_f32(&pos)[(t * 8 + r) * 2 + 1] == (float)(rows[r] * 2 + 1));
    vt_arena_free(&a);
}

/* apply_interleaved_mrope's layout for the published [24, 20, 20], head_dim 128: h at 1, 4, ..., 58, w at
 * 2, 5, ..., 59, t at 0, 3, ..., 57 and 60..63; the sectioned bug gives Qwen2-VL's chunks. */
static void test_qwen3vl_interleaved_axis(void **state)
{
    (void)state;
    int64_t ax[64];
    const int sec[3] = {24, 20, 20};
    vt_mrope_interleaved_axis(ax, sec, 128, 0);
    for (int j = 0; j < 64; j++) {
        int want = j >= 60 ? 0 : j % 3;
        if (ax[j] != want) fail_msg("frequency %d: axis %lld, want %d", j, (long long)ax[j], want);
    }
    vt_mrope_interleaved_axis(ax, sec, 128, VT_BUG_SECTIONED_MROPE);
    assert_int_equal(ax[0], 0);
    assert_int_equal(ax[23], 0);
    assert_int_equal(ax[24], 1);
    assert_int_equal(ax[44], 2);
}

/* ======================================== config ======================================== */

/* The hub file (4.57: rope_scaling, rope_theta beside it) and the goldens' (5.0: rope_parameters) give the
 * same kind of M-RoPE config; head_dim is read, not hidden_size / heads (48 / 4 = 12 in the goldens). */
static void test_qwen3vl_config_both_rope_spellings(void **state)
{
    (void)state;
    static vt_model_config c;
    vt_status st = {0};
    if (vt_config_load(&c, "notebooks-data/presets/qwen3-vl-2b", &st)) fail_msg("%s", st.msg);
    assert_int_equal(c.family, VT_FAMILY_QWEN3VL);
    assert_int_equal(c.text.head_dim, 128);
    assert_int_equal(c.text.mrope_section[0], 24);
    assert_int_equal(c.text.mrope_section[2], 20);
    assert_true(c.text.rope_theta == 5e6 && c.text.interleaved && c.text.frame_blocks);
    assert_int_equal(c.qwen3vl.pos_side, 48);
    assert_int_equal(c.qwen3vl.n_deepstack, 3);
    assert_int_equal(c.qwen3vl.deepstack_visual_indexes[2], 17);
    assert_int_equal(c.pre.min_pixels, 65536);
    assert_true(c.pre.image_mean[0] == 0.5f && c.pre.image_std[2] == 0.5f);
    if (vt_config_load(&c, VT_GOLDEN("qwen3vl-image"), &st)) fail_msg("%s", st.msg);
    assert_int_equal(c.text.head_dim, 16);
    assert_int_equal(c.text.mrope_section[0], 4);
    assert_true(c.text.rope_theta == 5e6);
    assert_int_equal(c.qwen3vl.pos_side, 8);
    /* no preprocessor_config.json: the family's published defaults */
    assert_false(c.pre.present);
    assert_int_equal(c.pre.patch_size, 16);
    assert_int_equal(c.pre.max_pixels, 16777216);
    assert_true(c.pre.image_mean[1] == 0.5f);
}

/* ======================================== golden cases ======================================== */

static void run_golden(const char *case_dir, const char *extra)
{
    char tmp[64], args[8192], tr[128];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, case_dir);
    int rc = vt_test_cli(out, sizeof out, "%s --processor slow --trace %s/trace %s", args, tmp, extra);
    if (rc == 2 && strstr(out, "--processor")) /* a build without the fast processor (issue 24): slow only */
        rc = vt_test_cli(out, sizeof out, "%s --trace %s/trace %s", args, tmp, extra);
    if (rc != 0) fail_msg("%s --trace -> %d\n%s", args, rc, out);
    snprintf(tr, sizeof tr, "%s/trace", tmp);
    assert_dirs_match(tr, case_dir);
    vt_test_rmtree(tmp);
}

static void test_qwen3vl_golden_image(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen3vl-image"), "");
    run_golden(VT_GOLDEN("qwen3vl-image"), "--attn literal");
}

static void test_qwen3vl_golden_multi(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen3vl-multi"), "");
    run_golden(VT_GOLDEN("qwen3vl-multi"), "--attn literal");
}

#define RCASE(c) VT_GOLDEN("rope-index-qwen3vl/" c)

/* get_rope_index: ids exact, deltas exact, every reference tensor present. */
static void test_qwen3vl_rope_index_cases(void **state)
{
    (void)state;
    static const char *const cases[] = {"qwen3vl-text", "qwen3vl-image", "qwen3vl-image-video", "qwen3vl-batch-pad"};
    static const char *const opt[][2] = {{"attention_mask", "--attention-mask"},
                                         {"image_grid_thw", "--image-grid-thw"},
                                         {"video_grid_thw", "--video-grid-thw"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[256], args[2048], tmp[64], tr[128], p[512];
        snprintf(dir, sizeof dir, "%s%s", RCASE(""), cases[i]);
        size_t off = (size_t)snprintf(args, sizeof args, "rope --config %s/config.json --input-ids %s/input_ids.npy",
                                      dir, dir);
        for (int k = 0; k < 3; k++) {
            struct stat sb;
            snprintf(p, sizeof p, "%s/%s.npy", dir, opt[k][0]);
            if (stat(p, &sb) == 0) off += (size_t)snprintf(args + off, sizeof args - off, " %s %s", opt[k][1], p);
        }
        vt_test_tmpdir(tmp);
        snprintf(tr, sizeof tr, "%s/t", tmp);
        int rc = vt_test_cli(out, sizeof out, "%s --trace %s --quiet", args, tr);
        if (rc != 0) fail_msg("%s -> %d\n%s", cases[i], rc, out);
        assert_dirs_match(tr, dir);
        vt_test_rmtree(tmp);
    }
}

/* The interleaved rotary on seeded q / k, with and without padding: within the rule. */
static void test_qwen3vl_rope_rotary_cases(void **state)
{
    (void)state;
    static const char *const cases[] = {RCASE("qwen3vl-mrope"), RCASE("qwen3vl-mrope-pad")};
    for (int i = 0; i < 2; i++) {
        const char *d = cases[i];
        char tmp[64], tr[128], path[512], mask[600] = "";
        struct stat sb;
        snprintf(path, sizeof path, "%s/attention_mask.npy", d);
        if (stat(path, &sb) == 0) snprintf(mask, sizeof mask, "--attention-mask %s", path); /* recorded, not used */
        vt_test_tmpdir(tmp);
        snprintf(tr, sizeof tr, "%s/t", tmp);
        int rc = vt_test_cli(out, sizeof out,
                             "rope --config %s/config.json --input-ids %s/input_ids.npy --position-ids %s/position_ids.npy "
                             "--q %s/mrope.q.npy --k %s/mrope.k.npy %s --trace %s --quiet",
                             d, d, d, d, d, mask, tr);
        if (rc != 0) fail_msg("%s -> %d\n%s", d, rc, out);
        assert_dirs_match(tr, d);
        vt_test_rmtree(tmp);
    }
}

/* --layout with stamp:N builds the golden image-video prompt's token kinds: the same positions. */
static void test_qwen3vl_rope_layout_stamps(void **state)
{
    (void)state;
    char tmp[64], tr[128];
    vt_test_tmpdir(tmp);
    snprintf(tr, sizeof tr, "%s/t", tmp);
    const char *d = RCASE("qwen3vl-image-video");
    int rc = vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'text:5 image:1x4x6 text:3 stamp:6 "
                         "video:3x4x8 text:7' --trace %s --quiet", d, tr);
    if (rc != 0) fail_msg("--layout -> %d\n%s", rc, out);
    vt_tensor ours, ref;
    void *o1, *o2;
    vt_test_load_golden(tr, "position_ids", &ours, &o1);
    vt_test_load_golden(d, "position_ids", &ref, &o2);
    assert_int_equal(vt_numel(&ours), vt_numel(&ref));
    assert_memory_equal(ours.data, ref.data, vt_nbytes(&ref));
    free(o1);
    free(o2);
    /* a Qwen3-VL video without stamp:N, and stamp:N under Qwen2-VL: one line each */
    expect_error(vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'text:2 video:2x4x4' --trace %s/x",
                             d, tmp), "needs a tokenizer (--tokenizer) or stamp:N");
    expect_error(vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'stamp:6 video:2x4x4' --trace %s/y",
                             VT_GOLDEN("rope-index/qwen2vl-image"), tmp), "Qwen3-VL");
    vt_test_rmtree(tmp);
}

/* --tokenizer counts each timestamp's tokens: the golden prompt's positions without stamp:N, and a
 * timestamp past 9.9 s takes one token more ("<10.2 seconds>": 7). */
static void test_qwen3vl_rope_layout_tokenizer(void **state)
{
    (void)state;
    char tmp[64], tr[128], buf[64];
    vt_rope_layout_timestamp(buf, sizeof buf, 1, 1.0); /* frames 2 and 3 at 1.0 and 1.5 s */
    assert_string_equal(buf, "<1.2 seconds>");         /* 1.25 to one decimal, ties to even as Python */
    vt_rope_layout_timestamp(buf, sizeof buf, 0, 0.5);
    assert_string_equal(buf, "<0.1 seconds>");
    vt_test_tmpdir(tmp);
    const char *d = RCASE("qwen3vl-image-video"), *tok = VT_GOLDEN("tokenizer/tokenizer.json");
    snprintf(tr, sizeof tr, "%s/t", tmp);
    int rc = vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'text:5 image:1x4x6 text:3 "
                         "video:3x4x8 text:7' --tokenizer %s --trace %s --quiet", d, tok, tr);
    if (rc != 0) fail_msg("--tokenizer -> %d\n%s", rc, out);
    vt_tensor ours, ref;
    void *o1, *o2;
    vt_test_load_golden(tr, "position_ids", &ours, &o1);
    vt_test_load_golden(d, "position_ids", &ref, &o2);
    assert_int_equal(vt_numel(&ours), vt_numel(&ref));
    assert_memory_equal(ours.data, ref.data, vt_nbytes(&ref));
    free(o1);
    free(o2);
    snprintf(tr, sizeof tr, "%s/u", tmp);
    rc = vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'text:2 video:12x4x4@1.0' --tokenizer %s "
                     "--trace %s --quiet", d, tok, tr);
    if (rc != 0) fail_msg("--tokenizer, 12 blocks -> %d\n%s", rc, out);
    vt_test_load_golden(tr, "input_ids", &ours, &o1);
    assert_int_equal(ours.shape[1], 2 + 12 * (2 + 4) + 10 * 6 + 2 * 7);
    free(o1);
    /* one line each: stamp:N with a tokenizer, a tokenizer for Qwen2-VL, @S without a tokenizer */
    expect_error(vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'stamp:6 video:2x4x4' --tokenizer %s "
                             "--trace %s/x", d, tok, tmp), "drop one");
    expect_error(vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'text:2' --tokenizer %s --trace %s/y",
                             VT_GOLDEN("rope-index/qwen2vl-image"), tok, tmp), "only Qwen3-VL writes timestamps");
    expect_error(vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout 'stamp:6 video:2x4x4@2' --trace %s/z",
                             d, tmp), "needs a tokenizer");
    vt_test_rmtree(tmp);
}

/* ======================================== pictures, synth ======================================== */

static void test_qwen3vl_viz(void **state)
{
    (void)state;
    char tmp[64], args[8192], p[256];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, VT_GOLDEN("qwen3vl-multi"));
    assert_int_equal(vt_test_cli(out, sizeof out, "%s --trace %s/t --viz", args, tmp), 0);
    const char *pics[] = {"visual.attention_mask.png", "visual.deepstack.png", "image.0.pos_embed.png",
                          "image.1.pos_embed.png", "video.0.pos_embed.png"};
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

/* synth --preset qwen3-vl-2b --layers 2, then inspect and run on it. */
static void test_qwen3vl_synth_run_inspect(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "synth --preset qwen3-vl-2b --layers 2 --out %s/m", tmp);
    if (rc) fail_msg("synth -> %d\n%s", rc, out);
    rc = vt_test_cli(out, sizeof out, "inspect --model %s/m", tmp);
    if (rc) fail_msg("inspect -> %d\n%s", rc, out);
    assert_non_null(strstr(out, "Qwen3-VL"));
    assert_non_null(strstr(out, "model.visual.pos_embed.weight")); /* the published key layout */
    assert_non_null(strstr(out, "deepstack   after blocks [0, 1]"));
    rc = vt_test_cli(out, sizeof out, "run --model %s/m --image %s/image.0.png --min-pixels 4096 --max-pixels 40000 "
                     "--trace %s/t --out %s/v.npy", tmp, VT_GOLDEN("qwen3vl-image"), tmp, tmp);
    if (rc) fail_msg("run -> %d\n%s", rc, out);
    vt_tensor v, f;
    void *o1, *o2;
    char tr[128];
    snprintf(tr, sizeof tr, "%s/t", tmp);
    vt_test_load_golden(tr, "visual", &v, &o1);
    vt_test_load_golden(tr, "visual.deepstack_features.1", &f, &o2);
    assert_int_equal(v.shape[0], 30); /* 10 x 12 patches -> 30 merged tokens */
    assert_int_equal(v.shape[1], 2048);
    assert_int_equal(f.shape[1], 2048);
    free(o1);
    free(o2);
    vt_test_rmtree(tmp);
}

/* ======================================== bug zoo ======================================== */

/* Each Qwen3-VL bug is caught by diff at the stage that makes it. */
static void test_qwen3vl_bugs_localised(void **state)
{
    (void)state;
    char tmp[64], args[8192];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, VT_GOLDEN("qwen3vl-image"));
    assert_int_equal(vt_test_cli(out, sizeof out, "%s --processor slow --trace %s/a --inject align-corners-false", args, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/a %s", tmp, VT_GOLDEN("qwen3vl-image")), 1);
    if (!strstr(out, "first divergence: visual.pos_embed.interp_weights"))
        fail_msg("align-corners-false: diff did not stop at the weights:\n%s", out);
    const char *d = RCASE("qwen3vl-mrope");
    assert_int_equal(vt_test_cli(out, sizeof out,
                                 "rope --config %s/config.json --input-ids %s/input_ids.npy --position-ids "
                                 "%s/position_ids.npy --q %s/mrope.q.npy --k %s/mrope.k.npy --trace %s/b --quiet "
                                 "--inject sectioned-mrope", d, d, d, d, d, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s/b %s", tmp, d), 1);
    if (!strstr(out, "first divergence: mrope.axis")) fail_msg("sectioned-mrope: diff did not stop at mrope.axis:\n%s", out);
    vt_test_rmtree(tmp);
}

/* ======================================== bad input ======================================== */

static void make_model(char *dir, size_t cap, const char *tmp, const char *name, const char *from, const char *to)
{
    copy_case_edited(dir, cap, tmp, name, VT_GOLDEN("qwen3vl-image"), from, to, "none-dropped");
}

static void test_qwen3vl_bad_input(void **state)
{
    (void)state;
    char tmp[64], dir[256];
    const char *img = VT_GOLDEN("qwen3vl-image") "/image.0.png";
    vt_test_tmpdir(tmp);
    /* a DeepStack index past the last block (depth 5) */
    make_model(dir, sizeof dir, tmp, "deepstack", "\"deepstack_visual_indexes\": [\n      1,\n      3\n    ]",
               "\"deepstack_visual_indexes\": [1, 5]");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 40000", dir, img),
                 "deepstack_visual_indexes[1] = 5 is outside the depth 5");
    /* a position table that is not a square */
    make_model(dir, sizeof dir, tmp, "square", "\"num_position_embeddings\": 64", "\"num_position_embeddings\": 60");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 40000", dir, img), "not a square");
    /* a checkpoint whose 64-row table disagrees with num_position_embeddings 81 */
    make_model(dir, sizeof dir, tmp, "table", "\"num_position_embeddings\": 64", "\"num_position_embeddings\": 81");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 40000", dir, img),
                 "visual.pos_embed.weight");
    /* a video whose frames differ in size */
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --video %s/image.0.png,%s/image.1.png --max-pixels 20000",
                             VT_GOLDEN("qwen3vl-multi"), VT_GOLDEN("qwen3vl-multi"), VT_GOLDEN("qwen3vl-multi")),
                 "frame 1 is 60x130 but frame 0 is 100x66");
    /* a video of zero frames, through the pipeline (the command line cannot spell one) */
    {
        static vt_model_config c;
        vt_status st = {0};
        vt_checkpoint ck;
        vt_qwen3vl_model m;
        if (vt_config_load(&c, VT_GOLDEN("qwen3vl-image"), &st)) fail_msg("%s", st.msg);
        assert_int_equal(vt_checkpoint_open(&ck, VT_GOLDEN("qwen3vl-image"), &st), 0);
        assert_int_equal(vt_qwen3vl_load(&m, &c.qwen3vl, &ck, &st), 0);
        vt_processor_opts po;
        vt_processor_defaults(&po);
        vt_processor_from_config(&po, &c.pre);
        vt_processor_video none = {NULL, 0};
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_qwen3vl_output o;
        assert_int_equal(vt_qwen3vl_pipeline(&o, NULL, &m, NULL, 0, &none, 1, &po, VT_ATTN_SEGMENTS, NULL, &a, &st),
                         VT_EINPUT);
        assert_non_null(strstr(st.msg, "video 0 has no frames"));
        vt_arena_free(&a);
        vt_qwen3vl_free(&m);
        vt_checkpoint_close(&ck);
    }
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3vl_linspace_matches_torch),
        cmocka_unit_test(test_qwen3vl_interp_exact_grid),
        cmocka_unit_test(test_qwen3vl_interleaved_axis),
        cmocka_unit_test(test_qwen3vl_config_both_rope_spellings),
        cmocka_unit_test(test_qwen3vl_golden_image),
        cmocka_unit_test(test_qwen3vl_golden_multi),
        cmocka_unit_test(test_qwen3vl_rope_index_cases),
        cmocka_unit_test(test_qwen3vl_rope_rotary_cases),
        cmocka_unit_test(test_qwen3vl_rope_layout_stamps),
        cmocka_unit_test(test_qwen3vl_rope_layout_tokenizer),
        cmocka_unit_test(test_qwen3vl_viz),
        cmocka_unit_test(test_qwen3vl_synth_run_inspect),
        cmocka_unit_test(test_qwen3vl_bugs_localised),
        cmocka_unit_test(test_qwen3vl_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
