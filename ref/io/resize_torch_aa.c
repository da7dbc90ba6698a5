/*
 * resize_torch_aa.c -- torchvision's resize(BICUBIC, antialias=True) of a uint8 image on the float path:
 * uint8 -> float32 -> torch.nn.functional.interpolate(mode="bicubic", align_corners=False, antialias=True)
 * (ATen `_upsample_bicubic2d_aa`) -> clamp(0, 255) -> round half to even -> uint8, exactly as torch 1.13's
 * default (scalar) CPU build computes it: UpSampleKernel.cpp `HelperInterpCubic::aa_filter`,
 * `HelperInterpBase::_compute_indices_weights_aa`, `basic_loop_aa_horizontal` / `_vertical`. What
 * Hugging Face's fast processor (Qwen2VLImageProcessorFast, Qwen2VLVideoProcessor) does to every image and
 * frame (README.preprocess-fast.md, step 4).
 *
 * Dimensions: sw x sh source (width, height), dw x dh destination, ch channels (interleaved, HWC; each
 * channel is its own plane to torch, and no operation mixes channels), K taps per output pixel (at most
 * torch's weight buffer ceil(support) * 2 + 1).
 *
 * Per axis, in -> out (the notation of the README: f32(v) rounds a double to float; "in float" means
 * float32 operations, "in double" float64 ones; every operation rounded on its own, no fused
 * multiply-add -- the Makefile builds with -std=c11, which turns contraction off in GCC, and each
 * product and sum below is its own statement so that a compiler that contracts inside one expression
 * has nothing to fuse):
 *   scale = (float)in / (float)out;
 *   downscale (scale >= 1): support = f32(2 * scale), invscale = f32(1 / scale) -- the kernel stretched by
 *   the scale: the antialiasing; upscale: support = 2, invscale = 1;
 *   output i: center = f32(scale * (i + 0.5)) in double; taps xmin .. xmin + xsize - 1 with
 *   xmin = max(trunc(double(center - support) + 0.5), 0), xmax = min(trunc(double(center + support) + 0.5), in);
 *   weight j = aa_filter(f32((double(f32(xmin + j) - center) + 0.5) * invscale)), then divided by their
 *   float sum (when it is not 0).
 * The width pass runs first into a float32 buffer [sh, dw, ch]; the height pass reads that buffer; each
 * output is t_0 * w_0 + t_1 * w_1 + ... accumulated left to right in float. Then clamp and round.
 *
 * Compared with PIL's bicubic (resize_pil.c), which has the same a = -0.5 kernel and the same support:
 * PIL normalises in double, converts to 22-bit fixed point, sums in integers and rounds the horizontal
 * pass to uint8 before the vertical pass; here everything stays float32 until the end. The results
 * differ by 1 on 5-25 % of the bytes (up to 6 on tiny upscales): docs/resize.md.
 */
#include "io/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ======================================== kernel ======================================== */

/* mirrors HelperInterpCubic::aa_filter<float> (torch 1.13): the Keys cubic, a = -0.5. The |x| < 1 branch
 * is evaluated in double (`a` is a double macro there), the 1 <= |x| < 2 branch in float except its last
 * product with a. */
static float torch_aa_filter(float x)
{
    if (x < 0.0f) x = -x;
    if (x < 1.0f) {
        /* ((a + 2) * x - (a + 3)) * x * x + 1, in double: (((1.5 x) - 2.5) x) x + 1 */
        double xd = x, v = 1.5 * xd;
        v = v - 2.5;
        v = v * xd;
        v = v * xd;
        v = v + 1.0;
        return (float)v;
    }
    if (x < 2.0f) {
        /* (((x - 5) * x + 8) * x - 4) in float (five operations), then * a in double */
        float t = x - 5.0f;
        t = t * x;
        t = t + 8.0f;
        t = t * x;
        t = t - 4.0f;
        return (float)((double)t * -0.5);
    }
    return 0.0f;
}

/* ======================================== weights ======================================== */

/* The scale-dependent constants of one axis (_compute_indices_weights_aa's preamble). */
typedef struct aa_axis_params {
    float scale, support, invscale;
    int taps; /* torch's weight buffer: ceil(support) * 2 + 1 */
} aa_axis_params;

