/*
 * decode.c - incremental decoding over a kv cache (see lext_decoder in lext.h) and
 * sampling. The per-token path reuses the training kernels (layernorm, linear, GELU, the
 * rotary transform, the mask rule); only attention has its own cache-reading loop.
 */
#include "internal.h"
#include "model.h"
#include "ops.h"

#include <math.h>
#include <string.h>

struct lext_decoder {
    const lext_model *m;
    lext_attn attn;  /* causal or window (bca is the window of its block) */
    int64_t cap;     /* cache rows per layer */
    int64_t chunk;   /* tokens per pass */
    int64_t pos;     /* tokens seen */
    float *k, *v;    /* (L, cap, D) each */
    float *decay;    /* (maxdist + 1, P), xpos only */
    rotary_table rot; /* cos/sin of the chunk's absolute positions (no scales) */
    lext_rope_scaling rs; /* the model's context extension when the decoder was created */
    lext_attn_ext ext;    /* and its attention extension */
    bool map_b;           /* ext_has_map_b(&ext) */
    float *kcb;           /* (L, cap, D) keys in map B (self-extend, rerope), or NULL */
    float *sk, *sv;       /* (L, K, D) the sinks' keys (map B when it has one) and values */
    float *qkb;           /* (chunk, 3D) the chunk's q and k rotated to map B */
    rotary_table rotqb, rotkb;
    int64_t *posb;        /* (2, chunk) map-B positions of the chunk's queries and keys */
    int64_t seq_len;      /* what an auto factor resolves against: the max context */
    /* pass workspace, chunk rows */
    float *x, *ln, *mean, *rstd, *qkv, *att, *tmp, *mid, *fc, *fc_act, *pe, *logits;
    float *scratch; /* (threads, cap) */
    int n_threads;
    size_t bytes;
};

static lext_status grab(lext_decoder *d, float **p, size_t n, const char *what) {
    d->bytes += n * sizeof(float);
    return lext_alloc((void **)p, n * sizeof(float), what);
}

