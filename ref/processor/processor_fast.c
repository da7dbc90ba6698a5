/*
 * processor_fast.c -- the stages of the fast (torchvision) processors of transformers 5.0 that differ from
 * the slow ones (processor.h; README.preprocess-fast.md gives the numerics): this version's smart_resize,
 * the fused rescale-normalize, the video processor's frame padding; and the choice of mode. The resize is
 * torch's antialiased bicubic (ref/io/resize_torch_aa.c); decoding, the patch layout and the trace names are
 * the slow path's (processor.c drives both).
 *
 * Dimensions: h x w a resized frame; F frames of an input (1 for an image), Fp after padding; T
 * temporal_patch_size (2).
 *
 * Worked example (preprocess-fast's video): 3 frames of 100x140, min 3136, max 8000 -> smart_resize 56x84
 * -> each frame resized by torch's antialiased bicubic -> normalized [3, 3, 56, 84] -> 3 is odd: T - 1 = 1
 * copy of frame 2 -> [4, 3, 56, 84] -> patches [2*4*6, 1176] = [48, 1176], grid_thw (2, 4, 6).
 */
#include "processor/processor.h"

#include <math.h>
#include <string.h>

#include "core/bugzoo.h"
#include "processor/processor_stages.h"

/* ======================================== the mode ======================================== */

const char *vt_processor_mode_name(vt_processor_mode m) { return m == VT_PROCESSOR_FAST ? "fast" : "slow"; }

int vt_processor_mode_parse(const char *s, vt_processor_mode *m, vt_status *st)
{
    if (s && !strcmp(s, "slow")) *m = VT_PROCESSOR_SLOW;
    else if (s && !strcmp(s, "fast")) *m = VT_PROCESSOR_FAST;
    else
        return vt_fail(st, VT_EINPUT, "processor '%s': slow (transformers 4.51.3, PIL) or fast (transformers >= 4.52, "
                       "torchvision)", s ? s : "");
    return VT_OK;
}

vt_processor_mode vt_processor_mode_of_config(const vt_preproc_config *p, vt_processor_mode family_default)
{
    /* AutoImageProcessor saves the class it built: "Qwen2VLImageProcessorFast" for the fast one */
    const char *t = p->image_processor_type;
    size_t n = strlen(t);
    if (p->present && n >= 4 && !strcmp(t + n - 4, "Fast")) return VT_PROCESSOR_FAST;
    return family_default;
}

void vt_processor_video_from_config(vt_processor_opts *o, const vt_preproc_config *video)
{
    o->video_min_pixels = video->min_pixels;
    o->video_max_pixels = video->max_pixels;
    memcpy(o->video_mean, video->image_mean, sizeof o->video_mean);
    memcpy(o->video_std, video->image_std, sizeof o->video_std);
}

/* ======================================== smart_resize ======================================== */

/* mirrors smart_resize (image_processing_qwen2_vl.py, transformers 5.0). (height, width) -> (h_bar, w_bar).
 * bugs: VT_BUG_ROUND_HALF_AWAY rounds the first guess with C's round() (bugzoo.h); 0 is the reference. */
int vt_processor_fast_smart_resize(int64_t *out_h, int64_t *out_w, int64_t height, int64_t width, int64_t factor,
                                   int64_t min_pixels, int64_t max_pixels, unsigned bugs, vt_status *st)
{
    /* no "must be larger than factor" check any more: a 20x64 image is taken (4.51.3 raised) */
    if (height < 1 || width < 1 || factor < 1)
        return vt_fail(st, VT_EINPUT, "smart_resize: height %lld, width %lld, factor %lld must be positive",
                       (long long)height, (long long)width, (long long)factor);
    double ratio = (double)(height > width ? height : width) / (double)(height < width ? height : width);
    if (ratio > 200) {
        char r[40];
        vt_processor_python_float_repr(r, sizeof r, ratio);
        return vt_fail(st, VT_EINPUT, "absolute aspect ratio must be smaller than 200, got %s", r);
    }
    double (*round_fn)(double) = vt_processor_python_round;
    VT_BUG_SWITCH(bugs, VT_BUG_ROUND_HALF_AWAY, round_fn = round);
    int64_t h_bar = (int64_t)round_fn((double)height / (double)factor) * factor; /* may be 0 for a side < factor/2 */
    int64_t w_bar = (int64_t)round_fn((double)width / (double)factor) * factor;
    if (h_bar * w_bar > max_pixels) {
        double beta = sqrt((double)(height * width) / (double)max_pixels);
        /* max(factor, floor(height / beta / factor) * factor): the clamp is new (4.51.3 could return 0) */
        h_bar = (int64_t)floor((double)height / beta / (double)factor) * factor;
        w_bar = (int64_t)floor((double)width / beta / (double)factor) * factor;
        if (h_bar < factor) h_bar = factor;
        if (w_bar < factor) w_bar = factor;
    } else if (h_bar * w_bar < min_pixels) {
        /* also where a rounded-to-0 side lands (0 < min_pixels): the ceil gives at least factor */
        double beta = sqrt((double)min_pixels / (double)(height * width));
        h_bar = (int64_t)ceil((double)height * beta / (double)factor) * factor;
        w_bar = (int64_t)ceil((double)width * beta / (double)factor) * factor;
    }
    *out_h = h_bar;
    *out_w = w_bar;
    return VT_OK;
}

int vt_processor_smart_resize_fast(int64_t *out_h, int64_t *out_w, int64_t height, int64_t width, int64_t factor,
                                   int64_t min_pixels, int64_t max_pixels, vt_status *st)
{
    return vt_processor_fast_smart_resize(out_h, out_w, height, width, factor, min_pixels, max_pixels, 0, st);
}

/* ======================================== stages ======================================== */

void vt_processor_fused_rescale_normalize(float *dst, const uint8_t *src, int64_t h, int64_t w, const float mean[3],
                                          const float std[3])
{
    /* _fuse_mean_std_and_rescale_factor: mean * (1 / rescale_factor), std * (1 / rescale_factor) as float32
     * tensors; 1 / (1/255) is exactly 255.0. CLIP: 122.77094 (0x42f58ab9), 68.500534 (0x42890046), ... */
    float mean255[3], std255[3];
    for (int c = 0; c < 3; c++) {
        mean255[c] = mean[c] * 255.0f;
        std255[c] = std[c] * 255.0f;
    }
    /* F.normalize on the float32 image: sub_(mean).div_(std), two float32 operations; channels first */
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = (float)src[(y * w + x) * 3 + c] - mean255[c];
                dst[(c * h + y) * w + x] = v / std255[c];
            }
}

int vt_processor_fast_padded_frames(int64_t *Fp, int64_t F, int T, vt_status *st)
{
    int64_t n = F % T ? F + T - 1 : F; /* patches[:, -1:].repeat(1, temporal_patch_size - 1, 1, 1, 1) */
    if (n % T)
        return vt_fail(st, VT_EINPUT, "%lld frames padded to %lld are not a multiple of temporal_patch_size %d (the fast "
                       "processor's view() fails)", (long long)F, (long long)n, T);
    *Fp = n;
    return VT_OK;
}
