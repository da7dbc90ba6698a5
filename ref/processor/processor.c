/*
 * processor.c -- Qwen2VLImageProcessor (slow, PIL) of transformers 4.51.3, stage by stage
 * (see processor.h for the API and the names traced).
 *
 * Dimensions: H x W an input's decoded size; h x w its resized size (multiples of P*M); F frames of
 * an input (1 for an image); T temporal_patch_size (2); Fp = gt * T frames after padding; C channels (3);
 * P patch_size (14); M merge_size (2); gt, gh, gw the grid (gt = ceil(F / T), gh = h / P, gw = w / P);
 * D = C * T * P * P (1176) values per patch row.
 *
 * Worked example (qwen2vl-multi's video): 4 frames of 64x84 -> smart_resize 56x84 -> resized
 * [4, 56, 84, 3] -> normalized [4, 3, 56, 84] -> (no padding: 4 is even) -> 9-D
 * [2, 2, 3, 2, 2, 14, 3, 2, 14] -> permuted [2, 2, 3, 2, 2, 3, 2, 14, 14] -> patches [48, 1176],
 * grid_thw (2, 4, 6).
 */
#include "processor/processor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bugzoo.h"
#include "io/resize.h"

/* ======================================== config ======================================== */

void vt_processor_defaults(vt_processor_opts *o)
{
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(o, 0, sizeof *o);
    o->min_pixels = 3136;     /* 56 * 56 */
    o->max_pixels = 12845056; /* hub preprocessor_config.json (the 4.51.3 class default is 1003520) */
    o->patch_size = 14;
    o->merge_size = 2;
    o->temporal_patch_size = 2;
    memcpy(o->image_mean, clip_mean, sizeof clip_mean);
    memcpy(o->image_std, clip_std, sizeof clip_std);
}

void vt_processor_from_config(vt_processor_opts *o, const vt_preproc_config *p)
{
    o->min_pixels = p->min_pixels;
    o->max_pixels = p->max_pixels;
    o->patch_size = p->patch_size;
    o->merge_size = p->merge_size;
    o->temporal_patch_size = p->temporal_patch_size;
    memcpy(o->image_mean, p->image_mean, sizeof o->image_mean);
    memcpy(o->image_std, p->image_std, sizeof o->image_std);
}

/* ======================================== smart_resize ======================================== */

/* Python's round() on a float: to nearest, ties to even (round(2.5) == 2, round(3.5) == 4). */
static double python_round(double x)
{
    double f = floor(x), d = x - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return fmod(f, 2.0) == 0.0 ? f : f + 1;
}

/* Python's repr() of a float (the shortest string that reads back as the same double), for messages
 * that must read exactly like the reference's ("got 200.03571428571428"). */
static void python_float_repr(char *buf, size_t n, double x)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (!strpbrk(buf, ".eEn")) { /* an integral value: Python writes "250.0" */
        size_t len = strlen(buf);
        if (len + 2 < n) memcpy(buf + len, ".0", 3);
    }
}

/* mirrors smart_resize (image_processing_qwen2_vl.py, 4.51.3). (height, width) -> (h_bar, w_bar).
 * bugs: VT_BUG_ROUND_HALF_AWAY rounds the first guess with C's round() (bugzoo.h); 0 is the reference. */
static int qwen2_smart_resize(int64_t *out_h, int64_t *out_w, int64_t height, int64_t width, int64_t factor,
                              int64_t min_pixels, int64_t max_pixels, unsigned bugs, vt_status *st)
{
    if (height < factor || width < factor)
        return vt_fail(st, VT_EINPUT, "height:%lld and width:%lld must be larger than factor:%lld", (long long)height,
                       (long long)width, (long long)factor);
    /* max(h, w) / min(h, w) > 200: Python true division, a correctly rounded double (200.0 passes) */
    double ratio = (double)(height > width ? height : width) / (double)(height < width ? height : width);
    if (ratio > 200) {
        char r[40];
        python_float_repr(r, sizeof r, ratio);
        return vt_fail(st, VT_EINPUT, "absolute aspect ratio must be smaller than 200, got %s", r);
    }
    /* round(height / factor) * factor: half to even (42 / 28 = 1.5 -> 2, 70 / 28 = 2.5 -> 2). The bug
     * zoo's round-half-away is the C port's round(), ties away from zero (70 / 28 = 2.5 -> 3). */
    double (*round_fn)(double) = python_round;
    VT_BUG_SWITCH(bugs, VT_BUG_ROUND_HALF_AWAY, round_fn = round);
    int64_t h_bar = (int64_t)round_fn((double)height / (double)factor) * factor;
    int64_t w_bar = (int64_t)round_fn((double)width / (double)factor) * factor;
    if (h_bar * w_bar > max_pixels) {
        double beta = sqrt((double)(height * width) / (double)max_pixels);
        /* parity: height / beta / factor, in that order, in double: an exact quotient can land just
         * below an integer (600x600, max 448*448: 600 / (600/448) / 28 = 15.999... -> 15 -> 420) */
        h_bar = (int64_t)floor((double)height / beta / (double)factor) * factor;
        w_bar = (int64_t)floor((double)width / beta / (double)factor) * factor;
    } else if (h_bar * w_bar < min_pixels) {
        double beta = sqrt((double)min_pixels / (double)(height * width));
        h_bar = (int64_t)ceil((double)height * beta / (double)factor) * factor;
        w_bar = (int64_t)ceil((double)width * beta / (double)factor) * factor;
    }
    *out_h = h_bar;
    *out_w = w_bar;
    return VT_OK;
}