lext_status lext_decoder_create(const lext_model *m, const lext_attn *attn, int64_t max_context,
                                int64_t chunk, lext_decoder **out) {
    *out = NULL;
    const lext_config *c = &m->cfg;
    LEXT_TRY(lext_attn_validate(attn));
    lext_attn a = *attn;
    if (a.mode == LEXT_ATTN_BCA) a = (lext_attn){LEXT_ATTN_WINDOW, a.block, a.block};
    if (chunk < 1) return lext_fail(LEXT_ERR_ARG, "decoder chunk must be >= 1");
    int64_t cap;
    if (a.mode == LEXT_ATTN_CAUSAL) {
        if (max_context < 1)
            return lext_fail(LEXT_ERR_ARG, "causal decoding needs a max context >= 1, got %lld",
                             (long long)max_context);
        cap = max_context;
        if (chunk > cap) chunk = cap;
    } else {
        cap = a.window + chunk - 1; /* a chunk's first query still sees W keys back */
    }
    if (cap > ((int64_t)1 << 31) / c->d_model)
        return lext_fail(LEXT_ERR_ARG, "a cache of %lld tokens is too large", (long long)cap);
    const lext_rope_scaling rs = m->rope_scaling;
    const bool auto_static = rs.factor == 0 && rs.kind != LEXT_ROPE_SCALING_NONE &&
                             rs.kind != LEXT_ROPE_SCALING_DYNAMIC_NTK;
    if (auto_static && a.mode != LEXT_ATTN_CAUSAL)
        return lext_fail(LEXT_ERR_ARG,
                         "rope scaling '%s' with an auto factor resolves against the sequence "
                         "length, which a %s decoder does not bound; give the factor",
                         lext_rope_scaling_name(rs.kind), lext_attn_name(attn->mode));
    LEXT_TRY(lext_attn_ext_validate(&m->attn_ext, c, attn));
    lext_decoder *d = calloc(1, sizeof *d);
    if (!d) return lext_fail(LEXT_ERR_NOMEM, "cannot allocate a decoder");
    d->m = m;
    d->rs = rs;
    d->ext = m->attn_ext;
    d->map_b = ext_has_map_b(&d->ext);
    d->seq_len = a.mode == LEXT_ATTN_CAUSAL ? max_context : 0;
    d->attn = a;
    d->cap = cap;
    d->chunk = chunk;
    d->n_threads = lext_num_threads();
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, L = (size_t)c->n_layer,
                 n = (size_t)chunk, P = D / (size_t)c->n_head / 2;
    lext_status s = grab(d, &d->k, L * (size_t)cap * D, "key cache");
    if (!s) s = grab(d, &d->v, L * (size_t)cap * D, "value cache");
    if (!s) s = grab(d, &d->x, n * D, "decoder activations");
    if (!s) s = grab(d, &d->ln, n * D, "decoder activations");
    if (!s) s = grab(d, &d->mean, n, "decoder activations");
    if (!s) s = grab(d, &d->rstd, n, "decoder activations");
    if (!s) s = grab(d, &d->qkv, n * 3 * D, "decoder activations");
    if (!s) s = grab(d, &d->att, n * D, "decoder activations");
    if (!s) s = grab(d, &d->tmp, n * D, "decoder activations");
    if (!s) s = grab(d, &d->mid, n * D, "decoder activations");
    if (!s) s = grab(d, &d->fc, n * F, "decoder activations");
    if (!s) s = grab(d, &d->fc_act, n * F, "decoder activations");
    if (!s) s = grab(d, &d->pe, n * D, "decoder activations");
    if (!s) s = grab(d, &d->logits, (size_t)c->vocab_size, "decoder logits");
    const int64_t K = d->ext.kind == LEXT_EXT_SINKS ? d->ext.sinks : 0;
    if (!s) s = grab(d, &d->scratch, (size_t)d->n_threads * (size_t)(cap + K), "decoder scores");
    if (!s && K) s = grab(d, &d->sk, L * (size_t)K * D, "sink keys");
    if (!s && K) s = grab(d, &d->sv, L * (size_t)K * D, "sink values");
    if (!s && d->map_b && d->ext.kind != LEXT_EXT_SINKS) s = grab(d, &d->kcb, L * (size_t)cap * D, "map-B key cache");
    if (!s && d->map_b) s = grab(d, &d->qkb, n * 3 * D, "map-B q and k");
    if (!s && d->map_b) {
        s = lext_alloc((void **)&d->posb, 2 * n * sizeof(int64_t), "map-B positions");
        d->bytes += 2 * n * sizeof(int64_t);
    }
    pos_hooks ph = pos_hooks_of(c->pos);
    if (!s && ph.rotary) {
        lext_config rc = *c;
        rc.pos = LEXT_POS_ROPE; /* rotation only: the decay goes by distance */
        s = rotary_table_init(&d->rot, &rc, chunk);
        d->bytes += (size_t)chunk * P * 2 * sizeof(float);
        if (!s && d->map_b) s = rotary_table_init(&d->rotqb, &rc, chunk);
        if (!s && d->map_b) s = rotary_table_init(&d->rotkb, &rc, chunk);
        if (d->map_b) d->bytes += 2 * (size_t)chunk * P * 2 * sizeof(float);
    }
    if (!s && ph.xpos) {
        int64_t maxdist = a.mode == LEXT_ATTN_CAUSAL ? cap - 1 : a.window - 1;
        /* map B's distances (ext_row_of): sinks in a cache up to K + W - 1, capped ones at
         * W, grouped ones up to (cap - 1) / G + W, clipped ones at the clip */
        int64_t bmax = 0;
        if (d->map_b && d->ext.kind == LEXT_EXT_SINKS)
            bmax = d->ext.sink_pos == LEXT_SINK_CAPPED ? a.window : K + a.window - 1;
        if (d->map_b && d->ext.kind == LEXT_EXT_SELF_EXTEND)
            bmax = (cap - 1) / d->ext.group + d->ext.neighbors;
        if (d->map_b && d->ext.kind == LEXT_EXT_REROPE) bmax = d->ext.clip;
        maxdist = bmax > maxdist ? bmax : maxdist;
        s = grab(d, &d->decay, (size_t)(maxdist + 1) * P, "xpos decay table");
        const double hd = 2.0 * (double)P;
        /* B, or s B with a scaled decay (static methods only, so one s for every row) */
        const double B = rs.xpos_decay_scaled
                             ? lext_rope_scaling_factor(&rs, d->seq_len, c->train_len) * c->xpos_scale_base
                             : c->xpos_scale_base;
        for (int64_t t = 0; !s && t <= maxdist; t++)
            for (size_t j = 0; j < P; j++) {
                double zeta = (2.0 * (double)j + c->xpos_gamma * hd) / ((1.0 + c->xpos_gamma) * hd);
                d->decay[(size_t)t * P + j] = (float)pow(zeta, (double)t / B);
            }
    }
    if (s) {
        lext_decoder_free(d);
        return s;
    }
    *out = d;
    return LEXT_OK;
}

