/*
 * test_grad.c - finite-difference checks of every backward: LayerNorm, linear, GELU,
 * token and learned-position embeddings, softmax cross-entropy, the rope/xpos transform,
 * attention under each mask with and without ALiBi, and the whole model under every
 * position scheme.
 *
 * Each check perturbs an input element by +-h, +-2h and takes the five-point central
 * difference (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h, whose truncation error is
 * O(h^4); with float forwards its rounding noise is about 1e-7 |f| / h. The error reported
 * is max |fd - analytic| / max |fd| over the elements checked. A wrong term or factor
 * gives errors of order 1; the bounds below sit well above the measured noise floor
 * (printed) and far below that.
 */
#include "harness.h"
#include "model.h"
#include "ops.h"

typedef double (*loss_fn)(void *arg);

static double fd_at(float *x, double h, loss_fn f, void *arg) {
    float x0 = *x;
    *x = (float)(x0 + 2 * h);
    double f2 = f(arg);
    *x = (float)(x0 + h);
    double f1 = f(arg);
    *x = (float)(x0 - h);
    double fm1 = f(arg);
    *x = (float)(x0 - 2 * h);
    double fm2 = f(arg);
    *x = x0;
    return (-f2 + 8 * f1 - 8 * fm1 + fm2) / (12 * h);
}

/* Compares g (n) with finite differences of f w.r.t. x (n) at up to max elements spread
 * evenly; returns max |fd - g| / max |fd|. */
static double fd_check(float *x, const float *g, size_t n, double h, loss_fn f, void *arg,
                       size_t max) {
    size_t stride = n > max ? n / max : 1;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i += stride) {
        double fd = fd_at(&x[i], h, f, arg);
        double d = fabs(fd - (double)g[i]);
        num = d > num ? d : num;
        den = fabs(fd) > den ? fabs(fd) : den;
    }
    return den > 0 ? num / den : num;
}

/* sum r . y in double: the scalar every op-level check differentiates */
static double dot(const float *r, const float *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * (double)y[i];
    return s;
}

#define OP_TOL 1e-3 /* measured floor about 1e-5 for ops of size ~1 */

/* ---- LayerNorm ------------------------------------------------------------------------- */

enum { LN_N = 5, LN_C = 12 };
static struct {
    float x[LN_N * LN_C], w[LN_C], b[LN_C], y[LN_N * LN_C], r[LN_N * LN_C], mean[LN_N], rstd[LN_N];
} ln;
static double ln_loss(void *arg) {
    layernorm_forward(ln.y, ln.mean, ln.rstd, ln.x, ln.w, ln.b, LN_N, LN_C, 1e-5f);
    return dot(ln.r, ln.y, LN_N * LN_C);
}
TEST(grad_layernorm) {
    h_fill(ln.x, LN_N * LN_C, 2.0);
    h_fill(ln.w, LN_C, 1.0);
    h_fill(ln.b, LN_C, 1.0);
    h_fill(ln.r, LN_N * LN_C, 1.0);
    float dx[LN_N * LN_C] = {0}, dw[LN_C] = {0}, db[LN_C] = {0};
    ln_loss(NULL);
    layernorm_backward(dx, dw, db, ln.r, ln.mean, ln.rstd, ln.x, ln.w, LN_N, LN_C);
    double ex = fd_check(ln.x, dx, LN_N * LN_C, 1e-2, ln_loss, NULL, 1000);
    double ew = fd_check(ln.w, dw, LN_C, 1e-2, ln_loss, NULL, 1000);
    double eb = fd_check(ln.b, db, LN_C, 1e-2, ln_loss, NULL, 1000);
    printf("  layernorm: dx %.2e dw %.2e db %.2e\n", ex, ew, eb);
    CHECK_LE(ex, OP_TOL, "layernorm dx");
    CHECK_LE(ew, OP_TOL, "layernorm dw");
    CHECK_LE(eb, OP_TOL, "layernorm db");
}

/* ---- linear ---------------------------------------------------------------------------- */

