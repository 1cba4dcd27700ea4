/* pe_rotary.c - RoPE and XPOS (LeX section 3.1-3.2, Eq. 5-10, Algorithm 1): the q/k
 * transform of hook 2. RoPE is the zeta = 1 case, so both share one code path and differ
 * only in whether the table carries scale factors. */
#include "internal.h"
#include "position.h"

#include <math.h>

lext_status rotary_table_init(rotary_table *t, const lext_config *c, int64_t cap) {
    *t = (rotary_table){0};
    pos_hooks h = pos_hooks_of(c->pos);
    LEXT_ASSERT(h.rotary);
    int64_t hd = c->d_model / c->n_head;
    t->P = (int)(hd / 2);
    t->cap = cap;
    t->xpos = h.xpos;
    t->n = -1; /* nothing filled yet */
    size_t bytes = (size_t)cap * (size_t)t->P * sizeof(float);
    lext_status s = lext_alloc((void **)&t->cos, bytes, "rotary cos table");
    if (!s) s = lext_alloc((void **)&t->sin, bytes, "rotary sin table");
    if (!s && t->xpos) s = lext_alloc((void **)&t->qs, bytes, "xpos query scales");
    if (!s && t->xpos) s = lext_alloc((void **)&t->ks, bytes, "xpos key scales");
    if (!s) s = lext_alloc((void **)&t->omega, (size_t)t->P * sizeof(double), "rotary frequencies");
    if (s) rotary_table_free(t);
    return s;
}

void rotary_table_free(rotary_table *t) {
    lext_free(t->cos);
    lext_free(t->sin);
    lext_free(t->qs);
    lext_free(t->ks);
    lext_free(t->omega);
    *t = (rotary_table){0};
}

static bool same_scaling(const lext_rope_scaling *a, const lext_rope_scaling *b) {
    return a->kind == b->kind && a->factor == b->factor && a->beta_fast == b->beta_fast &&
           a->beta_slow == b->beta_slow && a->xpos_decay_scaled == b->xpos_decay_scaled;
}

/* Rows r0 .. r0+n-1 at positions pos0 + r (or at[r] when at is not NULL) with frequencies
 * omega (P) and the factors of rp. */
static void fill_rows(rotary_table *t, const lext_config *c, int64_t pos0, const int64_t *at,
                      int64_t r0, int64_t n, int64_t centre, const double *omega, rope_params rp) {
    const int P = t->P;
    const double hd = 2.0 * P;
    const double gamma = c->xpos_gamma;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int64_t r = r0; r < r0 + n; r++) {
        double pos = (double)(at ? at[r] : pos0 + r);
        for (int j = 0; j < P; j++) {
            double a = pos * omega[j];
            t->cos[r * P + j] = (float)(rp.mscale * cos(a));
            t->sin[r * P + j] = (float)(rp.mscale * sin(a));
            if (t->xpos) {
                /* zeta_j = (2j + gamma hd) / ((1 + gamma) hd); the exponent uses the
                 * centred position (t - c) / B, never t - c / B (a known NaN bug) */
                double zeta = (2.0 * j + gamma * hd) / ((1.0 + gamma) * hd);
                double e = (pos - (double)centre) / rp.decay_base;
                t->qs[r * P + j] = (float)pow(zeta, e);
                t->ks[r * P + j] = (float)pow(zeta, -e);
            }
        }
    }
}

/* The scaling r (NULL: none) with what its auto factor resolves against: seq_len, or 0
 * when a given factor or the method makes it irrelevant. */
static lext_rope_scaling resolved(const lext_rope_scaling *r, int64_t *seq_len) {
    lext_rope_scaling rs;
    if (r) rs = *r;
    else lext_rope_scaling_default(&rs);
    if (rs.factor != 0 || rs.kind == LEXT_ROPE_SCALING_NONE || rs.kind == LEXT_ROPE_SCALING_DYNAMIC_NTK)
        *seq_len = 0;
    return rs;
}

/* Rows 0..n-1 at positions pos0 + k (at NULL) or at[k]: dynamic-ntk's frequencies row by
 * row (each position's own), the others' once. */
static void fill_positions(rotary_table *t, const lext_config *c, const lext_rope_scaling *rs,
                           int64_t pos0, const int64_t *at, int64_t n, int64_t centre, int64_t seq_len) {
    if (rope_scaling_per_row(rs)) {
        for (int64_t k = 0; k < n; k++) {
            rope_params rp = rope_params_at(c, rs, seq_len, at ? at[k] : pos0 + k, t->omega);
            fill_rows(t, c, pos0, at, k, 1, centre, t->omega, rp);
        }
    } else {
        rope_params rp = rope_params_at(c, rs, seq_len, at ? 0 : pos0, t->omega);
        fill_rows(t, c, pos0, at, 0, n, centre, t->omega, rp);
    }
}

