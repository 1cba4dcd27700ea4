/*
 * tile.c - the register-blocked kernel of tile.h. A block of MR rows by NV vectors of VL
 * floats stays in registers over the whole inner dimension: per step of k, NV loads of B,
 * MR broadcasts of A and MR x NV fused multiply-adds. The block is sized to the register
 * file: with AVX-512 (32 registers of 16 floats) 4 x 4 vectors, with AVX2 (16 registers
 * of 8 floats) 6 x 2, so that accumulators, B vectors and the broadcast never spill.
 * GCC's generic vectors compile to whatever the target has; tails narrower than a vector
 * take a plain loop.
 */
#include "tile.h"

#include <string.h>

#if defined(__AVX512F__)
#define VL 16
#define MR 4
#define NVMAX 4
#else
#define VL 8
#define MR 6
#define NVMAX 2
#endif
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static inline __attribute__((always_inline)) vf load(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline __attribute__((always_inline)) void store(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

/* C[0..mr) x [0..VL nv), for compile-time mr <= MR and nv <= NVMAX once inlined */
static inline __attribute__((always_inline)) void kernel(float *C, int64_t ldc, const float *A,
                                                         int64_t ars, int64_t aks,
                                                         const float *B, int64_t ldb, int64_t K,
                                                         float alpha, float beta, int mr,
                                                         int nv) {
    vf c[MR][NVMAX];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NVMAX; v++) c[r][v] = (vf){0};
    for (int64_t k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        vf bv[NVMAX];
        for (int v = 0; v < nv; v++) bv[v] = load(b + VL * v);
        for (int r = 0; r < mr; r++) {
            const float a = A[r * ars + k * aks];
            for (int v = 0; v < nv; v++) c[r][v] += a * bv[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            float *p = C + r * ldc + VL * v;
            vf out = alpha * c[r][v];
            if (beta != 0.0f) out += beta * load(p);
            store(p, out);
        }
}

/* the columns past the last whole vector: plain loops */
static void tail(float *C, int64_t ldc, const float *A, int64_t ars, int64_t aks, const float *B,
                 int64_t ldb, int64_t M, int64_t n0, int64_t N, int64_t K, float alpha, float beta) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = n0; n < N; n++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += A[m * ars + k * aks] * B[k * ldb + n];
            float *p = C + m * ldc + n;
            *p = alpha * s + (beta != 0.0f ? beta * *p : 0.0f);
        }
}

/* one kernel per (rows, vectors) pair, so that both are constants inside it */
#define KERNEL(mr, nv) kernel(Cb, ldc, Ab, ars, aks, Bb, ldb, K, alpha, beta, mr, nv)
#if NVMAX == 4
#define BY_NV(mr)                                                                            \
    switch (nv) {                                                                            \
    case 4: KERNEL(mr, 4); break;                                                            \
    case 3: KERNEL(mr, 3); break;                                                            \
    case 2: KERNEL(mr, 2); break;                                                            \
    default: KERNEL(mr, 1); break;                                                           \
    }
#else
#define BY_NV(mr)                                                                            \
    if (nv == 2) KERNEL(mr, 2);                                                              \
    else KERNEL(mr, 1);
#endif

void tile_gemm(float *C, int64_t ldc, const float *A, int64_t ars, int64_t aks, const float *B,
               int64_t ldb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
    const int64_t Nv = N / VL * VL; /* columns covered by whole vectors */
    for (int64_t n0 = 0; n0 < Nv; n0 += VL * NVMAX) {
        const int nv = (int)((Nv - n0) / VL < NVMAX ? (Nv - n0) / VL : NVMAX);
        const float *Bb = B + n0;
        int64_t m = 0;
        for (; m + MR <= M; m += MR) {
            float *Cb = C + m * ldc + n0;
            const float *Ab = A + m * ars;
            BY_NV(MR)
        }
        float *Cb = C + m * ldc + n0;
        const float *Ab = A + m * ars;
        switch (M - m) { /* the last rows */
#if MR > 4
        case 5: BY_NV(5) break;
        case 4: BY_NV(4) break;
#endif
        case 3: BY_NV(3) break;
        case 2: BY_NV(2) break;
        case 1: BY_NV(1) break;
        default: break;
        }
    }
    if (Nv < N) tail(C, ldc, A, ars, aks, B, ldb, M, Nv, N, K, alpha, beta);
}

/* In 16 x 16 blocks, so that every cache line read or written is used whole while the
 * block is hot. */
void tile_transpose(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                    int64_t cols) {
    enum { TB = 16 };
    for (int64_t r0 = 0; r0 < rows; r0 += TB)
        for (int64_t c0 = 0; c0 < cols; c0 += TB) {
            const int64_t r1 = rows - r0 < TB ? rows : r0 + TB, c1 = cols - c0 < TB ? cols : c0 + TB;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++) dst[c * ldd + r] = src[r * lds + c];
        }
}
