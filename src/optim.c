/*
 * optim.c - AdamW (Loshchilov & Hutter) with the conventions of torch.optim.AdamW:
 *   p <- p (1 - lr wd)                         (decoupled decay, tensors with decay only)
 *   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),   t = step + 1
 * preceded by global-norm clipping as torch.nn.utils.clip_grad_norm_
 * (g <- g * min(1, clip / (||g|| + 1e-6))), with a linear warm-up then cosine decay.
 */
#include "internal.h"
#include "model.h"

#include <math.h>

struct lext_optim {
    lext_optim_config cfg;
    size_t n;
    float *m, *v; /* (num_params) each, parameter-table order */
};

void lext_optim_config_default(lext_optim_config *c, int64_t total_steps) {
    c->lr = 3e-4;
    c->min_lr_ratio = 0.1;
    c->total_steps = total_steps;
    c->warmup = total_steps / 10 < 100 ? total_steps / 10 : 100;
    c->beta1 = 0.9;
    c->beta2 = 0.98;
    c->eps = 1e-6;
    c->weight_decay = 0.01;
    c->grad_clip = 1.0;
}

lext_status lext_optim_create(const lext_model *m, const lext_optim_config *c, lext_optim **out) {
    return optim_create_n(m, c, m->num_params, out);
}

lext_status optim_create_n(const lext_model *m, const lext_optim_config *c, size_t n, lext_optim **out) {
    (void)m;
    *out = NULL;
    if (!(c->lr > 0) || !isfinite(c->lr))
        return lext_fail(LEXT_ERR_CONFIG, "learning rate must be > 0, got %g", c->lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return lext_fail(LEXT_ERR_CONFIG, "Adam betas must be in [0, 1), got %g, %g", c->beta1,
                         c->beta2);
    if (!(c->eps > 0)) return lext_fail(LEXT_ERR_CONFIG, "Adam eps must be > 0, got %g", c->eps);
    if (!(c->weight_decay >= 0) || !(c->grad_clip >= 0) || !(c->min_lr_ratio >= 0) ||
        !(c->min_lr_ratio <= 1))
        return lext_fail(LEXT_ERR_CONFIG,
                         "weight decay and clipping must be >= 0, min lr ratio in [0, 1]");
    if (c->total_steps < 1 || c->warmup < 0)
        return lext_fail(LEXT_ERR_CONFIG, "steps must be >= 1 and warm-up >= 0");
    lext_optim *o = calloc(1, sizeof *o);
    if (!o) return lext_fail(LEXT_ERR_NOMEM, "cannot allocate the optimizer");
    o->cfg = *c;
    o->n = n;
    lext_status s = lext_alloc((void **)&o->m, (o->n ? o->n : 1) * sizeof(float), "Adam first moments");
    if (!s) s = lext_alloc((void **)&o->v, (o->n ? o->n : 1) * sizeof(float), "Adam second moments");
    if (s) {
        lext_optim_free(o);
        return s;
    }
    *out = o;
    return LEXT_OK;
}

void lext_optim_free(lext_optim *o) {
    if (!o) return;
    lext_free(o->m);
    lext_free(o->v);
    free(o);
}

float *lext_optim_m(lext_optim *o) { return o->m; }
float *lext_optim_v(lext_optim *o) { return o->v; }
const lext_optim_config *lext_optim_get_config(const lext_optim *o) { return &o->cfg; }

double lext_optim_lr(const lext_optim_config *c, int64_t step) {
    if (step < c->warmup) return c->lr * (double)(step + 1) / (double)c->warmup;
    int64_t span = c->total_steps - c->warmup;
    double progress = span > 0 ? (double)(step - c->warmup) / (double)span : 1.0;
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + cos(M_PI * progress));
    return c->lr * (c->min_lr_ratio + (1.0 - c->min_lr_ratio) * cosine);
}

/* The squared gradient norm in OPTIM_NORM_CHUNKS fixed chunks of the flat vector (chunk ch
 * = [n ch / CHUNKS, n (ch+1) / CHUNKS)), for chunks [c0, c1): summed in parallel, each chunk
 * in order, so that the norm (the chunk sums added in order) depends neither on the thread
 * count nor, with ranks that own whole chunks, on the number of ranks. */
void optim_norm_parts(const lext_model *m, int c0, int c1, double *part) {
    const size_t n_all = m->num_params;
#pragma omp parallel for schedule(static)
    for (int ch = c0; ch < c1; ch++) {
        size_t k0 = n_all * (size_t)ch / OPTIM_NORM_CHUNKS, k1 = n_all * (size_t)(ch + 1) / OPTIM_NORM_CHUNKS;
        double s = 0.0;
        for (size_t k = k0; k < k1; k++) s += (double)m->grads[k] * (double)m->grads[k];
        part[ch] = s;
    }
}

lext_status optim_clip_of(const lext_optim_config *c, const double *part, int64_t step,
                          float *clip, float *grad_norm) {
    double sq = 0.0;
    for (int ch = 0; ch < OPTIM_NORM_CHUNKS; ch++) sq += part[ch];
    double norm = sqrt(sq);
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm))
        return lext_fail(LEXT_ERR_NUMERIC, "the gradient norm is not finite (%g) at step %lld",
                         norm, (long long)step);
    *clip = 1.0f;
    if (c->grad_clip > 0 && norm > 0) {
        double coef = c->grad_clip / (norm + 1e-6);
        if (coef < 1.0) *clip = (float)coef;
    }
    return LEXT_OK;
}

void optim_update_range(const lext_optim_config *c, lext_model *m, int64_t step, float clip,
                        float *mm_all, float *vv_all, size_t lo, size_t hi) {
    const double lr = lext_optim_lr(c, step), t = (double)(step + 1);
    const float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    const float step_size = (float)(lr / (1.0 - pow(c->beta1, t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, t));
    for (int i = 0; i < m->n_tensors; i++) {
        const lext_param *p = &m->table[i];
        const size_t off = (size_t)(p->data - m->params);
        /* the tensor's part inside [lo, hi) */
        const size_t a = off > lo ? off : lo, b = off + p->numel < hi ? off + p->numel : hi;
        if (a >= b) continue;
        float *mm = mm_all + (a - lo), *vv = vv_all + (a - lo), *w = m->params + a;
        const float *gr = m->grads + a;
        const float decay = p->decay ? (float)(1.0 - lr * c->weight_decay) : 1.0f;
        const size_t n = b - a;
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < n; k++) {
            float gk = gr[k] * clip;
            float mk = b1 * mm[k] + (1.0f - b1) * gk;
            float vk = b2 * vv[k] + (1.0f - b2) * gk * gk;
            mm[k] = mk;
            vv[k] = vk;
            w[k] = w[k] * decay - step_size * mk / (sqrtf(vk) / bc2_sqrt + eps);
        }
    }
}

lext_status lext_optim_step(lext_optim *o, lext_model *m, int64_t step, float *grad_norm) {
    LEXT_ASSERT(o->n == m->num_params);
    double part[OPTIM_NORM_CHUNKS];
    optim_norm_parts(m, 0, OPTIM_NORM_CHUNKS, part);
    float clip = 1.0f;
    LEXT_TRY(optim_clip_of(&o->cfg, part, step, &clip, grad_norm));
    optim_update_range(&o->cfg, m, step, clip, o->m, o->v, 0, m->num_params);
    return LEXT_OK;
}
