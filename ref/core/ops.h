/*
 * ops.h -- the numeric kernels every family shares: the Linear matrix product, norms, activations and
 * segment-restricted attention. Pure functions on float32 arrays; no allocation, no tracing.
 *
 * Legend: N rows (tokens), I input features, O output features, C channels, H heads, D head_dim.
 *
 * Determinism: every sum is taken in an order fixed by the code (one fmaf chain per matrix-product
 * element, gemm.h; fixed partial sums elsewhere), so results do not depend on the compiler's
 * vectorisation choices, the instruction set or the thread count; OpenMP splits output rows only.
 */
#ifndef VT_OPS_H
#define VT_OPS_H

#include <stdint.h>
#include <string.h>

#include "core/gemm.h"
#include "core/status.h"

/* How attention restricted to segments (images, video time slices, windows) is computed: both give the
 * same bits (tests/test_kernels.c); every family's forward takes one. */
typedef enum vt_attn_mode {
    VT_ATTN_SEGMENTS = 0, /* walk each segment of cu_seqlens, never forming N x N (the fast path) */
    VT_ATTN_LITERAL = 1,  /* the reference's N x N additive mask, 0 inside / -inf outside (the teaching path) */
} vt_attn_mode;
/* The literal path's largest N: its [N, N] float mask is then 4 GiB. Every family refuses more, before
 * allocating, and says that the segment path (the same numbers) has no such limit. */
#define VT_ATTN_LITERAL_MAX_N 32768

/* y = x @ W^T + b, the layout of torch.nn.Linear. x [N, I], W [O, I], b [O] or NULL -> y [N, O].
 * Goes through vt_gemm_abt (gemm.h): one fmaf chain per element in ascending i, OpenMP over rows. */
void vt_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t I, int64_t O);
/* The same for a weight kept as the checkpoint stores it (gemm.h: float32, or BF16 widened in the kernel). */
void vt_linear_mat(float *y, const float *x, vt_mat W, const float *b, int64_t N, int64_t I, int64_t O);

/* LayerNorm over the last dim: x [N, C] -> y [N, C]; w, b [C] (b may be NULL). y may alias x. */
void vt_layernorm(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps);
/* RMSNorm (Qwen2RMSNorm): y = w * x / sqrt(mean(x^2) + eps). x [N, C] -> y [N, C]. y may alias x. */
void vt_rmsnorm(float *y, const float *x, const float *w, int64_t N, int64_t C, float eps);

/* Elementwise activations over n values; y may alias x. */
void vt_gelu_erf(float *y, const float *x, int64_t n);   /* 0.5 x (1 + erf(x / sqrt 2)), nn.GELU() */
void vt_gelu_tanh(float *y, const float *x, int64_t n);  /* GELU(approximate="tanh") */
void vt_quick_gelu(float *y, const float *x, int64_t n); /* x * sigmoid(1.702 x), Qwen2-VL blocks */
void vt_silu(float *y, const float *x, int64_t n);       /* x * sigmoid(x) */

/* Softmax of one row in place (max subtracted first, as torch does; exp by vt_exp_softmax; the sum in
 * double, in 8 partial sums by index). */
void vt_softmax_row(float *x, int64_t n);
/* The same for a row whose element 0 is key `phase` of a longer row (the rest masked): the partial sums
 * are keyed by phase + index, so the result equals vt_softmax_row over the longer row bit for bit. */
void vt_softmax_row_at(float *x, int64_t n, int64_t phase);
/* The exp the softmax uses, for x <= 0: within 1 ulp of exp on [-87, 0], 0 below, NaN for NaN (ops.c). */
float vt_exp_softmax(float x);

/* Elementwise ACT2FN[name] for the names the configs use (quick_gelu, silu, gelu, gelu_pytorch_tanh);
 * VT_EINPUT for another. */
int vt_activation(float *y, const float *x, int64_t n, const char *name, vt_status *st);
/* Is name one of vt_activation's? (Inline: the config parsers call it without linking the kernels.) */
static inline int vt_activation_known(const char *name)
{
    return !strcmp(name, "quick_gelu") || !strcmp(name, "silu") || !strcmp(name, "gelu") ||
           !strcmp(name, "gelu_pytorch_tanh");
}

/*
 * A [L, H, D] operand seen through strides, so attention can read q, k and v straight out of a fused
 * qkv buffer whatever its layout: element (l, h, d) is at data[l*row_stride + h*head_stride + d].
 */
typedef struct vt_heads {
    const float *data;
    int64_t row_stride;
    int64_t head_stride;
} vt_heads;

/*
 * Attention restricted to segments (the segment path of docs/design.md, "The stages"): query rows and key rows are cut at
 * the same boundaries cu[0]=0 < cu[1] < ... < cu[nseg]=L, and a row attends only inside its segment, as
 * the reference's additive mask built from cu_seqlens makes it (0 inside, -inf outside). Never forms an
 * L x L buffer; work is the sum of squared segment lengths (both products go through gemm.h).
 * out [L, H*D] (row-major, head-major columns) = softmax(q k^T * scale) v per head and segment.
 * Gives the same bits as vt_attention_masked with that mask (attention.c says why; tests check it).
 * Returns 0, or VT_ERESOURCE when the per-thread tiles (about 3 * maxlen * max(D, 64) floats) cannot be
 * allocated.
 */
int vt_attention_segments(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t L, int64_t H, int64_t D,
                          const int32_t *cu, int64_t nseg, float scale);

/* The general form: query rows [qcu[g], qcu[g+1]) attend key rows [kcu[g], kcu[g+1]) only, g < nseg
 * (qcu[0] = kcu[0] = 0). One segment {0, Lq} / {0, Lk} is unmasked (cross-)attention; it gives the same
 * bits as vt_attention_masked with mask NULL. out [qcu[nseg], H*D]. */
int vt_attention_blocks(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t H, int64_t D, const int32_t *qcu,
                        const int32_t *kcu, int64_t nseg, float scale);

/*
 * Attention with an explicit additive mask (the literal path, as the reference computes it): mask
 * [Lq, Lk] holds 0 where attention is allowed and -INFINITY where it is not; NULL means no mask.
 * out [Lq, H*D]. Returns 0, or VT_ERESOURCE when a score buffer cannot be allocated.
 */
int vt_attention_masked(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t Lq, int64_t Lk, int64_t H,
                        int64_t D, const float *mask, float scale);

/*
 * Causal self-attention over a key/value cache with grouped-query heads (the decoder of Qwen2-VL /
 * Qwen2.5-VL): query row i sits at sequence index q0 + i; it attends the key rows j with
 * j <= q0 + i and, when window > 0, j > q0 + i - window (the sliding-window term transformers 4.51.3 adds
 * to the causal mask); query head h reads key/value head h / (H / G) (repeat_kv). The scores are divided
 * by div (the reference writes q k^T / math.sqrt(head_dim)). q [Lq, H*D] rows, k and v [q0 + Lq, G*D] rows
 * (all through strides), out [Lq, H*D].
 * VT_ATTN_LITERAL builds the reference's [Lq, q0 + Lq] additive mask (0 / -inf) and loops over every key;
 * VT_ATTN_SEGMENTS visits only each row's key range, through gemm.h; both give the same bits (the argument
 * of attention.c; tests/test_lm.c checks it). Returns 0 or VT_ERESOURCE.
 */
int vt_attention_causal(float *out, vt_heads q, vt_heads k, vt_heads v, int64_t Lq, int64_t q0, int64_t H,
                        int64_t G, int64_t D, int64_t window, float div, vt_attn_mode mode);

#endif
