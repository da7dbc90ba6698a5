/*
 * resize_pil.c -- PIL's Image.resize(size, Image.BICUBIC) on uint8 images, byte for byte (Pillow 9.4,
 * libImaging/Resample.c: ImagingResample -> precompute_coeffs, normalize_coeffs_8bpc,
 * ImagingResampleHorizontal_8bpc, ImagingResampleVertical_8bpc).
 *
 * Dimensions: sw x sh source (width, height), dw x dh destination, ch channels (interleaved, HWC),
 * K taps per output pixel (the "ksize" of PIL: 2 * ceil(support) + 1).
 *
 * How PIL resamples, and what we keep for parity:
 *   1. Separable convolution: a horizontal pass (sw -> dw on every needed source row), then a vertical
 *      pass (sh -> dh) on that uint8 intermediate. The intermediate is rounded and clamped to uint8,
 *      so the pass order matters and is PIL's: horizontal first.
 *   2. Per axis, scale = in / out (double). When downscaling the kernel is stretched by the scale
 *      (support = 2 * scale, arguments divided by scale): that is PIL's antialiasing. Upscaling keeps
 *      support 2. Each output pixel's taps are the source pixels whose centres lie within the
 *      support, clipped to the image (no border replication: the weights are renormalised instead).
 *   3. Weights come from the Keys cubic with a = -0.5, are divided by their sum (in double), then
 *      converted to fixed point with 22 fractional bits (PRECISION_BITS = 32 - 8 - 2), rounding half
 *      away from zero.
 *   4. A pixel is 2^21 + sum(value * weight) in integers, then shifted right by 22 (floor) and clamped
 *      to [0, 255].
 *   5. A pass whose size does not change is skipped; a same-size resize is a copy. Before the
 *      horizontal pass PIL trims the source rows to those the vertical pass will read.
 * Channels are resampled independently (PIL's L / RGB / RGBX behaviour; PIL premultiplies LA and RGBA
 * first, which this function does not do: every caller gives it RGB).
 */
#include "io/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ======================================== kernel ======================================== */

/* The Keys cubic convolution kernel with a = -0.5 (PIL's bicubic_filter). */
static double pil_bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

#define PIL_BICUBIC_SUPPORT 2.0

/* PIL's bilinear_filter: the triangle, support 1. Only the bug zoo's `bilinear-resize` uses it (the
 * references all resize with BICUBIC); same coefficient machinery, narrower kernel. */
static double pil_bilinear_filter(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

#define PIL_BILINEAR_SUPPORT 1.0

typedef struct pil_filter {
    double (*f)(double);
    double support;
} pil_filter;
#define PIL_PRECISION_BITS (32 - 8 - 2) /* 8 bits of result, 2 for overshoot and sign: 22 */

/* Per-axis coefficients: for output index o, taps first[o] .. first[o] + count[o] - 1 of the source,
 * weights k[o * ksize + j] in fixed point. */
typedef struct pil_coeffs {
    int ksize;
    int *first;   /* [out] */
    int *count;   /* [out] */
    int32_t *k;   /* [out][ksize] */
} pil_coeffs;

static void pil_coeffs_free(pil_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->k);
    memset(c, 0, sizeof *c);
}

/* mirrors precompute_coeffs + normalize_coeffs_8bpc (Resample.c). in_size -> out_size on one axis. */
static int pil_precompute_coeffs(pil_coeffs *c, int in_size, int out_size, const pil_filter *flt, vt_status *st)
{
    memset(c, 0, sizeof *c);
    /* PIL computes (in1 - in0) with the box as floats (0 and in_size, exact) then divides in double */
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = flt->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->first = malloc((size_t)out_size * sizeof *c->first);
    c->count = malloc((size_t)out_size * sizeof *c->count);
    c->k = malloc((size_t)out_size * (size_t)ksize * sizeof *c->k);
    double *w = malloc((size_t)ksize * sizeof *w);
    if (!c->first || !c->count || !c->k || !w) {
        free(w);
        pil_coeffs_free(c);
        return vt_fail(st, VT_ERESOURCE, "resize: out of memory for %d x %d coefficients", out_size, ksize);
    }
    double ss = 1.0 / filterscale;
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        /* PIL "rounds" with +0.5 and a truncating cast; negative values are clamped to 0 anyway */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        int n = xmax - xmin;
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            /* parity: the argument is ((x + xmin) - center + 0.5) * ss, in that order, in double */
            w[j] = flt->f(((double)(j + xmin) - center + 0.5) * ss);
            sum += w[j];
        }
        int32_t *k = c->k + (size_t)o * ksize;
        for (int j = 0; j < ksize; j++) {
            double v = j < n ? (sum != 0.0 ? w[j] / sum : w[j]) : 0.0;
            /* normalize_coeffs_8bpc: fixed point, rounding half away from zero by a truncating cast */
            double f = v * (double)(1 << PIL_PRECISION_BITS);
            k[j] = (int32_t)(v < 0 ? -0.5 + f : 0.5 + f);
        }
        c->first[o] = xmin;
        c->count[o] = n;
    }
    free(w);
    return VT_OK;
}

