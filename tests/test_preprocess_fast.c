/* test_preprocess_fast.c -- the fast processor mode (transformers 5.0's Qwen2VLImageProcessorFast and
 * Qwen2VLVideoProcessor) against preprocess-fast: every image alone with its own min/max_pixels and the
 * video, every tensor (uint8 and int64 exactly, float32 by the rule -- and in fact bit for bit); this
 * version's smart_resize and what it accepts that 4.51.3 refused; the fused normalisation's constants; the
 * frame padding; the choice of mode. The command line: test_preprocess_fast_cli.c. */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/arena.h"
#include "format/manifest.h"
#include "io/fileio.h"
#include "io/resize.h"
#include "model/model.h"
#include "processor/processor.h"
#include "processor/processor_stages.h"

#define FAST VT_GOLDEN("preprocess-fast")

/* ---------------------------------------- helpers ---------------------------------------- */

static int64_t jpair(const cJSON *o, const char *key, int i)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || !cJSON_IsNumber(cJSON_GetArrayItem(a, i))) fail_msg("inputs.json: no '%s'[%d]", key, i);
    return (int64_t)cJSON_GetArrayItem(a, i)->valuedouble;
}

/* A tap comparing each tensor with the golden one, after renaming our "<from>." to "<to>." (image.0 ->
 * image.k; with a rename, names outside "<from>." are the single call's pixel_values / image_grid_thw, not
 * the golden's concatenations: counted as extra): the comparison rule (docs/design.md), and bit-exactness counted separately
 * (the fast path is exact). */
typedef struct fast_tap {
    vt_manifest m;
    const char *from, *to;
    int matched, exact, extra;
    char failures[2048];
} fast_tap;

static int fast_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    (void)st;
    fast_tap *g = ctx;
    char gname[VT_NAME_MAX];
    size_t nf = g->from ? strlen(g->from) : 0;
    if (g->from && !(!strncmp(name, g->from, nf) && name[nf] == '.')) { /* pixel_values of one image: not golden */
        g->extra++;
        return VT_OK;
    }
    if (g->from)
        snprintf(gname, sizeof gname, "%s%s", g->to, name + nf);
    else
        snprintf(gname, sizeof gname, "%s", name);
    const vt_manifest_entry *e = vt_manifest_find(&g->m, gname);
    if (!e) {
        g->extra++;
        return VT_OK;
    }
    vt_tensor ref;
    void *owned;
    vt_status ls = {0};
    if (vt_manifest_load(&g->m, e, &ref, &owned, &ls)) fail_msg("%s", ls.msg);
    vt_cmp_opts o = {VT_DEFAULT_ATOL, VT_DEFAULT_RTOL};
    vt_cmp_result r;
    vt_compare(t, &ref, &o, &r);
    size_t len = strlen(g->failures);
    if (r.pass) {
        g->matched++;
        g->exact += vt_nbytes(t) == vt_nbytes(&ref) && !memcmp(t->data, ref.data, vt_nbytes(t));
    } else if (!r.shape_ok) {
        snprintf(g->failures + len, sizeof g->failures - len, "%s%s: %s", len ? "; " : "", gname, r.why);
    } else {
        char cb[96];
        snprintf(g->failures + len, sizeof g->failures - len, "%s%s: %lld bad, worst %s ours %.9g ref %.9g",
                 len ? "; " : "", gname, (long long)r.n_bad, vt_coords_str(cb, sizeof cb, &ref, r.worst), r.ours_w,
                 r.ref_w);
    }
    free(owned);
    return VT_OK;
}

static void fast_tap_open(fast_tap *g, const char *from, const char *to)
{
    memset(g, 0, sizeof *g);
    vt_status st = {0};
    if (vt_manifest_read(&g->m, FAST, &st)) fail_msg("%s", st.msg);
    g->from = from;
    g->to = to;
}

static int golden_count(const vt_manifest *m, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < m->n; i++) n += !strncmp(m->t[i].name, prefix, strlen(prefix));
    return n;
}

static vt_processor_opts fast_opts(int64_t min_pixels, int64_t max_pixels)
{
    vt_processor_opts po;
    vt_processor_defaults(&po);
    po.mode = VT_PROCESSOR_FAST;
    po.min_pixels = po.video_min_pixels = min_pixels;
    po.max_pixels = po.video_max_pixels = max_pixels;
    po.emit_input_grids = 1;
    return po;
}

