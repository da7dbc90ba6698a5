/* test_synth.c -- `vlmtrace synth`: the PRNG and bf16 rounding against known values, the scales, every tiny
 * preset written, read back through the normal reader and run with every traced tensor finite, a full-width
 * Qwen2-VL-2B block, shards that trace byte for byte like the single file, seeds, dtypes, --layers, the file
 * format, bad input and an interrupted write. */
#include "vt_test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#include "model/model.h"
#include "format/manifest.h"
#include "io/safetensors.h"
#include "synth/synth.h"

static char out[1 << 16];

#define SAMPLE_IMAGE VT_GOLDEN("qwen2vl-image") "/image.0.png" /* a 300x240 photo */

/* ================================ helpers ================================ */

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    if (len && fread(p, 1, (size_t)len, f) != (size_t)len) fail_msg("cannot read %s", path);
    fclose(f);
    p[len] = 0;
    *n = (size_t)len;
    return p;
}

static int same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    void *pa = read_all(a, &na), *pb = read_all(b, &nb);
    int same = na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void synth(const char *args)
{
    int rc = vt_test_cli(out, sizeof out, "synth %s", args);
    if (rc != 0) fail_msg("vlmtrace synth %s: exit %d\n%s", args, rc, out);
}

/* The directory loads through the normal reader and holds exactly the tensors its config implies. */
static void check_loads(const char *dir, vt_st_dtype want)
{
    static vt_model_config cfg;
    vt_status st = {0};
    if (vt_config_load(&cfg, dir, &st)) fail_msg("%s", st.msg);
    vt_checkpoint ck;
    if (vt_checkpoint_open(&ck, dir, &st)) fail_msg("%s", st.msg);
    vt_weight_spec *w, *wl;
    int n, nl;
    assert_int_equal(vt_config_weights(&cfg, &w, &n, &st), 0);
    assert_int_equal(vt_config_lm_weights(&cfg, &wl, &nl, &st), 0); /* Qwen2-VL / Qwen2.5-VL: the whole model */
    for (int i = 0; i < n + nl; i++) {
        const vt_weight_spec *x = i < n ? &w[i] : &wl[i - n];
        const vt_st_tensor *t;
        if (vt_checkpoint_expect(&ck, x->name, x->ndim, x->shape, &t, &st)) fail_msg("%s: %s", dir, st.msg);
        assert_int_equal(t->dtype, want);
    }
    assert_int_equal(ck.n, n + nl); /* nothing more on either side */
    assert_int_equal(ck.n_lm, nl);
    free(w);
    free(wl);
    vt_checkpoint_close(&ck);
}

/* Every float32 tensor of the trace finite; returns how many tensors were checked. The family's final
 * tensor (the last in the manifest) has an RMS in a sane range. */
static int check_trace_finite(const char *dir)
{
    vt_manifest m;
    vt_status st = {0};
    if (vt_manifest_read(&m, dir, &st)) fail_msg("%s", st.msg);
    int checked = 0;
    double last_rms = -1;
    for (int i = 0; i < m.n; i++) {
        const vt_manifest_entry *e = &m.t[i];
        if (e->dtype != VT_F32) continue;
        vt_tensor t;
        void *owned;
        if (vt_manifest_load(&m, e, &t, &owned, &st)) fail_msg("%s", st.msg);
        int64_t numel = vt_numel(&t);
        const float *x = t.data;
        double ss = 0;
        for (int64_t k = 0; k < numel; k++) {
            if (!isfinite(x[k])) fail_msg("%s: %s[%lld] = %g is not finite", dir, e->name, (long long)k, x[k]);
            ss += (double)x[k] * x[k];
        }
        last_rms = numel ? sqrt(ss / (double)numel) : 0;
        free(owned);
        checked++;
    }
    if (!(last_rms > 0.05 && last_rms < 20)) fail_msg("%s: final tensor RMS %g is not in (0.05, 20)", dir, last_rms);
    vt_manifest_free(&m);
    return checked;
}

static void run_traced(const char *model, const char *image, const char *trace, const char *extra)
{
    int rc = vt_test_cli(out, sizeof out, "run --model %s --image %s --trace %s %s", model, image, trace, extra);
    if (rc != 0) fail_msg("vlmtrace run --model %s: exit %d\n%s", model, rc, out);
}