void rotary_table_fill(rotary_table *t, const lext_config *c, const lext_rope_scaling *r,
                       int64_t pos0, int64_t n, int64_t centre, int64_t seq_len) {
    LEXT_ASSERT(n <= t->cap);
    const lext_rope_scaling rs = resolved(r, &seq_len);
    if (t->n == n && t->pos0 == pos0 && t->centre == centre && t->seq_len == seq_len &&
        same_scaling(&t->rs, &rs))
        return; /* already there */
    fill_positions(t, c, &rs, pos0, NULL, n, centre, seq_len);
    t->n = n;
    t->pos0 = pos0;
    t->centre = centre;
    t->seq_len = seq_len;
    t->rs = rs;
}

void rotary_table_fill_at(rotary_table *t, const lext_config *c, const lext_rope_scaling *r,
                          const int64_t *at, int64_t n, int64_t centre, int64_t seq_len) {
    LEXT_ASSERT(n <= t->cap);
    const lext_rope_scaling rs = resolved(r, &seq_len);
    fill_positions(t, c, &rs, 0, at, n, centre, seq_len);
    t->n = -1; /* not a run of positions: the next rotary_table_fill refills */
}

/* One vector of hd = 2P components: y = s R x (s = NULL means 1). */
static inline void rotate(float *y, const float *x, const float *cs, const float *sn,
                          const float *s, int P) {
    for (int j = 0; j < P; j++) {
        float x0 = x[2 * j], x1 = x[2 * j + 1];
        float y0 = x0 * cs[j] - x1 * sn[j];
        float y1 = x1 * cs[j] + x0 * sn[j];
        float f = s ? s[j] : 1.0f;
        y[2 * j] = f * y0;
        y[2 * j + 1] = f * y1;
    }
}

/* The transpose: dx += R^T (s dy), R^T = rotation by -angle. */
static inline void rotate_t(float *dx, const float *dy, const float *cs, const float *sn,
                            const float *s, int P) {
    for (int j = 0; j < P; j++) {
        float f = s ? s[j] : 1.0f;
        float g0 = f * dy[2 * j], g1 = f * dy[2 * j + 1];
        dx[2 * j] += g0 * cs[j] + g1 * sn[j];
        dx[2 * j + 1] += g1 * cs[j] - g0 * sn[j];
    }
}

void rotary_forward(float *out, int64_t ldo, const float *inp, int64_t ldi,
                    const rotary_table *tab, int64_t B, int64_t T, int64_t D, int64_t H) {
    rotary_forward_qk(out, ldo, inp, ldi, tab, tab, B, T, D, H);
}

void rotary_forward_qk(float *out, int64_t ldo, const float *inp, int64_t ldi,
                       const rotary_table *tq, const rotary_table *tk, int64_t B, int64_t T,
                       int64_t D, int64_t H) {
    const int P = tq->P;
    const int64_t hd = 2 * P;
    LEXT_ASSERT((tq->n >= T || tq->n == -1) && (tk->n >= T || tk->n == -1) && hd * H == D);
#pragma omp parallel for schedule(static) if (B * T > 1)
    for (int64_t n = 0; n < B * T; n++) {
        int64_t t = n % T;
        const float *qs = tq->xpos ? tq->qs + t * P : NULL;
        const float *ks = tk->xpos ? tk->ks + t * P : NULL;
        for (int64_t h = 0; h < H; h++) {
            rotate(out + n * ldo + h * hd, inp + n * ldi + h * hd, tq->cos + t * P, tq->sin + t * P, qs, P);
            rotate(out + n * ldo + D + h * hd, inp + n * ldi + D + h * hd, tk->cos + t * P,
                   tk->sin + t * P, ks, P);
        }
    }
}

void rotary_backward(float *dinp, int64_t lddi, const float *dout, int64_t lddo,
                     const rotary_table *tab, int64_t B, int64_t T, int64_t D, int64_t H) {
    const int P = tab->P;
    const int64_t hd = 2 * P;
    LEXT_ASSERT(tab->n >= T && hd * H == D);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < B * T; n++) {
        int64_t t = n % T;
        const float *cs = tab->cos + t * P, *sn = tab->sin + t * P;
        const float *qs = tab->xpos ? tab->qs + t * P : NULL;
        const float *ks = tab->xpos ? tab->ks + t * P : NULL;
        for (int64_t h = 0; h < H; h++) {
            rotate_t(dinp + n * lddi + h * hd, dout + n * lddo + h * hd, cs, sn, qs, P);
            rotate_t(dinp + n * lddi + D + h * hd, dout + n * lddo + D + h * hd, cs, sn, ks, P);
        }
    }
}
