/* test_mrope.c -- M-RoPE: get_rope_index against the rope-index goldens, the rotary, hand-computed ids,
 * the `vlmtrace rope` command line and its bad inputs. */
#include "vt_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "manifest.h"
#include "mrope.h"
#include "npy.h"
#include "rope_layout.h"

#define ROPE_CASE(c) VT_GOLDEN("rope-index/" c)

static const char *const index_cases[] = {
    "qwen2vl-text",  "qwen2vl-text-masked",  "qwen2vl-image",  "qwen2vl-multi",  "qwen2vl-batch-pad",
    "qwen25vl-text", "qwen25vl-text-masked", "qwen25vl-image", "qwen25vl-multi", "qwen25vl-batch-pad",
    "qwen25vl-video-time",
};
#define N_INDEX_CASES (int)(sizeof index_cases / sizeof index_cases[0])

/* The rope-index goldens' config.json, by hand (the test of the library alone does not read JSON). */
static void golden_config(vt_qwen2_text_config *tc, vt_qwen2_vision_config *vc, int qwen25)
{
    memset(tc, 0, sizeof *tc);
    memset(vc, 0, sizeof *vc);
    tc->image_token_id = 151655;
    tc->video_token_id = 151656;
    tc->vision_start_token_id = 151652;
    tc->vision_end_token_id = 151653;
    tc->mrope_section[0] = 2;
    tc->mrope_section[1] = 3;
    tc->mrope_section[2] = 3;
    tc->rope_theta = 1000000.0;
    tc->hidden_size = 48;
    tc->num_attention_heads = 3;
    tc->num_key_value_heads = 1;
    tc->head_dim = 16;
    vc->qwen25 = qwen25;
    vc->spatial_merge_size = 2;
    vc->tokens_per_second = qwen25 ? 2 : 0;
}

/* Tensors of one golden case, loaded when its manifest lists them. */
typedef struct golden {
    vt_manifest m;
    vt_tensor t[10];
    void *owned[10];
    int n;
} golden;

static const vt_tensor *golden_get(golden *g, const char *name)
{
    const vt_manifest_entry *e = vt_manifest_find(&g->m, name);
    if (!e) return NULL;
    vt_status st = {0};
    assert_true(g->n < 10);
    if (vt_manifest_load(&g->m, e, &g->t[g->n], &g->owned[g->n], &st)) fail_msg("%s", st.msg);
    return &g->t[g->n++];
}

static void golden_open(golden *g, const char *dir)
{
    vt_status st = {0};
    memset(g, 0, sizeof *g);
    if (vt_manifest_read(&g->m, dir, &st)) fail_msg("%s", st.msg);
}

static void golden_close(golden *g)
{
    for (int i = 0; i < g->n; i++) free(g->owned[i]);
    vt_manifest_free(&g->m);
}

/* ---- the 11 get_rope_index cases, exact --------------------------------------------------------- */

static void test_mrope_golden_rope_index(void **state)
{
    (void)state;
    for (int c = 0; c < N_INDEX_CASES; c++) {
        char dir[256];
        snprintf(dir, sizeof dir, ROPE_CASE("%s"), index_cases[c]);
        golden g;
        golden_open(&g, dir);
        vt_qwen2_text_config tc;
        vt_qwen2_vision_config vc;
        golden_config(&tc, &vc, strncmp(index_cases[c], "qwen25", 6) == 0);
        vt_mrope_inputs in = {0};
        in.input_ids = golden_get(&g, "input_ids");
        in.attention_mask = golden_get(&g, "attention_mask");
        in.image_grid_thw = golden_get(&g, "image_grid_thw");
        in.video_grid_thw = golden_get(&g, "video_grid_thw");
        in.second_per_grid_ts = golden_get(&g, "second_per_grid_ts");
        const vt_tensor *want_pos = golden_get(&g, "position_ids"), *want_delta = golden_get(&g, "rope_deltas");
        assert_non_null(in.input_ids);
        assert_non_null(want_pos);
        assert_non_null(want_delta);
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_status st = {0};
        vt_tensor pos, delta;
        if (vt_get_rope_index(&pos, &delta, &in, &tc, &vc, &a, &st)) fail_msg("%s: %s", dir, st.msg);
        assert_tensor_close(&pos, want_pos, dir);
        assert_tensor_close(&delta, want_delta, dir);
        vt_arena_free(&a);
        golden_close(&g);
    }
}

/* ---- the two *-mrope cases under the DESIGN.md rule ------------------------------------------------ */

static void test_mrope_golden_rotary(void **state)
{
    (void)state;
    const char *cases[2] = {ROPE_CASE("qwen2vl-mrope"), ROPE_CASE("qwen25vl-mrope")};
    for (int c = 0; c < 2; c++) {
        golden g;
        golden_open(&g, cases[c]);
        vt_qwen2_text_config tc;
        vt_qwen2_vision_config vc;
        golden_config(&tc, &vc, c);
        vt_mrope_inputs in = {0};
        in.input_ids = golden_get(&g, "input_ids");
        in.position_ids = golden_get(&g, "position_ids");
        in.q = golden_get(&g, "mrope.q");
        in.k = golden_get(&g, "mrope.k");
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_status st = {0};
        vt_mrope_outputs out;
        if (vt_mrope_forward(&out, &in, &tc, &vc, &a, NULL, &st)) fail_msg("%s: %s", cases[c], st.msg);
        assert_null(out.rope_deltas.data); /* given position ids: no deltas */
        assert_tensor_close(&out.position_ids, in.position_ids, "position_ids");
        assert_tensor_close(&out.inv_freq, golden_get(&g, "mrope.inv_freq"), "mrope.inv_freq");
        assert_tensor_close(&out.cos, golden_get(&g, "mrope.cos"), "mrope.cos");
        assert_tensor_close(&out.sin, golden_get(&g, "mrope.sin"), "mrope.sin");
        assert_tensor_close(&out.q_embed, golden_get(&g, "mrope.q_embed"), "mrope.q_embed");
        assert_tensor_close(&out.k_embed, golden_get(&g, "mrope.k_embed"), "mrope.k_embed");
        vt_arena_free(&a);
        golden_close(&g);
    }
}