/* clip8 of Resample.c: floor(acc / 2^22) clamped to [0, 255] (PIL uses an arithmetic shift and a
 * lookup table; a negative accumulator always gives 0). */
static uint8_t pil_clip8(int64_t acc)
{
    if (acc < 0) return 0;
    int64_t v = acc >> PIL_PRECISION_BITS;
    return (uint8_t)(v > 255 ? 255 : v);
}

/* ======================================== passes ======================================== */

/* mirrors ImagingResampleHorizontal_8bpc. src rows [row0, row0 + rows) of [.][sw][ch] -> dst [rows][dw][ch] */
static void pil_resample_horizontal(uint8_t *dst, int dw, const uint8_t *src, int sw, int row0, int rows, int ch,
                                    const pil_coeffs *c)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *s_y = src + ((size_t)(row0 + y) * sw) * ch;
        uint8_t *d_y = dst + (size_t)y * dw * ch;
        for (int x = 0; x < dw; x++) {
            const int32_t *k = c->k + (size_t)x * c->ksize;
            const uint8_t *s = s_y + (size_t)c->first[x] * ch;
            for (int b = 0; b < ch; b++) {
                int64_t acc = 1 << (PIL_PRECISION_BITS - 1); /* the +0.5 of the final rounding */
                for (int j = 0; j < c->count[x]; j++) acc += (int64_t)s[(size_t)j * ch + b] * k[j];
                d_y[(size_t)x * ch + b] = pil_clip8(acc);
            }
        }
    }
}

/* mirrors ImagingResampleVertical_8bpc. src [.][w][ch] with row r at index r - row0 -> dst [dh][w][ch] */
static void pil_resample_vertical(uint8_t *dst, int dh, const uint8_t *src, int w, int row0, int ch,
                                  const pil_coeffs *c)
{
    size_t row = (size_t)w * ch;
    for (int y = 0; y < dh; y++) {
        const int32_t *k = c->k + (size_t)y * c->ksize;
        const uint8_t *s = src + (size_t)(c->first[y] - row0) * row;
        uint8_t *d_y = dst + (size_t)y * row;
        for (size_t i = 0; i < row; i++) {
            int64_t acc = 1 << (PIL_PRECISION_BITS - 1);
            for (int j = 0; j < c->count[y]; j++) acc += (int64_t)s[(size_t)j * row + i] * k[j];
            d_y[i] = pil_clip8(acc);
        }
    }
}

/* ======================================== entry ======================================== */

/* mirrors Image.resize(size, filter) -> ImagingResampleInner. src [sh][sw][ch] -> dst [dh][dw][ch] */
static int pil_resize(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, const pil_filter *flt,
                      vt_status *st)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return vt_fail(st, VT_EINPUT, "resize: sizes must be positive (%dx%d -> %dx%d)", sw, sh, dw, dh);
    if (ch < 1 || ch > 4) return vt_fail(st, VT_EINPUT, "resize: %d channels (1 to 4 supported)", ch);
    if (sw == dw && sh == dh) { /* Image.resize returns self.copy() */
        memcpy(dst, src, (size_t)sw * sh * ch);
        return VT_OK;
    }
    int need_h = dw != sw, need_v = dh != sh;

    /* PIL computes the vertical coefficients first, to know which source rows the result needs */
    pil_coeffs cv, chz;
    VT_TRY(pil_precompute_coeffs(&cv, sh, dh, flt, st));
    int row_first = cv.first[0];
    int row_last = cv.first[dh - 1] + cv.count[dh - 1]; /* one past the last row used */

    if (!need_h) {
        pil_resample_vertical(dst, dh, src, sw, 0, ch, &cv);
        pil_coeffs_free(&cv);
        return VT_OK;
    }
    int rc = pil_precompute_coeffs(&chz, sw, dw, flt, st);
    if (rc) {
        pil_coeffs_free(&cv);
        return rc;
    }
    if (!need_v) { /* rows are already the output's: the horizontal pass writes straight into dst */
        pil_resample_horizontal(dst, dw, src, sw, 0, sh, ch, &chz);
    } else {
        int rows = row_last - row_first;
        uint8_t *tmp = malloc((size_t)rows * dw * ch);
        if (!tmp) {
            rc = vt_fail(st, VT_ERESOURCE, "resize: out of memory for a %dx%d intermediate", dw, rows);
        } else {
            pil_resample_horizontal(tmp, dw, src, sw, row_first, rows, ch, &chz);
            pil_resample_vertical(dst, dh, tmp, dw, row_first, ch, &cv);
            free(tmp);
        }
    }
    pil_coeffs_free(&chz);
    pil_coeffs_free(&cv);
    return rc;
}

int vt_resize_pil_bicubic(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st)
{
    const pil_filter bicubic = {pil_bicubic_filter, PIL_BICUBIC_SUPPORT};
    return pil_resize(dst, dw, dh, src, sw, sh, ch, &bicubic, st);
}

int vt_resize_pil_bilinear(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh, int ch, vt_status *st)
{
    const pil_filter bilinear = {pil_bilinear_filter, PIL_BILINEAR_SUPPORT};
    return pil_resize(dst, dw, dh, src, sw, sh, ch, &bilinear, st);
}