static aa_axis_params torch_aa_params(int in, int out)
{
    aa_axis_params p;
    p.scale = (float)in / (float)out; /* no scale factor is passed: always in / out, a float division */
    if (p.scale >= 1.0f) {
        p.support = (float)(2.0 * (double)p.scale); /* (interp_size * 0.5) * scale, interp_size 4 */
        p.invscale = (float)(1.0 / (double)p.scale);
    } else {
        p.support = 2.0f;
        p.invscale = 1.0f;
    }
    p.taps = (int)ceilf(p.support) * 2 + 1;
    return p;
}

/* mirrors _compute_indices_min_size_weights_aa for output index i: the first tap, the count, and the
 * normalised weights w[0 .. count-1] (w has room for p->taps). */
static int torch_aa_row(float *w, int64_t *first, const aa_axis_params *p, int in, int64_t i)
{
    const float center = (float)((double)p->scale * ((double)i + 0.5));
    float lo = center - p->support, hi = center + p->support;         /* in float */
    int64_t xmin = (int64_t)((double)lo + 0.5), xmax = (int64_t)((double)hi + 0.5); /* + 0.5 in double, trunc */
    if (xmin < 0) xmin = 0;
    if (xmax > in) xmax = in;
    int64_t xsize = xmax - xmin;
    /* torch >= 2.0 clamps to its buffer (xsize can exceed it by one through rounding); 1.13 never needs it
     * on the golden inputs, and clamping keeps w in bounds whatever the sizes */
    if (xsize > p->taps) xsize = p->taps;
    if (xsize < 0) xsize = 0;
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; j++) {
        float d = (float)(xmin + j) - center; /* the index converted to float, center subtracted in float */
        double arg = (double)d + 0.5;
        arg = arg * (double)p->invscale;
        w[j] = torch_aa_filter((float)arg);
        total = total + w[j]; /* float sum, j ascending */
    }
    if (total != 0.0f)
        for (int64_t j = 0; j < xsize; j++) w[j] = w[j] / total;
    *first = xmin;
    return (int)xsize;
}

int vt_resize_torch_aa_weights(float *w, int cap, int *first, int *n, int in, int out, int i, vt_status *st)
{
    if (in <= 0 || out <= 0 || i < 0 || i >= out)
        return vt_fail(st, VT_EINPUT, "antialias weights: output %d of %d -> %d is out of range", i, in, out);
    aa_axis_params p = torch_aa_params(in, out);
    if (cap < p.taps) return vt_fail(st, VT_EINPUT, "antialias weights: %d taps need room for %d", cap, p.taps);
    int64_t xmin;
    *n = torch_aa_row(w, &xmin, &p, in, i);
    *first = (int)xmin;
    return VT_OK;
}

/* Per-axis tables: for output o, taps first[o] .. first[o] + count[o] - 1, weights k[o * taps + j]. */
typedef struct aa_coeffs {
    int taps;
    int64_t *first; /* [out] */
    int *count;     /* [out] */
    float *k;       /* [out][taps] */
} aa_coeffs;

static void aa_coeffs_free(aa_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->k);
    memset(c, 0, sizeof *c);
}

/* mirrors HelperInterpCubic::compute_indices_weights_aa for one axis. in -> out. */
static int torch_aa_coeffs(aa_coeffs *c, int in, int out, vt_status *st)
{
    memset(c, 0, sizeof *c);
    aa_axis_params p = torch_aa_params(in, out);
    c->taps = p.taps;
    c->first = malloc((size_t)out * sizeof *c->first);
    c->count = malloc((size_t)out * sizeof *c->count);
    c->k = calloc((size_t)out * (size_t)p.taps, sizeof *c->k);
    if (!c->first || !c->count || !c->k) {
        aa_coeffs_free(c);
        return vt_fail(st, VT_ERESOURCE, "antialiased resize: out of memory for %d x %d coefficients", out, p.taps);
    }
    for (int o = 0; o < out; o++) c->count[o] = torch_aa_row(c->k + (size_t)o * p.taps, &c->first[o], &p, in, o);
    return VT_OK;
}

/* ======================================== the passes ======================================== */

/* mirrors basic_loop_aa_horizontal (interpolate_aa_single_dim): src [rows][sw][ch] -> dst [rows][dw][ch],
 * float. out = t_0 * w_0, then out = out + t_j * w_j, each a float multiply and a float add. */
