/* test_preprocess.c -- Qwen2-VL / Qwen2.5-VL preprocessing against the golden data: every smart_resize
 * case, every image of preprocess-sizes / preprocess-exif alone with its own limits, the preprocessing
 * tensors of every qwen2vl / qwen25vl case, and the inputs the reference rejects (the CLI: test_preprocess_cli.c). */
#include "vt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/arena.h"
#include "io/fileio.h"
#include "format/manifest.h"
#include "processor/processor.h"

/* ---------------------------------------- helpers ---------------------------------------- */

/* A tap that compares each tensor with the golden one of the same name (after renaming our
 * "<from>." prefix to "<to>."), by the comparison rule (docs/design.md), and counts what it matched. */
typedef struct golden_tap {
    vt_manifest m;
    const char *from, *to;  /* rename prefix, or NULL */
    int matched;            /* golden names we produced and that compared equal */
    int extra;              /* names we produced that the golden case does not have */
    char failures[2048];
} golden_tap;

static int golden_emit(void *ctx, const char *name, const vt_tensor *t, vt_status *st)
{
    (void)st;
    golden_tap *g = ctx;
    char gname[VT_NAME_MAX];
    size_t nf = g->from ? strlen(g->from) : 0;
    if (g->from && !strncmp(name, g->from, nf) && name[nf] == '.')
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
    if (r.pass) {
        g->matched++;
    } else {
        size_t len = strlen(g->failures);
        char cb[96];
        snprintf(g->failures + len, sizeof g->failures - len, "%s%s: %s", len ? "; " : "", gname,
                 r.shape_ok ? "" : r.why);
        if (r.shape_ok) {
            len = strlen(g->failures);
            snprintf(g->failures + len, sizeof g->failures - len, "%lld bad, worst %s ours %.9g ref %.9g",
                     (long long)r.n_bad, vt_coords_str(cb, sizeof cb, &ref, r.worst), r.ours_w, r.ref_w);
        }
    }
    free(owned);
    return VT_OK;
}

static void golden_tap_open(golden_tap *g, const char *case_dir, const char *from, const char *to)
{
    memset(g, 0, sizeof *g);
    vt_status st = {0};
    if (vt_manifest_read(&g->m, case_dir, &st)) fail_msg("%s", st.msg);
    g->from = from;
    g->to = to;
}

/* How many golden names start with `prefix` (e.g. "image.3.") or equal one of the processor outputs. */
static int golden_count(const vt_manifest *m, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < m->n; i++) n += !strncmp(m->t[i].name, prefix, strlen(prefix));
    return n;
}

/* An image from a golden `<name>` uint8 [H, W, 3] (owned by *owned). */
static vt_image golden_image(const char *case_dir, const char *name, void **owned)
{
    vt_tensor t;
    vt_test_load_golden(case_dir, name, &t, owned);
    assert_int_equal(t.ndim, 3);
    vt_image im = {(int)t.shape[1], (int)t.shape[0], vt_u8(&t)};
    return im;
}

/* ---------------------------------------- smart_resize ---------------------------------------- */

static void test_preprocess_smart_resize_cases(void **state)
{
    (void)state;
    cJSON *j = vt_test_load_json(VT_GOLDEN("preprocess-sizes"), "inputs.json");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "smart_resize_cases"), *c;
    int n_ok = 0, n_err = 0;
    cJSON_ArrayForEach(c, cases)
    {
        int64_t h, w;
        vt_status st = {0};
        int rc = vt_processor_smart_resize(&h, &w, vt_test_json_int(c, "height"), vt_test_json_int(c, "width"),
                                           vt_test_json_int(c, "factor"), vt_test_json_int(c, "min_pixels"),
                                           vt_test_json_int(c, "max_pixels"), &st);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(c, "error");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(c, "result_hw");
        if (err) {
            assert_int_equal(rc, VT_EINPUT);
            if (strcmp(st.msg, err->valuestring) != 0)
                fail_msg("smart_resize(%lld, %lld): '%s', the reference says '%s'",
                         (long long)vt_test_json_int(c, "height"), (long long)vt_test_json_int(c, "width"), st.msg,
                         err->valuestring);
            n_err++;
        } else {
            assert_int_equal(rc, 0);
            int64_t wh = (int64_t)cJSON_GetArrayItem(res, 0)->valuedouble, ww = (int64_t)cJSON_GetArrayItem(res, 1)->valuedouble;
            if (h != wh || w != ww)
                fail_msg("smart_resize(%lld, %lld, min %lld, max %lld) = %lldx%lld, the reference gives %lldx%lld",
                         (long long)vt_test_json_int(c, "height"), (long long)vt_test_json_int(c, "width"),
                         (long long)vt_test_json_int(c, "min_pixels"), (long long)vt_test_json_int(c, "max_pixels"),
                         (long long)h, (long long)w, (long long)wh, (long long)ww);
            n_ok++;
        }
    }
    cJSON_Delete(j);
    assert_int_equal(n_ok, 26);
    assert_int_equal(n_err, 5);
}

