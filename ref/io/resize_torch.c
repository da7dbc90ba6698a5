/*
 * resize_torch.c -- torch.nn.functional.interpolate(x, size=(dh, dw), mode="bicubic",
 * align_corners=False) on float32 [C, H, W], computed as ATen's CPU kernel does (torch 1.13:
 * UpSample.h area_pixel_compute_scale / area_pixel_compute_source_index /
 * get_cubic_upsample_coefficients, UpSampleKernel.cpp HelperInterpCubic and the generic N-d loop).
 *
 * Dimensions: C channels, sh x sw source (height, width), dh x dw destination.
 *
 * This is not PIL's bicubic (resize_pil.c): the kernel has A = -0.75, there is no antialiasing (a
 * downscale still reads only 4 taps per axis), the taps outside the image are clamped to the border
 * pixel instead of being dropped, and everything is float32. Used for learned position tables
 * (Qwen-VL get_abs_pos, Kimi-VL's MoonViT pos_emb), never for pixels.
 *
 * Per axis: scale = (float)in / out (0 when out == 1, as area_pixel_compute_scale returns);
 * src = scale * (dst + 0.5) - 0.5 (torch 1.13 evaluates this in double because 0.5 is a double
 * literal, then stores a float); i0 = floor(src), t = src - i0; taps i0-1 .. i0+2 clamped to
 * [0, in-1] with weights W(t+1), W(t), W(1-t), W(2-t) of the Keys cubic, A = -0.75.
 * Output = sum over the 4 row taps of wy * (sum over the 4 column taps of wx * x), each sum taken
 * left to right in float, as ATen's Interpolate<2, ...> nests them (width innermost).
 * Same size: a copy (upsample_bicubic2d returns input.clone()).
 */
#include "io/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TORCH_CUBIC_A (-0.75f)

/* mirrors cubic_convolution1 (UpSample.h): W(x) for |x| <= 1 */
static float torch_cubic_convolution1(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }

/* mirrors cubic_convolution2 (UpSample.h): W(x) for 1 < |x| < 2 */
static float torch_cubic_convolution2(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

/* mirrors get_cubic_upsample_coefficients. t in [0, 1) -> weights of taps i0-1, i0, i0+1, i0+2 */
static void torch_cubic_coefficients(float w[4], float t)
{
    float x1 = t, x2 = 1.0f - t;
    w[0] = torch_cubic_convolution2(x1 + 1.0f, TORCH_CUBIC_A);
    w[1] = torch_cubic_convolution1(x1, TORCH_CUBIC_A);
    w[2] = torch_cubic_convolution1(x2, TORCH_CUBIC_A);
    w[3] = torch_cubic_convolution2(x2 + 1.0f, TORCH_CUBIC_A);
}

/* mirrors HelperInterpCubic::compute_indices_weights. in -> out on one axis: idx[o][4], w[o][4] */
static void torch_cubic_indices_weights(int (*idx)[4], float (*w)[4], int in, int out)
{
    /* area_pixel_compute_scale: input_size / output_size as float; 0 for a single output */
    float scale = out > 1 ? (float)in / (float)out : 0.0f;
    for (int o = 0; o < out; o++) {
        /* area_pixel_compute_source_index (cubic: negative indices kept). parity: float * double */
        float real = (float)((double)scale * (o + 0.5) - 0.5);
        int i0 = (int)floorf(real);
        torch_cubic_coefficients(w[o], real - (float)i0);
        for (int j = 0; j < 4; j++) {
            int i = i0 - 1 + j;
            idx[o][j] = i < 0 ? 0 : i > in - 1 ? in - 1 : i; /* border-clamped taps */
        }
    }
}

/* src [C][sh][sw] -> dst [C][dh][dw] */
int vt_resize_torch_bicubic(float *dst, int dh, int dw, const float *src, int C, int sh, int sw, vt_status *st)
{
    if (C <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0)
        return vt_fail(st, VT_EINPUT, "interpolate: sizes must be positive ([%d, %d, %d] -> [%d, %d, %d])", C, sh,
                       sw, C, dh, dw);
    if (sh == dh && sw == dw) {
        memcpy(dst, src, (size_t)C * sh * sw * sizeof *src);
        return VT_OK;
    }
    int (*yi)[4] = malloc((size_t)dh * sizeof *yi);
    float (*yw)[4] = malloc((size_t)dh * sizeof *yw);
    int (*xi)[4] = malloc((size_t)dw * sizeof *xi);
    float (*xw)[4] = malloc((size_t)dw * sizeof *xw);
    if (!yi || !yw || !xi || !xw) {
        free(yi), free(yw), free(xi), free(xw);
        return vt_fail(st, VT_ERESOURCE, "interpolate: out of memory for %d + %d coefficients", dh, dw);
    }
    torch_cubic_indices_weights(yi, yw, sh, dh);
    torch_cubic_indices_weights(xi, xw, sw, dw);
    for (int c = 0; c < C; c++) {
        const float *s_c = src + (size_t)c * sh * sw;
        float *d_c = dst + (size_t)c * dh * dw;
        for (int oy = 0; oy < dh; oy++)
            for (int ox = 0; ox < dw; ox++) {
                float out = 0.0f;
                for (int j = 0; j < 4; j++) {
                    const float *row = s_c + (size_t)yi[oy][j] * sw;
                    float t = row[xi[ox][0]] * xw[ox][0];
                    for (int k = 1; k < 4; k++) t += row[xi[ox][k]] * xw[ox][k];
                    out = j == 0 ? t * yw[oy][0] : out + t * yw[oy][j];
                }
                d_c[(size_t)oy * dw + ox] = out;
            }
    }
    free(yi), free(yw), free(xi), free(xw);
    return VT_OK;
}