/* ---------------------------------------- the goldens ---------------------------------------- */

/* Image k alone with its own limits: every golden image.{k}.* must come out (as our image.0.*), match, and
 * here be bit-identical (rgb, resized uint8 exactly; normalized and patches too). */
static void check_image(const cJSON *img, int k)
{
    char gname[64], to[32], prefix[32];
    snprintf(gname, sizeof gname, "image.%d.rgb", k);
    vt_tensor rgb;
    void *owned;
    vt_test_load_golden(FAST, gname, &rgb, &owned);
    vt_image im = {(int)rgb.shape[1], (int)rgb.shape[0], vt_u8(&rgb)};
    vt_processor_opts po = fast_opts(vt_test_json_int(img, "min_pixels"), vt_test_json_int(img, "max_pixels"));
    snprintf(to, sizeof to, "image.%d", k);
    snprintf(prefix, sizeof prefix, "image.%d.", k);
    fast_tap g;
    fast_tap_open(&g, "image.0", to);
    vt_tap tap = {fast_emit, NULL, NULL, &g};
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels px;
    vt_status st = {0};
    if (vt_processor_preprocess(&px, &im, 1, NULL, 0, &po, &tap, &a, &st)) fail_msg("image.%d: %s", k, st.msg);
    if (g.failures[0]) fail_msg("image.%d: %s", k, g.failures);
    assert_int_equal(golden_count(&g.m, prefix), 5); /* rgb, resized, normalized, patches, grid_thw */
    assert_int_equal(g.matched, 5);
    assert_int_equal(g.exact, 5);
    for (int i = 0; i < 3; i++) assert_int_equal(vt_i64(&px.image_grid_thw)[i], jpair(img, "grid_thw", i));
    vt_arena_free(&a);
    vt_manifest_free(&g.m);
    free(owned);
}

static void test_fast_each_image(void **state)
{
    (void)state;
    cJSON *j = vt_test_load_json(FAST, "inputs.json");
    const cJSON *img;
    int k = 0;
    cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(j, "images")) check_image(img, k++);
    cJSON_Delete(j);
    assert_int_equal(k, 14);
}

/* The video: 3 frames of 100x140, its own min/max_pixels (the video processor's), padded to 4 frames. */
static void test_fast_video(void **state)
{
    (void)state;
    cJSON *j = vt_test_load_json(FAST, "inputs.json");
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "videos"), 0);
    vt_tensor rgb;
    void *owned;
    vt_test_load_golden(FAST, "video.0.rgb", &rgb, &owned);
    const int F = (int)rgb.shape[0], H = (int)rgb.shape[1], W = (int)rgb.shape[2];
    assert_int_equal(F, vt_test_json_int(v, "num_frames"));
    vt_image frames[3];
    for (int f = 0; f < F; f++) frames[f] = (vt_image){W, H, vt_u8(&rgb) + (size_t)f * H * W * 3};
    vt_processor_video vid = {frames, F};
    /* the image settings are left at the hub's: only the video processor's may decide */
    vt_processor_opts po = fast_opts(3136, 12845056);
    po.video_min_pixels = vt_test_json_int(v, "min_pixels");
    po.video_max_pixels = vt_test_json_int(v, "max_pixels");
    fast_tap g;
    fast_tap_open(&g, NULL, NULL);
    vt_tap tap = {fast_emit, NULL, NULL, &g};
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels px;
    vt_status st = {0};
    if (vt_processor_preprocess(&px, NULL, 0, &vid, 1, &po, &tap, &a, &st)) fail_msg("video.0: %s", st.msg);
    if (g.failures[0]) fail_msg("video.0: %s", g.failures);
    int want = golden_count(&g.m, "video.0.") + golden_count(&g.m, "pixel_values_videos") +
               golden_count(&g.m, "video_grid_thw");
    assert_int_equal(want, 7);
    assert_int_equal(g.matched, want);
    assert_int_equal(g.exact, want);
    assert_int_equal(g.extra, 0);
    for (int i = 0; i < 3; i++) assert_int_equal(vt_i64(&px.video_grid_thw)[i], jpair(v, "grid_thw", i));
    vt_arena_free(&a);
    vt_manifest_free(&g.m);
    free(owned);
    cJSON_Delete(j);
}

