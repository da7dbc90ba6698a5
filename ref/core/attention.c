/* attention.c -- scaled dot-product attention, segment path and literal (explicit mask) path. See ops.h.
 *
 * Legend: L rows, H heads, D head_dim, S the rows of one segment, QB query rows per tile.
 *
 * Both paths compute, per head h and query row i:
 *     s_j = fmaf-chain_d(q_i[d] * k_j[d]) * scale (+ mask_ij)   over the keys j the row may see
 *     p   = softmax(s)                      (vt_softmax_row: max first, sum in double, 8 partials by key index)
 *     out_i[h*D + d] = fmaf-chain_j(p_j * v_j[d])              (j ascending, from 0)
 * The literal path is those loops as written, over every key, letting -inf in the mask zero the masked
 * ones. The segment path visits only the keys of the row's segment and does both products with the
 * gemm.h kernel, whose chains are exactly the ones above (acc = 0, fmaf in ascending k). The two agree to
 * the bit: a masked key's exp(-inf) is exactly 0, adding +0.0 to a partial sum changes nothing (the
 * partials are keyed by the key's index in both paths: vt_softmax_row_at), and
 * fmaf(0, v, acc) = acc, so the keys outside the segment leave every running value as it was.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/ops.h"
#include "core/status.h"

#define QB 64 /* query rows per score tile: QB x S floats of scores per thread, never S x S */

/* ---------------- the literal path: naive loops ---------------- */

/* One query row against keys [0, n) for head h; `mask_row` (may be NULL) is row i of the mask. */
static void attend_row(float *out_i, const float *q_i, vt_heads k, vt_heads v, int64_t h, int64_t n, int64_t D,
                       const float *mask_row, float scale, float *s)
{
    for (int64_t j = 0; j < n; j++) {
        const float *k_j = k.data + j * k.row_stride + h * k.head_stride;
        float acc = 0;
        for (int64_t d = 0; d < D; d++) acc = fmaf(q_i[d], k_j[d], acc);
        s[j] = mask_row ? acc * scale + mask_row[j] : acc * scale;
    }
    vt_softmax_row(s, n);
    for (int64_t d = 0; d < D; d++) out_i[d] = 0;
    for (int64_t j = 0; j < n; j++) {
        const float *v_j = v.data + j * v.row_stride + h * v.head_stride;
        const float p = s[j];
        for (int64_t d = 0; d < D; d++) out_i[d] = fmaf(p, v_j[d], out_i[d]);
    }
}

int vt_attention_masked(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t Lq, int64_t Lk, int64_t H,
                        int64_t D, const float *mask, float scale)
{
    int fail = 0;
#pragma omp parallel reduction(| : fail)
    {
        float *s = malloc((size_t)(Lk > 0 ? Lk : 1) * sizeof(float));
        if (!s) fail = 1;
        else {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < Lq; i++)
                for (int64_t h = 0; h < H; h++) {
                    const float *q_i = q.data + i * q.row_stride + h * q.head_stride;
                    attend_row(out + i * H * D + h * D, q_i, k, v, h, Lk, D, mask ? mask + i * Lk : NULL, scale, s);
                }
        }
        free(s);
    }
    return fail ? VT_ERESOURCE : VT_OK;
}

/* ---------------- the segment path: tiles through gemm.h ---------------- */

/* One thread's buffers, sized for the longest segment. */
typedef struct seg_tiles {
    float *kp; /* k of one head and segment, packed: VT_GEMM_PACKED(S, D) */
    float *vp; /* v^T of one head and segment, packed: VT_GEMM_PACKED(D, S) */
    float *s;  /* scores of QB query rows: [QB, S] */
} seg_tiles;

