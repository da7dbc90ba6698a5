/*
 * kimivl_preprocess.c -- KimiVLImageProcessor (image_processing_kimi_vl.py): native resolution, no
 * smart_resize, no temporal axis.
 *
 * Legend: w x h an image's size in pixels (PIL order: width first); P patch_size (14); kh = kw the
 * merge kernel (2); C = 3 channels; gh x gw its patch grid after padding; N = sum gh*gw.
 *
 *   rgb [h, w, 3] uint8  (PIL Image.open(...).convert("RGB"): no EXIF orientation)
 *     -> rescale: PIL bicubic downscale only when (w//P)*(h//P) > in_token_limit, to int(w*s) x int(h*s)
 *        with s = sqrt(limit / ((w//P)*(h//P))); then zero padding on the right and bottom up to
 *        multiples of kw*P, kh*P                               image.{k}.resized    [ph, pw, 3] uint8
 *     -> to_tensor (/255) and normalize ((x - mean) / std)    image.{k}.normalized [3, ph, pw] float32
 *     -> patchify: reshape (C, gh, P, gw, P), permute (1, 3, 0, 2, 4)
 *                                                              image.{k}.patches    [gh*gw, C*P*P]
 *   all images concatenated                                    pixel_values [N, C, P, P],
 *                                                              image_grid_hws [n, 2] int64
 *
 * Padding happens before normalisation, so padded pixels become (0 - 0.5) / 0.5 = -1, not 0.
 */
#include <math.h>
#include <string.h>

#include "kimivl/kimivl.h"
#include "io/resize.h"

/* ================================ config ================================= */

/* The center-crop branch of rescale() (pad_input false): no published Kimi-VL processor uses it. */
static int refuse_center_crop(vt_status *st)
{
    return vt_fail(st, VT_EINPUT, "preprocessor_config.json: pad_input false (center crop) is not supported; "
                   "Kimi-VL's processors pad");
}

int vt_kimivl_rescale_size(int w, int h, const vt_preproc_config *pre, int *rw, int *rh, int *pw, int *ph,
                        vt_status *st)
{
    const int64_t P = pre->patch_size, K = pre->merge_size;
    if (w <= 0 || h <= 0) return vt_fail(st, VT_EINPUT, "image of %dx%d pixels is empty", w, h);
    if (P <= 0 || K <= 0)
        return vt_fail(st, VT_EINPUT, "preprocessor_config.json: patch_size %lld / merge_kernel_size %lld must be "
                       "positive", (long long)P, (long long)K);
    if (pre->in_token_limit <= 0)
        return vt_fail(st, VT_EINPUT, "preprocessor_config.json: in_token_limit %lld must be positive",
                       (long long)pre->in_token_limit);
    if (!pre->pad_input) return refuse_center_crop(st);
    int64_t tokens = (int64_t)(w / P) * (h / P);
    int64_t nw = w, nh = h;
    if (tokens > pre->in_token_limit) {
        /* Python: scale = math.sqrt(limit / tokens); new = int(w * scale) -- double, truncated */
        double s = sqrt((double)pre->in_token_limit / (double)tokens);
        nw = (int64_t)((double)w * s);
        nh = (int64_t)((double)h * s);
        if (nw <= 0 || nh <= 0)
            return vt_fail(st, VT_EINPUT, "image of %dx%d pixels would be resized to %lldx%lld", w, h,
                           (long long)nw, (long long)nh);
    }
    /* pad_h = (pad_size_h - new_h % pad_size_h) % pad_size_h, the same for w */
    int64_t qh = K * P, qw = K * P;
    int64_t fh = nh + (qh - nh % qh) % qh, fw = nw + (qw - nw % qw) % qw;
    if (fw / P >= VT_KIMIVL_ROPE_MAX_SIDE || fh / P >= VT_KIMIVL_ROPE_MAX_SIDE) /* the reference's "Exceed pos emb" */
        return vt_fail(st, VT_EINPUT, "image of %dx%d pixels gives a %lldx%lld patch grid; the position tables "
                       "allow fewer than %d patches per side", w, h, (long long)(fh / P), (long long)(fw / P),
                       VT_KIMIVL_ROPE_MAX_SIDE);
    *rw = (int)nw;
    *rh = (int)nh;
    *pw = (int)fw;
    *ph = (int)fh;
    return VT_OK;
}

/* ================================ stages ================================= */

int vt_kimivl_rescale(vt_tensor *out, const vt_image *img, const vt_preproc_config *pre, vt_arena *a,
                   vt_status *st)
{
    int rw, rh, pw, ph;
    VT_TRY(vt_kimivl_rescale_size(img->w, img->h, pre, &rw, &rh, &pw, &ph, st));
    const uint8_t *src = img->rgb;
    if (rw != img->w || rh != img->h) {
        uint8_t *tmp = vt_arena_alloc(a, (size_t)rw * rh * 3, st);
        if (!tmp) return st->code;
        VT_TRY(vt_resize_pil_bicubic(tmp, rw, rh, img->rgb, img->w, img->h, 3, st));
        src = tmp;
    }
    /* TF.pad(image, (0, 0, pad_w, pad_h)): zeros on the right and bottom */
    VT_TRY(vt_tensor_zeros(out, a, VT_U8, VT_DIMS(ph, pw, 3), st));
    uint8_t *dst = vt_u8(out);
    for (int y = 0; y < rh; y++) memcpy(dst + (size_t)y * pw * 3, src + (size_t)y * rw * 3, (size_t)rw * 3);
    return VT_OK;
}

