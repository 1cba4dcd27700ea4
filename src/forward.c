/*
 * forward.c - the workspace, and the model's forward and backward passes.
 *
 * Per block (pre-LayerNorm):
 *   x1 = x + out(attn(rot(qkv(ln1(x)))))       attention, then
 *   y  = x1 + down(gelu(up(ln2(x1))))          the MLP
 * then logits = ln_f(x_L) @ W^T with W the tied embedding or lm_head.
 */
#include "gemm.h"
#include "internal.h"
#include "model.h"
#include "ops.h"
#include "precision.h"

#include <math.h>
#include <string.h>

/* ---- workspace ------------------------------------------------------------------------- */

/* Carves n floats from the arena (or counts them when arena is NULL), 64-byte aligned. */
static float *carve(float *arena, size_t *off, size_t n) {
    float *p = arena ? arena + *off : NULL;
    *off += (n + 15) & ~(size_t)15;
    return p;
}

static size_t layout(lext_ctx *ctx, float *arena) {
    const lext_config *c = &ctx->model->cfg;
    const size_t N = (size_t)(ctx->max_batch * ctx->max_len), D = (size_t)c->d_model,
                 F = (size_t)c->d_ff, V = (size_t)c->vocab_size, H = (size_t)c->n_head;
    const size_t L = (size_t)c->n_layer, nl = ctx->training ? L : 1;
    const pos_hooks ph = pos_hooks_of(c->pos);
    size_t off = 0;
    ctx->res = carve(arena, &off, (ctx->training ? L + 1 : 1) * N * D);
    for (size_t l = 0; l < nl; l++) {
        layer_acts *a = &ctx->layer[l];
        a->ln1 = carve(arena, &off, N * D);
        a->ln1_mean = carve(arena, &off, N);
        a->ln1_rstd = carve(arena, &off, N);
        a->qkv = carve(arena, &off, N * 3 * D);
        a->qk = ph.rotary ? carve(arena, &off, N * 2 * D) : NULL;
        a->att = carve(arena, &off, N * D);
        a->lse = carve(arena, &off, N * H);
        a->res_mid = carve(arena, &off, N * D);
        a->ln2 = carve(arena, &off, N * D);
        a->ln2_mean = carve(arena, &off, N);
        a->ln2_rstd = carve(arena, &off, N);
        a->fc = carve(arena, &off, N * F);
        a->fc_act = carve(arena, &off, N * F);
    }
    ctx->lnf = carve(arena, &off, N * D);
    ctx->lnf_mean = carve(arena, &off, N);
    ctx->lnf_rstd = carve(arena, &off, N);
    ctx->logits = carve(arena, &off, N * V);
    ctx->losses = carve(arena, &off, N);
    ctx->tmp = carve(arena, &off, N * D);
    /* the arena is untyped allocated memory; int32_t has float's size and alignment */
    // cppcheck-suppress invalidPointerCast
    ctx->tokens = (int32_t *)carve(arena, &off, N);
    // cppcheck-suppress invalidPointerCast
    ctx->targets = (int32_t *)carve(arena, &off, N);
    ctx->sin_table =
        c->pos == LEXT_POS_SINUSOIDAL ? carve(arena, &off, (size_t)ctx->max_len * D) : NULL;
    if (ctx->training) {
        ctx->dres = carve(arena, &off, N * D);
        ctx->dln = carve(arena, &off, N * D);
        ctx->dqkv = carve(arena, &off, N * 3 * D);
        ctx->dqk = ph.rotary ? carve(arena, &off, N * 2 * D) : NULL;
        ctx->dfc = carve(arena, &off, N * F);
        ctx->dfc_act = carve(arena, &off, N * F);
        ctx->dlogits = carve(arena, &off, N * V);
    }
    return off;
}

