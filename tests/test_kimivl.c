/* test_kimivl.c -- Kimi-VL: hand-worked stages (complex-pair RoPE, rescale sizes, merge order, the mask
 * path against the segment path), both golden cases through `vlmtrace run` + diff, and bad input. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "kimivl/kimivl.h"
#include "format/manifest.h"
#include "format/npy.h"
#include "core/ops.h"

#define IMAGE_CASE VT_GOLDEN("kimivl-image")
#define MULTI_CASE VT_GOLDEN("kimivl-multi")

/* ============================ hand-worked stages ============================ */

/* head_dim 8: two theta values, theta_0 = 10000^0 = 1 and theta_1 = 10000^(-4/8) = 0.01; pairs
 * j = 0, 1, 2, 3 turn by (w*1, h*1, w*0.01, h*0.01). Two images packed: A of 2x3 patches (rows 0..5),
 * B of 1x2 (rows 6..7), so B's positions restart at (0, 0). */
static void test_kimivl_rope_complex_pairs_by_hand(void **state)
{
    (void)state;
    vt_status st = {0};
    const int64_t grid[4] = {2, 3, 1, 2};
    float f[8][4][2];
    assert_int_equal(vt_kimivl_rope_freqs_cis(&f[0][0][0], grid, 2, 8, 8, &st), 0);

    /* row 5 = A's (h=1, w=2): angles 2, 1, 0.02, 0.01 */
    const float want5[4][2] = {{-0.41614684f, 0.90929743f}, /* cos 2, sin 2 */
                               {0.54030231f, 0.84147098f},  /* cos 1, sin 1 */
                               {0.99980001f, 0.01999867f},  /* cos .02, sin .02 */
                               {0.99995000f, 0.00999983f}}; /* cos .01, sin .01 */
    for (int j = 0; j < 4; j++)
        for (int c = 0; c < 2; c++) assert_true(fabsf(f[5][j][c] - want5[j][c]) < 1e-6f);
    /* row 6 = B's (0, 0): no rotation at all; row 7 = B's (h=0, w=1): angles 1, 0, 0.01, 0 */
    for (int j = 0; j < 4; j++) {
        assert_true(f[6][j][0] == 1.0f && f[6][j][1] == 0.0f);
    }
    assert_true(fabsf(f[7][0][0] - 0.54030231f) < 1e-6f && fabsf(f[7][0][1] - 0.84147098f) < 1e-6f);
    assert_true(f[7][1][0] == 1.0f && f[7][1][1] == 0.0f);
    assert_true(fabsf(f[7][2][0] - 0.99995000f) < 1e-6f && fabsf(f[7][2][1] - 0.00999983f) < 1e-6f);
    assert_true(f[7][3][0] == 1.0f && f[7][3][1] == 0.0f);

    /* x at row 5, one head: pairs (1+0i), (0+1i), (1+1i), (2-1i) times cis:
     *   (1)(cos2 + i sin2)            = -0.41614684 + 0.90929743i
     *   (i)(cos1 + i sin1)            = -sin1 + i cos1 = -0.84147098 + 0.54030231i
     *   (1+i)(c + is), c,s of 0.02    = (c - s) + (s + c)i = 0.97980134 + 1.01979868i
     *   (2-i)(c + is), c,s of 0.01    = (2c + s) + (2s - c)i = 2.00989983 - 0.97995033i */
    float x[8] = {1, 0, 0, 1, 1, 1, 2, -1};
    vt_kimivl_apply_rope(x, &f[5][0][0], 1, 1, 8);
    const float want[8] = {-0.41614684f, 0.90929743f, -0.84147098f, 0.54030231f,
                           0.97980134f,  1.01979868f, 2.00989983f,  -0.97995033f};
    for (int i = 0; i < 8; i++) assert_true(fabsf(x[i] - want[i]) < 2e-6f);

    /* the same cis turns every head: two heads at row 6 (angle 0) stay as they are */
    float y[16];
    for (int i = 0; i < 16; i++) y[i] = (float)i - 7.5f;
    float y0[16];
    memcpy(y0, y, sizeof y);
    vt_kimivl_apply_rope(y, &f[6][0][0], 1, 2, 8);
    assert_memory_equal(y, y0, sizeof y);

    /* a grid outside the 512x512 table is refused */
    const int64_t big[2] = {1, 513};
    float g[513 * 4];
    assert_int_equal(vt_kimivl_rope_freqs_cis(g, big, 1, 513, 8, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "image_grid_hws"));
}

