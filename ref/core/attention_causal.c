/* attention_causal.c -- causal self-attention over a key/value cache, grouped-query heads (ops.h).
 *
 * Legend: Lq query rows, q0 rows before them in the cache, Lk = q0 + Lq keys, H query heads, G key/value
 * heads, R = H / G, D head_dim, W the sliding window (0: none), QB query rows per tile.
 *
 * What the decoder's eager attention computes (Qwen2VLAttention.forward, transformers 4.51.3), per query
 * head h and query row i at sequence index p = q0 + i:
 *     keys      j = 0 .. Lk-1 of head g = h / R      (repeat_kv: key/value head g serves R query heads)
 *     mask_pj   = 0 if j <= p and (W == 0 or j > p - W), else the dtype's minimum (here -inf: exp gives 0
 *                 either way, and no row is ever fully masked since j = p is always allowed)
 *     s_j       = fmaf-chain_d(q_i[d] k_j[d]) / sqrt(D) + mask_pj
 *     p         = softmax(s) in float32
 *     out_i     = fmaf-chain_j(p_j v_j)              (j ascending, from 0)
 * The literal path does exactly that over every key. The segment path visits, per tile of query rows,
 * only the keys some row of the tile may see, through gemm.h, softmaxes each row over its own range with
 * partial sums keyed by absolute key index (vt_softmax_row_at) and zeroes the rest: the same bits, for the
 * reasons attention.c gives (exp(-inf) = 0 adds nothing to a partial sum; fmaf(0, v, acc) = acc).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/ops.h"

#define QB 64 /* query rows per tile */

/* The keys row p may see: [lo, p]. */
static int64_t first_key(int64_t p, int64_t window)
{
    return window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
}

/* ---------------- the literal path: HF's mask, every key ---------------- */

static int causal_literal(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t Lq, int64_t q0, int64_t H,
                          int64_t G, int64_t D, int64_t window, float div)
{
    const int64_t Lk = q0 + Lq, R = H / G;
    if (Lq > 0 && (uint64_t)Lk > SIZE_MAX / sizeof(float) / (uint64_t)Lq) return VT_ERESOURCE;
    /* causal_mask: [Lq, Lk], 0 where allowed, -inf where not (_prepare_4d_causal_attention_mask_with_cache_position) */
    float *mask = malloc((size_t)(Lq * Lk) * sizeof(float));
    if (!mask) return VT_ERESOURCE;
    for (int64_t i = 0; i < Lq; i++) {
        const int64_t p = q0 + i, lo = first_key(p, window);
        for (int64_t j = 0; j < Lk; j++) mask[i * Lk + j] = j <= p && j >= lo ? 0.0f : -INFINITY;
    }
    int fail = 0;
#pragma omp parallel reduction(| : fail)
    {
        float *s = malloc((size_t)(Lk > 0 ? Lk : 1) * sizeof(float));
        if (!s) fail = 1;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < Lq; i++)
            for (int64_t h = 0; h < H && s; h++) {
                const int64_t g = h / R; /* repeat_kv */
                const float *q_i = q.data + i * q.row_stride + h * q.head_stride;
                for (int64_t j = 0; j < Lk; j++) {
                    const float *k_j = k.data + j * k.row_stride + g * k.head_stride;
                    float acc = 0;
                    for (int64_t d = 0; d < D; d++) acc = fmaf(q_i[d], k_j[d], acc);
                    s[j] = acc / div + mask[i * Lk + j]; /* matmul(q, k^T) / sqrt(D) + causal_mask */
                }
                vt_softmax_row(s, Lk); /* softmax(dim=-1, dtype=torch.float32) */
                float *o = out + i * H * D + h * D;
                for (int64_t d = 0; d < D; d++) o[d] = 0;
                for (int64_t j = 0; j < Lk; j++) {
                    const float *v_j = v.data + j * v.row_stride + g * v.head_stride;
                    for (int64_t d = 0; d < D; d++) o[d] = fmaf(s[j], v_j[d], o[d]);
                }
            }
        free(s);
    }
    free(mask);
    return fail ? VT_ERESOURCE : VT_OK;
}

/* ---------------- the segment path: each tile's key range, through gemm.h ---------------- */

