/* pe_scaling.c - context extension of rotary models (see lext.h, "Context extension"):
 * linear (Position Interpolation), NTK-aware, dynamic NTK and YaRN, as one resolver from
 * (config, scaling, sequence length, position) to the rotary frequencies, the factor on cos
 * and sin, and XPOS's decay base. rotary_table_fill is its one caller, so the forward, the
 * backward, evaluation, scores and the decoder all rotate alike. */
#include "internal.h"
#include "model.h"
#include "position.h"

#include <math.h>
#include <string.h>

static const char *const scaling_names[LEXT_ROPE_SCALING_COUNT] = {"none", "linear", "ntk",
                                                                   "dynamic-ntk", "yarn"};

void lext_rope_scaling_default(lext_rope_scaling *r) {
    *r = (lext_rope_scaling){LEXT_ROPE_SCALING_NONE, 0.0, 32.0, 1.0, false};
}

const char *lext_rope_scaling_name(lext_rope_scaling_kind k) {
    return (unsigned)k < LEXT_ROPE_SCALING_COUNT ? scaling_names[k] : "invalid";
}

lext_status lext_rope_scaling_parse(const char *s, lext_rope_scaling_kind *out) {
    for (int k = 0; k < LEXT_ROPE_SCALING_COUNT; k++)
        if (s && strcmp(s, scaling_names[k]) == 0) {
            *out = (lext_rope_scaling_kind)k;
            return LEXT_OK;
        }
    return lext_fail(LEXT_ERR_ARG,
                     "unknown rope scaling '%s' (expected none, linear, ntk, dynamic-ntk or yarn)",
                     s ? s : "(null)");
}

static bool is_static(lext_rope_scaling_kind k) {
    return k == LEXT_ROPE_SCALING_LINEAR || k == LEXT_ROPE_SCALING_NTK || k == LEXT_ROPE_SCALING_YARN;
}

lext_status lext_rope_scaling_validate(const lext_rope_scaling *r, const lext_config *c) {
    if (!r) return LEXT_OK;
    if ((unsigned)r->kind >= LEXT_ROPE_SCALING_COUNT)
        return lext_fail(LEXT_ERR_ARG, "invalid rope scaling %d", (int)r->kind);
    if (!(r->factor == 0 || (isfinite(r->factor) && r->factor >= 1)))
        return lext_fail(LEXT_ERR_ARG, "rope scaling factor must be >= 1 (or 0 for auto), got %g",
                         r->factor);
    if (!(isfinite(r->beta_fast) && isfinite(r->beta_slow) && r->beta_slow > 0 &&
          r->beta_fast > r->beta_slow))
        return lext_fail(LEXT_ERR_ARG,
                         "yarn needs beta_fast > beta_slow > 0 (rotations over the training "
                         "length), got %g and %g",
                         r->beta_fast, r->beta_slow);
    if (r->xpos_decay_scaled && !is_static(r->kind))
        return lext_fail(LEXT_ERR_ARG,
                         "a scaled xpos decay needs a static scaling (linear, ntk or yarn), "
                         "not '%s'",
                         lext_rope_scaling_name(r->kind));
    if (r->kind == LEXT_ROPE_SCALING_NONE || !c) return LEXT_OK;
    const pos_hooks h = pos_hooks_of(c->pos);
    if (r->kind != LEXT_ROPE_SCALING_NONE && !h.rotary)
        return lext_fail(LEXT_ERR_ARG,
                         "rope scaling '%s' applies to rope and xpos models; this model uses %s",
                         lext_rope_scaling_name(r->kind), lext_pos_name(c->pos));
    if (r->xpos_decay_scaled && !h.xpos)
        return lext_fail(LEXT_ERR_ARG, "a scaled xpos decay applies to xpos models; this model "
                                       "uses %s",
                         lext_pos_name(c->pos));
    const int64_t hd = c->d_model / c->n_head;
    if ((r->kind == LEXT_ROPE_SCALING_NTK || r->kind == LEXT_ROPE_SCALING_DYNAMIC_NTK) && hd <= 2)
        return lext_fail(LEXT_ERR_ARG, "ntk scaling needs a head dim > 2 (base s^(d/(d-2))), got %lld",
                         (long long)hd);
    return LEXT_OK;
}