enum { LI_N = 6, LI_I = 7, LI_O = 5 };
static struct {
    float x[LI_N * LI_I], w[LI_O * LI_I], b[LI_O], y[LI_N * LI_O], r[LI_N * LI_O];
} li;
static double li_loss(void *arg) {
    linear_forward(li.y, li.x, li.w, li.b, LI_N, LI_I, LI_O, NULL);
    return dot(li.r, li.y, LI_N * LI_O);
}
TEST(grad_linear) {
    h_fill(li.x, LI_N * LI_I, 1.0);
    h_fill(li.w, LI_O * LI_I, 1.0);
    h_fill(li.b, LI_O, 1.0);
    h_fill(li.r, LI_N * LI_O, 1.0);
    float dx[LI_N * LI_I] = {0}, dw[LI_O * LI_I] = {0}, db[LI_O] = {0};
    li_loss(NULL);
    linear_backward(dx, dw, db, li.r, li.x, li.w, LI_N, LI_I, LI_O, NULL);
    double ex = fd_check(li.x, dx, LI_N * LI_I, 1e-2, li_loss, NULL, 1000);
    double ew = fd_check(li.w, dw, LI_O * LI_I, 1e-2, li_loss, NULL, 1000);
    double eb = fd_check(li.b, db, LI_O, 1e-2, li_loss, NULL, 1000);
    printf("  linear: dx %.2e dw %.2e db %.2e\n", ex, ew, eb);
    CHECK_LE(ex, OP_TOL, "linear dx");
    CHECK_LE(ew, OP_TOL, "linear dw");
    CHECK_LE(eb, OP_TOL, "linear db");
}

/* ---- GELU ------------------------------------------------------------------------------ */

enum { GE_N = 64 };
static struct {
    float x[GE_N], y[GE_N], r[GE_N];
} ge;
static double ge_loss(void *arg) {
    gelu_forward(ge.y, ge.x, GE_N);
    return dot(ge.r, ge.y, GE_N);
}
TEST(grad_gelu) {
    h_fill(ge.x, GE_N, 4.0);
    h_fill(ge.r, GE_N, 1.0);
    float dx[GE_N] = {0};
    ge_loss(NULL);
    gelu_backward(dx, ge.r, ge.x, GE_N);
    double ex = fd_check(ge.x, dx, GE_N, 1e-2, ge_loss, NULL, 1000);
    printf("  gelu: dx %.2e\n", ex);
    CHECK_LE(ex, OP_TOL, "gelu dx");
}

/* ---- embeddings: tokens and learned positions --------------------------------------------- */

enum { EM_B = 2, EM_T = 5, EM_V = 7, EM_C = 4 };
static struct {
    int32_t tok[EM_B * EM_T];
    float wte[EM_V * EM_C], wpe[EM_T * EM_C], y[EM_B * EM_T * EM_C], r[EM_B * EM_T * EM_C];
    float scale; /* embed_scale's factor: 1, or not 1 to see it in the gradient */
} em;
static double em_loss(void *arg) {
    embed_forward(em.y, em.tok, em.wte, em.scale, EM_B * EM_T, EM_C);
    pos_add_forward(em.y, em.wpe, EM_B, EM_T, EM_C);
    return dot(em.r, em.y, EM_B * EM_T * EM_C);
}
TEST(grad_embeddings) {
    int32_t toks[EM_B * EM_T] = {1, 3, 3, 0, 6, 3, 1, 2, 2, 5}; /* repeats: scatter-add */
    memcpy(em.tok, toks, sizeof toks);
    h_fill(em.wte, EM_V * EM_C, 1.0);
    h_fill(em.wpe, EM_T * EM_C, 1.0);
    h_fill(em.r, EM_B * EM_T * EM_C, 1.0);
    const float scales[] = {1.0f, 2.0f /* sqrt(EM_C), as embed_scale gives */, 0.37f};
    for (size_t s = 0; s < sizeof scales / sizeof *scales; s++) {
        em.scale = scales[s];
        float dwte[EM_V * EM_C] = {0}, dwpe[EM_T * EM_C] = {0};
        em_loss(NULL);
        embed_backward(dwte, em.r, em.tok, em.scale, EM_B * EM_T, EM_C);
        pos_add_backward(dwpe, em.r, EM_B, EM_T, EM_C);
        double e1 = fd_check(em.wte, dwte, EM_V * EM_C, 1e-2, em_loss, NULL, 1000);
        double e2 = fd_check(em.wpe, dwpe, EM_T * EM_C, 1e-2, em_loss, NULL, 1000);
        printf("  embeddings (scale %g): token %.2e learned position %.2e\n", em.scale, e1, e2);
        char what[64];
        snprintf(what, sizeof what, "token embedding, scale %g", em.scale);
        CHECK_LE(e1, OP_TOL, what);
        snprintf(what, sizeof what, "learned position embedding, scale %g", em.scale);
        CHECK_LE(e2, OP_TOL, what);
    }
}