/* An error: exit 2, exactly one line, containing `what`. */
static void expect_error(int rc, const char *what)
{
    if (rc != 2 || vt_test_lines(out) != 1 || !strstr(out, what))
        fail_msg("wanted exit 2 and one line containing '%s'; got exit %d:\n%s", what, rc, out);
}

/* A w x h RGB gradient PNG. */
static void write_png(const char *path, int w, int h)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(x * 255 / (w - 1));
            p[1] = (unsigned char)(y * 255 / (h - 1));
            p[2] = (unsigned char)((x * 7 + y * 13) & 255);
        }
    assert_true(stbi_write_png(path, w, h, 3, px, w * 3) != 0);
    free(px);
}

/* ================================ the PRNG, bf16, the scales ================================ */

static void test_synth_rng_known_values(void **state)
{
    (void)state;
    uint64_t x = 0;
    assert_true(vt_splitmix64(&x) == 0xE220A8397B1DCDAFu); /* the published first output for seed 0 */
    assert_true(vt_fnv1a64("") == 0xCBF29CE484222325u);    /* FNV-1a test vectors */
    assert_true(vt_fnv1a64("a") == 0xAF63DC4C8601EC8Cu);
    vt_rng r = {{1, 2, 3, 4}};
    assert_true(vt_rng_next(&r) == 11520u); /* rotl(2 * 5, 7) * 9 */
    assert_true(vt_rng_next(&r) == 0u);
    /* a tensor's values, frozen (computed independently from the description in synth_rng.c): these
     * bits must come out on every machine */
    vt_synth_init in = {0.0, 1.0, "test", 0};
    vt_synth_stream s;
    vt_synth_stream_init(&s, &in, 0, "visual.patch_embed.proj.weight");
    float v[4];
    vt_synth_stream_f32(&s, v, 4);
    uint32_t bits[4];
    memcpy(bits, v, sizeof bits);
    static const uint32_t want[4] = {0xBEECE290u, 0xBF528D6Cu, 0xBF786683u, 0x3F2688B3u};
    for (int i = 0; i < 4; i++)
        if (bits[i] != want[i]) fail_msg("value %d: bits 0x%08X (%.9g), frozen 0x%08X", i, bits[i], v[i], want[i]);
}

static void test_synth_bell_statistics(void **state)
{
    (void)state;
    vt_rng r;
    vt_rng_seed(&r, 42, "stats");
    const int n = 400000;
    const double norm = vt_rng_bell_norm(), bound = 2 * sqrt(3.0);
    double sum = 0, sq = 0;
    int within1 = 0;
    for (int i = 0; i < n; i++) {
        int32_t d = vt_rng_bell_int(&r);
        assert_true(d % 2 == 0 && d >= -4 * 65535 && d <= 4 * 65535);
        double z = d / norm;
        assert_true(fabs(z) <= bound);
        sum += z;
        sq += z * z;
        within1 += fabs(z) < 1;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    if (fabs(mean) > 0.01 || fabs(var - 1) > 0.01) fail_msg("mean %g variance %g", mean, var);
    /* normal: 0.6827; Irwin-Hall(4) differs from the normal CDF by at most 0.0074 */
    double p1 = (double)within1 / n;
    if (fabs(p1 - 0.6827) > 0.02) fail_msg("P(|z| < 1) = %g", p1);
}

static uint16_t bf16_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return vt_f32_to_bf16(f);
}

static void test_synth_bf16_round_to_nearest_even(void **state)
{
    (void)state;
    assert_int_equal(bf16_of(0x3F800000u), 0x3F80); /* 1.0 exact */
    assert_int_equal(bf16_of(0x3F808000u), 0x3F80); /* 1 + 2^-8: a tie, to the even 0x3F80 */
    assert_int_equal(bf16_of(0x3F818000u), 0x3F82); /* 1 + 3 * 2^-8: a tie, to the even 0x3F82 */
    assert_int_equal(bf16_of(0x3F808001u), 0x3F81); /* just above the tie: up */
    assert_int_equal(bf16_of(0x3F807FFFu), 0x3F80); /* just below: down */
    assert_int_equal(bf16_of(0xBF818000u), 0xBF82); /* sign symmetric */
    assert_int_equal(bf16_of(0x7F7FFFFFu), 0x7F80); /* FLT_MAX rounds to infinity, as torch does */
    assert_int_equal(bf16_of(0x7F800000u), 0x7F80); /* inf stays inf */
    assert_int_equal(bf16_of(0x00000001u), 0x0000); /* the smallest subnormal rounds to zero */
    uint16_t nan = bf16_of(0x7F800001u);            /* a NaN stays a NaN (never becomes inf) */
    assert_true((nan & 0x7F80) == 0x7F80 && (nan & 0x007F) != 0);
}

