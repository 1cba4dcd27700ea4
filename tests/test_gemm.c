/*
 * test_gemm.c - the matrix-product engine (src/gemm.h), against a product computed here in
 * double from the definition:
 *   - gemm_f32 for every transpose pair, beta 0 and 1, strided (padded) operands and odd
 *     sizes, and gemv_f32; the output's padding is never written;
 *   - gemm_bf16 on bf16 operands: the native path (oneDNN's bf16 matmul, where this CPU
 *     uses it) and the float32 path agree with the exact products summed in double, and
 *     with each other, to float32 summation error;
 *   - results repeat bit for bit; the engine and kernels have names.
 */
#include "gemm.h"
#include "harness.h"
#include "precision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* C[i, j] = sum_k op(A)[i, k] op(B)[k, j] + beta C, in double */
static void ref_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, const float *C0,
                     int64_t ldc, double *out) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = beta != 0.0f ? (double)C0[i * ldc + j] : 0.0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            out[i * N + j] = s;
        }
}

/* max |C - ref| / (sum_k |a||b| bound) over the matrix: error relative to the scale of the
 * terms, which is what float32 summation error is proportional to */
static double rel_err(const float *C, int64_t ldc, const double *ref, int64_t M, int64_t N,
                      double scale) {
    double worst = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double e = fabs((double)C[i * ldc + j] - ref[i * N + j]) / scale;
            if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
        }
    return worst;
}

typedef struct {
    float *A, *B, *C, *C0;
    double *ref;
    int64_t lda, ldb, ldc;
} problem;

static problem make(bool ta, bool tb, int64_t M, int64_t N, int64_t K, bool bf16) {
    problem p;
    const int64_t pad = 3; /* row strides past the row length: strides must be honoured */
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    p.lda = ac + pad, p.ldb = bc + pad, p.ldc = N + pad;
    p.A = malloc((size_t)(ar * p.lda) * sizeof(float));
    p.B = malloc((size_t)(br * p.ldb) * sizeof(float));
    p.C = malloc((size_t)(M * p.ldc) * sizeof(float));
    p.C0 = malloc((size_t)(M * p.ldc) * sizeof(float));
    p.ref = malloc((size_t)(M * N) * sizeof(double));
    h_fill(p.A, (size_t)(ar * p.lda), 1.0);
    h_fill(p.B, (size_t)(br * p.ldb), 1.0);
    h_fill(p.C0, (size_t)(M * p.ldc), 1.0);
    if (bf16) {
        bf16_round(p.A, p.A, (size_t)(ar * p.lda));
        bf16_round(p.B, p.B, (size_t)(br * p.ldb));
    }
    return p;
}

static void drop(problem *p) {
    free(p->A), free(p->B), free(p->C), free(p->C0), free(p->ref);
}

TEST(gemm_f32_matches_the_definition) {
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {64, 48, 33}, {130, 67, 257}, {257, 129, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int bi = 0; bi < 2; bi++) {
                bool ta = t & 1, tb = t & 2;
                float beta = (float)bi;
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                problem p = make(ta, tb, M, N, K, false);
                memcpy(p.C, p.C0, (size_t)(M * p.ldc) * sizeof(float));
                gemm_f32(ta, tb, M, N, K, p.A, p.lda, p.B, p.ldb, beta, p.C, p.ldc);
                ref_gemm(ta, tb, M, N, K, p.A, p.lda, p.B, p.ldb, beta, p.C0, p.ldc, p.ref);
                double e = rel_err(p.C, p.ldc, p.ref, M, N, (double)K + 1);
                CHECK(e <= 4e-7, "%lldx%lldx%lld ta %d tb %d beta %g: error %.3g",
                      (long long)M, (long long)N, (long long)K, ta, tb, (double)beta, e);
                int untouched = 1; /* the padding columns of C keep their values */
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = N; j < p.ldc; j++)
                        untouched &= p.C[i * p.ldc + j] == p.C0[i * p.ldc + j];
                CHECK(untouched, "%lldx%lldx%lld: C's padding was written", (long long)M,
                      (long long)N, (long long)K);
                drop(&p);
            }
}