/* ---- softmax cross-entropy ---------------------------------------------------------------- */

enum { XE_N = 5, XE_V = 9 };
static struct {
    float z[XE_N * XE_V], losses[XE_N];
    int32_t t[XE_N];
} xe;
static double xe_loss(void *arg) {
    int64_t count;
    double s = xent_forward(xe.losses, xe.z, xe.t, XE_N, XE_V, &count);
    return s / (double)count;
}
TEST(grad_cross_entropy) {
    int32_t t[XE_N] = {3, -1, 0, 8, 3}; /* -1: ignored */
    memcpy(xe.t, t, sizeof t);
    h_fill(xe.z, XE_N * XE_V, 3.0);
    float dz[XE_N * XE_V] = {0};
    xe_loss(NULL);
    xent_backward(dz, xe.z, xe.t, XE_N, XE_V, 1.0f / 4.0f);
    double ez = fd_check(xe.z, dz, XE_N * XE_V, 1e-2, xe_loss, NULL, 1000);
    printf("  cross-entropy: dlogits %.2e\n", ez);
    CHECK_LE(ez, OP_TOL, "cross-entropy");
    float zero = 0;
    for (int v = 0; v < XE_V; v++) zero += fabsf(dz[XE_V + v]);
    CHECK(zero == 0, "an ignored target must get no gradient (got %g)", zero);
}

/* ---- rope / xpos transform -------------------------------------------------------------- */

enum { RO_B = 2, RO_T = 6, RO_H = 2, RO_HD = 6, RO_D = RO_H * RO_HD };
static struct {
    float in[RO_B * RO_T * 3 * RO_D], out[RO_B * RO_T * 2 * RO_D], r[RO_B * RO_T * 2 * RO_D];
    rotary_table tab;
} ro;
static double ro_loss(void *arg) {
    rotary_forward(ro.out, 2 * RO_D, ro.in, 3 * RO_D, &ro.tab, RO_B, RO_T, RO_D, RO_H);
    return dot(ro.r, ro.out, RO_B * RO_T * 2 * RO_D);
}
TEST(grad_rotary) {
    for (int xpos = 0; xpos <= 1; xpos++) {
        lext_config c;
        lext_config_default(&c);
        c.pos = xpos ? LEXT_POS_XPOS : LEXT_POS_ROPE;
        c.d_model = RO_D;
        c.n_head = RO_H;
        c.xpos_scale_base = 2.0; /* strong decay over 6 positions: scales far from 1 */
        CHECK(rotary_table_init(&ro.tab, &c, RO_T) == LEXT_OK, "table");
        rotary_table_fill(&ro.tab, &c, NULL, 3, RO_T, 5, RO_T); /* positions 3..8, centre 5 */
        h_fill(ro.in, sizeof ro.in / sizeof(float), 1.0);
        h_fill(ro.r, sizeof ro.r / sizeof(float), 1.0);
        static float din[RO_B * RO_T * 3 * RO_D];
        memset(din, 0, sizeof din);
        ro_loss(NULL);
        rotary_backward(din, 3 * RO_D, ro.r, 2 * RO_D, &ro.tab, RO_B, RO_T, RO_D, RO_H);
        double e = fd_check(ro.in, din, sizeof ro.in / sizeof(float), 1e-2, ro_loss, NULL, 10000);
        printf("  %s transform: dqk %.2e\n", xpos ? "xpos" : "rope", e);
        CHECK_LE(e, OP_TOL, xpos ? "xpos transform" : "rope transform");
        /* v columns are not touched by the transform */
        float vsum = 0;
        for (int n = 0; n < RO_B * RO_T; n++)
            for (int d = 2 * RO_D; d < 3 * RO_D; d++) vsum += fabsf(din[n * 3 * RO_D + d]);
        CHECK(vsum == 0, "the transform must leave v alone");
        rotary_table_free(&ro.tab);
    }
}

