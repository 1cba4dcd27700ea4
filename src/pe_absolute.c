/* pe_absolute.c - absolute position embeddings added to the token embedding: the
 * sinusoidal table (Vaswani et al. 2017, unscaled, positions from 0 in every segment) and
 * the learned table, which share the add and its gradient. */
#include "internal.h"
#include "position.h"

#include <math.h>

void sinusoidal_table(float *tab, int64_t pos0, int64_t n, int64_t D) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; r++) {
        double t = (double)(pos0 + r);
        float *row = tab + r * D;
        for (int64_t c = 0; c < D; c += 2) {
            /* c = 2i: angle t / 10000^(2i/D) */
            double a = t / pow(10000.0, (double)c / (double)D);
            row[c] = (float)sin(a);
            if (c + 1 < D) row[c + 1] = (float)cos(a);
        }
    }
}

void pos_add_forward(float *x, const float *table, int64_t B, int64_t T, int64_t D) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < B * T; n++) {
        const float *p = table + (n % T) * D;
        float *row = x + n * D;
        for (int64_t c = 0; c < D; c++) row[c] += p[c];
    }
}

void pos_add_backward(float *dtable, const float *dx, int64_t B, int64_t T, int64_t D) {
    /* each thread owns rows t of the table and sums over b in order */
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T; t++) {
        float *dst = dtable + t * D;
        for (int64_t b = 0; b < B; b++) {
            const float *src = dx + (b * T + t) * D;
            for (int64_t c = 0; c < D; c++) dst[c] += src[c];
        }
    }
}
