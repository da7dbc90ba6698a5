/* test_mrope.c -- M-RoPE: get_rope_index against the rope-index goldens, the rotary, hand-computed ids,
 * and the library's refusals (the `vlmtrace rope` command line is in test_rope_cli.c). */
#include "vt_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "format/manifest.h"
#include "mrope/mrope.h"
#include "format/npy.h"
#include "cli/rope_layout.h"

#include "rope_golden.h"

/* The rope-index goldens' config.json, by hand (the test of the library alone does not read JSON). */
static void golden_config(vt_mrope_config *tc, int qwen25)
{
    memset(tc, 0, sizeof *tc);
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
    tc->absolute_time = qwen25;
    tc->spatial_merge_size = 2;
    tc->tokens_per_second = qwen25 ? 2 : 0;
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
        vt_mrope_config tc;
        golden_config(&tc, strncmp(index_cases[c], "qwen25", 6) == 0);
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
        if (vt_mrope_get_rope_index(&pos, &delta, &in, &tc, &a, &st)) fail_msg("%s: %s", dir, st.msg);
        assert_tensor_close(&pos, want_pos, dir);
        assert_tensor_close(&delta, want_delta, dir);
        vt_arena_free(&a);
        golden_close(&g);
    }
}

/* ---- the two *-mrope cases under the comparison rule (docs/design.md) ---------------------------------------------- */

static void test_mrope_golden_rotary(void **state)
{
    (void)state;
    const char *cases[2] = {ROPE_CASE("qwen2vl-mrope"), ROPE_CASE("qwen25vl-mrope")};
    for (int c = 0; c < 2; c++) {
        golden g;
        golden_open(&g, cases[c]);
        vt_mrope_config tc;
        golden_config(&tc, c);
        vt_mrope_inputs in = {0};
        in.input_ids = golden_get(&g, "input_ids");
        in.position_ids = golden_get(&g, "position_ids");
        in.q = golden_get(&g, "mrope.q");
        in.k = golden_get(&g, "mrope.k");
        vt_arena a;
        vt_arena_init(&a, 0);
        vt_status st = {0};
        vt_mrope_outputs out;
        if (vt_mrope_forward(&out, &in, &tc, NULL, &a, &st)) fail_msg("%s: %s", cases[c], st.msg);
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

/* ---- hand-computed (token ids TX, VS, VE, IM, VI from rope_golden.h) ---------------------------------- */

static void run_index(const int64_t *ids, int64_t L, const int64_t *grid, int64_t n_grid, int video, const float *spg,
                      int qwen25, int64_t *pos_out, int64_t *delta_out)
{
    vt_mrope_config tc;
    golden_config(&tc, qwen25);
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
    if (vt_mrope_get_rope_index(&pos, &delta, &in, &tc, &a, &st)) fail_msg("%s", st.msg);
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
    vt_mrope_config tc;
    golden_config(&tc, 0);
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
    if (vt_mrope_forward(&out, &in, &tc, NULL, &a, &st)) fail_msg("%s", st.msg);
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
    vt_mrope_config tc;
    golden_config(&tc, 0);
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
    if (vt_mrope_get_rope_index(&pos, &delta, &in, &tc, &a, &st)) fail_msg("%s", st.msg);
    const int64_t want[8] = {1, 1, 0, 1, 2, 3, 4, 5};
    for (int ax = 0; ax < 3; ax++) assert_memory_equal(vt_i64(&pos) + 8 * ax, want, sizeof want);
    assert_int_equal(vt_i64(&delta)[0], 5 + 1 - 8);
    /* the text-only branch (no grids) counts the padded 1s in its max: one kept token gives max 1, not 0 */
    int64_t ids1[3] = {0, 0, TX}, mask1[3] = {0, 0, 1};
    vt_tensor t_ids1 = vt_tensor_of(VT_I64, ids1, VT_DIMS(1, 3)), t_mask1 = vt_tensor_of(VT_I64, mask1, VT_DIMS(1, 3));
    vt_mrope_inputs in1 = {0};
    in1.input_ids = &t_ids1;
    in1.attention_mask = &t_mask1;
    if (vt_mrope_get_rope_index(&pos, &delta, &in1, &tc, &a, &st)) fail_msg("%s", st.msg);
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
    vt_mrope_config tc;
    golden_config(&tc, 1);
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_rope_layout_inputs li;
    assert_int_equal(vt_rope_layout_build(&li, &lay, &tc, &a, &st), 0);
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
    golden_config(&tc, 0);
    assert_int_equal(vt_rope_layout_parse(&lay, "video:2x4x6@2.0", &st), 0);
    assert_int_equal(vt_rope_layout_build(&li, &lay, &tc, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "needs a Qwen2.5-VL config"));
    vt_rope_layout_free(&lay);
    assert_int_equal(vt_rope_layout_parse(&lay, "image:1x3x4", &st), 0);
    assert_int_equal(vt_rope_layout_build(&li, &lay, &tc, &a, &st), VT_EINPUT);
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
        vt_mrope_config tc;
        golden_config(&tc, c->qwen25);
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
        int rc = vt_mrope_get_rope_index(&pos, &delta, &in, &tc, &a, &st);
        vt_arena_free(&a);
        if (rc != VT_EINPUT || !strstr(st.msg, c->what) || strchr(st.msg, '\n'))
            fail_msg("case %zu: rc %d, message '%s' (wanted '%s')", i, rc, st.msg, c->what);
    }
}

/* The rotary's own refusals: shapes of q and k, the config's head_dim and mrope_section, dtypes. */
static void test_mrope_check_rotary_refusals(void **state)
{
    (void)state;
    vt_mrope_config tc;
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
        golden_config(&tc, 0);
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
        int rc = vt_mrope_forward(&out, &in, &tc, NULL, &a, &st);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
