/* test_kernels.c -- the matrix-product kernel (ref/core/gemm.c) and the tiled attention (ref/core/attention.c)
 * against the naive loops they must equal bit for bit, on awkward shapes and at several thread counts, on
 * every target; where the kernel has per-instruction-set clones (x86-64 GCC, core/isa.h), every variant
 * against the one the loader picked. And the build itself: nothing but fmaf fuses a multiply-add. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vt_test.h"

#include "core/gemm.h"
#include "core/isa.h"
#include "core/ops.h"

#if VT_ISA_HAS_CLONES
/* tests/gemm_isa_*.c: ref/core/gemm.c with one micro-kernel variant each, instead of the run-time choice */
void vt_gemm_abt_avx2(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N, int64_t K);
void vt_gemm_abt_base(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N, int64_t K);
void vt_gemm_abt_mat_avx2(float *C, const float *A, vt_mat B, const float *bias, int64_t M, int64_t N, int64_t K);
void vt_gemm_abt_mat_base(float *C, const float *A, vt_mat B, const float *bias, int64_t M, int64_t N, int64_t K);
#endif

static float *rand_floats(int64_t n, unsigned seed)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    assert_non_null(p);
    unsigned s = seed * 2654435761u + 7;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 8) % 20001) / 10000.0f - 1.0f; /* [-1, 1] */
    }
    return p;
}

/* The definition gemm.h promises, written plainly: acc = 0, one fmaf chain in ascending k, then + bias.
 * The kernel cuts K into ceil(K / 1024) equal K-blocks and at each boundary stores the running float into
 * C and loads it back, which changes no bit, so the chain here runs straight through. */
static void naive_abt(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N, int64_t K)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float acc = 0;
            for (int64_t k = 0; k < K; k++) acc = fmaf(A[i * K + k], B[j * K + k], acc);
            C[i * N + j] = bias ? acc + bias[j] : acc;
        }
}

/* Bitwise equality of two float arrays; on failure names the first differing element. */
static void assert_same_bits(const float *got, const float *want, int64_t rows, int64_t cols, const char *what)
{
    for (int64_t i = 0; i < rows * cols; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
            fail_msg("%s: element [%lld, %lld] is %.9g, expected %.9g (bit for bit)", what, (long long)(i / cols),
                     (long long)(i % cols), got[i], want[i]);
}

/* 1 and 3 rows (a short register tile), 1, 7, 33 and 1176 columns (short and padded panels), and the same
 * four lengths summed over, and 2500 (1176 is two K-blocks of 588, 2500 three of 834); with and without
 * bias. Also checks the naive loop itself against double precision, so the two cannot be wrong together. */
static void test_kernels_gemm_awkward_shapes(void **state)
{
    (void)state;
    const int64_t rows[] = {1, 3, 8, 11}, cols[] = {1, 7, 33, 1176}, ks[] = {1, 7, 33, 1176, 2500};
    for (size_t a = 0; a < sizeof rows / sizeof *rows; a++)
        for (size_t b = 0; b < sizeof cols / sizeof *cols; b++)
            for (size_t c = 0; c < sizeof ks / sizeof *ks; c++) {
                const int64_t M = rows[a], N = cols[b], K = ks[c];
                float *A = rand_floats(M * K, 1), *B = rand_floats(N * K, 2), *bias = rand_floats(N, 3);
                float *got = malloc((size_t)(M * N) * sizeof(float)), *want = malloc((size_t)(M * N) * sizeof(float));
                assert_true(got && want);
                char what[96];
                for (int with_bias = 0; with_bias < 2; with_bias++) {
                    const float *bb = with_bias ? bias : NULL;
                    vt_gemm_abt(got, A, B, bb, M, N, K);
                    naive_abt(want, A, B, bb, M, N, K);
                    snprintf(what, sizeof what, "gemm %lldx%lldx%lld%s", (long long)M, (long long)N, (long long)K,
                             with_bias ? " +bias" : "");
                    assert_same_bits(got, want, M, N, what);
                }
                for (int64_t i = 0; i < M; i++) /* the naive loop is a sum: within K * 2^-23 of the exact one */
                    for (int64_t j = 0; j < N; j++) {
                        double exact = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            exact += (double)A[i * K + k] * B[j * K + k];
                            mag += fabs((double)A[i * K + k] * B[j * K + k]);
                        }
                        exact += bias[j];
                        double err = fabs(got[i * N + j] - exact), bound = (double)(K + 1) * 0x1p-23 * (mag + fabs(bias[j]));
                        if (err > bound)
                            fail_msg("gemm %lldx%lldx%lld: [%lld, %lld] = %.9g, exact %.9g (error %.3g > %.3g)", (long long)M,
                                     (long long)N, (long long)K, (long long)i, (long long)j, got[i * N + j], exact, err, bound);
                    }
                free(A), free(B), free(bias), free(got), free(want);
            }
}