/* mirrors to_tensor + normalize. img [ph, pw, 3] uint8 -> out [3, ph, pw] float32.
 * torchvision: x.float().div(255), then x.sub_(mean).div_(std), all in float32. */
static int vt_kimivl_to_tensor_normalize(vt_tensor *out, const vt_tensor *img, const vt_preproc_config *pre,
                                      vt_arena *a, vt_status *st)
{
    const int64_t H = img->shape[0], W = img->shape[1];
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(3, H, W), st));
    const uint8_t *u = vt_u8(img);
    float *x = vt_f32(out);
    for (int c = 0; c < 3; c++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t i = 0; i < W; i++) {
                float v = (float)u[(y * W + i) * 3 + c] / 255.0f;
                x[(c * H + y) * W + i] = (v - pre->image_mean[c]) / pre->image_std[c];
            }
    return VT_OK;
}

/* mirrors KimiVLImageProcessor.patchify. x [C, gh*P, gw*P] -> out [gh*gw, C, P, P]:
 *   image.reshape(C, gh, P, gw, P).permute(1, 3, 0, 2, 4).view(-1, C, P, P) */
static int vt_kimivl_patchify(vt_tensor *out, const vt_tensor *x, int P, vt_arena *a, vt_status *st)
{
    const int64_t C = x->shape[0], gh = x->shape[1] / P, gw = x->shape[2] / P;
    vt_tensor v = *x;
    VT_TRY(vt_reshape(&v, VT_DIMS(C, gh, P, gw, P), st));
    VT_TRY(vt_permute(out, &v, VT_PERM(1, 3, 0, 2, 4), a, st));
    return vt_reshape(out, VT_DIMS(gh * gw, C, P, P), st);
}

/* ================================ forward ================================ */

int vt_kimivl_preprocess(vt_kimivl_batch *out, const vt_image *images, int n, const vt_preproc_config *pre,
                      const vt_tap *tap, vt_arena *a, vt_status *st)
{
    if (n <= 0) return vt_fail(st, VT_EINPUT, "no images to preprocess");
    if (!pre->pad_input) return refuse_center_crop(st); /* said once, not per image */
    const int P = pre->patch_size;
    /* sizes first, so pixel_values is one allocation */
    VT_TRY(vt_tensor_alloc(&out->image_grid_hws, a, VT_I64, VT_DIMS(n, 2), st));
    int64_t *grid = vt_i64(&out->image_grid_hws);
    int64_t N = 0;
    for (int k = 0; k < n; k++) {
        int rw, rh, pw, ph;
        if (vt_kimivl_rescale_size(images[k].w, images[k].h, pre, &rw, &rh, &pw, &ph, st))
            return vt_wrap(st, "image %d: ", k);
        grid[2 * k] = ph / P;
        grid[2 * k + 1] = pw / P;
        N += grid[2 * k] * grid[2 * k + 1];
        if (N > INT32_MAX) /* cu_seqlens are int32 in the reference */
            return vt_fail(st, VT_EINPUT, "image %d: more than %d patches in all", k, INT32_MAX);
    }
    VT_TRY(vt_tensor_alloc(&out->pixel_values, a, VT_F32, VT_DIMS(N, 3, P, P), st));

    int64_t row = 0;
    for (int k = 0; k < n; k++) {
        vt_arena_pos mark = vt_arena_mark(a); /* this image's intermediates */
        const vt_image *img = &images[k];
        vt_tensor rgb = vt_tensor_of(VT_U8, (void *)img->rgb, VT_DIMS(img->h, img->w, 3));
        VT_TRY(vt_tap_emitf(tap, st, &rgb, "image.%d.rgb", k));

        vt_tensor resized, normalized, patches;
        VT_TRY(vt_kimivl_rescale(&resized, img, pre, a, st));
        VT_TRY(vt_tap_emitf(tap, st, &resized, "image.%d.resized", k)); /* TRACE_SPEC rule 9: resized + padded */
        VT_TRY(vt_kimivl_to_tensor_normalize(&normalized, &resized, pre, a, st));
        VT_TRY(vt_tap_emitf(tap, st, &normalized, "image.%d.normalized", k));
        VT_TRY(vt_kimivl_patchify(&patches, &normalized, P, a, st));

        int64_t rows = patches.shape[0];
        memcpy(vt_f32(&out->pixel_values) + row * 3 * P * P, patches.data, vt_nbytes(&patches));
        row += rows;
        VT_TRY(vt_reshape(&patches, VT_DIMS(rows, 3 * P * P), st)); /* rule 9: [N_k, C*P*P] */
        VT_TRY(vt_tap_emitf(tap, st, &patches, "image.%d.patches", k));
        vt_arena_reset(a, mark);
    }
    VT_TRY(vt_tap_emit(tap, "pixel_values", &out->pixel_values, st));
    return vt_tap_emit(tap, "image_grid_hws", &out->image_grid_hws, st);
}