static vt_preproc_config kimi_pre(int64_t limit)
{
    vt_preproc_config p = {.present = 1, .patch_size = 14, .merge_size = 2, .in_token_limit = limit, .pad_input = 1};
    for (int c = 0; c < 3; c++) p.image_mean[c] = p.image_std[c] = 0.5f;
    return p;
}

/* the sizes of both golden cases, worked out from the rule */
static void test_kimivl_rescale_sizes(void **state)
{
    (void)state;
    vt_status st = {0};
    vt_preproc_config p = kimi_pre(64);
    int rw, rh, pw, ph;
    /* 150x123: (150//14)*(123//14) = 10*8 = 80 > 64, s = sqrt(64/80) = 0.894427..;
     * int(150 s) = int(134.16) = 134, int(123 s) = int(110.01) = 110; padded to 140 x 112 */
    assert_int_equal(vt_kimivl_rescale_size(150, 123, &p, &rw, &rh, &pw, &ph, &st), 0);
    assert_int_equal(rw, 134);
    assert_int_equal(rh, 110);
    assert_int_equal(pw, 140);
    assert_int_equal(ph, 112);
    /* 75x130: 5*9 = 45 <= 64, no resize; padded to 84 x 140 */
    assert_int_equal(vt_kimivl_rescale_size(75, 130, &p, &rw, &rh, &pw, &ph, &st), 0);
    assert_true(rw == 75 && rh == 130 && pw == 84 && ph == 140);
    /* 112x112: 8*8 = 64 is not > 64 and already a multiple of 28 */
    assert_int_equal(vt_kimivl_rescale_size(112, 112, &p, &rw, &rh, &pw, &ph, &st), 0);
    assert_true(rw == 112 && rh == 112 && pw == 112 && ph == 112);
    /* smaller than a patch: padded up to one merge block */
    assert_int_equal(vt_kimivl_rescale_size(5, 3, &p, &rw, &rh, &pw, &ph, &st), 0);
    assert_true(pw == 28 && ph == 28);

    /* "Exceed pos emb": 7168 px = 512 patches per side is refused, 7140 (510 after padding) is not */
    vt_preproc_config big = kimi_pre((int64_t)1 << 40);
    assert_int_equal(vt_kimivl_rescale_size(7140, 28, &big, &rw, &rh, &pw, &ph, &st), 0);
    assert_int_equal(vt_kimivl_rescale_size(7168, 28, &big, &rw, &rh, &pw, &ph, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "512"));
    p.pad_input = 0;
    assert_int_equal(vt_kimivl_rescale_size(150, 123, &p, &rw, &rh, &pw, &ph, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "pad_input"));
    vt_preproc_config z = kimi_pre(0);
    assert_int_equal(vt_kimivl_rescale_size(150, 123, &z, &rw, &rh, &pw, &ph, &st), VT_EINPUT);
    assert_int_equal(vt_kimivl_rescale_size(0, 10, &p, &rw, &rh, &pw, &ph, &st), VT_EINPUT);
}

/* a 2x4 grid with D = 1 holding its own row-major index:
 *     0 1 2 3
 *     4 5 6 7
 * merges into two tokens, sub-tokens in (kh, kw) order (0,0), (0,1), (1,0), (1,1): [0 1 4 5], [2 3 6 7].
 * A second image (2x2 holding 8..11) follows as one token [8 9 10 11]. */
static void test_kimivl_patch_merger_order(void **state)
{
    (void)state;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    vt_tensor x = vt_tensor_of(VT_F32, v, VT_DIMS(12, 1)), out;
    const int64_t grid[4] = {2, 4, 2, 2};
    assert_int_equal(vt_kimivl_patch_merger(&out, &x, grid, 2, 2, 2, &a, &st), 0);
    assert_int_equal(out.ndim, 3);
    assert_true(out.shape[0] == 3 && out.shape[1] == 4 && out.shape[2] == 1);
    const float want[12] = {0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 10, 11};
    assert_memory_equal(out.data, want, sizeof want);
    vt_arena_free(&a);
}

