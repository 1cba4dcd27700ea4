/* gelu.c - GELU in its tanh form (Hendrycks & Gimpel; GPT-2), the same as PyTorch's
 * nn.GELU(approximate="tanh"), which the parity reference uses:
 *   gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 * computed through the identity 0.5 (1 + tanh(u)) = sigmoid(2u), which needs one exp
 * (vectorized, see vmath.h) and has no cancellation near u = 0. */
#include "internal.h"
#include "ops.h"
#include "vmath.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* Threads take chunks; each chunk is one vectorized loop (a combined "parallel for simd"
 * does not vectorize with GCC 12). */
#define CHUNK 4096

void gelu_forward(float *out, const float *inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n > CHUNK)
    for (int64_t c = 0; c < n; c += CHUNK) {
        const int64_t end = n - c < CHUNK ? n : c + CHUNK;
#pragma omp simd
        for (int64_t i = c; i < end; i++) {
            float x = inp[i];
            float u = GELU_K * (x + GELU_C * x * x * x);
            out[i] = x * lext_sigmoidf(2.0f * u);
        }
    }
}

/* d/dx [x s(2u)] = s + x s (1 - s) 2 du/dx, s = sigmoid(2u) = 0.5 (1 + tanh u),
 * du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n > CHUNK)
    for (int64_t c = 0; c < n; c += CHUNK) {
        const int64_t end = n - c < CHUNK ? n : c + CHUNK;
#pragma omp simd
        for (int64_t i = c; i < end; i++) {
            float x = inp[i];
            float u = GELU_K * (x + GELU_C * x * x * x);
            float s = lext_sigmoidf(2.0f * u);
            float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
            dinp[i] += dout[i] * (s + 2.0f * x * s * (1.0f - s) * du);
        }
    }
}