/* ---- hand-computed ---------------------------------------------------------------------------------- */

#define TX 100 /* an ordinary text token */
#define VS 151652
#define VE 151653
#define IM 151655
#define VI 151656

static void run_index(const int64_t *ids, int64_t L, const int64_t *grid, int64_t n_grid, int video, const float *spg,
                      int qwen25, int64_t *pos_out, int64_t *delta_out)
{
    vt_qwen2_text_config tc;
    vt_qwen2_vision_config vc;
    golden_config(&tc, &vc, qwen25);
    vt_tensor t_ids = vt_tensor_of(VT_I64, (void *)ids, VT_DIMS(1, L));
    vt_tensor t_grid = vt_tensor_of(VT_I64, (void *)grid, VT_DIMS(n_grid, 3));
    vt_tensor t_spg = vt_tensor_of(VT_F32, (void *)spg, VT_DIMS(n_grid));
    vt_mrope_inputs in = {0};
    in.input_ids = &t_ids;
    if (grid && !video) in.image_grid_thw = &t_grid;
    if (grid && video) in.video_grid_thw = &t_grid;
    if (spg) in.second_per_grid_ts = &t_spg;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    vt_tensor pos, delta;
    if (vt_get_rope_index(&pos, &delta, &in, &tc, &vc, &a, &st)) fail_msg("%s", st.msg);
    memcpy(pos_out, pos.data, (size_t)(3 * L) * sizeof(int64_t));
    *delta_out = vt_i64(&delta)[0];
    vt_arena_free(&a);
}

/* 3 text tokens, then a 1x4x4 image (2x2 after the merge) between vision_start and vision_end, then text:
 *   tokens  T  T  T  vs I  I  I  I  ve T
 *   t       0  1  2  3  4  4  4  4  6  7     the image starts at the position after vs (4), its (t, h, w)
 *   h       0  1  2  3  4  4  5  5  6  7     offsets are (0, 0..1, 0..1); ve resumes at max + 1 = 6,
 *   w       0  1  2  3  4  5  4  5  6  7     not at its sequence index 8; delta = 7 + 1 - 10 = -2 */
static void test_mrope_hand_text_and_2x2_image(void **state)
{
    (void)state;
    const int64_t ids[10] = {TX, TX, TX, VS, IM, IM, IM, IM, VE, TX};
    const int64_t grid[3] = {1, 4, 4};
    const int64_t want[3][10] = {{0, 1, 2, 3, 4, 4, 4, 4, 6, 7}, {0, 1, 2, 3, 4, 4, 5, 5, 6, 7}, {0, 1, 2, 3, 4, 5, 4, 5, 6, 7}};
    for (int qwen25 = 0; qwen25 < 2; qwen25++) { /* an image is the same in both: t index 0 */
        int64_t pos[30], delta;
        run_index(ids, 10, grid, 1, 0, NULL, qwen25, pos, &delta);
        assert_memory_equal(pos, want, sizeof want);
        assert_int_equal(delta, -2);
    }
}

/* A 3x2x2 video (1x1 merged per frame pair): Qwen2-VL numbers the temporal patches 0, 1, 2; Qwen2.5-VL uses
 * long(t * second_per_grid_ts * tokens_per_second) = long(t * 1.25 * 2) = 0, 2, 5 (2.5 truncated to 2). */
static void test_mrope_hand_video_time(void **state)
{
    (void)state;
    const int64_t ids[6] = {TX, VS, VI, VI, VI, VE};
    const int64_t grid[3] = {3, 2, 2};
    const float spg[1] = {1.25f};
    int64_t pos[18], delta;
    run_index(ids, 6, grid, 1, 1, NULL, 0, pos, &delta);
    const int64_t want2[3][6] = {{0, 1, 2, 3, 4, 5}, {0, 1, 2, 2, 2, 5}, {0, 1, 2, 2, 2, 5}};
    assert_memory_equal(pos, want2, sizeof want2);
    assert_int_equal(delta, 0);
    run_index(ids, 6, grid, 1, 1, spg, 1, pos, &delta);
    const int64_t want25[3][6] = {{0, 1, 2, 4, 7, 8}, {0, 1, 2, 2, 2, 8}, {0, 1, 2, 2, 2, 8}};
    assert_memory_equal(pos, want25, sizeof want25);
    assert_int_equal(delta, 8 + 1 - 6);
    run_index(ids, 6, grid, 1, 1, NULL, 1, pos, &delta); /* no second_per_grid_ts: 1.0, so t = 0, 2, 4 */
    const int64_t want1[3][6] = {{0, 1, 2, 4, 6, 7}, {0, 1, 2, 2, 2, 7}, {0, 1, 2, 2, 2, 7}};
    assert_memory_equal(pos, want1, sizeof want1);

    /* float32, as torch: fps 0.52 gives second_per_grid_ts 2/0.52; frame pair 13 is at 13 * 3.8461539f = 50.0000038f,
     * * 2 = 100.000008f -> 100. The same product in double is 99.99999999999999 -> 99. */
    int64_t ids14[17] = {TX, VS}, pos14[51];
    for (int i = 2; i < 16; i++) ids14[i] = VI;
    ids14[16] = VE;
    const int64_t grid14[3] = {14, 2, 2};
    const float spg052[1] = {(float)(2.0 / 0.52)};
    run_index(ids14, 17, grid14, 1, 1, spg052, 1, pos14, &delta);
    assert_int_equal(pos14[15], 2 + 100); /* axis t, the last video token: offset 2 (T, vs) + 100 */
    assert_int_equal(pos14[16], 2 + 100 + 1);
}

