/* embed.c - token embedding lookup and the residual add. */
#include "internal.h"
#include "ops.h"

#include <string.h>

#include <math.h>

float embed_scale_of(const lext_config *c) {
    return c->embed_scale ? (float)sqrt((double)c->d_model) : 1.0f;
}

void embed_forward(float *out, const int32_t *tokens, const float *wte, float scale, int64_t N,
                   int64_t C) {
    if (scale == 1.0f) { /* the unscaled model: a copy, bit for bit as before */
#pragma omp parallel for schedule(static) if (N > 1)
        for (int64_t n = 0; n < N; n++)
            memcpy(out + n * C, wte + (int64_t)tokens[n] * C, (size_t)C * sizeof(float));
        return;
    }
#pragma omp parallel for schedule(static) if (N > 1)
    for (int64_t n = 0; n < N; n++) {
        const float *src = wte + (int64_t)tokens[n] * C;
        float *dst = out + n * C;
        for (int64_t c = 0; c < C; c++) dst[c] = scale * src[c];
    }
}

/* Scatter-add by token. Several rows share a token, so threads split the columns, not
 * the rows: no races, and the same summation order for any thread count. */
/* The forward's out[n] = scale * wte[tokens[n]], so dwte[tokens[n]] += scale * dout[n]. */
void embed_backward(float *dwte, const float *dout, const int32_t *tokens, float scale, int64_t N,
                    int64_t C) {
#pragma omp parallel
    {
        int64_t c0, c1;
        lext_thread_cols(C, &c0, &c1);
        for (int64_t n = 0; n < N; n++) {
            float *dst = dwte + (int64_t)tokens[n] * C;
            const float *src = dout + n * C;
            for (int64_t c = c0; c < c1; c++) dst[c] += scale * src[c];
        }
    }
}

void residual_forward(float *out, const float *a, const float *b, int64_t n) {
    /* a decoded token's row is too short to share (the region's start costs more) */
#pragma omp parallel for schedule(static) if (n > 4096)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
