/* linear.c - nn.Linear forward/backward on OpenBLAS sgemm. Weights are [out, in]
 * (PyTorch layout), so the forward is inp @ w^T and no transpose is ever materialised. */
#include "internal.h"
#include "ops.h"

#include <cblas.h>
#include <string.h>

void linear_forward(float *out, const float *inp, const float *w, const float *b, int64_t N,
                    int64_t n_in, int64_t n_out) {
    float beta = 0.0f;
    if (b) {
        /* seed every row with the bias, then let sgemm add the product (beta = 1) */
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) memcpy(out + n * n_out, b, (size_t)n_out * sizeof(float));
        beta = 1.0f;
    }
    if (N == 1) /* one token (decoding): sgemm would spend most of its time packing w */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_out, (int)n_in, 1.0f, w, (int)n_in, inp, 1,
                    beta, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)n_out, (int)n_in, 1.0f,
                    inp, (int)n_in, w, (int)n_in, beta, out, (int)n_out);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t N, int64_t n_in, int64_t n_out) {
    if (dinp) /* dinp (N, n_in) += dout (N, n_out) @ w (n_out, n_in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)n_in, (int)n_out, 1.0f, dout,
                    (int)n_out, w, (int)n_in, 1.0f, dinp, (int)n_in);
    if (dw) /* dw (n_out, n_in) += dout^T (n_out, N) @ inp (N, n_in) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)N, 1.0f, dout,
                    (int)n_out, inp, (int)n_in, 1.0f, dw, (int)n_in);
    if (db) {
        /* column sums, split over columns: one summation order for any thread count */
#pragma omp parallel
        {
            int64_t o0, o1;
            lext_thread_cols(n_out, &o0, &o1);
            for (int64_t n = 0; n < N; n++) {
                const float *dy = dout + n * n_out;
                for (int64_t o = o0; o < o1; o++) db[o] += dy[o];
            }
        }
    }
}