void lext_decoder_free(lext_decoder *d) {
    if (!d) return;
    float *bufs[] = {d->k,   d->v,  d->decay, d->x,  d->ln,     d->mean, d->rstd, d->qkv,
                     d->att, d->tmp, d->mid,  d->fc, d->fc_act, d->pe,   d->logits, d->scratch,
                     d->kcb, d->sk,  d->sv,   d->qkb};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) lext_free(bufs[i]);
    lext_free(d->posb);
    rotary_table_free(&d->rot);
    rotary_table_free(&d->rotqb);
    rotary_table_free(&d->rotkb);
    free(d);
}

void lext_decoder_reset(lext_decoder *d) { d->pos = 0; }
int64_t lext_decoder_pos(const lext_decoder *d) { return d->pos; }
size_t lext_decoder_bytes(const lext_decoder *d) { return d->bytes; }

/* One pass over n <= chunk tokens at positions pos .. pos + n - 1. */
static lext_status feed_chunk(lext_model *m, lext_decoder *d, const int32_t *tokens, int64_t n,
                              float *logits) {
    const lext_config *c = &m->cfg;
    const int64_t D = c->d_model, F = c->d_ff, V = c->vocab_size, H = c->n_head, hd = D / H;
    const int64_t p0 = d->pos;
    const pos_hooks ph = pos_hooks_of(c->pos);
    if (d->attn.mode == LEXT_ATTN_CAUSAL && p0 + n > d->cap)
        return lext_fail(LEXT_ERR_ARG,
                         "the context would reach %lld tokens, past the cache's max context of "
                         "%lld (causal attention keeps every token)",
                         (long long)(p0 + n), (long long)d->cap);
    if (c->pos == LEXT_POS_LEARNED && p0 + n > c->train_len)
        return lext_fail(LEXT_ERR_ARG,
                         "learned position embeddings stop at %d positions; the context would "
                         "reach %lld",
                         c->train_len, (long long)(p0 + n));
    for (int64_t t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return lext_fail(LEXT_ERR_ARG, "token %d outside [0, %lld)", tokens[t], (long long)V);

    const model_tensors *w = &m->w;
    embed_forward(d->x, tokens, w->embed, embed_scale_of(c), n, D);
    if (c->pos == LEXT_POS_SINUSOIDAL) {
        sinusoidal_table(d->pe, p0, n, D);
        pos_add_forward(d->x, d->pe, 1, n, D);
    } else if (c->pos == LEXT_POS_LEARNED) {
        pos_add_forward(d->x, w->pos_embed + p0 * D, 1, n, D);
    }
    if (ph.rotary) rotary_table_fill(&d->rot, c, &d->rs, p0, n, 0, d->seq_len);
    const int64_t K = d->ext.kind == LEXT_EXT_SINKS ? d->ext.sinks : 0;
    if (d->map_b) { /* the map-B positions of the chunk's queries and keys (ext_row_of) */
        for (int64_t t = 0; t < n; t++) {
            d->posb[t] = ext_row_of(&d->ext, &d->attn, p0 + t + 1, p0 + t).qpos;
            d->posb[n + t] = ext_kpos(&d->ext, p0 + t);
        }
        lext_config rc = *c;
        rc.pos = LEXT_POS_ROPE; /* rotation only, as d->rot */
        rotary_table_fill_at(&d->rotqb, &rc, &d->rs, d->posb, n, 0, d->seq_len);
        rotary_table_fill_at(&d->rotkb, &rc, &d->rs, d->posb + n, n, 0, d->seq_len);
    }
    const decode_ext_args xa = {&d->ext, d->qkb, NULL, NULL, NULL};

    for (int l = 0; l < c->n_layer; l++) {
        const layer_tensors *lw = &w->layer[l];
        float *kc = d->k + (size_t)l * (size_t)d->cap * (size_t)D;
        float *vc = d->v + (size_t)l * (size_t)d->cap * (size_t)D;
        layernorm_forward(d->ln, d->mean, d->rstd, d->x, lw->attn_norm_w, lw->attn_norm_b, n, D,
                          (float)c->norm_eps);
        linear_forward(d->qkv, d->ln, lw->qkv_w, lw->qkv_b, n, D, 3 * D, NULL);
        if (d->map_b) /* from the unrotated q and k, before the in-place rotation below */
            rotary_forward_qk(d->qkb, 3 * D, d->qkv, 3 * D, &d->rotqb, &d->rotkb, 1, n, D, H);
        if (ph.rotary) /* in place: each pair is read before it is written */
            rotary_forward(d->qkv, 3 * D, d->qkv, 3 * D, &d->rot, 1, n, D, H);
        float *kcb = d->kcb ? d->kcb + (size_t)l * (size_t)d->cap * (size_t)D : NULL;
        float *sk = d->sk ? d->sk + (size_t)l * (size_t)K * (size_t)D : NULL;
        float *sv = d->sv ? d->sv + (size_t)l * (size_t)K * (size_t)D : NULL;
        for (int64_t t = 0; t < n; t++) {
            int64_t slot = (p0 + t) % d->cap;
            const float *kb = d->map_b ? d->qkb + t * 3 * D + D : NULL;
            memcpy(kc + slot * D, d->qkv + t * 3 * D + D, (size_t)D * sizeof(float));
            memcpy(vc + slot * D, d->qkv + t * 3 * D + 2 * D, (size_t)D * sizeof(float));
            if (kcb) memcpy(kcb + slot * D, kb, (size_t)D * sizeof(float));
            if (p0 + t < K) { /* a sink: kept for good, outside the ring */
                memcpy(sk + (p0 + t) * D, kb ? kb : d->qkv + t * 3 * D + D, (size_t)D * sizeof(float));
                memcpy(sv + (p0 + t) * D, d->qkv + t * 3 * D + 2 * D, (size_t)D * sizeof(float));
            }
        }
        decode_ext_args xl = xa;
        xl.kcb = kcb, xl.sk = sk, xl.sv = sv;
        attention_decode(d->att, D, d->qkv, 3 * D, n, p0, kc, vc, D, d->cap, m->alibi_slopes,
                         d->decay, &d->attn, &xl, H, hd, d->scratch, d->n_threads);
        linear_forward(d->tmp, d->att, lw->out_w, lw->out_b, n, D, D, NULL);
        residual_forward(d->mid, d->x, d->tmp, n * D);
        layernorm_forward(d->ln, d->mean, d->rstd, d->mid, lw->mlp_norm_w, lw->mlp_norm_b, n, D,
                          (float)c->norm_eps);
        linear_forward(d->fc, d->ln, lw->up_w, lw->up_b, n, D, F, NULL);
        gelu_forward(d->fc_act, d->fc, n * F);
        linear_forward(d->tmp, d->fc_act, lw->down_w, lw->down_b, n, F, D, NULL);
        residual_forward(d->x, d->mid, d->tmp, n * D);
    }
    d->pos += n;
    if (logits) { /* only the last token's logits are wanted */
        const float *last = d->x + (n - 1) * D;
        layernorm_forward(d->ln, d->mean, d->rstd, last, w->norm_w, w->norm_b, 1, D,
                          (float)c->norm_eps);
        linear_forward(logits, d->ln, w->lm_head, NULL, 1, D, V, NULL);
    }
    return LEXT_OK;
}

lext_status lext_decoder_feed(lext_model *m, lext_decoder *d, const int32_t *tokens, int64_t n,
                              float *logits) {
    if (d->m != m) return lext_fail(LEXT_ERR_ARG, "decoder belongs to another model");
    if (n < 1) return lext_fail(LEXT_ERR_ARG, "nothing to feed");
    for (int64_t i = 0; i < n; i += d->chunk) {
        int64_t k = n - i < d->chunk ? n - i : d->chunk;
        LEXT_TRY(feed_chunk(m, d, tokens + i, k, i + k == n ? logits : NULL));
    }
    return LEXT_OK;
}

/* ---- sampling ------------------------------------------------------------------------------- */

typedef struct {
    double p;
    float logit;
    int id;
} cand;

/* Probabilities that round to the same double (any two, once the temperature is large
 * enough) are ordered by their logits, which order the exact probabilities: top_k = 1 stays
 * the most likely token at any temperature. Equal logits: lower id first (a total order). */
static int by_prob(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

int32_t lext_sample(const float *logits, int V, double temperature, int top_k, double top_p,
                    lext_rng *rng) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(temperature > 0)) return best;
    cand *cs = malloc((size_t)V * sizeof *cs);
    if (!cs) return best; /* no memory for the sort: fall back to greedy */
    double mx = logits[best], z = 0;
    for (int i = 0; i < V; i++) {
        cs[i].p = exp(((double)logits[i] - mx) / temperature);
        cs[i].logit = logits[i];
        cs[i].id = i;
        z += cs[i].p;
    }
    qsort(cs, (size_t)V, sizeof *cs, by_prob);
    int n = top_k > 0 && top_k < V ? top_k : V;
    if (top_p < 1.0) { /* nucleus: the smallest prefix reaching top_p of the mass */
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += cs[i].p / z;
            if (acc >= top_p) {
                n = i + 1;
                break;
            }
        }
    }
    double kept = 0;
    for (int i = 0; i < n; i++) kept += cs[i].p;
    double r = lext_rng_uniform(rng) * kept, acc = 0;
    int32_t pick = cs[n - 1].id;
    for (int i = 0; i < n; i++) {
        acc += cs[i].p;
        if (r < acc) {
            pick = cs[i].id;
            break;
        }
    }
    free(cs);
    return pick;
}
