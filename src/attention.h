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

/* ---- attention extensions (lext.h "Attention extensions"): the one rule ---------------
 * For query i of a sequence of T under mask: keys [0, ns) and [lo, i] are allowed (ns <= lo,
 * so the two never overlap), and key j < bhi is scored in map B: the query rotated (and
 * XPOS-scaled) as if at position qpos, key j as if at ext_kpos(e, j); other keys in map A,
 * their true positions. e NULL or none: ns = bhi = 0, the mask alone. */
typedef struct {
    int64_t lo, ns, bhi, qpos;
} ext_row;

ext_row ext_row_of(const lext_attn_ext *e, const lext_attn *mask, int64_t T, int64_t i);
int64_t ext_kpos(const lext_attn_ext *e, int64_t j);
/* Whether some key can be scored in map B (all but none and absolute sinks): the forward
 * then needs a second rotated copy of q and k. */
bool ext_has_map_b(const lext_attn_ext *e);

/* The operands of map B for the tiled forward: q at row i rotated to ext_row_of(i).qpos, k
 * at row j to ext_kpos(j), the layout of q and k (NULL when !ext_has_map_b). */
typedef struct {
    const lext_attn_ext *e;
    const float *q, *k; /* rows at the same ldqk as map A's */
} attn_ext_args;

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
    float *ktb;              /* transposed map-B keys (attention extensions), or NULL */
    float *vp, *qp, *kp, *dop; /* padded rows; kp, dop only with backward; qp = vp */
    int64_t max_tokens;
    size_t bytes; /* all of the above together */
} attn_scratch;

lext_status attn_scratch_init(attn_scratch *ws, int64_t hd, int64_t H, int64_t max_tokens,
                              bool backward);
/* Adds the transposed map-B keys an extension needs (once, at workspace creation). */
lext_status attn_scratch_add_ext(attn_scratch *ws, int64_t hd, int64_t H);
void attn_scratch_free(attn_scratch *ws);

/* out (B*T, H*hd), lse (B, H, T); slopes (H) or NULL; x NULL or an extension (its map-B
 * operands when it has a map B; the scratch then needs attn_scratch_add_ext). */
void attention_forward(float *out, float *lse, const float *q, const float *k, int64_t ldqk,
                       const float *v, int64_t ldv, const float *slopes, const lext_attn *mask,
                       const attn_ext_args *x, int64_t B, int64_t T, int64_t H, int64_t hd,
                       attn_scratch *ws);

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
                             const lext_attn *mask, const attn_ext_args *x, int64_t B, int64_t T,
                             int64_t H, int64_t hd);

/* Attention of n new queries over a kv cache (the decoder's path). Query t sits at
 * absolute position p = p0 + t and sees cached keys at positions [lext_attn_lo(mask, p+1,
 * p), p]; position j lives in cache row j mod cap. Keys and queries carry rotations but no
 * XPOS scale: decay (maxdist + 1, P) holds zeta_j^(delta/B) by distance (NULL: none), so
 *   logit = sum_j decay[p - j][j] (q_2j k_2j + q_2j+1 k_2j+1) / sqrt(hd) - m_h (p - j).
 * out (n, ldo) receives heads side by side; scratch holds cap floats per thread. */
/* With an extension (x non-NULL, x->e not none): qb (n, ldq) holds the queries in map B,
 * kcb the cache's keys in map B (same slots as kc; NULL: kc's), and the sinks' keys and
 * values sit in sk, sv (K rows of ldc, position s in row s; keys in map B when the sinks
 * use it, else as in kc); decay must cover every distance either map gives. scratch holds
 * cap + K floats per thread. */
typedef struct {
    const lext_attn_ext *e;
    const float *qb, *kcb, *sk, *sv;
} decode_ext_args;
void attention_decode(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t n,
                      int64_t p0, const float *kc, const float *vc, int64_t ldc, int64_t cap,
                      const float *slopes, const float *decay, const lext_attn *mask,
                      const decode_ext_args *x, int64_t H, int64_t hd, float *scratch,
                      int n_threads);

/* Adds layer l's pre-softmax scores by distance to s (see lext_scores): for every
 * allowed (i, j), s->sum[l][i - j] += q_i . k_j / sqrt(hd) - m_h (i - j). */
void scores_accumulate(lext_scores *s, int l, const float *q, const float *k, int64_t ldqk,
                       const float *slopes, const lext_attn *mask, const attn_ext_args *x,
                       int64_t B, int64_t T, int64_t H, int64_t hd);

#endif
