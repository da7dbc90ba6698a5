/*
 * same_bits.c -- the numbers that must not depend on the compiler or the CPU, written to one file, so that
 * two builds of this program (gcc and clang; x86-64 and arm64) can be compared bit for bit.
 *
 *     same_bits --write FILE       every section below, computed by this build, into FILE
 *     same_bits --compare A B      two such files: each section identical, or its first differing element
 *
 * tests/same_bits.sh runs it (`make test`: gcc against clang; `make test-arm64`: x86-64 gcc against arm64
 * gcc under qemu). Inputs are made here from a fixed seed, so no file is read.
 *
 * The sections: the matrix-product kernel (ref/core/gemm.c) on awkward shapes with and without bias, its
 * packed entry point with strides; the softmax (every phase, masked keys, a fully masked row) and its exp
 * over [-100, 0]; the tiled attention; PIL's bicubic and bilinear resamplers (uint8, 1 to 4 channels, up
 * and down) and torch's bicubic (float); and the norms and activations of ref/core/ops.c. The kernels use
 * only +, *, fmaf and sqrt, which IEEE 754 defines to the bit, so every build must agree. The activations
 * call libm's erff, tanhf and expf, which are not required to round correctly: two builds on the same
 * C library agree, another C library (or another CPU's) may differ in a last bit, which a comparison
 * reports as a difference too (docs/performance.md, "Why the results never change").
 *
 * File format: records of a 64-byte NUL-padded name, a 1-byte kind ('f' float32, 'u' uint8), 7 zero bytes,
 * a little-endian uint64 count, then count values in this CPU's byte order (both targets are little-endian).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/ops.h"
#include "io/resize.h"

/* ---- inputs: a fixed LCG ---- */

static uint32_t rng_state;
static void rng_seed(uint32_t seed) { rng_state = seed * 2654435761u + 7u; }
static uint32_t rng_next(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8; /* 24 bits */
}
/* [-1, 1] in steps of 1e-4, times 2^e with e in [-3, 3]: products and sums that round in every way */
static float rng_float(void)
{
    const float v = (float)(rng_next() % 20001) / 10000.0f - 1.0f;
    return ldexpf(v, (int)(rng_next() % 7) - 3);
}
static float *floats(int64_t n, uint32_t seed)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) exit(3);
    rng_seed(seed);
    for (int64_t i = 0; i < n; i++) p[i] = rng_float();
    return p;
}
static uint8_t *bytes(int64_t n, uint32_t seed)
{
    uint8_t *p = malloc((size_t)(n > 0 ? n : 1));
    if (!p) exit(3);
    rng_seed(seed);
    for (int64_t i = 0; i < n; i++) p[i] = (uint8_t)(rng_next() >> 4);
    return p;
}

/* ---- the file ---- */

enum { NAME_LEN = 64 };
static FILE *out;
static int sections;

static void record(const char *name, char kind, const void *data, uint64_t count)
{
    unsigned char head[NAME_LEN + 16] = {0};
    snprintf((char *)head, NAME_LEN, "%s", name);
    head[NAME_LEN] = (unsigned char)kind;
    for (int b = 0; b < 8; b++) head[NAME_LEN + 8 + b] = (unsigned char)(count >> (8 * b));
    const size_t size = kind == 'f' ? sizeof(float) : 1;
    if (fwrite(head, 1, sizeof head, out) != sizeof head || fwrite(data, size, count, out) != count) {
        fprintf(stderr, "same_bits: cannot write\n");
        exit(3);
    }
    sections++;
}

/* ---- the sections ---- */

static void gemm_sections(void)
{
    const int64_t shapes[][3] = {{1, 1, 1},   {3, 7, 33},     {8, 33, 7},    {11, 70, 1176},
                                 {17, 1176, 40}, {9, 40, 2500}, {64, 96, 300}, {5, 32, 1024}};
    char name[NAME_LEN];
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = floats(M * K, 100 + (uint32_t)s), *B = floats(N * K, 200 + (uint32_t)s), *bias = floats(N, 300);
        float *C = malloc((size_t)(M * N) * sizeof(float));
        if (!C) exit(3);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            vt_gemm_abt(C, A, B, with_bias ? bias : NULL, M, N, K);
            snprintf(name, sizeof name, "gemm %lldx%lldx%lld%s", (long long)M, (long long)N, (long long)K,
                     with_bias ? " +bias" : "");
            record(name, 'f', C, (uint64_t)(M * N));
        }
        free(A), free(B), free(bias), free(C);
    }
    /* the packed entry point: A and C inside wider rows, B read transposed */
    enum { M = 5, N = 37, K = 300, LDA = 311, LDC = 50 };
    float *A = floats(M * LDA, 400), *Bt = floats(K * N, 401);
    float *Bp = malloc(VT_GEMM_PACKED(N, K) * sizeof(float)), *C = calloc(M * LDC, sizeof(float));
    if (!Bp || !C) exit(3);
    vt_gemm_pack(Bp, Bt, 1, N, N, K);
    vt_gemm_packed(C, LDC, A, LDA, Bp, NULL, M, N, K);
    record("gemm packed 5x37x300 strided", 'f', C, M * LDC);
    free(A), free(Bt), free(Bp), free(C);
}