static void test_synth_init_scales(void **state)
{
    (void)state;
    static vt_model_config cfg;
    vt_status st = {0};
    if (vt_config_load(&cfg, "notebooks-data/presets/qwen2-vl-2b", &st)) fail_msg("%s", st.msg);
    vt_weight_spec *w;
    int n, residual = 0;
    assert_int_equal(vt_config_weights(&cfg, &w, &n, &st), 0);
    for (int i = 0; i < n; i++) {
        vt_synth_init in = vt_synth_init_for(&cfg, 32, 28, &w[i]);
        residual += in.residual;
        const char *nm = w[i].name;
        if (!strcmp(nm, "visual.patch_embed.proj.weight")) assert_true(in.std == 1.0 / sqrt(1176.0) && in.mean == 0);
        if (!strcmp(nm, "visual.blocks.5.attn.proj.weight")) assert_true(fabs(in.std - 1.0 / sqrt(1280.0 * 64)) < 1e-15);
        if (!strcmp(nm, "visual.blocks.5.mlp.fc2.weight")) assert_true(fabs(in.std - 1.0 / sqrt(5120.0 * 64)) < 1e-15);
        if (!strcmp(nm, "visual.blocks.5.mlp.fc1.weight")) assert_true(in.std == 1.0 / sqrt(1280.0) && !in.residual);
        if (!strcmp(nm, "visual.blocks.5.norm1.weight")) assert_true(in.mean == 1.0 && in.std == 0.1);
        if (!strcmp(nm, "visual.blocks.5.norm1.bias")) assert_true(in.mean == 0.0 && in.std == 0.02);
        if (!strcmp(nm, "visual.merger.mlp.2.weight")) assert_true(in.std == 1.0 / sqrt(5120.0));
    }
    assert_int_equal(residual, 64); /* attn.proj and mlp.fc2 of each of the 32 blocks */
    free(w);

    if (vt_config_load(&cfg, "notebooks-data/presets/qwen-vl", &st)) fail_msg("%s", st.msg);
    assert_int_equal(vt_config_weights(&cfg, &w, &n, &st), 0);
    residual = 0;
    for (int i = 0; i < n; i++) {
        vt_synth_init in = vt_synth_init_for(&cfg, 48, 28, &w[i]);
        residual += in.residual;
        const char *nm = w[i].name;
        if (!strcmp(nm, "transformer.visual.positional_embedding")) assert_true(in.std == 1.0 / sqrt(1664.0));
        if (!strcmp(nm, "transformer.visual.attn_pool.query")) assert_true(in.std == 0.02);
        if (!strcmp(nm, "transformer.visual.attn_pool.pos_embed")) assert_true(in.std == sqrt(0.5));
        if (!strcmp(nm, "transformer.visual.attn_pool.attn.out_proj.weight")) assert_false(in.residual);
        if (!strcmp(nm, "transformer.visual.proj")) assert_true(in.std == 1.0 / sqrt(4096.0));
    }
    assert_int_equal(residual, 96);
    free(w);

    if (vt_config_load(&cfg, "notebooks-data/presets/kimi-vl-a3b", &st)) fail_msg("%s", st.msg);
    assert_int_equal(vt_config_weights(&cfg, &w, &n, &st), 0);
    residual = 0;
    for (int i = 0; i < n; i++) {
        vt_synth_init in = vt_synth_init_for(&cfg, 27, 28, &w[i]);
        residual += in.residual;
        if (!strcmp(w[i].name, "vision_tower.patch_embed.pos_emb.weight")) assert_true(in.std == 1.0);
        if (!strcmp(w[i].name, "vision_tower.encoder.blocks.3.mlp.fc1.weight")) assert_true(in.residual);
        if (!strcmp(w[i].name, "vision_tower.encoder.blocks.3.mlp.fc0.weight")) assert_false(in.residual);
    }
    assert_int_equal(residual, 54);
    free(w);
}

/* ================================ presets written, loaded, run ================================ */