/* head_dim 4, theta 100: inv_freq = [1, 0.1]; mrope_section [1, 1, 0] -> channels (t, h, t, h).
 * Position (t, h, w) = (1, 2, 7): cos = [cos 1, cos 0.2, cos 1, cos 0.2]. q = e0 is rotated in the plane of
 * channels (0, 2) by the angle 1 (t): q_embed = [cos 1, 0, sin 1, 0]; w never enters (section 0). */
static void test_mrope_hand_rotary(void **state)
{
    (void)state;
    vt_qwen2_text_config tc;
    vt_qwen2_vision_config vc;
    golden_config(&tc, &vc, 0);
    tc.head_dim = 4;
    tc.rope_theta = 100;
    tc.mrope_section[0] = 1;
    tc.mrope_section[1] = 1;
    tc.mrope_section[2] = 0;
    int64_t ids[1] = {TX}, posv[3] = {1, 2, 7};
    float q[4] = {1, 0, 0, 0}, k[4] = {0, 1, 0, 0};
    vt_tensor t_ids = vt_tensor_of(VT_I64, ids, VT_DIMS(1, 1)), t_pos = vt_tensor_of(VT_I64, posv, VT_DIMS(3, 1, 1));
    vt_tensor t_q = vt_tensor_of(VT_F32, q, VT_DIMS(1, 1, 1, 4)), t_k = vt_tensor_of(VT_F32, k, VT_DIMS(1, 1, 1, 4));
    vt_mrope_inputs in = {0};
    in.input_ids = &t_ids;
    in.position_ids = &t_pos;
    in.q = &t_q;
    in.k = &t_k;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    vt_mrope_outputs out;
    if (vt_mrope_forward(&out, &in, &tc, &vc, &a, NULL, &st)) fail_msg("%s", st.msg);
    const float *f = vt_f32(&out.inv_freq), *c = vt_f32(&out.cos), *qe = vt_f32(&out.q_embed), *ke = vt_f32(&out.k_embed);
    assert_float_equal(f[0], 1.0, 1e-7);
    assert_float_equal(f[1], 0.1, 1e-7);
    const double wc[4] = {cos(1.0), cos(0.2), cos(1.0), cos(0.2)};
    for (int i = 0; i < 4; i++) assert_float_equal(c[i], wc[i], 1e-6);
    const double wq[4] = {cos(1.0), 0, sin(1.0), 0}, wk[4] = {0, cos(0.2), 0, sin(0.2)};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(qe[i], wq[i], 1e-6);
        assert_float_equal(ke[i], wk[i], 1e-6);
    }
    vt_arena_free(&a);
}

/* Left padding in the vision branch: padded positions hold 1 and the row's delta counts the full length. */
static void test_mrope_hand_padding(void **state)
{
    (void)state;
    vt_qwen2_text_config tc;
    vt_qwen2_vision_config vc;
    golden_config(&tc, &vc, 0);
    int64_t ids[8] = {0, 0, TX, VS, IM, VE, TX, TX}, mask[8] = {0, 0, 1, 1, 1, 1, 1, 1}, grid[3] = {1, 2, 2};
    vt_tensor t_ids = vt_tensor_of(VT_I64, ids, VT_DIMS(1, 8)), t_mask = vt_tensor_of(VT_I64, mask, VT_DIMS(1, 8));
    vt_tensor t_grid = vt_tensor_of(VT_I64, grid, VT_DIMS(1, 3));
    vt_mrope_inputs in = {0};
    in.input_ids = &t_ids;
    in.attention_mask = &t_mask;
    in.image_grid_thw = &t_grid;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    vt_tensor pos, delta;
    if (vt_get_rope_index(&pos, &delta, &in, &tc, &vc, &a, &st)) fail_msg("%s", st.msg);
    const int64_t want[8] = {1, 1, 0, 1, 2, 3, 4, 5};
    for (int ax = 0; ax < 3; ax++) assert_memory_equal(vt_i64(&pos) + 8 * ax, want, sizeof want);
    assert_int_equal(vt_i64(&delta)[0], 5 + 1 - 8);
    /* the text-only branch (no grids) counts the padded 1s in its max: one kept token gives max 1, not 0 */
    int64_t ids1[3] = {0, 0, TX}, mask1[3] = {0, 0, 1};
    vt_tensor t_ids1 = vt_tensor_of(VT_I64, ids1, VT_DIMS(1, 3)), t_mask1 = vt_tensor_of(VT_I64, mask1, VT_DIMS(1, 3));
    vt_mrope_inputs in1 = {0};
    in1.input_ids = &t_ids1;
    in1.attention_mask = &t_mask1;
    if (vt_get_rope_index(&pos, &delta, &in1, &tc, &vc, &a, &st)) fail_msg("%s", st.msg);
    const int64_t want1[3] = {1, 1, 0};
    assert_memory_equal(vt_i64(&pos), want1, sizeof want1);
    assert_int_equal(vt_i64(&delta)[0], 1 + 1 - 3);
    vt_arena_free(&a);
}

/* ---- the layout parser ---------------------------------------------------------------------------- */