/* ---- attention under each mask ---------------------------------------------------------- */

enum { AT_B = 2, AT_T = 23, AT_H = 2, AT_HD = 4, AT_D = AT_H * AT_HD };
static struct {
    float qkv[AT_B * AT_T * 3 * AT_D], out[AT_B * AT_T * AT_D], lse[AT_B * AT_H * AT_T],
        r[AT_B * AT_T * AT_D];
    const float *slopes;
    lext_attn mask;
    attn_scratch ws;
} at;
static double at_loss(void *arg) {
    attention_forward(at.out, at.lse, at.qkv, at.qkv + AT_D, 3 * AT_D, at.qkv + 2 * AT_D, 3 * AT_D,
                      at.slopes, &at.mask, NULL, AT_B, AT_T, AT_H, AT_HD, &at.ws);
    return dot(at.r, at.out, AT_B * AT_T * AT_D);
}
TEST(grad_attention) {
    CHECK(attn_scratch_init(&at.ws, AT_HD, AT_H, AT_B * AT_T, true) == LEXT_OK, "scratch");
    float slopes[AT_H] = {0.5f, 0.125f};
    const lext_attn masks[] = {{LEXT_ATTN_CAUSAL, 0, 0},
                               {LEXT_ATTN_BCA, 8, 0}, /* T = 23 > l = 8: blocks of 4 */
                               {LEXT_ATTN_WINDOW, 0, 5}};
    for (int mi = 0; mi < 3; mi++)
        for (int al = 0; al <= 1; al++) {
            at.mask = masks[mi];
            at.slopes = al ? slopes : NULL;
            h_fill(at.qkv, sizeof at.qkv / sizeof(float), 1.5);
            h_fill(at.r, sizeof at.r / sizeof(float), 1.0);
            static float dqkv[AT_B * AT_T * 3 * AT_D];
            memset(dqkv, 0, sizeof dqkv);
            at_loss(NULL);
            attention_backward(dqkv, dqkv + AT_D, 3 * AT_D, dqkv + 2 * AT_D, 3 * AT_D, at.r,
                               at.out, at.lse, at.qkv, at.qkv + AT_D, 3 * AT_D, at.qkv + 2 * AT_D,
                               3 * AT_D, at.slopes, &at.mask, AT_B, AT_T, AT_H, AT_HD, &at.ws);
            double e = fd_check(at.qkv, dqkv, sizeof at.qkv / sizeof(float), 1e-2, at_loss, NULL,
                                100000);
            char what[64];
            snprintf(what, sizeof what, "attention %s%s dq dk dv", lext_attn_name(masks[mi].mode),
                     al ? " + alibi" : "");
            printf("  %s: %.2e\n", what, e);
            CHECK_LE(e, OP_TOL, what);
        }
    attn_scratch_free(&at.ws);
}

/* ---- the whole model, each position scheme ---------------------------------------------- */

enum { MO_B = 2, MO_T = 9 };
static struct {
    lext_model *m;
    lext_ctx *ctx;
    int32_t tok[MO_B * MO_T], tgt[MO_B * MO_T];
} mo;
static double mo_loss(void *arg) {
    float loss = 0;
    lext_forward(mo.m, mo.ctx, mo.tok, mo.tgt, MO_B, MO_T, NULL, &loss);
    return loss;
}

#define MODEL_TOL 5e-3 /* float model, loss ~3.4: noise floor about 1e-4 relative */

