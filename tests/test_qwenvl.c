/* test_qwenvl.c -- Qwen-VL (v1): both golden cases end to end through `vlmtrace run` + `vlmtrace diff`,
 * each stage fed the golden input of that stage, the 2D sin-cos table and get_abs_pos by hand, the in_proj
 * layout (a global q|k|v split must fail against the golden data), a batch of two images, --viz, bad input. */
#include "vt_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/arena.h"
#include "model/model.h"
#include "io/fileio.h"
#include "format/manifest.h"
#include "format/npy.h"
#include "core/ops.h"
#include "qwenvl/qwenvl.h"
#include "io/safetensors.h"

#define CASE_IMAGE VT_GOLDEN("qwenvl-image")
#define CASE_ABSPOS VT_GOLDEN("qwenvl-abspos")

/* ================================ golden cases end to end ================================ */

static void run_and_diff(const char *case_dir)
{
    char tmp[64], out[8192];
    vt_test_tmpdir(tmp);
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image0.png --trace %s/trace", case_dir, case_dir, tmp);
    if (rc != 0) fail_msg("run on %s exited %d:\n%s", case_dir, rc, out);
    char trace[128];
    snprintf(trace, sizeof trace, "%s/trace", tmp);
    assert_dirs_match(trace, case_dir);
    /* and through the command line too: exit 0 and no tensor reported missing */
    rc = vt_test_cli(out, sizeof out, "diff %s %s", trace, case_dir);
    if (rc != 0) fail_msg("vlmtrace diff %s %s exited %d:\n%s", trace, case_dir, rc, out);
    vt_test_rmtree(tmp);
}

static void test_qwenvl_golden_image(void **state)
{
    (void)state;
    run_and_diff(CASE_IMAGE);
}

static void test_qwenvl_golden_abspos(void **state)
{
    (void)state;
    run_and_diff(CASE_ABSPOS);
}

/* ================================ stages from golden inputs ================================ */

/* A tap that compares every tensor it is given with the golden one of the same name (when the case has it). */
typedef struct cmp_tap {
    const char *case_dir;
    vt_manifest m;
    int compared;
} cmp_tap;

static int cmp_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    (void)st;
    cmp_tap *c = ctx;
    const vt_manifest_entry *e = vt_manifest_find(&c->m, name);
    if (!e) return VT_OK;
    vt_tensor ref;
    void *owned;
    vt_status ls = {0};
    if (vt_manifest_load(&c->m, e, &ref, &owned, &ls)) fail_msg("%s", ls.msg);
    assert_tensor_close(t, &ref, name);
    free(owned);
    c->compared++;
    return VT_OK;
}

static void load_model(vt_qwenvl_model *m, const char *case_dir)
{
    static vt_model_config cfg;
    vt_status st = {0};
    vt_checkpoint ck;
    if (vt_config_load(&cfg, case_dir, &st)) fail_msg("%s", st.msg);
    assert_int_equal(cfg.family, VT_FAMILY_QWENVL);
    if (vt_checkpoint_open(&ck, case_dir, &st)) fail_msg("%s", st.msg);
    if (vt_qwenvl_load(m, &cfg.qwenvl, &ck, &st)) fail_msg("%s", st.msg);
    vt_checkpoint_close(&ck);
}

/* Each stage starts from the golden tensor before it, so an error cannot hide behind an earlier one:
 * normalized -> embed (conv1 ... ln_pre); golden resblocks.{i-1} -> resblock i; golden transformer ->
 * resampler. */