lext_status lext_ctx_create(const lext_model *m, int64_t max_batch, int64_t max_len,
                            bool training, lext_ctx **out) {
    *out = NULL;
    const lext_config *c = &m->cfg;
    if (max_batch < 1 || max_len < 1)
        return lext_fail(LEXT_ERR_ARG, "workspace needs batch >= 1 and length >= 1, got %lld x %lld",
                         (long long)max_batch, (long long)max_len);
    /* BLAS takes row counts as int: B*T rows must fit */
    if (max_len > INT32_MAX || max_batch > INT32_MAX || max_batch * max_len > INT32_MAX)
        return lext_fail(LEXT_ERR_ARG, "workspace of %lld x %lld tokens is too large",
                         (long long)max_batch, (long long)max_len);
    lext_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lext_fail(LEXT_ERR_NOMEM, "cannot allocate a workspace");
    ctx->model = m;
    ctx->max_batch = max_batch;
    ctx->max_len = max_len;
    ctx->training = training;
    ctx->layer = calloc(training ? (size_t)c->n_layer : 1, sizeof(layer_acts));
    lext_status s = ctx->layer ? LEXT_OK : lext_fail(LEXT_ERR_NOMEM, "cannot allocate a workspace");
    size_t floats = 0;
    if (!s) {
        floats = layout(ctx, NULL);
        ctx->bytes = floats * sizeof(float);
        s = lext_alloc((void **)&ctx->arena, ctx->bytes,
                       training ? "training activations" : "inference activations");
    }
    if (!s) {
        layout(ctx, ctx->arena);
        if (ctx->sin_table) sinusoidal_table(ctx->sin_table, 0, max_len, c->d_model);
        if (pos_hooks_of(c->pos).rotary) s = rotary_table_init(&ctx->rot, c, max_len);
    }
    if (!s)
        s = attn_scratch_init(&ctx->ws, c->d_model / c->n_head, c->n_head, max_batch * max_len,
                              training);
    if (!s && ext_has_map_b(&m->attn_ext)) { /* the second rotated copy, sized up front */
        const size_t N = (size_t)(max_batch * max_len), D = (size_t)c->d_model;
        s = attn_scratch_add_ext(&ctx->ws, c->d_model / c->n_head, c->n_head);
        if (!s) s = lext_alloc((void **)&ctx->qkb, N * 2 * D * sizeof(float), "map-B q and k");
        if (!s) s = lext_alloc((void **)&ctx->posb, 2 * (size_t)max_len * sizeof(int64_t), "map-B positions");
        if (!s) s = rotary_table_init(&ctx->rotqb, c, max_len);
        if (!s) s = rotary_table_init(&ctx->rotkb, c, max_len);
        ctx->ext_bytes = N * 2 * D * sizeof(float) + 2 * (size_t)max_len * sizeof(int64_t) +
                         2 * (size_t)ctx->rot.cap * (size_t)ctx->rot.P * sizeof(float) * 4;
    }
    if (s) {
        lext_ctx_free(ctx);
        return s;
    }
    *out = ctx;
    return LEXT_OK;
}

static const char *const precision_names[] = {"fp32", "bf16"};

const char *lext_precision_name(lext_precision p) {
    return p == LEXT_PRECISION_FP32 || p == LEXT_PRECISION_BF16 ? precision_names[p] : "auto";
}

lext_status lext_precision_parse(const char *s, lext_precision *out) {
    for (int p = LEXT_PRECISION_FP32; p <= LEXT_PRECISION_BF16; p++)
        if (s && strcmp(s, precision_names[p]) == 0) {
            *out = (lext_precision)p;
            return LEXT_OK;
        }
    return lext_fail(LEXT_ERR_ARG, "unknown precision '%s' (expected fp32 or bf16)",
                     s ? s : "(null)");
}

static void bf16_buffers_free(lext_ctx *ctx) {
    lext_free(ctx->wbf);
    lext_free(ctx->xbf);
    lext_free(ctx->dybf);
    lext_free(ctx->bf16_scratch);
    ctx->wbf = ctx->xbf = ctx->dybf = NULL;
    ctx->bf16_scratch = NULL;
    ctx->bf16_bytes = 0;
}

