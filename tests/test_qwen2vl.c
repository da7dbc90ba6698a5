/* test_qwen2vl.c -- the Qwen2-VL vision tower: hand-computed stages, the three golden cases through
 * `vlmtrace run` + diff, the two attention paths, and bad input. */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "format/npy.h"
#include "core/ops.h"
#include "qwen2_cases.h"
#include "qwen2vl/qwen2vl.h"

static char out[1 << 16];

/* An error: exit 2, exactly one line, containing `what`. */
static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

/* ======================================== stages by hand ======================================== */

/* LayerNorm(eps 1e-6) of [1, 2, 3, 4]: mean 2.5, biased variance 1.25, so x_hat = (x - 2.5) / sqrt(1.250001)
 * = [-1.3416402, -0.4472134, 0.4472134, 1.3416402]; then * w + b. A constant row normalises to b. */
static void test_qwen2vl_layernorm_by_hand(void **state)
{
    (void)state;
    const float x[8] = {1, 2, 3, 4, 2, 2, 2, 2};
    const float w[4] = {1, 2, 0.5f, -1}, b[4] = {0, 0.5f, 0, 1};
    float y[8];
    vt_vision_norm n = {w, b, 0};
    vt_vision_norm_apply(y, x, &n, 2, 4);
    const double want[8] = {-1.3416402498, -0.3944268332, 0.2236067083, -0.3416402498, 0, 0.5, 0, 1};
    for (int i = 0; i < 8; i++) assert_true(fabs(y[i] - want[i]) < 1e-6);
}

/* QuickGELU(x) = x * sigmoid(1.702 x): QuickGELU(1) = 1 / (1 + e^-1.702) = 1 / 1.1823185 = 0.8457958,
 * QuickGELU(-1) = -(1 - 0.8457958), QuickGELU(0) = 0, QuickGELU(2) = 2 / (1 + e^-3.404) = 1.9356586. */
static void test_qwen2vl_quick_gelu_by_hand(void **state)
{
    (void)state;
    const float x[4] = {1, -1, 0, 2};
    float y[4];
    vt_status st = {0};
    assert_int_equal(vt_activation(y, x, 4, "quick_gelu", &st), 0);
    const double want[4] = {0.8457957659, -0.1542042341, 0, 1.9356586231};
    for (int i = 0; i < 4; i++) assert_true(fabs(y[i] - want[i]) < 1e-6);
    assert_int_equal(vt_activation(y, x, 4, "relu6", &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "relu6"));
}

/* rotate_half on D = 4 (one head): x = [1, 2, 3, 4], rotate_half(x) = [-3, -4, 1, 2]. With the table
 * row [pi/2, 0], emb = [pi/2, 0, pi/2, 0], cos = [0, 1, 0, 1], sin = [1, 0, 1, 0]:
 * y = x cos + rotate_half(x) sin = [-3, 2, 1, 4] (pairs (d, d + D/2) rotate together, not (2i, 2i+1)). */
static void test_qwen2vl_rotate_half_by_hand(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    const float rot[2] = {(float)(M_PI / 2), 0};
    float *cos, *sin, y[4];
    assert_int_equal(vt_vision_rotary_cos_sin(&cos, &sin, rot, 1, 4, &a, &st), 0);
    const float x[4] = {1, 2, 3, 4};
    vt_vision_apply_rotary(y, x, 4, cos, sin, 1, 1, 4);
    const float want[4] = {-3, 2, 1, 4};
    for (int i = 0; i < 4; i++) assert_true(fabs(y[i] - want[i]) < 1e-6);
    vt_arena_free(&a);
}

/* rot_pos_emb on a 1 x 4 x 4 grid: ids in 2x2 merge-block order, then the table with D = 16 (dim 8,
 * inv_freq = 1 / 10000^(2i/8) = [1, 0.1, 0.01, 0.001]): row n = [h inv_freq | w inv_freq]. */
static void test_qwen2vl_rot_pos_emb_by_hand(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int64_t g[3] = {2, 4, 4}; /* two time slices: the ids repeat */
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(1, 3)), ids, rot;
    assert_int_equal(vt_vision_rot_pos_ids(&ids, &grid, 2, &a, &st), 0);
    assert_int_equal(ids.shape[0], 32);
    const int64_t want[16][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3},
                                 {2, 0}, {2, 1}, {3, 0}, {3, 1}, {2, 2}, {2, 3}, {3, 2}, {3, 3}};
    for (int r = 0; r < 2; r++)
        for (int n = 0; n < 16; n++) {
            assert_int_equal(vt_i64(&ids)[2 * (16 * r + n)], want[n][0]);
            assert_int_equal(vt_i64(&ids)[2 * (16 * r + n) + 1], want[n][1]);
        }
    assert_int_equal(vt_vision_rot_pos_emb(&rot, &ids, &grid, 16, &a, &st), 0);
    assert_int_equal(rot.shape[1], 8);
    const float *r7 = vt_f32(&rot) + 7 * 8; /* patch 7 is (h, w) = (1, 3) */
    const double inv[4] = {1, 0.1, 0.01, 0.001};
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(r7[i] - 1 * inv[i]) < 1e-7);
        assert_true(fabs(r7[4 + i] - 3 * inv[i]) < 1e-7);
    }
    vt_arena_free(&a);
}

