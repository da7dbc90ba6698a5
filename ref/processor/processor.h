/*
 * processor.h -- Qwen2VLImageProcessor, the image and video processor Qwen2-VL, Qwen2.5-VL (and Qwen3-VL)
 * share, byte-exact with the slow (PIL) processor of transformers 4.51.3. It sits below the families that
 * use it (HF reuses the class the same way); it may include ref/core/ and ref/io/ only.
 *
 *     vt_processor_opts po;
 *     vt_processor_defaults(&po);               // hub values: min 3136, max 12845056, CLIP mean/std
 *     vt_processor_from_config(&po, &cfg.pre);  // or take DIR/preprocessor_config.json's (config.h)
 *     if (min_pixels_flag > 0) po.min_pixels = min_pixels_flag;   // a flag overrides the file
 *
 *     vt_image imgs[2];                              // decoded with vt_image_load(..., VT_EXIF_APPLY, st)
 *     vt_processor_video vid = {frames, n_frames};       // frames: vt_image[n_frames]
 *     vt_processor_pixels px;
 *     VT_TRY(vt_processor_preprocess(&px, imgs, 2, &vid, 1, &po, &tap, &arena, st));
 *     // px.pixel_values        float32 [sum of t*h*w over images, 1176]   (the reference's names)
 *     // px.image_grid_thw      int64   [2, 3]
 *     // px.pixel_values_videos float32 [sum over videos, 1176]
 *     // px.video_grid_thw      int64   [1, 3]
 *     // px.all_pixel_values    float32 [images' rows then videos' rows, 1176] = cat(pixel_values, pixel_values_videos)
 *     // px.all_grid_thw        int64   [3, 3]                               = cat(image_grid_thw, video_grid_thw)
 *     //   all_* are the same memory (pixel_values is its first rows): what the vision tower takes.
 *
 * Every tensor is allocated from `arena` and lives until the caller resets or frees it; the inputs are
 * only read (the rgb tensors emitted are views of them). On the way, the tap receives, in the golden
 * manifests' order: per image k `image.{k}.rgb` (uint8 [H,W,3]), `image.{k}.resized` (uint8 [h,w,3]),
 * `image.{k}.normalized` (float32 [3,h,w]), `image.{k}.patches` (float32 [t*gh*gw, 1176]) and, when
 * opts.emit_input_grids (`vlmtrace preprocess`), `image.{k}.grid_thw` (int64 [1,3]); then
 * `pixel_values`, `image_grid_thw`; then per video k the same with a leading frame axis on
 * rgb / resized / normalized (`video.{k}.rgb` [F,H,W,3], only when all frames have one size; otherwise
 * `video.{k}.frame.{f}.rgb` per frame), then `pixel_values_videos`, `video_grid_thw`. The image
 * outputs are emitted only when there are images, the video outputs only when there are videos, as the
 * processor returns them.
 *
 * Errors (VT_EINPUT, naming the input): what smart_resize raises (a side below patch*merge, an aspect
 * ratio over 200, with the reference's own message) and what PIL raises on a zero side ("height and
 * width must be > 0"); a resized image over VT_PROCESSOR_MAX_RESIZED_PIXELS is refused before allocating.
 * Allocation failures are VT_ERESOURCE.
 *
 * Steps (each one function in processor.c, mirroring Qwen2VLImageProcessor._preprocess):
 *   smart_resize -> PIL bicubic resize (resize.h) -> rescale x * (1/255) in float64, stored float32 ->
 *   normalise (x - mean) / std in float32, channels first -> stack frames and pad to a multiple of
 *   temporal_patch_size by repeating the last -> 9-D reshape, permute(0,3,6,4,7,2,1,5,8), flatten.
 */
#ifndef VT_PROCESSOR_H
#define VT_PROCESSOR_H

#include <stdint.h>

#include "core/arena.h"
#include "io/preproc_config.h"
#include "io/image.h"
#include "core/tap.h"
#include "core/tensor.h"

/* A resized image larger than this (2^28 pixels, e.g. a --min-pixels far too large) is refused. */
#define VT_PROCESSOR_MAX_RESIZED_PIXELS ((int64_t)1 << 28)