int vt_processor_smart_resize(int64_t *out_h, int64_t *out_w, int64_t height, int64_t width, int64_t factor,
                          int64_t min_pixels, int64_t max_pixels, vt_status *st)
{
    return qwen2_smart_resize(out_h, out_w, height, width, factor, min_pixels, max_pixels, 0, st);
}

/* ======================================== stages ======================================== */

/* mirrors transformers.image_transforms.resize -> PIL Image.resize((w, h), BICUBIC) on uint8 RGB.
 * [H, W, 3] -> [h, w, 3]. bugs: VT_BUG_BILINEAR_RESIZE resamples with PIL BILINEAR instead (bugzoo.h). */
static int qwen2_resize(uint8_t *dst, int64_t h, int64_t w, const vt_image *img, unsigned bugs, vt_status *st)
{
    int (*resample)(uint8_t *, int, int, const uint8_t *, int, int, int, vt_status *) = vt_resize_pil_bicubic;
    VT_BUG_SWITCH(bugs, VT_BUG_BILINEAR_RESIZE, resample = vt_resize_pil_bilinear);
    return resample(dst, (int)w, (int)h, img->rgb, img->w, img->h, 3, st);
}

/* mirrors rescale (x * rescale_factor in float64, cast to float32) then normalize ((x - mean) / std in
 * float32) then to_channel_dimension_format (HWC -> CHW). [h, w, 3] uint8 -> [3, h, w] float32 */
static void qwen2_rescale_normalize(float *dst, const uint8_t *src, int64_t h, int64_t w, const float mean[3],
                                    const float std[3])
{
    const double rescale_factor = 1.0 / 255.0; /* 0.00392156862745098, the processor's value */
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = (float)((double)src[(y * w + x) * 3 + c] * rescale_factor); /* parity: f64 then f32 */
                dst[(c * h + y) * w + x] = (v - mean[c]) / std[c];                    /* a division, in f32 */
            }
}

/* mirrors the tail of _preprocess: patches.reshape(9-D).transpose(0,3,6,4,7,2,1,5,8).reshape(rows, D).
 * frames [gt*T, C, gh*P, gw*P] -> out [gt*gh*gw, C*T*P*P] (allocated from the arena) */
static int qwen2_patchify(vt_tensor *out, vt_tensor frames, int T, int M, int P, vt_arena *a, vt_status *st)
{
    int64_t Fp = frames.shape[0], C = frames.shape[1], h = frames.shape[2], w = frames.shape[3];
    int64_t gt = Fp / T, gh = h / P, gw = w / P;
    /* axes: 0 grid_t, 1 T (frame within the temporal patch), 2 C, 3 gh/M (merge-block row),
     * 4 M (patch row within the block), 5 P (pixel row), 6 gw/M (merge-block column), 7 M (patch column
     * within the block), 8 P (pixel column) */
    VT_TRY(vt_reshape(&frames, VT_DIMS(gt, T, C, gh / M, M, P, gw / M, M, P), st));
    /* rows ordered (t, block row, block column, patch row in block, patch column in block): the 4 patches
     * of a 2x2 merge block are adjacent; each row holds (C, T, P, P), the Conv3d kernel's layout */
    VT_TRY(vt_permute(out, &frames, VT_PERM(0, 3, 6, 4, 7, 2, 1, 5, 8), a, st));
    VT_TRY(vt_reshape(out, VT_DIMS(gt * gh * gw, C * T * P * P), st));
    return VT_OK;
}

/* ======================================== forward ======================================== */

