/* ops.c -- Linear, norms and activations (see ops.h for the legend and the determinism rule). */
#include "core/ops.h"

#include "core/gemm.h"
#include "core/isa.h"

#include <math.h>
#include <string.h>

void vt_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t I, int64_t O)
{
    vt_gemm_abt(y, x, W, b, N, O, I);
}

void vt_linear_mat(float *y, const float *x, vt_mat W, const float *b, int64_t N, int64_t I, int64_t O)
{
    vt_gemm_abt_mat(y, x, W, b, N, O, I);
}

/* Statistics in double: closer to the exact value than any float32 summation order, so we stay inside
 * the reference's own float32 rounding noise whatever order PyTorch used. */
void vt_layernorm(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *x_n = x + n * C;
        float *y_n = y + n * C;
        double mean = 0, var = 0;
        for (int64_t c = 0; c < C; c++) mean += x_n[c];
        mean /= (double)C;
        for (int64_t c = 0; c < C; c++) var += (x_n[c] - mean) * (x_n[c] - mean);
        var /= (double)C; /* biased variance, as nn.LayerNorm */
        float rstd = (float)(1.0 / sqrt(var + (double)eps));
        float m = (float)mean;
        for (int64_t c = 0; c < C; c++) {
            float v = (x_n[c] - m) * rstd * w[c];
            y_n[c] = b ? v + b[c] : v;
        }
    }
}

void vt_rmsnorm(float *y, const float *x, const float *w, int64_t N, int64_t C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *x_n = x + n * C;
        float *y_n = y + n * C;
        double ss = 0;
        for (int64_t c = 0; c < C; c++) ss += (double)x_n[c] * x_n[c];
        /* Qwen2RMSNorm: hidden * torch.rsqrt(variance + eps), then weight * hidden */
        float rstd = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
        for (int64_t c = 0; c < C; c++) y_n[c] = w[c] * (x_n[c] * rstd);
    }
}

/* The activations are elementwise (one libm call each): split across threads, which changes nothing.
 * erf and tanh are taken in double and rounded once to float. C libraries' erff and tanhf differ in the
 * last bit from one CPU to another (glibc 2.36: 31 and 2 of 4096 values between x86-64 and arm64, whose
 * build fuses their multiply-adds; tests/same_bits.c), which moved GELU's output and every tensor after
 * it. A double result is within about 1e-16 of the exact one, so it rounds to the correctly rounded float
 * except within a hair of a halfway point: the same bits on any CPU in practice (no longer a property of
 * one libm's float code), and closer to the exact GELU than erff's up to 1 ulp. */
void vt_gelu_erf(float *y, const float *x, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + (float)erf((double)(x[i] * 0.70710678118654752f)));
}

void vt_gelu_tanh(float *y, const float *x, int64_t n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + (float)tanh((double)(k * (v + 0.044715f * v * v * v))));
    }
}

