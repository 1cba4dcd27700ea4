/*
 * model.c - the parameter table, model lifetime and initialisation.
 *
 * One table, built by build_table(), lists every tensor with its name, shape, decay flag
 * and the two pointers (in params and in grads) it must be bound to. Allocation sums it,
 * the optimizer walks the flat arrays it implies, checkpoint I/O reads and writes it.
 */
#include "internal.h"
#include "model.h"

#include <math.h>
#include <string.h>

typedef struct {
    lext_model *m;
    int n;
    size_t name_bytes, numel;
} table_builder;

/* Adds one entry (or, with tb->m->table NULL, just counts it). */
static void add(table_builder *tb, float **w, float **g, bool decay, int64_t d0, int64_t d1,
                const char *fmt, int layer) {
    char name[128];
    snprintf(name, sizeof name, fmt, layer);
    lext_model *m = tb->m;
    if (m->table) {
        lext_param *p = &m->table[tb->n];
        p->name = m->names + tb->name_bytes;
        memcpy(m->names + tb->name_bytes, name, strlen(name) + 1);
        p->ndim = d1 > 0 ? 2 : 1;
        p->shape[0] = d0;
        p->shape[1] = d1 > 0 ? d1 : 0;
        p->numel = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
        p->decay = decay;
        p->data = m->params + tb->numel;
        p->grad = m->grads + tb->numel;
        *w = p->data;
        *g = p->grad;
    }
    tb->n++;
    tb->name_bytes += strlen(name) + 1;
    tb->numel += (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
}

/* The checkpoint layout of the core issue, in order. Run once to count, once to bind. */
static void build_table(table_builder *tb) {
    lext_model *m = tb->m;
    const lext_config *c = &m->cfg;
    const int64_t D = c->d_model, F = c->d_ff, V = c->vocab_size;
    model_tensors *w = &m->w, *g = &m->g;
    add(tb, &w->embed, &g->embed, true, V, D, "embed.weight", 0);
    if (c->pos == LEXT_POS_LEARNED)
        add(tb, &w->pos_embed, &g->pos_embed, true, c->train_len, D, "pos_embed.weight", 0);
    for (int l = 0; l < c->n_layer; l++) {
        layer_tensors *lw = &w->layer[l], *lg = &g->layer[l];
        add(tb, &lw->attn_norm_w, &lg->attn_norm_w, false, D, 0, "layers.%d.attn_norm.weight", l);
        add(tb, &lw->attn_norm_b, &lg->attn_norm_b, false, D, 0, "layers.%d.attn_norm.bias", l);
        add(tb, &lw->qkv_w, &lg->qkv_w, true, 3 * D, D, "layers.%d.attn.qkv.weight", l);
        add(tb, &lw->qkv_b, &lg->qkv_b, false, 3 * D, 0, "layers.%d.attn.qkv.bias", l);
        add(tb, &lw->out_w, &lg->out_w, true, D, D, "layers.%d.attn.out.weight", l);
        add(tb, &lw->out_b, &lg->out_b, false, D, 0, "layers.%d.attn.out.bias", l);
        add(tb, &lw->mlp_norm_w, &lg->mlp_norm_w, false, D, 0, "layers.%d.mlp_norm.weight", l);
        add(tb, &lw->mlp_norm_b, &lg->mlp_norm_b, false, D, 0, "layers.%d.mlp_norm.bias", l);
        add(tb, &lw->up_w, &lg->up_w, true, F, D, "layers.%d.mlp.up.weight", l);
        add(tb, &lw->up_b, &lg->up_b, false, F, 0, "layers.%d.mlp.up.bias", l);
        add(tb, &lw->down_w, &lg->down_w, true, D, F, "layers.%d.mlp.down.weight", l);
        add(tb, &lw->down_b, &lg->down_b, false, D, 0, "layers.%d.mlp.down.bias", l);
    }
    add(tb, &w->norm_w, &g->norm_w, false, D, 0, "norm.weight", 0);
    add(tb, &w->norm_b, &g->norm_b, false, D, 0, "norm.bias", 0);
    if (!c->tied) add(tb, &w->lm_head, &g->lm_head, true, V, D, "lm_head.weight", 0);
    else if (m->table) {
        w->lm_head = w->embed;
        g->lm_head = g->embed;
    }
}

lext_status lext_model_create(const lext_config *c, lext_model **out) {
    *out = NULL;
    LEXT_TRY(lext_config_validate(c));
    lext_model *m = calloc(1, sizeof *m);
    if (!m) return lext_fail(LEXT_ERR_NOMEM, "cannot allocate the model");
    m->cfg = *c;
    lext_rope_scaling_default(&m->rope_scaling);
    lext_attn_ext_default(&m->attn_ext);
    lext_status s = LEXT_OK;
    m->w.layer = calloc((size_t)c->n_layer, sizeof(layer_tensors));
    m->g.layer = calloc((size_t)c->n_layer, sizeof(layer_tensors));
    if (!m->w.layer || !m->g.layer) s = lext_fail(LEXT_ERR_NOMEM, "cannot allocate the model");
    table_builder builder = {.m = m}, *tb = &builder;
    if (!s) {
        build_table(tb); /* count */
        m->n_tensors = tb->n;
        m->num_params = tb->numel;
        s = lext_alloc((void **)&m->params, m->num_params * sizeof(float), "model parameters");
    }
    if (!s) s = lext_alloc((void **)&m->grads, m->num_params * sizeof(float), "model gradients");
    if (!s) s = lext_alloc((void **)&m->names, tb->name_bytes, "tensor names");
    if (!s) s = lext_alloc((void **)&m->table, (size_t)m->n_tensors * sizeof(lext_param),
                           "parameter table");
    if (!s) {
        *tb = (table_builder){.m = m};
        build_table(tb); /* bind */
        LEXT_ASSERT(tb->n == m->n_tensors && tb->numel == m->num_params);
    }
    if (!s && c->pos == LEXT_POS_ALIBI) {
        s = lext_alloc((void **)&m->alibi_slopes, (size_t)c->n_head * sizeof(float), "slopes");
        if (!s) alibi_slopes(m->alibi_slopes, c->n_head);
    }
    if (s) {
        lext_model_free(m);
        return s;
    }
    *out = m;
    return LEXT_OK;
}

void lext_model_free(lext_model *m) {
    if (!m) return;
    lext_free(m->params);
    lext_free(m->grads);
    lext_free(m->names);
    lext_free(m->table);
    lext_free(m->alibi_slopes);
    free(m->w.layer);
    free(m->g.layer);
    free(m);
}

const lext_config *lext_model_config(const lext_model *m) { return &m->cfg; }
int lext_model_num_tensors(const lext_model *m) { return m->n_tensors; }
const lext_param *lext_model_tensor(const lext_model *m, int i) {
    return i >= 0 && i < m->n_tensors ? &m->table[i] : NULL;
}
const lext_param *lext_model_find_tensor(const lext_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->table[i].name, name) == 0) return &m->table[i];
    return NULL;
}
size_t lext_model_num_params(const lext_model *m) { return m->num_params; }
float *lext_model_params(lext_model *m) { return m->params; }
float *lext_model_grads(lext_model *m) { return m->grads; }
void lext_model_zero_grad(lext_model *m) { memset(m->grads, 0, m->num_params * sizeof(float)); }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void lext_model_init(lext_model *m, uint64_t seed) {
    lext_rng rng;
    lext_rng_seed(&rng, seed);
    /* residual-stream output projections get 0.02 / sqrt(2L) (GPT-2) */
    const double resid_std = 0.02 / sqrt(2.0 * m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        lext_param *p = &m->table[i];
        if (p->ndim == 1) { /* norm gains 1, every bias and norm shift 0 */
            float v = ends_with(p->name, "norm.weight") ? 1.0f : 0.0f;
            for (size_t k = 0; k < p->numel; k++) p->data[k] = v;
            continue;
        }
        double std = ends_with(p->name, "attn.out.weight") || ends_with(p->name, "mlp.down.weight")
                         ? resid_std
                         : 0.02;
        for (size_t k = 0; k < p->numel; k++) p->data[k] = (float)(std * lext_rng_normal(&rng));
    }
}
