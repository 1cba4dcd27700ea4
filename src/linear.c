/* linear.c - nn.Linear forward/backward on the matrix-product engine (gemm.h). Weights are
 * [out, in] (PyTorch layout), so the forward is inp @ w^T and no transpose is ever
 * materialised. */
#include "gemm.h"
#include "internal.h"
#include "ops.h"

#include <string.h>

/* C = op(A) op(B) + beta C in float32, or as a bf16 product when bf16 scratch is given. */
static void product(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                    uint16_t *bf16) {
    if (bf16)
        gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bf16);
    else
        gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void linear_forward(float *out, const float *inp, const float *w, const float *b, int64_t N,
                    int64_t n_in, int64_t n_out, uint16_t *bf16) {
    float beta = 0.0f;
    if (b) {
        /* seed every row with the bias, then let the product add to it (beta = 1) */
#pragma omp parallel for schedule(static) if (N > 1)
        for (int64_t n = 0; n < N; n++) memcpy(out + n * n_out, b, (size_t)n_out * sizeof(float));
        beta = 1.0f;
    }
    if (N == 1 && !bf16) /* one token (decoding): a gemm would spend its time packing w */
        gemv_f32(n_out, n_in, w, n_in, inp, beta, out);
    else
        product(false, true, N, n_out, n_in, inp, n_in, w, n_in, beta, out, n_out, bf16);
}

void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t N, int64_t n_in, int64_t n_out, uint16_t *bf16) {
    if (dinp) /* dinp (N, n_in) += dout (N, n_out) @ w (n_out, n_in) */
        product(false, false, N, n_in, n_out, dout, n_out, w, n_in, 1.0f, dinp, n_in, bf16);
    if (dw) /* dw (n_out, n_in) += dout^T (n_out, N) @ inp (N, n_in) */
        product(true, false, n_out, n_in, N, dout, n_out, inp, n_in, 1.0f, dw, n_in, bf16);
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
