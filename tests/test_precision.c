/*
 * test_precision.c - bf16 matrix products (lext train --precision bf16; src/precision.h).
 *
 *   - rounding to bf16 against hand-computed bit patterns (ties to even, carries into the
 *     exponent, overflow to infinity, NaN, signed zero, subnormals), and against an
 *     independent rounding written from the definition (the nearer of the two neighbouring
 *     bf16 values, compared in double; ties to the even one) on every upper half with
 *     awkward lower halves and on a million random bit patterns;
 *   - the workspace: bf16 logits differ from fp32 ones by about bf16's resolution (not 0,
 *     not more), a workspace switched back to fp32 gives fp32's logits bit for bit, a bad
 *     precision is refused, and the bf16 buffers are counted in lext_ctx_bytes;
 *   - training steps in bf16 are deterministic and bring the loss down like fp32.
 * Parity of bf16 logits, gradients and AdamW steps with PyTorch is in tests/test_parity.py.
 */
#include "harness.h"
#include "model.h"
#include "precision.h"

#include <stdint.h>

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* bf16 rounding from its definition: the representable neighbours below and above |x| (low
 * 16 bits cleared, then one bf16 ulp more), the nearer one in exact double arithmetic,
 * the one with an even last bit on a tie. Finite x only. */
static uint32_t round_by_definition(uint32_t u) {
    uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u; /* hi may step into the next binade or inf */
    double x = fabs((double)from_bits(u)), a = fabs((double)from_bits(lo));
    double b = (hi & 0x7fffffffu) >= 0x7f800000u ? ldexp(1.0, 128) : fabs((double)from_bits(hi));
    /* bf16's largest finite value is 0x7f7f; past it, IEEE rounds to infinity when x is at
     * least halfway to 2^128, which is what b = 2^128 above encodes */
    if (x - a < b - x) return lo;
    if (x - a > b - x) return hi;
    return (lo & 0x10000u) ? hi : lo;
}

TEST(bf16_round_hand_values) {
    static const struct {
        uint32_t in, out;
        const char *what;
    } cases[] = {
        {0x3f800000u, 0x3f800000u, "1 is exact"},
        {0x3f808000u, 0x3f800000u, "1 + 2^-8, a tie, goes to the even 1"},
        {0x3f818000u, 0x3f820000u, "1 + 3 * 2^-8, a tie, goes to the even 1 + 2^-6"},
        {0x3f808001u, 0x3f810000u, "just above the tie rounds up"},
        {0x3f807fffu, 0x3f800000u, "just below the tie rounds down"},
        {0x3fffffffu, 0x40000000u, "a carry into the exponent: 2 - 2^-23 -> 2"},
        {0xbf808001u, 0xbf810000u, "negative values round by magnitude"},
        {0x80000000u, 0x80000000u, "-0 stays -0"},
        {0x00000001u, 0x00000000u, "the smallest subnormal rounds to 0"},
        {0x00008000u, 0x00000000u, "a subnormal tie goes to the even 0"},
        {0x00018000u, 0x00020000u, "a subnormal tie goes to the even 0x0002"},
        {0x7f7f7fffu, 0x7f7f0000u, "below the tie at bf16's largest stays finite"},
        {0x7f7f8000u, 0x7f800000u, "the tie at bf16's largest goes to the even infinity"},
        {0x7f7fffffu, 0x7f800000u, "float's largest rounds to infinity"},
        {0x7f800000u, 0x7f800000u, "infinity stays"},
        {0xff800000u, 0xff800000u, "-infinity stays"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t got = bits(bf16_round1(from_bits(cases[i].in)));
        CHECK(got == cases[i].out, "%s: %08x -> %08x, expected %08x", cases[i].what,
              cases[i].in, got, cases[i].out);
    }
    /* NaNs stay NaN, also the ones whose payload lies only in the low 16 bits */
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof *nans; i++) {
        float r = bf16_round1(from_bits(nans[i]));
        CHECK(isnan(r) && (bits(r) & 0xffffu) == 0, "NaN %08x -> %08x", nans[i], bits(r));
    }
}