static void test_mrope_layout_parse_and_build(void **state)
{
    (void)state;
    vt_status st = {0};
    vt_rope_layout lay;
    assert_int_equal(vt_rope_layout_parse(&lay, "  text:3\timage:1x4x4 video:2x4x6@2.5 text:1 ", &st), 0);
    assert_int_equal(lay.n, 4);
    assert_int_equal(lay.items[0].kind, VT_LAYOUT_TEXT);
    assert_int_equal(lay.items[0].n, 3);
    assert_int_equal(lay.items[2].kind, VT_LAYOUT_VIDEO);
    assert_int_equal(lay.items[2].thw[2], 6);
    assert_true(lay.items[2].has_seconds && lay.items[2].seconds == 2.5);
    vt_qwen2_text_config tc;
    vt_qwen2_vision_config vc;
    golden_config(&tc, &vc, 1);
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_rope_layout_inputs li;
    assert_int_equal(vt_rope_layout_build(&li, &lay, &tc, &vc, &a, &st), 0);
    /* 3 + (1 + 4 + 1) + (1 + 12 + 1) + 1 */
    assert_int_equal(li.input_ids.shape[1], 24);
    const int64_t *ids = vt_i64(&li.input_ids);
    assert_int_equal(ids[3], VS);
    assert_int_equal(ids[4], IM);
    assert_int_equal(ids[8], VE);
    assert_int_equal(ids[10], VI);
    assert_int_equal(ids[22], VE);
    assert_int_equal(ids[23], li.text_token_id);
    assert_true(li.has_images && li.has_videos && li.has_seconds);
    assert_true(vt_f32(&li.second_per_grid_ts)[0] == 2.5f);
    vt_rope_layout_free(&lay);
    /* @S on a Qwen2-VL config, H not a multiple of the merge */
    golden_config(&tc, &vc, 0);
    assert_int_equal(vt_rope_layout_parse(&lay, "video:2x4x6@2.0", &st), 0);
    assert_int_equal(vt_rope_layout_build(&li, &lay, &tc, &vc, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "needs a Qwen2.5-VL config"));
    vt_rope_layout_free(&lay);
    assert_int_equal(vt_rope_layout_parse(&lay, "image:1x3x4", &st), 0);
    assert_int_equal(vt_rope_layout_build(&li, &lay, &tc, &vc, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "multiples of spatial_merge_size 2"));
    vt_rope_layout_free(&lay);
    vt_arena_free(&a);
}

static const struct {
    const char *layout, *msg;
} bad_layouts[] = {
    {"", "layout: empty"},
    {"   ", "layout: empty"},
    {"text", "expected text:N, image:TxHxW or video:TxHxW[@S]"},
    {"text:", "expected text:N"},
    {"text:0", "N must be in [1,"},
    {"text:-3", "expected text:N"},
    {"text:+3", "expected text:N"},
    {"text:3.5", "expected text:N"},
    {"text:99999999999999999999", "N must be in [1,"},
    {"txt:3", "unknown kind"},
    {"Image:1x4x4", "unknown kind"},
    {"image:1x4", "expected image:TxHxW"},
    {"image:1x4x", "expected image:TxHxW"},
    {"image:1x4x4x4", "expected image:TxHxW"},
    {"image:x4x4", "expected image:TxHxW"},
    {"image:1X4X4", "expected image:TxHxW"},
    {"image:0x4x4", "T, H and W must be in [1,"},
    {"image:1x4x4@2", "@S (second_per_grid_ts) is for videos only"},
    {"video:2x4x4@", "S in @S must be a decimal number"},
    {"video:2x4x4@-1", "S in @S must be a decimal number"},
    {"video:2x4x4@nan", "S in @S must be a decimal number"},
    {"video:2x4x4@inf", "S in @S must be a decimal number"},
    {"video:2x4x4@0x10", "S in @S must be a decimal number"},
    {"video:2x4x4@1e9", "S in @S must be a decimal number"},
    {"video:2x4x4@1.0@2", "S in @S must be a decimal number"},
    {"text:3,image:1x4x4", "expected text:N"},
    {"text:3 image:1x4x4 \n", "item 3 '\\x0a'"},
};

static void test_mrope_layout_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_layouts / sizeof bad_layouts[0]; i++) {
        vt_status st = {0};
        vt_rope_layout lay;
        int rc = vt_rope_layout_parse(&lay, bad_layouts[i].layout, &st);
        if (rc != VT_EINPUT || !strstr(st.msg, bad_layouts[i].msg) || strchr(st.msg, '\n'))
            fail_msg("layout '%s': rc %d, message '%s' (wanted '%s')", bad_layouts[i].layout, rc, st.msg,
                     bad_layouts[i].msg);
        assert_null(lay.items);
    }
}

/* ---- the command line --------------------------------------------------------------------------------- */

static char out[1 << 16];

/* `vlmtrace rope` on a golden case: its own inputs, position ids computed except for the *-mrope cases. */
static int rope_cli_case(const char *name, const char *trace_dir)
{
    char dir[256], args[4096];
    snprintf(dir, sizeof dir, ROPE_CASE("%s"), name);
    int n = snprintf(args, sizeof args, "rope --model %s --trace %s --input-ids %s/input_ids.npy", dir, trace_dir, dir);
    if (strstr(name, "-mrope")) {
        n += snprintf(args + n, sizeof args - (size_t)n,
                      " --position-ids %s/position_ids.npy --q %s/mrope.q.npy --k %s/mrope.k.npy", dir, dir, dir);
    } else {
        const char *opt[4] = {"attention_mask", "image_grid_thw", "video_grid_thw", "second_per_grid_ts"};
        const char *flag[4] = {"--attention-mask", "--image-grid-thw", "--video-grid-thw", "--second-per-grid-ts"};
        golden g;
        golden_open(&g, dir);
        for (int i = 0; i < 4; i++)
            if (vt_manifest_find(&g.m, opt[i])) n += snprintf(args + n, sizeof args - (size_t)n, " %s %s/%s.npy", flag[i], dir, opt[i]);
        golden_close(&g);
    }
    return vt_test_cli(out, sizeof out, "%s", args);
}

