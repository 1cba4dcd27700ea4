/*
 * test_attention.c - the mask rule, tiled attention against oracles, and the position
 * schemes against their closed forms:
 *   - tiled attention equals the naive oracle for every mode, ragged lengths, ALiBi;
 *   - bca equals causal for T <= l, and equals attention under a mask built here from the
 *     paper's definition (query blocks of l/2, previous block + causal own block) for
 *     T = 5l/2 + 3; window likewise from its definition;
 *   - XPOS logits equal the closed form of lex-paper.md section 1, and shifting every
 *     position by one offset leaves them unchanged, up to position 16384;
 *   - ALiBi slopes follow the reference rule, also for head counts that are not powers
 *     of two; sinusoidal rows follow their formula.
 */
#include "harness.h"
#include "model.h"

/* ---- an oracle with an explicit boolean mask, independent of lext_attn_lo ------------- */

/* allowed[i*T + j] from the definitions in lex-paper.md section 2 */
static void definition_mask(unsigned char *allowed, const lext_attn *a, int64_t T) {
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) {
            bool ok = j <= i;
            if (a->mode == LEXT_ATTN_BCA && T > a->block) {
                int64_t h = a->block / 2; /* query blocks of l/2 */
                ok = ok && (j / h >= i / h - 1); /* own block or the one before */
            }
            if (a->mode == LEXT_ATTN_WINDOW) ok = ok && (i - j < a->window);
            allowed[i * T + j] = ok;
        }
}

static void masked_attention(float *out, const float *q, const float *k, const float *v, int64_t ld,
                             const unsigned char *allowed, const float *slopes, int64_t B,
                             int64_t T, int64_t H, int64_t hd) {
    double *p = malloc(sizeof(double) * (size_t)T);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < T; j++) {
                    p[j] = -INFINITY;
                    if (!allowed[i * T + j]) continue;
                    double s = 0;
                    for (int64_t d = 0; d < hd; d++)
                        s += (double)q[(b * T + i) * ld + h * hd + d] * k[(b * T + j) * ld + h * hd + d];
                    p[j] = s / sqrt((double)hd) - (slopes ? slopes[h] * (double)(i - j) : 0);
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int64_t j = 0; j < T; j++) sum += (p[j] = exp(p[j] - mx));
                for (int64_t d = 0; d < hd; d++) {
                    double o = 0;
                    for (int64_t j = 0; j < T; j++) o += p[j] * v[(b * T + j) * ld + h * hd + d];
                    out[(b * T + i) * H * hd + h * hd + d] = (float)(o / sum);
                }
            }
    free(p);
}

typedef struct {
    int64_t B, T, H, hd;
    float *qkv, *out, *lse, *ref, *ref_lse;
    attn_scratch ws;
} att_case;

static void case_init(att_case *c, int64_t B, int64_t T, int64_t H, int64_t hd) {
    memset(c, 0, sizeof *c);
    c->B = B, c->T = T, c->H = H, c->hd = hd;
    size_t n = (size_t)(B * T * H * hd);
    c->qkv = malloc(3 * n * sizeof(float));
    c->out = malloc(n * sizeof(float));
    c->ref = malloc(n * sizeof(float));
    c->lse = malloc((size_t)(B * H * T) * sizeof(float));
    c->ref_lse = malloc((size_t)(B * H * T) * sizeof(float));
    h_fill(c->qkv, 3 * n, 2.0);
    attn_scratch_init(&c->ws, hd, H, B * T, false);
}
static void case_free(att_case *c) {
    free(c->qkv), free(c->out), free(c->ref), free(c->lse), free(c->ref_lse);
    attn_scratch_free(&c->ws);
}
static void run_tiled(att_case *c, const lext_attn *m, const float *slopes) {
    int64_t D = c->H * c->hd;
    attention_forward(c->out, c->lse, c->qkv, c->qkv + D, 3 * D, c->qkv + 2 * D, 3 * D, slopes, m, NULL,
                      c->B, c->T, c->H, c->hd, &c->ws);
}

/* Attention extensions (ext_row_of): the tiled forward, which scores sinks and bands in
 * separate key tiles and takes map B's scores where the rule says, against the naive
 * oracle, element by element from the same rule; map B's q and k are random too (the
 * kernel does not care what rotated them). Sinks more than a key tile (K = 150 > 128),
 * windows whose band leaves the sinks behind mid-tile, bca, every convention. */