static void test_qwenvl_stages_from_golden_inputs(void **state)
{
    (void)state;
    vt_qwenvl_model m;
    load_model(&m, CASE_IMAGE);
    cmp_tap c = {CASE_IMAGE, {0}, 0};
    vt_status st = {0};
    if (vt_manifest_read(&c.m, CASE_IMAGE, &st)) fail_msg("%s", st.msg);
    vt_tap tap = {cmp_emit, NULL, NULL, &c};
    vt_arena a;
    vt_arena_init(&a, 0);

    vt_tensor px, x, lnd, pooled;
    void *o_px, *o_blk, *o_tr;
    vt_test_load_golden(CASE_IMAGE, "image.0.normalized", &px, &o_px);
    assert_int_equal(vt_reshape(&px, VT_DIMS(1, 3, m.c.image_size, m.c.image_size), &st), 0);
    assert_int_equal(vt_qwenvl_embed(&x, &m, &px, &tap, &a, &st), 0);
    assert_int_equal(c.compared, 4); /* conv1, abs_pos, embeddings, ln_pre */
    for (int i = 0; i < m.c.layers; i++) {
        char name[VT_NAME_MAX];
        if (i == 0) snprintf(name, sizeof name, "transformer.visual.ln_pre");
        else snprintf(name, sizeof name, "transformer.visual.transformer.resblocks.%d", i - 1);
        vt_test_load_golden(CASE_IMAGE, name, &lnd, &o_blk);
        assert_int_equal(vt_reshape(&lnd, VT_DIMS(64, 1, m.c.width), &st), 0); /* [1, L, W] == [L, 1, W] */
        int before = c.compared;
        assert_int_equal(vt_qwenvl_resblock(&lnd, &m, i, &tap, &a, &st), 0);
        assert_int_equal(c.compared - before, 9); /* ln_1, in_proj, attn.out, attn, ln_2, c_fc, gelu, mlp, block */
        free(o_blk);
    }
    vt_test_load_golden(CASE_IMAGE, "transformer.visual.transformer", &x, &o_tr);
    assert_int_equal(vt_reshape(&x, VT_DIMS(1, 64, m.c.width), &st), 0);
    int before = c.compared;
    assert_int_equal(vt_qwenvl_resampler(&pooled, &m, &x, &tap, &a, &st), 0);
    assert_int_equal(c.compared - before, 10); /* abs_pos, kv_proj, ln_kv, ln_q, pos_embed, query_in, key_in,
                                                  attn, attn.weights, attn_pool */
    free(o_tr);
    free(o_px);
    vt_arena_free(&a);
    vt_manifest_free(&c.m);
    vt_qwenvl_free(&m);
}

/* ================================ the 2D sin-cos table ================================ */

/* D = 8, grid 3: omega = [1, 10000^(-1/2)] = [1, 0.01]; row r = (y, x) = (r / 3, r % 3);
 * row = [sin(x), sin(x/100), cos(x), cos(x/100) | sin(y), sin(y/100), cos(y), cos(y/100)]. */
static void test_qwenvl_sincos_by_hand(void **state)
{
    (void)state;
    float t[9 * 8];
    vt_qwenvl_sincos_2d(t, 8, 3);
    /* row 0 = (0, 0): sin 0 = 0, cos 0 = 1 in both halves */
    const float row0[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    /* row 5 = (y 1, x 2) */
    const float row5[8] = {0.909297427f, 0.019998667f, -0.416146837f, 0.999800007f,
                           0.841470985f, 0.009999833f, 0.540302306f, 0.999950000f};
    /* row 7 = (y 2, x 1): the halves of row 5 swapped */
    const float row7[8] = {0.841470985f, 0.009999833f, 0.540302306f, 0.999950000f,
                           0.909297427f, 0.019998667f, -0.416146837f, 0.999800007f};
    for (int j = 0; j < 8; j++) {
        assert_float_equal(t[0 * 8 + j], row0[j], 1e-6);
        assert_float_equal(t[5 * 8 + j], row5[j], 1e-6);
        assert_float_equal(t[7 * 8 + j], row7[j], 1e-6);
    }
}

/* The builder reproduces the stored attn_pool.pos_embed (get_2d_sincos_pos_embed(256, 4)). */
static void test_qwenvl_sincos_matches_checkpoint_table(void **state)
{
    (void)state;
    vt_tensor ref;
    void *owned;
    vt_test_load_golden(CASE_IMAGE, "transformer.visual.attn_pool.pos_embed", &ref, &owned);
    float *t = malloc(16 * 256 * sizeof(float));
    assert_non_null(t);
    vt_qwenvl_sincos_2d(t, 256, 4);
    vt_tensor ours = vt_tensor_of(VT_F32, t, VT_DIMS(16, 256));
    assert_tensor_close(&ours, &ref, "attn_pool.pos_embed (built)");
    free(t);
    free(owned);
}

/* ================================ get_abs_pos by hand ================================ */

/* A 2x2 table (4 rows, 2 channels) to 3x3 with torch's bicubic, A = -0.75, align_corners False:
 * per axis the three outputs sample the source at -1/6, 1/2, 7/6, and with the clamped taps the weights
 * on (a, b) are (313, -25)/288, (144, 144)/288, (-25, 313)/288. Channel 0 is a one at (0, 0), so
 * out[y][x] = w[y][0] * w[x][0]; channel 1 is constant 5 and stays 5. */
static void test_qwenvl_get_abs_pos_by_hand(void **state)
{
    (void)state;
    const float table[4 * 2] = {1, 5, 0, 5, 0, 5, 0, 5}; /* rows (y, x) = (0,0) (0,1) (1,0) (1,1) */
    const double w0[3] = {313.0 / 288, 144.0 / 288, -25.0 / 288};
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_status st = {0};
    vt_tensor out;
    assert_int_equal(vt_qwenvl_get_abs_pos(&out, table, 4, 2, 9, &a, &st), 0);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.shape[0], 9);
    assert_int_equal(out.shape[1], 2);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) {
            assert_float_equal(vt_f32(&out)[(y * 3 + x) * 2 + 0], w0[y] * w0[x], 1e-6);
            assert_float_equal(vt_f32(&out)[(y * 3 + x) * 2 + 1], 5.0, 1e-5);
        }
    /* the same size: returned unchanged */
    assert_int_equal(vt_qwenvl_get_abs_pos(&out, table, 4, 2, 4, &a, &st), 0);
    assert_memory_equal(out.data, table, sizeof table);
    vt_arena_free(&a);
}