int vt_processor_resized_size(int64_t *out_h, int64_t *out_w, int width, int height, const vt_processor_opts *o,
                          vt_status *st)
{
    const int64_t factor = (int64_t)o->patch_size * o->merge_size;
    int64_t h, w;
    if (qwen2_smart_resize(&h, &w, height, width, factor, o->min_pixels, o->max_pixels, o->bugs, st))
        return vt_wrap(st, "%dx%d input (min_pixels %lld, max_pixels %lld): ", width, height,
                       (long long)o->min_pixels, (long long)o->max_pixels);
    if (h <= 0 || w <= 0) /* 4.51.3 returns a 0 side; PIL's resize then raises this */
        return vt_fail(st, VT_EINPUT,
                       "%dx%d input: height and width must be > 0 (smart_resize gives %lldx%lld with min_pixels %lld, "
                       "max_pixels %lld)",
                       width, height, (long long)w, (long long)h, (long long)o->min_pixels, (long long)o->max_pixels);
    if (h > VT_PROCESSOR_MAX_RESIZED_PIXELS / w) {
        /* what preprocessing it would need: resized u8 [h, w, 3], then T float32 frames [3, h, w], their 9-D
         * permutation and its rows of pixel_values, each as large (in double: h * w may not fit in int64) */
        double px = (double)h * (double)w, bytes = px * (3.0 + 3 * 12.0 * o->temporal_patch_size);
        return vt_fail(st, VT_EINPUT, "%dx%d input: resized size %lldx%lld = %.0f pixels (about %.0f bytes to "
                       "preprocess) is over the limit of %lld pixels; refused before allocating", width, height,
                       (long long)w, (long long)h, px, bytes, (long long)VT_PROCESSOR_MAX_RESIZED_PIXELS);
    }
    *out_h = h;
    *out_w = w;
    return VT_OK;
}

/* What smart_resize decided for one input (an image is one frame). */
typedef struct qwen2_plan {
    const char *kind;     /* "image" or "video" */
    int k;                /* index among its kind */
    const vt_image *frames;
    int n_frames;
    int64_t h, w;         /* resized size */
    int64_t gt, gh, gw;   /* grid_thw */
    int64_t row0;         /* first row in all_pixel_values */
} qwen2_plan;

static int qwen2_plan_input(qwen2_plan *p, const char *kind, int k, const vt_image *frames, int n_frames,
                            const vt_processor_opts *o, vt_status *st)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->k = k;
    p->frames = frames;
    p->n_frames = n_frames;
    if (n_frames < 1 || !frames) return vt_fail(st, VT_EINPUT, "%s.%d: no frames", kind, k);
    for (int f = 0; f < n_frames; f++)
        if (frames[f].w <= 0 || frames[f].h <= 0 || !frames[f].rgb)
            return vt_fail(st, VT_EINPUT, "%s.%d: frame %d is empty (%dx%d)", kind, k, f, frames[f].w, frames[f].h);
    /* every frame takes the size computed from the first (get_image_size(images[0])) */
    if (vt_processor_resized_size(&p->h, &p->w, frames[0].w, frames[0].h, o, st)) return vt_wrap(st, "%s.%d: ", kind, k);
    p->gt = (n_frames + o->temporal_patch_size - 1) / o->temporal_patch_size;
    p->gh = p->h / o->patch_size;
    p->gw = p->w / o->patch_size;
    return VT_OK;
}

/* The decoded frames as one tensor for the trace: a view for an image, a copy for a video whose frames
 * share a size; per-frame views otherwise. */
static int qwen2_emit_rgb(const qwen2_plan *p, vt_arena *a, const vt_tap *tap, vt_status *st)
{
    const vt_image *fr = p->frames;
    if (p->n_frames == 1 && !strcmp(p->kind, "image")) {
        vt_tensor t = vt_tensor_of(VT_U8, fr[0].rgb, VT_DIMS(fr[0].h, fr[0].w, 3));
        return vt_tap_emitf(tap, st, &t, "image.%d.rgb", p->k);
    }
    int same = 1;
    for (int f = 1; f < p->n_frames; f++) same &= fr[f].w == fr[0].w && fr[f].h == fr[0].h;
    if (!same) {
        for (int f = 0; f < p->n_frames; f++) {
            vt_tensor t = vt_tensor_of(VT_U8, fr[f].rgb, VT_DIMS(fr[f].h, fr[f].w, 3));
            VT_TRY(vt_tap_emitf(tap, st, &t, "%s.%d.frame.%d.rgb", p->kind, p->k, f));
        }
        return VT_OK;
    }
    if (!vt_tap_wantsf(tap, "%s.%d.rgb", p->kind, p->k)) return VT_OK;
    vt_tensor t;
    VT_TRY(vt_tensor_alloc(&t, a, VT_U8, VT_DIMS(p->n_frames, fr[0].h, fr[0].w, 3), st));
    size_t frame_bytes = (size_t)fr[0].h * fr[0].w * 3;
    for (int f = 0; f < p->n_frames; f++) memcpy(vt_u8(&t) + f * frame_bytes, fr[f].rgb, frame_bytes);
    return vt_tap_emitf(tap, st, &t, "%s.%d.rgb", p->kind, p->k);
}

