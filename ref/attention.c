/* attention.c -- scaled dot-product attention, segment path and literal (explicit mask) path. See ops.h.
 *
 * Both paths compute, per head h and query row i:
 *     s_j = (q_i . k_j) * scale (+ mask_ij)      over the keys j the row may see
 *     p   = softmax(s)                            (max subtracted, float32)
 *     out_i[h*D : (h+1)*D] = sum_j p_j v_j        (j in increasing order)
 * The literal path visits every key and lets -inf in the mask zero the masked ones; the segment path
 * visits only the keys of the row's segment. exp(-inf) is exactly 0, so the two give identical numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "status.h"

#define STACK_KEYS 4096

/* One query row against keys [k0, k1) for head h; `mask_row` (may be NULL) is indexed from k0. */
static void attend_row(float *out_i, const float *q_i, vt_heads k, vt_heads v, int64_t h, int64_t k0,
                       int64_t k1, int64_t D, const float *mask_row, float scale, float *s)
{
    int64_t n = k1 - k0;
    for (int64_t j = 0; j < n; j++) {
        const float *k_j = k.data + (k0 + j) * k.row_stride + h * k.head_stride;
        float acc = 0;
        for (int64_t d = 0; d < D; d++) acc += q_i[d] * k_j[d];
        s[j] = acc * scale + (mask_row ? mask_row[j] : 0.0f);
    }
    vt_softmax_row(s, n);
    for (int64_t d = 0; d < D; d++) out_i[d] = 0;
    for (int64_t j = 0; j < n; j++) {
        const float *v_j = v.data + (k0 + j) * v.row_stride + h * v.head_stride;
        float p = s[j];
        for (int64_t d = 0; d < D; d++) out_i[d] += p * v_j[d];
    }
}

int vt_attention_segments(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t L, int64_t H, int64_t D,
                          const int32_t *cu, int64_t nseg, float scale)
{
    int64_t maxlen = 0;
    for (int64_t g = 0; g < nseg; g++) {
        VT_ASSERT(cu[g] <= cu[g + 1]);
        if (cu[g + 1] - cu[g] > maxlen) maxlen = cu[g + 1] - cu[g];
    }
    VT_ASSERT(cu[0] == 0 && cu[nseg] == L);
    int fail = 0;
#pragma omp parallel reduction(| : fail)
    {
        float stack_s[STACK_KEYS];
        float *s = maxlen <= STACK_KEYS ? stack_s : malloc((size_t)maxlen * sizeof(float));
        if (!s) fail = 1;
        else {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < L; i++) {
                int64_t g = 0; /* the segment holding row i */
                while (cu[g + 1] <= i) g++;
                for (int64_t h = 0; h < H; h++) {
                    const float *q_i = q.data + i * q.row_stride + h * q.head_stride;
                    attend_row(out + i * H * D + h * D, q_i, k, v, h, cu[g], cu[g + 1], D, NULL, scale, s);
                }
            }
        }
        if (s != stack_s) free(s);
    }
    return fail ? VT_ERESOURCE : VT_OK;
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
                    attend_row(out + i * H * D + h * D, q_i, k, v, h, 0, Lk, D, mask ? mask + i * Lk : NULL,
                               scale, s);
                }
        }
        free(s);
    }
    return fail ? VT_ERESOURCE : VT_OK;
}
