/*
 * qwen3vl_posembed.c -- Qwen3VLVisionModel.fast_pos_embed_interpolate: the learned G x G position table
 * (pos_embed, nn.Embedding(G*G, C)) resampled bilinearly to each item's h x w patch grid, and torch's
 * float32 linspace that decides where the samples fall.
 *
 * Legend: G table side (48 at full size, 8 in the goldens), (t, h, w) one grid_thw row in patches,
 * S = sum of h*w over the items, N = sum of t*h*w patches, C hidden_size, m spatial_merge_size.
 *
 * For one item, in float32 (the reference's tensors):
 *     hi = linspace(0, G-1, h)      fh = int(hi)   ch = min(fh+1, G-1)   dh = hi - fh      (rows)
 *     wi = linspace(0, G-1, w)      fw = int(wi)   cw = min(fw+1, G-1)   dw = wi - fw      (columns)
 *     grid point (r, c), row-major, has the corners and weights
 *         [fh*G+fw, fh*G+cw, ch*G+fw, ch*G+cw]    [(1-dh)(1-dw), (1-dh)dw, dh(1-dw), dh*dw]
 *     e[r, c] = ((E[i0]*w0 + E[i1]*w1) + E[i2]*w2) + E[i3]*w3
 * The samples span the table corner to corner (align_corners=True semantics: grid point 0 is table row 0,
 * point h-1 is row G-1), so a grid of the table's own size reads it exactly.
 *
 * A 1-ulp hazard: torch's linspace is not start + i*step (see vt_qwen3vl_linspace); where the exact value is
 * an integer, float32 may land just below it, and int() then picks the row below with weight 1 - eps on
 * the upper corner. G = 48 at n = 142 (elements 90 and 93), 236, 283, 330, 424: the indices differ from a
 * double-precision linspace's, the output barely does. Reproduced here bit for bit.
 */
#include <math.h>
#include <string.h>

#include "core/bugzoo.h"
#include "qwen3vl/qwen3vl.h"

/* ======================================== linspace ======================================== */

void vt_qwen3vl_linspace(float *out, int64_t n, float start, float end)
{
    if (n <= 0) return;
    if (n == 1) { /* torch: steps == 1 fills start */
        out[0] = start;
        return;
    }
    /* step = (end - start) / (steps - 1), scalar_t float */
    const float step = (end - start) / (float)(n - 1);
    const int64_t halfway = n / 2;
    /* cpu_serial_kernel_vec: the vectorised loop takes 2 x 8 floats per round, the tail one at a time */
    const int64_t nvec = n - n % 16;
    for (int64_t i0 = 0; i0 < nvec; i0 += 8) {
        /* Vectorized<float>::arange(start + step * idx, step) below halfway, else
         * arange(end - step * (steps - idx - 1), step); the compiler contracts the base to one fma */
        const float base = i0 < halfway ? fmaf(step, (float)i0, start) : fmaf(-step, (float)(n - 1 - i0), end);
        for (int j = 0; j < 8; j++) out[i0 + j] = base + (float)j * step; /* arange: base + j * step */
    }
    for (int64_t i = nvec; i < n; i++) /* the scalar lambda: start + step * idx, or end - step * (steps - idx - 1) */
        out[i] = i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
}

/* ======================================== indices and weights ======================================== */

/* bug zoo, align-corners-false: the half-pixel centres F.interpolate(align_corners=False) samples,
 * (i + 0.5) * G / n - 0.5, clamped at 0. -> x [n] */
static void half_pixel_centres(float *x, int64_t n, int side)
{
    for (int64_t i = 0; i < n; i++) {
        float v = ((float)i + 0.5f) * ((float)side / (float)n) - 0.5f;
        x[i] = v < 0.0f ? 0.0f : v;
    }
}

/* The sample positions along one axis of n patches: linspace(0, G-1, n). -> x [n] */
static void sample_positions(float *x, int64_t n, int side, unsigned bugs)
{
    vt_qwen3vl_linspace(x, n, 0.0f, (float)(side - 1));
    VT_BUG_SWITCH(bugs, VT_BUG_ALIGN_CORNERS_FALSE, half_pixel_centres(x, n, side));
}