TEST(tiled_equals_naive_with_extensions) {
    struct {
        lext_attn_ext e;
        lext_attn m;
        int64_t T;
    } cases[] = {
        {{LEXT_EXT_SINKS, 4, LEXT_SINK_CACHE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 37}, 303},
        {{LEXT_EXT_SINKS, 4, LEXT_SINK_ABSOLUTE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 37}, 303},
        {{LEXT_EXT_SINKS, 3, LEXT_SINK_CAPPED, 0, 0, 0}, {LEXT_ATTN_BCA, 40, 0}, 303},
        {{LEXT_EXT_SINKS, 150, LEXT_SINK_CACHE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 100}, 400},
        {{LEXT_EXT_SINKS, 1, LEXT_SINK_CACHE, 0, 0, 0}, {LEXT_ATTN_BCA, 40, 0}, 30}, /* T <= l: none */
        {{LEXT_EXT_SELF_EXTEND, 0, 0, 4, 32, 0}, {LEXT_ATTN_CAUSAL, 0, 0}, 303},
        {{LEXT_EXT_SELF_EXTEND, 0, 0, 3, 7, 0}, {LEXT_ATTN_WINDOW, 0, 130}, 303},
        {{LEXT_EXT_REROPE, 0, 0, 0, 0, 50}, {LEXT_ATTN_CAUSAL, 0, 0}, 303},
        {{LEXT_EXT_REROPE, 0, 0, 0, 0, 1}, {LEXT_ATTN_CAUSAL, 0, 0}, 65},
    };
    double worst = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        att_case c;
        case_init(&c, 2, cases[k].T, 2, 16);
        const int64_t D = c.H * c.hd, n = c.B * c.T;
        float *qkb = malloc(sizeof(float) * (size_t)(n * 2 * D));
        h_fill(qkb, (size_t)(n * 2 * D), 2.0);
        CHECK(attn_scratch_add_ext(&c.ws, c.hd, c.H) == LEXT_OK, "scratch");
        attn_ext_args x = {&cases[k].e, qkb, qkb + D};
        /* map B's operands share map A's row stride (2D here, 3D for A: give A 2D too) */
        float *qka = malloc(sizeof(float) * (size_t)(n * 2 * D));
        for (int64_t r = 0; r < n; r++) memcpy(qka + r * 2 * D, c.qkv + r * 3 * D, sizeof(float) * (size_t)(2 * D));
        attention_forward(c.out, c.lse, qka, qka + D, 2 * D, c.qkv + 2 * D, 3 * D, NULL, &cases[k].m, &x,
                          c.B, c.T, c.H, c.hd, &c.ws);
        attention_forward_naive(c.ref, c.ref_lse, qka, qka + D, 2 * D, c.qkv + 2 * D, 3 * D, NULL,
                                &cases[k].m, &x, c.B, c.T, c.H, c.hd);
        double e = h_rel_err(c.out, c.ref, (size_t)(n * D));
        double el = h_rel_err(c.lse, c.ref_lse, (size_t)(c.B * c.H * c.T));
        /* and the extension changed something (except where the rule says it cannot) */
        attention_forward_naive(c.ref, c.ref_lse, qka, qka + D, 2 * D, c.qkv + 2 * D, 3 * D, NULL,
                                &cases[k].m, NULL, c.B, c.T, c.H, c.hd);
        const double moved = h_rel_err(c.out, c.ref, (size_t)(n * D));
        worst = fmax(worst, fmax(e, el));
        CHECK(e <= 1e-5 && el <= 1e-5, "%s %s T=%lld: out %.2e lse %.2e",
              lext_attn_ext_name(cases[k].e.kind), lext_attn_name(cases[k].m.mode),
              (long long)cases[k].T, e, el);
        const bool inert = cases[k].T <= cases[k].m.block && cases[k].m.mode == LEXT_ATTN_BCA;
        CHECK(inert ? moved <= 1e-5 : moved > 1e-3, "%s %s T=%lld: moved the output by %.2e",
              lext_attn_ext_name(cases[k].e.kind), lext_attn_name(cases[k].m.mode),
              (long long)cases[k].T, moved);
        free(qkb);
        free(qka);
        case_free(&c);
    }
    printf("  tiled vs naive under attention extensions: worst %.2e\n", worst);
}