/* mirrors _preprocess for one image or one video: resize, rescale, normalize, temporal padding,
 * patchify. Writes its rows into all->[row0, row0 + gt*gh*gw) and emits its tensors. */
static int qwen2_preprocess_input(const qwen2_plan *p, vt_tensor *all, const vt_processor_opts *o, vt_arena *a,
                                  const vt_tap *tap, vt_status *st)
{
    const int T = o->temporal_patch_size, F = p->n_frames, image = !strcmp(p->kind, "image");
    const int64_t h = p->h, w = p->w, Fp = p->gt * T;
    VT_TRY(qwen2_emit_rgb(p, a, tap, st));

    /* resize every frame: [F, h, w, 3] */
    vt_tensor resized;
    VT_TRY(vt_tensor_alloc(&resized, a, VT_U8, VT_DIMS(F, h, w, 3), st));
    for (int f = 0; f < F; f++)
        if (qwen2_resize(vt_u8(&resized) + (size_t)f * h * w * 3, h, w, &p->frames[f], o->bugs, st))
            return vt_wrap(st, "%s.%d: ", p->kind, p->k);
    if (image) VT_TRY(vt_reshape(&resized, VT_DIMS(h, w, 3), st));
    VT_TRY(vt_tap_emitf(tap, st, &resized, "%s.%d.resized", p->kind, p->k));

    /* rescale + normalize into the first F of Fp frames: [Fp, 3, h, w] */
    vt_tensor frames;
    VT_TRY(vt_tensor_alloc(&frames, a, VT_F32, VT_DIMS(Fp, 3, h, w), st));
    const size_t frame_elems = (size_t)3 * h * w;
    for (int f = 0; f < F; f++)
        qwen2_rescale_normalize(vt_f32(&frames) + f * frame_elems, vt_u8(&resized) + (size_t)f * h * w * 3, h, w,
                                o->image_mean, o->image_std);
    vt_tensor normalized = image ? vt_tensor_of(VT_F32, frames.data, VT_DIMS(3, h, w))
                                 : vt_tensor_of(VT_F32, frames.data, VT_DIMS(F, 3, h, w));
    VT_TRY(vt_tap_emitf(tap, st, &normalized, "%s.%d.normalized", p->kind, p->k));

    /* temporal: an image becomes T copies of itself; a video with F % T != 0 repeats its last frame
     * (np.repeat(patches[-1][np.newaxis], T - F % T, axis=0)) */
    for (int64_t f = F; f < Fp; f++)
        memcpy(vt_f32(&frames) + f * frame_elems, vt_f32(&frames) + (size_t)(F - 1) * frame_elems,
               frame_elems * sizeof(float));

    vt_tensor patches;
    VT_TRY(qwen2_patchify(&patches, frames, T, o->merge_size, o->patch_size, a, st));
    int64_t D = all->shape[1];
    float *rows = vt_f32(all) + p->row0 * D;
    memcpy(rows, patches.data, vt_nbytes(&patches));
    vt_tensor mine = vt_tensor_of(VT_F32, rows, VT_DIMS(patches.shape[0], D));
    VT_TRY(vt_tap_emitf(tap, st, &mine, "%s.%d.patches", p->kind, p->k));
    if (o->emit_input_grids) {
        int64_t thw[3] = {p->gt, p->gh, p->gw};
        vt_tensor g = vt_tensor_of(VT_I64, thw, VT_DIMS(1, 3));
        VT_TRY(vt_tap_emitf(tap, st, &g, "%s.%d.grid_thw", p->kind, p->k));
    }
    return VT_OK;
}