static void test_mrope_cli_every_golden_case(void **state)
{
    (void)state;
    const char *all[N_INDEX_CASES + 2];
    for (int i = 0; i < N_INDEX_CASES; i++) all[i] = index_cases[i];
    all[N_INDEX_CASES] = "qwen2vl-mrope";
    all[N_INDEX_CASES + 1] = "qwen25vl-mrope";
    char tmp[64], ours[128], ref[256];
    vt_test_tmpdir(tmp);
    for (int i = 0; i < N_INDEX_CASES + 2; i++) {
        snprintf(ours, sizeof ours, "%s/%s", tmp, all[i]);
        snprintf(ref, sizeof ref, ROPE_CASE("%s"), all[i]);
        int rc = rope_cli_case(all[i], ours);
        if (rc != 0) fail_msg("vlmtrace rope on %s -> %d\n%s", all[i], rc, out);
        assert_dirs_match(ours, ref); /* every reference tensor present, integers exact, floats by the rule */
        rc = vt_test_cli(out, sizeof out, "diff %s %s", ours, ref); /* and the same through the binary */
        if (rc != 0 || !strstr(out, "PASS: ")) fail_msg("vlmtrace diff %s %s -> %d\n%s", ours, ref, rc, out);
        vt_manifest m;
        vt_status st = {0};
        if (vt_manifest_read(&m, ours, &st)) fail_msg("%s", st.msg);
        assert_string_equal(m.model, "rope");
        /* computed position ids come with rope_deltas; the given ones of the *-mrope cases do not */
        assert_true((vt_manifest_find(&m, "rope_deltas") != NULL) == (i < N_INDEX_CASES));
        vt_manifest_free(&m);
    }
    vt_test_rmtree(tmp);
}

/* --layout gives the golden position ids (text token ids differ: the layout uses one filler id). */
static void test_mrope_cli_layout_reproduces_goldens(void **state)
{
    (void)state;
    static const struct {
        const char *name, *layout;
    } cases[2] = {
        {"qwen2vl-multi", "text:3 image:1x4x4 text:2 video:2x4x6 text:3 image:1x6x4 text:4"},
        {"qwen25vl-video-time", "text:3 video:3x4x6@1.3333333333333333 text:2 video:4x2x4@1.0 text:2 image:1x4x4 text:3"},
    };
    char tmp[64], dir[256];
    vt_test_tmpdir(tmp);
    for (int c = 0; c < 2; c++) {
        snprintf(dir, sizeof dir, ROPE_CASE("%s"), cases[c].name);
        int rc = vt_test_cli(out, sizeof out, "rope --config %s/config.json --layout '%s' --trace %s/l%d", dir,
                             cases[c].layout, tmp, c);
        if (rc != 0) fail_msg("--layout '%s' -> %d\n%s", cases[c].layout, rc, out);
        char ours[128];
        snprintf(ours, sizeof ours, "%s/l%d", tmp, c);
        golden g, o;
        golden_open(&g, dir);
        golden_open(&o, ours);
        const char *names[5] = {"position_ids", "rope_deltas", "image_grid_thw", "video_grid_thw", "second_per_grid_ts"};
        for (int i = 0; i < 5; i++) {
            const vt_tensor *r = golden_get(&g, names[i]), *t = golden_get(&o, names[i]);
            if (!r) {
                assert_null(t);
                continue;
            }
            if (!t) fail_msg("%s: no %s", ours, names[i]);
            assert_tensor_close(t, r, names[i]);
        }
        const vt_tensor *ids = golden_get(&o, "input_ids"), *rids = golden_get(&g, "input_ids");
        assert_int_equal(ids->shape[1], rids->shape[1]);
        for (int64_t l = 0; l < ids->shape[1]; l++) { /* the special tokens sit where the golden has them */
            int64_t r = vt_i64(rids)[l];
            if (r >= VS && r <= VI) assert_int_equal(vt_i64(ids)[l], r);
        }
        golden_close(&o);
        golden_close(&g);
    }
    vt_test_rmtree(tmp);
}

static void write_i64(const char *dir, const char *name, const int64_t *v, int ndim, const int64_t *shape)
{
    char path[256];
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vt_tensor t = vt_tensor_of(VT_I64, (void *)v, ndim, shape);
    if (vt_npy_write(path, &t, &st)) fail_msg("%s", st.msg);
}

/* exit 2, exactly one line, containing `what`, and no manifest left behind */
static void expect_rope_error(int rc, const char *what, const char *trace_dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.json", trace_dir);
    FILE *f = fopen(path, "r");
    if (f) fclose(f);
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what) || f)
        fail_msg("wanted exit 2, one line containing '%s' and no manifest; got exit %d%s:\n%s", what, rc,
                 f ? " and a manifest" : "", out);
}