static void test_synth_tiny_presets_load_and_run(void **state)
{
    (void)state;
    static const char *const presets[] = {"tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-qwen-vl", "tiny-kimi-vl"};
    char tmp[64], dir[256], trace[256], args[512];
    vt_test_tmpdir(tmp);
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/%s", tmp, presets[i]);
        snprintf(trace, sizeof trace, "%s/%s.trace", tmp, presets[i]);
        snprintf(args, sizeof args, "--preset %s --out %s", presets[i], dir);
        synth(args);
        assert_non_null(strstr(out, presets[i]));
        check_loads(dir, VT_ST_BF16);
        run_traced(dir, SAMPLE_IMAGE, trace, "");
        int n = check_trace_finite(trace);
        if (n < 20) fail_msg("%s: only %d float tensors traced", presets[i], n);
    }
    vt_test_rmtree(tmp);
}

static void test_synth_full_width_qwen2vl_2b_one_block(void **state)
{
    (void)state;
    char tmp[64], dir[256], trace[256], img[256], args[512];
    vt_test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/q2b", tmp);
    snprintf(trace, sizeof trace, "%s/trace", tmp);
    snprintf(img, sizeof img, "%s/56.png", tmp);
    write_png(img, 56, 56);
    snprintf(args, sizeof args, "--preset qwen2-vl-2b --layers 1 --out %s", dir);
    synth(args);
    check_loads(dir, VT_ST_BF16);
    static vt_model_config cfg;
    vt_status st = {0};
    assert_int_equal(vt_config_load(&cfg, dir, &st), 0);
    assert_int_equal(cfg.qwen2vl.vision.depth, 1);
    assert_int_equal(cfg.qwen2vl.vision.embed_dim, 1280); /* full width */
    assert_int_equal(cfg.qwen2vl.vision.mlp_hidden, 5120);
    assert_int_equal(cfg.qwen2vl.vision.out_hidden, 1536);
    run_traced(dir, img, trace, "");
    check_trace_finite(trace);
    vt_manifest m;
    assert_int_equal(vt_manifest_read(&m, trace, &st), 0);
    const vt_manifest_entry *e = vt_manifest_find(&m, "visual");
    assert_non_null(e);
    assert_int_equal(e->shape[0], 4); /* 56x56: 4x4 patches, 2x2 merged tokens */
    assert_int_equal(e->shape[1], 1536);
    assert_non_null(vt_manifest_find(&m, "visual.blocks.0.mlp.fc1"));
    vt_manifest_free(&m);
    vt_test_rmtree(tmp);
}

/* ================================ shards ================================ */

static void test_synth_two_shards_trace_like_one_file(void **state)
{
    (void)state;
    char tmp[64], one[256], two[256], p[512], q[512], args[512];
    vt_test_tmpdir(tmp);
    snprintf(one, sizeof one, "%s/one", tmp);
    snprintf(two, sizeof two, "%s/two", tmp);
    snprintf(args, sizeof args, "--preset tiny-qwen2.5-vl --dtype f32 --out %s", one);
    synth(args);
    snprintf(args, sizeof args, "--preset tiny-qwen2.5-vl --dtype f32 --shard-mb 0.6 --out %s", two);
    /* 1.13 MB of vision tensors, then the language model (a 29 MB embedding, 0.04 MB more) in files of at
     * most 0.6 MB: two shards for the vision side, the embedding alone, the rest */
    synth(args);
    assert_non_null(strstr(out, "in 4 files"));

    /* the layout the hubs use */
    snprintf(p, sizeof p, "%s/model.safetensors", two);
    assert_false(exists(p));
    for (int k = 1; k <= 4; k++) {
        snprintf(p, sizeof p, "%s/model-%05d-of-00004.safetensors", two, k);
        assert_true(exists(p));
    }
    snprintf(p, sizeof p, "%s/model-00005-of-00005.safetensors", two);
    assert_false(exists(p));
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", two);
    size_t n;
    char *idx = read_all(p, &n);
    cJSON *j = cJSON_Parse(idx);
    assert_non_null(j);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(meta, "total_size");
    assert_true(cJSON_IsNumber(total) && cJSON_IsObject(wm));
    snprintf(q, sizeof q, "%s/model.safetensors", one);
    size_t single;
    free(read_all(q, &single));
    uint64_t hl = 0;
    {
        unsigned char *f = read_all(q, &n);
        for (int i = 7; i >= 0; i--) hl = hl << 8 | f[i];
        free(f);
    }
    assert_true((uint64_t)total->valuedouble == single - 8 - hl); /* tensor data only */
    int in[4] = {0, 0, 0, 0};
    const char *prev = "";
    const cJSON *it;
    cJSON_ArrayForEach(it, wm) {
        assert_true(strcmp(prev, it->string) < 0); /* sorted, as json.dumps(sort_keys=True) */
        prev = it->string;
        for (int k = 0; k < 4; k++) {
            char shard[64];
            snprintf(shard, sizeof shard, "model-%05d-of-00004.safetensors", k + 1);
            in[k] += !strcmp(it->valuestring, shard);
        }
    }
    assert_int_equal(in[0] + in[1] + in[2] + in[3], 54 + 14); /* the vision side, the language model */
    assert_true(in[0] > 0 && in[1] > 0 && in[3] > 0);
    assert_int_equal(in[2], 1); /* model.embed_tokens.weight, larger than a shard, alone */
    cJSON_Delete(j);
    free(idx);
    check_loads(two, VT_ST_F32);

    /* the same trace, byte for byte */
    char t1[256], t2[256];
    snprintf(t1, sizeof t1, "%s/t1", tmp);
    snprintf(t2, sizeof t2, "%s/t2", tmp);
    run_traced(one, SAMPLE_IMAGE, t1, "");
    run_traced(two, SAMPLE_IMAGE, t2, "");
    vt_manifest m1, m2;
    vt_status st = {0};
    assert_int_equal(vt_manifest_read(&m1, t1, &st), 0);
    assert_int_equal(vt_manifest_read(&m2, t2, &st), 0);
    assert_int_equal(m1.n, m2.n);
    assert_true(m1.n > 40);
    for (int i = 0; i < m1.n; i++) {
        assert_string_equal(m1.t[i].name, m2.t[i].name);
        assert_string_equal(m1.t[i].file, m2.t[i].file);
        snprintf(p, sizeof p, "%s/%s", t1, m1.t[i].file);
        snprintf(q, sizeof q, "%s/%s", t2, m2.t[i].file);
        if (!same_bytes(p, q)) fail_msg("%s differs between the single file and the shards", m1.t[i].name);
    }
    vt_manifest_free(&m1);
    vt_manifest_free(&m2);
    vt_test_rmtree(tmp);
}

