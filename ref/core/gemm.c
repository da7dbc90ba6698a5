/*
 * gemm.c -- C = A @ B^T (+ bias): the kernel every Linear layer and attention goes through (gemm.h).
 *
 * Legend: M rows of A and C, N rows of B (= columns of C), K the summed dimension; MR x NR the register
 * tile (8 x 32), KC the longest K-block (1024; K is cut into equal blocks of at most KC).
 *
 * How it is fast without intrinsics or -ffast-math:
 *   - B is packed a panel at a time into [k][32] order (vt_gemm_pack): the 32 values one k-step needs are
 *     two contiguous 16-float vectors, and a KC x 32 block (128 KB) stays in L2 while the rows sweep by.
 *     Long K-blocks measured best (KC 256: 0.55 of OpenBLAS; 1024: 0.7): each block boundary stores and
 *     reloads the C tile and restarts the A streams, and L2 feeds B fast enough. The copy walks B along
 *     its contiguous dimension: a weight row by row, not 32 rows at once at each k, which on the merger
 *     shapes (M 256, so little work per packed panel) made packing half the time.
 *   - the micro-kernel keeps a tile of C in local accumulators and, per k, broadcasts one value of each
 *     row of A against its columns: independent fmaf chains, which the compiler turns into vfmadd on
 *     whole registers, enough of them to hide the FMA latency (8 x 32 = 16 AVX-512 registers; with AVX2,
 *     4 x 16 sub-tiles of 8 registers, since 16 registers cannot hold 8 x 32).
 *   - with GCC on x86-64, `target_clones` compiles that one function for x86-64-v4 (AVX-512), x86-64-v3
 *     (AVX2 + FMA) and the baseline; the loader picks one at run time. Elsewhere (clang, arm64) it is
 *     compiled once, plainly (core/isa.h).
 * Why it is deterministic: the accumulators are plain floats updated with fmaf in ascending k, each
 * output element by one thread. A K-block boundary only stores the running value and loads it back, so
 * blocking, the vector width and the thread count never change which operations happen in which order.
 * fmaf is one rounding by definition (the baseline clone calls libm's exact fmaf), so all clones agree,
 * and so do other compilers and CPUs: no build contracts any other a * b + c (-ffp-contract=off).
 */
#include "core/gemm.h"

#include "core/isa.h"

#include <math.h>
#include <string.h>

#include <omp.h>

#include "core/status.h"

#define MR VT_GEMM_MR
#define NR VT_GEMM_NR
#define KC 1024 /* see the header comment; a packed block is 128 KB, on each thread's stack */

/* The K-block length: K cut into ceil(K / KC) equal blocks rather than KC, KC, ..., remainder, so no
 * block is short (K 1176 is 588 + 588, not 1024 + 152: a short block pays the tile store/reload for
 * little work; measured 0.47 -> see docs/performance.md). Blocking never changes a result. */
static int64_t k_step(int64_t K)
{
    int64_t nb = (K + KC - 1) / KC;
    return (K + nb - 1) / nb;
}

void vt_gemm_pack(float *Bp, const float *B, int64_t sn, int64_t sk, int64_t N, int64_t K)
{
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
        float *p = Bp + (n0 / NR) * K * NR;
        int64_t nr = N - n0 < NR ? N - n0 : NR;
        if (sk == 1) { /* rows of B contiguous in k (Linear weights, attention's k): one stream per row */
            for (int64_t c = 0; c < nr; c++) {
                const float *b_c = B + (n0 + c) * sn;
                for (int64_t k = 0; k < K; k++) p[k * NR + c] = b_c[k];
            }
            for (int64_t k = 0; k < K; k++)
                for (int64_t c = nr; c < NR; c++) p[k * NR + c] = 0.0f;
        } else { /* columns contiguous (attention's v^T): one stream across the panel per k */
            for (int64_t k = 0; k < K; k++) {
                float *p_k = p + k * NR;
                for (int64_t c = 0; c < nr; c++) p_k[c] = B[(n0 + c) * sn + k * sk];
                for (int64_t c = nr; c < NR; c++) p_k[c] = 0.0f;
            }
        }
    }
}

/* acc[MR][NR] += A[MR rows, kc] (row stride lda) times the packed block bp [kc][NR], k ascending, on the
 * ms x ns sub-tile at row i0, column j0. Always inlined with constant ms and ns: the sub-tile is copied
 * into a local array that nothing can alias, and the unroll pragmas turn every c[i][j] into a constant
 * index, so GCC keeps it in registers for the whole k loop. Without the pragmas (GCC 12, -O2) it lives on
 * the stack at a third of the speed. */