TEST(bf16_round_matches_the_definition) {
    static const uint32_t lows[] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x1234u};
    const size_t nl = sizeof lows / sizeof *lows;
    const size_t n = 65536 * nl;
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    size_t k = 0;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (size_t j = 0; j < nl; j++) in[k++] = from_bits(hi << 16 | lows[j]);
    bf16_round(out, in, n); /* the vectorised, threaded path */
    size_t bad = 0, checked = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = bits(in[i]);
        if ((u & 0x7fffffffu) >= 0x7f800000u) continue; /* inf and NaN: hand values above */
        checked++;
        uint32_t want = round_by_definition(u);
        if (bits(out[i]) != want && bad++ < 5)
            CHECK(0, "%08x -> %08x, the definition gives %08x", u, bits(out[i]), want);
        if (bits(out[i]) != bits(bf16_round1(in[i])) && bad++ < 5)
            CHECK(0, "%08x: bf16_round and bf16_round1 disagree", u);
    }
    CHECK(bad == 0, "%zu of %zu values rounded wrongly", bad, checked);
    CHECK(checked > 450000, "only %zu finite values checked", checked);
    /* random patterns; in place (dst == src) */
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        in[i] = from_bits((uint32_t)(s >> 17));
        out[i] = in[i];
    }
    bf16_round(out, out, n);
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = bits(in[i]);
        if ((u & 0x7fffffffu) >= 0x7f800000u) continue;
        if (bits(out[i]) != round_by_definition(u)) bad++;
    }
    CHECK(bad == 0, "%zu random values rounded wrongly in place", bad);
    free(in);
    free(out);
}

static lext_model *small_model(lext_pos_kind pos, uint64_t seed) {
    h_seed = 0x2545f4914f6cdd1dULL ^ seed; /* the same weights for the same seed */
    lext_config c;
    lext_config_default(&c);
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 32;
    c.d_ff = 64;
    c.train_len = 32;
    c.pos = pos;
    lext_model *m = NULL;
    if (lext_model_create(&c, &m)) return NULL;
    lext_model_init(m, seed);
    for (int i = 0; i < lext_model_num_tensors(m); i++) { /* larger weights: real signal */
        const lext_param *p = lext_model_tensor(m, i);
        if (p->ndim == 2)
            for (size_t k = 0; k < p->numel; k++) p->data[k] = (float)(0.3 * h_rand());
    }
    return m;
}

TEST(workspace_precision) {
    lext_model *m = small_model(LEXT_POS_XPOS, 7);
    if (!CHECK(m, "model")) return;
    const int64_t B = 2, T = 32, N = B * T, V = 256;
    int32_t tok[64], tgt[64];
    for (int i = 0; i < N; i++) tok[i] = (i * 37 + 11) % 256, tgt[i] = (i * 53 + 5) % 256;
    lext_ctx *ctx = NULL;
    if (!CHECK(lext_ctx_create(m, B, T, false, &ctx) == LEXT_OK, "ctx")) return;
    size_t fp32_bytes = lext_ctx_bytes(ctx);
    float *ref = malloc(sizeof(float) * (size_t)(N * V)), *lo = malloc(sizeof(float) * (size_t)(N * V));
    float l32 = 0, l16 = 0;
    CHECK(lext_forward(m, ctx, tok, tgt, B, T, NULL, &l32) == LEXT_OK, "fp32 forward");
    memcpy(ref, lext_ctx_logits(ctx), sizeof(float) * (size_t)(N * V));

    CHECK(lext_ctx_set_precision(ctx, LEXT_PRECISION_BF16) == LEXT_OK, "set bf16: %s",
          lext_last_error());
    CHECK(lext_ctx_bytes(ctx) > fp32_bytes + lext_model_num_params(m) * sizeof(float),
          "the bf16 buffers are not counted: %zu vs %zu", lext_ctx_bytes(ctx), fp32_bytes);
    CHECK(lext_forward(m, ctx, tok, tgt, B, T, NULL, &l16) == LEXT_OK, "bf16 forward");
    memcpy(lo, lext_ctx_logits(ctx), sizeof(float) * (size_t)(N * V));
    /* every operand carries a relative error of up to 2^-9: the logits move by about that
     * much, far more than fp32 rounding (1e-6) and far less than 10% */
    double e = h_rel_err(lo, ref, (size_t)(N * V));
    printf("  bf16 against fp32: logits %.3g, loss %.7g vs %.7g\n", e, (double)l16, (double)l32);
    CHECK(e > 1e-4 && e < 0.05, "bf16 logits differ from fp32 by %.3g", e);
    CHECK(fabs((double)l16 - l32) < 0.02 * fabs((double)l32) && l16 != l32,
          "bf16 loss %.7g vs fp32 %.7g", (double)l16, (double)l32);
    /* the parameters themselves are untouched (master weights stay fp32) */
    int changed = 0;
    const lext_param *p = lext_model_find_tensor(m, "layers.0.mlp.up.weight");
    for (size_t k = 0; k < p->numel; k++) changed |= (bits(p->data[k]) & 0xffffu) != 0;
    CHECK(changed, "the fp32 weights were rounded in place");

    CHECK(lext_ctx_set_precision(ctx, LEXT_PRECISION_FP32) == LEXT_OK, "back to fp32");
    CHECK(lext_ctx_bytes(ctx) == fp32_bytes, "fp32 workspace keeps %zu bytes, had %zu",
          lext_ctx_bytes(ctx), fp32_bytes);
    CHECK(lext_forward(m, ctx, tok, tgt, B, T, NULL, &l32) == LEXT_OK, "fp32 forward again");
    CHECK(memcmp(lext_ctx_logits(ctx), ref, sizeof(float) * (size_t)(N * V)) == 0,
          "fp32 after bf16 is not bit-identical to fp32");

    CHECK(lext_ctx_set_precision(ctx, LEXT_PRECISION_AUTO) == LEXT_ERR_ARG, "AUTO accepted");
    CHECK(lext_ctx_set_precision(ctx, (lext_precision)7) == LEXT_ERR_ARG, "7 accepted");
    lext_precision pr;
    CHECK(lext_precision_parse("bf16", &pr) == LEXT_OK && pr == LEXT_PRECISION_BF16, "parse bf16");
    CHECK(lext_precision_parse("fp32", &pr) == LEXT_OK && pr == LEXT_PRECISION_FP32, "parse fp32");
    CHECK(lext_precision_parse("fp16", &pr) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "fp16") != NULL,
          "fp16: %s", lext_last_error());
    CHECK(lext_precision_parse(NULL, &pr) == LEXT_ERR_ARG, "NULL accepted");
    free(ref);
    free(lo);
    lext_ctx_free(ctx);
    lext_model_free(m);
}