/* cu_seqlens of qwen2vl-multi's grids: two images (4x6, 6x4) and a video of two time slices (2x4x6):
 * [0, 24, 48, 72, 96] -- the video's slices are separate segments. */
static void test_qwen2vl_cu_seqlens_and_mask(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    int64_t g[9] = {1, 4, 6, 1, 6, 4, 2, 4, 6};
    vt_tensor grid = vt_tensor_of(VT_I64, g, VT_DIMS(3, 3)), cu;
    assert_int_equal(vt_vision_cu_seqlens(&cu, &grid, &a, &st), 0);
    const int32_t want[5] = {0, 24, 48, 72, 96};
    assert_int_equal(cu.shape[0], 5);
    assert_memory_equal(cu.data, want, sizeof want);
    /* the literal mask of cu = [0, 2, 5]: 0 on the two diagonal blocks, -inf elsewhere */
    const int32_t cu2[3] = {0, 2, 5};
    float *mask;
    assert_int_equal(vt_vision_segment_mask(&mask, cu2, 2, 5, &a, &st), 0);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 5; c++) {
            int same = (r < 2) == (c < 2);
            assert_true(same ? mask[r * 5 + c] == 0.0f : isinf(mask[r * 5 + c]) && mask[r * 5 + c] < 0);
        }
    vt_arena_free(&a);
}

/* Segment attention: a segment of length 1 attends only to itself (softmax of one score is 1), so its
 * output is its own v; and the segment path equals the literal mask path bit for bit on random data. */
static void test_qwen2vl_segment_attention_vs_literal(void **state)
{
    (void)state;
    enum { L = 9, H = 2, D = 4 };
    const int32_t cu[4] = {0, 1, 5, 9};
    float q[L * H * D], k[L * H * D], v[L * H * D], o1[L * H * D], o2[L * H * D];
    unsigned s = 12345;
    for (int i = 0; i < L * H * D; i++) {
        s = s * 1103515245u + 12345u;
        q[i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
        k[i] = q[(i * 7) % (L * H * D)] * 0.5f + 0.1f;
        v[i] = (float)i / 10.0f;
    }
    vt_heads qh = {q, H * D, D}, kh = {k, H * D, D}, vh = {v, H * D, D};
    assert_int_equal(vt_attention_segments(o1, qh, kh, vh, L, H, D, cu, 3, 0.5f), 0);
    for (int j = 0; j < H * D; j++) assert_true(o1[j] == v[j]); /* row 0 is a segment of its own */
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    float *mask;
    assert_int_equal(vt_vision_segment_mask(&mask, cu, 3, L, &a, &st), 0);
    assert_int_equal(vt_attention_masked(o2, qh, kh, vh, L, L, H, D, mask, 0.5f), 0);
    assert_memory_equal(o1, o2, sizeof o1);
    /* and rows of the last segment never see the others: changing v of row 2 leaves rows 5..8 alone */
    v[2 * H * D] += 100.0f;
    assert_int_equal(vt_attention_segments(o2, qh, kh, vh, L, H, D, cu, 3, 0.5f), 0);
    assert_memory_equal(o1 + 5 * H * D, o2 + 5 * H * D, 4 * H * D * sizeof(float));
    vt_arena_free(&a);
}

/* ======================================== golden cases ======================================== */

static void run_golden(const char *case_dir)
{
    char tmp[64], args[8192];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, case_dir);
    int rc = vt_test_cli(out, sizeof out, "%s --trace %s/trace --out %s/visual.npy", args, tmp, tmp);
    if (rc != 0) fail_msg("%s --trace -> %d\n%s", args, rc, out);
    char tr[128];
    snprintf(tr, sizeof tr, "%s/trace", tmp);
    assert_dirs_match(tr, case_dir);
    /* --out holds the final tensor, equal to the golden `visual` */
    vt_tensor ours, ref;
    void *o1, *o2;
    vt_status st = {0};
    char p[128];
    snprintf(p, sizeof p, "%s/visual.npy", tmp);
    if (vt_npy_read(p, &ours, &o1, &st)) fail_msg("%s", st.msg);
    vt_test_load_golden(case_dir, "visual", &ref, &o2);
    assert_tensor_close(&ours, &ref, "visual (--out)");
    free(o1);
    free(o2);
    vt_test_rmtree(tmp);
}

static void test_qwen2vl_golden_image(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen2vl-image"));
}

static void test_qwen2vl_golden_multi(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen2vl-multi"));
}

static void test_qwen2vl_golden_bf16(void **state)
{
    (void)state;
    run_golden(VT_GOLDEN("qwen2vl-image-bf16"));
}

static int files_equal(const char *a, const char *b)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

/* The literal N x N mask path and the segment path give the same bytes end to end; so do 1 and 2 threads.
 * --viz writes the mask picture and lists it in the manifest. */
