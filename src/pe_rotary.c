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
    if (s) rotary_table_free(t);
    return s;
}

void rotary_table_free(rotary_table *t) {
    lext_free(t->cos);
    lext_free(t->sin);
    lext_free(t->qs);
    lext_free(t->ks);
    *t = (rotary_table){0};
}

void rotary_table_fill(rotary_table *t, const lext_config *c, int64_t pos0, int64_t n,
                       int64_t centre) {
    LEXT_ASSERT(n <= t->cap);
    if (t->n == n && t->pos0 == pos0 && t->centre == centre) return; /* already there */
    const int P = t->P;
    const double hd = 2.0 * P;
    const double gamma = c->xpos_gamma, base = c->xpos_scale_base;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int64_t r = 0; r < n; r++) {
        double pos = (double)(pos0 + r);
        for (int j = 0; j < P; j++) {
            double theta = pow(c->rope_base, -2.0 * j / hd); /* theta_j = base^(-2j/hd) */
            double a = pos * theta;
            t->cos[r * P + j] = (float)cos(a);
            t->sin[r * P + j] = (float)sin(a);
            if (t->xpos) {
                /* zeta_j = (2j + gamma hd) / ((1 + gamma) hd); the exponent uses the
                 * centred position (t - c) / B, never t - c / B (a known NaN bug) */
                double zeta = (2.0 * j + gamma * hd) / ((1.0 + gamma) * hd);
                double e = (pos - (double)centre) / base;
                t->qs[r * P + j] = (float)pow(zeta, e);
                t->ks[r * P + j] = (float)pow(zeta, -e);
            }
        }
    }
    t->n = n;
    t->pos0 = pos0;
    t->centre = centre;
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
    const int P = tab->P;
    const int64_t hd = 2 * P;
    LEXT_ASSERT(tab->n >= T && hd * H == D);
#pragma omp parallel for schedule(static) if (B * T > 1)
    for (int64_t n = 0; n < B * T; n++) {
        int64_t t = n % T;
        const float *cs = tab->cos + t * P, *sn = tab->sin + t * P;
        const float *qs = tab->xpos ? tab->qs + t * P : NULL;
        const float *ks = tab->xpos ? tab->ks + t * P : NULL;
        for (int64_t h = 0; h < H; h++) {
            rotate(out + n * ldo + h * hd, inp + n * ldi + h * hd, cs, sn, qs, P);
            rotate(out + n * ldo + D + h * hd, inp + n * ldi + D + h * hd, cs, sn, ks, P);
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