static void softmax_sections(void)
{
    const int64_t lens[] = {1, 7, 16, 33, 100, 1024, 1176};
    char name[NAME_LEN];
    for (size_t l = 0; l < sizeof lens / sizeof *lens; l++)
        for (int64_t phase = 0; phase < 10; phase += 3) {
            const int64_t n = lens[l];
            float *x = floats(n, 500 + (uint32_t)l);
            for (int64_t i = 0; i < n; i++) {
                x[i] *= 8.0f;
                if (n > 1 && i % 5 == 3) x[i] = -INFINITY; /* masked keys */
            }
            vt_softmax_row_at(x, n, phase);
            snprintf(name, sizeof name, "softmax n %lld phase %lld", (long long)n, (long long)phase);
            record(name, 'f', x, (uint64_t)n);
            free(x);
        }
    float masked[5] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    vt_softmax_row(masked, 5);
    record("softmax fully masked", 'f', masked, 5);
    enum { NE = 200001 };
    float *e = malloc(NE * sizeof(float));
    if (!e) exit(3);
    for (int i = 0; i < NE; i++) e[i] = vt_exp_softmax(-100.0f * (float)i / (float)(NE - 1));
    record("exp_softmax on [-100, 0]", 'f', e, NE);
    free(e);
}

static void attention_sections(void)
{
    enum { L = 210, H = 3, D = 40 };
    const int32_t cu[5] = {0, 1, 70, 75, 210};
    float *qkv = floats(L * 3 * H * D, 600), *o = malloc(L * H * D * sizeof(float));
    if (!o) exit(3);
    vt_heads q = {qkv, 3 * H * D, D}, k = {qkv + H * D, 3 * H * D, D}, v = {qkv + 2 * H * D, 3 * H * D, D};
    if (vt_attention_segments(o, q, k, v, L, H, D, cu, 4, 1.0f / sqrtf((float)D))) exit(3);
    record("attention segments 210x3x40", 'f', o, L * H * D);
    free(qkv), free(o);
}

static void resize_sections(void)
{
    const int sizes[][4] = {{37, 23, 64, 48}, {37, 23, 14, 10}, {37, 23, 37, 23}, {37, 23, 100, 7},
                            {300, 240, 280, 224}, {150, 97, 112, 112}, {5, 3, 1, 1}};
    char name[NAME_LEN];
    vt_status st = {0};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int ch = 1; ch <= 4; ch++) {
            const int sw = sizes[s][0], sh = sizes[s][1], dw = sizes[s][2], dh = sizes[s][3];
            uint8_t *src = bytes((int64_t)sw * sh * ch, 700 + (uint32_t)s), *dst = malloc((size_t)dw * dh * ch);
            if (!dst) exit(3);
            if (vt_resize_pil_bicubic(dst, dw, dh, src, sw, sh, ch, &st)) exit(3);
            snprintf(name, sizeof name, "PIL bicubic %dx%dx%d -> %dx%d", sw, sh, ch, dw, dh);
            record(name, 'u', dst, (uint64_t)dw * dh * ch);
            if (vt_resize_pil_bilinear(dst, dw, dh, src, sw, sh, ch, &st)) exit(3);
            snprintf(name, sizeof name, "PIL bilinear %dx%dx%d -> %dx%d", sw, sh, ch, dw, dh);
            record(name, 'u', dst, (uint64_t)dw * dh * ch);
            free(src), free(dst);
        }
    const int tsizes[][5] = {{3, 7, 9, 14, 18}, {2, 16, 16, 3, 4}, {1, 5, 5, 32, 5}, {4, 24, 24, 17, 13}, {3, 8, 8, 8, 8}};
    for (size_t s = 0; s < sizeof tsizes / sizeof *tsizes; s++) {
        const int C = tsizes[s][0], sh = tsizes[s][1], sw = tsizes[s][2], dh = tsizes[s][3], dw = tsizes[s][4];
        float *src = floats((int64_t)C * sh * sw, 800 + (uint32_t)s), *dst = malloc((size_t)C * dh * dw * sizeof(float));
        if (!dst) exit(3);
        if (vt_resize_torch_bicubic(dst, dh, dw, src, C, sh, sw, &st)) exit(3);
        snprintf(name, sizeof name, "torch bicubic %dx%dx%d -> %dx%d", C, sh, sw, dh, dw);
        record(name, 'f', dst, (uint64_t)C * dh * dw);
        free(src), free(dst);
    }
}