static int qwen2_check_opts(const vt_processor_opts *o, vt_status *st)
{
    if (o->patch_size < 1 || o->patch_size > 1024 || o->merge_size < 1 || o->merge_size > 64 ||
        o->temporal_patch_size < 1 || o->temporal_patch_size > 64)
        return vt_fail(st, VT_EINPUT, "preprocessor: patch_size %d, merge_size %d, temporal_patch_size %d out of range",
                       o->patch_size, o->merge_size, o->temporal_patch_size);
    if (o->min_pixels < 1 || o->max_pixels < 1)
        return vt_fail(st, VT_EINPUT, "preprocessor: min_pixels %lld and max_pixels %lld must be positive",
                       (long long)o->min_pixels, (long long)o->max_pixels);
    for (int c = 0; c < 3; c++)
        if (!(o->image_std[c] != 0.0f) || !isfinite(o->image_std[c]) || !isfinite(o->image_mean[c]))
            return vt_fail(st, VT_EINPUT, "preprocessor: image_mean / image_std[%d] = %g / %g is unusable", c,
                           (double)o->image_mean[c], (double)o->image_std[c]);
    return VT_OK;
}

/* mirrors Qwen2VLImageProcessor.preprocess(images, videos). See processor.h. */
int vt_processor_preprocess(vt_processor_pixels *out, const vt_image *images, int n_images, const vt_processor_video *videos,
                        int n_videos, const vt_processor_opts *o, const vt_tap *tap, vt_arena *arena,
                        vt_status *st)
{
    memset(out, 0, sizeof *out);
    VT_TRY(qwen2_check_opts(o, st));
    if (n_images < 0 || n_videos < 0 || n_images + n_videos == 0)
        return vt_fail(st, VT_EINPUT, "preprocess: no images and no videos");
    const int n = n_images + n_videos;
    const int64_t D = 3 * (int64_t)o->temporal_patch_size * o->patch_size * o->patch_size;

    /* plan every input first: all sizes are known (and every refusal made) before anything is allocated */
    qwen2_plan *plan = malloc((size_t)n * sizeof *plan);
    if (!plan) return vt_fail(st, VT_ERESOURCE, "preprocess: out of memory");
    int64_t rows = 0, image_rows = 0;
    int rc = VT_OK;
    for (int i = 0; i < n && rc == VT_OK; i++) {
        rc = i < n_images ? qwen2_plan_input(&plan[i], "image", i, &images[i], 1, o, st)
                          : qwen2_plan_input(&plan[i], "video", i - n_images, videos[i - n_images].frames,
                                             videos[i - n_images].n_frames, o, st);
        if (rc) break;
        plan[i].row0 = rows;
        rows += plan[i].gt * plan[i].gh * plan[i].gw;
        if (i == n_images - 1) image_rows = rows;
    }
    if (rc == VT_OK) rc = vt_tensor_alloc(&out->all_pixel_values, arena, VT_F32, VT_DIMS(rows, D), st);
    if (rc == VT_OK) rc = vt_tensor_alloc(&out->all_grid_thw, arena, VT_I64, VT_DIMS(n, 3), st);
    if (rc) {
        free(plan);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        int64_t *g = vt_i64(&out->all_grid_thw) + 3 * i;
        g[0] = plan[i].gt, g[1] = plan[i].gh, g[2] = plan[i].gw;
    }
    float *px = vt_f32(&out->all_pixel_values);
    int64_t *gr = vt_i64(&out->all_grid_thw);
    out->pixel_values = vt_tensor_of(VT_F32, n_images ? px : NULL, VT_DIMS(image_rows, D));
    out->image_grid_thw = vt_tensor_of(VT_I64, n_images ? gr : NULL, VT_DIMS(n_images, 3));
    out->pixel_values_videos = vt_tensor_of(VT_F32, n_videos ? px + image_rows * D : NULL, VT_DIMS(rows - image_rows, D));
    out->video_grid_thw = vt_tensor_of(VT_I64, n_videos ? gr + 3 * n_images : NULL, VT_DIMS(n_videos, 3));

    /* one input at a time; its temporaries are released before the next */
    for (int i = 0; i < n && rc == VT_OK; i++) {
        vt_arena_pos mark = vt_arena_mark(arena);
        rc = qwen2_preprocess_input(&plan[i], &out->all_pixel_values, o, arena, tap, st);
        vt_arena_reset(arena, mark);
        if (rc == VT_OK && i == n_images - 1) {
            rc = vt_tap_emit(tap, "pixel_values", &out->pixel_values, st);
            if (rc == VT_OK) rc = vt_tap_emit(tap, "image_grid_thw", &out->image_grid_thw, st);
        }
    }
    if (rc == VT_OK && n_videos) {
        rc = vt_tap_emit(tap, "pixel_values_videos", &out->pixel_values_videos, st);
        if (rc == VT_OK) rc = vt_tap_emit(tap, "video_grid_thw", &out->video_grid_thw, st);
    }
    free(plan);
    return rc;
}