typedef struct causal_tiles {
    float *kp, *vp, *s; /* packed k [S, D], packed v^T [D, S], scores [QB, S] for S <= maxS */
} causal_tiles;

/* Query rows [i0, i1) of every head of key/value head g. */
static void causal_tile(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t q0, int64_t H, int64_t R, int64_t D,
                        int64_t window, float div, int64_t g, int64_t i0, int64_t i1, causal_tiles *t)
{
    const int64_t klo = first_key(q0 + i0, window), khi = q0 + i1, S = khi - klo, m = i1 - i0;
    /* the tile's keys and values of head g, packed once for its R query heads */
    vt_gemm_pack(t->kp, k.data + klo * k.row_stride + g * k.head_stride, k.row_stride, 1, S, D);
    vt_gemm_pack(t->vp, v.data + klo * v.row_stride + g * v.head_stride, 1, v.row_stride, D, S);
    for (int64_t h = g * R; h < (g + 1) * R; h++) {
        vt_gemm_packed(t->s, S, q.data + i0 * q.row_stride + h * q.head_stride, q.row_stride, t->kp, NULL, m, S, D);
        for (int64_t r = 0; r < m; r++) {
            const int64_t p = q0 + i0 + r, lo = first_key(p, window);
            float *s_r = t->s + r * S;
            for (int64_t j = lo - klo; j <= p - klo; j++) s_r[j] = s_r[j] / div;
            vt_softmax_row_at(s_r + (lo - klo), p - lo + 1, lo); /* partials keyed by absolute key index */
            for (int64_t j = 0; j < lo - klo; j++) s_r[j] = 0.0f;    /* the masked keys: exp(-inf) = 0 */
            for (int64_t j = p - klo + 1; j < S; j++) s_r[j] = 0.0f;
        }
        vt_gemm_packed(out + i0 * H * D + h * D, H * D, t->s, S, t->vp, NULL, m, D, S);
    }
}

static int causal_segments(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t Lq, int64_t q0, int64_t H,
                           int64_t G, int64_t D, int64_t window, float div)
{
    const int64_t R = H / G, blocks = (Lq + QB - 1) / QB;
    int64_t maxS = 1; /* the widest key range of a tile */
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t i0 = b * QB, i1 = i0 + QB < Lq ? i0 + QB : Lq;
        const int64_t S = q0 + i1 - first_key(q0 + i0, window);
        if (S > maxS) maxS = S;
    }
    const size_t kp_n = (size_t)VT_GEMM_PACKED(maxS, D), vp_n = (size_t)VT_GEMM_PACKED(D, maxS);
    const int64_t work = blocks * G; /* one item per (tile, key/value head) */
    int fail = 0;
#pragma omp parallel reduction(| : fail)
    {
        causal_tiles t = {malloc(kp_n * sizeof(float)), malloc(vp_n * sizeof(float)),
                          malloc((size_t)(QB * maxS) * sizeof(float))};
        if (!t.kp || !t.vp || !t.s) fail = 1;
        /* dynamic: later tiles see more keys; who computes an item never changes its numbers */
#pragma omp for schedule(dynamic, 1)
        for (int64_t w = 0; w < work; w++) {
            if (fail) continue;
            const int64_t b = w / G, g = w % G, i0 = b * QB, i1 = i0 + QB < Lq ? i0 + QB : Lq;
            causal_tile(out, q, k, v, q0, H, R, D, window, div, g, i0, i1, &t);
        }
        free(t.kp);
        free(t.vp);
        free(t.s);
    }
    return fail ? VT_ERESOURCE : VT_OK;
}

int vt_attention_causal(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t Lq, int64_t q0, int64_t H,
                        int64_t G, int64_t D, int64_t window, float div, vt_attn_mode mode)
{
    VT_ASSERT(G >= 1 && H % G == 0 && q0 >= 0 && Lq >= 0);
    if (Lq == 0) return VT_OK;
    if (mode == VT_ATTN_LITERAL) return causal_literal(out, q, k, v, Lq, q0, H, G, D, window, div);
    return causal_segments(out, q, k, v, Lq, q0, H, G, D, window, div);
}