/* n AdamW steps on a fixed batch; returns the last loss and the first, through *first */
static float train_steps(lext_precision prec, int steps, float *first, float *params_out) {
    lext_model *m = small_model(LEXT_POS_ROPE, 9);
    const int64_t B = 4, T = 32, N = B * T;
    int32_t tok[128], tgt[128];
    for (int i = 0; i < N; i++) tok[i] = (i * 7 + i / 5) % 64, tgt[i] = (i * 7 + i / 5 + 7) % 64;
    lext_ctx *ctx = NULL;
    lext_optim *o = NULL;
    lext_optim_config oc;
    lext_optim_config_default(&oc, steps);
    oc.lr = 3e-3;
    float loss = NAN;
    if (m && !lext_ctx_create(m, B, T, true, &ctx) && !lext_ctx_set_precision(ctx, prec) &&
        !lext_optim_create(m, &oc, &o)) {
        for (int s = 0; s < steps; s++) {
            lext_model_zero_grad(m);
            if (lext_forward(m, ctx, tok, tgt, B, T, NULL, &loss) || lext_backward(m, ctx) ||
                lext_optim_step(o, m, s, NULL)) {
                loss = NAN;
                break;
            }
            if (s == 0) *first = loss;
        }
        if (params_out) memcpy(params_out, lext_model_params(m), lext_model_num_params(m) * sizeof(float));
    }
    lext_optim_free(o);
    lext_ctx_free(ctx);
    lext_model_free(m);
    return loss;
}

TEST(bf16_training_is_deterministic_and_learns) {
    lext_model *probe = small_model(LEXT_POS_ROPE, 9);
    size_t np = lext_model_num_params(probe);
    lext_model_free(probe);
    float *a = malloc(np * sizeof(float)), *b = malloc(np * sizeof(float));
    float f32 = 0, f16a = 0, f16b = 0;
    float l32 = train_steps(LEXT_PRECISION_FP32, 40, &f32, NULL);
    float l16 = train_steps(LEXT_PRECISION_BF16, 40, &f16a, a);
    float l16b = train_steps(LEXT_PRECISION_BF16, 40, &f16b, b);
    printf("  40 steps: fp32 loss %.4f -> %.4f, bf16 %.4f -> %.4f\n", (double)f32, (double)l32,
           (double)f16a, (double)l16);
    CHECK(isfinite(l32) && isfinite(l16), "losses %g %g", (double)l32, (double)l16);
    CHECK(l16 == l16b && memcmp(a, b, np * sizeof(float)) == 0, "two bf16 runs differ");
    CHECK(l32 < 0.5f * f32 && l16 < 0.5f * f16a, "no learning: fp32 %g -> %g, bf16 %g -> %g",
          (double)f32, (double)l32, (double)f16a, (double)l16);
    CHECK(fabs((double)l16 - l32) <= 0.1 * l32, "after 40 steps bf16 %g vs fp32 %g", (double)l16,
          (double)l32);
    free(a);
    free(b);
}