/* the mask the reference builds, and attention through it equal to the segment walk bit for bit */
static void test_kimivl_mask_path_equals_segments(void **state)
{
    (void)state;
    enum { N = 7, H = 2, HD = 4, D = H * HD };
    const int32_t cu[3] = {0, 4, 7};
    float mask[N * N];
    vt_kimivl_sdpa_mask(mask, cu, 2, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int same = (i < 4) == (j < 4);
            assert_true(same ? mask[i * N + j] == 0.0f : mask[i * N + j] == -INFINITY);
        }
    float qkv[N * 3 * D];
    unsigned s = 12345;
    for (int i = 0; i < N * 3 * D; i++) {
        s = s * 1103515245u + 12345u;
        qkv[i] = (float)((s >> 9) % 2001) / 1000.0f - 1.0f;
    }
    vt_heads q = {qkv, 3 * D, HD}, k = {qkv + D, 3 * D, HD}, v = {qkv + 2 * D, 3 * D, HD};
    float o1[N * D], o2[N * D];
    assert_int_equal(vt_attention_segments(o1, q, k, v, N, H, HD, cu, 2, 0.5f), 0);
    assert_int_equal(vt_attention_masked(o2, q, k, v, N, N, H, HD, mask, 0.5f), 0);
    assert_memory_equal(o1, o2, sizeof o1);
}

/* inputs the model cannot take are refused before any weight is touched */
static void test_kimivl_forward_rejects_bad_inputs(void **state)
{
    (void)state;
    vt_kimivl_config c = {.patch_size = 14, .num_attention_heads = 4, .num_hidden_layers = 2, .hidden_size = 64,
                          .intermediate_size = 128, .init_pos_emb_height = 8, .init_pos_emb_width = 8,
                          .merge_kernel_size = {2, 2}, .text_hidden_size = 48};
    vt_kimivl_model m;
    memset(&m, 0, sizeof m);
    m.cfg = c;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    static float px[12 * 3 * 14 * 14];
    vt_tensor pv = vt_tensor_of(VT_F32, px, VT_DIMS(12, 3, 14, 14)), out;
    int64_t g1[2] = {3, 4}; /* 3 rows do not merge 2x2 */
    vt_tensor grid = vt_tensor_of(VT_I64, g1, VT_DIMS(1, 2));
    assert_int_equal(vt_kimivl_forward(&out, &m, &pv, &grid, VT_ATTN_SEGMENTS, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "merge kernel"));
    int64_t g2[2] = {2, 4}; /* 8 patches, pixel_values has 12 */
    grid = vt_tensor_of(VT_I64, g2, VT_DIMS(1, 2));
    assert_int_equal(vt_kimivl_forward(&out, &m, &pv, &grid, VT_ATTN_SEGMENTS, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "12"));
    vt_tensor pv2 = vt_tensor_of(VT_F32, px, VT_DIMS(12, 3, 14, 13)); /* not 14x14 patches */
    assert_int_equal(vt_kimivl_forward(&out, &m, &pv2, &grid, VT_ATTN_SEGMENTS, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "pixel_values"));
    m.cfg.num_attention_heads = 32; /* head_dim 64 / 32 = 2 cannot be split into (w, h) complex pairs */
    assert_int_equal(vt_kimivl_forward(&out, &m, &pv, &grid, VT_ATTN_SEGMENTS, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "divisible by 4"));
    vt_arena_free(&a);
}

/* ============================ golden, through the CLI ============================ */

static void run_and_diff(const char *case_dir, const char *images, const char *extra)
{
    char tmp[64], out[8192];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "run --model %s %s --trace %s %s", case_dir, images, tmp, extra);
    if (rc != 0) fail_msg("vlmtrace run -> %d: %s", rc, out);
    assert_dirs_match(tmp, case_dir);
    vt_test_rmtree(tmp);
}

static void test_kimivl_golden_image(void **state)
{
    (void)state;
    run_and_diff(IMAGE_CASE, "--image " IMAGE_CASE "/image0.png", "");
}

static void test_kimivl_golden_multi(void **state)
{
    (void)state;
    run_and_diff(MULTI_CASE, "--image " MULTI_CASE "/image0.png --image " MULTI_CASE "/image1.png", "");
}