/* The packed entry points with strides: C and A inside wider rows, B read transposed (sn = 1). */
static void test_kernels_gemm_packed_strided(void **state)
{
    (void)state;
    /* M = 1: a single query row (attention while decoding) goes through the one-row kernel; 5 a padded
     * tile; 8 a whole one; 9 a whole tile and a one-row remainder */
    enum { N = 37, K = 300, LDA = 311, LDC = 50 };
    const int64_t Ms[] = {1, 5, 8, 9};
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
        const int64_t M = Ms[mi];
        float *A = rand_floats(M * LDA, 4), *Bt = rand_floats(K * N, 5); /* Bt [K, N]: B(n, k) = Bt[k*N + n] */
        float *Bp = malloc(VT_GEMM_PACKED(N, K) * sizeof(float)), *C = calloc((size_t)(M * LDC), sizeof(float));
        assert_true(Bp && C);
        vt_gemm_pack(Bp, Bt, 1, N, N, K);
        vt_gemm_packed(C, LDC, A, LDA, Bp, NULL, M, N, K);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < LDC; j++) {
                float want = 0;
                if (j < N)
                    for (int64_t k = 0; k < K; k++) want = fmaf(A[i * LDA + k], Bt[k * N + j], want);
                if (memcmp(&C[i * LDC + j], &want, sizeof want) != 0) /* columns past N untouched (still 0) */
                    fail_msg("packed gemm, %lld rows: C[%lld, %lld] = %.9g, expected %.9g", (long long)M, (long long)i,
                             (long long)j, C[i * LDC + j], want);
            }
        free(A), free(Bt), free(Bp), free(C);
    }
}

/* Where the clones exist, every variant gives the same bits: the baseline (fmaf from libm, the 8 x 32
 * sweep) always, AVX2 + FMA (4 x 16 sub-tiles) when this CPU has it, against the clone the loader picked
 * here. A variant that reordered the sums, or fell back to a slow path that rounds differently, would
 * differ in the last bits. On every target, the kernel this build runs against the plain fmaf loop. */