/* The pitfalls by hand: half to even, the beta order, the 200.0 edge. */
static void test_preprocess_smart_resize_pitfalls(void **state)
{
    (void)state;
    int64_t h, w;
    vt_status st = {0};
    /* 42 / 28 = 1.5 -> 2 and 70 / 28 = 2.5 -> 2 (not 3): 56x56 */
    assert_int_equal(vt_processor_smart_resize(&h, &w, 42, 70, 28, 3136, 12845056, &st), 0);
    assert_int_equal(h, 56);
    assert_int_equal(w, 56);
    /* 600x600 into 448*448: beta = 600/448, 600 / beta / 28 = 15.999999999999998 -> 15 -> 420 (not 448) */
    assert_int_equal(vt_processor_smart_resize(&h, &w, 600, 600, 28, 3136, 448 * 448, &st), 0);
    assert_int_equal(h, 420);
    /* aspect exactly 200 passes; 5601 / 28 does not */
    assert_int_equal(vt_processor_smart_resize(&h, &w, 28, 5600, 28, 3136, 12845056, &st), 0);
    assert_int_equal(vt_processor_smart_resize(&h, &w, 28, 5601, 28, 3136, 12845056, &st), VT_EINPUT);
}

/* ---------------------------------------- one image at a time ---------------------------------------- */

/* Image k of a preprocess case alone, with its own min/max_pixels from inputs.json: every golden
 * image.{k}.* tensor must come out (as our image.0.*) and match. */
static void check_single_image(const char *case_dir, const cJSON *img, int k)
{
    char gname[64];
    snprintf(gname, sizeof gname, "image.%d.rgb", k);
    void *owned;
    vt_image im = golden_image(case_dir, gname, &owned);
    vt_processor_opts po;
    vt_processor_defaults(&po);
    po.min_pixels = vt_test_json_int(img, "min_pixels");
    po.max_pixels = vt_test_json_int(img, "max_pixels");
    po.emit_input_grids = 1;
    golden_tap g;
    char to[32], prefix[32];
    snprintf(to, sizeof to, "image.%d", k);
    snprintf(prefix, sizeof prefix, "image.%d.", k);
    golden_tap_open(&g, case_dir, "image.0", to);
    vt_tap tap = {golden_emit, NULL, NULL, &g};
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels px;
    vt_status st = {0};
    int rc = vt_processor_preprocess(&px, &im, 1, NULL, 0, &po, &tap, &a, &st);
    const cJSON *perr = cJSON_GetObjectItemCaseSensitive(img, "processor_error");
    if (perr) {
        /* the reference failed: so must we, with its reason */
        assert_int_equal(rc, VT_EINPUT);
        if (!strstr(st.msg, "height and width must be > 0")) fail_msg("%s image %d: '%s'", case_dir, k, st.msg);
        assert_int_equal(g.matched, 0);
    } else {
        if (rc) fail_msg("%s image %d: %s", case_dir, k, st.msg);
        if (g.failures[0]) fail_msg("%s image %d: %s", case_dir, k, g.failures);
        /* every golden tensor of this image, nothing missing (image.9 has no normalized/patches) */
        assert_int_equal(g.matched, golden_count(&g.m, prefix));
        assert_int_equal(px.image_grid_thw.shape[0], 1);
        const cJSON *grid = cJSON_GetObjectItemCaseSensitive(img, "grid_thw");
        for (int i = 0; i < 3; i++)
            assert_int_equal(vt_i64(&px.image_grid_thw)[i], (int64_t)cJSON_GetArrayItem(grid, i)->valuedouble);
    }
    vt_arena_free(&a);
    vt_manifest_free(&g.m);
    free(owned);
}

static int check_single_images(const char *case_dir)
{
    cJSON *j = vt_test_load_json(case_dir, "inputs.json");
    const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(j, "images"), *img;
    int k = 0;
    cJSON_ArrayForEach(img, imgs) check_single_image(case_dir, img, k++);
    cJSON_Delete(j);
    return k;
}