/* s for a static method on T tokens; s(pos) for dynamic-ntk at position pos */
static double factor_at(const lext_rope_scaling *r, int64_t T, int64_t pos, int64_t L) {
    switch (r->kind) {
    case LEXT_ROPE_SCALING_NONE: return 1.0;
    case LEXT_ROPE_SCALING_DYNAMIC_NTK: {
        double f = r->factor > 0 ? r->factor : 1.0;
        double s = f * (double)(pos + 1) / (double)L - (f - 1.0);
        return s > 1.0 ? s : 1.0;
    }
    default:
        if (r->factor > 0) return r->factor;
        return T > L ? (double)T / (double)L : 1.0;
    }
}

double lext_rope_scaling_factor(const lext_rope_scaling *r, int64_t T, int64_t train_len) {
    if (!r || train_len < 1) return 1.0;
    if (T < 1) /* no length: a given static factor still applies, auto and dynamic give 1 */
        return r->kind != LEXT_ROPE_SCALING_DYNAMIC_NTK && r->kind != LEXT_ROPE_SCALING_NONE
                   ? (r->factor > 0 ? r->factor : 1.0)
                   : 1.0;
    return factor_at(r, T, T - 1, train_len);
}

lext_status lext_model_set_rope_scaling(lext_model *m, const lext_rope_scaling *r) {
    if (!m) return lext_fail(LEXT_ERR_ARG, "no model");
    if (!r) {
        lext_rope_scaling_default(&m->rope_scaling);
        return LEXT_OK;
    }
    LEXT_TRY(lext_rope_scaling_validate(r, &m->cfg));
    m->rope_scaling = *r;
    return LEXT_OK;
}

const lext_rope_scaling *lext_model_rope_scaling(const lext_model *m) { return &m->rope_scaling; }

bool rope_scaling_per_row(const lext_rope_scaling *r) {
    return r && r->kind == LEXT_ROPE_SCALING_DYNAMIC_NTK;
}

/* YaRN's correction dimension: the pair index j whose wavelength 2 pi / theta_j turns `rot`
 * times over L, from theta_j = base^(-2j/d): j = d ln(L / (2 pi rot)) / (2 ln base) */
static double yarn_dim(double rot, double d, double base, double L) {
    return d * log(L / (rot * 2.0 * M_PI)) / (2.0 * log(base));
}

rope_params rope_params_at(const lext_config *c, const lext_rope_scaling *r, int64_t T,
                           int64_t pos, double *omega) {
    const int64_t hd = c->d_model / c->n_head;
    const int P = (int)(hd / 2);
    const double d = (double)hd, base = c->rope_base, L = (double)c->train_len;
    const lext_rope_scaling none = {LEXT_ROPE_SCALING_NONE, 0, 32, 1, false};
    if (!r) r = &none;
    const double s = factor_at(r, T, pos, c->train_len);
    rope_params out = {s, 1.0, c->xpos_scale_base};
    if (r->xpos_decay_scaled) out.decay_base = s * c->xpos_scale_base;
    switch (r->kind) {
    case LEXT_ROPE_SCALING_NONE:
        for (int j = 0; j < P; j++) omega[j] = pow(base, -2.0 * j / d);
        break;
    case LEXT_ROPE_SCALING_LINEAR: /* positions t / s */
        for (int j = 0; j < P; j++) omega[j] = pow(base, -2.0 * j / d) / s;
        break;
    case LEXT_ROPE_SCALING_NTK:
    case LEXT_ROPE_SCALING_DYNAMIC_NTK: { /* base' = base s^(d/(d-2)) */
        const double b2 = base * pow(s, d / (d - 2.0));
        for (int j = 0; j < P; j++) omega[j] = pow(b2, -2.0 * j / d);
        break;
    }
    case LEXT_ROPE_SCALING_YARN: {
        double lo = floor(yarn_dim(r->beta_fast, d, base, L));
        double hi = ceil(yarn_dim(r->beta_slow, d, base, L));
        lo = lo > 0 ? lo : 0;
        hi = hi < d - 1 ? hi : d - 1;
        if (hi == lo) hi += 0.001; /* the reference's guard against a zero-width ramp */
        for (int j = 0; j < P; j++) {
            const double theta = pow(base, -2.0 * j / d);
            double ramp = ((double)j - lo) / (hi - lo); /* 0: keep theta, 1: interpolate */
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            omega[j] = theta / s * ramp + theta * (1.0 - ramp);
        }
        out.mscale = s > 1 ? 0.1 * log(s) + 1.0 : 1.0;
        break;
    }
    case LEXT_ROPE_SCALING_COUNT: LEXT_ASSERT(!"invalid rope scaling");
    }
    return out;
}
