/* ops.c -- Linear, norms and activations (see ops.h for the legend and the determinism rule). */
#include "ops.h"

#include "gemm.h"

#include <math.h>
#include <string.h>

void vt_linear(float *y, const float *x, const float *W, const float *b, int64_t N, int64_t I, int64_t O)
{
    vt_gemm_abt(y, x, W, b, N, O, I);
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

void vt_gelu_erf(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void vt_gelu_tanh(float *y, const float *x, int64_t n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void vt_quick_gelu(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void vt_silu(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void vt_softmax_row(float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) { /* a fully masked row: torch gives NaN; keep it visible the same way */
        for (int64_t i = 0; i < n; i++) x[i] = NAN;
        return;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}