/* Two images with one setting in one call: their rows are the single calls' (inputs.json sanity_checks),
 * so pixel_values is the golden concatenation of those images' patches. */
static void test_fast_batch_equals_singles(void **state)
{
    (void)state;
    vt_tensor r0, r4, p0, p4;
    void *o[4];
    vt_test_load_golden(FAST, "image.0.rgb", &r0, &o[0]);
    vt_test_load_golden(FAST, "image.4.rgb", &r4, &o[1]);
    vt_test_load_golden(FAST, "image.0.patches", &p0, &o[2]);
    vt_test_load_golden(FAST, "image.4.patches", &p4, &o[3]);
    vt_image ims[2] = {{(int)r0.shape[1], (int)r0.shape[0], vt_u8(&r0)}, {(int)r4.shape[1], (int)r4.shape[0], vt_u8(&r4)}};
    vt_processor_opts po = fast_opts(3136, 12845056);
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels px;
    vt_status st = {0};
    assert_int_equal(vt_processor_preprocess(&px, ims, 2, NULL, 0, &po, NULL, &a, &st), 0);
    assert_int_equal(px.pixel_values.shape[0], p0.shape[0] + p4.shape[0]);
    assert_memory_equal(px.pixel_values.data, p0.data, vt_nbytes(&p0));
    assert_memory_equal(vt_f32(&px.pixel_values) + p0.shape[0] * 1176, p4.data, vt_nbytes(&p4));
    vt_arena_free(&a);
    for (int i = 0; i < 4; i++) free(o[i]);
}

/* ---------------------------------------- smart_resize of transformers 5.0 ---------------------------------------- */

/* Every input's size in inputs.json, and where the two versions part. */
static void test_fast_smart_resize(void **state)
{
    (void)state;
    cJSON *j = vt_test_load_json(FAST, "inputs.json");
    const cJSON *img;
    int n = 0;
    cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(j, "images"))
    {
        int64_t h, w;
        vt_status st = {0};
        assert_int_equal(vt_processor_smart_resize_fast(
                             &h, &w, jpair(img, "file_size_wh", 1), jpair(img, "file_size_wh", 0), 28,
                             vt_test_json_int(img, "min_pixels"), vt_test_json_int(img, "max_pixels"), &st),
                         0);
        if (h != jpair(img, "smart_resize", 0) || w != jpair(img, "smart_resize", 1))
            fail_msg("image %d: %lldx%lld, the reference gives %lldx%lld", n, (long long)h, (long long)w,
                     (long long)jpair(img, "smart_resize", 0), (long long)jpair(img, "smart_resize", 1));
        n++;
    }
    cJSON_Delete(j);
    assert_int_equal(n, 14);
}

/* What this version accepts that 4.51.3 refused, said one by one; what both refuse; parametrised by factor. */
static void test_fast_accepts_what_slow_refused(void **state)
{
    (void)state;
    int64_t h, w;
    vt_status st = {0};
    /* 1. a side under the factor: 20x64 (image.1) and 400x20 (image.7) -- 4.51.3 raised */
    assert_int_equal(vt_processor_smart_resize(&h, &w, 20, 64, 28, 3136, 12845056, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "must be larger than factor:28"));
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 20, 64, 28, 3136, 12845056, &st), 0);
    assert_true(h == 56 && w == 112);
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 400, 20, 28, 3136, 12845056, &st), 0);
    assert_true(h == 392 && w == 28);
    /* 2. the floor branch flooring a side to 0: 30x600 into 12000 (image.13) -- 4.51.3 returned 28 x 0 and PIL
     * raised; now clamped to the factor: 28x476 = 13328 pixels, over max_pixels */
    assert_int_equal(vt_processor_smart_resize(&h, &w, 30, 600, 28, 3136, 12000, &st), 0);
    assert_int_equal(h, 0);
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 30, 600, 28, 3136, 12000, &st), 0);
    assert_true(h == 28 && w == 476);
    /* 3. a 1x1 image (rounds to 0x0, then the ceil branch): 56x56 */
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 1, 1, 28, 3136, 12845056, &st), 0);
    assert_true(h == 56 && w == 56);
    /* both refuse an aspect ratio over 200, with the reference's message; 200 itself passes */
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 28, 5601, 28, 3136, 12845056, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "absolute aspect ratio must be smaller than 200, got 200.03571428571428"));
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 1, 200, 28, 3136, 12845056, &st), 0);
    /* the unchanged parts: half to even (42 / 28 = 1.5 -> 2, 70 / 28 = 2.5 -> 2), the beta order */
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 42, 70, 28, 3136, 12845056, &st), 0);
    assert_true(h == 56 && w == 56);
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 600, 600, 28, 3136, 448 * 448, &st), 0);
    assert_int_equal(h, 420);
    /* Qwen3-VL's factor 32 (patch 16, merge 2): 20x64 rounds to 32x64 = 2048 < 4096, so the ceil branch:
     * beta = sqrt(4096 / 1280), ceil(1.118) * 32 = 64, ceil(3.578) * 32 = 128 */
    assert_int_equal(vt_processor_smart_resize_fast(&h, &w, 20, 64, 32, 4096, 16777216, &st), 0);
    assert_true(h == 64 && w == 128);
}

