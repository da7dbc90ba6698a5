/* test_safetensors.c -- the checkpoint reader: golden checkpoints byte for byte, shards, prefixes, the
 * conversions, the weight binder, and every malformed header the reader must refuse. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

/* ---- fixtures ---- */

/* Write a safetensors file: 8-byte little-endian header length, the header text, then the data. */
static void write_st(const char *path, const char *header, const void *data, size_t n)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + n + 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n) memcpy(buf + 8 + hl, data, n);
    vt_test_write_file(path, buf, 8 + hl + n);
    free(buf);
}

static void write_text(const char *path, const char *text) { vt_test_write_file(path, text, strlen(text)); }

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    if (fread(p, 1, (size_t)len, f) != (size_t)len) fail_msg("cannot read %s", path);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* A failure is VT_EINPUT with one line that contains both `file` and `what`. */
static void expect_einput(int rc, const vt_status *st, const char *file, const char *what)
{
    if (rc != VT_EINPUT || strchr(st->msg, '\n') || (file && !strstr(st->msg, file)) || !strstr(st->msg, what))
        fail_msg("wanted VT_EINPUT naming '%s' and '%s'; got %d: %s", file ? file : "", what, rc, st->msg);
}

/* ---- golden checkpoints: every tensor equals the bytes of the file, decoded here independently ---- */

static void check_golden(const char *case_dir, int *n_bf16)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", case_dir);
    size_t len;
    unsigned char *file = read_all(path, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | file[i];
    cJSON *h = cJSON_ParseWithLength((const char *)file + 8, (size_t)hl);
    assert_non_null(h);
    const unsigned char *data = file + 8 + hl;

    vt_checkpoint ck;
    vt_status st = {0};
    if (vt_checkpoint_open(&ck, case_dir, &st)) fail_msg("%s", st.msg);
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, h) {
        if (!strcmp(it->string, "__metadata__")) continue;
        n++;
        const char *dt = cJSON_GetObjectItem(it, "dtype")->valuestring;
        const cJSON *shape = cJSON_GetObjectItem(it, "shape"), *off = cJSON_GetObjectItem(it, "data_offsets");
        int64_t sh[VT_MAX_DIMS], numel = 1;
        int nd = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, shape) numel *= (sh[nd++] = (int64_t)d->valuedouble);
        size_t b = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        float *want = malloc((size_t)numel * 4), *got = malloc((size_t)numel * 4);
        assert_true(want && got);
        for (int64_t i = 0; i < numel; i++) {
            uint32_t u;
            if (!strcmp(dt, "F32")) {
                memcpy(&u, data + b + 4 * i, 4); /* the test machine is little-endian, like the files */
            } else {
                assert_string_equal(dt, "BF16");
                uint16_t v;
                memcpy(&v, data + b + 2 * i, 2);
                u = (uint32_t)v << 16;
            }
            memcpy(&want[i], &u, 4);
        }
        if (!strcmp(dt, "BF16")) (*n_bf16)++;
        const vt_st_tensor *t = vt_checkpoint_find(&ck, it->string);
        if (!t) fail_msg("%s: %s not found", case_dir, it->string);
        assert_string_equal(vt_st_dtype_name(t->dtype), dt);
        assert_int_equal(t->ndim, nd);
        memset(got, 0xff, (size_t)numel * 4);
        if (vt_checkpoint_read_f32(&ck, it->string, nd, sh, got, &st)) fail_msg("%s", st.msg);
        if (memcmp(got, want, (size_t)numel * 4)) fail_msg("%s: %s differs from the file's bytes", case_dir, it->string);
        free(want);
        free(got);
    }
    assert_int_equal(ck.n, n);
    assert_true(n > 0);
    vt_checkpoint_close(&ck);
    cJSON_Delete(h);
    free(file);
}

