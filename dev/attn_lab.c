/* attn_lab.c - attention forward and backward at config-A shapes, repeated, for perf:
 *   make build/dev/attn_lab && perf record build/dev/attn_lab fwd|bwd [reps] [T] */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    const int bwd = argc > 1 && strcmp(argv[1], "bwd") == 0;
    const int reps = argc > 2 ? atoi(argv[2]) : 50;
    const int64_t T = argc > 3 ? atoll(argv[3]) : 256, B = 4096 / T > 0 ? 4096 / T : 1;
    const int64_t H = 4, hd = 64, D = H * hd, N = B * T;
    float *qkv = malloc(sizeof(float) * N * 3 * D), *out = malloc(sizeof(float) * N * D);
    float *lse = malloc(sizeof(float) * N * H), *d = calloc((size_t)(N * 3 * D), sizeof(float));
    for (int64_t i = 0; i < N * 3 * D; i++) qkv[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    attn_scratch ws;
    attn_scratch_init(&ws, hd, H, N, true);
    lext_attn m = {LEXT_ATTN_CAUSAL, 0, 0};
    struct timespec t0, t1;
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        attention_forward(out, lse, qkv, qkv + D, 3 * D, qkv + 2 * D, 3 * D, NULL, &m, NULL, B, T, H, hd, &ws);
        if (bwd)
            attention_backward(d, d + D, 3 * D, d + 2 * D, 3 * D, out, out, lse, qkv, qkv + D, 3 * D,
                               qkv + 2 * D, 3 * D, NULL, &m, B, T, H, hd, &ws);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        best = s < best ? s : best;
    }
    printf("%s T=%lld B=%lld: %.3f ms per call (best of %d)\n", bwd ? "fwd+bwd" : "fwd",
           (long long)T, (long long)B, best * 1e3, reps);
    return 0;
}