lext_status lext_ctx_set_precision(lext_ctx *ctx, lext_precision p) {
    if (p != LEXT_PRECISION_FP32 && p != LEXT_PRECISION_BF16)
        return lext_fail(LEXT_ERR_ARG, "a workspace's precision is fp32 or bf16");
    ctx->have_forward = false; /* a backward must follow a forward of the same precision */
    if (p == LEXT_PRECISION_FP32) {
        bf16_buffers_free(ctx);
        ctx->precision = p;
        return LEXT_OK;
    }
    if (ctx->precision == p) return LEXT_OK;
    const lext_config *c = &ctx->model->cfg;
    const size_t N = (size_t)(ctx->max_batch * ctx->max_len), D = (size_t)c->d_model,
                 F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    const size_t nw = ctx->model->num_params, nx = N * (D > F ? D : F);
    size_t ny = 3 * D > F ? 3 * D : F;
    ny = N * (ny > V ? ny : V);
    /* a product's A operand is at most (N, max(D, F, 3D, V)), its B at most an activation
     * (N, max(D, F)) or a weight matrix (< num_params); at least 1 element, since a non-NULL
     * scratch is what makes linear_forward's products bf16 products */
    size_t ns = gemm_bf16_scratch_elems(ny > nx ? ny : nx, nx > nw ? nx : nw);
    ns = ns ? ns : 1;
    lext_status s = lext_alloc((void **)&ctx->wbf, nw * sizeof(float), "bf16 weight copy");
    if (!s) s = lext_alloc((void **)&ctx->xbf, nx * sizeof(float), "bf16 operand buffer");
    if (!s) s = lext_alloc((void **)&ctx->dybf, ny * sizeof(float), "bf16 operand buffer");
    if (!s)
        s = lext_alloc((void **)&ctx->bf16_scratch, ns * sizeof(uint16_t), "bf16 product scratch");
    if (s) {
        bf16_buffers_free(ctx);
        return s;
    }
    ctx->bf16_bytes = (nw + nx + ny) * sizeof(float) + ns * sizeof(uint16_t);
    ctx->precision = p;
    return LEXT_OK;
}

void lext_ctx_free(lext_ctx *ctx) {
    if (!ctx) return;
    bf16_buffers_free(ctx);
    lext_free(ctx->arena);
    rotary_table_free(&ctx->rot);
    rotary_table_free(&ctx->rotqb);
    rotary_table_free(&ctx->rotkb);
    lext_free(ctx->qkb);
    lext_free(ctx->posb);
    attn_scratch_free(&ctx->ws);
    free(ctx->layer);
    free(ctx);
}

size_t lext_ctx_bytes(const lext_ctx *ctx) {
    return ctx->bytes + ctx->bf16_bytes +
           (size_t)ctx->rot.cap * (size_t)ctx->rot.P * sizeof(float) * 4 + ctx->ext_bytes +
           ctx->ws.bytes;
}

const float *lext_ctx_logits(const lext_ctx *ctx) { return ctx->logits; }
int64_t lext_ctx_num_targets(const lext_ctx *ctx) { return ctx->n_targets; }

static layer_acts *acts_of(lext_ctx *ctx, int l) { return &ctx->layer[ctx->training ? l : 0]; }
static float *res_of(lext_ctx *ctx, int l) {
    const lext_config *c = &ctx->model->cfg;
    size_t N = (size_t)(ctx->B * ctx->T);
    return ctx->training ? ctx->res + (size_t)l * N * (size_t)c->d_model : ctx->res;
}

/* ---- the matrix products of the linear layers, in the workspace's precision ------------ */

/* The weight matrix a product reads: w itself in fp32; in bf16 its rounding, at the same
 * offset in ctx->wbf as w in the flat parameter array. */
static const float *mm_weight(const lext_ctx *ctx, const float *w) {
    return ctx->wbf ? ctx->wbf + (w - ctx->model->params) : w;
}

/* linear_forward in the workspace's precision: y = bf16(x) bf16(w)^T + b in bf16 mode. */
static void mm_forward(lext_ctx *ctx, float *out, const float *inp, const float *w,
                       const float *b, int64_t N, int64_t n_in, int64_t n_out) {
    if (ctx->wbf) inp = bf16_round(ctx->xbf, inp, (size_t)(N * n_in));
    linear_forward(out, inp, mm_weight(ctx, w), b, N, n_in, n_out, ctx->bf16_scratch);
}

/* linear_backward in the workspace's precision; in bf16 mode (precision.h):
 * dx += bf16(dy) bf16(w), dw += bf16(dy)^T bf16(x), db += column sums of the fp32 dy. */
static void mm_backward(lext_ctx *ctx, float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int64_t N, int64_t n_in,
                        int64_t n_out) {
    if (!ctx->wbf) {
        linear_backward(dinp, dw, db, dout, inp, w, N, n_in, n_out, NULL);
        return;
    }
    if (db) linear_backward(NULL, NULL, db, dout, NULL, NULL, N, n_in, n_out, NULL);
    const float *dy = bf16_round(ctx->dybf, dout, (size_t)(N * n_out));
    const float *x = dw ? bf16_round(ctx->xbf, inp, (size_t)(N * n_in)) : NULL;
    linear_backward(dinp, dw, NULL, dy, x, mm_weight(ctx, w), N, n_in, n_out, ctx->bf16_scratch);
}

