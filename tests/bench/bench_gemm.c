/*
 * bench_gemm.c -- every Linear shape of a full-size tower through vt_gemm_abt and through OpenBLAS's
 * cblas_sgemm at the same thread count (bin/bench_gemm; OpenBLAS is linked into this program only).
 *
 *     bin/bench_gemm --tower qwen2-vl-2b --threads 2 [--reps 3]
 *     bin/bench_gemm --tower qwen2-vl-2b-lm --threads 2     the language model's prefill shapes, BF16 weights
 *     bin/bench_gemm --copy-bandwidth --threads 2           memcpy bandwidth (the decode floor's denominator)
 *
 * Prints per shape: M x N x K, our seconds and GFLOP/s, OpenBLAS's, our rate as a fraction of theirs, and
 * the largest relative difference between the two results (a sanity check: the sums are ordered
 * differently, so a few 1e-6 is expected). Exit 0 when every fraction is >= --target (default 0.5), 1
 * otherwise, 2 on bad flags.
 *
 * Shapes: a 448 x 448 image is 32 x 32 patches of 14 px, so 1024 tokens in the blocks and 256 after the
 * 2 x 2 merge (docs/performance.md). Widths from notebooks-data/presets/<tower>/config.json. The language
 * model's prefill: 286 rows (that image's 256 tokens, 30 of text), hidden 1536, 12 heads and 2 key/value
 * heads of 128, intermediate 8960; its weights are BF16 as the checkpoints store them, so ours goes
 * through vt_gemm_abt_mat with BF16 weights (widened while packing) against OpenBLAS on the same values
 * in float32.
 */
#include "core/gemm.h"
#include "core/ops.h" /* before cblas.h: OpenBLAS's header pulls in <complex.h>, whose macro I would break ops.h */

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>

void openblas_set_num_threads(int n); /* OpenBLAS's own thread count (its pthread build ignores OpenMP's) */
char *openblas_get_corename(void);    /* the kernels it chose (OPENBLAS_CORETYPE overrides its detection) */

typedef struct shape {
    const char *name;
    int64_t M, N, K; /* C [M, N] = A [M, K] @ B [N, K]^T */
} shape;

/* Qwen2-VL-2B: embed_dim 1280, mlp_ratio 4 (5120), merger hidden 4*1280 = 5120 -> hidden_size 1536. */
static const shape qwen2vl_2b[] = {
    {"patch_embed", 1024, 1280, 1176}, {"attn.qkv", 1024, 3840, 1280}, {"attn.proj", 1024, 1280, 1280},
    {"mlp.fc1", 1024, 5120, 1280},     {"mlp.fc2", 1024, 1280, 5120},  {"merger.mlp.0", 256, 5120, 5120},
    {"merger.mlp.2", 256, 1536, 5120},
};
/* Qwen2.5-VL-7B: hidden 1280, intermediate 3420 (SwiGLU gate/up/down), out_hidden_size 3584. */
static const shape qwen25vl_7b[] = {
    {"patch_embed", 1024, 1280, 1176}, {"attn.qkv", 1024, 3840, 1280}, {"attn.proj", 1024, 1280, 1280},
    {"mlp.gate_proj", 1024, 3420, 1280}, {"mlp.up_proj", 1024, 3420, 1280}, {"mlp.down_proj", 1024, 1280, 3420},
    {"merger.mlp.0", 256, 5120, 5120}, {"merger.mlp.2", 256, 3584, 5120},
};

/* Qwen3-VL-2B on 448 x 448 (28 x 28 = 784 patches of 16 x 16): hidden 1024, intermediate 4096, patch rows of
 * 1536 values; the final merger and each of the 3 DeepStack mergers 4096 -> 4096 -> out_hidden_size 2048. */
static const shape qwen3vl_2b[] = {
    {"patch_embed", 784, 1024, 1536},    {"attn.qkv", 784, 3072, 1024},      {"attn.proj", 784, 1024, 1024},
    {"mlp.linear_fc1", 784, 4096, 1024}, {"mlp.linear_fc2", 784, 1024, 4096}, {"merger.linear_fc1", 196, 4096, 4096},
    {"merger.linear_fc2", 196, 2048, 4096},
};