static void torch_aa_horizontal(float *dst, int dw, const float *src, int sw, int rows, int ch, const aa_coeffs *c)
{
    for (int y = 0; y < rows; y++) {
        const float *s_y = src + (size_t)y * sw * ch;
        float *d_y = dst + (size_t)y * dw * ch;
        for (int x = 0; x < dw; x++) {
            const float *k = c->k + (size_t)x * c->taps;
            const float *s = s_y + (size_t)c->first[x] * ch;
            for (int b = 0; b < ch; b++) {
                float out = 0.0f; /* no taps: never on a valid size, but never a read past the row */
                if (c->count[x] > 0) out = s[b] * k[0];
                for (int j = 1; j < c->count[x]; j++) {
                    float prod = s[(size_t)j * ch + b] * k[j];
                    out = out + prod;
                }
                d_y[(size_t)x * ch + b] = out;
            }
        }
    }
}

/* mirrors basic_loop_aa_vertical: src [sh][w][ch] -> dst [dh][w][ch], float, the same accumulation. */
static void torch_aa_vertical(float *dst, int dh, const float *src, int w, int ch, const aa_coeffs *c)
{
    const size_t row = (size_t)w * ch;
    for (int y = 0; y < dh; y++) {
        const float *k = c->k + (size_t)y * c->taps;
        const float *s = src + (size_t)c->first[y] * row;
        float *d_y = dst + (size_t)y * row;
        for (size_t e = 0; e < row; e++) {
            float out = 0.0f;
            if (c->count[y] > 0) out = s[e] * k[0];
            for (int j = 1; j < c->count[y]; j++) {
                float prod = s[(size_t)j * row + e] * k[j];
                out = out + prod;
            }
            d_y[e] = out;
        }
    }
}

/* torchvision's tail for uint8 on the float path: clamp_(0, 255), round_() (half to even), to(uint8). */
static uint8_t torch_aa_to_u8(float v)
{
    if (v < 0.0f) v = 0.0f; /* NaN cannot occur: finite inputs, finite weights */
    if (v > 255.0f) v = 255.0f;
    return (uint8_t)nearbyintf(v); /* default rounding mode: to nearest, ties to even */
}

/* ======================================== the resize ======================================== */

int vt_resize_torch_bicubic_aa(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || ch < 1 || ch > 4)
        return vt_fail(st, VT_EINPUT, "antialiased resize: bad size %dx%d -> %dx%d (%d channels)", sw, sh, dw, dh, ch);
    if (sw == dw && sh == dh) { /* torchvision's resize returns the image unchanged */
        memcpy(dst, src, (size_t)sw * sh * ch);
        return VT_OK;
    }
    /* An axis whose size does not change is not resampled: at scale 1 the weights are exactly
     * (-0, 1, 0, ...), so the pass would be an exact identity anyway. */
    const int do_h = sw != dw, do_v = sh != dh;
    aa_coeffs cx = {0}, cy = {0};
    float *in = malloc((size_t)sw * sh * ch * sizeof *in);
    float *mid = do_h ? malloc((size_t)dw * sh * ch * sizeof *mid) : NULL;
    float *out = do_v ? malloc((size_t)dw * dh * ch * sizeof *out) : NULL;
    int rc = VT_OK;
    if (!in || (do_h && !mid) || (do_v && !out))
        rc = vt_fail(st, VT_ERESOURCE, "antialiased resize %dx%d -> %dx%d: out of memory", sw, sh, dw, dh);
    if (rc == VT_OK && do_h) rc = torch_aa_coeffs(&cx, sw, dw, st);
    if (rc == VT_OK && do_v) rc = torch_aa_coeffs(&cy, sh, dh, st);
    if (rc == VT_OK) {
        const size_t n_in = (size_t)sw * sh * ch;
        for (size_t e = 0; e < n_in; e++) in[e] = (float)src[e]; /* image.to(float32) */
        const float *cur = in;
        if (do_h) { /* the width pass first: [sh, sw] -> [sh, dw] */
            torch_aa_horizontal(mid, dw, cur, sw, sh, ch, &cx);
            cur = mid;
        }
        if (do_v) { /* then the height pass: [sh, dw] -> [dh, dw] */
            torch_aa_vertical(out, dh, cur, dw, ch, &cy);
            cur = out;
        }
        const size_t n_out = (size_t)dw * dh * ch;
        for (size_t e = 0; e < n_out; e++) dst[e] = torch_aa_to_u8(cur[e]);
    }
    aa_coeffs_free(&cx);
    aa_coeffs_free(&cy);
    free(in);
    free(mid);
    free(out);
    return rc;
}