static void test_mrope_cli_bad_input(void **state)
{
    (void)state;
    char tmp[64], tr[128];
    vt_test_tmpdir(tmp);
    snprintf(tr, sizeof tr, "%s/trace", tmp);
    const char *model = ROPE_CASE("qwen2vl-multi"), *model25 = ROPE_CASE("qwen25vl-multi");
    /* an image of 5 tokens for a 1x4x6 grid (6 after the merge) */
    const int64_t ids5[9] = {TX, VS, IM, IM, IM, IM, IM, VE, TX}, g146[3] = {1, 4, 6}, g144x2[6] = {1, 4, 4, 1, 4, 4};
    write_i64(tmp, "ids5.npy", ids5, VT_DIMS(1, 9));
    write_i64(tmp, "g146.npy", g146, VT_DIMS(1, 3));
    write_i64(tmp, "g144x2.npy", g144x2, VT_DIMS(2, 3));
    /* a vision_start ending the sequence; a 1x4x4 image and a video block */
    const int64_t ids_end[3] = {TX, TX, VS}, ids_img[7] = {TX, VS, IM, IM, IM, IM, VE};
    const int64_t ids_vid[5] = {TX, VS, VI, VI, VE}, mask2[7] = {1, 1, 1, 2, 1, 1, 1};
    write_i64(tmp, "ids_end.npy", ids_end, VT_DIMS(1, 3));
    write_i64(tmp, "ids_img.npy", ids_img, VT_DIMS(1, 7));
    write_i64(tmp, "ids_vid.npy", ids_vid, VT_DIMS(1, 5));
    write_i64(tmp, "mask2.npy", mask2, VT_DIMS(1, 7));
    write_i64(tmp, "g144.npy", g144x2, VT_DIMS(1, 3));
    const float spg[1] = {2.0f};
    vt_tensor t_spg = vt_tensor_of(VT_F32, (void *)spg, VT_DIMS(1));
    char path[256];
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/spg.npy", tmp);
    if (vt_npy_write(path, &t_spg, &st)) fail_msg("%s", st.msg);
    vt_test_write_file(path, "not a numpy file", 16);
    snprintf(path, sizeof path, "%s/junk.npy", tmp);
    vt_test_write_file(path, "not a numpy file", 16);

#define RUN(...) vt_test_cli(out, sizeof out, __VA_ARGS__)
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids5.npy --image-grid-thw %s/g146.npy --trace %s", model, tmp,
                          tmp, tr),
                      "input_ids[0]: image 0 has 5 image tokens (positions 2..6) but image_grid_thw[0] = [1, 4, 6] needs "
                      "t*h*w/4 = 6", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_end.npy --image-grid-thw %s/g146.npy --trace %s", model,
                          tmp, tmp, tr),
                      "input_ids[0]: vision_start token at position 2 ends the sequence", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_img.npy --trace %s", model, tmp, tr),
                      "input_ids[0]: image tokens at position 2 but no image_grid_thw was given", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_vid.npy --image-grid-thw %s/g144.npy --trace %s", model,
                          tmp, tmp, tr),
                      "video tokens at position 2 but no video_grid_thw was given", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_img.npy --image-grid-thw %s/g144x2.npy --trace %s", model,
                          tmp, tmp, tr),
                      "image_grid_thw has 2 rows but input_ids holds 1 images", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_img.npy --image-grid-thw %s/g144.npy --attention-mask "
                          "%s/mask2.npy --trace %s", model, tmp, tmp, tmp, tr),
                      "attention_mask[0, 3] = 2 (0 or 1 expected)", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_vid.npy --video-grid-thw %s/g144.npy "
                          "--second-per-grid-ts %s/spg.npy --trace %s", model, tmp, tmp, tmp, tr),
                      "npy", tr); /* spg.npy was overwritten with junk: the reader names the file */
    snprintf(path, sizeof path, "%s/spg.npy", tmp);
    if (vt_npy_write(path, &t_spg, &st)) fail_msg("%s", st.msg);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_vid.npy --video-grid-thw %s/g144.npy "
                          "--second-per-grid-ts %s/spg.npy --trace %s", model, tmp, tmp, tmp, tr),
                      "second_per_grid_ts: a Qwen2.5-VL input", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_vid.npy --video-grid-thw %s/g144.npy "
                          "--second-per-grid-ts %s/spg.npy --trace %s", model25, tmp, tmp, tmp, tr),
                      "input_ids[0]: video 0 has 2 video tokens (positions 2..3) but video_grid_thw[0] = [1, 4, 4] "
                      "needs t*h*w/4 = 4", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_img.npy --position-ids %s/g144.npy --trace %s", model, tmp,
                          tmp, tr),
                      "--position-ids is for the rotary only: give --q and --k with it", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_img.npy --q %s/junk.npy --trace %s", model, tmp, tmp, tr),
                      "--q and --k go together", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/ids_img.npy --q %s/g144.npy --k %s/g144.npy --image-grid-thw "
                          "%s/g144.npy --trace %s", model, tmp, tmp, tmp, tmp, tr),
                      "--q", tr); /* int64, not float32 */
    expect_rope_error(RUN("rope --model %s --input-ids %s/junk.npy --trace %s", model, tmp, tr), "junk.npy", tr);
    expect_rope_error(RUN("rope --model %s --input-ids %s/nothere.npy --trace %s", model, tmp, tr), "nothere.npy", tr);
    expect_rope_error(RUN("rope --model %s --layout 'text:3' --input-ids %s/ids_img.npy --trace %s", model, tmp, tr),
                      "give one of --input-ids F.npy or --layout STRING", tr);
    expect_rope_error(RUN("rope --model %s --layout 'text:3' --image-grid-thw %s/g144.npy --trace %s", model, tmp, tr),
                      "--image-grid-thw cannot be combined with --layout", tr);
    expect_rope_error(RUN("rope --model %s --config %s/config.json --layout 'text:3' --trace %s", model, model, tr),
                      "give one of --model DIR or --config FILE", tr);
    expect_rope_error(RUN("rope --model %s --layout 'text:3'", model), "--trace DIR is required", tr);
    expect_rope_error(RUN("rope --model %s --layout 'text:3' --trace %s --frobnicate", model, tr),
                      "unknown option --frobnicate", tr);
    expect_rope_error(RUN("rope --model %s --layout", model), "--layout needs a value", tr);
    expect_rope_error(RUN("rope --model " VT_GOLDEN("kimivl-image") " --layout 'text:3' --trace %s", tr),
                      "has no M-RoPE", tr);
    /* malformed layouts through the binary */
    expect_rope_error(RUN("rope --model %s --layout 'text:3 image:1x4' --trace %s", model, tr),
                      "layout item 2 'image:1x4': expected image:TxHxW", tr);
    expect_rope_error(RUN("rope --model %s --layout '' --trace %s", model, tr), "layout: empty", tr);
    expect_rope_error(RUN("rope --model %s --layout 'text:3 picture:1x4x4' --trace %s", model, tr),
                      "layout item 2 'picture:1x4x4': unknown kind", tr);
    expect_rope_error(RUN("rope --model %s --layout 'video:2x4x6@2.0' --trace %s", model, tr),
                      "needs a Qwen2.5-VL config", tr);
    expect_rope_error(RUN("rope --model %s --layout 'image:1x5x4' --trace %s", model, tr),
                      "H and W must be multiples of spatial_merge_size 2", tr);
#undef RUN
    vt_test_rmtree(tmp);
}