static void test_preprocess_sizes_each_image(void **state)
{
    (void)state;
    assert_int_equal(check_single_images(VT_GOLDEN("preprocess-sizes")), 16);
}

static void test_preprocess_exif_each_image(void **state)
{
    (void)state;
    assert_int_equal(check_single_images(VT_GOLDEN("preprocess-exif")), 6);
}

/* ---------------------------------------- model cases ---------------------------------------- */

/* A case's images and videos from its golden rgb tensors, its limits from inputs.json: every golden
 * image.* / video.* / pixel_values* / *grid_thw tensor must come out and match. */
static void check_model_case(const char *name)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", VT_GOLDEN_ROOT, name);
    cJSON *j = vt_test_load_json(dir, "inputs.json");
    int n_img = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "images"));
    int n_vid = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "videos"));
    vt_processor_opts po;
    vt_processor_defaults(&po);
    po.min_pixels = vt_test_json_int(j, "min_pixels");
    po.max_pixels = vt_test_json_int(j, "max_pixels");
    cJSON_Delete(j);

    vt_image imgs[4];
    void *owned[8] = {0};
    vt_processor_video vids[2];
    vt_image *frames[2] = {0};
    assert_true(n_img <= 4 && n_vid <= 2);
    for (int k = 0; k < n_img; k++) {
        char gname[64];
        snprintf(gname, sizeof gname, "image.%d.rgb", k);
        imgs[k] = golden_image(dir, gname, &owned[k]);
    }
    for (int k = 0; k < n_vid; k++) {
        char gname[64];
        snprintf(gname, sizeof gname, "video.%d.rgb", k);
        vt_tensor t;
        vt_test_load_golden(dir, gname, &t, &owned[4 + k]);
        int F = (int)t.shape[0], H = (int)t.shape[1], W = (int)t.shape[2];
        frames[k] = calloc((size_t)F, sizeof(vt_image));
        for (int f = 0; f < F; f++) frames[k][f] = (vt_image){W, H, vt_u8(&t) + (size_t)f * H * W * 3};
        vids[k] = (vt_processor_video){frames[k], F};
    }
    golden_tap g;
    golden_tap_open(&g, dir, NULL, NULL);
    vt_tap tap = {golden_emit, NULL, NULL, &g};
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels px;
    vt_status st = {0};
    int rc = vt_processor_preprocess(&px, imgs, n_img, vids, n_vid, &po, &tap, &a, &st);
    if (rc) fail_msg("%s: %s", name, st.msg);
    if (g.failures[0]) fail_msg("%s: %s", name, g.failures);
    int want = golden_count(&g.m, "image.") + golden_count(&g.m, "video.") + golden_count(&g.m, "pixel_values") +
               golden_count(&g.m, "image_grid_thw") + golden_count(&g.m, "video_grid_thw");
    assert_int_equal(g.matched, want);
    assert_int_equal(g.extra, 0);
    /* the concatenation the vision tower takes */
    assert_int_equal(px.all_pixel_values.shape[0], px.pixel_values.shape[0] + px.pixel_values_videos.shape[0]);
    assert_int_equal(px.all_grid_thw.shape[0], n_img + n_vid);
    vt_arena_free(&a);
    vt_manifest_free(&g.m);
    for (int k = 0; k < 8; k++) free(owned[k]);
    for (int k = 0; k < 2; k++) free(frames[k]);
}

static void test_preprocess_model_cases(void **state)
{
    (void)state;
    check_model_case("qwen2vl-image");
    check_model_case("qwen2vl-image-bf16");
    check_model_case("qwen2vl-multi");
    check_model_case("qwen25vl-image");
    check_model_case("qwen25vl-multi");
}

/* ---------------------------------------- temporal padding by hand ---------------------------------------- */

/* A 3-frame video: padded to 4 by repeating frame 2, so rows of temporal patch 1 hold frames 2 and 2. An
 * image: both halves of each row are the same frame. Checked on the patch layout (C, T, P, P). */
