/*
 * attention.h - multi-head scaled dot-product attention under the three masks, computed in
 * tiles with an online softmax (never a T x T matrix), plus a naive oracle.
 *
 * Layout: rows are n = b*T + t. Head h reads columns [h*hd, (h+1)*hd) of q, k and v, each
 * with its own row stride (q and k share ldqk: they sit side by side either in the qkv
 * projection, ld = 3D, or in the rotated buffer, ld = 2D; v has ldv). The output is
 * (B*T, D) with the same head columns, ready for the output projection.
 *
 *   logit(i, j) = q_i . k_j / sqrt(hd)  - m_h (i - j)   [alibi only]
 *   keys j in [lext_attn_lo(mask, T, i), i] only (the one mask rule of lext.h)
 *   out_i = sum_j softmax_j(logit(i, .)) v_j,  lse_i = log sum_j exp(logit(i, j))
 *
 * The backward recomputes the probabilities tile by tile from lse (FlashAttention-2
 * style): P = exp(logit - lse), dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO o O)),
 * dQ += dS K / sqrt(hd), dK += dS^T Q / sqrt(hd). It accumulates into dq, dk, dv.
 */
#ifndef LEXT_ATTENTION_H
#define LEXT_ATTENTION_H

#include "lext.h"

/* Scratch sized once: per-thread tiles for head dimension hd, and the operands of the tile
 * products staged per (batch, head) for up to max_tokens rows: keys and values transposed
 * (B, H, hd, ~T) so that each tile reads K^T and V^T as rows instead of transposing them
 * again, and rows of v (and for the backward q, k, dout) copied to (B, H, T, hdp) with a
 * padded row stride. Both paddings keep the rows a kernel streams through from falling
 * into a few L1 sets (see attention.c). */
typedef struct {
    float *buf;
    size_t per_thread; /* floats */
    int n_threads;
    float *kt, *vt;          /* transposed keys, values; vt only with backward */
    float *vp, *qp, *kp, *dop; /* padded rows; kp, dop only with backward; qp = vp */
    int64_t max_tokens;
    size_t bytes; /* all of the above together */
} attn_scratch;

lext_status attn_scratch_init(attn_scratch *ws, int64_t hd, int64_t H, int64_t max_tokens,
                              bool backward);
void attn_scratch_free(attn_scratch *ws);

/* out (B*T, H*hd), lse (B, H, T); slopes (H) or NULL. */
void attention_forward(float *out, float *lse, const float *q, const float *k, int64_t ldqk,
                       const float *v, int64_t ldv, const float *slopes, const lext_attn *mask,
                       int64_t B, int64_t T, int64_t H, int64_t hd, attn_scratch *ws);

/* dq, dk (rows at lddqk), dv (rows at lddv) += gradients of the forward above, given
 * dout (B*T, H*hd) and the forward's out and lse. */
void attention_backward(float *dq, float *dk, int64_t lddqk, float *dv, int64_t lddv,
                        const float *dout, const float *out, const float *lse, const float *q,
                        const float *k, int64_t ldqk, const float *v, int64_t ldv,
                        const float *slopes, const lext_attn *mask, int64_t B, int64_t T,
                        int64_t H, int64_t hd, attn_scratch *ws);

/* The oracle: builds each head's full T x T score matrix from the mask predicate
 * (j allowed iff lo(i) <= j <= i), in double. Same arguments as attention_forward. */
void attention_forward_naive(float *out, float *lse, const float *q, const float *k,
                             int64_t ldqk, const float *v, int64_t ldv, const float *slopes,
                             const lext_attn *mask, int64_t B, int64_t T, int64_t H, int64_t hd);

/* Attention of n new queries over a kv cache (the decoder's path). Query t sits at
 * absolute position p = p0 + t and sees cached keys at positions [lext_attn_lo(mask, p+1,
 * p), p]; position j lives in cache row j mod cap. Keys and queries carry rotations but no
 * XPOS scale: decay (maxdist + 1, P) holds zeta_j^(delta/B) by distance (NULL: none), so
 *   logit = sum_j decay[p - j][j] (q_2j k_2j + q_2j+1 k_2j+1) / sqrt(hd) - m_h (p - j).
 * out (n, ldo) receives heads side by side; scratch holds cap floats per thread. */
void attention_decode(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t n,
                      int64_t p0, const float *kc, const float *vc, int64_t ldc, int64_t cap,
                      const float *slopes, const float *decay, const lext_attn *mask, int64_t H,
                      int64_t hd, float *scratch, int n_threads);

/* Adds layer l's pre-softmax scores by distance to s (see lext_scores): for every
 * allowed (i, j), s->sum[l][i - j] += q_i . k_j / sqrt(hd) - m_h (i - j). */
void scores_accumulate(lext_scores *s, int l, const float *q, const float *k, int64_t ldqk,
                       const float *slopes, const lext_attn *mask, int64_t B, int64_t T,
                       int64_t H, int64_t hd);

#endif