/* Through the processor: the inputs 4.51.3 refused go through in fast mode and fail in slow mode. */
static void test_fast_processor_rules(void **state)
{
    (void)state;
    static uint8_t buf[600 * 30 * 3];
    vt_processor_opts slow, fast = fast_opts(3136, 12000);
    vt_processor_defaults(&slow);
    slow.max_pixels = 12000;
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels px;
    vt_status st = {0};
    vt_image strip = {600, 30, buf}, thin = {20, 400, buf};
    assert_int_equal(vt_processor_preprocess(&px, &strip, 1, NULL, 0, &slow, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "height and width must be > 0"));
    assert_int_equal(vt_processor_preprocess(&px, &strip, 1, NULL, 0, &fast, NULL, &a, &st), 0);
    assert_int_equal(vt_i64(&px.image_grid_thw)[2], 34);
    assert_int_equal(vt_processor_preprocess(&px, &thin, 1, NULL, 0, &slow, NULL, &a, &st), VT_EINPUT);
    assert_int_equal(vt_processor_preprocess(&px, &thin, 1, NULL, 0, &fast, NULL, &a, &st), 0);
    /* a video of frames with different sizes: slow resizes each to the first's size, fast refuses */
    vt_image frames[2] = {{40, 30, buf}, {30, 40, buf}};
    vt_processor_video vid = {frames, 2};
    slow.max_pixels = 12845056;
    assert_int_equal(vt_processor_preprocess(&px, NULL, 0, &vid, 1, &slow, NULL, &a, &st), 0);
    assert_int_equal(vt_processor_preprocess(&px, NULL, 0, &vid, 1, &fast, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "video.0: frame 1 is 30x40, frame 0 40x30"));
    /* the aspect ratio and the allocation limit are refused in both */
    vt_image wide = {5601, 28, buf};
    assert_int_equal(vt_processor_preprocess(&px, &wide, 1, NULL, 0, &fast, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "image.0: 5601x28 input"));
    fast.min_pixels = (int64_t)1 << 32;
    fast.max_pixels = (int64_t)1 << 40;
    assert_int_equal(vt_processor_preprocess(&px, &strip, 1, NULL, 0, &fast, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "over the limit"));
    /* the video processor's own bounds decide a video's size in fast mode, the image bounds in slow mode */
    vt_image same[2] = {{140, 100, buf}, {140, 100, buf}};
    vt_processor_video v2 = {same, 2};
    fast = fast_opts(3136, 12845056);
    fast.video_max_pixels = 8000;
    assert_int_equal(vt_processor_preprocess(&px, NULL, 0, &v2, 1, &fast, NULL, &a, &st), 0);
    assert_true(vt_i64(&px.video_grid_thw)[1] == 4 && vt_i64(&px.video_grid_thw)[2] == 6); /* 56x84 */
    fast.mode = VT_PROCESSOR_SLOW;
    assert_int_equal(vt_processor_preprocess(&px, NULL, 0, &v2, 1, &fast, NULL, &a, &st), 0);
    assert_true(vt_i64(&px.video_grid_thw)[1] == 8 && vt_i64(&px.video_grid_thw)[2] == 10); /* 112x140 */
    fast.mode = (vt_processor_mode)7;
    assert_int_equal(vt_processor_preprocess(&px, NULL, 0, &v2, 1, &fast, NULL, &a, &st), VT_EINPUT);
    vt_arena_free(&a);
}