/* Qwen2-VL-2B's language model on the prompt (L = 286 rows): q/k/v/o, SwiGLU gate/up/down. */
static const shape qwen2vl_2b_lm[] = {
    {"q_proj", 286, 1536, 1536}, {"k_proj", 286, 256, 1536},     {"v_proj", 286, 256, 1536},
    {"o_proj", 286, 1536, 1536}, {"mlp.gate_proj", 286, 8960, 1536}, {"mlp.up_proj", 286, 8960, 1536},
    {"mlp.down_proj", 286, 1536, 8960},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_floats(int64_t n, uint32_t seed)
{
    float *p = malloc((size_t)n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(3);
    }
    uint32_t x = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = ((float)(x >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    return p;
}

/* A pause before each library's timed runs. After a call, OpenBLAS's worker threads spin for a while
 * (its thread timeout, about 0.1 s) and libgomp's for a shorter one, waiting for more work: timed right
 * after the other library, a 2-thread product shares its cores with those spinning threads. The first
 * table of a run read 0.32-0.45 on patch_embed (the first shape) and 0.7 a second later. */
static void settle(void)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* float -> bf16, round to nearest even (finite values only here). */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Bytes copied per second by memcpy of a 1 GiB buffer split across the threads (best of reps), in
 * STREAM's convention: each byte counted once read and once written. */
static int copy_bandwidth(int threads, int reps)
{
    const size_t n = (size_t)1 << 30;
    char *a = aligned_alloc((size_t)2 << 20, n), *b = aligned_alloc((size_t)2 << 20, n);
    if (!a || !b) return 3;
#ifdef MADV_HUGEPAGE /* as the loader offers the weight buffer (io/safetensors_bind.c): the same pages */
    (void)madvise(a, n, MADV_HUGEPAGE), (void)madvise(b, n, MADV_HUGEPAGE);
#endif
    memset(a, 1, n), memset(b, 2, n);
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
#pragma omp parallel num_threads(threads)
        {
            const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
            memcpy(b + n / nt * t, a + n / nt * t, n / nt);
        }
        double t1 = now();
        if (r) best = fmin(best, t1 - t0);
    }
    printf("copy bandwidth, %d thread(s), memcpy of 1 GiB, best of %d: %.2f GB/s (read + written, as STREAM "
           "counts; %.2f GB/s of reading)\n", threads, reps, 2.0 * (double)n / best * 1e-9, (double)n / best * 1e-9);
    free(a), free(b);
    return 0;
}

int main(int argc, char **argv)
{
    const char *tower = "qwen2-vl-2b";
    int threads = 1, reps = 3;
    double target = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tower") && i + 1 < argc) tower = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--target") && i + 1 < argc) target = atof(argv[++i]);
        else if (!strcmp(argv[i], "--copy-bandwidth")) tower = NULL;
        else {
            fprintf(stderr, "usage: bench_gemm [--tower qwen2-vl-2b|qwen2.5-vl-7b|qwen3-vl-2b|qwen2-vl-2b-lm] "
                            "[--threads N] [--reps R] [--target F] | --copy-bandwidth [--threads N]\n");
            return 2;
        }
    }
    if (threads >= 1 && reps >= 1 && !tower) return copy_bandwidth(threads, reps);
    const shape *sh;
    int ns;
    const int lm = tower && !strcmp(tower, "qwen2-vl-2b-lm");
    if (lm) sh = qwen2vl_2b_lm, ns = (int)(sizeof qwen2vl_2b_lm / sizeof *sh);
    else if (!tower) sh = NULL, ns = 0;
    else if (!strcmp(tower, "qwen2-vl-2b")) sh = qwen2vl_2b, ns = (int)(sizeof qwen2vl_2b / sizeof *sh);
    else if (!strcmp(tower, "qwen2.5-vl-7b")) sh = qwen25vl_7b, ns = (int)(sizeof qwen25vl_7b / sizeof *sh);
    else if (!strcmp(tower, "qwen3-vl-2b")) sh = qwen3vl_2b, ns = (int)(sizeof qwen3vl_2b / sizeof *sh);
    else {
        fprintf(stderr, "bench_gemm: --tower %s: expected qwen2-vl-2b, qwen2.5-vl-7b or qwen3-vl-2b\n", tower);
        return 2;
    }
    if (!sh || threads < 1 || reps < 1) {
        fprintf(stderr, "bench_gemm: --threads and --reps must be >= 1\n");
        return 2;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    printf("GEMM, %s shapes, %d thread(s), best of %d: C = A @ B^T, %s vs OpenBLAS cblas_sgemm (%s kernels)\n",
           tower, threads, reps, lm ? "vt_gemm_abt_mat (BF16 weights)" : "vt_gemm_abt", openblas_get_corename());
    printf("  %-14s %5s %5s %5s   %8s %7s   %8s %7s   %6s  %9s\n", "shape", "M", "N", "K", "ours s", "GFLOP/s",
           "blas s", "GFLOP/s", "ratio", "max rel");
    int ok = 1;
    double worst = 1e9;
    for (int s = 0; s < ns; s++) {
        const int64_t M = sh[s].M, N = sh[s].N, K = sh[s].K;
        float *A = random_floats(M * K, 1 + s), *B = random_floats(N * K, 100 + s), *bias = random_floats(N, 200 + s);
        float *C1 = malloc((size_t)(M * N) * sizeof(float)), *C2 = malloc((size_t)(M * N) * sizeof(float));
        uint16_t *B16 = lm ? calloc((size_t)VT_GEMM_PANELS_BF16(N, K), sizeof(uint16_t)) : NULL;
        if (!C1 || !C2 || (lm && !B16)) return 3;
        if (lm) /* the weights as the loader holds them (BF16 in panel order, gemm.h); OpenBLAS gets the same
                 * values in float32, row-major */
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < K; k++) {
                    const uint16_t h = to_bf16(B[n * K + k]);
                    B16[(n / VT_GEMM_NR) * K * VT_GEMM_NR + k * VT_GEMM_NR + n % VT_GEMM_NR] = h;
                    const uint32_t u = (uint32_t)h << 16;
                    memcpy(&B[n * K + k], &u, 4);
                }
        const vt_mat Bm = {lm ? NULL : B, B16};
        double t_ours = 1e30, t_blas = 1e30;
        settle();
        for (int r = 0; r <= reps; r++) { /* round 0 warms up */
            double t0 = now();
            vt_gemm_abt_mat(C1, A, Bm, bias, M, N, K);
            double t1 = now();
            if (r) t_ours = fmin(t_ours, t1 - t0);
        }
        settle();
        for (int r = 0; r <= reps; r++) {
            double t0 = now();
            for (int64_t i = 0; i < M; i++) memcpy(C2 + i * N, bias, (size_t)N * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B, (int)K,
                        1.0f, C2, (int)N);
            double t1 = now();
            if (r) t_blas = fmin(t_blas, t1 - t0);
        }
        double maxrel = 0;
        for (int64_t i = 0; i < M * N; i++) {
            double d = fabs((double)C1[i] - C2[i]) / fmax(1e-3, fabs((double)C2[i]));
            if (d > maxrel || d != d) maxrel = d;
        }
        const double flop = 2.0 * (double)M * (double)N * (double)K;
        const double ratio = t_blas / t_ours;
        if (ratio < worst) worst = ratio;
        if (ratio < target) ok = 0;
        printf("  %-14s %5lld %5lld %5lld   %8.4f %7.1f   %8.4f %7.1f   %6.2f  %9.2e%s\n", sh[s].name, (long long)M,
               (long long)N, (long long)K, t_ours, flop / t_ours * 1e-9, t_blas, flop / t_blas * 1e-9, ratio, maxrel,
               ratio < target ? "  < target" : "");
        fflush(stdout);
        free(A), free(B), free(bias), free(C1), free(C2), free(B16);
    }
    printf("  lowest ratio %.2f (target >= %.2f): %s\n", worst, target, ok ? "met" : "MISSED");

    if (lm) return ok ? 0 : 1;
    /* one block's attention core on 1024 tokens, 16 heads of 80: one segment (full attention), then
     * Qwen2.5-VL's windows (16 of 64 tokens); FLOPs counted as the two products, 4 * S^2 * D per head */
    {
        enum { L = 1024, H = 16, D = 80 };
        float *qkv = random_floats((int64_t)L * 3 * H * D, 7), *out = malloc((size_t)L * H * D * sizeof(float));
        if (!out) return 3;
        vt_heads q = {qkv, 3 * H * D, D}, k = {qkv + H * D, 3 * H * D, D}, v = {qkv + 2 * H * D, 3 * H * D, D};
        int32_t full[2] = {0, L}, win[L / 64 + 1];
        for (int g = 0; g <= L / 64; g++) win[g] = 64 * g;
        for (int pass = 0; pass < 2; pass++) {
            const int32_t *cu = pass ? win : full;
            const int nseg = pass ? L / 64 : 1;
            double t_best = 1e30;
            for (int r = 0; r <= reps; r++) {
                double t0 = now();
                if (vt_attention_segments(out, q, k, v, L, H, D, cu, nseg, 0.1118f)) return 3;
                double t1 = now();
                if (r) t_best = fmin(t_best, t1 - t0);
            }
            const double S = (double)L / nseg, flop = 4.0 * S * S * D * H * nseg;
            printf("  attention core, %-22s %8.4f s  %7.1f GFLOP/s\n", pass ? "64-token windows:" : "one 1024 segment:",
                   t_best, flop / t_best * 1e-9);
        }
        free(qkv), free(out);
    }
    return ok ? 0 : 1;
}