static void test_kernels_gemm_every_isa(void **state)
{
    (void)state;
#if VT_ISA_HAS_CLONES
    __builtin_cpu_init();
    const int v3 = __builtin_cpu_supports("x86-64-v3") != 0;
    printf("gemm: the loader picked the %s clone; comparing with the baseline%s\n",
           __builtin_cpu_supports("x86-64-v4") ? "x86-64-v4" : v3 ? "x86-64-v3" : "default",
           v3 ? " and x86-64-v3 (4 x 16) variants" : " variant");
#else
    printf("gemm: no instruction-set clones in this build (core/isa.h: x86-64 GCC only); the one plain "
           "kernel against the fmaf loop\n");
#endif
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 33, 7}, {11, 70, 1176}, {17, 1176, 40}, {9, 40, 2500}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = rand_floats(M * K, 11), *B = rand_floats(N * K, 12), *bias = rand_floats(N, 13);
        float *c0 = malloc((size_t)(M * N) * sizeof(float)), *c1 = malloc((size_t)(M * N) * sizeof(float));
        assert_true(c0 && c1);
        char what[96];
        vt_gemm_abt(c0, A, B, bias, M, N, K);
        naive_abt(c1, A, B, bias, M, N, K);
        snprintf(what, sizeof what, "kernel vs fmaf loop %lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
        assert_same_bits(c0, c1, M, N, what);
#if VT_ISA_HAS_CLONES
        vt_gemm_abt_base(c1, A, B, bias, M, N, K);
        snprintf(what, sizeof what, "baseline variant %lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
        assert_same_bits(c1, c0, M, N, what);
        if (v3) {
            vt_gemm_abt_avx2(c1, A, B, bias, M, N, K);
            snprintf(what, sizeof what, "x86-64-v3 variant %lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
            assert_same_bits(c1, c0, M, N, what);
        }
#endif
        free(A), free(B), free(bias), free(c0), free(c1);
    }
}

/* BF16 weights in the kernel's panel order (gemm.h), widened inside the kernel, give the bits of the same
 * values in float32 row-major, through the row split (many rows) and the column split with the one-row
 * kernel (few rows: decoding), at 1 and 2 threads and in every instruction-set variant; and the naive
 * chain. The weights are rounded to bf16 first, so both storages hold the same values. */
static void test_kernels_gemm_bf16_panels(void **state)
{
    (void)state;
#if VT_ISA_HAS_CLONES
    __builtin_cpu_init();
    const int v3 = __builtin_cpu_supports("x86-64-v3") != 0;
#endif
    const int64_t shapes[][3] = {{1, 1, 1}, {1, 70, 1176}, {3, 33, 2500}, {15, 96, 40}, {17, 100, 1176}, {45, 64, 7}};
    const int saved = omp_get_max_threads();
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = rand_floats(M * K, 21), *B = rand_floats(N * K, 22), *bias = rand_floats(N, 23);
        uint16_t *P = calloc((size_t)VT_GEMM_PANELS_BF16(N, K), sizeof *P);
        float *want = malloc((size_t)(M * N) * sizeof(float)), *got = malloc((size_t)(M * N) * sizeof(float));
        assert_true(P && want && got);
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                uint32_t u;
                memcpy(&u, &B[n * K + k], 4);
                u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u; /* round to nearest even bf16 */
                memcpy(&B[n * K + k], &u, 4);
                P[(n / VT_GEMM_NR) * K * VT_GEMM_NR + k * VT_GEMM_NR + n % VT_GEMM_NR] = (uint16_t)(u >> 16);
            }
        naive_abt(want, A, B, bias, M, N, K);
        vt_mat Pm = {NULL, P}, Fm = {B, NULL};
        char what[96];
        for (int t = 1; t <= 2; t++) {
            omp_set_num_threads(t);
            vt_gemm_abt_mat(got, A, Pm, bias, M, N, K);
            snprintf(what, sizeof what, "bf16 panels %lldx%lldx%lld, %d thread(s)", (long long)M, (long long)N, (long long)K, t);
            assert_same_bits(got, want, M, N, what);
            vt_gemm_abt_mat(got, A, Fm, bias, M, N, K);
            snprintf(what, sizeof what, "f32 %lldx%lldx%lld, %d thread(s)", (long long)M, (long long)N, (long long)K, t);
            assert_same_bits(got, want, M, N, what);
        }
        omp_set_num_threads(saved);
#if VT_ISA_HAS_CLONES
        vt_gemm_abt_mat_base(got, A, Pm, bias, M, N, K);
        assert_same_bits(got, want, M, N, "bf16 panels, baseline variant");
        if (v3) {
            vt_gemm_abt_mat_avx2(got, A, Pm, bias, M, N, K);
            assert_same_bits(got, want, M, N, "bf16 panels, x86-64-v3 variant");
        }
#endif
        vt_mat one = {NULL, P};
        for (int64_t n = 0; n < N; n += 7) /* vt_mat_at reads the panel order back */
            assert_true(vt_mat_at(one, K, n, K - 1) == B[n * K + K - 1]);
        free(A), free(B), free(bias), free(P), free(want), free(got);
    }
}

