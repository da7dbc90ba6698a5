/*
 * test_report_lm.c -- the locator (trace/diff/locate_lm.c, locate_families.c) on the tensors issues 22 and 25
 * added: the language model's and generate's token tensors, and Qwen3-VL's DeepStack features and
 * position-interpolation tables. As in test_report.c, one element is made wrong and the error map must
 * light exactly the expected cells; the expectation comes from the golden trace's own data, not from the
 * locator: a pad token's merged cell from the reference's (h, w) position ids (relative to its run) and its
 * frame from the distinct t positions, a merged token's patches from visual.rot_pos_ids and its input from
 * visual.cu_seqlens, a grid point's input from the grids, checked against the interpolation indices that
 * linspace(0, G - 1, side) gives. Then the where-line `vlmtrace diff` prints for a language-model tensor.
 */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/npy.h"
#include "report_cases.h"

#define E2E2 VT_GOLDEN("qwen2vl-e2e")
#define E2E25 VT_GOLDEN("qwen25vl-e2e")
#define Q3 VT_GOLDEN("qwen3vl-multi")

static char out[1 << 17];

/* ======================================== language-model tokens ======================================== */

/* The cells a prompt token lights: for a pad of input `input`, the 2x2 patches of its merged cell (from
 * position_ids [3, 1, L]: (h, w) minus the smallest of its run; the frame = how many distinct t positions
 * the run has up to it, less one), then its cell on the strip. Returns the number of cells. */
static int token_cells(const char *case_dir, int64_t tok, const char *input, cell *c)
{
    vt_tensor ids, pos;
    void *b1, *b2;
    vt_test_load_golden(case_dir, "input_ids", &ids, &b1);
    vt_test_load_golden(case_dir, "position_ids", &pos, &b2);
    const int64_t L = ids.shape[1], id = vt_i64(&ids)[tok];
    const int64_t *p = vt_i64(&pos);
    int n = 0;
    if (input) {
        int64_t s = tok, e = tok;
        while (s > 0 && vt_i64(&ids)[s - 1] == id) s--;
        while (e + 1 < L && vt_i64(&ids)[e + 1] == id) e++;
        int64_t h0 = INT64_MAX, w0 = INT64_MAX, nt = 0;
        for (int64_t j = s; j <= e; j++) {
            h0 = p[L + j] < h0 ? p[L + j] : h0;
            w0 = p[2 * L + j] < w0 ? p[2 * L + j] : w0;
        }
        for (int64_t j = s; j <= tok; j++) nt += j == s || p[j] != p[j - 1];
        const int64_t mh = p[L + tok] - h0, mw = p[2 * L + tok] - w0;
        for (int k = 0; k < 4; k++) c[n++] = (cell){input, nt - 1, 2 * mh + k / 2, 2 * mw + k % 2, REP_GRID};
    }
    c[n++] = (cell){"", 0, 0, tok, REP_STRIP};
    free(b1), free(b2);
    return n;
}

/* The first position of input_ids holding `id`, plus `skip`. */
static int64_t first_of(const char *case_dir, int64_t id, int64_t skip)
{
    vt_tensor ids;
    void *b;
    vt_test_load_golden(case_dir, "input_ids", &ids, &b);
    int64_t at = -1;
    for (int64_t j = 0; j < ids.shape[1] && at < 0; j++)
        if (vt_i64(&ids)[j] == id) at = j;
    free(b);
    if (at < 0) fail_msg("%s: no id %lld in input_ids", case_dir, (long long)id);
    return at + skip;
}

/* A decoder layer's output at an image pad: the pad's merged cell on image.0 and its strip cell; a query
 * head of q_rope [1, H, L, hd] lights that head's panels only. */
static void test_report_map_lm_image_pad(void **state)
{
    (void)state;
    const int64_t L = 56, tok = first_of(E2E2, 253, 17); /* the 18th <|image_pad|> */
    cell c[5];
    int n = token_cells(E2E2, tok, "image.0", c);
    fixture f;
    map_one(&f, E2E2, "model.layers.1.mlp", tok * 48 + 30);
    expect_lit(&f, 0, c, n);
    fixture_free(&f);
    map_one(&f, E2E2, "model.layers.0.self_attn.q_rope", ((0 * 4 + 3) * L + tok) * 12 + 5); /* head 3 */
    assert_int_equal(f.map.heads, 4);
    expect_lit(&f, 0, c, n);
    expect_lit(&f, 1 + 3, c, n);
    expect_lit(&f, 1 + 0, c, 0);
    fixture_free(&f);
    /* the tables before the split: axis w's table, the same token */
    map_one(&f, E2E2, "model.rotary_emb.cos", ((2 * 1 + 0) * L + tok) * 12 + 7);
    expect_lit(&f, 0, c, n);
    fixture_free(&f);
}

