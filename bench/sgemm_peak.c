/*
 * sgemm_peak.c - the machine's sgemm speed, measured with the very engine (gemm.h's gemm_f32)
 * and thread setting lext uses: linked like lext (the Makefile's LDLIBS), threads set with lext_set_threads().
 *
 *   sgemm_peak [--threads N] [--reps N] [--min-seconds S] [--shape MxNxK ...]
 *
 * Default shapes: 2048x2048x2048 (C = A B, both plain), and the transformer products of
 * config A in lext's own call form (linear_forward: C (M, N) = A (M, K) W^T with W (N, K)):
 *   4096x768x256 (qkv), 4096x1024x256 (MLP up), 4096x256x1024 (MLP down),
 *   4096x256x256 (attention output / LM head).
 * Each shape: one untimed call, then reps timed calls (at least min-seconds in all); one
 * JSON line per shape with the best and the median GFLOP/s (2 M N K flops per call).
 */
#include "gemm.h"
#include "lext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_shape(int M, int N, int K, int transb, int reps, double min_s) {
    float *A = malloc((size_t)M * K * sizeof(float));
    float *W = malloc((size_t)N * K * sizeof(float));
    float *C = malloc((size_t)M * N * sizeof(float));
    if (!A || !W || !C) {
        fprintf(stderr, "sgemm_peak: out of memory for %dx%dx%d\n", M, N, K);
        exit(1);
    }
    unsigned s = 12345;
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) W[i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
    memset(C, 0, (size_t)M * N * sizeof(float));
    const double flops = 2.0 * M * N * K;
#define GEMM()                                                                                  \
    gemm_f32(false, transb, M, N, K, A, K, W, transb ? K : N, 0.0f, C, N)
    GEMM(); /* warm-up: thread start, page faults */
    int cap = reps * 64 + 64, n = 0;
    double *g = malloc((size_t)cap * sizeof(double)), t_all = 0;
    while ((n < reps || t_all < min_s) && n < cap) {
        double t0 = now_s();
        GEMM();
        double dt = now_s() - t0;
        t_all += dt;
        g[n++] = flops / dt * 1e-9;
    }
    qsort(g, (size_t)n, sizeof(double), cmp_double);
    printf("{\"event\":\"sgemm\",\"M\":%d,\"N\":%d,\"K\":%d,\"form\":\"%s\",\"threads\":%d,"
           "\"engine\":\"%s\",\"kernel\":\"%s\",\"calls\":%d,\"gflops_best\":%.2f,\"gflops_median\":%.2f}\n",
           M, N, K, transb ? "A W^T" : "A B", lext_get_threads(), gemm_engine_name(), gemm_f32_kernel(), n, g[n - 1], g[n / 2]);
    fflush(stdout);
    free(g);
    free(A);
    free(W);
    free(C);
}

int main(int argc, char **argv) {
    int threads = 2, reps = 7, nshape = 0, shapes[16][3];
    double min_s = 0.5;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "sgemm_peak: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--onednn")) gemm_f32_use_matmul(strcmp(v, "sgemm") != 0);
        else if (!strcmp(a, "--min-seconds")) min_s = atof(v);
        else if (!strcmp(a, "--shape") && nshape < 16) {
            if (sscanf(v, "%dx%dx%d", &shapes[nshape][0], &shapes[nshape][1], &shapes[nshape][2]) != 3 ||
                shapes[nshape][0] < 1 || shapes[nshape][1] < 1 || shapes[nshape][2] < 1) {
                fprintf(stderr, "sgemm_peak: --shape wants MxNxK, got '%s'\n", v);
                return 2;
            }
            nshape++;
        } else {
            fprintf(stderr, "sgemm_peak: unknown option %s\n", a);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    lext_set_threads(threads);
    if (nshape == 0) {
        run_shape(2048, 2048, 2048, 0, reps, min_s);
        static const int def[][3] = {{4096, 768, 256}, {4096, 1024, 256}, {4096, 256, 1024},
                                     {4096, 256, 256}};
        for (size_t i = 0; i < sizeof def / sizeof *def; i++)
            run_shape(def[i][0], def[i][1], def[i][2], 1, reps, min_s);
    } else {
        for (int i = 0; i < nshape; i++) run_shape(shapes[i][0], shapes[i][1], shapes[i][2], 1, reps, min_s);
    }
    return 0;
}