/* the teaching path (the reference's explicit mask) passes the same diff */
static void test_kimivl_golden_multi_literal_mask(void **state)
{
    (void)state;
    run_and_diff(MULTI_CASE, "--image " MULTI_CASE "/image0.png --image " MULTI_CASE "/image1.png", "--attn literal");
}

/* --viz: one picture per image and the attention mask, listed in the manifest; the tensors unchanged */
static void test_kimivl_viz_pictures(void **state)
{
    (void)state;
    char tmp[64], out[4096];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image0.png --image %s/image1.png --trace %s --viz",
                         MULTI_CASE, MULTI_CASE, MULTI_CASE, tmp);
    if (rc != 0) fail_msg("vlmtrace run --viz -> %d: %s", rc, out);
    vt_manifest m;
    vt_status st = {0};
    assert_int_equal(vt_manifest_read(&m, tmp, &st), 0);
    assert_int_equal(m.n_pictures, 3);
    const char *want[3] = {"image.0.patches.png", "image.1.patches.png", "vision_tower.encoder.attn_mask.png"};
    for (int i = 0; i < 3; i++) {
        char path[256];
        assert_string_equal(m.pictures[i], want[i]);
        snprintf(path, sizeof path, "%s/%s", tmp, want[i]);
        FILE *f = fopen(path, "rb");
        unsigned char sig[8] = {0};
        assert_non_null(f);
        assert_int_equal(fread(sig, 1, 8, f), 8);
        fclose(f);
        assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    }
    vt_manifest_free(&m);
    assert_dirs_match(tmp, MULTI_CASE);
    vt_test_rmtree(tmp);
}

/* --out holds multi_modal_projector, and the thread count does not change a bit of it */
static void test_kimivl_out_and_threads(void **state)
{
    (void)state;
    char tmp[64], out[4096], p1[128], p2[128];
    vt_test_tmpdir(tmp);
    snprintf(p1, sizeof p1, "%s/t1.npy", tmp);
    snprintf(p2, sizeof p2, "%s/t2.npy", tmp);
    const char *imgs = "--image " MULTI_CASE "/image0.png --image " MULTI_CASE "/image1.png";
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s %s --threads 1 --out %s", MULTI_CASE, imgs, p1), 0);
    assert_int_equal(vt_test_cli(out, sizeof out, "run --model %s %s --threads 2 --out %s", MULTI_CASE, imgs, p2), 0);
    vt_tensor a, b, ref;
    void *oa, *ob, *oref;
    vt_status st = {0};
    assert_int_equal(vt_npy_read(p1, &a, &oa, &st), 0);
    assert_int_equal(vt_npy_read(p2, &b, &ob, &st), 0);
    vt_test_load_golden(MULTI_CASE, "multi_modal_projector", &ref, &oref);
    assert_tensor_close(&a, &ref, "multi_modal_projector (--out)");
    assert_int_equal(vt_nbytes(&a), vt_nbytes(&b));
    assert_memory_equal(a.data, b.data, vt_nbytes(&a));
    free(oa);
    free(ob);
    free(oref);
    vt_test_rmtree(tmp);
}

/* ================================ bad input ================================ */

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) fail_msg("cannot read %s", path);
    fclose(f);
    ((char *)buf)[len] = 0;
    *n = (size_t)len;
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    void *b = read_all(from, &n);
    vt_test_write_file(to, b, n);
    free(b);
}

/* A model directory in dir: the golden config (with `edit` applied to vision_config when given), its
 * preprocessor config, and the golden checkpoint minus every tensor whose name starts with `drop`. */