TEST(gemv_f32_matches_the_definition) {
    const int64_t m = 300, k = 129, ldw = 131;
    float *W = malloc((size_t)(m * ldw) * sizeof(float)), *x = malloc((size_t)k * sizeof(float));
    float *y = malloc((size_t)m * sizeof(float)), *y0 = malloc((size_t)m * sizeof(float));
    h_fill(W, (size_t)(m * ldw), 1.0);
    h_fill(x, (size_t)k, 1.0);
    h_fill(y0, (size_t)m, 1.0);
    for (int bi = 0; bi < 2; bi++) {
        memcpy(y, y0, (size_t)m * sizeof(float));
        gemv_f32(m, k, W, ldw, x, (float)bi, y);
        double worst = 0;
        for (int64_t i = 0; i < m; i++) {
            double s = bi ? y0[i] : 0.0;
            for (int64_t j = 0; j < k; j++) s += (double)W[i * ldw + j] * x[j];
            worst = fmax(worst, fabs(s - y[i]) / (double)(k + 1));
        }
        CHECK(worst <= 4e-7, "gemv beta %d: error %.3g", bi, worst);
    }
    free(W), free(x), free(y), free(y0);
}

/* gemm_bf16 on the given path; returns the error against the exact products */
static double bf16_case(bool native, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                        float beta, float *out_copy) {
    problem p = make(ta, tb, M, N, K, true);
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    size_t ns = gemm_bf16_scratch_elems((size_t)(ar * ac), (size_t)(br * bc));
    uint16_t *scratch = malloc((ns ? ns : 1) * sizeof(uint16_t));
    gemm_bf16_allow_native(native);
    memcpy(p.C, p.C0, (size_t)(M * p.ldc) * sizeof(float));
    gemm_bf16(ta, tb, M, N, K, p.A, p.lda, p.B, p.ldb, beta, p.C, p.ldc, scratch);
    gemm_bf16_allow_native(true);
    ref_gemm(ta, tb, M, N, K, p.A, p.lda, p.B, p.ldb, beta, p.C0, p.ldc, p.ref);
    double e = rel_err(p.C, p.ldc, p.ref, M, N, (double)K + 1);
    for (int64_t i = 0; i < M; i++) memcpy(out_copy + i * N, p.C + i * p.ldc, (size_t)N * sizeof(float));
    free(scratch);
    drop(&p);
    return e;
}

TEST(gemm_bf16_native_and_float_paths_agree) {
    printf("  engine %s; fp32 kernel %s; bf16 kernel %s (native here: %s)\n", gemm_engine_name(),
           gemm_f32_kernel(), gemm_bf16_kernel(), gemm_bf16_native() ? "yes" : "no");
    const int64_t shapes[][3] = {{7, 5, 3}, {64, 48, 32}, {130, 67, 257}, {512, 96, 128}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 3; t++) { /* the three forms linear.c uses: A B^T, A B, A^T B */
            bool ta = t == 2, tb = t == 0;
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            for (int bi = 0; bi < 2; bi++) {
                float *cn = malloc((size_t)(M * N) * sizeof(float));
                float *cf = malloc((size_t)(M * N) * sizeof(float));
                float *cn2 = malloc((size_t)(M * N) * sizeof(float));
                h_seed = 1234567 + s * 10 + (size_t)t; /* the same operands for each path */
                double en = bf16_case(true, ta, tb, M, N, K, (float)bi, cn);
                h_seed = 1234567 + s * 10 + (size_t)t;
                double ef = bf16_case(false, ta, tb, M, N, K, (float)bi, cf);
                h_seed = 1234567 + s * 10 + (size_t)t;
                bf16_case(true, ta, tb, M, N, K, (float)bi, cn2);
                /* bf16 x bf16 products are exact in float32: both paths differ from the exact
                 * result by float32 summation error only, never by bf16's 2^-8 */
                CHECK(en <= 4e-7 && ef <= 4e-7,
                      "%lldx%lldx%lld form %d beta %d: native error %.3g, float path %.3g",
                      (long long)M, (long long)N, (long long)K, t, bi, en, ef);
                CHECK(memcmp(cn, cn2, (size_t)(M * N) * sizeof(float)) == 0,
                      "%lldx%lldx%lld: two native runs differ", (long long)M, (long long)N,
                      (long long)K);
                free(cn), free(cf), free(cn2);
            }
        }
}

TEST(gemm_engine_has_names) {
    CHECK(strlen(gemm_engine_name()) > 0 && strcmp(gemm_f32_kernel(), "unknown") != 0 &&
              strcmp(gemm_bf16_kernel(), "unknown") != 0,
          "engine '%s', fp32 '%s', bf16 '%s'", gemm_engine_name(), gemm_f32_kernel(),
          gemm_bf16_kernel());
}