/* The build contracts nothing: a * b + c is a rounded product, then a rounded sum, as GCC and clang both
 * give with -ffp-contract=off (the Makefile's). With a = b = 1 + 2^-12 the product 1 + 2^-11 + 2^-24 rounds
 * to 1 + 2^-11, so adding c = -(1 + 2^-11) gives 0; a fused multiply-add keeps the 2^-24. Clang contracts
 * by default (-ffp-contract=on), GCC outside ISO C mode too (=fast); either would fail here on a CPU with
 * FMA instructions (arm64, Apple Silicon; x86-64 with -march). fmaf itself must give the fused 2^-24. */
static void test_kernels_no_fp_contraction(void **state)
{
    (void)state;
    volatile float va = 1.0f + 0x1p-12f, vc = -(1.0f + 0x1p-11f); /* volatile: computed at run time */
    const float a = va, b = va, c = vc;
    const float one_expr = a * b + c;
    const float p = a * b;
    const float two_stmts = p + c;
    if (one_expr != 0.0f) fail_msg("a * b + c gave %a, not 0: this build fuses it (-ffp-contract=off missing?)", one_expr);
    if (two_stmts != 0.0f) fail_msg("p = a * b; p + c gave %a, not 0: this build fuses it across statements", two_stmts);
    const float fused = fmaf(a, b, c);
    if (fused != 0x1p-24f) fail_msg("fmaf(a, b, c) gave %a, not 0x1p-24: fmaf does not round once", fused);
}

/* Results identical for 1, 2 and 3 threads, and equal to the plain chain. 45 x 70 has 3 panels of 32
 * columns: the threads split rows. 40 x 300 has 10 panels, enough for 2 threads to take 5 each (output
 * columns, so each packs only its own), while 3 threads split rows again: each way, each element is one
 * thread's whole chain. */
static void test_kernels_gemm_thread_invariance(void **state)
{
    (void)state;
    const int64_t shapes[][3] = {{45, 70, 300}, {40, 300, 333}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = rand_floats(M * K, 6), *B = rand_floats(N * K, 7), *bias = rand_floats(N, 8);
        float *c1 = malloc((size_t)(M * N) * sizeof(float)), *c2 = malloc((size_t)(M * N) * sizeof(float));
        assert_true(c1 && c2);
        char what[96];
        const int saved = omp_get_max_threads();
        naive_abt(c1, A, B, bias, M, N, K);
        for (int t = 1; t <= 3; t++) {
            omp_set_num_threads(t);
            memset(c2, 0xff, (size_t)(M * N) * sizeof(float)); /* NaN: an element left unwritten shows */
            vt_linear(c2, A, B, bias, M, K, N);
            snprintf(what, sizeof what, "vt_linear %lldx%lldx%lld, %d thread(s) vs the plain chain", (long long)M,
                     (long long)N, (long long)K, t);
            assert_same_bits(c2, c1, M, N, what);
        }
        omp_set_num_threads(saved);
        free(A), free(B), free(bias), free(c1), free(c2);
    }
}

/* The tiled segment path equals the naive loops with an explicit -inf mask bit for bit, with segments
 * longer than a query tile (64) and a head_dim that is not a multiple of the 32-column panel; at 1 and 2
 * threads. */