static void make_model_dir(const char *dir, const char *vision_key, int vision_value, const char *drop)
{
    char path[256];
    size_t n;
    char *cfg = read_all(IMAGE_CASE "/config.json", &n);
    cJSON *j = cJSON_Parse(cfg);
    if (vision_key) cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "vision_config"), vision_key,
                                              cJSON_CreateNumber(vision_value));
    char *text = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/config.json", dir);
    vt_test_write_file(path, text, strlen(text));
    free(text);
    cJSON_Delete(j);
    free(cfg);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    copy_file(IMAGE_CASE "/preprocessor_config.json", path);

    /* safetensors: u64 header length, JSON header, data; rebuilt with the kept tensors packed in order */
    unsigned char *st = read_all(IMAGE_CASE "/model.safetensors", &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | st[i];
    char *hjson = malloc(hl + 1);
    memcpy(hjson, st + 8, hl);
    hjson[hl] = 0;
    cJSON *h = cJSON_Parse(hjson), *out = cJSON_CreateObject();
    unsigned char *data = malloc(n);
    size_t used = 0;
    for (cJSON *e = h->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__") || (drop && !strncmp(e->string, drop, strlen(drop)))) continue;
        cJSON *off = cJSON_GetObjectItem(e, "data_offsets");
        size_t a = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        memcpy(data + used, st + 8 + hl + a, b - a);
        cJSON *t = cJSON_Duplicate(e, 1);
        cJSON *no = cJSON_CreateArray();
        cJSON_AddItemToArray(no, cJSON_CreateNumber((double)used));
        cJSON_AddItemToArray(no, cJSON_CreateNumber((double)(used + b - a)));
        cJSON_ReplaceItemInObject(t, "data_offsets", no);
        cJSON_AddItemToObject(out, e->string, t);
        used += b - a;
    }
    char *oh = cJSON_PrintUnformatted(out);
    size_t ohl = strlen(oh);
    unsigned char *file = malloc(8 + ohl + used);
    for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)ohl >> (8 * i));
    memcpy(file + 8, oh, ohl);
    memcpy(file + 8 + ohl, data, used);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    vt_test_write_file(path, file, 8 + ohl + used);
    free(file);
    free(oh);
    free(data);
    cJSON_Delete(out);
    cJSON_Delete(h);
    free(hjson);
    free(st);
}

static void expect_input_error(const char *dir, const char *extra, const char *needle)
{
    char out[4096];
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image " IMAGE_CASE "/image0.png %s", dir, extra);
    if (rc != 2 || !strstr(out, needle) || vt_test_lines(out) != 1)
        fail_msg("expected exit 2 and one line naming '%s'; got %d: %s", needle, rc, out);
}

static void test_kimivl_bad_checkpoint_missing_block(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    make_model_dir(tmp, NULL, 0, "vision_tower.encoder.blocks.1.");
    expect_input_error(tmp, "", "vision_tower.encoder.blocks.1.");
    vt_test_rmtree(tmp);
}

static void test_kimivl_bad_config_contradicts_weights(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    make_model_dir(tmp, "hidden_size", 32, NULL); /* the checkpoint is 64 wide */
    expect_input_error(tmp, "", "vision_tower.patch_embed.proj.weight");
    make_model_dir(tmp, "num_hidden_layers", 3, NULL); /* there is no block 2 */
    expect_input_error(tmp, "", "vision_tower.encoder.blocks.2.");
    make_model_dir(tmp, "init_pos_emb_height", 9, NULL); /* the table is 8x8 */
    expect_input_error(tmp, "", "vision_tower.patch_embed.pos_emb.weight");
    vt_test_rmtree(tmp);
}

static void test_kimivl_bad_flags(void **state)
{
    (void)state;
    expect_input_error(IMAGE_CASE, "--video " IMAGE_CASE "/image0.png", "images only");
    expect_input_error(IMAGE_CASE, "--max-pixels 1000", "in_token_limit");
    expect_input_error(IMAGE_CASE, "--image /nonexistent/kimi.png", "/nonexistent/kimi.png");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kimivl_rope_complex_pairs_by_hand),
        cmocka_unit_test(test_kimivl_rescale_sizes),
        cmocka_unit_test(test_kimivl_patch_merger_order),
        cmocka_unit_test(test_kimivl_mask_path_equals_segments),
        cmocka_unit_test(test_kimivl_forward_rejects_bad_inputs),
        cmocka_unit_test(test_kimivl_golden_image),
        cmocka_unit_test(test_kimivl_golden_multi),
        cmocka_unit_test(test_kimivl_golden_multi_literal_mask),
        cmocka_unit_test(test_kimivl_viz_pictures),
        cmocka_unit_test(test_kimivl_out_and_threads),
        cmocka_unit_test(test_kimivl_bad_checkpoint_missing_block),
        cmocka_unit_test(test_kimivl_bad_config_contradicts_weights),
        cmocka_unit_test(test_kimivl_bad_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