/* ================================ the in_proj layout ================================ */

/* softmax(q/sqrt(hd) k^T) v over the golden in_proj output [L, 1, 3W] with q, k, v read at `q0, k0, v0`
 * (column offsets within a row) and heads `head_stride` apart. */
static void attend(float *out, const float *qkv, int64_t L, int64_t H, int64_t hd, int64_t q0, int64_t k0,
                   int64_t v0, int64_t head_stride)
{
    const int64_t W = H * hd;
    float *qs = malloc((size_t)(L * W) * sizeof(float));
    assert_non_null(qs);
    for (int64_t l = 0; l < L; l++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t d = 0; d < hd; d++)
                qs[(l * H + h) * hd + d] = qkv[l * 3 * W + q0 + h * head_stride + d] / (float)sqrt((double)hd);
    vt_heads q = {qs, W, hd}, k = {qkv + k0, 3 * W, head_stride}, v = {qkv + v0, 3 * W, head_stride};
    assert_int_equal(vt_attention_masked(out, q, k, v, L, L, H, hd, NULL, 1.0f), 0);
    free(qs);
}

/* The golden attn.out follows from the golden in_proj with the per-head [head][q|k|v][hd] split, and a
 * global [q|k|v][head][hd] split (nn.MultiheadAttention's) is far off: the golden data can tell them apart. */
static void test_qwenvl_in_proj_per_head_split(void **state)
{
    (void)state;
    const int64_t L = 64, H = 4, W = 32, hd = W / H;
    vt_tensor qkv, ref;
    void *o_qkv, *o_ref;
    for (int i = 0; i < 2; i++) {
        char name[VT_NAME_MAX];
        snprintf(name, sizeof name, "transformer.visual.transformer.resblocks.%d.attn.in_proj", i);
        vt_test_load_golden(CASE_IMAGE, name, &qkv, &o_qkv);
        snprintf(name, sizeof name, "transformer.visual.transformer.resblocks.%d.attn.out", i);
        vt_test_load_golden(CASE_IMAGE, name, &ref, &o_ref);
        float out[64 * 32];
        vt_tensor ours = vt_tensor_of(VT_F32, out, VT_DIMS(L, 1, W));

        attend(out, vt_f32(&qkv), L, H, hd, 0, hd, 2 * hd, 3 * hd); /* per head: [h*3hd | +hd | +2hd] */
        assert_tensor_close(&ours, &ref, name);

        attend(out, vt_f32(&qkv), L, H, hd, 0, W, 2 * W, hd); /* global: [0, W) q, [W, 2W) k, [2W, 3W) v */
        vt_cmp_opts o = {VT_DEFAULT_ATOL, VT_DEFAULT_RTOL};
        vt_cmp_result r;
        vt_compare(&ours, &ref, &o, &r);
        assert_false(r.pass);
        assert_true(r.max_abs > 0.1);
        free(o_qkv);
        free(o_ref);
    }
}

/* ================================ a batch of two images ================================ */

/* encode([a, b]) stacks the two images into one batch; each item must equal its own single-image run
 * bit for bit (nothing mixes across the batch). */