static void test_synth_shard_plan(void **state)
{
    (void)state;
    vt_weight_spec t[4] = {{"a", 1, {100}}, {"b", 1, {300}}, {"c", 1, {50}}, {"d", 1, {10}}};
    int s[4];
    /* f32 bytes 400, 1200, 200, 40; at most 1000 per shard: a | b (too big, alone) | c d */
    assert_int_equal(vt_stw_plan(t, 4, VT_ST_F32, 1000, s), 3);
    assert_int_equal(s[0], 0);
    assert_int_equal(s[1], 1);
    assert_int_equal(s[2], 2);
    assert_int_equal(s[3], 2);
    assert_int_equal(vt_stw_plan(t, 4, VT_ST_F32, 0, s), 1); /* 0: never shard */
    /* bf16 bytes 200, 600, 100, 20; at most 700: 200 | 600 + 100 (exactly full) | 20 */
    assert_int_equal(vt_stw_plan(t, 4, VT_ST_BF16, 700, s), 3);
    assert_int_equal(s[1], 1);
    assert_int_equal(s[2], 1);
    assert_int_equal(s[3], 2);
}

/* ================================ seeds, dtypes, --layers, the format ================================ */

static void test_synth_seed_decides_the_bytes(void **state)
{
    (void)state;
    char tmp[64], a[256], b[256], c[256], p[512], q[512], args[512];
    vt_test_tmpdir(tmp);
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    snprintf(c, sizeof c, "%s/c", tmp);
    snprintf(args, sizeof args, "--preset tiny-kimi-vl --seed 7 --out %s", a);
    synth(args);
    snprintf(args, sizeof args, "--preset tiny-kimi-vl --seed 7 --out %s", b);
    synth(args);
    snprintf(args, sizeof args, "--preset tiny-kimi-vl --seed 8 --out %s", c);
    synth(args);
    static const char *const files[] = {"model.safetensors", "config.json", "preprocessor_config.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", a, files[i]);
        snprintf(q, sizeof q, "%s/%s", b, files[i]);
        if (!same_bytes(p, q)) fail_msg("%s differs between two runs with the same seed", files[i]);
    }
    snprintf(p, sizeof p, "%s/model.safetensors", a);
    snprintf(q, sizeof q, "%s/model.safetensors", c);
    assert_false(same_bytes(p, q));
    snprintf(p, sizeof p, "%s/config.json", a);
    snprintf(q, sizeof q, "%s/config.json", c);
    assert_true(same_bytes(p, q));
    /* and every tensor differs, not just one */
    vt_checkpoint ca, cc;
    vt_status st = {0};
    assert_int_equal(vt_checkpoint_open(&ca, a, &st), 0);
    assert_int_equal(vt_checkpoint_open(&cc, c, &st), 0);
    for (int i = 0; i < ca.n; i++) {
        const vt_st_tensor *x = &ca.t[i], *y = vt_checkpoint_find(&cc, x->canon);
        assert_non_null(y);
        if (x->nbytes > 8 && memcmp(x->data, y->data, x->nbytes) == 0) fail_msg("%s is the same for seeds 7 and 8", x->name);
    }
    vt_checkpoint_close(&ca);
    vt_checkpoint_close(&cc);
    vt_test_rmtree(tmp);
}

