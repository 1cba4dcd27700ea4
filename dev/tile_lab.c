/*
 * tile_lab.c - tile_gemm against a naive oracle on every layout the attention kernels use
 * and on ragged sizes, then its speed against the engine's gemm_f32 on attention-sized tiles (one
 * thread, as attention runs them).
 */
#include "lext.h"
#include "tile.h"

#include "gemm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    lext_set_threads(1);
    float *A = malloc(4 * 512 * 512), *B = malloc(4 * 512 * 512), *C = malloc(4 * 512 * 512),
          *R = malloc(4 * 512 * 512);
    for (int i = 0; i < 512 * 512; i++) A[i] = (float)((i * 37) % 101) / 101.0f - 0.5f, B[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
    int bad = 0;
    const int sizes[][3] = {{1, 1, 1}, {3, 17, 5}, {64, 64, 64}, {64, 128, 64}, {63, 79, 33}, {5, 200, 7}, {128, 64, 128}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int trans = 0; trans < 2; trans++) {
            int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
            int64_t ars = trans ? 1 : 300, aks = trans ? 300 : 1; /* A or A^T, stride 300 */
            for (int i = 0; i < M * 301; i++) C[i] = R[i] = 0.25f;
            tile_gemm(C, 301, A, ars, aks, B, 260, M, N, K, 0.5f, 1.0f);
            double worst = 0;
            for (int m = 0; m < M; m++)
                for (int n = 0; n < N; n++) {
                    double acc = 0;
                    for (int k = 0; k < K; k++) acc += (double)A[m * ars + k * aks] * B[k * 260 + n];
                    double want = 0.5 * acc + 0.25;
                    worst = fmax(worst, fabs(want - C[m * 301 + n]));
                }
            if (worst > 1e-5) bad++, printf("MISMATCH %dx%dx%d trans=%d: %g\n", M, N, K, trans, worst);
        }
    printf("correctness: %s\n", bad ? "FAILED" : "ok");
    const int shapes[][3] = {{64, 128, 64}, {64, 64, 128}, {128, 64, 64}, {64, 256, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        double tb = 1e9, tt = 1e9;
        for (int r = 0; r < 200; r++) {
            double t = now();
            gemm_f32(false, false, M, N, K, A, K, B, N, 0.0f, R, N);
            t = now() - t;
            tb = t < tb ? t : tb;
            t = now();
            tile_gemm(C, N, A, K, 1, B, N, M, N, K, 1.0f, 0.0f);
            t = now() - t;
            tt = t < tt ? t : tt;
        }
        double f = 2.0 * M * N * K;
        printf("%3dx%3dx%3d  sgemm %6.1f GFLOP/s  tile %6.1f GFLOP/s\n", M, N, K, f / tb / 1e9, f / tt / 1e9);
    }
    return bad != 0;
}
