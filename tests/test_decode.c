/*
 * test_decode.c - the kv-cache decoder against the full forward pass: for every position
 * scheme, causal and window (and bca, which decodes as the window of its block), logits
 * fed one token at a time and in prefill chunks equal the full forward's logits under the
 * same mask at every position; sampling is deterministic and respects top-k / top-p.
 */
#include "harness.h"
#include "model.h"

static lext_model *tiny(lext_pos_kind pos, int train_len, double scale_base) {
    lext_config c;
    lext_config_default(&c);
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 16;
    c.d_ff = 24;
    c.vocab_size = 32;
    c.train_len = train_len;
    c.pos = pos;
    c.xpos_scale_base = scale_base;
    c.embed_scale = pos == LEXT_POS_SINUSOIDAL; /* as the experiment trains it; learned unscaled */
    lext_model *m = NULL;
    if (lext_model_create(&c, &m)) return NULL;
    lext_model_init(m, 3);
    for (int i = 0; i < lext_model_num_tensors(m); i++) { /* larger weights: real signal */
        const lext_param *p = lext_model_tensor(m, i);
        if (p->ndim == 2)
            for (size_t k = 0; k < p->numel; k++) p->data[k] = (float)(0.3 * h_rand());
    }
    return m;
}

/* worst |decoded - full| / max|full| over all positions, feeding in chunks of `chunk` and
 * comparing each call's last logits (chunk 1: every position) */
static double compare(lext_model *m, const lext_attn *mask, int64_t T, int64_t chunk,
                      int64_t max_context) {
    const int V = lext_model_config(m)->vocab_size;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)T);
    for (int64_t t = 0; t < T; t++) tok[t] = (int32_t)((h_rand() + 1) * 16) % V;
    lext_ctx *ctx;
    if (lext_ctx_create(m, 1, T, false, &ctx)) return INFINITY;
    /* the full forward under the decoder's mask: bca decodes as a window of the block */
    lext_attn full = *mask;
    if (full.mode == LEXT_ATTN_BCA) full = (lext_attn){LEXT_ATTN_WINDOW, 0, mask->block};
    if (lext_forward(m, ctx, tok, NULL, 1, T, &full, NULL)) return INFINITY;
    const float *ref = lext_ctx_logits(ctx);
    lext_decoder *d;
    if (lext_decoder_create(m, mask, max_context, chunk, &d)) return INFINITY;
    float *lg = malloc(sizeof(float) * (size_t)V);
    double num = 0, den = 0;
    for (int64_t t0 = 0; t0 < T; t0 += chunk) {
        int64_t n = T - t0 < chunk ? T - t0 : chunk;
        if (lext_decoder_feed(m, d, tok + t0, n, lg)) {
            num = INFINITY;
            break;
        }
        const float *r = ref + (t0 + n - 1) * V;
        for (int v = 0; v < V; v++) {
            num = fmax(num, fabs((double)lg[v] - r[v]));
            den = fmax(den, fabs((double)r[v]));
        }
    }
    free(lg);
    free(tok);
    lext_decoder_free(d);
    lext_ctx_free(ctx);
    return num / den;
}

TEST(decoder_equals_full_forward_every_scheme) {
    for (int pos = 0; pos < LEXT_POS_COUNT; pos++) {
        const bool learned = pos == LEXT_POS_LEARNED;
        const int64_t T = learned ? 24 : 37;
        lext_model *m = tiny((lext_pos_kind)pos, learned ? 24 : 16, 4.0);
        CHECK(m != NULL, "model");
        const lext_attn masks[] = {{LEXT_ATTN_CAUSAL, 0, 0}, {LEXT_ATTN_WINDOW, 0, 5},
                                   {LEXT_ATTN_BCA, 8, 0}};
        double worst = 0;
        for (size_t mi = 0; mi < 3; mi++)
            for (int64_t chunk = 1; chunk <= 9; chunk += 4) { /* 1, 5, 9 (> window) */
                double e = compare(m, &masks[mi], T, chunk, 64);
                worst = fmax(worst, e);
                CHECK(e <= 1e-4, "%s %s chunk %lld: %.2e", lext_pos_name((lext_pos_kind)pos),
                      lext_attn_name(masks[mi].mode), (long long)chunk, e);
            }
        printf("  %-10s decoded vs full forward: worst %.2e\n", lext_pos_name((lext_pos_kind)pos),
               worst);
        lext_model_free(m);
    }
}