static void test_synth_bf16_is_the_rounded_f32(void **state)
{
    (void)state;
    char tmp[64], h[256], f[256], args[512];
    vt_test_tmpdir(tmp);
    snprintf(h, sizeof h, "%s/bf16", tmp);
    snprintf(f, sizeof f, "%s/f32", tmp);
    snprintf(args, sizeof args, "--preset tiny-qwen-vl --dtype bf16 --out %s", h);
    synth(args);
    snprintf(args, sizeof args, "--preset tiny-qwen-vl --dtype f32 --out %s", f);
    synth(args);
    check_loads(h, VT_ST_BF16);
    check_loads(f, VT_ST_F32);
    vt_checkpoint ch, cf;
    vt_status st = {0};
    assert_int_equal(vt_checkpoint_open(&ch, h, &st), 0);
    assert_int_equal(vt_checkpoint_open(&cf, f, &st), 0);
    assert_int_equal(ch.n, cf.n);
    for (int i = 0; i < cf.n; i++) {
        const vt_st_tensor *x = &cf.t[i], *y = vt_checkpoint_find(&ch, x->canon);
        assert_non_null(y);
        size_t numel = x->nbytes / 4;
        float *a = malloc(numel * 4), *b = malloc(numel * 4);
        assert_int_equal(vt_checkpoint_read_f32(&cf, x->canon, x->ndim, x->shape, a, &st), 0);
        assert_int_equal(vt_checkpoint_read_f32(&ch, x->canon, x->ndim, x->shape, b, &st), 0);
        for (size_t k = 0; k < numel; k++)
            if (vt_bf16_to_f32(vt_f32_to_bf16(a[k])) != b[k])
                fail_msg("%s[%zu]: bf16 %.9g is not the rounded f32 %.9g", x->name, k, b[k], a[k]);
        free(a);
        free(b);
    }
    vt_checkpoint_close(&ch);
    vt_checkpoint_close(&cf);
    char p[512];
    size_t n;
    snprintf(p, sizeof p, "%s/config.json", h);
    char *cfg = read_all(p, &n);
    assert_non_null(strstr(cfg, "\"torch_dtype\":\t\"bfloat16\""));
    free(cfg);
    snprintf(p, sizeof p, "%s/config.json", f);
    cfg = read_all(p, &n);
    assert_non_null(strstr(cfg, "\"torch_dtype\":\t\"float32\""));
    free(cfg);
    vt_test_rmtree(tmp);
}