void vt_quick_gelu(float *y, const float *x, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void vt_silu(float *y, const float *x, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

/* exp(x) for the softmax's x - max <= 0, in plain float operations that a loop of them vectorises (libm's
 * expf is a call per element, and was two thirds of the attention time). Cody-Waite: x = n ln2 + r with
 * n = round(x / ln2) (adding and subtracting 1.5 * 2^23 rounds to nearest), ln2 split in a part exact in
 * a few bits and a remainder, so r is accurate; exp(r) on |r| <= ln2 / 2 by the Cephes expf polynomial;
 * 2^n built in the exponent bits. At most 1 ulp from exp on [-87, 0] (tests/test_kernels.c checks 2M
 * points against exp in double); below -87 (exp < 1.7e-38) and at -inf it gives 0; NaN gives NaN. The
 * range tests are done on the bits as integers, with masks: a float compare-and-select is not vectorised
 * under the default -ftrapping-math. Separate multiplies and adds (every build has -ffp-contract=off, so
 * nothing is fused into an FMA), so every build gives the same bits. Only the magnitude of x is read: x
 * must be <= 0 or NaN. */
static inline float exp_softmax(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const uint32_t mag = u & 0x7fffffffu, lim = 0x42ae0000u; /* |x| bits; 87.0f */
    const uint32_t mc = mag < lim ? mag : lim;               /* |x| clamped to 87 (NaN and inf too) */
    float xc;
    memcpy(&xc, &mc, sizeof xc);
    xc = -xc;
    float nf = xc * 1.44269504088896341f + 12582912.0f;
    nf = nf - 12582912.0f;
    float r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const uint32_t two_n_bits = (uint32_t)((int32_t)nf + 127) << 23; /* 2^n, n in [-126, 0] */
    float two_n, e;
    memcpy(&two_n, &two_n_bits, sizeof two_n);
    e = p * two_n;
    uint32_t eb;
    memcpy(&eb, &e, sizeof eb);
    eb &= 0u - (uint32_t)(mag <= lim);                 /* below -87, -inf: 0 (a mask, not a branch) */
    eb |= (0u - (uint32_t)(mag > 0x7f800000u)) & 0x7fc00000u; /* NaN stays NaN */
    memcpy(&e, &eb, sizeof e);
    return e;
}

float vt_exp_softmax(float x) { return exp_softmax(x); }

/* The loops below walk the row in chunks of 16 with a scalar tail: a fixed trip count is what GCC's -O2
 * vectoriser accepts. The max is exact in any order. The sum is in double, in 8 partial sums: element i
 * goes to partial (phase + i) mod 8, then the 8 are added in a fixed tree. With phase = the row's first
 * key, a segment's row and the same row over every key with the others masked to exp(-inf) = +0 use the
 * same partitions (adding +0.0 changes no partial), which keeps the segment and literal paths bit-equal. */
VT_ISA_CLONES /* core/isa.h: x86-64 GCC only */
void vt_softmax_row_at(float *x, int64_t n, int64_t phase)
{
    enum { W = 16, P = 8 };
    float mw[W];
    for (int l = 0; l < W; l++) mw[l] = -INFINITY;
    int64_t i = 0;
    for (; i + W <= n; i += W)
        for (int l = 0; l < W; l++) mw[l] = x[i + l] > mw[l] ? x[i + l] : mw[l];
    float mx = -INFINITY;
    for (int l = 0; l < W; l++) mx = mw[l] > mx ? mw[l] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) { /* a fully masked row: torch gives NaN; keep it visible the same way */
        for (i = 0; i < n; i++) x[i] = NAN;
        return;
    }
    for (i = 0; i + W <= n; i += W)
        for (int l = 0; l < W; l++) x[i + l] = exp_softmax(x[i + l] - mx);
    for (; i < n; i++) x[i] = exp_softmax(x[i] - mx);
    double ps[P] = {0};
    const int64_t head = (P - phase % P) % P; /* elements before the first index with (phase + i) % 8 == 0 */
    for (i = 0; i < head && i < n; i++) ps[(phase + i) % P] += x[i];
    for (; i + P <= n; i += P)
        for (int l = 0; l < P; l++) ps[l] += x[i + l];
    for (int l = 0; i < n; i++, l++) ps[l] += x[i];
    const double sum = ((ps[0] + ps[4]) + (ps[1] + ps[5])) + ((ps[2] + ps[6]) + (ps[3] + ps[7]));
    const float inv = (float)(1.0 / sum);
    for (i = 0; i + W <= n; i += W)
        for (int l = 0; l < W; l++) x[i + l] *= inv;
    for (; i < n; i++) x[i] *= inv;
}

void vt_softmax_row(float *x, int64_t n) { vt_softmax_row_at(x, n, 0); }

/* ======================================== by name ======================================== */

int vt_activation(float *y, const float *x, int64_t n, const char *name, vt_status *st)
{
    if (!strcmp(name, "quick_gelu")) vt_quick_gelu(y, x, n); /* x * sigmoid(1.702 x): Qwen2-VL */
    else if (!strcmp(name, "silu")) vt_silu(y, x, n);        /* Qwen2.5-VL's gate */
    else if (!strcmp(name, "gelu")) vt_gelu_erf(y, x, n);
    else if (!strcmp(name, "gelu_pytorch_tanh")) vt_gelu_tanh(y, x, n);
    else return vt_fail(st, VT_EINPUT, "config.json: hidden_act '%s' is not supported", name);
    return VT_OK;
}