static void test_kernels_attention_segments_vs_literal(void **state)
{
    (void)state;
    enum { L = 210, H = 3, D = 40 };
    const int32_t cu[5] = {0, 1, 70, 75, 210};
    float *qkv = rand_floats(L * 3 * H * D, 9);
    float *mask = malloc((size_t)L * L * sizeof(float)), *lit = malloc(L * H * D * sizeof(float));
    float *seg = malloc(L * H * D * sizeof(float));
    assert_true(mask && lit && seg);
    for (int g = 0; g < 4; g++)
        for (int i = cu[g]; i < cu[g + 1]; i++)
            for (int j = 0; j < L; j++) mask[i * L + j] = (j >= cu[g] && j < cu[g + 1]) ? 0.0f : -INFINITY;
    /* q, k, v inside one fused [L, 3*H*D] buffer, as the towers read them */
    vt_heads q = {qkv, 3 * H * D, D}, k = {qkv + H * D, 3 * H * D, D}, v = {qkv + 2 * H * D, 3 * H * D, D};
    const float scale = 1.0f / sqrtf((float)D);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(vt_attention_masked(lit, q, k, v, L, L, H, D, mask, scale), 0);
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        memset(seg, 0xff, L * H * D * sizeof(float));
        assert_int_equal(vt_attention_segments(seg, q, k, v, L, H, D, cu, 4, scale), 0);
        assert_same_bits(seg, lit, L, H * D, t == 1 ? "segments vs literal, 1 thread" : "segments vs literal, 2 threads");
    }
    omp_set_num_threads(saved);
    free(qkv), free(mask), free(lit), free(seg);
}

/* Unmasked cross-attention (Qwen-VL's resampler: 7 queries, 100 keys) through the tiled path equals the
 * naive loops with no mask. */
static void test_kernels_attention_cross_vs_literal(void **state)
{
    (void)state;
    enum { Q = 7, L = 100, H = 2, D = 33 };
    float *qd = rand_floats(Q * H * D, 10), *kd = rand_floats(L * H * D, 11), *vd = rand_floats(L * H * D, 12);
    float *lit = malloc(Q * H * D * sizeof(float)), *blk = malloc(Q * H * D * sizeof(float));
    assert_true(lit && blk);
    vt_heads q = {qd, H * D, D}, k = {kd, H * D, D}, v = {vd, H * D, D};
    assert_int_equal(vt_attention_masked(lit, q, k, v, Q, L, H, D, NULL, 0.3f), 0);
    const int32_t qcu[2] = {0, Q}, kcu[2] = {0, L};
    assert_int_equal(vt_attention_blocks(blk, q, k, v, H, D, qcu, kcu, 1, 0.3f), 0);
    assert_same_bits(blk, lit, Q, H * D, "cross-attention, tiles vs naive");
    free(qd), free(kd), free(vd), free(lit), free(blk);
}

/* The softmax's exp: within 2 ulp of exp (in double, rounded) over [-87, 0], exactly 1 at 0, 0 below -87
 * and at -inf, NaN for NaN. */
static void test_kernels_exp_softmax(void **state)
{
    (void)state;
    assert_true(vt_exp_softmax(0.0f) == 1.0f && vt_exp_softmax(-0.0f) == 1.0f);
    assert_true(vt_exp_softmax(-INFINITY) == 0.0f && vt_exp_softmax(-88.0f) == 0.0f && vt_exp_softmax(-1e30f) == 0.0f);
    assert_true(isnan(vt_exp_softmax(NAN)));
    double worst = 0;
    float worst_x = 0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -87.0f * (float)i / 2000000.0f;
        const float want = (float)exp((double)x), got = vt_exp_softmax(x);
        const double ulp = nextafterf(want, INFINITY) - want;
        const double err = fabs((double)got - (double)want) / ulp;
        if (err > worst) worst = err, worst_x = x;
    }
    printf("exp_softmax: worst %.3g ulp at %.9g\n", worst, worst_x);
    if (worst > 2.0) fail_msg("exp_softmax(%.9g) is %.3g ulp from exp (at most 2 allowed)", worst_x, worst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_gemm_awkward_shapes),
        cmocka_unit_test(test_kernels_gemm_packed_strided),
        cmocka_unit_test(test_kernels_gemm_every_isa),
        cmocka_unit_test(test_kernels_no_fp_contraction),
        cmocka_unit_test(test_kernels_gemm_thread_invariance),
        cmocka_unit_test(test_kernels_gemm_bf16_panels),
        cmocka_unit_test(test_kernels_attention_segments_vs_literal),
        cmocka_unit_test(test_kernels_attention_cross_vs_literal),
        cmocka_unit_test(test_kernels_exp_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