TEST(tiled_equals_naive) {
    const int64_t Ts[] = {1, 7, 64, 65, 200, 303};
    float slopes[3] = {0.5f, 0.1f, 0.01f};
    double worst = 0;
    for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
        for (int mode = 0; mode < LEXT_ATTN_COUNT; mode++)
            for (int al = 0; al <= 1; al++) {
                att_case c;
                case_init(&c, 2, Ts[ti], 3, 16);
                lext_attn m = {(lext_attn_mode)mode, 40, 37};
                int64_t D = c.H * c.hd;
                run_tiled(&c, &m, al ? slopes : NULL);
                attention_forward_naive(c.ref, c.ref_lse, c.qkv, c.qkv + D, 3 * D, c.qkv + 2 * D,
                                        3 * D, al ? slopes : NULL, &m, NULL, c.B, c.T, c.H, c.hd);
                size_t n = (size_t)(c.B * c.T * D);
                double e = h_rel_err(c.out, c.ref, n);
                double el = h_rel_err(c.lse, c.ref_lse, (size_t)(c.B * c.H * c.T));
                worst = fmax(worst, fmax(e, el));
                CHECK(e <= 1e-5 && el <= 1e-5, "T=%lld %s alibi=%d: out %.2e lse %.2e",
                      (long long)c.T, lext_attn_name(m.mode), al, e, el);
                case_free(&c);
            }
    /* blocks whose half is not a multiple of the 64-row query tile, and so large that a
     * query tile's rows start their band in different key tiles (h = 150: rows 256..299
     * see keys from 0, rows 300..319 from 150) */
    const struct {
        int64_t T, block, window;
    } big[] = {{400, 300, 300}, {650, 260, 200}, {1000, 516, 333}};
    for (size_t k = 0; k < sizeof big / sizeof *big; k++)
        for (int mode = LEXT_ATTN_BCA; mode <= LEXT_ATTN_WINDOW; mode++) {
            att_case c;
            case_init(&c, 1, big[k].T, 2, 16);
            lext_attn m = {(lext_attn_mode)mode, big[k].block, big[k].window};
            int64_t D = c.H * c.hd;
            run_tiled(&c, &m, NULL);
            attention_forward_naive(c.ref, c.ref_lse, c.qkv, c.qkv + D, 3 * D, c.qkv + 2 * D,
                                    3 * D, NULL, &m, NULL, c.B, c.T, c.H, c.hd);
            double e = h_rel_err(c.out, c.ref, (size_t)(c.B * c.T * D));
            double el = h_rel_err(c.lse, c.ref_lse, (size_t)(c.B * c.H * c.T));
            worst = fmax(worst, fmax(e, el));
            CHECK(e <= 1e-5 && el <= 1e-5, "T=%lld %s l=%lld W=%lld: out %.2e lse %.2e",
                  (long long)c.T, lext_attn_name(m.mode), (long long)m.block,
                  (long long)m.window, e, el);
            case_free(&c);
        }
    printf("  worst tiled vs naive: %.2e\n", worst);
}

TEST(bca_is_causal_up_to_block) {
    for (int64_t T = 1; T <= 48; T += 47) {
        att_case c;
        case_init(&c, 1, T, 2, 8);
        lext_attn bca = {LEXT_ATTN_BCA, 48, 0}, causal = {LEXT_ATTN_CAUSAL, 0, 0};
        run_tiled(&c, &causal, NULL);
        memcpy(c.ref, c.out, sizeof(float) * (size_t)(T * 16));
        run_tiled(&c, &bca, NULL);
        CHECK(memcmp(c.ref, c.out, sizeof(float) * (size_t)(T * 16)) == 0,
              "bca must equal causal exactly at T=%lld <= l=48", (long long)T);
        case_free(&c);
    }
    /* and differs just past l */
    att_case c;
    case_init(&c, 1, 49 + 24, 2, 8);
    lext_attn bca = {LEXT_ATTN_BCA, 48, 0}, causal = {LEXT_ATTN_CAUSAL, 0, 0};
    run_tiled(&c, &causal, NULL);
    memcpy(c.ref, c.out, sizeof(float) * (size_t)(c.T * 16));
    run_tiled(&c, &bca, NULL);
    CHECK(h_rel_err(c.out, c.ref, (size_t)(c.T * 16)) > 1e-3, "bca past l must differ from causal");
    case_free(&c);
}