/* ---------------------------------------- the other stages ---------------------------------------- */

static float bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* (x - 255 mean) / (255 std) with the float32 constants of README.preprocess-fast.md, for every byte value. */
static void test_fast_fused_normalize(void **state)
{
    (void)state;
    static const uint32_t mean_bits[3] = {0x42f58ab9, 0x42e97df6, 0x42d02ffe};
    static const uint32_t std_bits[3] = {0x42890046, 0x428543ab, 0x428ca575};
    vt_processor_opts po;
    vt_processor_defaults(&po);
    uint8_t px[256 * 3];
    float out[3 * 256];
    for (int v = 0; v < 256; v++)
        for (int c = 0; c < 3; c++) px[v * 3 + c] = (uint8_t)v;
    vt_processor_fused_rescale_normalize(out, px, 1, 256, po.image_mean, po.image_std);
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float want = ((float)v - bits(mean_bits[c])) / bits(std_bits[c]);
            if (out[c * 256 + v] != want) fail_msg("channel %d value %d: %.9g, want %.9g", c, v, out[c * 256 + v], want);
        }
    /* not the slow path's x * (1/255) then (x - mean) / std: 2.4e-7 apart somewhere (README, image.8) */
    int differ = 0;
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float slow = ((float)(v * (1.0 / 255.0)) - po.image_mean[c]) / po.image_std[c];
            differ += slow != out[c * 256 + v];
        }
    assert_true(differ > 0);
}

/* The video processor's padding: T - 1 copies of the last frame when F % T != 0. */
static void test_fast_padded_frames(void **state)
{
    (void)state;
    int64_t Fp;
    vt_status st = {0};
    assert_int_equal(vt_processor_fast_padded_frames(&Fp, 3, 2, &st), 0);
    assert_int_equal(Fp, 4);
    assert_int_equal(vt_processor_fast_padded_frames(&Fp, 1, 2, &st), 0); /* an image: T frames */
    assert_int_equal(Fp, 2);
    assert_int_equal(vt_processor_fast_padded_frames(&Fp, 6, 2, &st), 0);
    assert_int_equal(Fp, 6);
    assert_int_equal(vt_processor_fast_padded_frames(&Fp, 4, 3, &st), 0); /* 4 + 2 = 6 */
    assert_int_equal(Fp, 6);
    assert_int_equal(vt_processor_fast_padded_frames(&Fp, 5, 3, &st), VT_EINPUT); /* 5 + 2 = 7: view() fails */
    assert_non_null(strstr(st.msg, "not a multiple of temporal_patch_size 3"));
}

/* ---------------------------------------- the mode ---------------------------------------- */