/* ---- forward --------------------------------------------------------------------------- */

lext_status lext_forward(lext_model *m, lext_ctx *ctx, const int32_t *tokens,
                         const int32_t *targets, int64_t B, int64_t T, const lext_attn *attn,
                         float *loss) {
    const lext_config *c = &m->cfg;
    ctx->have_forward = false;
    if (ctx->model != m) return lext_fail(LEXT_ERR_ARG, "workspace belongs to another model");
    if (B < 1 || T < 1 || B * T > ctx->max_batch * ctx->max_len || T > ctx->max_len)
        return lext_fail(LEXT_ERR_ARG, "batch %lld x length %lld exceeds the workspace (%lld x %lld)",
                         (long long)B, (long long)T, (long long)ctx->max_batch,
                         (long long)ctx->max_len);
    if (c->pos == LEXT_POS_LEARNED && T > c->train_len)
        return lext_fail(LEXT_ERR_ARG,
                         "learned position embeddings cover %d positions; a sequence of %lld needs "
                         "more (use another scheme, or lengths <= train_len)",
                         c->train_len, (long long)T);
    lext_attn mask = attn ? *attn : lext_attn_make(LEXT_ATTN_CAUSAL, c->train_len);
    LEXT_TRY(lext_attn_validate(&mask));
    const lext_attn_ext *ext = m->attn_ext.kind != LEXT_EXT_NONE ? &m->attn_ext : NULL;
    LEXT_TRY(lext_attn_ext_validate(ext, c, &mask));
    const bool map_b = ext_has_map_b(ext);
    if (map_b && !ctx->qkb)
        return lext_fail(LEXT_ERR_ARG,
                         "the attention extension %s was set after this workspace was created; "
                         "create the workspace after lext_model_set_attn_ext (it sizes a second "
                         "rotated copy of q and k)",
                         lext_attn_ext_name(ext->kind));
    const int64_t N = B * T, D = c->d_model, F = c->d_ff, V = c->vocab_size, H = c->n_head;
    const int64_t hd = D / H;
    for (int64_t n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= V)
            return lext_fail(LEXT_ERR_ARG, "token %d at index %lld is outside [0, %lld)", tokens[n],
                             (long long)n, (long long)V);
    if (targets)
        for (int64_t n = 0; n < N; n++)
            if (targets[n] >= V)
                return lext_fail(LEXT_ERR_ARG, "target %d at index %lld is outside [0, %lld)",
                                 targets[n], (long long)n, (long long)V);
    ctx->B = B;
    ctx->T = T;
    ctx->attn = mask;
    memcpy(ctx->tokens, tokens, (size_t)N * sizeof(int32_t));
    if (targets) memcpy(ctx->targets, targets, (size_t)N * sizeof(int32_t));

    const pos_hooks ph = pos_hooks_of(c->pos);
    const model_tensors *w = &m->w;
    if (ctx->wbf) bf16_round(ctx->wbf, m->params, m->num_params); /* this step's weights */
    float *x = res_of(ctx, 0);
    embed_forward(x, tokens, w->embed, embed_scale_of(c), N, D);
    if (ph.embed_add)
        pos_add_forward(x, c->pos == LEXT_POS_LEARNED ? w->pos_embed : ctx->sin_table, B, T, D);
    if (ph.rotary) rotary_table_fill(&ctx->rot, c, &m->rope_scaling, 0, T, rotary_centre(T), T);
    attn_ext_args xa = {ext, NULL, NULL};
    if (map_b) { /* the extension's positions of every query and key (ext_row_of) */
        int64_t *pq = ctx->posb, *pk = ctx->posb + ctx->max_len;
        for (int64_t t = 0; t < T; t++) {
            pq[t] = ext_row_of(ext, &mask, T, t).qpos;
            pk[t] = ext_kpos(ext, t);
        }
        rotary_table_fill_at(&ctx->rotqb, c, &m->rope_scaling, pq, T, rotary_centre(T), T);
        rotary_table_fill_at(&ctx->rotkb, c, &m->rope_scaling, pk, T, rotary_centre(T), T);
        xa.q = ctx->qkb, xa.k = ctx->qkb + D;
    }
    ctx->ran_ext = ext != NULL;

    for (int l = 0; l < c->n_layer; l++) {
        const layer_tensors *lw = &w->layer[l];
        layer_acts *a = acts_of(ctx, l);
        float *xin = res_of(ctx, l), *xout = res_of(ctx, l + 1);
        layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, xin, lw->attn_norm_w, lw->attn_norm_b,
                          N, D, (float)c->norm_eps);
        mm_forward(ctx, a->qkv, a->ln1, lw->qkv_w, lw->qkv_b, N, D, 3 * D);
        const float *q = a->qkv, *k = a->qkv + D;
        int64_t ldqk = 3 * D;
        if (ph.rotary) {
            rotary_forward(a->qk, 2 * D, a->qkv, 3 * D, &ctx->rot, B, T, D, H);
            q = a->qk, k = a->qk + D, ldqk = 2 * D;
            if (map_b)
                rotary_forward_qk(ctx->qkb, 2 * D, a->qkv, 3 * D, &ctx->rotqb, &ctx->rotkb, B, T, D, H);
        }
        attention_forward(a->att, a->lse, q, k, ldqk, a->qkv + 2 * D, 3 * D, m->alibi_slopes,
                          &mask, &xa, B, T, H, hd, &ctx->ws);
        if (ctx->scores)
            scores_accumulate(ctx->scores, l, q, k, ldqk, m->alibi_slopes, &mask, &xa, B, T, H, hd);
        mm_forward(ctx, ctx->tmp, a->att, lw->out_w, lw->out_b, N, D, D);
        residual_forward(a->res_mid, xin, ctx->tmp, N * D);
        layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res_mid, lw->mlp_norm_w,
                          lw->mlp_norm_b, N, D, (float)c->norm_eps);
        mm_forward(ctx, a->fc, a->ln2, lw->up_w, lw->up_b, N, D, F);
        gelu_forward(a->fc_act, a->fc, N * F);
        mm_forward(ctx, ctx->tmp, a->fc_act, lw->down_w, lw->down_b, N, F, D);
        residual_forward(xout, a->res_mid, ctx->tmp, N * D);
    }
    layernorm_forward(ctx->lnf, ctx->lnf_mean, ctx->lnf_rstd, res_of(ctx, c->n_layer), w->norm_w,
                      w->norm_b, N, D, (float)c->norm_eps);
    mm_forward(ctx, ctx->logits, ctx->lnf, w->lm_head, NULL, N, D, V);

    ctx->n_targets = 0;
    if (targets) {
        int64_t count = 0;
        double sum = xent_forward(ctx->losses, ctx->logits, targets, N, V, &count);
        ctx->n_targets = count;
        ctx->loss_sum = sum;
        float mean = count > 0 ? (float)(sum / (double)count) : 0.0f;
        if (loss) *loss = mean;
        if (!isfinite(mean))
            return lext_fail(LEXT_ERR_NUMERIC, "the loss is not finite (%g)", (double)mean);
    }
    ctx->have_forward = targets != NULL;
    return LEXT_OK;
}