int vt_qwen3vl_pos_interp_weights(vt_tensor *idx, vt_tensor *wgt, const vt_tensor *grid_thw, int side, unsigned bugs,
                                  vt_arena *a, vt_status *st)
{
    const int64_t n = grid_thw->shape[0];
    const int64_t *g = vt_i64(grid_thw);
    int64_t S = 0;
    for (int64_t i = 0; i < n; i++) S += g[3 * i + 1] * g[3 * i + 2];
    VT_TRY(vt_tensor_alloc(idx, a, VT_I64, VT_DIMS(4, S), st));
    VT_TRY(vt_tensor_alloc(wgt, a, VT_F32, VT_DIMS(4, S), st));
    int64_t *I = vt_i64(idx);
    float *W = vt_f32(wgt);
    int64_t s = 0; /* grid points written so far */
    for (int64_t item = 0; item < n; item++) {
        const int64_t h = g[3 * item + 1], w = g[3 * item + 2];
        vt_arena_pos mark = vt_arena_mark(a);
        float *hi = vt_arena_alloc(a, (size_t)h * sizeof(float), st);
        float *wi = hi ? vt_arena_alloc(a, (size_t)w * sizeof(float), st) : NULL;
        if (!wi) return st->code;
        sample_positions(hi, h, side, bugs);
        sample_positions(wi, w, side, bugs);
        for (int64_t r = 0; r < h; r++) {
            /* h_idxs_floor = h_idxs.int(); h_idxs_ceil = (h_idxs.int() + 1).clip(max=G-1); dh = h_idxs - floor */
            const int64_t fh = (int64_t)hi[r];
            const int64_t ch = fh + 1 < side ? fh + 1 : side - 1;
            const float dh = hi[r] - (float)fh;
            for (int64_t c = 0; c < w; c++, s++) {
                const int64_t fw = (int64_t)wi[c];
                const int64_t cw = fw + 1 < side ? fw + 1 : side - 1;
                const float dw = wi[c] - (float)fw;
                /* indices: base_h[None].T + w_idxs_floor[None] ..., flattened row-major */
                I[0 * S + s] = fh * side + fw;
                I[1 * S + s] = fh * side + cw;
                I[2 * S + s] = ch * side + fw;
                I[3 * S + s] = ch * side + cw;
                /* weights: (1 - dh)[None].T * (1 - dw)[None] ..., one float32 product each */
                W[0 * S + s] = (1.0f - dh) * (1.0f - dw);
                W[1 * S + s] = (1.0f - dh) * dw;
                W[2 * S + s] = dh * (1.0f - dw);
                W[3 * S + s] = dh * dw;
            }
        }
        vt_arena_reset(a, mark);
    }
    return VT_OK;
}

/* ======================================== the interpolated table ======================================== */

int vt_qwen3vl_fast_pos_embed_interpolate(vt_tensor *out, const float *pos_embed_w, const vt_tensor *idx,
                                          const vt_tensor *wgt, const vt_tensor *grid_thw, int C, int merge,
                                          vt_arena *a, vt_status *st)
{
    const int64_t n = grid_thw->shape[0], S = idx->shape[1];
    const int64_t *g = vt_i64(grid_thw);
    int64_t N = 0;
    for (int64_t i = 0; i < n; i++) N += g[3 * i] * g[3 * i + 1] * g[3 * i + 2];
    VT_TRY(vt_tensor_alloc(out, a, VT_F32, VT_DIMS(N, C), st));
    const int64_t *I = vt_i64(idx);
    const float *W = vt_f32(wgt);
    float *o = vt_f32(out);
    int64_t s0 = 0; /* this item's first grid point */
    for (int64_t item = 0; item < n; item++) {
        const int64_t t = g[3 * item], h = g[3 * item + 1], w = g[3 * item + 2];
        vt_arena_pos mark = vt_arena_mark(a);
        /* pos_embeds = self.pos_embed(idx_tensor) * weight_tensor[:, :, None];
         * patch_pos_embeds = pos_embeds[0] + pos_embeds[1] + pos_embeds[2] + pos_embeds[3]: [h*w, C] */
        vt_tensor e;
        VT_TRY(vt_tensor_alloc(&e, a, VT_F32, VT_DIMS(h, w, C), st));
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < h * w; p++) {
            const int64_t q = s0 + p;
            const float *e0 = pos_embed_w + I[0 * S + q] * C, *e1 = pos_embed_w + I[1 * S + q] * C;
            const float *e2 = pos_embed_w + I[2 * S + q] * C, *e3 = pos_embed_w + I[3 * S + q] * C;
            const float w0 = W[0 * S + q], w1 = W[1 * S + q], w2 = W[2 * S + q], w3 = W[3 * S + q];
            float *e_p = vt_f32(&e) + p * C;
            for (int64_t d = 0; d < C; d++) {
                float x0 = e0[d] * w0, x1 = e1[d] * w1, x2 = e2[d] * w2, x3 = e3[d] * w3; /* rounded products */
                float acc = x0 + x1;
                acc = acc + x2;
                e_p[d] = acc + x3;
            }
        }
        /* pos_embed.repeat(t, 1).view(t, h/m, m, w/m, m, C).permute(0, 1, 3, 2, 4, 5).flatten(0, 4): every
         * temporal patch gets the same table, in the patches' merge-block order */
        VT_TRY(vt_reshape(&e, VT_DIMS(h / merge, merge, w / merge, merge, C), st));
        vt_tensor perm;
        VT_TRY(vt_permute(&perm, &e, VT_PERM(0, 2, 1, 3, 4), a, st));
        for (int64_t r = 0; r < t; r++) memcpy(o + r * h * w * C, perm.data, (size_t)(h * w * C) * sizeof(float));
        o += t * h * w * C;
        s0 += h * w;
        vt_arena_reset(a, mark);
    }
    return VT_OK;
}