static void test_synth_layers_keep_a_prefix(void **state)
{
    (void)state;
    char tmp[64], full[256], two[256], one[256], trace[256], args[512];
    vt_test_tmpdir(tmp);
    snprintf(full, sizeof full, "%s/full", tmp);
    snprintf(two, sizeof two, "%s/two", tmp);
    snprintf(one, sizeof one, "%s/one", tmp);
    snprintf(args, sizeof args, "--preset tiny-qwen2.5-vl --out %s", full);
    synth(args);
    snprintf(args, sizeof args, "--preset tiny-qwen2.5-vl --layers 2 --out %s", two);
    synth(args);
    snprintf(args, sizeof args, "--preset tiny-qwen2.5-vl --layers 1 --out %s", one);
    synth(args);
    static vt_model_config cfg;
    vt_status st = {0};
    assert_int_equal(vt_config_load(&cfg, two, &st), 0);
    assert_int_equal(cfg.qwen25vl.vision.depth, 2);
    assert_int_equal(cfg.qwen25vl.n_fullatt, 1); /* [1, 3] -> [1] */
    assert_int_equal(cfg.qwen25vl.fullatt_block_indexes[0], 1);
    assert_int_equal(vt_config_load(&cfg, one, &st), 0);
    assert_int_equal(cfg.qwen25vl.vision.depth, 1);
    assert_int_equal(cfg.qwen25vl.n_fullatt, 0); /* every block windowed */
    check_loads(two, VT_ST_BF16);
    check_loads(one, VT_ST_BF16);

    /* the blocks kept, the patch embedding and the merger are the full checkpoint's, byte for byte */
    vt_checkpoint cf, c2;
    assert_int_equal(vt_checkpoint_open(&cf, full, &st), 0);
    assert_int_equal(vt_checkpoint_open(&c2, two, &st), 0);
    for (int i = 0; i < c2.n; i++) {
        const vt_st_tensor *x = &c2.t[i], *y = vt_checkpoint_find(&cf, x->canon);
        assert_non_null(y);
        assert_true(x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0);
    }
    assert_int_equal(cf.n - c2.n, 2 * 12); /* blocks 2 and 3, 12 tensors each */
    vt_checkpoint_close(&cf);
    vt_checkpoint_close(&c2);

    snprintf(trace, sizeof trace, "%s/trace", tmp);
    run_traced(one, SAMPLE_IMAGE, trace, "");
    check_trace_finite(trace);

    /* the other families' depth fields */
    static const char *const presets[] = {"tiny-qwen-vl", "tiny-kimi-vl", "tiny-qwen2-vl"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "--preset %s --layers 1 --out %s/%s", presets[i], tmp, presets[i]);
        synth(args);
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s", tmp, presets[i]);
        assert_int_equal(vt_config_load(&cfg, dir, &st), 0);
        int depth = cfg.family == VT_FAMILY_QWENVL ? cfg.qwenvl.layers
                  : cfg.family == VT_FAMILY_KIMIVL ? cfg.kimivl.num_hidden_layers : vt_model_vision(&cfg)->depth;
        assert_int_equal(depth, 1);
        check_loads(dir, VT_ST_BF16);
    }
    vt_test_rmtree(tmp);
}

static void test_synth_file_format(void **state)
{
    (void)state;
    char tmp[64], dir[256], p[512], args[512];
    vt_test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/m", tmp);
    snprintf(args, sizeof args, "--preset tiny-qwen2-vl --seed 3 --out %s", dir);
    synth(args);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t n;
    unsigned char *f = read_all(p, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | f[i];
    assert_true(hl % 8 == 0 && 8 + hl <= n); /* the data starts 8-byte aligned */
    assert_int_equal(f[8], '{');
    size_t end = 8 + hl;
    while (end > 8 && f[end - 1] == ' ') end--; /* padding: spaces only, after the closing brace */
    assert_int_equal(f[end - 1], '}');
    assert_true(8 + hl - end < 8);
    cJSON *h = cJSON_ParseWithLength((const char *)f + 8, hl);
    assert_non_null(h);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "format")->valuestring, "pt");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "seed")->valuestring, "3");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "preset")->valuestring, "tiny-qwen2-vl");
    /* offsets contiguous in the order written, ending at the end of the file */
    uint64_t at = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, h) {
        if (!strcmp(it->string, "__metadata__")) continue;
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        assert_true((uint64_t)cJSON_GetArrayItem(of, 0)->valuedouble == at);
        at = (uint64_t)cJSON_GetArrayItem(of, 1)->valuedouble;
    }
    assert_true(8 + hl + at == n);
    cJSON_Delete(h);
    free(f);
    /* nothing else in the directory (no temporary files left) */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') files++;
    closedir(d);
    assert_int_equal(files, 3);
    vt_test_rmtree(tmp);
}

static void test_synth_preset_from_a_directory(void **state)
{
    (void)state;
    char tmp[64], dir[256], args[512];
    vt_test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/m", tmp);
    snprintf(args, sizeof args, "--preset %s --dtype f32 --out %s", VT_GOLDEN("qwenvl-image"), dir);
    synth(args);
    check_loads(dir, VT_ST_F32);
    vt_test_rmtree(tmp);
}

/* ================================ bad input, failed writes ================================ */