/* A video pad of the second frame pair (Qwen2.5-VL e2e: an image, then a 4-frame video = 2 temporal
 * patches): lights video.0 t 1. */
static void test_report_map_lm_video_pad(void **state)
{
    (void)state;
    vt_tensor ids;
    void *b;
    vt_test_load_golden(E2E25, "input_ids", &ids, &b);
    const int64_t L = ids.shape[1];
    int64_t last = -1;
    for (int64_t j = 0; j < L; j++)
        if (vt_i64(&ids)[j] == 254) last = j; /* <|video_pad|> here */
    free(b);
    assert_true(last > 0);
    cell c[5];
    int n = token_cells(E2E25, last - 1, "video.0", c);
    assert_int_equal(c[0].t, 1);
    fixture f;
    map_one(&f, E2E25, "inputs_embeds", (last - 1) * 48 + 2);
    expect_lit(&f, 0, c, n);
    fixture_free(&f);
}

/* Text tokens and the decoding tensors: the strip only. lm_head at the last prompt token; generate.logits
 * row 3 is computed at position L - 1 + 3; generate.position_ids of generated token 5 sits at L + 5. */
static void test_report_map_lm_text_and_steps(void **state)
{
    (void)state;
    const int64_t L = 56;
    cell c = {"", 0, 0, L - 1, REP_STRIP};
    fixture f;
    map_one(&f, E2E2, "lm_head", (L - 1) * 256 + 9);
    expect_lit(&f, 0, &c, 1);
    fixture_free(&f);
    c.x = 2; /* a text token before the image: the strip alone */
    map_one(&f, E2E2, "model.embed_tokens", 2 * 48 + 1);
    expect_lit(&f, 0, &c, 1);
    fixture_free(&f);
    c.x = L - 1 + 3;
    map_one(&f, E2E2, "generate.logits", 3 * 256 + 100);
    expect_lit(&f, 0, &c, 1);
    assert_int_equal(f.map.p[0].gw, L + 8 - 1);
    fixture_free(&f);
}

/* ======================================== Qwen3-VL ======================================== */

/* A DeepStack feature [M, C] row u: the 2x2 patches of patch rows 4u..4u+3 (their (h, w) in
 * visual.rot_pos_ids), on the input / frame whose cu_seqlens segment holds those rows. */
static void test_report_map_qwen3_deepstack(void **state)
{
    (void)state;
    static const char *const seg_input[] = {"image.0", "image.1", "video.0", "video.0"};
    static const int64_t seg_t[] = {0, 0, 0, 1};
    vt_tensor ids, cu;
    void *b1, *b2;
    vt_test_load_golden(Q3, "visual.rot_pos_ids", &ids, &b1);
    vt_test_load_golden(Q3, "visual.cu_seqlens", &cu, &b2);
    assert_int_equal(cu.shape[0], 5);
    for (int64_t u = 9; u <= 19; u += 10) { /* image.1, then video.0's second frame pair */
        cell m[4];
        for (int k = 0; k < 4; k++) {
            const int64_t r = 4 * u + k;
            m[k] = (cell){NULL, 0, vt_i64(&ids)[2 * r], vt_i64(&ids)[2 * r + 1], REP_GRID};
            for (int s = 0; s < 4; s++)
                if (r >= ival(&cu, s) && r < ival(&cu, s + 1)) m[k].input = seg_input[s], m[k].t = seg_t[s];
            assert_non_null(m[k].input);
        }
        fixture f;
        map_one(&f, Q3, "visual.deepstack_features.1", u * 48 + 11);
        expect_lit(&f, 0, m, 4);
        fixture_free(&f);
        map_one(&f, Q3, "visual.deepstack_merger_list.0.linear_fc1", u * 256 + 200);
        expect_lit(&f, 0, m, 4);
        fixture_free(&f);
    }
    free(b1), free(b2);
}

/* interp_weights [4, S]: column s is grid point s, row-major per input (image_grid_thw, then
 * video_grid_thw); a video's point is shared by all its temporal patches, so every frame pair lights. The
 * expected (h, w) is checked against interp_indices: corner 0 is floor(h (G-1)/(H-1)) G + floor(w (G-1)/(W-1)). */