static void test_st_golden_f32_and_bf16(void **state)
{
    (void)state;
    int bf16 = 0;
    check_golden(VT_GOLDEN("qwen2vl-image"), &bf16);
    assert_int_equal(bf16, 0);
    check_golden(VT_GOLDEN("qwen2vl-image-bf16"), &bf16);
    assert_int_equal(bf16, 43);
}

static void test_st_golden_every_family(void **state)
{
    (void)state;
    int bf16 = 0;
    check_golden(VT_GOLDEN("qwen25vl-image"), &bf16);
    check_golden(VT_GOLDEN("qwenvl-image"), &bf16);
    check_golden(VT_GOLDEN("kimivl-image"), &bf16);
    assert_int_equal(bf16, 0);
    /* opening the file itself is the same as opening its directory */
    vt_checkpoint ck;
    vt_status st = {0};
    assert_int_equal(vt_checkpoint_open(&ck, VT_GOLDEN("kimivl-image") "/model.safetensors", &st), 0);
    assert_int_equal(ck.n, 35);
    assert_non_null(vt_checkpoint_find(&ck, "multi_modal_projector.linear_2.weight"));
    assert_null(vt_checkpoint_find(&ck, "multi_modal_projector.linear_3.weight"));
    vt_checkpoint_close(&ck);
}

/* ---- conversions ---- */