/* The table a student reads: the hand-computed example of test_mrope_hand_text_and_2x2_image. */
static void test_mrope_cli_layout_table(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "rope --config " ROPE_CASE("qwen2vl-image") "/config.json --layout "
                         "'text:3 image:1x4x4 text:1' --trace %s/t", tmp);
    if (rc != 0) fail_msg("-> %d\n%s", rc, out);
    const char *want = "row 0  (rope_deltas -2)\n"
                       "  tok  T  T  T  vs I  I  I  I  ve T\n"
                       "  t    0  1  2  3  4  4  4  4  6  7\n"
                       "  h    0  1  2  3  4  4  5  5  6  7\n"
                       "  w    0  1  2  3  4  5  4  5  6  7\n";
    if (!strstr(out, want)) fail_msg("table not found; output:\n%s", out);
    rc = vt_test_cli(out, sizeof out, "rope --config " ROPE_CASE("qwen2vl-image") "/config.json --layout 'text:3' "
                     "--trace %s/t --quiet", tmp);
    assert_int_equal(rc, 0);
    assert_int_equal(vt_test_lines(out), 1);
    vt_test_rmtree(tmp);
}

/* --viz: a PNG in the trace directory, listed under "pictures"; the tensors are unchanged by it. */
static void test_mrope_cli_viz(void **state)
{
    (void)state;
    char tmp[64], ours[128], png[160];
    vt_test_tmpdir(tmp);
    snprintf(ours, sizeof ours, "%s/v", tmp);
    const char *R = ROPE_CASE("qwen25vl-batch-pad");
    int rc = vt_test_cli(out, sizeof out, "rope --model %s --input-ids %s/input_ids.npy --attention-mask %s/attention_mask.npy "
                         "--image-grid-thw %s/image_grid_thw.npy --video-grid-thw %s/video_grid_thw.npy --trace %s --viz",
                         R, R, R, R, R, ours);
    if (rc != 0) fail_msg("-> %d\n%s", rc, out);
    assert_dirs_match(ours, R);
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, ours, &st)) fail_msg("%s", st.msg);
    assert_int_equal(m.n_pictures, 1);
    assert_string_equal(m.pictures[0], "rope.positions.png");
    vt_manifest_free(&m);
    snprintf(png, sizeof png, "%s/rope.positions.png", ours);
    FILE *f = fopen(png, "rb");
    assert_non_null(f);
    unsigned char sig[24];
    assert_int_equal(fread(sig, 1, sizeof sig, f), sizeof sig);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    /* IHDR: width and height big-endian at bytes 16..23; 2 rows x 3 panels of 110 px -> taller than 660 */
    unsigned w = (unsigned)sig[16] << 24 | sig[17] << 16 | sig[18] << 8 | sig[19];
    unsigned h = (unsigned)sig[20] << 24 | sig[21] << 16 | sig[22] << 8 | sig[23];
    assert_true(w >= 400 && w <= 1700 && h > 660 && h < 1000);
    vt_test_rmtree(tmp);
}

/* ---- refusals of the library, one per check ---------------------------------------------------------- */

typedef struct bad_case {
    const char *what;     /* expected in the message */
    int64_t ids[8];
    int L;
    int64_t mask[8];      /* used when has_mask */
    int has_mask;
    int64_t img[6];       /* image grids (n_img rows) */
    int n_img;
    int64_t vid[3];
    int n_vid;
    float spg[2];
    int n_spg;            /* -1: none */
    int qwen25;
} bad_case;

static const bad_case bad_cases[] = {
    {"image token at position 2 is not inside a vision block", {TX, TX, IM, TX}, 4, {0}, 0, {0}, 0, {0}, 0, {0}, -1, 0},
    {"video token at position 0 is not inside a vision block", {VI, VS, IM, VE}, 4, {0}, 0, {1, 2, 2}, 1, {0}, 0, {0}, -1, 0},
    {"vision_start token at position 1 ends the sequence (the reference", {TX, VS, 0, 0}, 4, {1, 1, 0, 0}, 1,
     {0}, 0, {0}, 0, {0}, -1, 0},
    {"image 1 at position 5 has no grid (image_grid_thw has 1 rows)", {VS, IM, VE, TX, VS, IM, VE}, 7, {0}, 0, {1, 2, 2}, 1,
     {0}, 0, {0}, -1, 0},
    {"attention_mask[0] is all zeros", {TX, TX}, 2, {0, 0}, 1, {1, 2, 2}, 1, {0}, 0, {0}, -1, 0},
    {"attention_mask[0, 1] = -1 (0 or 1 expected)", {TX, TX}, 2, {1, -1}, 1, {0}, 0, {0}, 0, {0}, -1, 0},
    {"image_grid_thw[0] = [1, 2, 3]: h and w must be multiples of spatial_merge_size 2", {VS, IM, VE}, 3, {0}, 0,
     {1, 2, 3}, 1, {0}, 0, {0}, -1, 0},
    {"image_grid_thw[0] = [0, 2, 2]: every entry must be in [1,", {VS, IM, VE}, 3, {0}, 0, {0, 2, 2}, 1, {0}, 0, {0}, -1, 0},
    {"second_per_grid_ts: 2 values for 1 videos", {VS, VI, VE}, 3, {0}, 0, {0}, 0, {1, 2, 2}, 1, {1, 1}, 2, 1},
    {"second_per_grid_ts[0] = -1 must be finite and >= 0", {VS, VI, VE}, 3, {0}, 0, {0}, 0, {1, 2, 2}, 1, {-1}, 1, 1},
    {"reaches temporal position", {VS, VI, VI, VE}, 4, {0}, 0, {0}, 0, {2, 2, 2}, 1, {1e30f}, 1, 1},
    {"second_per_grid_ts: a Qwen2.5-VL input", {VS, VI, VE}, 3, {0}, 0, {0}, 0, {1, 2, 2}, 1, {1}, 1, 0},
    {"video_grid_thw has 1 rows but input_ids holds 0 videos", {TX}, 1, {0}, 0, {0}, 0, {1, 2, 2}, 1, {0}, -1, 0},
};

