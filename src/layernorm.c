/* layernorm.c - LayerNorm forward/backward (PyTorch semantics: biased variance, eps inside
 * the square root). Statistics in float with a two-pass mean and variance, which keeps
 * parity with PyTorch near 1e-6 for activations of size ~1. */
#include "internal.h"
#include "ops.h"

#include <math.h>

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int64_t N, int64_t C, float eps) {
    /* one row (a decoded token): no parallel region, whose start costs more than the row */
#pragma omp parallel for schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        float s = 0.0f;
        for (int64_t i = 0; i < C; i++) s += x[i];
        float m = s / (float)C;
        float v = 0.0f;
        for (int64_t i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        v /= (float)C;
        float r = 1.0f / sqrtf(v + eps);
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * r * w[i] + b[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

/* With xhat = (x - mean) * rstd and g = dout * w:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dw += sum_n dout * xhat,  db += sum_n dout. */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *mean,
                        const float *rstd, const float *inp, const float *w, int64_t N,
                        int64_t C) {
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            float *dx = dinp + n * C;
            float m = mean[n], r = rstd[n];
            float sg = 0.0f, sgx = 0.0f;
            for (int64_t i = 0; i < C; i++) {
                float g = dy[i] * w[i];
                sg += g;
                sgx += g * (x[i] - m) * r;
            }
            sg /= (float)C;
            sgx /= (float)C;
            for (int64_t i = 0; i < C; i++) {
                float xhat = (x[i] - m) * r;
                dx[i] += r * (dy[i] * w[i] - sg - xhat * sgx);
            }
        }
        /* parameter gradients: split over columns so each thread owns its outputs and the
         * sum over rows keeps one order whatever the thread count */
        int64_t c0, c1;
        lext_thread_cols(C, &c0, &c1);
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            float m = mean[n], r = rstd[n];
            for (int64_t i = c0; i < c1; i++) {
                dw[i] += dy[i] * (x[i] - m) * r;
                db[i] += dy[i];
            }
        }
    }
}
