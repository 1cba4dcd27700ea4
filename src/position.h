/*
 * position.h - the six position schemes behind one dispatch point.
 *
 * Each scheme acts through at most one of three hooks, chosen by pos_hooks_of() (the only
 * switch on lext_pos_kind in the model code):
 *
 *   1. embedding add (sinusoidal, learned): x (B, T, D) += PE[t] after the token lookup
 *   2. q/k transform (rope, xpos): q' = s_q(t) R(t) q, k' = s_k(t) R(t) k per head
 *   3. score bias (alibi): logit(i, j) += -m_h (i - j), added after the 1/sqrt(hd) scaling
 *
 * none uses no hook (the causal mask alone carries order).
 *
 * Rotary layout (interleaved pairs, "GPT-J" style, as the LeX reference code): within head
 * h, pair j is components (h*hd + 2j, h*hd + 2j + 1), j = 0..P-1, P = hd/2:
 *
 *     head dims:  [ x0 x1 | x2 x3 | ... | x(hd-2) x(hd-1) ]
 *     pair:          j=0     j=1            j=P-1
 *     x'[2j]   = s (x[2j] cos(t theta_j) - x[2j+1] sin(t theta_j))
 *     x'[2j+1] = s (x[2j+1] cos(t theta_j) + x[2j] sin(t theta_j))
 *
 * theta_j = base^(-2j/hd). XPOS (LeX Eq. 5-10, Algorithm 1): zeta_j = (2j + gamma hd) /
 * ((1 + gamma) hd), s = zeta_j^((t - c)/B) for queries and zeta_j^(-(t - c)/B) for keys,
 * with the centre c = ceil(T/2) (torchscale's choice; any c gives the same logits since
 * q'.k' depends on m - n only, c just keeps the factors in float range). RoPE is XPOS
 * with zeta = 1. Angles and powers are computed in double, then stored as float.
 */
#ifndef LEXT_POSITION_H
#define LEXT_POSITION_H

#include "lext.h"

typedef struct {
    bool embed_add; /* hook 1 */
    bool rotary;    /* hook 2 */
    bool xpos;      /* hook 2 with decay */
    bool alibi;     /* hook 3 */
} pos_hooks;

pos_hooks pos_hooks_of(lext_pos_kind k);

/* ---- hook 1: absolute embeddings ---------------------------------------------------- */

/* Sinusoidal table rows [pos0, pos0 + n): tab (n, D), PE[t, 2i] = sin(t / 10000^(2i/D)),
 * PE[t, 2i+1] = cos(t / 10000^(2i/D)); an odd D leaves the last column sin only. */
void sinusoidal_table(float *tab, int64_t pos0, int64_t n, int64_t D);

/* x (B, T, D) += table (T, D) row t for every batch row. Serves sinusoidal (table from
 * sinusoidal_table) and learned (table = the pos_embed parameter). */
void pos_add_forward(float *x, const float *table, int64_t B, int64_t T, int64_t D);
/* dtable (T, D) += sum over b of dx (B, T, D): the learned table's gradient. */
void pos_add_backward(float *dtable, const float *dx, int64_t B, int64_t T, int64_t D);

/* ---- hook 2: rotary (rope, xpos) ------------------------------------------------------ */

/* Context extension (pe_scaling.c; the methods in lext.h): for the row at position pos of
 * a sequence of T tokens, omega (P) receives the angle per position, so the row's angles are
 * pos omega_j (theta_j unscaled: omega_j = theta_j); the result carries the factor s, the
 * factor on cos and sin (yarn's attention factor, else 1) and XPOS's decay base. r NULL:
 * none. Only dynamic-ntk depends on pos (rope_scaling_per_row). */
typedef struct {
    double s, mscale, decay_base;
} rope_params;

rope_params rope_params_at(const lext_config *c, const lext_rope_scaling *r, int64_t T,
                           int64_t pos, double *omega);
bool rope_scaling_per_row(const lext_rope_scaling *r);

/* Per-position factors for rows [pos0, pos0 + n), each (n, P):
 * mscale cos/sin of the row's angles; qs = s_q, ks = s_k (NULL for rope: all ones). */
typedef struct {
    int64_t cap, n, pos0, centre, seq_len;
    int P;
    bool xpos;
    lext_rope_scaling rs; /* what the filled rows were computed with */
    float *cos, *sin, *qs, *ks;
    double *omega; /* (P) scratch of the fill */
} rotary_table;

lext_status rotary_table_init(rotary_table *t, const lext_config *c, int64_t cap);
void rotary_table_free(rotary_table *t);
/* Fills rows for positions pos0 .. pos0+n-1 (n <= cap) with scale centre `centre`, under
 * scaling r (NULL: none) for a sequence of seq_len tokens (what an auto factor resolves
 * against). Refills only when one of them changed. */
void rotary_table_fill(rotary_table *t, const lext_config *c, const lext_rope_scaling *r,
                       int64_t pos0, int64_t n, int64_t centre, int64_t seq_len);
/* Fills row r with position at[r] (r < n): the map-B positions of attention extensions. */
void rotary_table_fill_at(rotary_table *t, const lext_config *c, const lext_rope_scaling *r,
                          const int64_t *at, int64_t n, int64_t centre, int64_t seq_len);
/* The torchscale centre for a key length T: ceil(T/2). */
static inline int64_t rotary_centre(int64_t T) { return (T + 1) / 2; }

/* Transforms q and k of every head. Rows are n = b*T + t, position t -> table row t.
 *   out (B*T, ldo): q' at columns [0, D), k' at [D, 2D)
 *   inp (B*T, ldi): q at [0, D), k at [D, 2D) (the qkv projection's output, ldi = 3D) */
void rotary_forward(float *out, int64_t ldo, const float *inp, int64_t ldi,
                    const rotary_table *tab, int64_t B, int64_t T, int64_t D, int64_t H);
/* The same with q's factors from tq and k's from tk (row t each). */
void rotary_forward_qk(float *out, int64_t ldo, const float *inp, int64_t ldi,
                       const rotary_table *tq, const rotary_table *tk, int64_t B, int64_t T,
                       int64_t D, int64_t H);
/* dinp += R^T s dout, the transpose of the forward (layout as above). */
void rotary_backward(float *dinp, int64_t lddi, const float *dout, int64_t lddo,
                     const rotary_table *tab, int64_t B, int64_t T, int64_t D, int64_t H);

/* ---- hook 3: alibi ------------------------------------------------------------------------ */

/* ALiBi slopes for H heads (Press et al.): m_h = 2^(-8 h / H), h = 1..H, when H is a
 * power of two; otherwise the slopes of the nearest lower power of two n, then every
 * other slope of 2n, as in the reference implementation. */
void alibi_slopes(float *slopes, int H);

#endif