/* Query rows [q0, q1) attend key rows [k0, k1), head h -> out rows [q0, q1), columns [h*D, (h+1)*D). */
static void attend_segment(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t H, int64_t D, int64_t h,
                           int64_t q0, int64_t q1, int64_t k0, int64_t k1, float scale, seg_tiles *t)
{
    const int64_t S = k1 - k0;
    /* B operands of the two products: k rows as they are (n = key, k = d), v read transposed (n = d, k = key) */
    vt_gemm_pack(t->kp, k.data + k0 * k.row_stride + h * k.head_stride, k.row_stride, 1, S, D);
    vt_gemm_pack(t->vp, v.data + k0 * v.row_stride + h * v.head_stride, 1, v.row_stride, D, S);
    for (int64_t i0 = q0; i0 < q1; i0 += QB) {
        const int64_t m = q1 - i0 < QB ? q1 - i0 : QB;
        /* scores [m, S] = q_rows @ k_seg^T, then * scale and softmax, row by row */
        vt_gemm_packed(t->s, S, q.data + i0 * q.row_stride + h * q.head_stride, q.row_stride, t->kp, NULL, m, S, D);
        for (int64_t r = 0; r < m; r++) {
            float *s_r = t->s + r * S;
            for (int64_t j = 0; j < S; j++) s_r[j] = s_r[j] * scale;
            vt_softmax_row_at(s_r, S, k0); /* partial sums keyed by key index, as the literal path's */
        }
        /* out rows [m, D] = p [m, S] @ v_seg [S, D] (= p @ (v_seg^T)^T) */
        vt_gemm_packed(out + i0 * H * D + h * D, H * D, t->s, S, t->vp, NULL, m, D, S);
    }
}

int vt_attention_blocks(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t H, int64_t D, const int32_t *qcu,
                        const int32_t *kcu, int64_t nseg, float scale)
{
    VT_ASSERT(qcu[0] == 0 && kcu[0] == 0);
    int64_t maxk = 1;
    for (int64_t g = 0; g < nseg; g++) {
        VT_ASSERT(qcu[g] <= qcu[g + 1] && kcu[g] <= kcu[g + 1]);
        if (kcu[g + 1] - kcu[g] > maxk) maxk = kcu[g + 1] - kcu[g];
    }
    const size_t kp_n = (size_t)VT_GEMM_PACKED(maxk, D), vp_n = (size_t)VT_GEMM_PACKED(D, maxk);
    const int64_t work = nseg * H; /* one item per (segment, head): its k and v are packed once */
    int fail = 0;
#pragma omp parallel reduction(| : fail)
    {
        seg_tiles t = {malloc(kp_n * sizeof(float)), malloc(vp_n * sizeof(float)),
                       malloc((size_t)(QB * maxk) * sizeof(float))};
        if (!t.kp || !t.vp || !t.s) fail = 1;
        /* dynamic: windows differ in size; who computes an item never changes its numbers */
#pragma omp for schedule(dynamic, 1)
        for (int64_t w = 0; w < work; w++) {
            const int64_t g = w / H, h = w % H;
            if (fail || qcu[g] == qcu[g + 1]) continue;
            if (kcu[g] == kcu[g + 1]) { /* no key to attend: softmax of nothing, NaN as torch gives */
                for (int64_t i = qcu[g]; i < qcu[g + 1]; i++)
                    for (int64_t d = 0; d < D; d++) out[i * H * D + h * D + d] = NAN;
                continue;
            }
            attend_segment(out, q, k, v, H, D, h, qcu[g], qcu[g + 1], kcu[g], kcu[g + 1], scale, &t);
        }
        free(t.kp);
        free(t.vp);
        free(t.s);
    }
    return fail ? VT_ERESOURCE : VT_OK;
}

int vt_attention_segments(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t L, int64_t H, int64_t D,
                          const int32_t *cu, int64_t nseg, float scale)
{
    VT_ASSERT(cu[0] == 0 && cu[nseg] == L);
    return vt_attention_blocks(out, q, k, v, H, D, cu, cu, nseg, scale);
}