static void test_synth_bad_input(void **state)
{
    (void)state;
    char tmp[64], file[256];
    vt_test_tmpdir(tmp);
    snprintf(file, sizeof file, "%s/plain", tmp);
    vt_test_write_file(file, "x", 1);
    expect_error(vt_test_cli(out, sizeof out, "synth --preset nope --out %s/a", tmp), "unknown preset");
    assert_non_null(strstr(out, "tiny-qwen2-vl")); /* the message lists the known presets */
    expect_error(vt_test_cli(out, sizeof out, "synth --preset ../presets --out %s/a", tmp), "no config.json");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --layers 0 --out %s/a", tmp), "--layers");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --layers 4 --out %s/a", tmp),
                 "more than the 3 blocks");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset qwen-vl --layers 49 --out %s/a", tmp),
                 "more than the 48 blocks");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --dtype f16 --out %s/a", tmp), "--dtype");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s/sub", file), "cannot create");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --out %s", file), "cannot create");
    expect_error(vt_test_cli(out, sizeof out, "synth --out %s/a", tmp), "--preset");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl"), "--out");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --seed -1 --out %s/a", tmp), "--seed");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --shard-mb x --out %s/a", tmp), "--shard-mb");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --shard-mb -1 --out %s/a", tmp), "--shard-mb");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --bogus --out %s/a", tmp), "--bogus");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset tiny-qwen2-vl --layers"), "--layers needs a value");
    char p[512];
    snprintf(p, sizeof p, "%s/a", tmp);
    assert_false(exists(p)); /* nothing was created by any of these */
    /* a directory preset is never its own --out (a real checkpoint's shards would be replaced) */
    snprintf(p, sizeof p, "%s/own", tmp);
    mkdir(p, 0777);
    snprintf(file, sizeof file, "%s/own/config.json", tmp);
    size_t n;
    char *cfg = read_all("notebooks-data/presets/tiny-qwen2-vl/config.json", &n);
    vt_test_write_file(file, cfg, n);
    free(cfg);
    /* refused twice over: a config synth did not write (format/guard.h), and, even with --force, the preset's own */
    expect_error(vt_test_cli(out, sizeof out, "synth --preset %s --out %s/own/.", p, tmp), "synth did not write");
    expect_error(vt_test_cli(out, sizeof out, "synth --preset %s --out %s/own/. --force", p, tmp), "preset's own directory");
    assert_true(exists(file));
    assert_int_equal(vt_test_cli(out, sizeof out, "synth --help"), 0);
    assert_non_null(strstr(out, "--shard-mb"));
    vt_test_rmtree(tmp);
}

static void test_synth_failed_write_leaves_no_checkpoint(void **state)
{
    (void)state;
    char tmp[64], dir[256], args[512];
    vt_test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/m", tmp);
    snprintf(args, sizeof args, "--preset tiny-qwen-vl --out %s", dir);
    synth(args); /* a complete checkpoint first: the failed synth must not leave it looking complete */
    static const int fail_after[] = {100, 300000, 700000};
    for (int k = 0; k < 3; k++) {
        char env[32];
        snprintf(env, sizeof env, "%d", fail_after[k]);
        setenv("VLMTRACE_FAIL_WRITE_AFTER", env, 1);
        int rc = vt_test_cli(out, sizeof out, "synth --preset tiny-qwen-vl --shard-mb 0.25 --out %s", dir);
        unsetenv("VLMTRACE_FAIL_WRITE_AFTER");
        if (rc != 3 || vt_test_lines(out) != 1 || !strstr(out, "No space left"))
            fail_msg("failing after %d bytes: wanted exit 3 and one line; got %d:\n%s", fail_after[k], rc, out);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.') fail_msg("failing after %d bytes left %s/%s", fail_after[k], dir, e->d_name);
        closedir(d);
    }
    vt_test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_rng_known_values),
        cmocka_unit_test(test_synth_bell_statistics),
        cmocka_unit_test(test_synth_bf16_round_to_nearest_even),
        cmocka_unit_test(test_synth_init_scales),
        cmocka_unit_test(test_synth_tiny_presets_load_and_run),
        cmocka_unit_test(test_synth_full_width_qwen2vl_2b_one_block),
        cmocka_unit_test(test_synth_two_shards_trace_like_one_file),
        cmocka_unit_test(test_synth_shard_plan),
        cmocka_unit_test(test_synth_seed_decides_the_bytes),
        cmocka_unit_test(test_synth_bf16_is_the_rounded_f32),
        cmocka_unit_test(test_synth_layers_keep_a_prefix),
        cmocka_unit_test(test_synth_file_format),
        cmocka_unit_test(test_synth_preset_from_a_directory),
        cmocka_unit_test(test_synth_bad_input),
        cmocka_unit_test(test_synth_failed_write_leaves_no_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
