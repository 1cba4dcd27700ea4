/*
 * ops.h - the elementary layers of the model: LayerNorm, linear (nn.Linear layout), GELU,
 * token embedding, residual add, softmax cross-entropy. Each is an x_forward / x_backward
 * pair with one argument order:
 *
 *   x_forward(out, saved..., inp, weights..., dims)
 *   x_backward(dinp, dweights..., dout, saved..., inp, weights..., dims)
 *
 * Every backward ACCUMULATES (+=) into all of its outputs, activation gradients included;
 * callers zero a buffer before its first use. Row counts N are B*T. All loops are
 * deterministic for any thread count: reductions over rows (weight gradients) are split
 * over output columns, never over rows.
 */
#ifndef LEXT_OPS_H
#define LEXT_OPS_H

#include <stddef.h>
#include <stdint.h>

/* LayerNorm as PyTorch: y = (x - mean) / sqrt(var + eps) * w + b, biased variance.
 * out (N, C), mean (N), rstd (N), inp (N, C), w (C), b (C). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int64_t N, int64_t C, float eps);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *mean,
                        const float *rstd, const float *inp, const float *w, int64_t N,
                        int64_t C);

/* out (N, n_out) = inp (N, n_in) @ w^T + b, w (n_out, n_in) as nn.Linear, b (n_out) or NULL.
 * bf16: NULL for float32 products; otherwise the products are bf16 products (gemm_bf16:
 * inp, w and, in the backward, dout must hold bf16 numbers already; precision.h) and bf16
 * is their scratch, of gemm_bf16_scratch_elems(size of A, size of B) elements.
 * (Not I and O: OpenBLAS headers pull in <complex.h>, which defines I.) */
void linear_forward(float *out, const float *inp, const float *w, const float *b, int64_t N,
                    int64_t n_in, int64_t n_out, uint16_t *bf16);
/* dinp (N, n_in) += dout @ w; dw (n_out, n_in) += dout^T @ inp; db (n_out) += column sums.
 * dinp, dw or db may be NULL to skip that gradient. */
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t N, int64_t n_in, int64_t n_out, uint16_t *bf16);

/* GELU, tanh form (GPT-2; PyTorch's nn.GELU(approximate="tanh")):
 *   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).  out, inp (n). */
void gelu_forward(float *out, const float *inp, int64_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

/* out (N, C) = scale * wte[tokens[n]] (overwrites); wte (V, C). scale is embed_scale_of(). */
void embed_forward(float *out, const int32_t *tokens, const float *wte, float scale, int64_t N,
                   int64_t C);
/* dwte[tokens[n]] += scale * dout[n]. */
void embed_backward(float *dwte, const float *dout, const int32_t *tokens, float scale, int64_t N,
                    int64_t C);
/* The token embedding's factor for config c: sqrt(d_model) with embed_scale, else 1. */
float embed_scale_of(const lext_config *c);

/* out = a + b, elementwise over n (out may alias a or b). */
void residual_forward(float *out, const float *a, const float *b, int64_t n);

/* Softmax cross-entropy over logits (N, V) against targets (N): losses (N) receives each
 * row's loss in nats, 0 where the target is < 0 (skipped). Returns the SUM over rows,
 * added in row order in double so that it is the same for any thread count; *count
 * receives the rows used. */
double xent_forward(float *losses, const float *logits, const int32_t *targets, int64_t N,
                    int64_t V, int64_t *count);
/* dlogits (N, V) += scale * (softmax(logits) - onehot(target)) for rows with a target. */
void xent_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t N,
                   int64_t V, float scale);

#endif
