/*
 * vmath.h - exp and the sigmoid written so that the compiler vectorizes the loops that
 * call them (glibc's expf and tanhf are scalar calls: the profile of a training step had
 * 15% of its time in tanhf/expm1f alone). Plain C, no fast-math: the same bits on every
 * run, whatever the thread count.
 *
 * exp(x) = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2, ln2/2]; e^r by
 * a degree-7 Taylor polynomial (truncation < 6e-9 relative on that range)
 * and 2^n put into the exponent bits. Relative error about 2 ulp; exp(x) = 0 below
 * -87.3 (so exp(-inf) = 0 for masked scores) and +inf above 88.7.
 */
#ifndef LEXT_VMATH_H
#define LEXT_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float lext_expf(float x) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f; /* ln 2 = hi + lo */
    const float shifter = 12582912.0f;                            /* 1.5 * 2^23 */
    float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    float t = xc * log2e + shifter; /* round to nearest: n sits in t's low mantissa bits */
    float n = t - shifter;
    float r = xc - n * ln2_hi - n * ln2_lo;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f +
                    r * (8.3333338e-3f + r * (1.3888889e-3f + r * 1.9841270e-4f))))));
    /* unsigned: the same bits for every x in range, and no signed-overflow UB when x is NaN
     * (t then holds NaN's bits, whatever they are; the result is NaN either way) */
    uint32_t ti;
    memcpy(&ti, &t, sizeof ti);
    uint32_t bits = (ti - 0x4B400000u + 127u) << 23; /* n + 127 into the exponent field */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x < -87.3f ? 0.0f : (x > 88.7f ? __builtin_inff() : y);
}

/* 1 / (1 + e^-z) */
static inline float lext_sigmoidf(float z) { return 1.0f / (1.0f + lext_expf(-z)); }

#endif