TEST(masks_match_their_definitions) {
    const int64_t l = 16;
    const int64_t T = 5 * l / 2 + 3; /* 43: a ragged last block */
    const lext_attn modes[] = {{LEXT_ATTN_CAUSAL, 0, 0}, {LEXT_ATTN_BCA, l, 0},
                               {LEXT_ATTN_WINDOW, 0, l}, {LEXT_ATTN_WINDOW, 0, 1},
                               {LEXT_ATTN_WINDOW, 0, 5}};
    float slopes[2] = {0.25f, 0.0625f};
    unsigned char *allowed = malloc((size_t)(T * T));
    for (size_t mi = 0; mi < sizeof modes / sizeof *modes; mi++) {
        definition_mask(allowed, &modes[mi], T);
        /* the library's rule admits exactly the same pairs */
        int64_t bad = 0;
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = 0; j < T; j++)
                bad += allowed[i * T + j] != (j >= lext_attn_lo(&modes[mi], T, i) && j <= i);
        CHECK(bad == 0, "%s: %lld (i, j) pairs differ from the definition",
              lext_attn_name(modes[mi].mode), (long long)bad);
        if (modes[mi].mode == LEXT_ATTN_BCA) { /* never more than l keys, at least h+1 */
            for (int64_t i = 0; i < T; i++) {
                int64_t n = 0;
                for (int64_t j = 0; j < T; j++) n += allowed[i * T + j];
                CHECK(n <= l && (i < l / 2 || n >= l / 2 + 1), "bca row %lld sees %lld keys",
                      (long long)i, (long long)n);
            }
        }
        for (int al = 0; al <= 1; al++) {
            att_case c;
            case_init(&c, 2, T, 2, 8);
            run_tiled(&c, &modes[mi], al ? slopes : NULL);
            masked_attention(c.ref, c.qkv, c.qkv + 16, c.qkv + 32, 48, allowed, al ? slopes : NULL,
                             c.B, c.T, c.H, c.hd);
            double e = h_rel_err(c.out, c.ref, (size_t)(c.B * c.T * 16));
            CHECK(e <= 1e-5, "%s (W %lld) alibi=%d vs definition: %.2e",
                  lext_attn_name(modes[mi].mode), (long long)modes[mi].window, al, e);
            case_free(&c);
        }
    }
    free(allowed);
}

/* ---- XPOS and RoPE ------------------------------------------------------------------------ */

/* lex-paper.md section 1: the logit of query m and key n, Delta = m - n, in double */
static double xpos_closed_form(const float *q, const float *k, int64_t delta, int hd, double gamma,
                               double B, double base, bool decay, double *scale) {
    double s = 0, mag = 0;
    for (int j = 0; j < hd / 2; j++) {
        double theta = pow(base, -2.0 * j / hd);
        double zeta = decay ? (2.0 * j + gamma * hd) / ((1 + gamma) * hd) : 1.0;
        double z = pow(zeta, (double)delta / B);
        double a = (double)q[2 * j] * k[2 * j] + (double)q[2 * j + 1] * k[2 * j + 1];
        double b = (double)q[2 * j] * k[2 * j + 1] - (double)q[2 * j + 1] * k[2 * j];
        s += z * (a * cos(delta * theta) + b * sin(delta * theta));
        mag += z * (fabs(q[2 * j]) + fabs(q[2 * j + 1])) * (fabs(k[2 * j]) + fabs(k[2 * j + 1]));
    }
    *scale = mag / sqrt((double)hd);
    return s / sqrt((double)hd);
}

/* q', k' of one head (hd) at table row r (H = 1, D = hd) */
static void transform(float *qk_out, const float *q, const float *k, const rotary_table *t,
                      int64_t r, int hd) {
    float in[3 * 128], out[2 * 128];
    memcpy(in, q, sizeof(float) * (size_t)hd);
    memcpy(in + hd, k, sizeof(float) * (size_t)hd);
    /* the transform of row r alone: point a one-row view of the table at it */
    rotary_table row = *t;
    row.cos += r * t->P, row.sin += r * t->P;
    if (t->xpos) row.qs += r * t->P, row.ks += r * t->P;
    row.n = 1;
    rotary_forward(out, 2 * hd, in, 3 * hd, &row, 1, 1, hd, 1);
    memcpy(qk_out, out, sizeof(float) * 2 * (size_t)hd);
}