static void test_mrope_check_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        vt_qwen2_text_config tc;
        vt_qwen2_vision_config vc;
        golden_config(&tc, &vc, c->qwen25);
        vt_tensor ids = vt_tensor_of(VT_I64, (void *)c->ids, VT_DIMS(1, c->L));
        vt_tensor mask = vt_tensor_of(VT_I64, (void *)c->mask, VT_DIMS(1, c->L));
        vt_tensor img = vt_tensor_of(VT_I64, (void *)c->img, VT_DIMS(c->n_img, 3));
        vt_tensor vid = vt_tensor_of(VT_I64, (void *)c->vid, VT_DIMS(c->n_vid, 3));
        vt_tensor spg = vt_tensor_of(VT_F32, (void *)c->spg, VT_DIMS(c->n_spg < 0 ? 0 : c->n_spg));
        vt_mrope_inputs in = {0};
        in.input_ids = &ids;
        if (c->has_mask) in.attention_mask = &mask;
        if (c->n_img) in.image_grid_thw = &img;
        if (c->n_vid) in.video_grid_thw = &vid;
        if (c->n_spg >= 0) in.second_per_grid_ts = &spg;
        vt_status st = {0};
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_tensor pos, delta;
        int rc = vt_get_rope_index(&pos, &delta, &in, &tc, &vc, &a, &st);
        vt_arena_free(&a);
        if (rc != VT_EINPUT || !strstr(st.msg, c->what) || strchr(st.msg, '\n'))
            fail_msg("case %zu: rc %d, message '%s' (wanted '%s')", i, rc, st.msg, c->what);
    }
}

/* The rotary's own refusals: shapes of q and k, the config's head_dim and mrope_section, dtypes. */
static void test_mrope_check_rotary_refusals(void **state)
{
    (void)state;
    vt_qwen2_text_config tc;
    vt_qwen2_vision_config vc;
    int64_t ids[2] = {TX, TX}, posv[6] = {0, 1, 0, 1, 0, 1};
    int32_t ids32[2] = {TX, TX};
    float q[2 * 16] = {0}, k[2 * 16] = {0};
    vt_tensor t_ids = vt_tensor_of(VT_I64, ids, VT_DIMS(1, 2)), t_pos = vt_tensor_of(VT_I64, posv, VT_DIMS(3, 1, 2));
    vt_tensor t_q = vt_tensor_of(VT_F32, q, VT_DIMS(1, 1, 2, 16)), t_k = vt_tensor_of(VT_F32, k, VT_DIMS(1, 1, 2, 16));
    vt_tensor t_q8 = vt_tensor_of(VT_F32, q, VT_DIMS(1, 2, 2, 8)), t_ids32 = vt_tensor_of(VT_I32, ids32, VT_DIMS(1, 2));
    int64_t grid[3] = {1, 2, 2};
    vt_tensor t_grid = vt_tensor_of(VT_I64, grid, VT_DIMS(1, 3));
    struct {
        const vt_tensor *ids, *pos, *q, *k, *grid;
        int section0;
        const char *what;
    } cases[] = {
        {&t_ids, &t_pos, &t_q8, &t_k, NULL, 2, "q: shape [1, 2, 2, 8], expected [1, heads, 2, 16]"},
        {&t_ids, &t_pos, &t_q, NULL, NULL, 2, "q given without k"},
        {&t_ids, &t_pos, NULL, NULL, NULL, 2, "position_ids: given without q and k"},
        {&t_ids, &t_pos, &t_q, &t_k, &t_grid, 2, "given position ids replace get_rope_index"},
        {&t_ids, &t_pos, &t_q, &t_k, NULL, 3, "mrope_section [3, 3, 3] must sum to head_dim / 2 = 8"},
        {&t_ids32, &t_pos, &t_q, &t_k, NULL, 2, "input_ids: dtype int32, expected int64"},
        {&t_ids, &t_q, &t_q, &t_k, NULL, 2, "position_ids: dtype float32, expected int64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        golden_config(&tc, &vc, 0);
        tc.mrope_section[0] = cases[i].section0;
        vt_mrope_inputs in = {0};
        in.input_ids = cases[i].ids;
        in.position_ids = cases[i].pos;
        in.q = cases[i].q;
        in.k = cases[i].k;
        in.image_grid_thw = cases[i].grid;
        vt_status st = {0};
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_mrope_outputs out;
        int rc = vt_mrope_forward(&out, &in, &tc, &vc, &a, NULL, &st);
        vt_arena_free(&a);
        if (rc != VT_EINPUT || !strstr(st.msg, cases[i].what))
            fail_msg("case %zu: rc %d, message '%s' (wanted '%s')", i, rc, st.msg, cases[i].what);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mrope_golden_rope_index),
        cmocka_unit_test(test_mrope_golden_rotary),
        cmocka_unit_test(test_mrope_hand_text_and_2x2_image),
        cmocka_unit_test(test_mrope_hand_video_time),
        cmocka_unit_test(test_mrope_hand_rotary),
        cmocka_unit_test(test_mrope_hand_padding),
        cmocka_unit_test(test_mrope_check_refusals),
        cmocka_unit_test(test_mrope_check_rotary_refusals),
        cmocka_unit_test(test_mrope_layout_parse_and_build),
        cmocka_unit_test(test_mrope_layout_malformed),
        cmocka_unit_test(test_mrope_cli_every_golden_case),
        cmocka_unit_test(test_mrope_cli_layout_reproduces_goldens),
        cmocka_unit_test(test_mrope_cli_layout_table),
        cmocka_unit_test(test_mrope_cli_viz),
        cmocka_unit_test(test_mrope_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
