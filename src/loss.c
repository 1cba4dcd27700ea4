/* loss.c - softmax cross-entropy over the vocabulary, with a numerically stable
 * log-sum-exp (max subtracted) and the per-row sum kept in double. */
#include "internal.h"
#include "ops.h"
#include "vmath.h"

#include <math.h>

double xent_forward(float *losses, const float *logits, const int32_t *targets, int64_t N,
                    int64_t V, int64_t *count) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        int32_t t = targets[n];
        losses[n] = 0.0f;
        if (t < 0) continue;
        const float *z = logits + n * V;
        float mx = z[0];
        for (int64_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t v = 0; v < V; v++) s += lext_expf(z[v] - mx);
        /* s >= 1: the term of the maximum is exp(0) (V >= 1 by the model's configuration) */
        // cppcheck-suppress invalidFunctionArg
        losses[n] = (float)((double)mx + log((double)s) - (double)z[t]);
    }
    double total = 0.0;
    int64_t used = 0;
    for (int64_t n = 0; n < N; n++) {
        if (targets[n] < 0) continue;
        total += losses[n];
        used++;
    }
    if (count) *count = used;
    return total;
}

void xent_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t N,
                   int64_t V, float scale) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        int32_t t = targets[n];
        if (t < 0) continue;
        const float *z = logits + n * V;
        float *dz = dlogits + n * V;
        float mx = z[0];
        for (int64_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t v = 0; v < V; v++) s += lext_expf(z[v] - mx);
        float inv = scale / s;
#pragma omp simd
        for (int64_t v = 0; v < V; v++) dz[v] += lext_expf(z[v] - mx) * inv;
        dz[t] -= scale;
    }
}