static double dotf(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

TEST(xpos_and_rope_match_closed_form) {
    const int hd = 64;
    const int64_t T = 16384;
    for (int xpos = 0; xpos <= 1; xpos++) {
        lext_config c;
        lext_config_default(&c);
        c.pos = xpos ? LEXT_POS_XPOS : LEXT_POS_ROPE;
        c.d_model = hd;
        c.n_head = 1;
        rotary_table t;
        CHECK(rotary_table_init(&t, &c, T) == LEXT_OK, "table");
        rotary_table_fill(&t, &c, NULL, 0, T, rotary_centre(T), T);
        float q[64], k[64], qa[128], ka[128];
        double worst = 0;
        const int64_t pairs[][2] = {{0, 0},       {5, 3},        {300, 0},     {1023, 1000},
                                    {4096, 0},    {8191, 8192 - 1000}, {16383, 0}, {16383, 16383},
                                    {12000, 7000}, {16383, 15360}};
        for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++) {
            h_fill(q, hd, 1.0);
            h_fill(k, hd, 1.0);
            int64_t m = pairs[p][0], n = pairs[p][1];
            transform(qa, q, k, &t, m, hd);
            transform(ka, q, k, &t, n, hd);
            double got = dotf(qa, ka + hd, hd) / sqrt((double)hd), scale;
            double want = xpos_closed_form(q, k, m - n, hd, c.xpos_gamma, c.xpos_scale_base,
                                           c.rope_base, xpos, &scale);
            double e = fabs(got - want) / scale;
            worst = fmax(worst, e);
            CHECK(e <= 1e-5, "%s m=%lld n=%lld: %.9g vs closed form %.9g (rel %.2e)",
                  xpos ? "xpos" : "rope", (long long)m, (long long)n, got, want, e);
        }
        printf("  %s vs closed form, positions to 16383: worst %.2e\n", xpos ? "xpos" : "rope",
               worst);
        rotary_table_free(&t);
    }
}

TEST(xpos_logits_are_relative) {
    const int hd = 64, n = 64;
    lext_config c;
    lext_config_default(&c);
    c.pos = LEXT_POS_XPOS;
    c.d_model = hd;
    c.n_head = 1;
    rotary_table base, shifted;
    rotary_table_init(&base, &c, n);
    rotary_table_init(&shifted, &c, n);
    rotary_table_fill(&base, &c, NULL, 0, n, rotary_centre(n), n);
    static float q[64 * 64], k[64 * 64], qa[64][128], ka[64][128], qb[64][128], kb[64][128];
    h_fill(q, (size_t)n * hd, 1.0);
    h_fill(k, (size_t)n * hd, 1.0);
    for (int i = 0; i < n; i++) transform(qa[i], q + i * hd, k + i * hd, &base, i, hd);
    for (int i = 0; i < n; i++) memcpy(ka[i], qa[i] + hd, sizeof(float) * hd);
    const int64_t offsets[] = {1, 100, 1000, 4096, 8000, 16384 - 64};
    double worst = 0;
    for (size_t o = 0; o < sizeof offsets / sizeof *offsets; o++)
        for (int fixed = 0; fixed <= 1; fixed++) {
            /* centre moving with the positions, or the centre of a 16384-token sequence */
            int64_t centre = fixed ? rotary_centre(16384) : offsets[o] + rotary_centre(n);
            rotary_table_fill(&shifted, &c, NULL, offsets[o], n, centre, n);
            for (int i = 0; i < n; i++) transform(qb[i], q + i * hd, k + i * hd, &shifted, i, hd);
            for (int i = 0; i < n; i++) memcpy(kb[i], qb[i] + hd, sizeof(float) * hd);
            double num = 0, den = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++) {
                    double a = dotf(qa[i], ka[j], hd), b = dotf(qb[i], kb[j], hd);
                    num = fmax(num, fabs(a - b));
                    den = fmax(den, fabs(a));
                }
            worst = fmax(worst, num / den);
            CHECK(num / den <= 1e-5, "offset %lld (%s centre): logits moved by %.2e",
                  (long long)offsets[o], fixed ? "fixed" : "shifted", num / den);
        }
    printf("  xpos logits under a shift of up to 16320 positions: worst %.2e\n", worst);
    rotary_table_free(&base);
    rotary_table_free(&shifted);
}

