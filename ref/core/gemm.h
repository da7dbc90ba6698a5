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

/* Pack B into panels: element (n, k) is read at B[n*sn + k*sk]; panel p holds Bp[p][k][c] = B(p*NR + c, k),
 * zero for columns past N. Bp has VT_GEMM_PACKED(N, K) floats. */
void vt_gemm_pack(float *Bp, const float *B, int64_t sn, int64_t sk, int64_t N, int64_t K);

/* C[i*ldc + j] = sum_k A[i*lda + k] * B(j, k) (+ bias[j] when bias != NULL), i < M, j < N, on one thread;
 * Bp from vt_gemm_pack. C may not overlap A or Bp. */
void vt_gemm_packed(float *C, int64_t ldc, const float *A, int64_t lda, const float *Bp, const float *bias,
                    int64_t M, int64_t N, int64_t K);

/* C [M, N] = A [M, K] @ B [N, K]^T + bias [N] (bias may be NULL), rows split across OpenMP threads. B is
 * packed a panel and a K-block at a time on each thread's stack: no allocation, no failure. */
void vt_gemm_abt(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N, int64_t K);

#endif