TEST(decoder_long_window_xpos_default_scale) {
    /* 3000 positions, window 64, the default XPOS scale base: the ring wraps many times */
    lext_model *m = tiny(LEXT_POS_XPOS, 64, 512.0);
    lext_attn w = {LEXT_ATTN_WINDOW, 0, 64};
    double e = compare(m, &w, 3000, 1, 0);
    printf("  xpos window 64 over 3000 tokens: %.2e\n", e);
    CHECK(e <= 1e-4, "long window decode: %.2e", e);
    lext_model_free(m);
}

TEST(decoder_causal_limit_is_an_error) {
    lext_model *m = tiny(LEXT_POS_ROPE, 16, 512.0);
    lext_attn c = {LEXT_ATTN_CAUSAL, 0, 0};
    lext_decoder *d;
    CHECK(lext_decoder_create(m, &c, 10, 4, &d) == LEXT_OK, "create");
    int32_t tok[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    CHECK(lext_decoder_feed(m, d, tok, 10, NULL) == LEXT_OK, "10 tokens fit");
    CHECK(lext_decoder_feed(m, d, tok, 1, NULL) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "max context"),
          "the 11th token must fail, not truncate: %s", lext_last_error());
    lext_decoder_free(d);
    lext_model_free(m);
    lext_model *lm = tiny(LEXT_POS_LEARNED, 8, 512.0);
    lext_attn wdw = {LEXT_ATTN_WINDOW, 0, 4};
    CHECK(lext_decoder_create(lm, &wdw, 0, 4, &d) == LEXT_OK, "create");
    CHECK(lext_decoder_feed(lm, d, tok, 9, NULL) == LEXT_ERR_ARG, "learned positions stop at 8");
    lext_decoder_free(d);
    lext_model_free(lm);
}

/* Context extension: the decoder rotates each new token once, at its position, under the
 * model's scaling; the forward must give the same logits (dynamic-ntk included: each
 * position keeps the base of the step at which it was the newest token). An auto factor
 * resolves against the causal decoder's max context, so the forward of that length. */
TEST(decoder_equals_full_forward_under_rope_scaling) {
    const lext_pos_kind kinds[] = {LEXT_POS_ROPE, LEXT_POS_XPOS};
    struct {
        lext_rope_scaling_kind kind;
        double factor;
        bool decay_scaled;
    } cases[] = {{LEXT_ROPE_SCALING_LINEAR, 2.5, false},      {LEXT_ROPE_SCALING_NTK, 3.0, false},
                 {LEXT_ROPE_SCALING_DYNAMIC_NTK, 2.0, false}, {LEXT_ROPE_SCALING_DYNAMIC_NTK, 0, false},
                 {LEXT_ROPE_SCALING_YARN, 0, false},          {LEXT_ROPE_SCALING_YARN, 4.0, true},
                 {LEXT_ROPE_SCALING_LINEAR, 0, true}};
    const int64_t T = 37;
    for (size_t k = 0; k < 2; k++) {
        lext_model *m = tiny(kinds[k], 16, 8.0);
        CHECK(m != NULL, "model");
        double worst = 0;
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            lext_rope_scaling rs;
            lext_rope_scaling_default(&rs);
            rs.kind = cases[ci].kind;
            rs.factor = cases[ci].factor;
            rs.xpos_decay_scaled = cases[ci].decay_scaled && kinds[k] == LEXT_POS_XPOS;
            CHECK(lext_model_set_rope_scaling(m, &rs) == LEXT_OK, "set: %s", lext_last_error());
            const bool auto_static = rs.factor == 0 && rs.kind != LEXT_ROPE_SCALING_DYNAMIC_NTK;
            const lext_attn masks[] = {{LEXT_ATTN_CAUSAL, 0, 0}, {LEXT_ATTN_WINDOW, 0, 5},
                                       {LEXT_ATTN_BCA, 8, 0}};
            for (size_t mi = 0; mi < (auto_static ? 1u : 3u); mi++)
                for (int64_t chunk = 1; chunk <= 9; chunk += 8) {
                    double e = compare(m, &masks[mi], T, chunk, mi == 0 ? T : 0);
                    worst = fmax(worst, e);
                    CHECK(e <= 1e-4, "%s %s factor %g%s %s chunk %lld: %.2e",
                          lext_pos_name(kinds[k]), lext_rope_scaling_name(rs.kind), rs.factor,
                          rs.xpos_decay_scaled ? " decay scaled" : "", lext_attn_name(masks[mi].mode),
                          (long long)chunk, e);
                }
        }
        printf("  %-5s decoded vs full forward under every rope scaling: worst %.2e\n",
               lext_pos_name(kinds[k]), worst);
        lext_model_free(m);
    }
}