static void test_qwenvl_batch_of_two_equals_singles(void **state)
{
    (void)state;
    char tmp[64], out[4096], p[160];
    vt_test_tmpdir(tmp);
    const char *img[2] = {CASE_IMAGE "/image0.png", CASE_ABSPOS "/image0.png"};
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s --image %s --out %s/both.npy", CASE_IMAGE, img[0],
                         img[1], tmp);
    if (rc) fail_msg("run exited %d: %s", rc, out);
    vt_tensor both, one;
    void *o_both, *o_one;
    vt_status st = {0};
    snprintf(p, sizeof p, "%s/both.npy", tmp);
    if (vt_npy_read(p, &both, &o_both, &st)) fail_msg("%s", st.msg);
    assert_int_equal(both.ndim, 3);
    assert_int_equal(both.shape[0], 2);
    assert_int_equal(both.shape[1], 16);
    assert_int_equal(both.shape[2], 256);
    for (int k = 0; k < 2; k++) {
        rc = vt_test_cli(out, sizeof out, "run --model %s --image %s --out %s/one%d.npy", CASE_IMAGE, img[k], tmp, k);
        if (rc) fail_msg("run exited %d: %s", rc, out);
        snprintf(p, sizeof p, "%s/one%d.npy", tmp, k);
        if (vt_npy_read(p, &one, &o_one, &st)) fail_msg("%s", st.msg);
        assert_int_equal(one.shape[0], 1);
        assert_memory_equal(vt_f32(&both) + k * 16 * 256, one.data, 16 * 256 * sizeof(float));
        free(o_one);
    }
    /* and item 0 of the batch is the golden output of its image */
    vt_tensor ref;
    void *o_ref;
    vt_test_load_golden(CASE_IMAGE, "transformer.visual", &ref, &o_ref);
    vt_tensor first = vt_tensor_of(VT_F32, both.data, VT_DIMS(1, 16, 256));
    assert_tensor_close(&first, &ref, "transformer.visual (batch item 0)");
    free(o_ref);
    free(o_both);
    vt_test_rmtree(tmp);
}

/* ================================ --viz ================================ */

/* --viz adds one picture per image to the manifest and changes no tensor; with --only excluding the
 * tensors it draws from, they are still computed for the picture but not written. */
static void test_qwenvl_viz(void **state)
{
    (void)state;
    char tmp[64], out[4096], dir[128];
    vt_test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/t", tmp);
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image0.png --trace %s --viz", CASE_IMAGE,
                         CASE_IMAGE, dir);
    if (rc) fail_msg("run --viz exited %d: %s", rc, out);
    assert_dirs_match(dir, CASE_IMAGE);
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, dir, &st)) fail_msg("%s", st.msg);
    assert_int_equal(m.n_pictures, 1);
    vt_manifest_free(&m);

    snprintf(dir, sizeof dir, "%s/o", tmp);
    rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image0.png --image %s/image0.png --trace %s --viz "
                     "--only 'transformer.visual'", CASE_IMAGE, CASE_IMAGE, CASE_ABSPOS, dir);
    if (rc) fail_msg("run --viz --only exited %d: %s", rc, out);
    if (vt_manifest_read(&m, dir, &st)) fail_msg("%s", st.msg);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.n_pictures, 2);
    for (int k = 0; k < 2; k++) {
        char png[256];
        snprintf(png, sizeof png, "%s/%s", dir, m.pictures[k]);
        assert_non_null(strstr(png, "transformer.visual.attn_pool.attn.weights."));
        FILE *f = fopen(png, "rb");
        assert_non_null(f);
        unsigned char sig[8] = {0};
        assert_int_equal(fread(sig, 1, 8, f), 8);
        fclose(f);
        assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    }
    vt_manifest_free(&m);
    vt_test_rmtree(tmp);
}

/* ================================ bad input ================================ */

/* Copy the golden checkpoint to dir/model.safetensors without the tensors whose names contain `drop`. */
static void write_checkpoint_without(const char *dir, const char *drop)
{
    void *buf;
    size_t len;
    vt_status st = {0};
    if (vt_read_file(CASE_IMAGE "/model.safetensors", &buf, &len, 64u << 20, &st)) fail_msg("%s", st.msg);
    const uint8_t *b = buf;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, (size_t)n);
    assert_non_null(h);
    cJSON *out = cJSON_CreateObject();
    size_t data_len = 0;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    for (cJSON *e = h->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__") || strstr(e->string, drop)) continue;
        cJSON *offs = cJSON_GetObjectItem(e, "data_offsets");
        size_t s0 = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble, s1 = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        memcpy(data + data_len, b + 8 + n + s0, s1 - s0);
        cJSON *t = cJSON_Duplicate(e, 1);
        cJSON *no = cJSON_CreateArray();
        cJSON_AddItemToArray(no, cJSON_CreateNumber((double)data_len));
        cJSON_AddItemToArray(no, cJSON_CreateNumber((double)(data_len + s1 - s0)));
        cJSON_ReplaceItemInObject(t, "data_offsets", no);
        cJSON_AddItemToObject(out, e->string, t);
        data_len += s1 - s0;
    }
    char *hs = cJSON_PrintUnformatted(out);
    size_t hl = strlen(hs);
    size_t total = 8 + hl + data_len;
    uint8_t *file = malloc(total);
    assert_non_null(file);
    for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(file + 8, hs, hl);
    memcpy(file + 8 + hl, data, data_len);
    char path[160];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    vt_test_write_file(path, file, total);
    free(file);
    free(hs);
    free(data);
    cJSON_Delete(out);
    cJSON_Delete(h);
    free(buf);
}