static void ops_sections(void)
{
    enum { N = 9, C = 80, E = 4096 };
    float *x = floats(N * C, 900), *w = floats(C, 901), *b = floats(C, 902), *y = malloc(N * C * sizeof(float));
    float *a = floats(E, 903), *z = malloc(E * sizeof(float));
    if (!y || !z) exit(3);
    vt_layernorm(y, x, w, b, N, C, 1e-6f);
    record("layernorm 9x80", 'f', y, N * C);
    vt_rmsnorm(y, x, w, N, C, 1e-6f);
    record("rmsnorm 9x80", 'f', y, N * C);
    for (int i = 0; i < E; i++) a[i] *= 4.0f;
    vt_gelu_erf(z, a, E);
    record("gelu (erff, libm)", 'f', z, E);
    vt_gelu_tanh(z, a, E);
    record("gelu tanh (tanhf, libm)", 'f', z, E);
    vt_quick_gelu(z, a, E);
    record("quick_gelu (expf, libm)", 'f', z, E);
    vt_silu(z, a, E);
    record("silu (expf, libm)", 'f', z, E);
    free(x), free(w), free(b), free(y), free(a), free(z);
}

/* ---- compare ---- */

typedef struct {
    char name[NAME_LEN + 1];
    char kind;
    uint64_t count;
    unsigned char *data;
} section;

static int read_section(FILE *f, section *s)
{
    unsigned char head[NAME_LEN + 16];
    size_t got = fread(head, 1, sizeof head, f);
    if (got == 0) return 0;
    if (got != sizeof head) return -1;
    memcpy(s->name, head, NAME_LEN);
    s->name[NAME_LEN] = 0;
    s->kind = (char)head[NAME_LEN];
    s->count = 0;
    for (int b = 7; b >= 0; b--) s->count = s->count << 8 | head[NAME_LEN + 8 + b];
    const size_t size = s->kind == 'f' ? sizeof(float) : 1;
    if (s->count > (1u << 28)) return -1;
    s->data = malloc(s->count * size + 1);
    if (!s->data || fread(s->data, size, s->count, f) != s->count) return -1;
    return 1;
}

static int compare(const char *pa, const char *pb)
{
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    if (!fa || !fb) {
        fprintf(stderr, "same_bits: cannot open %s\n", !fa ? pa : pb);
        return 2;
    }
    int same = 0, differ = 0;
    for (;;) {
        section a, b;
        int ra = read_section(fa, &a), rb = read_section(fb, &b);
        if (ra < 0 || rb < 0) {
            fprintf(stderr, "same_bits: %s is truncated or malformed\n", ra < 0 ? pa : pb);
            return 2;
        }
        if (ra == 0 || rb == 0) {
            if (ra != rb) {
                fprintf(stderr, "same_bits: %s has more sections than %s\n", ra ? pa : pb, ra ? pb : pa);
                return 2;
            }
            break;
        }
        if (strcmp(a.name, b.name) != 0 || a.kind != b.kind || a.count != b.count) {
            fprintf(stderr, "same_bits: sections out of step: \"%s\" / \"%s\"\n", a.name, b.name);
            return 2;
        }
        const size_t size = a.kind == 'f' ? sizeof(float) : 1;
        uint64_t first = a.count, n_diff = 0;
        for (uint64_t i = 0; i < a.count; i++)
            if (memcmp(a.data + i * size, b.data + i * size, size) != 0) {
                if (first == a.count) first = i;
                n_diff++;
            }
        if (n_diff == 0) {
            same++;
        } else {
            differ++;
            if (a.kind == 'f') {
                float va, vb;
                memcpy(&va, a.data + first * size, size);
                memcpy(&vb, b.data + first * size, size);
                printf("DIFFERS  %s: %llu of %llu values; first [%llu]: %a (%.9g) vs %a (%.9g)\n", a.name,
                       (unsigned long long)n_diff, (unsigned long long)a.count, (unsigned long long)first, va, va, vb, vb);
            } else {
                printf("DIFFERS  %s: %llu of %llu bytes; first [%llu]: %u vs %u\n", a.name, (unsigned long long)n_diff,
                       (unsigned long long)a.count, (unsigned long long)first, a.data[first], b.data[first]);
            }
        }
        free(a.data), free(b.data);
    }
    fclose(fa), fclose(fb);
    printf("same_bits %s vs %s: %d sections identical, %d differ\n", pa, pb, same, differ);
    return differ ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--compare")) return compare(argv[2], argv[3]);
    if (argc != 3 || strcmp(argv[1], "--write") != 0) {
        fprintf(stderr, "usage: same_bits --write FILE | same_bits --compare A B\n");
        return 2;
    }
    out = fopen(argv[2], "wb");
    if (!out) {
        fprintf(stderr, "same_bits: cannot create %s\n", argv[2]);
        return 2;
    }
    omp_set_num_threads(2); /* the kernels split rows; results are the same for any count */
    gemm_sections();
    softmax_sections();
    attention_sections();
    resize_sections();
    ops_sections();
    if (fclose(out) != 0) return 3;
    printf("same_bits: %d sections written to %s\n", sections, argv[2]);
    return 0;
}