/* Attention extensions: the decoder's sinks live outside the ring (kept after it wraps),
 * its map-B keys in their own cache; logits equal the full forward's under the same rule
 * (bca decodes as the window of its block, and so does compare's forward). 200 tokens over a
 * window of 5 wrap the ring many times. */
TEST(decoder_equals_full_forward_under_attention_extensions) {
    const struct {
        lext_pos_kind pos;
        lext_attn_ext e;
        lext_attn m;
        int64_t T;
    } cases[] = {
        {LEXT_POS_ROPE, {LEXT_EXT_SINKS, 3, LEXT_SINK_CACHE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 5}, 200},
        {LEXT_POS_XPOS, {LEXT_EXT_SINKS, 3, LEXT_SINK_CACHE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 5}, 200},
        {LEXT_POS_XPOS, {LEXT_EXT_SINKS, 2, LEXT_SINK_CAPPED, 0, 0, 0}, {LEXT_ATTN_BCA, 8, 0}, 60},
        {LEXT_POS_ROPE, {LEXT_EXT_SINKS, 4, LEXT_SINK_ABSOLUTE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 6}, 60},
        {LEXT_POS_ALIBI, {LEXT_EXT_SINKS, 2, LEXT_SINK_ABSOLUTE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 6}, 60},
        {LEXT_POS_NONE, {LEXT_EXT_SINKS, 2, LEXT_SINK_ABSOLUTE, 0, 0, 0}, {LEXT_ATTN_WINDOW, 0, 6}, 60},
        {LEXT_POS_ROPE, {LEXT_EXT_SELF_EXTEND, 0, 0, 4, 6, 0}, {LEXT_ATTN_CAUSAL, 0, 0}, 60},
        {LEXT_POS_XPOS, {LEXT_EXT_SELF_EXTEND, 0, 0, 3, 5, 0}, {LEXT_ATTN_CAUSAL, 0, 0}, 60},
        {LEXT_POS_XPOS, {LEXT_EXT_SELF_EXTEND, 0, 0, 2, 4, 0}, {LEXT_ATTN_WINDOW, 0, 12}, 60},
        {LEXT_POS_ROPE, {LEXT_EXT_REROPE, 0, 0, 0, 0, 6}, {LEXT_ATTN_CAUSAL, 0, 0}, 60},
        {LEXT_POS_XPOS, {LEXT_EXT_REROPE, 0, 0, 0, 0, 4}, {LEXT_ATTN_CAUSAL, 0, 0}, 60},
    };
    double worst = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        lext_model *m = tiny(cases[k].pos, 16, 8.0);
        CHECK(m != NULL, "model");
        CHECK(lext_model_set_attn_ext(m, &cases[k].e) == LEXT_OK, "set: %s", lext_last_error());
        for (int64_t chunk = 1; chunk <= 9; chunk += 8) {
            double e = compare(m, &cases[k].m, cases[k].T, chunk,
                               cases[k].m.mode == LEXT_ATTN_CAUSAL ? cases[k].T : 0);
            worst = fmax(worst, e);
            CHECK(e <= 1e-4, "%s %s%s%s %s chunk %lld: %.2e", lext_pos_name(cases[k].pos),
                  lext_attn_ext_name(cases[k].e.kind), cases[k].e.kind == LEXT_EXT_SINKS ? " " : "",
                  cases[k].e.kind == LEXT_EXT_SINKS ? lext_sink_pos_name(cases[k].e.sink_pos) : "",
                  lext_attn_name(cases[k].m.mode), (long long)chunk, e);
        }
        lext_model_free(m);
    }
    printf("  decoded vs full forward under every attention extension: worst %.2e\n", worst);
}