/* The golden config.json with visual.<field> set to value. */
static void write_config(const char *dir, const char *field, int value)
{
    void *buf;
    size_t len;
    vt_status st = {0};
    if (vt_read_file(CASE_IMAGE "/config.json", &buf, &len, 1u << 20, &st)) fail_msg("%s", st.msg);
    cJSON *c = cJSON_Parse(buf);
    assert_non_null(c);
    if (field) cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "visual"), field, cJSON_CreateNumber(value));
    char *s = cJSON_Print(c);
    char path[160];
    snprintf(path, sizeof path, "%s/config.json", dir);
    vt_test_write_file(path, s, strlen(s));
    free(s);
    cJSON_Delete(c);
    free(buf);
}

/* A checkpoint without attn_pool.pos_embed: the reference (loaded non-strictly) keeps the table its
 * constructor built, and so do we (vt_qwenvl_sincos_2d); every golden tensor still matches. */
static void test_qwenvl_checkpoint_without_pos_embed(void **state)
{
    (void)state;
    char tmp[64], out[4096], trace[128];
    vt_test_tmpdir(tmp);
    write_config(tmp, NULL, 0);
    write_checkpoint_without(tmp, "attn_pool.pos_embed");
    snprintf(trace, sizeof trace, "%s/trace", tmp);
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image0.png --trace %s", tmp, CASE_IMAGE, trace);
    if (rc) fail_msg("run exited %d: %s", rc, out);
    assert_dirs_match(trace, CASE_IMAGE);
    vt_test_rmtree(tmp);
}

/* run on dir; expect exit 2 and one line containing `want`. */
static void expect_input_error(const char *dir, const char *extra, const char *want)
{
    char out[4096];
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s/image0.png %s", dir, CASE_IMAGE, extra);
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, want))
        fail_msg("expected exit 2 and one line with '%s'; got %d:\n%s", want, rc, out);
}

static void test_qwenvl_bad_input(void **state)
{
    (void)state;
    char tmp[64];
    vt_test_tmpdir(tmp);
    /* a checkpoint missing resblock 1 */
    write_config(tmp, NULL, 0);
    write_checkpoint_without(tmp, "resblocks.1.");
    expect_input_error(tmp, "", "resblocks.1.");
    /* config.json says 3 layers, the weights have 2 */
    write_checkpoint_without(tmp, "no-such-key");
    write_config(tmp, "layers", 3);
    expect_input_error(tmp, "", "resblocks.2.");
    /* config.json says 1 layer, the weights have 2 */
    write_config(tmp, "layers", 1);
    expect_input_error(tmp, "", "more resblocks than");
    /* config.json's width disagrees with the weights' shapes */
    write_config(tmp, "width", 64);
    expect_input_error(tmp, "", "conv1.weight");
    /* a video, and pixel bounds that Qwen-VL has no use for */
    write_config(tmp, NULL, 0);
    expect_input_error(tmp, "--video " CASE_IMAGE "/image0.png," CASE_IMAGE "/image0.png", "images only");
    expect_input_error(tmp, "--max-pixels 1000", "image_size");
    /* an image that is not one */
    char out[4096], path[160];
    snprintf(path, sizeof path, "%s/bad.png", tmp);
    vt_test_write_file(path, "not a png", 9);
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s", tmp, path);
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, "bad.png")) fail_msg("bad image: %d %s", rc, out);
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwenvl_sincos_by_hand),
        cmocka_unit_test(test_qwenvl_sincos_matches_checkpoint_table),
        cmocka_unit_test(test_qwenvl_get_abs_pos_by_hand),
        cmocka_unit_test(test_qwenvl_in_proj_per_head_split),
        cmocka_unit_test(test_qwenvl_stages_from_golden_inputs),
        cmocka_unit_test(test_qwenvl_golden_image),
        cmocka_unit_test(test_qwenvl_golden_abspos),
        cmocka_unit_test(test_qwenvl_batch_of_two_equals_singles),
        cmocka_unit_test(test_qwenvl_viz),
        cmocka_unit_test(test_qwenvl_checkpoint_without_pos_embed),
        cmocka_unit_test(test_qwenvl_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