static void test_preprocess_temporal_padding(void **state)
{
    (void)state;
    enum { S = 28 };
    uint8_t px[3][S * S * 3];
    vt_image fr[3];
    for (int f = 0; f < 3; f++) {
        memset(px[f], 40 * (f + 1), sizeof px[f]);
        fr[f] = (vt_image){S, S, px[f]};
    }
    vt_processor_opts po;
    vt_processor_defaults(&po);
    po.min_pixels = S * S; /* keep 28x28: one merge block, 4 patches */
    vt_processor_video v = {fr, 3};
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels out;
    vt_status st = {0};
    assert_int_equal(vt_processor_preprocess(&out, &fr[0], 1, &v, 1, &po, NULL, &a, &st), 0);
    assert_int_equal(out.pixel_values.shape[0], 4);
    assert_int_equal(out.pixel_values_videos.shape[0], 8); /* grid (2, 2, 2) */
    int64_t *g = vt_i64(&out.video_grid_thw);
    assert_int_equal(g[0], 2);
    const float *r = vt_f32(&out.pixel_values_videos);
    const int D = 1176, PP = 14 * 14;
    /* value of channel 0 of frame f (uniform frames): (40(f+1)/255 - mean0) / std0 */
    float v0[3];
    for (int f = 0; f < 3; f++) v0[f] = ((float)((40.0 * (f + 1)) * (1.0 / 255.0)) - po.image_mean[0]) / po.image_std[0];
    /* row 0 (t = 0): channel 0, T slot 0 = frame 0, slot 1 = frame 1; row 4 (t = 1): frame 2 twice */
    assert_true(r[0] == v0[0] && r[PP] == v0[1]);
    assert_true(r[4 * D] == v0[2] && r[4 * D + PP] == v0[2]);
    const float *ip = vt_f32(&out.pixel_values);
    assert_true(ip[0] == ip[PP]); /* an image is its own second frame */
    /* the concatenation: images first */
    assert_ptr_equal(out.all_pixel_values.data, out.pixel_values.data);
    assert_ptr_equal(vt_f32(&out.all_pixel_values) + 4 * D, out.pixel_values_videos.data);
    vt_arena_free(&a);
}

/* ---------------------------------------- refusals ---------------------------------------- */

static void test_preprocess_rejects(void **state)
{
    (void)state;
    static uint8_t buf[28 * 5601 * 3];
    vt_processor_opts po;
    vt_processor_defaults(&po);
    vt_arena a;
    vt_arena_init(&a, 0);
    vt_processor_pixels out;
    vt_status st = {0};
    /* aspect ratio over 200 */
    vt_image wide = {5601, 28, buf};
    assert_int_equal(vt_processor_preprocess(&out, &wide, 1, NULL, 0, &po, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "image.0: 5601x28 input"));
    assert_non_null(strstr(st.msg, "absolute aspect ratio must be smaller than 200, got 200.03571428571428"));
    /* a side under 28, in a video's first frame */
    vt_image small[2] = {{100, 27, buf}, {100, 100, buf}};
    vt_processor_video v = {small, 2};
    assert_int_equal(vt_processor_preprocess(&out, NULL, 0, &v, 1, &po, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "video.0: 100x27 input"));
    assert_non_null(strstr(st.msg, "height:27 and width:100 must be larger than factor:28"));
    /* a 0 side from smart_resize (30x1000 with max_pixels 20000) */
    vt_image strip = {1000, 30, buf};
    po.max_pixels = 20000;
    assert_int_equal(vt_processor_preprocess(&out, &strip, 1, NULL, 0, &po, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "height and width must be > 0"));
    /* a size refused before allocating */
    po.max_pixels = (int64_t)1 << 40;
    po.min_pixels = (int64_t)1 << 32;
    assert_int_equal(vt_processor_preprocess(&out, &strip, 1, NULL, 0, &po, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "over the limit"));
    /* nothing at all, an empty video */
    vt_processor_defaults(&po);
    assert_int_equal(vt_processor_preprocess(&out, NULL, 0, NULL, 0, &po, NULL, &a, &st), VT_EINPUT);
    vt_processor_video empty = {small, 0};
    assert_int_equal(vt_processor_preprocess(&out, NULL, 0, &empty, 1, &po, NULL, &a, &st), VT_EINPUT);
    assert_non_null(strstr(st.msg, "video.0: no frames"));
    vt_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preprocess_smart_resize_cases),
        cmocka_unit_test(test_preprocess_smart_resize_pitfalls),
        cmocka_unit_test(test_preprocess_sizes_each_image),
        cmocka_unit_test(test_preprocess_exif_each_image),
        cmocka_unit_test(test_preprocess_model_cases),
        cmocka_unit_test(test_preprocess_temporal_padding),
        cmocka_unit_test(test_preprocess_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