static void test_st_half_conversions(void **state)
{
    (void)state;
    assert_true(vt_f16_to_f32(0x3c00) == 1.0f);
    assert_true(vt_f16_to_f32(0xc000) == -2.0f);
    assert_true(vt_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(vt_f16_to_f32(0x0400) == 0x1p-14f);  /* smallest normal */
    assert_true(vt_f16_to_f32(0x0001) == 0x1p-24f);  /* smallest subnormal */
    assert_true(vt_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    assert_true(vt_f16_to_f32(0x8001) == -0x1p-24f);
    assert_true(vt_f16_to_f32(0x3555) == 0x1.554p-2f);
    float z = vt_f16_to_f32(0x8000);
    assert_true(z == 0.0f && signbit(z));
    assert_true(isinf(vt_f16_to_f32(0x7c00)) && vt_f16_to_f32(0x7c00) > 0);
    assert_true(isinf(vt_f16_to_f32(0xfc00)) && vt_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(vt_f16_to_f32(0x7e00)));
    /* every finite half converts exactly: back to half by the arithmetic definition */
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
        if (e == 0x1f) continue;
        double v = e ? ldexp(1.0 + m / 1024.0, (int)e - 15) : ldexp(m / 1024.0, -14);
        if (h & 0x8000) v = -v;
        if ((double)vt_f16_to_f32((uint16_t)h) != v) fail_msg("f16 0x%04x -> %.9g, want %.9g", h, vt_f16_to_f32((uint16_t)h), v);
    }
    assert_true(vt_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(vt_bf16_to_f32(0xc0a0) == -5.0f);
    assert_true(vt_bf16_to_f32(0x3ec0) == 0.375f);
}

/* F16, BF16 and an F32 tensor at an offset that is not a multiple of 4 (the data is read unaligned) */
static void test_st_f16_and_unaligned(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    uint16_t h[3] = {0x3c00, 0x0001, 0xfc00}; /* 1, 2^-24, -inf */
    uint16_t bf[1] = {0xc0a0};                /* -5 */
    float f[2] = {3.25f, -0.125f};
    unsigned char data2[6 + 8 + 2];
    memcpy(data2, h, 6);
    memcpy(data2 + 6, f, 8); /* F32 at offset 6: not 4-aligned */
    memcpy(data2 + 14, bf, 2);
    write_st(path,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"visual.a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
             "\"visual.b\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[6,14]},"
             "\"visual.c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[14,16]}}   ",
             data2, sizeof data2);
    vt_checkpoint ck;
    vt_status st = {0};
    if (vt_checkpoint_open(&ck, dir, &st)) fail_msg("%s", st.msg);
    float a[3], b[2], c[1];
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.a", VT_DIMS(3), a, &st), 0);
    assert_true(a[0] == 1.0f && a[1] == 0x1p-24f && isinf(a[2]) && a[2] < 0);
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.b", VT_DIMS(1, 2), b, &st), 0);
    assert_true(b[0] == 3.25f && b[1] == -0.125f);
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.c", 0, NULL, c, &st), 0);
    assert_true(c[0] == -5.0f);
    vt_checkpoint_close(&ck);
    vt_test_rmtree(dir);
}

/* ---- the vision side only: shards, prefixes ---- */

/* A sharded checkpoint as transformers >= 4.52 saves it: model.visual.* and model.language_model.* (+ lm_head).
 * Both sides are kept under their canonical names; a language-model tensor of a dtype we cannot read
 * (I64 here) is skipped, not an error; a shard holding neither side is never opened. */
static void test_st_sharded_two_sides(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    float v1[6] = {1, 2, 3, 4, 5, 6};
    unsigned char s1[24 + 8 * 2];
    memcpy(s1, v1, 24);
    memset(s1 + 24, 0x3f, 16); /* an LM embedding, BF16 [2, 4]: every value 0x3f3f */
    snprintf(path, sizeof path, "%s/model-00001-of-00003.safetensors", dir);
    write_st(path,
             "{\"model.visual.patch_embed.proj.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"model.language_model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[24,40]}}",
             s1, sizeof s1);
    uint16_t v2[2] = {0x4000, 0xbc00}; /* F16: 2, -1 */
    unsigned char s2[4 + 8 + 8];
    memcpy(s2, v2, 4);
    memset(s2 + 4, 0, 16); /* lm_head F32 [2, 1], position ids I64 [1] */
    snprintf(path, sizeof path, "%s/model-00002-of-00003.safetensors", dir);
    write_st(path,
             "{\"model.visual.merger.mlp.0.bias\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
             "\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[4,12]},"
             "\"model.language_model.pos\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]}}",
             s2, sizeof s2);
    /* the third shard holds neither side (say, a speculative-decoding head): it must not even be opened */
    snprintf(path, sizeof path, "%s/model-00003-of-00003.safetensors", dir);
    write_text(path, "not a safetensors file at all");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_text(path, "{\"metadata\":{\"total_size\":76},\"weight_map\":{"
                     "\"lm_head.weight\":\"model-00002-of-00003.safetensors\","
                     "\"model.language_model.embed_tokens.weight\":\"model-00001-of-00003.safetensors\","
                     "\"mtp.layers.0.mlp.weight\":\"model-00003-of-00003.safetensors\","
                     "\"model.language_model.pos\":\"model-00002-of-00003.safetensors\","
                     "\"model.visual.merger.mlp.0.bias\":\"model-00002-of-00003.safetensors\","
                     "\"model.visual.patch_embed.proj.weight\":\"model-00001-of-00003.safetensors\"}}");
    vt_checkpoint ck;
    vt_status st = {0};
    if (vt_checkpoint_open(&ck, dir, &st)) fail_msg("%s", st.msg);
    assert_int_equal(ck.n, 4);
    assert_int_equal(ck.n_lm, 2);
    assert_int_equal(ck.n_files, 2);
    const vt_st_tensor *e = vt_checkpoint_find(&ck, "model.embed_tokens.weight"); /* the hub name finds it */
    assert_non_null(e);
    assert_string_equal(e->name, "model.language_model.embed_tokens.weight");
    assert_true(e->lm && e->dtype == VT_ST_BF16);
    assert_non_null(vt_checkpoint_find(&ck, "lm_head.weight"));
    assert_null(vt_checkpoint_find(&ck, "model.pos")); /* I64: skipped */
    const vt_st_tensor *t = vt_checkpoint_find(&ck, "visual.merger.mlp.0.bias");
    assert_non_null(t);
    assert_false(t->lm);
    assert_string_equal(t->name, "model.visual.merger.mlp.0.bias");
    assert_string_equal(t->canon, "visual.merger.mlp.0.bias");
    assert_ptr_equal(vt_checkpoint_find(&ck, "model.visual.merger.mlp.0.bias"), t); /* stored name works too */
    float w[6], bias[2];
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.patch_embed.proj.weight", VT_DIMS(2, 3), w, &st), 0);
    assert_memory_equal(w, v1, sizeof v1);
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.merger.mlp.0.bias", VT_DIMS(2), bias, &st), 0);
    assert_true(bias[0] == 2.0f && bias[1] == -1.0f);

    /* the binder keeps a BF16 matrix BF16 (the stored bits), or widens it when asked */
    for (int widen = 0; widen <= 1; widen++) {
        ck.widen_bf16 = widen;
        vt_wbind b;
        vt_wbind_init(&b, &ck);
        vt_mat m = vt_wbind_mat(&b, &st, VT_DIMS(2, 4), "model.embed_tokens.weight");
        assert_int_equal(vt_wbind_alloc(&b, &st), 0);
        m = vt_wbind_mat(&b, &st, VT_DIMS(2, 4), "model.embed_tokens.weight");
        assert_true(vt_wbind_ok(&b));
        if (widen) {
            assert_null(m.bf16);
            for (int i = 0; i < 8; i++) assert_true(m.f32[i] == vt_bf16_to_f32(0x3f3f));
        } else {
            assert_null(m.f32);
            for (int r = 0; r < 2; r++) /* in the kernel's panel order: (r, k) at k * 32 + r */
                for (int k = 0; k < 4; k++) assert_int_equal(m.bf16[k * 32 + r], 0x3f3f);
            for (int k = 0; k < 4; k++) assert_int_equal(m.bf16[k * 32 + 2], 0); /* rows past N: zero */
        }
        free(vt_wbind_take(&b));
        vt_wbind_free(&b);
    }
    vt_checkpoint_close(&ck);

    /* the index file itself can be given */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (vt_checkpoint_open(&ck, path, &st)) fail_msg("%s", st.msg);
    assert_int_equal(ck.n, 4);
    vt_checkpoint_close(&ck);
    vt_test_rmtree(dir);
}

