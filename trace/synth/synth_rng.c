/*
 * synth_rng.c -- the random numbers of `vlmtrace synth`, identical on every machine.
 *
 * One stream per tensor, so a tensor's values depend only on (seed, its name): adding, dropping or
 * reordering other tensors (--layers, another preset of the same family) never changes it.
 *
 *   state    splitmix64 seeded with seed ^ fnv1a64(name) gives xoshiro256**'s four words (the seeding
 *            the xoshiro authors recommend; splitmix64 never yields the all-zero state in practice).
 *   draw     one xoshiro256** output = four 16-bit lanes u0..u3, uniform on [0, 65535];
 *            d = 2 * (u0 + u1 + u2 + u3) - 4 * 65535 is an even integer in [-262140, 262140] with mean 0
 *            and variance 4 * (65536^2 - 1) / 3, so z = d / (2 * sqrt((65536^2 - 1) / 3)) has unit
 *            variance. That is the Irwin-Hall distribution with n = 4: bell-shaped, within 0.008 of the
 *            normal CDF everywhere, and bounded at +-2 sqrt(3) = +-3.46 (a truncated normal, as many
 *            initialisers use anyway).
 *   value    mean + (double)d * (std / norm), rounded once to float32.
 *
 * Why not Box-Muller: it needs log, sin and cos, and libm implementations differ in the last bit, which
 * a bf16 or f32 rounding occasionally exposes. Everything here is integer arithmetic plus IEEE-754 double
 * multiplications, additions, a division and a square root, all correctly rounded, so the bytes written
 * are the same on every conforming machine (the build uses -std=c11, which keeps GCC from fusing the
 * multiply-add into an FMA; the two steps are separate statements for other compilers too).
 */
#include <math.h>
#include <string.h>

#include "synth/synth.h"

uint64_t vt_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

uint64_t vt_fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325u; /* offset basis */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001B3u; /* FNV prime */
    }
    return h;
}

void vt_rng_seed(vt_rng *r, uint64_t seed, const char *name)
{
    uint64_t x = seed ^ vt_fnv1a64(name);
    for (int i = 0; i < 4; i++) r->s[i] = vt_splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t vt_rng_next(vt_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t out = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

int32_t vt_rng_bell_int(vt_rng *r)
{
    uint64_t x = vt_rng_next(r);
    int32_t sum = (int32_t)(x & 0xFFFF) + (int32_t)((x >> 16) & 0xFFFF) + (int32_t)((x >> 32) & 0xFFFF) +
                  (int32_t)(x >> 48);
    return 2 * sum - 4 * 65535;
}

double vt_rng_bell_norm(void) { return 2.0 * sqrt((65536.0 * 65536.0 - 1.0) / 3.0); }

uint16_t vt_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: keep it quiet */
    u += 0x7FFFu + ((u >> 16) & 1u); /* ties go to the even bf16 */
    return (uint16_t)(u >> 16);
}

/* ---- one tensor's values, in chunks ---- */

void vt_synth_stream_init(vt_synth_stream *s, const vt_synth_init *in, uint64_t seed, const char *name)
{
    vt_rng_seed(&s->rng, seed, name);
    s->scale = in->std / vt_rng_bell_norm();
    s->mean = in->mean;
}

void vt_synth_stream_f32(vt_synth_stream *s, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double t = (double)vt_rng_bell_int(&s->rng) * s->scale; /* exact integer times a double: one rounding */
        double v = s->mean + t;                                 /* a second statement: never fused into an FMA */
        dst[i] = (float)v;
    }
}
