/* precision.c - rounding to bf16 for the bf16 matrix products (see precision.h). */
#include "precision.h"

#include "internal.h"

float *bf16_round(float *dst, const float *src, size_t n) {
    /* elementwise and branch-free in bf16_round1, so the compiler vectorises it */
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) dst[i] = bf16_round1(src[i]);
    return dst;
}