static void test_st_published_prefixes(void **state)
{
    (void)state;
    const char *canon;
    assert_true(vt_st_is_vision_key("visual.blocks.0.norm1.weight", &canon));
    assert_string_equal(canon, "visual.blocks.0.norm1.weight");
    assert_true(vt_st_is_vision_key("model.visual.blocks.0.norm1.weight", &canon));
    assert_string_equal(canon, "visual.blocks.0.norm1.weight");
    assert_true(vt_st_is_vision_key("transformer.visual.proj", &canon));
    assert_string_equal(canon, "transformer.visual.proj");
    assert_true(vt_st_is_vision_key("vision_tower.encoder.blocks.0.wqkv.weight", &canon));
    assert_true(vt_st_is_vision_key("model.vision_tower.patch_embed.proj.bias", &canon));
    assert_string_equal(canon, "vision_tower.patch_embed.proj.bias");
    assert_true(vt_st_is_vision_key("model.multi_modal_projector.linear_1.weight", &canon));
    assert_string_equal(canon, "multi_modal_projector.linear_1.weight");
    assert_false(vt_st_is_vision_key("visualizer.x", &canon));
    assert_null(canon);
    assert_false(vt_st_is_vision_key("transformer.h.0.attn.c_attn.weight", NULL));
    assert_false(vt_st_is_vision_key("language_model.model.layers.0.mlp.gate_proj.weight", NULL));
    assert_false(vt_st_is_vision_key("model.model.visual.x", NULL));
    assert_false(vt_st_is_vision_key("lm_head.weight", NULL));

    /* Kimi-VL stored under model.: looked up by the canonical name */
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    float x[2] = {7, 8};
    write_st(path,
             "{\"model.vision_tower.encoder.final_layernorm.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             x, 8);
    vt_checkpoint ck;
    vt_status st = {0};
    if (vt_checkpoint_open(&ck, path, &st)) fail_msg("%s", st.msg);
    float y[2];
    assert_int_equal(vt_checkpoint_read_f32(&ck, "vision_tower.encoder.final_layernorm.weight", VT_DIMS(2), y, &st), 0);
    assert_memory_equal(x, y, 8);
    vt_checkpoint_close(&ck);
    vt_test_rmtree(dir);
}

/* ---- lookups that fail, and the binder ---- */

static void test_st_missing_key_and_wrong_shape(void **state)
{
    (void)state;
    vt_checkpoint ck;
    vt_status st = {0};
    assert_int_equal(vt_checkpoint_open(&ck, VT_GOLDEN("qwen2vl-image"), &st), 0);
    float buf[96 * 32];
    int rc = vt_checkpoint_read_f32(&ck, "visual.blocks.3.attn.qkv.weight", VT_DIMS(96, 32), buf, &st);
    expect_einput(rc, &st, "visual.blocks.3.attn.qkv.weight", "not found");
    assert_non_null(strstr(st.msg, "[96, 32]"));
    rc = vt_checkpoint_read_f32(&ck, "visual.blocks.0.attn.qkv.weight", VT_DIMS(192, 32), buf, &st);
    expect_einput(rc, &st, "model.safetensors", "visual.blocks.0.attn.qkv.weight has shape [96, 32]");
    assert_non_null(strstr(st.msg, "[192, 32]"));
    rc = vt_checkpoint_read_f32(&ck, "visual.blocks.0.attn.qkv.weight", VT_DIMS(96, 32, 1), buf, &st);
    expect_einput(rc, &st, "model.safetensors", "[96, 32, 1]");
    vt_checkpoint_close(&ck);
}

typedef struct {
    float *ln_w, *qkv_w[3], *patch_w;
} tiny_weights;

static void tiny_bind(tiny_weights *w, vt_wbind *b, int depth, int C, vt_status *st)
{
    w->ln_w = vt_wbind_f32(b, st, VT_DIMS(C), "visual.merger.ln_q.weight");
    for (int i = 0; i < depth; i++) w->qkv_w[i] = vt_wbind_f32(b, st, VT_DIMS(3 * C, C), "visual.blocks.%d.attn.qkv.weight", i);
    w->patch_w = vt_wbind_f32(b, st, VT_DIMS(C, 3, 2, 14, 14), "visual.patch_embed.proj.weight");
}

static void test_st_wbind_two_passes(void **state)
{
    (void)state;
    vt_checkpoint ck;
    vt_status st = {0};
    assert_int_equal(vt_checkpoint_open(&ck, VT_GOLDEN("qwen2vl-image-bf16"), &st), 0);
    tiny_weights w;
    vt_wbind b;
    vt_wbind_init(&b, &ck);
    tiny_bind(&w, &b, 3, 32, &st);
    assert_true(vt_wbind_ok(&b));
    assert_null(w.ln_w);
    assert_int_equal(vt_wbind_alloc(&b, &st), 0);
    tiny_bind(&w, &b, 3, 32, &st);
    assert_true(vt_wbind_ok(&b));
    float *buf = vt_wbind_take(&b);
    vt_wbind_free(&b);
    assert_ptr_equal(w.ln_w, buf);
    assert_true(((uintptr_t)w.qkv_w[1] & 63) == 0);
    assert_true(w.qkv_w[0] > w.ln_w && w.qkv_w[2] > w.qkv_w[1] && w.patch_w > w.qkv_w[2]);
    float *want = malloc(32 * 3 * 2 * 14 * 14 * sizeof(float));
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.patch_embed.proj.weight", VT_DIMS(32, 3, 2, 14, 14), want, &st), 0);
    assert_memory_equal(w.patch_w, want, 32 * 3 * 2 * 14 * 14 * sizeof(float));
    assert_int_equal(vt_checkpoint_read_f32(&ck, "visual.blocks.2.attn.qkv.weight", VT_DIMS(96, 32), want, &st), 0);
    assert_memory_equal(w.qkv_w[2], want, 96 * 32 * sizeof(float));
    free(want);
    free(buf);

    /* a config that contradicts the weights: the first error is kept, alloc refuses, nothing leaks */
    vt_wbind_init(&b, &ck);
    tiny_bind(&w, &b, 3, 64, &st);
    assert_false(vt_wbind_ok(&b));
    expect_einput(vt_wbind_alloc(&b, &st), &st, "model.safetensors", "visual.merger.ln_q.weight has shape [32]");
    assert_non_null(strstr(st.msg, "[64]"));
    vt_wbind_free(&b);
    /* depth 3 + 1: a block the checkpoint lacks */
    vt_wbind_init(&b, &ck);
    vt_wbind_f32(&b, &st, VT_DIMS(32), "visual.merger.ln_q.weight");
    for (int i = 0; i < 4; i++) vt_wbind_f32(&b, &st, VT_DIMS(96, 32), "visual.blocks.%d.attn.qkv.weight", i);
    expect_einput(vt_wbind_alloc(&b, &st), &st, "visual.blocks.3.attn.qkv.weight", "weight not found");
    vt_wbind_free(&b);
    vt_checkpoint_close(&ck);
}

/* ---- malformed files ---- */

typedef struct {
    const char *header; /* NULL: raw bytes below */
    size_t data_len;
    const char *what;   /* expected in the message */
} bad_case;

static const bad_case bad_headers[] = {
    {"[1,2]", 0, "header is not a JSON object"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "not valid JSON"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xyz", 4, "bytes after its JSON"},
    {"{\"visual.a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"F99\""},
    {"{\"visual.a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "dtype I64 is not supported"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,4]}}", 4, "negative dimension -3"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, "no \"shape\" array"},
    {"{\"visual.a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no \"dtype\""},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets\" is not an array of two"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "not non-negative integers"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,400]}}", 4, "run past the end of the data"},
    {"{\"lm.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,400]}}", 4, "lm.a: data_offsets [0, 400] run past"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "are reversed"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"visual.b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap visual.a"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"visual.b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "unused bytes before"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "8 bytes after the last tensor"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "span 8 bytes but F32 [3] needs 12"},
    {"{\"visual.a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, "needs 8"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate tensor name visual.a"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"model.visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "visual.a is stored twice"},
    {"{\"__metadata__\":[1],\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "__metadata__ is not"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "10 dimensions"},
    {"{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "too many elements"},
    {"{\"visual.a\":7}", 0, "header entry is not a JSON object"},
    {"{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no vision-side tensors"},
};

static void test_st_bad_headers(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        write_st(path, bad_headers[i].header, zeros, bad_headers[i].data_len);
        vt_checkpoint ck;
        vt_status st = {0};
        int rc = vt_checkpoint_open(&ck, path, &st);
        if (rc != VT_EINPUT || !strstr(st.msg, path) || !strstr(st.msg, bad_headers[i].what) || strchr(st.msg, '\n'))
            fail_msg("case %zu (%s): got %d: %s", i, bad_headers[i].what, rc, st.msg);
        assert_int_equal(ck.n, 0); /* closed on failure */
    }
    vt_test_rmtree(dir);
}

static void test_st_bad_files(void **state)
{
    (void)state;
    char dir[64], path[128];
    vt_test_tmpdir(dir);
    vt_checkpoint ck;
    vt_status st = {0};
    snprintf(path, sizeof path, "%s/x.safetensors", dir);

    write_text(path, "");
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "truncated: 0 bytes");
    vt_test_write_file(path, "\x10\x00\x00", 3);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "truncated: 3 bytes");
    /* header length past EOF: a good file cut in the middle of its header */
    const char *hdr = "{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    write_st(path, hdr, "abcd", 4);
    size_t n;
    unsigned char *whole = read_all(path, &n);
    vt_test_write_file(path, whole, 30);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "header length 61 runs past the end of the file (30 bytes)");
    /* ... and cut in its data */
    vt_test_write_file(path, whole, n - 2);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "run past the end of the data (2 bytes)");
    free(whole);
    /* a header length over 100 MB is refused before anything is read */
    unsigned char big[16] = {0, 0, 0, 0x10, 0, 0, 0, 0, '{', '}'};
    vt_test_write_file(path, big, sizeof big);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "over the 100 MB limit");
    unsigned char huge[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    vt_test_write_file(path, huge, 8);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "over the 100 MB limit");
    /* the header is binary junk */
    unsigned char junk[24] = {8, 0, 0, 0, 0, 0, 0, 0, '{', 0xff, 0xfe, 0, 1, 2, 3, 4};
    vt_test_write_file(path, junk, 16);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "not valid JSON");
    /* missing file, empty directory, a directory where a file should be */
    snprintf(path, sizeof path, "%s/nope.safetensors", dir);
    expect_einput(vt_checkpoint_open(&ck, path, &st), &st, path, "No such file");
    expect_einput(vt_checkpoint_open(&ck, dir, &st), &st, dir, "no model.safetensors or model.safetensors.index.json");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir '%s'", path);
    assert_int_equal(system(cmd), 0);
    expect_einput(vt_checkpoint_open(&ck, dir, &st), &st, path, "not a regular file");
    vt_test_rmtree(dir);
}