static inline __attribute__((always_inline)) void sub_tile(float *restrict acc, const float *restrict a, int64_t lda,
                                                           const float *restrict bp, int64_t kc, int i0, int j0,
                                                           int ms, int ns)
{
    float c[MR][NR];
    for (int i = 0; i < ms; i++)
        for (int j = 0; j < ns; j++) c[i][j] = acc[(i0 + i) * NR + j0 + j];
    for (int64_t k = 0; k < kc; k++) {
        const float *b_k = bp + k * NR + j0;
#pragma GCC unroll 8 /* = MR */
        for (int i = 0; i < ms; i++) {
            const float a_ik = a[(i0 + i) * lda + k];
#pragma GCC unroll 32 /* = NR */
            for (int j = 0; j < ns; j++) c[i][j] = fmaf(a_ik, b_k[j], c[i][j]);
        }
    }
    for (int i = 0; i < ms; i++)
        for (int j = 0; j < ns; j++) acc[(i0 + i) * NR + j0 + j] = c[i][j];
}

/* The one function compiled per instruction set (x86-64 GCC; core/isa.h); the loader picks the clone for
 * this CPU. The tile is swept in sub-tiles that fit the register file. AVX-512 has 32 registers of 16
 * floats: the whole 8 x 32 tile is 16 of them, and each k-step is 2 loads of B, 8 broadcasts of A and 16
 * vfmadd. AVX2 has 16 registers of 8 floats, where 8 x 32 would be 32 accumulators and spill (0.30 of
 * OpenBLAS): four 4 x 16 sub-tiles of 8 registers each, 2 loads, 4 broadcasts and 8 vfmadd per k-step.
 * Every c[i][j] is the same fmaf chain either way. `arch=x86-64-v3` is AVX2 with FMA (a clone listed as
 * "avx2,fma" would be two clones, and the "avx2" one would call libm's fmaf). */
#ifdef VT_GEMM_ONE_TARGET /* tests/gemm_isa_*.c: one variant alone, so a test can compare it with the others */
VT_GEMM_ONE_TARGET
#else
VT_ISA_CLONES /* core/isa.h: x86-64 GCC only; one plain build elsewhere */
#endif
#ifndef VT_GEMM_WIDE /* tests/gemm_isa_*.c choose the sweep too */
#if VT_ISA_HAS_CLONES
/* x86-64-v4's AVX-512 subsets: true exactly when the loader picks that clone (spelled out: the test the
 * loader makes for "arch=x86-64-v4") */
#define VT_GEMM_WIDE                                                                   \
    (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&         \
     __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&        \
     __builtin_cpu_supports("avx512vl"))
#else
/* the plain build (clang, arm64, ...): 4 x 16 sub-tiles, whose 64 accumulators take 16 of arm64's 32
 * 128-bit NEON registers (8 x 32 would need all 32 and more) */
#define VT_GEMM_WIDE 0
#endif
#endif
static void micro_tile(float *restrict acc, const float *restrict a, int64_t lda, const float *restrict bp,
                       int64_t kc)
{
    if (VT_GEMM_WIDE) {
        sub_tile(acc, a, lda, bp, kc, 0, 0, MR, NR);
    } else {
        for (int i0 = 0; i0 < MR; i0 += 4)
            for (int j0 = 0; j0 < NR; j0 += 16) sub_tile(acc, a, lda, bp, kc, i0, j0, 4, 16);
    }
}

/* bf16 is the top half of a float32: the widening is exact, so a widened panel holds the very floats a
 * float32 copy of the checkpoint would, and every product after it is the same. */
