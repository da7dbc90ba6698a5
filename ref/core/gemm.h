/*
 * gemm.h -- the one matrix-product kernel: C = A @ B^T (+ bias), the layout of torch.nn.Linear.
 *
 *     vt_gemm_abt(y, x, W, b, N, O, I);     // y [N, O] = x [N, I] @ W[O, I]^T + b [O]   (OpenMP over rows)
 *
 * Attention uses the two halves on its own tiles (it parallelises over heads and query blocks itself):
 *
 *     float Bp[VT_GEMM_PACKED(n, k)];  vt_gemm_pack(Bp, K_h, row_stride, 1, n, k);
 *     vt_gemm_packed(S, ldS, Q_h, q_row_stride, Bp, NULL, m, n, k);
 *
 * What every output element is, whatever the ISA, blocking or thread count (docs/performance.md):
 *
 *     acc = 0;  for k = 0 .. K-1 ascending:  acc = fmaf(A[i][k], B[j][k], acc);  C[i][j] = acc (+ bias[j])
 *
 * one fused multiply-add chain per element, computed by one thread. fmaf rounds once by definition, so
 * the AVX-512, AVX2+FMA and baseline builds of the kernel give the same bits, and so does the naive loop
 * above (tests/test_kernels.c checks both).
 *
 * Weights stored as BF16 stay BF16 in memory (a 7B language model is 15 GB in BF16 and would not fit this
 * machine as float32), held in the kernel's panel order (vt_mat below, arranged once at load) and widened
 * inside the kernel: a bf16 is the top half of a float32, so the widening is exact and vt_gemm_abt_mat
 * gives the bits a float32 copy would.
 *
 *     vt_mat W = {NULL, w_bf16_panels};             // or {w_f32, NULL}
 *     vt_gemm_abt_mat(y, x, W, b, N, O, I);
 *
 * Threads split the output columns (whole 32-column panels, so each thread packs only its own) when
 * there are at least 4 panels per thread, the rows (whole 8-row tiles) otherwise. With few rows (decoding
 * one token: M = 1) a one-row micro-kernel reads each weight once, straight from the BF16 panels
 * (decoding is a stream over every weight per token). Each element is the same chain either way.
 *
 * Legend: M rows of A and C, N rows of B (= columns of C), K the summed dimension.
 */
#ifndef VT_GEMM_H
#define VT_GEMM_H

#include <stddef.h>
#include <stdint.h>

#define VT_GEMM_NR 32 /* output columns per packed panel (two 16-float vectors) */
#define VT_GEMM_MR 8  /* rows of the register tile */

/* Floats a packed copy of an [N, K] operand takes: ceil(N / NR) panels of K x NR. */
#define VT_GEMM_PACKED(N, K) ((((N) + VT_GEMM_NR - 1) / VT_GEMM_NR) * VT_GEMM_NR * (K))

/* A weight matrix [N, K]: float32 row-major (f32), or BF16 as the checkpoint stored it (bf16), held in
 * the order the kernel reads it: panel p (rows [32p, 32p + 32)) is K x 32 values, element (n, k) at
 * bf16[(n / 32) * K * 32 + k * 32 + n % 32], rows past N zero (VT_GEMM_PANELS_BF16 values in all).
 * Exactly one of the two pointers is set. */
typedef struct vt_mat {
    const float *f32;
    const uint16_t *bf16;
} vt_mat;

/* Values (uint16) of a BF16 [N, K] matrix in panel order. */
#define VT_GEMM_PANELS_BF16(N, K) ((((N) + VT_GEMM_NR - 1) / VT_GEMM_NR) * VT_GEMM_NR * (K))

/* Element (n, k) of W [N, K] as float32 (lookups, e.g. an embedding row; the kernel never calls it). */
static inline float vt_mat_at(vt_mat W, int64_t K, int64_t n, int64_t k)
{
    if (W.f32) return W.f32[n * K + k];
    const uint32_t u = (uint32_t)W.bf16[(n / VT_GEMM_NR) * K * VT_GEMM_NR + k * VT_GEMM_NR + n % VT_GEMM_NR] << 16;
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

static inline vt_mat vt_mat_f32(const float *p)
{
    vt_mat m = {p, NULL};
    return m;
}

/* Pack B into panels: element (n, k) is read at B[n*sn + k*sk]; panel p holds Bp[p][k][c] = B(p*NR + c, k),
 * zero for columns past N. Bp has VT_GEMM_PACKED(N, K) floats. */
void vt_gemm_pack(float *Bp, const float *B, int64_t sn, int64_t sk, int64_t N, int64_t K);

/* C[i*ldc + j] = sum_k A[i*lda + k] * B(j, k) (+ bias[j] when bias != NULL), i < M, j < N, on one thread;
 * Bp from vt_gemm_pack. C may not overlap A or Bp. */
void vt_gemm_packed(float *C, int64_t ldc, const float *A, int64_t lda, const float *Bp, const float *bias,
                    int64_t M, int64_t N, int64_t K);


/* C [M, N] = A [M, K] @ B [N, K]^T + bias [N] for a float32 or BF16 weight (vt_mat); the same bits for both
 * storages of the same values, for any thread count. */
void vt_gemm_abt_mat(float *C, const float *A, vt_mat B, const float *bias, int64_t M, int64_t N, int64_t K);

/* C [M, N] = A [M, K] @ B [N, K]^T + bias [N] (bias may be NULL), rows split across OpenMP threads. B is
 * packed a panel and a K-block at a time on each thread's stack: no allocation, no failure. */
void vt_gemm_abt(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N, int64_t K);

#endif