/* The index and the shards must agree. */
static void test_st_bad_index(void **state)
{
    (void)state;
    char dir[64], path[128], index[128];
    vt_test_tmpdir(dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    write_st(path, "{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd", 4);
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    write_st(path, "{\"visual.a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"visual.b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "abcdefgh", 8);
    static const struct {
        const char *index, *what;
    } cases[] = {
        {"{\"weight_map\":", "not valid JSON"},
        {"{\"weights\":{}}", "no \"weight_map\" object"},
        {"{\"weight_map\":{\"visual.a\":\"../a.safetensors\"}}", "is not a file name beside the index"},
        {"{\"weight_map\":{\"visual.a\":3}}", "is not a file name"},
        {"{\"weight_map\":{\"visual.a\":\"a.safetensors\",\"visual.a\":\"a.safetensors\"}}", "lists visual.a twice"},
        {"{\"weight_map\":{\"visual.a\":\"c.safetensors\"}}", "c.safetensors: No such file"},
        {"{\"weight_map\":{\"lm.x\":\"a.safetensors\"}}", "lists no vision-side tensor"},
        {"{\"weight_map\":{\"visual.a\":\"a.safetensors\",\"visual.z\":\"a.safetensors\"}}",
         "lists visual.z in a.safetensors, which does not hold it"},
        {"{\"weight_map\":{\"visual.b\":\"b.safetensors\"}}", "visual.a is in"},
        {"{\"weight_map\":{\"visual.a\":\"a.safetensors\",\"visual.b\":\"b.safetensors\"}}", "visual.a is stored twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(index, cases[i].index);
        vt_checkpoint ck;
        vt_status st = {0};
        int rc = vt_checkpoint_open(&ck, dir, &st);
        if (rc != VT_EINPUT || !strstr(st.msg, cases[i].what) || strchr(st.msg, '\n'))
            fail_msg("index case %zu (%s): got %d: %s", i, cases[i].what, rc, st.msg);
    }
    vt_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_golden_f32_and_bf16),
        cmocka_unit_test(test_st_golden_every_family),
        cmocka_unit_test(test_st_half_conversions),
        cmocka_unit_test(test_st_f16_and_unaligned),
        cmocka_unit_test(test_st_sharded_two_sides),
        cmocka_unit_test(test_st_published_prefixes),
        cmocka_unit_test(test_st_missing_key_and_wrong_shape),
        cmocka_unit_test(test_st_wbind_two_passes),
        cmocka_unit_test(test_st_bad_headers),
        cmocka_unit_test(test_st_bad_files),
        cmocka_unit_test(test_st_bad_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