TEST(attn_ext_bad_input) {
    lext_model *rope = tiny(LEXT_POS_ROPE, 16, 512.0), *alibi = tiny(LEXT_POS_ALIBI, 16, 512.0);
    CHECK(rope && alibi, "models");
    lext_attn_ext e;
    lext_attn_ext_default(&e);
    e.kind = LEXT_EXT_SINKS;
    CHECK(lext_model_set_attn_ext(rope, &e) == LEXT_ERR_ARG && strstr(lext_last_error(), ">= 1"),
          "0 sinks: %s", lext_last_error());
    e.sinks = 4;
    CHECK(lext_model_set_attn_ext(alibi, &e) == LEXT_ERR_ARG && strstr(lext_last_error(), "alibi"),
          "cache sinks on alibi: %s", lext_last_error());
    e.sink_pos = LEXT_SINK_ABSOLUTE;
    CHECK(lext_model_set_attn_ext(alibi, &e) == LEXT_OK, "absolute sinks on alibi: %s", lext_last_error());
    /* sinks with causal attention: refused by the forward and by the decoder */
    lext_ctx *ctx = NULL;
    CHECK(lext_ctx_create(alibi, 1, 32, false, &ctx) == LEXT_OK, "ctx");
    int32_t tok[32] = {0};
    lext_attn causal = {LEXT_ATTN_CAUSAL, 0, 0}, w = {LEXT_ATTN_WINDOW, 0, 4};
    CHECK(lext_forward(alibi, ctx, tok, NULL, 1, 32, &causal, NULL) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "window or bca"),
          "sinks with causal: %s", lext_last_error());
    lext_decoder *d = NULL;
    CHECK(lext_decoder_create(alibi, &causal, 32, 4, &d) == LEXT_ERR_ARG, "decoder: sinks with causal");
    CHECK(lext_forward(alibi, ctx, tok, NULL, 1, 32, &w, NULL) == LEXT_OK, "sinks with window");
    lext_ctx_free(ctx);
    /* a map-B extension set after the workspace was made: named, not a crash */
    CHECK(lext_ctx_create(rope, 1, 32, true, &ctx) == LEXT_OK, "ctx");
    e = (lext_attn_ext){LEXT_EXT_REROPE, 0, LEXT_SINK_CACHE, 0, 0, 8};
    CHECK(lext_model_set_attn_ext(rope, &e) == LEXT_OK, "rerope");
    CHECK(lext_forward(rope, ctx, tok, tok, 1, 32, &causal, NULL) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "after this workspace"),
          "extension set after the workspace: %s", lext_last_error());
    lext_ctx_free(ctx);
    /* inference-only: the backward of a forward with an extension is refused */
    CHECK(lext_ctx_create(rope, 1, 32, true, &ctx) == LEXT_OK, "ctx");
    float loss;
    CHECK(lext_forward(rope, ctx, tok, tok, 1, 32, &causal, &loss) == LEXT_OK, "forward: %s", lext_last_error());
    CHECK(lext_backward(rope, ctx) == LEXT_ERR_ARG && strstr(lext_last_error(), "inference-only"),
          "backward: %s", lext_last_error());
    lext_ctx_free(ctx);
    e = (lext_attn_ext){LEXT_EXT_SELF_EXTEND, 0, LEXT_SINK_CACHE, 0, 4, 0};
    CHECK(lext_model_set_attn_ext(rope, &e) == LEXT_ERR_ARG && strstr(lext_last_error(), "G >= 1"),
          "self-extend G 0: %s", lext_last_error());
    e = (lext_attn_ext){LEXT_EXT_REROPE, 0, LEXT_SINK_CACHE, 0, 0, 0};
    CHECK(lext_model_set_attn_ext(rope, &e) == LEXT_ERR_ARG, "rerope W 0");
    lext_sink_pos sp;
    CHECK(lext_sink_pos_parse("front", &sp) == LEXT_ERR_ARG && strstr(lext_last_error(), "'front'"),
          "unknown sink position: %s", lext_last_error());
    lext_model_free(rope);
    lext_model_free(alibi);
}