typedef struct vt_processor_opts {
    int64_t min_pixels;      /* 3136 = 56*56 (hub and class default) */
    int64_t max_pixels;      /* 12845056 = 28*28*16384 on the hub; the 4.51.3 class default is 1003520 */
    int patch_size;          /* 14 */
    int merge_size;          /* 2: smart_resize's factor is patch_size * merge_size = 28 */
    int temporal_patch_size; /* 2 */
    float image_mean[3];     /* CLIP: 0.48145466, 0.4578275, 0.40821073 */
    float image_std[3];      /* CLIP: 0.26862954, 0.26130258, 0.27577711 */
    int emit_input_grids;    /* 1: also emit image.{k}.grid_thw / video.{k}.grid_thw (preprocess traces) */
    unsigned bugs;           /* bug zoo (bugzoo.h): VT_BUG_BILINEAR_RESIZE, VT_BUG_ROUND_HALF_AWAY; 0 = the
                                reference (what vt_processor_defaults sets) */
} vt_processor_opts;

/* One video: its frames in order (all resized to the size smart_resize gives for the first). */
typedef struct vt_processor_video {
    const vt_image *frames;
    int n_frames;
} vt_processor_video;

/* The processor's outputs (see the usage block). With no images, pixel_values is [0, D] and
 * image_grid_thw [0, 3] (data NULL); likewise for videos. */
typedef struct vt_processor_pixels {
    vt_tensor pixel_values;        /* float32 [Ni, D], D = 3 * temporal * patch * patch = 1176 */
    vt_tensor image_grid_thw;      /* int64 [n_images, 3] */
    vt_tensor pixel_values_videos; /* float32 [Nv, D] */
    vt_tensor video_grid_thw;      /* int64 [n_videos, 3] */
    vt_tensor all_pixel_values;    /* float32 [Ni + Nv, D]: the same memory, images first */
    vt_tensor all_grid_thw;        /* int64 [n_images + n_videos, 3] */
} vt_processor_pixels;

/* The published defaults (hub preprocessor_config.json of Qwen2-VL / Qwen2.5-VL). */
void vt_processor_defaults(vt_processor_opts *o);
/* Take min/max pixels, patch/merge/temporal sizes and mean/std from a preprocessor config (config.h; it
 * already holds the published defaults for fields the file lacks). emit_input_grids is left as it was. */
void vt_processor_from_config(vt_processor_opts *o, const vt_preproc_config *p);

/* mirrors smart_resize (transformers 4.51.3, image_processing_qwen2_vl.py): the size, a multiple of
 * factor, closest to height x width within [min_pixels, max_pixels] with the aspect kept. Raises as the
 * reference does (VT_EINPUT, its message): a side below factor, an aspect ratio over 200. A result with
 * a 0 side is returned, as the reference returns it (the resize then fails). */
int vt_processor_smart_resize(int64_t *out_h, int64_t *out_w, int64_t height, int64_t width, int64_t factor,
                          int64_t min_pixels, int64_t max_pixels, vt_status *st);

/* The size an input of first-frame size width x height is resized to: smart_resize with the options'
 * factor (and o->bugs' VT_BUG_ROUND_HALF_AWAY), plus the refusals vt_processor_preprocess makes (a 0 side, as PIL raises; over
 * VT_PROCESSOR_MAX_RESIZED_PIXELS). Messages start with "WxH input: ", so a caller can prefix the file name
 * (`vlmtrace preprocess` checks every decoded input with it before preprocessing). */
int vt_processor_resized_size(int64_t *out_h, int64_t *out_w, int width, int height, const vt_processor_opts *o,
                          vt_status *st);

/* mirrors Qwen2VLImageProcessor.preprocess on images then videos (see the usage block). */
int vt_processor_preprocess(vt_processor_pixels *out, const vt_image *images, int n_images, const vt_processor_video *videos,
                        int n_videos, const vt_processor_opts *o, const vt_tap *tap, vt_arena *arena,
                        vt_status *st);

#endif