TEST(grad_model_every_scheme) {
    for (int pos = 0; pos < LEXT_POS_COUNT; pos++)
        for (int variant = 0; variant < 5; variant++) {
            /* tied, untied, embed_scale; for rotary models two context extensions too:
             * 3 yarn (auto factor 9/4, the xpos decay scaled), 4 dynamic-ntk (factor 2, so
             * the frequencies differ from row to row past train_len 4) */
            const bool tied = variant != 1, scaled = variant == 2;
            const bool rotary = pos == LEXT_POS_ROPE || pos == LEXT_POS_XPOS;
            if (variant >= 3 && !rotary) continue;
            if (!tied && pos != LEXT_POS_XPOS) continue; /* untied once is enough */
            /* embed_scale where the experiment uses it (absolute positions) and once
             * without an absolute add */
            if (scaled && pos != LEXT_POS_SINUSOIDAL && pos != LEXT_POS_LEARNED &&
                pos != LEXT_POS_NONE)
                continue;
            lext_config c;
            lext_config_default(&c);
            c.n_layer = 2;
            c.n_head = 2;
            c.d_model = 8;
            c.d_ff = 12;
            c.vocab_size = 11;
            c.train_len = MO_T;
            c.pos = (lext_pos_kind)pos;
            c.tied = tied;
            c.embed_scale = scaled;
            c.xpos_scale_base = 4.0; /* decay visible within 9 positions */
            if (variant >= 3) c.train_len = 4;
            lext_rope_scaling rs;
            lext_rope_scaling_default(&rs);
            if (variant == 3) rs.kind = LEXT_ROPE_SCALING_YARN, rs.xpos_decay_scaled = pos == LEXT_POS_XPOS;
            if (variant == 4) rs.kind = LEXT_ROPE_SCALING_DYNAMIC_NTK, rs.factor = 2;
            CHECK(lext_model_create(&c, &mo.m) == LEXT_OK, "create: %s", lext_last_error());
            CHECK(lext_model_set_rope_scaling(mo.m, &rs) == LEXT_OK, "scaling: %s", lext_last_error());
            const char *ext = variant >= 3 ? lext_rope_scaling_name(rs.kind) : "";
            lext_model_init(mo.m, 7);
            /* weights larger than the 0.02 init, so every path carries real signal */
            for (int i = 0; i < lext_model_num_tensors(mo.m); i++) {
                const lext_param *p = lext_model_tensor(mo.m, i);
                for (size_t k = 0; k < p->numel; k++)
                    p->data[k] = p->ndim == 2 ? (float)(0.4 * h_rand())
                                              : p->data[k] + (float)(0.2 * h_rand());
            }
            CHECK(lext_ctx_create(mo.m, MO_B, MO_T, true, &mo.ctx) == LEXT_OK, "ctx");
            for (int n = 0; n < MO_B * MO_T; n++) {
                mo.tok[n] = (int32_t)((h_rand() + 1) * 5.5) % 11;
                mo.tgt[n] = n % 7 == 3 ? -1 : (int32_t)((h_rand() + 1) * 5.5) % 11;
            }
            lext_model_zero_grad(mo.m);
            mo_loss(NULL);
            CHECK(lext_backward(mo.m, mo.ctx) == LEXT_OK, "backward: %s", lext_last_error());
            double worst = 0;
            const char *worst_name = "";
            for (int i = 0; i < lext_model_num_tensors(mo.m); i++) {
                const lext_param *p = lext_model_tensor(mo.m, i);
                double e = fd_check(p->data, p->grad, p->numel, 1e-2, mo_loss, NULL, 24);
                if (e > worst) worst = e, worst_name = p->name;
                char what[160];
                snprintf(what, sizeof what, "%s%s%s %s %s", lext_pos_name(c.pos),
                         tied ? "" : " untied", scaled ? " embed_scale" : "", ext, p->name);
                CHECK_LE(e, MODEL_TOL, what);
            }
            printf("  model %-10s%s%s %s worst %.2e (%s)\n", lext_pos_name(c.pos),
                   tied ? "" : " untied", scaled ? " embed_scale" : "", ext, worst, worst_name);
            lext_ctx_free(mo.ctx);
            lext_model_free(mo.m);
        }
}
