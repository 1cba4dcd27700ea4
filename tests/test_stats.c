/*
 * test_stats.c - bootstrap intervals and verdicts (src/stats.c):
 *   (a) cases whose answer is worked out by hand: two documents of perplexity 1 and 4 give
 *       the estimate 2 and the interval [1, 4] (a quarter of the resamples draw each
 *       document twice); two seeds of perplexity 1 and 9 give 5 and [1, 9]; a model b
 *       whose every document is twice as perplexing gives the ratio 1/2 exactly, with no
 *       spread, because the pairs resample together;
 *   (b) the interval narrows as documents are added, and a fixed seed reproduces it;
 *   (c) verdicts: a straddling interval reads "not resolved at this budget", a clear one
 *       holds or fails by the side of its claim;
 *   (d) bad input is refused by name.
 */
#include "harness.h"
#include "lext.h"

#include <math.h>

#define R 2000

TEST(bootstrap_hand_computed) {
    /* documents of 10 predictions: losses 0 and 10 ln 4, perplexities 1 and 4 */
    const double tok[2] = {10, 10}, loss[2] = {0, 10 * log(4.0)};
    lext_doc_losses a = {loss, tok, 1, 2};
    lext_interval iv;
    CHECK(lext_bootstrap_ppl(&a, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
    /* pooled: exp(10 ln 4 / 20) = 2; draws {0,0} -> 1, {1,1} -> 4, mixed -> 2 */
    CHECK(fabs(iv.est - 2.0) < 1e-12, "estimate %.17g, want 2", iv.est);
    CHECK(fabs(iv.lo - 1.0) < 1e-12 && fabs(iv.hi - 4.0) < 1e-12, "interval [%.17g, %.17g], want [1, 4]",
          iv.lo, iv.hi);

    /* one document, two seeds of perplexity 1 and 9: the mean 5, draws 1, 9 or 5 */
    const double tok1[1] = {10}, loss2[2] = {0, 10 * log(9.0)};
    lext_doc_losses s = {loss2, tok1, 2, 1};
    CHECK(lext_bootstrap_ppl(&s, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
    CHECK(fabs(iv.est - 5.0) < 1e-12, "two seeds: estimate %.17g, want 5", iv.est);
    CHECK(fabs(iv.lo - 1.0) < 1e-12 && fabs(iv.hi - 9.0) < 1e-12,
          "two seeds: interval [%.17g, %.17g], want [1, 9]", iv.lo, iv.hi);

    /* one document of one seed: nothing to resample, so no interval (not a zero-width one) */
    lext_doc_losses one = {loss, tok, 1, 1};
    CHECK(lext_bootstrap_ppl(&one, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
    CHECK(fabs(iv.est - 1.0) < 1e-12 && isnan(iv.lo) && isnan(iv.hi),
          "one document: %.17g [%g, %g], want 1 and no interval", iv.est, iv.lo, iv.hi);
    CHECK(lext_judge(&iv, 2.0, false) == LEXT_VERDICT_UNRESOLVED, "one document: a claim on it resolved");

    /* paired: b's every document has loss + tokens ln 2, so ppl(a)/ppl(b) = 1/2 in every
     * resample; unpaired resampling would spread it */
    enum { N = 7 };
    double ta[N], la[N], lb[N];
    for (int d = 0; d < N; d++) {
        ta[d] = 50 + 10 * d;
        la[d] = ta[d] * (1.0 + 0.3 * d);
        lb[d] = la[d] + ta[d] * log(2.0);
    }
    lext_doc_losses A = {la, ta, 1, N}, B = {lb, ta, 1, N};
    CHECK(lext_bootstrap_ratio(&A, &B, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
    CHECK(fabs(iv.est - 0.5) < 1e-12 && fabs(iv.lo - 0.5) < 1e-12 && fabs(iv.hi - 0.5) < 1e-12,
          "paired ratio %.17g [%.17g, %.17g], want 0.5 [0.5, 0.5]", iv.est, iv.lo, iv.hi);
    CHECK(lext_bootstrap_ppl(&A, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK && iv.hi - iv.lo > 0.5,
          "the documents differ, so a's own interval is wide: [%g, %g]", iv.lo, iv.hi);
}

/* n documents of 100 predictions, per-token losses 1 + 0.3 z (z normal, from seed) */
static void noisy(lext_rng *g, size_t n, double *tok, double *loss) {
    for (size_t d = 0; d < n; d++) {
        tok[d] = 100;
        loss[d] = 100 * (1.0 + 0.3 * lext_rng_normal(g));
    }
}

TEST(bootstrap_narrows_with_documents_and_is_reproducible) {
    enum { MAXN = 512 };
    static double tok[MAXN], loss[MAXN];
    lext_rng g;
    lext_rng_seed(&g, 5);
    noisy(&g, MAXN, tok, loss);
    double prev = INFINITY, first = 0;
    for (size_t n = 8; n <= MAXN; n *= 4) { /* 8, 32, 128, 512: the first n documents */
        lext_doc_losses a = {loss, tok, 1, n};
        lext_interval iv;
        CHECK(lext_bootstrap_ppl(&a, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
        double w = iv.hi - iv.lo;
        printf("  %3zu documents: ppl %.4f [%.4f, %.4f], width %.4f\n", n, iv.est, iv.lo, iv.hi, w);
        CHECK(iv.lo <= iv.est && iv.est <= iv.hi, "%zu documents: estimate outside its interval", n);
        CHECK(w < prev, "%zu documents: width %g did not shrink from %g", n, w, prev);
        if (n == 8) first = w;
        /* the width goes as 1/sqrt(n): 64 times the documents, about an eighth */
        if (n == MAXN) CHECK(w < first / 4, "512 documents: width %g, not under a quarter of %g", w, first);
        prev = w;
    }
    lext_doc_losses a = {loss, tok, 1, 32};
    lext_interval x, y, z;
    lext_bootstrap_ppl(&a, R, LEXT_BOOTSTRAP_SEED, &x);
    lext_bootstrap_ppl(&a, R, LEXT_BOOTSTRAP_SEED, &y);
    lext_bootstrap_ppl(&a, R, LEXT_BOOTSTRAP_SEED + 1, &z);
    CHECK(x.lo == y.lo && x.hi == y.hi, "the same seed gave [%.17g, %.17g] and [%.17g, %.17g]", x.lo,
          x.hi, y.lo, y.hi);
    CHECK(x.lo != z.lo || x.hi != z.hi, "another seed gave the very same interval");
}

TEST(verdicts) {
    const lext_interval straddle = {0.99, 0.97, 1.02}, below = {0.8, 0.75, 0.85},
                        touch = {0.9, 0.8, 1.0}, nan_iv = {NAN, NAN, NAN};
    /* claim "ratio < 1" (a better than b) */
    CHECK(lext_judge(&straddle, 1.0, false) == LEXT_VERDICT_UNRESOLVED, "straddling: resolved");
    CHECK(lext_judge(&straddle, 1.0, true) == LEXT_VERDICT_UNRESOLVED, "straddling (above): resolved");
    CHECK(lext_judge(&below, 1.0, false) == LEXT_VERDICT_HOLDS, "below 1: does not hold");
    CHECK(lext_judge(&below, 1.0, true) == LEXT_VERDICT_FAILS, "below 1, claimed above: does not fail");
    CHECK(lext_judge(&touch, 1.0, false) == LEXT_VERDICT_UNRESOLVED, "touching the threshold: resolved");
    CHECK(lext_judge(&nan_iv, 1.0, false) == LEXT_VERDICT_UNRESOLVED, "NaN interval: resolved");
    CHECK(strcmp(lext_verdict_name(lext_judge(&straddle, 1.0, false)), "not resolved at this budget") == 0,
          "straddling reads '%s'", lext_verdict_name(lext_judge(&straddle, 1.0, false)));
    CHECK(strcmp(lext_verdict_name(LEXT_VERDICT_HOLDS), "holds") == 0 &&
              strcmp(lext_verdict_name(LEXT_VERDICT_FAILS), "fails") == 0,
          "verdict names");

    /* from data: b equals a up to a per-document +-5% that averages out -> straddles 1 */
    enum { N = 40 };
    double tok[N], la[N], lb[N];
    lext_rng g;
    lext_rng_seed(&g, 9);
    noisy(&g, N, tok, la);
    for (int d = 0; d < N; d++) lb[d] = la[d] + tok[d] * (d % 2 ? 0.05 : -0.05);
    lext_doc_losses A = {la, tok, 1, N}, B = {lb, tok, 1, N};
    lext_interval iv;
    CHECK(lext_bootstrap_ratio(&A, &B, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
    printf("  even pair: ratio %.4f [%.4f, %.4f]\n", iv.est, iv.lo, iv.hi);
    CHECK(lext_judge(&iv, 1.0, false) == LEXT_VERDICT_UNRESOLVED,
          "a pair differing by symmetric noise: '%s' on [%g, %g]",
          lext_verdict_name(lext_judge(&iv, 1.0, false)), iv.lo, iv.hi);
    /* b 10% worse per token (+-5% noise): a is better, the claim holds */
    for (int d = 0; d < N; d++) lb[d] = la[d] + tok[d] * (0.1 + (d % 2 ? 0.05 : -0.05));
    CHECK(lext_bootstrap_ratio(&A, &B, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s", lext_last_error());
    printf("  b worse: ratio %.4f [%.4f, %.4f]\n", iv.est, iv.lo, iv.hi);
    CHECK(lext_judge(&iv, 1.0, false) == LEXT_VERDICT_HOLDS, "a clearly better: '%s' on [%g, %g]",
          lext_verdict_name(lext_judge(&iv, 1.0, false)), iv.lo, iv.hi);
}

/* Two growths compared on the same documents: model 1 grows by exactly 1.2 on every
 * document and seed, model 2 by 1.5, over base losses that differ wildly by document and
 * seed; pairing all four cells gives 0.8 in every resample. A hand-computed estimate on
 * noisy data checks the formula itself. */
TEST(bootstrap_ratio_of_ratios) {
    enum { S = 2, N = 9 };
    double tok[N], b[S * N], a[S * N], d[S * N], c[S * N];
    lext_rng g;
    lext_rng_seed(&g, 7);
    for (int k = 0; k < N; k++) tok[k] = 40 + 13 * k;
    for (int i = 0; i < S * N; i++) {
        double t = tok[i % N];
        b[i] = t * (1.0 + lext_rng_uniform(&g));
        d[i] = t * (0.5 + 2 * lext_rng_uniform(&g));
        a[i] = b[i] + t * log(1.2);
        c[i] = d[i] + t * log(1.5);
    }
    lext_doc_losses A = {a, tok, S, N}, B = {b, tok, S, N}, C = {c, tok, S, N}, D = {d, tok, S, N};
    lext_interval iv;
    CHECK(lext_bootstrap_ratio_of_ratios(&A, &B, &C, &D, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s",
          lext_last_error());
    CHECK(fabs(iv.est - 0.8) < 1e-12 && fabs(iv.lo - 0.8) < 1e-12 && fabs(iv.hi - 0.8) < 1e-12,
          "growth ratio %.17g [%.17g, %.17g], want 0.8 [0.8, 0.8]", iv.est, iv.lo, iv.hi);
    /* noisy: the estimate is (mean_s ppl_a / mean_s ppl_b) / (mean_s ppl_c / mean_s ppl_d) */
    for (int i = 0; i < S * N; i++) a[i] += tok[i % N] * 0.3 * lext_rng_uniform(&g);
    double pa = 0, pb = 0, pc = 0, pd = 0, T = 0;
    for (int k = 0; k < N; k++) T += tok[k];
    for (int s = 0; s < S; s++) {
        double la = 0, lb = 0, lc = 0, ld = 0;
        for (int k = 0; k < N; k++) la += a[s * N + k], lb += b[s * N + k], lc += c[s * N + k], ld += d[s * N + k];
        pa += exp(la / T) / S, pb += exp(lb / T) / S, pc += exp(lc / T) / S, pd += exp(ld / T) / S;
    }
    double want = (pa / pb) / (pc / pd);
    CHECK(lext_bootstrap_ratio_of_ratios(&A, &B, &C, &D, R, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK, "%s",
          lext_last_error());
    CHECK(fabs(iv.est - want) < 1e-12 * want && iv.lo < iv.est && iv.est < iv.hi,
          "noisy growth ratio %.17g [%g, %g], want %.17g inside a proper interval", iv.est, iv.lo,
          iv.hi, want);
    lext_doc_losses short_d = {d, tok, S, N - 1};
    CHECK(lext_bootstrap_ratio_of_ratios(&A, &B, &C, &short_d, R, 1, &iv) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "model d"),
          "mismatched model d: '%s'", lext_last_error());
    CHECK(lext_bootstrap_ratio_of_ratios(&A, &B, NULL, &D, R, 1, &iv) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "model c is missing"),
          "missing model c: '%s'", lext_last_error());
}

TEST(bootstrap_bad_input) {
    const double tok[2] = {10, 10}, tok0[2] = {10, 0}, loss[2] = {1, 2}, inf[2] = {1, INFINITY};
    const double tok3[3] = {1, 1, 1}, loss3[3] = {1, 1, 1};
    lext_interval iv;
    const struct {
        lext_doc_losses a, b;
        int64_t r;
        const char *sub;
    } cases[] = {
        {{loss, tok, 1, 0}, {0}, R, "no documents"},
        {{loss, tok, 0, 2}, {0}, R, "no seeds"},
        {{loss, tok0, 1, 2}, {0}, R, "document 1 has 0 tokens"},
        {{inf, tok, 1, 2}, {0}, R, "not finite"},
        {{loss, tok, 1, 2}, {0}, 10, "resamples must be in"},
        {{loss, tok, 1, 2}, {loss3, tok3, 1, 3}, R, "pairs need the same"},
        {{loss, tok, 1, 2}, {loss, tok, 2, 1}, R, "pairs need the same"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lext_status s = cases[i].b.loss
                            ? lext_bootstrap_ratio(&cases[i].a, &cases[i].b, cases[i].r, 1, &iv)
                            : lext_bootstrap_ppl(&cases[i].a, cases[i].r, 1, &iv);
        CHECK(s == LEXT_ERR_ARG && strstr(lext_last_error(), cases[i].sub),
              "case %zu: status %d, message '%s', want '%s'", i, (int)s, lext_last_error(),
              cases[i].sub);
    }
}
