/* test_rope_cli.c -- `vlmtrace rope`: every rope-index golden case through the binary, --layout against
 * the goldens, the layout table, --viz, and the command line's bad inputs. The library itself is tested in
 * test_mrope.c. */
#include "rope_golden.h"

#include <math.h>
#include <stdio.h>

#include "format/npy.h"
#include "cli/rope_layout.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mrope_cli_every_golden_case),
        cmocka_unit_test(test_mrope_cli_layout_reproduces_goldens),
        cmocka_unit_test(test_mrope_cli_layout_table),
        cmocka_unit_test(test_mrope_cli_viz),
        cmocka_unit_test(test_mrope_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