/* ---- backward -------------------------------------------------------------------------- */

double ctx_loss_sum(const lext_ctx *ctx) { return ctx->loss_sum; }

lext_status lext_backward(lext_model *m, lext_ctx *ctx) {
    return backward_scaled(m, ctx, ctx->n_targets > 0 ? 1.0f / (float)ctx->n_targets : 0.0f);
}

lext_status backward_scaled(lext_model *m, lext_ctx *ctx, float scale) {
    if (!ctx->training) return lext_fail(LEXT_ERR_ARG, "backward needs a training workspace");
    if (!ctx->have_forward)
        return lext_fail(LEXT_ERR_ARG, "backward needs a preceding forward with targets");
    if (ctx->ran_ext)
        return lext_fail(LEXT_ERR_ARG,
                         "the attention extension %s is inference-only: it has no backward (set "
                         "none with lext_model_set_attn_ext to train)",
                         lext_attn_ext_name(ctx->model->attn_ext.kind));
    if (ctx->n_targets == 0) return LEXT_OK; /* nothing scored: zero gradient */
    const lext_config *c = &m->cfg;
    const int64_t B = ctx->B, T = ctx->T, N = B * T, D = c->d_model, F = c->d_ff,
                  V = c->vocab_size, H = c->n_head, hd = D / H;
    const pos_hooks ph = pos_hooks_of(c->pos);
    const model_tensors *w = &m->w, *g = &m->g;

    memset(ctx->dlogits, 0, (size_t)(N * V) * sizeof(float));
    xent_backward(ctx->dlogits, ctx->logits, ctx->targets, N, V, scale);
    memset(ctx->dln, 0, (size_t)(N * D) * sizeof(float));
    mm_backward(ctx, ctx->dln, g->lm_head, NULL, ctx->dlogits, ctx->lnf, w->lm_head, N, D, V);
    memset(ctx->dres, 0, (size_t)(N * D) * sizeof(float));
    layernorm_backward(ctx->dres, g->norm_w, g->norm_b, ctx->dln, ctx->lnf_mean, ctx->lnf_rstd,
                       res_of(ctx, c->n_layer), w->norm_w, N, D);

    for (int l = c->n_layer - 1; l >= 0; l--) {
        const layer_tensors *lw = &w->layer[l], *lg = &g->layer[l];
        layer_acts *a = acts_of(ctx, l);
        /* MLP: xout = res_mid + down(gelu(up(ln2(res_mid)))); dres holds d xout */
        memset(ctx->dfc_act, 0, (size_t)(N * F) * sizeof(float));
        mm_backward(ctx, ctx->dfc_act, lg->down_w, lg->down_b, ctx->dres, a->fc_act, lw->down_w,
                    N, F, D);
        memset(ctx->dfc, 0, (size_t)(N * F) * sizeof(float));
        gelu_backward(ctx->dfc, ctx->dfc_act, a->fc, N * F);
        memset(ctx->dln, 0, (size_t)(N * D) * sizeof(float));
        mm_backward(ctx, ctx->dln, lg->up_w, lg->up_b, ctx->dfc, a->ln2, lw->up_w, N, D, F);
        layernorm_backward(ctx->dres, lg->mlp_norm_w, lg->mlp_norm_b, ctx->dln, a->ln2_mean,
                           a->ln2_rstd, a->res_mid, lw->mlp_norm_w, N, D);
        /* attention: res_mid = xin + out(att); dres now holds d res_mid */
        memset(ctx->dln, 0, (size_t)(N * D) * sizeof(float));
        mm_backward(ctx, ctx->dln, lg->out_w, lg->out_b, ctx->dres, a->att, lw->out_w, N, D, D);
        memset(ctx->dqkv, 0, (size_t)(N * 3 * D) * sizeof(float));
        const float *q = a->qkv, *k = a->qkv + D;
        float *dq = ctx->dqkv, *dk = ctx->dqkv + D;
        int64_t ldqk = 3 * D, lddqk = 3 * D;
        if (ph.rotary) {
            memset(ctx->dqk, 0, (size_t)(N * 2 * D) * sizeof(float));
            q = a->qk, k = a->qk + D, ldqk = 2 * D;
            dq = ctx->dqk, dk = ctx->dqk + D, lddqk = 2 * D;
        }
        attention_backward(dq, dk, lddqk, ctx->dqkv + 2 * D, 3 * D, ctx->dln, a->att, a->lse, q, k,
                           ldqk, a->qkv + 2 * D, 3 * D, m->alibi_slopes, &ctx->attn, B, T, H, hd,
                           &ctx->ws);
        if (ph.rotary) rotary_backward(ctx->dqkv, 3 * D, ctx->dqk, 2 * D, &ctx->rot, B, T, D, H);
        memset(ctx->dln, 0, (size_t)(N * D) * sizeof(float));
        mm_backward(ctx, ctx->dln, lg->qkv_w, lg->qkv_b, ctx->dqkv, a->ln1, lw->qkv_w, N, D,
                    3 * D);
        layernorm_backward(ctx->dres, lg->attn_norm_w, lg->attn_norm_b, ctx->dln, a->ln1_mean,
                           a->ln1_rstd, res_of(ctx, l), lw->attn_norm_w, N, D);
    }
    if (c->pos == LEXT_POS_LEARNED) pos_add_backward(g->pos_embed, ctx->dres, B, T, D);
    embed_backward(g->embed, ctx->dres, ctx->tokens, embed_scale_of(c), N, D);
    return LEXT_OK;
}