static void test_fast_mode_choice(void **state)
{
    (void)state;
    vt_processor_mode m = VT_PROCESSOR_SLOW;
    vt_status st = {0};
    assert_int_equal(vt_processor_mode_parse("fast", &m, &st), 0);
    assert_int_equal(m, VT_PROCESSOR_FAST);
    assert_string_equal(vt_processor_mode_name(m), "fast");
    assert_int_equal(vt_processor_mode_parse("slow", &m, &st), 0);
    assert_string_equal(vt_processor_mode_name(m), "slow");
    assert_int_equal(vt_processor_mode_parse("Fast", &m, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "processor 'Fast': slow"));
    /* the file's image_processor_type decides when it names the fast class; otherwise the family */
    vt_preproc_config p;
    vt_preproc_init(&p, VT_PREPROC_SMART_RESIZE);
    assert_int_equal(vt_processor_mode_of_config(&p, VT_PROCESSOR_SLOW), VT_PROCESSOR_SLOW); /* no file */
    const char *json = "{\"image_processor_type\": \"Qwen2VLImageProcessorFast\"}";
    assert_int_equal(vt_preproc_parse(&p, json, strlen(json), &st), 0);
    assert_int_equal(vt_processor_mode_of_config(&p, VT_PROCESSOR_SLOW), VT_PROCESSOR_FAST);
    json = "{\"image_processor_type\": \"Qwen2VLImageProcessor\"}";
    assert_int_equal(vt_preproc_parse(&p, json, strlen(json), &st), 0);
    assert_int_equal(vt_processor_mode_of_config(&p, VT_PROCESSOR_SLOW), VT_PROCESSOR_SLOW);
    assert_int_equal(vt_processor_mode_of_config(&p, VT_PROCESSOR_FAST), VT_PROCESSOR_FAST);
    /* the families' defaults: slow for Qwen2-VL and Qwen2.5-VL */
    assert_int_equal(vt_family_processor_mode(VT_FAMILY_QWEN2VL), VT_PROCESSOR_SLOW);
    assert_int_equal(vt_family_processor_mode(VT_FAMILY_QWEN25VL), VT_PROCESSOR_SLOW);
    /* a loaded model: the golden directories name the slow class */
    static vt_model_config cfg;
    assert_int_equal(vt_config_load(&cfg, VT_GOLDEN("qwen2vl-image"), &st), 0);
    assert_int_equal(vt_model_processor_mode(&cfg), VT_PROCESSOR_SLOW);
    vt_processor_opts po;
    vt_processor_defaults(&po);
    assert_int_equal(po.mode, VT_PROCESSOR_SLOW);
}

/* video_preprocessor_config.json over the image file: its own bounds and mean/std, the model's sizes, no
 * frame sampling. */
static void test_fast_video_config(void **state)
{
    (void)state;
    vt_preproc_config img, v;
    vt_status st = {0};
    vt_preproc_init(&img, VT_PREPROC_SMART_RESIZE);
    img.temporal_patch_size = 2;
    img.min_pixels = 3136;
    img.max_pixels = 12845056;
    void *buf;
    size_t len;
    assert_int_equal(vt_read_file(FAST "/video_preprocessor_config.0.json", &buf, &len, 1 << 20, &st), 0);
    assert_int_equal(vt_preproc_parse_video(&v, &img, buf, len, &st), 0);
    free(buf);
    assert_int_equal(v.present, 1);
    assert_int_equal(v.min_pixels, 3136);
    assert_int_equal(v.max_pixels, 8000);
    vt_processor_opts po;
    vt_processor_defaults(&po);
    vt_processor_video_from_config(&po, &v);
    assert_int_equal(po.video_max_pixels, 8000);
    assert_int_equal(po.max_pixels, 12845056);
    const char *j = "{\"size\": {\"shortest_edge\": 1000, \"longest_edge\": 9000}, \"image_mean\": [0.5, 0.5, 0.5]}";
    assert_int_equal(vt_preproc_parse_video(&v, &img, j, strlen(j), &st), 0);
    assert_true(v.min_pixels == 1000 && v.max_pixels == 9000 && v.image_mean[1] == 0.5f);
    assert_true(v.image_std[0] == img.image_std[0]); /* kept from the image file */
    j = "{\"do_sample_frames\": true}";
    assert_int_equal(vt_preproc_parse_video(&v, &img, j, strlen(j), &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "do_sample_frames"));
    j = "{\"do_sample_frames\": false, \"patch_size\": 16}";
    assert_int_equal(vt_preproc_parse_video(&v, &img, j, strlen(j), &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "contradict the image processor's 14"));
    assert_int_equal(vt_preproc_parse_video(&v, &img, "{", 1, &st), VT_EINPUT);
    /* no file in the directory: the image settings, present 0 */
    assert_int_equal(vt_preproc_load_video(&v, &img, FAST, &st), 0);
    assert_int_equal(v.present, 0);
    assert_int_equal(v.max_pixels, 12845056);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_each_image),
        cmocka_unit_test(test_fast_video),
        cmocka_unit_test(test_fast_batch_equals_singles),
        cmocka_unit_test(test_fast_smart_resize),
        cmocka_unit_test(test_fast_accepts_what_slow_refused),
        cmocka_unit_test(test_fast_processor_rules),
        cmocka_unit_test(test_fast_fused_normalize),
        cmocka_unit_test(test_fast_padded_frames),
        cmocka_unit_test(test_fast_mode_choice),
        cmocka_unit_test(test_fast_video_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