static void test_qwen2vl_attn_paths_and_threads_agree(void **state)
{
    (void)state;
    char tmp[64], args[8192], a[128], b[128], c[128];
    vt_test_tmpdir(tmp);
    case_run_args(args, sizeof args, VT_GOLDEN("qwen2vl-multi"));
    snprintf(a, sizeof a, "%s/seg.npy", tmp);
    snprintf(b, sizeof b, "%s/lit.npy", tmp);
    snprintf(c, sizeof c, "%s/one.npy", tmp);
    assert_int_equal(vt_test_cli(out, sizeof out, "%s --attn segments --threads 2 --out %s", args, a), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "%s --attn literal --threads 2 --out %s --trace %s/lit --viz", args, b, tmp), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "%s --threads 1 --out %s", args, c), 0);
    assert_true(files_equal(a, b));
    assert_true(files_equal(a, c));
    char p[128];
    struct stat sb;
    snprintf(p, sizeof p, "%s/lit/visual.attention_mask.png", tmp);
    assert_int_equal(stat(p, &sb), 0);
    /* second_per_grid_ts is Qwen2_5_VLProcessor's output; Qwen2VLProcessor returns none (qwen2vl-multi has a
     * video): the trace has none either */
    assert_int_equal(vt_test_cli(out, sizeof out, "show %s/lit", tmp), 0);
    assert_null(strstr(out, "second_per_grid_ts"));
    snprintf(p, sizeof p, "%s/lit/manifest.json", tmp);
    void *text;
    size_t len;
    vt_status st = {0};
    assert_int_equal(vt_read_file(p, &text, &len, 1 << 24, &st), 0);
    assert_non_null(strstr(text, "visual.attention_mask.png"));
    free(text);
    vt_test_rmtree(tmp);
}

/* ======================================== bad input ======================================== */

/* A model directory in tmp/name: the golden config (optionally edited) and a checkpoint (optionally
 * missing the tensors under `drop`). */
static void make_model(char *dir, size_t cap, const char *tmp, const char *name, const char *from, const char *to,
                       const char *drop)
{
    copy_case_edited(dir, cap, tmp, name, VT_GOLDEN("qwen2vl-image"), from, to, drop);
}

static void test_qwen2vl_bad_input(void **state)
{
    (void)state;
    char tmp[64], dir[256], p[512];
    const char *img = VT_GOLDEN("qwen2vl-image") "/image.0.png";
    vt_test_tmpdir(tmp);

    /* a checkpoint missing block 2 */
    make_model(dir, sizeof dir, tmp, "noblock", "\"depth\": 3", "\"depth\": 3", "visual.blocks.2.");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 16000", dir, img),
                 "visual.blocks.2.");
    /* config.json says 4 blocks, the weights have 3 */
    make_model(dir, sizeof dir, tmp, "deep", "\"depth\": 3", "\"depth\": 4", "none-dropped");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 16000", dir, img),
                 "visual.blocks.3.");
    /* config.json says 2 blocks, the weights have 3 */
    make_model(dir, sizeof dir, tmp, "shallow", "\"depth\": 3", "\"depth\": 2", "none-dropped");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s --image %s --max-pixels 16000", dir, img),
                 "visual.blocks.2.norm1.weight, more blocks than config.json's depth 2");
    /* a frame list naming a missing file */
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-multi") " --video "
                             VT_GOLDEN("qwen2vl-multi") "/video.0.frame.0.png,%s/no-such-frame.png", tmp),
                 "no-such-frame.png");
    /* a frame list with an empty name between two commas */
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-multi") " --video %s,,%s", img, img),
                 "--video '");
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-multi") " --video %s,", img),
                 "item 1 is an empty name");
    /* an unwritable --trace path (under a regular file) */
    snprintf(p, sizeof p, "%s/plain-file", tmp);
    vt_test_write_file(p, "x", 1);
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-image") " --image %s --trace %s/sub",
                             img, p),
                 "plain-file");
    /* usage */
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-image")), "no --image or --video");
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-image") " --image %s --attn sparse", img),
                 "--attn: 'sparse'");
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-image") " --image %s --viz", img),
                 "--viz needs --trace");
    expect_error(vt_test_cli(out, sizeof out, "run --model " VT_GOLDEN("qwen2vl-image") " --image %s --fps 2", img),
                 "--fps given without any --video");
    expect_error(vt_test_cli(out, sizeof out, "run --model %s/none --image %s", tmp, img), "config.json");
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen2vl_layernorm_by_hand),
        cmocka_unit_test(test_qwen2vl_quick_gelu_by_hand),
        cmocka_unit_test(test_qwen2vl_rotate_half_by_hand),
        cmocka_unit_test(test_qwen2vl_rot_pos_emb_by_hand),
        cmocka_unit_test(test_qwen2vl_cu_seqlens_and_mask),
        cmocka_unit_test(test_qwen2vl_segment_attention_vs_literal),
        cmocka_unit_test(test_qwen2vl_golden_image),
        cmocka_unit_test(test_qwen2vl_golden_multi),
        cmocka_unit_test(test_qwen2vl_golden_bf16),
        cmocka_unit_test(test_qwen2vl_attn_paths_and_threads_agree),
        cmocka_unit_test(test_qwen2vl_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