TEST(rope_scaling_bad_input) {
    lext_model *rope = tiny(LEXT_POS_ROPE, 16, 512.0), *alibi = tiny(LEXT_POS_ALIBI, 16, 512.0);
    CHECK(rope && alibi, "models");
    lext_rope_scaling rs;
    lext_rope_scaling_default(&rs);
    rs.kind = LEXT_ROPE_SCALING_LINEAR;
    CHECK(lext_model_set_rope_scaling(alibi, &rs) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "alibi"),
          "scaling an alibi model: %s", lext_last_error());
    rs.factor = 0.5;
    CHECK(lext_model_set_rope_scaling(rope, &rs) == LEXT_ERR_ARG && strstr(lext_last_error(), ">= 1"),
          "factor 0.5: %s", lext_last_error());
    rs.factor = NAN;
    CHECK(lext_model_set_rope_scaling(rope, &rs) == LEXT_ERR_ARG, "factor NaN");
    rs.factor = 2;
    rs.xpos_decay_scaled = true;
    CHECK(lext_model_set_rope_scaling(rope, &rs) == LEXT_ERR_ARG && strstr(lext_last_error(), "xpos"),
          "decay scaling on rope: %s", lext_last_error());
    rs.xpos_decay_scaled = false;
    rs.kind = LEXT_ROPE_SCALING_YARN;
    rs.beta_fast = 1;
    rs.beta_slow = 2;
    CHECK(lext_model_set_rope_scaling(rope, &rs) == LEXT_ERR_ARG && strstr(lext_last_error(), "beta"),
          "yarn beta_fast < beta_slow: %s", lext_last_error());
    lext_rope_scaling_kind k;
    CHECK(lext_rope_scaling_parse("pi", &k) == LEXT_ERR_ARG && strstr(lext_last_error(), "'pi'"),
          "unknown name: %s", lext_last_error());
    /* a refused setting leaves the model as it was */
    CHECK(lext_model_rope_scaling(rope)->kind == LEXT_ROPE_SCALING_NONE, "unchanged after refusals");
    /* auto factor with a window decoder: the length is unbounded, so the factor is needed */
    lext_rope_scaling_default(&rs);
    rs.kind = LEXT_ROPE_SCALING_NTK;
    CHECK(lext_model_set_rope_scaling(rope, &rs) == LEXT_OK, "auto ntk");
    lext_attn w = {LEXT_ATTN_WINDOW, 0, 4};
    lext_decoder *d = NULL;
    CHECK(lext_decoder_create(rope, &w, 0, 4, &d) == LEXT_ERR_ARG && strstr(lext_last_error(), "factor"),
          "auto factor with a window decoder: %s", lext_last_error());
    CHECK(lext_rope_scaling_factor(&rs, 64, 16) == 4.0 && lext_rope_scaling_factor(&rs, 8, 16) == 1.0,
          "auto factor T/L, at least 1");
    rs.kind = LEXT_ROPE_SCALING_DYNAMIC_NTK;
    rs.factor = 2;
    CHECK(fabs(lext_rope_scaling_factor(&rs, 64, 16) - 7.0) < 1e-12, "dynamic: f T/L - (f-1)");
    lext_model_free(rope);
    lext_model_free(alibi);
}

TEST(sampling) {
    float lg[6] = {0.1f, 2.0f, 1.9f, -1.0f, 2.0f, 0.5f};
    lext_rng r;
    lext_rng_seed(&r, 1);
    CHECK(lext_sample(lg, 6, 0.0, 0, 1.0, &r) == 1, "greedy picks the first maximum");
    int hist[6] = {0};
    for (int i = 0; i < 3000; i++) hist[lext_sample(lg, 6, 1.0, 2, 1.0, &r)]++;
    CHECK(hist[1] > 1200 && hist[4] > 1200 && hist[1] + hist[4] == 3000,
          "top-k 2 keeps only the two largest: %d %d", hist[1], hist[4]);
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < 3000; i++) hist[lext_sample(lg, 6, 1.0, 0, 0.3, &r)]++;
    CHECK(hist[1] == 3000, "top-p 0.3 keeps only the most likely token (%d)", hist[1]);
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < 6000; i++) hist[lext_sample(lg, 6, 1.0, 0, 1.0, &r)]++;
    CHECK(hist[3] > 0 && hist[0] > 0, "full sampling reaches unlikely tokens");
    /* same seed, same draws */
    lext_rng a, b;
    lext_rng_seed(&a, 42);
    lext_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= lext_sample(lg, 6, 0.8, 4, 0.9, &a) == lext_sample(lg, 6, 0.8, 4, 0.9, &b);
    CHECK(same, "the same seed must give the same tokens");
}