TEST(xpos_decay_values) {
    /* lex-paper.md: d = 64, B = 512: pair 0 keeps 0.0816 of its weight at distance 1024
     * and 4.4e-5 at 4096; pair 31 keeps 0.956 and 0.835 */
    double z0 = (0 + 0.4 * 64) / (1.4 * 64), z31 = (62 + 0.4 * 64) / (1.4 * 64);
    CHECK(fabs(z0 - 0.2857) < 1e-4 && fabs(z31 - 0.9777) < 1e-4, "zeta ends %.4f %.4f", z0, z31);
    lext_config c;
    lext_config_default(&c);
    c.pos = LEXT_POS_XPOS;
    c.d_model = 64;
    c.n_head = 1;
    rotary_table t;
    rotary_table_init(&t, &c, 4097);
    rotary_table_fill(&t, &c, NULL, 0, 4097, 0, 4097); /* centre 0: qs(t) = zeta^(t/B) */
    CHECK(fabs(t.qs[1024 * 32 + 0] - 0.0816) < 5e-4, "pair 0 at 1024: %g", (double)t.qs[1024 * 32]);
    CHECK(fabs(t.qs[4096 * 32 + 0] - 4.4e-5) < 5e-6, "pair 0 at 4096: %g", (double)t.qs[4096 * 32]);
    CHECK(fabs(t.qs[1024 * 32 + 31] - 0.956) < 5e-4, "pair 31 at 1024: %g",
          (double)t.qs[1024 * 32 + 31]);
    CHECK(fabs(t.qs[4096 * 32 + 31] - 0.835) < 5e-4, "pair 31 at 4096: %g",
          (double)t.qs[4096 * 32 + 31]);
    CHECK(fabs(t.qs[5 * 32 + 3] * t.ks[5 * 32 + 3] - 1.0f) < 1e-6, "key scale is the inverse");
    rotary_table_free(&t);
}

/* ---- ALiBi and sinusoids ------------------------------------------------------------------ */

TEST(alibi_slopes_reference_rule) {
    float s8[8], s6[6], s1[1], s12[12];
    alibi_slopes(s8, 8);
    for (int h = 0; h < 8; h++)
        CHECK(s8[h] == ldexpf(1.0f, -(h + 1)), "H=8 head %d: %g", h, (double)s8[h]);
    /* H = 6: slopes of 4 heads (2^-2, 2^-4, 2^-6, 2^-8), then every other slope of 8 heads
     * (2^-1, 2^-3) */
    const float want6[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
    alibi_slopes(s6, 6);
    for (int h = 0; h < 6; h++)
        CHECK(s6[h] == want6[h], "H=6 head %d: %g want %g", h, (double)s6[h], (double)want6[h]);
    alibi_slopes(s1, 1);
    CHECK(s1[0] == 1.0f / 256.0f, "H=1: %g", (double)s1[0]);
    /* H = 12: 8 heads 2^-1..2^-8, then 16-head slopes 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5 */
    alibi_slopes(s12, 12);
    for (int h = 0; h < 4; h++)
        CHECK(fabsf(s12[8 + h] - powf(2.0f, -0.5f - (float)h)) < 1e-7f, "H=12 head %d: %g", 8 + h,
              (double)s12[8 + h]);
}

TEST(sinusoidal_formula) {
    float tab[3 * 10];
    sinusoidal_table(tab, 7, 3, 10);
    double worst = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 5; i++) {
            double a = (7.0 + r) / pow(10000.0, 2.0 * i / 10.0);
            worst = fmax(worst, fabs(tab[r * 10 + 2 * i] - sin(a)));
            worst = fmax(worst, fabs(tab[r * 10 + 2 * i + 1] - cos(a)));
        }
    CHECK(worst < 1e-7, "sinusoidal table off by %g", worst);
}