static inline float widen(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---------------- one row of A (decoding a token) ---------------- */

/* acc[NR] += a[kc] times one K-block of a panel, k ascending: tile_block's chains for a tile of one row,
 * without the 7 rows of zeros a padded 8-row tile would multiply. With bp16 (a BF16 panel's block as
 * stored) each value is widened in the loop, so decoding reads every weight once from memory and writes
 * nothing; otherwise bp is a packed float32 block. Compiled per instruction set like micro_tile; the same
 * fmaf chain per element. */
#ifdef VT_GEMM_ONE_TARGET
VT_GEMM_ONE_TARGET
#else
VT_ISA_CLONES /* core/isa.h: x86-64 GCC only */
#endif
static void micro_row(float *restrict acc, const float *restrict a, const float *restrict bp,
                      const uint16_t *restrict bp16, int64_t kc)
{
    float c[NR];
    for (int j = 0; j < NR; j++) c[j] = acc[j];
    if (bp16) {
        for (int64_t k = 0; k < kc; k++) {
            const float a_k = a[k];
            const uint16_t *b_k = bp16 + k * NR;
#pragma GCC unroll 32 /* = NR */
            for (int j = 0; j < NR; j++) c[j] = fmaf(a_k, widen(b_k[j]), c[j]);
        }
    } else {
        for (int64_t k = 0; k < kc; k++) {
            const float a_k = a[k], *b_k = bp + k * NR;
#pragma GCC unroll 32 /* = NR */
            for (int j = 0; j < NR; j++) c[j] = fmaf(a_k, b_k[j], c[j]);
        }
    }
    for (int j = 0; j < NR; j++) acc[j] = c[j];
}

/* One MR-row tile of C against one packed panel, K-block [k0, k0 + kc): C[mr, nr] at C (stride ldc).
 * The first block starts the chains at 0, later blocks continue from what C holds; the last adds bias. */
static void tile_block(float *C, int64_t ldc, const float *A, int64_t lda, const float *bp, int64_t kc,
                       int64_t mr, int64_t nr, int first, const float *bias)
{
    float acc[MR * NR];
    float apad[MR * KC]; /* a short last tile: its rows copied, the rest zero (their results are dropped) */
    memset(acc, 0, sizeof acc);
    if (!first)
        for (int64_t i = 0; i < mr; i++) memcpy(acc + i * NR, C + i * ldc, (size_t)nr * sizeof(float));
    if (mr == MR) {
        micro_tile(acc, A, lda, bp, kc);
    } else if (mr == 1) { /* one query row (attention while decoding): no 7 rows of zeros */
        micro_row(acc, A, bp, NULL, kc);
    } else {
        for (int64_t i = 0; i < MR; i++) {
            if (i < mr) memcpy(apad + i * KC, A + i * lda, (size_t)kc * sizeof(float));
            else memset(apad + i * KC, 0, (size_t)kc * sizeof(float));
        }
        micro_tile(acc, apad, KC, bp, kc);
    }
    for (int64_t i = 0; i < mr; i++) {
        float *c_i = C + i * ldc;
        const float *acc_i = acc + i * NR;
        if (bias)
            for (int64_t j = 0; j < nr; j++) c_i[j] = acc_i[j] + bias[j];
        else
            memcpy(c_i, acc_i, (size_t)nr * sizeof(float));
    }
}

/* Rows [i0, i1) of C against one packed panel (bp = its [K][NR] block) holding columns [n0, n0 + nr). */
static void panel_rows(float *C, int64_t ldc, const float *A, int64_t lda, const float *bp, const float *bias,
                       int64_t i0, int64_t i1, int64_t n0, int64_t nr, int64_t k0, int64_t kc, int64_t K)
{
    int last = k0 + kc == K;
    for (int64_t i = i0; i < i1; i += MR) {
        int64_t mr = i1 - i < MR ? i1 - i : MR;
        tile_block(C + i * ldc + n0, ldc, A + i * lda + k0, lda, bp, kc, mr, nr, k0 == 0,
                   last && bias ? bias + n0 : NULL);
    }
}

void vt_gemm_packed(float *C, int64_t ldc, const float *A, int64_t lda, const float *Bp, const float *bias,
                    int64_t M, int64_t N, int64_t K)
{
    if (K == 0) { /* an empty sum: C = bias (or 0), as torch gives */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    const int64_t ks = k_step(K);
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
        int64_t nr = N - n0 < NR ? N - n0 : NR;
        const float *panel = Bp + (n0 / NR) * K * NR;
        for (int64_t k0 = 0; k0 < K; k0 += ks) {
            int64_t kc = K - k0 < ks ? K - k0 : ks;
            panel_rows(C, ldc, A, lda, panel + k0 * NR, bias, 0, M, n0, nr, k0, kc, K);
        }
    }
}

/* ---------------- BF16 weights, widened in the kernel ---------------- */

/* One K-block of one panel of B: a float32 operand is packed (vt_gemm_pack); a BF16 one is already in
 * panel order (gemm.h), so its block is one contiguous run, widened as it is copied. */
static void pack_block(float *bp, vt_mat B, int64_t n0, int64_t nr, int64_t k0, int64_t kc, int64_t K)
{
    if (B.bf16) {
        const uint16_t *src = B.bf16 + (n0 / NR) * K * NR + k0 * NR;
        for (int64_t i = 0; i < kc * NR; i++) bp[i] = widen(src[i]);
    } else {
        vt_gemm_pack(bp, B.f32 + n0 * K + k0, K, 1, nr, kc);
    }
}

/* Row i of C against one K-block of one panel: as tile_block for mr = 1. */
static void row_block(float *c_i, const float *a_i, const float *bp, const uint16_t *bp16, int64_t kc, int64_t nr,
                      int first, const float *bias)
{
    float acc[NR];
    memset(acc, 0, sizeof acc);
    if (!first) memcpy(acc, c_i, (size_t)nr * sizeof(float));
    micro_row(acc, a_i, bp, bp16, kc);
    for (int64_t j = 0; j < nr; j++) c_i[j] = bias ? acc[j] + bias[j] : acc[j];
}

/* ---------------- the entry points ---------------- */

/* Multiply-adds below which a few-row product stays on one thread (the parallel region costs more than
 * it saves). Decoding's smallest products, k_proj and v_proj (256 x 1536: 393K), are far above it: on the
 * quiet machine, one thread alone streams 15 GB/s and two 28 GB/s, so q, k, v and o_proj on one thread
 * (10 % of a token's weights) cost 3 % of the step (docs/performance.md, "The language model"). */
#define SMALL_WORK ((int64_t)1 << 16)

/* Many rows (prefill, the towers): MR-row tiles against packed panels. With enough panels for every
 * thread (COL_PANELS each), each thread takes a contiguous run of whole panels (output columns) and every
 * row, so it packs only its own panels; otherwise a contiguous run of whole tiles (rows) and every panel.
 * Splitting rows, every thread packs all of B: on the merger's 256 x 5120 x 5120 (100 MB of B read per
 * thread for 128 rows of work) that was a fifth of the time at 2 threads, 0.47 of OpenBLAS against 0.63
 * at 1 (docs/performance.md). Either split gives each element to one thread, whole: the same bits. */
#define COL_PANELS 4

static void abt_tiles(float *C, const float *A, vt_mat B, const float *bias, int64_t M, int64_t N, int64_t K)
{
    const int64_t tiles = (M + MR - 1) / MR, panels = (N + NR - 1) / NR, ks = k_step(K);
#pragma omp parallel
    {
        /* contiguous runs per thread (the split never changes a result, only who computes it) */
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int by_cols = panels >= COL_PANELS * nt;
        int64_t i0 = 0, i1 = M, p0 = 0, p1 = panels;
        if (by_cols) {
            p0 = panels * t / nt, p1 = panels * (t + 1) / nt;
        } else {
            const int64_t i1_ = tiles * (t + 1) / nt * MR;
            i0 = tiles * t / nt * MR, i1 = i1_ < M ? i1_ : M;
        }
        float bp[KC * NR]; /* this thread's packed copy of one K-block of one panel (128 KB) */
        for (int64_t p = p0; p < p1 && i0 < i1; p++) {
            const int64_t n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;
            for (int64_t k0 = 0; k0 < K; k0 += ks) {
                int64_t kc = K - k0 < ks ? K - k0 : ks;
                pack_block(bp, B, n0, nr, k0, kc, K);
                panel_rows(C, N, A, K, bp, bias, i0, i1, n0, nr, k0, kc, K);
            }
        }
    }
}

/* Few rows (decoding: M = 1, or a short prompt): each thread a contiguous run of whole panels (output
 * columns), every row, so both threads stream their half of the weights. Each element is still one chain
 * computed by one thread, so this split gives the same bits as abt_tiles. */
static void abt_cols(float *C, const float *A, vt_mat B, const float *bias, int64_t M, int64_t N, int64_t K)
{
    const int64_t panels = (N + NR - 1) / NR, ks = k_step(K);
#pragma omp parallel if (M * N * K > SMALL_WORK)
    {
        const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t p0 = panels * t / nt, p1 = panels * (t + 1) / nt;
        float bp[KC * NR];
        for (int64_t p = p0; p < p1; p++) {
            const int64_t n0 = p * NR, nr = N - n0 < NR ? N - n0 : NR;
            for (int64_t k0 = 0; k0 < K; k0 += ks) {
                const int64_t kc = K - k0 < ks ? K - k0 : ks;
                const int last = k0 + kc == K;
                /* BF16 panels are read where they are; a float32 operand is packed first */
                const uint16_t *bp16 = B.bf16 ? B.bf16 + p * K * NR + k0 * NR : NULL;
                if (!bp16) pack_block(bp, B, n0, nr, k0, kc, K);
                for (int64_t i = 0; i < M; i++)
                    row_block(C + i * N + n0, A + i * K + k0, bp, bp16, kc, nr, k0 == 0,
                              last && bias ? bias + n0 : NULL);
            }
        }
    }
}

/* Below this many rows per thread the columns are split (abt_cols), above it the rows (abt_tiles). */
#define FEW_ROWS MR

void vt_gemm_abt_mat(float *C, const float *A, vt_mat B, const float *bias, int64_t M, int64_t N, int64_t K)
{
    VT_ASSERT((B.f32 != NULL) != (B.bf16 != NULL) || K == 0 || N == 0);
    if (K == 0) {
        vt_gemm_packed(C, N, A, K, NULL, bias, M, N, 0);
        return;
    }
    if (M < (int64_t)FEW_ROWS * omp_get_max_threads() && N >= 2 * NR)
        abt_cols(C, A, B, bias, M, N, K);
    else
        abt_tiles(C, A, B, bias, M, N, K);
}

void vt_gemm_abt(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N, int64_t K)
{
    vt_mat b = {B, NULL};
    vt_gemm_abt_mat(C, A, b, bias, M, N, K);
}