static void test_report_map_qwen3_interp(void **state)
{
    (void)state;
    const int64_t G = 8; /* sqrt(num_position_embeddings 64), config.json */
    vt_tensor gi, gv, idx;
    void *b1, *b2, *b3;
    vt_test_load_golden(Q3, "image_grid_thw", &gi, &b1);
    vt_test_load_golden(Q3, "video_grid_thw", &gv, &b2);
    vt_test_load_golden(Q3, "visual.pos_embed.interp_indices", &idx, &b3);
    const int64_t S = idx.shape[1];
    static const int64_t cols[] = {7, 30, 60};
    for (int k = 0; k < 3; k++) {
        int64_t s = cols[k], base = 0, gt = 0, gh = 0, gw = 0;
        const char *input = NULL;
        static const char *const names[] = {"image.0", "image.1", "video.0"};
        for (int i = 0; i < 3 && !input; i++) {
            const vt_tensor *g = i < 2 ? &gi : &gv;
            const int64_t r = i < 2 ? i : 0;
            gt = vt_i64(g)[3 * r], gh = vt_i64(g)[3 * r + 1], gw = vt_i64(g)[3 * r + 2];
            if (s < base + gh * gw) input = names[i];
            else base += gh * gw;
        }
        assert_non_null(input);
        const int64_t h = (s - base) / gw, w = (s - base) % gw;
        const int64_t fh = (int64_t)floor((double)h * (G - 1) / (gh - 1)), fw = (int64_t)floor((double)w * (G - 1) / (gw - 1));
        assert_int_equal(vt_i64(&idx)[s], fh * G + fw); /* corner 0 of column s: the derivation holds */
        cell c[4];
        for (int64_t t = 0; t < gt; t++) c[t] = (cell){input, t, h, w, REP_GRID};
        fixture f;
        map_one(&f, Q3, "visual.pos_embed.interp_weights", 2 * S + s); /* corner 2 */
        expect_lit(&f, 0, c, (int)gt);
        fixture_free(&f);
    }
    free(b1), free(b2), free(b3);
}

/* ======================================== the where-line ======================================== */

/* A copy of the e2e golden with one element of `name` changed by 1; `vlmtrace diff` against the golden. */
static void diff_poked(const char *name, int64_t flat)
{
    char tmp[64], dst[128], cmd[512], path[512];
    vt_test_tmpdir(tmp);
    snprintf(dst, sizeof dst, "%s/ours", tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && chmod -R u+w '%s'", E2E2, dst, dst);
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
    vt_f32(&t)[flat] += 1;
    if (vt_npy_write(path, &t, &st)) fail_msg("%s", st.msg);
    free(owned);
    assert_int_equal(vt_test_cli(out, sizeof out, "diff %s " E2E2, dst), 1);
    vt_test_rmtree(tmp);
}

static void expect_where(const char *want)
{
    if (!strstr(out, want)) fail_msg("wanted the where-line\n  %s\ngot:\n%s", want, out);
}

/* By hand: the prompt's pads are positions 10..44 (35 of them, after <|vision_start|> at 9); the image's
 * grid is 10 x 14 patches, 5 x 7 merged tokens row-major, so position 20 is merged token 10 = (1, 3):
 * patches h 2-3, w 6-7. Head 2 of 4; channel 3 of 12 is frequency 3, which mrope_section [2, 2, 2] gives to
 * h. Position 50 is text. generate.logits row 3 is computed at position 55 + 3. */
static void test_report_where_line_lm(void **state)
{
    (void)state;
    diff_poked("model.layers.1.self_attn.q_rope", ((0 * 4 + 2) * 56 + 20) * 12 + 3);
    expect_where("where: row 0, token 20 (an image token) -> image.0, patches (t 0, h 2-3, w 6-7); layer 1; head 2 of "
                 "4; channel 3 = frequency 3, which mrope_section [2, 2, 2] gives to axis h\n");
    diff_poked("model.layers.0.self_attn.v_proj", 20 * 24 + 13); /* [1, 56, 2 x 12]: column 13 */
    expect_where("where: row 0, token 20 (an image token) -> image.0, patches (t 0, h 2-3, w 6-7); layer 0; key/value "
                 "head 1 of 2\n");
    diff_poked("model.norm", 50 * 48 + 4);
    expect_where("where: row 0, token 50 (text)\n");
    diff_poked("generate.logits", 3 * 256 + 4);
    expect_where("where: step 3: the logits at row 0, token 58 (a generated token) that chose generated token 3\n");
    diff_poked("model.rotary_emb.sin", ((1 * 1 + 0) * 56 + 20) * 12 + 4);
    expect_where("where: axis h, row 0, token 20 (an image token) -> image.0, patches (t 0, h 2-3, w 6-7); channel 4 = "
                 "frequency 4, which mrope_section [2, 2, 2] gives to axis w (the split takes this channel from the w "
                 "table: this h entry is not used)\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_map_lm_image_pad),    cmocka_unit_test(test_report_map_lm_video_pad),
        cmocka_unit_test(test_report_map_lm_text_and_steps), cmocka_unit_test(test_report_map_qwen3_deepstack),
        cmocka_unit_test(test_report_map_qwen3_interp),    cmocka_unit_test(test_report_where_line_lm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
