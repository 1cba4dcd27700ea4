/*
 * test_eval.c - evaluation by length and attention resolution (src/eval.c):
 *   (a) a segment of exactly the training length scores as the training forward does;
 *   (b) the paper's protocol: the first N bytes of each long-enough document, floor(N/L)
 *       segments of L, L - 1 predictions each, short documents counted, learned positions
 *       past train_len reported as skipped; losses equal segment-by-segment forwards;
 *   (c) bca is plain causal up to its block (bit for bit) and differs past it;
 *   (d) lext_resolution against values worked out by hand, and the pair counts and the
 *       bias inside lext_scores_add;
 *   (e) the theoretical curve g[n] of rope and xpos.
 */
#include "harness.h"
#include "lext.h"

#include <stdint.h>

/* ---- helpers --------------------------------------------------------------------------- */

static lext_model *small_model(lext_pos_kind pos, int train_len, uint64_t seed) {
    lext_config c;
    lext_config_default(&c);
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 16;
    c.d_ff = 32;
    c.train_len = train_len;
    c.pos = pos;
    c.xpos_scale_base = 32; /* a visible decay at these short lengths */
    lext_model *m = NULL;
    if (!CHECK(lext_model_create(&c, &m) == LEXT_OK, "model: %s", lext_last_error())) return NULL;
    lext_model_init(m, seed);
    return m;
}

/* Documents of the given lengths filled with random bytes (names stay NULL). */
static lext_dataset make_docs(const size_t *lens, size_t n) {
    lext_dataset d = {calloc(n, sizeof(lext_doc)), n, 0};
    for (size_t i = 0; i < n; i++) {
        d.docs[i].bytes = malloc(lens[i] ? lens[i] : 1);
        d.docs[i].len = lens[i];
        for (size_t t = 0; t < lens[i]; t++) d.docs[i].bytes[t] = (uint8_t)((h_rand() + 1) * 128);
        d.total_bytes += lens[i];
    }
    return d;
}

static double cell_loss(const lext_eval_cell *c) { return c->loss_sum / (double)c->tokens; }

/* The reference: every segment of every used document through its own forward (B = 1),
 * tokens bytes[s L, (s+1) L), targets shifted by one, the last ignored. */
static double reference_loss(lext_model *m, const lext_dataset *d, int64_t N, int64_t L,
                             const lext_attn *attn, int64_t *tokens) {
    lext_ctx *ctx = NULL;
    CHECK(lext_ctx_create(m, 1, L, false, &ctx) == LEXT_OK, "ctx: %s", lext_last_error());
    int32_t *tok = malloc((size_t)L * sizeof *tok), *tgt = malloc((size_t)L * sizeof *tgt);
    double sum = 0;
    *tokens = 0;
    for (size_t i = 0; i < d->n_docs; i++) {
        if (d->docs[i].len < (size_t)N) continue;
        for (int64_t s = 0; s < N / L; s++) {
            const uint8_t *b = d->docs[i].bytes + s * L;
            for (int64_t t = 0; t < L; t++) tok[t] = b[t], tgt[t] = t + 1 < L ? b[t + 1] : -1;
            float loss = 0;
            CHECK(lext_forward(m, ctx, tok, tgt, 1, L, attn, &loss) == LEXT_OK, "forward: %s",
                  lext_last_error());
            sum += (double)loss * (double)lext_ctx_num_targets(ctx);
            *tokens += lext_ctx_num_targets(ctx);
        }
    }
    free(tok);
    free(tgt);
    lext_ctx_free(ctx);
    return sum;
}

typedef struct {
    int calls;
    int64_t last_done, last_total;
    bool monotone;
} progress_log;

static void log_progress(const lext_eval_progress *p, void *user) {
    progress_log *pl = user;
    pl->monotone &= p->done > pl->last_done && p->done <= p->total;
    pl->calls++;
    pl->last_done = p->done;
    pl->last_total = p->total;
}

/* ---- (a) ------------------------------------------------------------------------------- */

TEST(eval_at_train_len_equals_training_forward) {
    const lext_pos_kind kinds[] = {LEXT_POS_XPOS, LEXT_POS_ALIBI, LEXT_POS_LEARNED, LEXT_POS_NONE};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        const int l = 32;
        lext_model *m = small_model(kinds[k], l, 11 + k);
        if (!m) return;
        size_t len = 50; /* longer than l: only the first l bytes count */
        lext_dataset d = make_docs(&len, 1);
        int64_t lengths[] = {l};
        lext_attn causal = lext_attn_make(LEXT_ATTN_CAUSAL, l);
        lext_eval_cell cell;
        lext_eval_summary sum;
        CHECK(lext_evaluate(m, &d, lengths, 1, &causal, 1, 0, &cell, &sum, NULL, NULL) == LEXT_OK,
              "evaluate: %s", lext_last_error());

        lext_ctx *ctx = NULL;
        CHECK(lext_ctx_create(m, 1, l, true, &ctx) == LEXT_OK, "ctx: %s", lext_last_error());
        int32_t tok[32], tgt[32];
        for (int t = 0; t < l; t++)
            tok[t] = d.docs[0].bytes[t], tgt[t] = t + 1 < l ? d.docs[0].bytes[t + 1] : -1;
        float loss = 0;
        CHECK(lext_forward(m, ctx, tok, tgt, 1, l, NULL, &loss) == LEXT_OK, "forward: %s",
              lext_last_error());
        double ev = cell_loss(&cell);
        CHECK(fabs(ev - loss) <= 1e-6 * fabs(loss), "%s: eval %.9g vs training forward %.9g",
              lext_pos_name(kinds[k]), ev, (double)loss);
        CHECK(cell.tokens == l - 1 && lext_ctx_num_targets(ctx) == l - 1 && cell.segments == 1 &&
                  cell.docs == 1,
              "%s: %lld tokens, %lld segments", lext_pos_name(kinds[k]), (long long)cell.tokens,
              (long long)cell.segments);
        lext_ctx_free(ctx);
        lext_dataset_free(&d);
        lext_model_free(m);
    }
}

/* ---- (b) ------------------------------------------------------------------------------- */

TEST(eval_protocol_counts_and_segments) {
    /* N = 64: the 40-byte document is skipped; 64 % 24 != 0 leaves 16 bytes unused */
    const size_t lens[] = {100, 64, 40, 64, 200};
    lext_dataset d = make_docs(lens, 5);
    lext_model *m = small_model(LEXT_POS_XPOS, 16, 3);
    if (!m) return;
    const int64_t lengths[] = {8, 24, 64};
    lext_attn modes[] = {lext_attn_make(LEXT_ATTN_CAUSAL, 16), lext_attn_make(LEXT_ATTN_BCA, 16)};
    lext_eval_cell cells[6];
    lext_eval_summary sum;
    progress_log pl = {0, 0, 0, true};
    for (int pass = 0; pass < 2; pass++) {
        /* batch_tokens 1 (one segment of N per pass, raised to N) and 4096 (many): the same
         * segments, batched differently */
        int64_t bt = pass == 0 ? 1 : 4096;
        pl = (progress_log){0, 0, 0, true};
        CHECK(lext_evaluate(m, &d, lengths, 3, modes, 2, bt, cells, &sum, log_progress, &pl) ==
                  LEXT_OK,
              "evaluate: %s", lext_last_error());
        CHECK(sum.docs_used == 4 && sum.docs_skipped == 1 && sum.longest == 200,
              "summary: %zu used, %zu skipped, longest %zu", sum.docs_used, sum.docs_skipped,
              sum.longest);
        int64_t total = 0;
        for (int li = 0; li < 3; li++)
            for (int k = 0; k < 2; k++) {
                const lext_eval_cell *c = &cells[li * 2 + k];
                int64_t L = lengths[li], segs = (64 / L) * 4;
                /* a bca cell at L <= block is causal attention: copied, not evaluated again */
                bool copied = k == 1 && modes[1].mode == LEXT_ATTN_BCA && L <= modes[1].block;
                if (!copied) total += c->segments;
                if (copied)
                    CHECK(c->loss_sum == cells[li * 2].loss_sum && c->tokens == cells[li * 2].tokens &&
                              c->attn.mode == LEXT_ATTN_BCA,
                          "L=%lld: bca at L <= l must repeat causal's numbers", (long long)L);
                CHECK(c->length == L && c->attn.mode == modes[k].mode && !c->skipped,
                      "cell %d,%d identity", li, k);
                CHECK(c->docs == 4 && c->segments == segs && c->tokens == segs * (L - 1),
                      "L=%lld %s: docs %lld segments %lld tokens %lld, expected 4, %lld, %lld",
                      (long long)L, lext_attn_name(modes[k].mode), (long long)c->docs,
                      (long long)c->segments, (long long)c->tokens, (long long)segs,
                      (long long)(segs * (L - 1)));
                int64_t ref_tokens = 0;
                double ref = reference_loss(m, &d, 64, L, &modes[k], &ref_tokens);
                CHECK(ref_tokens == c->tokens && fabs(c->loss_sum - ref) <= 1e-5 * fabs(ref),
                      "L=%lld %s (batch %lld): loss sum %.9g, segment by segment %.9g",
                      (long long)L, lext_attn_name(modes[k].mode), (long long)bt, c->loss_sum, ref);
            }
        CHECK(pl.monotone && pl.calls > 0 && pl.last_done == total && pl.last_total == total,
              "progress: %d calls, done %lld of %lld, %lld evaluated", pl.calls,
              (long long)pl.last_done, (long long)pl.last_total, (long long)total);
    }
    lext_model_free(m);

    /* learned positions: cells past train_len are skipped with a reason, the rest run */
    m = small_model(LEXT_POS_LEARNED, 16, 4);
    if (!m) return;
    const int64_t ll[] = {8, 16, 32};
    lext_eval_cell lc[3];
    CHECK(lext_evaluate(m, &d, ll, 3, modes, 1, 0, lc, &sum, NULL, NULL) == LEXT_OK,
          "learned evaluate: %s", lext_last_error());
    /* N = 32 now: all five documents are long enough */
    CHECK(!lc[0].skipped && !lc[1].skipped && lc[0].segments == 20 && lc[1].segments == 10,
          "learned within train_len: %lld, %lld segments", (long long)lc[0].segments,
          (long long)lc[1].segments);
    CHECK(lc[2].skipped && lc[2].segments == 0 && lc[2].tokens == 0 && strstr(lc[2].why, "learned"),
          "learned past train_len: skipped %d, why '%s'", lc[2].skipped, lc[2].why);
    lext_model_free(m);

    /* no document long enough: an error that says how many there were and the longest */
    m = small_model(LEXT_POS_XPOS, 16, 5);
    if (!m) return;
    const int64_t big[] = {8, 1000};
    lext_status st = lext_evaluate(m, &d, big, 2, modes, 1, 0, lc, &sum, NULL, NULL);
    CHECK(st == LEXT_ERR_DATA && strstr(lext_last_error(), "5 document") &&
              strstr(lext_last_error(), "200 bytes"),
          "too short: status %d, '%s'", (int)st, lext_last_error());
    const int64_t one[] = {1};
    CHECK(lext_evaluate(m, &d, one, 1, modes, 1, 0, lc, &sum, NULL, NULL) == LEXT_ERR_ARG,
          "length 1 must be refused");
    lext_attn odd = lext_attn_make(LEXT_ATTN_BCA, 15);
    CHECK(lext_evaluate(m, &d, ll, 1, &odd, 1, 0, lc, &sum, NULL, NULL) == LEXT_ERR_ARG,
          "an odd bca block must be refused");
    lext_model_free(m);
    lext_dataset_free(&d);
}

/* ---- (c) ------------------------------------------------------------------------------- */

/* lext_evaluate_docs: each used document's sum equals that document evaluated alone,
 * segment by segment; the rows add up to the cell; bca at L <= l copies causal's row; a
 * skipped cell's row is NaN; a short buffer is refused, naming the size needed. */
TEST(eval_per_document_sums) {
    const size_t lens[] = {100, 64, 40, 64, 200};
    lext_dataset d = make_docs(lens, 5);
    lext_model *m = small_model(LEXT_POS_XPOS, 16, 3);
    if (!m) return;
    const int64_t lengths[] = {8, 24, 64};
    lext_attn modes[] = {lext_attn_make(LEXT_ATTN_CAUSAL, 16), lext_attn_make(LEXT_ATTN_BCA, 16)};
    lext_eval_cell cells[6], plain[6];
    lext_eval_summary sum;
    double dl[6 * 4];
    for (int pass = 0; pass < 2; pass++) {
        int64_t bt = pass == 0 ? 1 : 4096; /* one segment per pass, or many */
        CHECK(lext_evaluate_docs(m, &d, lengths, 3, modes, 2, bt, cells, &sum, dl, 24, NULL, NULL) ==
                  LEXT_OK,
              "evaluate_docs: %s", lext_last_error());
        CHECK(lext_evaluate(m, &d, lengths, 3, modes, 2, bt, plain, &sum, NULL, NULL) == LEXT_OK,
              "evaluate: %s", lext_last_error());
        for (int ci = 0; ci < 6; ci++) {
            const int64_t L = lengths[ci / 2];
            const lext_attn *a = &modes[ci % 2];
            CHECK(cells[ci].loss_sum == plain[ci].loss_sum && cells[ci].tokens == plain[ci].tokens,
                  "cell %d: the per-document run changed the cell", ci);
            double total = 0;
            size_t used = 0;
            for (size_t i = 0; i < d.n_docs; i++) {
                if (d.docs[i].len < 64) continue;
                lext_dataset one = {&d.docs[i], 1, d.docs[i].len}; /* borrowed, not freed */
                int64_t tok = 0;
                double ref = reference_loss(m, &one, 64, L, a, &tok);
                double got = dl[ci * 4 + (int)used];
                CHECK(tok == (64 / L) * (L - 1) && fabs(got - ref) <= 1e-5 * fabs(ref),
                      "L=%lld %s document %zu (batch %lld): %.9g, alone %.9g", (long long)L,
                      lext_attn_name(a->mode), i, (long long)bt, got, ref);
                total += got;
                used++;
            }
            CHECK(used == 4, "%zu documents used", used);
            CHECK(fabs(total - cells[ci].loss_sum) <= 1e-9 * fabs(total),
                  "cell %d: documents add up to %.12g, the cell is %.12g", ci, total,
                  cells[ci].loss_sum);
        }
        CHECK(memcmp(dl + 2 * 4, dl + 3 * 4, 4 * sizeof(double)) != 0,
              "bca at L = 24 > l = 16 must differ from causal");
        CHECK(memcmp(dl + 0, dl + 4, 4 * sizeof(double)) == 0, "bca at L <= l: causal's row");
    }
    CHECK(lext_evaluate_docs(m, &d, lengths, 3, modes, 2, 0, cells, &sum, dl, 23, NULL, NULL) ==
                  LEXT_ERR_ARG &&
              strstr(lext_last_error(), "24 doubles"),
          "a short buffer: '%s'", lext_last_error());
    lext_model_free(m);

    m = small_model(LEXT_POS_LEARNED, 16, 4);
    if (!m) return;
    const int64_t ll[] = {16, 32};
    CHECK(lext_evaluate_docs(m, &d, ll, 2, modes, 1, 0, cells, &sum, dl, 24, NULL, NULL) == LEXT_OK,
          "learned: %s", lext_last_error());
    bool nan_row = true;
    for (size_t i = 0; i < sum.docs_used; i++) nan_row = nan_row && isnan(dl[sum.docs_used + i]);
    CHECK(cells[1].skipped && nan_row && isfinite(dl[0]), "a skipped cell's row must be NaN");
    lext_model_free(m);
    lext_dataset_free(&d);
}

TEST(eval_bca_is_causal_up_to_its_block) {
    const size_t lens[] = {130, 128, 300};
    lext_dataset d = make_docs(lens, 3);
    const lext_pos_kind kinds[] = {LEXT_POS_XPOS, LEXT_POS_ROPE, LEXT_POS_ALIBI};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        lext_model *m = small_model(kinds[k], 16, 21 + k);
        if (!m) return;
        const int64_t lengths[] = {8, 16, 64, 128};
        lext_attn modes[] = {lext_attn_make(LEXT_ATTN_CAUSAL, 16), lext_attn_make(LEXT_ATTN_BCA, 16),
                             lext_attn_make(LEXT_ATTN_WINDOW, 16)};
        /* one lext_evaluate per mode: evaluated together, a bca or window cell at L <= l is
         * a copy of the causal one (eval.c), which would make the comparison hollow */
        lext_eval_cell c[12], one[4];
        for (int mi = 0; mi < 3; mi++) {
            CHECK(lext_evaluate(m, &d, lengths, 4, &modes[mi], 1, 0, one, NULL, NULL, NULL) ==
                      LEXT_OK,
                  "evaluate %s: %s", lext_attn_name(modes[mi].mode), lext_last_error());
            for (int li = 0; li < 4; li++) c[li * 3 + mi] = one[li];
        }
        for (int li = 0; li < 4; li++) {
            const lext_eval_cell *cz = &c[li * 3], *bz = &c[li * 3 + 1], *wz = &c[li * 3 + 2];
            if (lengths[li] <= 16) {
                CHECK(bz->loss_sum == cz->loss_sum && wz->loss_sum == cz->loss_sum,
                      "%s L=%lld <= block: bca %.17g, window %.17g, causal %.17g",
                      lext_pos_name(kinds[k]), (long long)lengths[li], bz->loss_sum, wz->loss_sum,
                      cz->loss_sum);
            } else {
                CHECK(bz->loss_sum != cz->loss_sum && wz->loss_sum != cz->loss_sum &&
                          bz->loss_sum != wz->loss_sum,
                      "%s L=%lld > block: bca %.17g, window %.17g, causal %.17g should differ",
                      lext_pos_name(kinds[k]), (long long)lengths[li], bz->loss_sum, wz->loss_sum,
                      cz->loss_sum);
            }
        }
        lext_model_free(m);
    }
    lext_dataset_free(&d);
}

/* ---- (d) ------------------------------------------------------------------------------- */

TEST(resolution_by_hand) {
    /* s = {0, 0}: p = (1/2, 1/2), R = sum p^2 - sum p_i p_i+1 = 1/2 - 1/4 */
    double two[] = {0, 0};
    CHECK(fabs(lext_resolution(two, 2) - 0.25) < 1e-15, "R{0,0} = %.17g", lext_resolution(two, 2));
    /* e^s = 3, 2, 1: (3 (3-2) + 2 (2-1) + 1 (1-0)) / 6^2 = 6/36 */
    double three[] = {log(3.0), log(2.0), 0};
    CHECK(fabs(lext_resolution(three, 3) - 1.0 / 6) < 1e-15, "R{ln3,ln2,0} = %.17g",
          lext_resolution(three, 3));
    double one[] = {-7.5};
    CHECK(fabs(lext_resolution(one, 1) - 1.0) < 1e-15, "one distance: R = %.17g",
          lext_resolution(one, 1));
    /* a steep fall: nearly all the mass at distance 0 */
    double steep[64];
    for (int i = 0; i < 64; i++) steep[i] = -20.0 * i;
    double rs = lext_resolution(steep, 64);
    CHECK(rs < 1 && rs > 1 - 1e-8, "steep curve: R = %.17g", rs);
    /* flat over n: p = 1/n, R = 1/n - (n-1)/n^2 = 1/n^2 */
    double flat[100] = {0};
    CHECK(fabs(lext_resolution(flat, 100) - 1e-4) < 1e-15, "flat: R = %.17g",
          lext_resolution(flat, 100));
    /* shift invariance, even for shifts that overflow a naive exp */
    double sh[64];
    for (int i = 0; i < 64; i++) sh[i] = sin(0.3 * i) - 0.05 * i;
    double r0 = lext_resolution(sh, 64);
    for (int k = 0; k < 3; k++) {
        const double c = (double[]){-800, 3.25, 900}[k];
        double s2[64];
        for (int i = 0; i < 64; i++) s2[i] = sh[i] + c;
        double r1 = lext_resolution(s2, 64);
        CHECK(fabs(r1 - r0) <= 1e-12 * fabs(r0), "shift by %g: %.17g vs %.17g", c, r1, r0);
    }
    CHECK(isnan(lext_resolution(two, 0)), "no distance: NaN");
}

/* bca's count[n] from the paper's definition, not from the library's mask rule: for T > l,
 * with blocks of h = l/2, query i sees key j <= i when j's block is i's or the one before */
static void expected_bca_counts(int64_t l, int64_t T, int64_t H, int64_t *cnt, int64_t cap) {
    const int64_t h = l / 2;
    for (int64_t n = 0; n < cap; n++) cnt[n] = 0;
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j <= i; j++)
            if (T <= l || j / h >= i / h - 1) cnt[i - j] += H;
}

TEST(scores_pair_counts) {
    lext_model *m = small_model(LEXT_POS_XPOS, 16, 31);
    if (!m) return;
    const int64_t T = 40, cap = 48, H = 2;
    int32_t tok[40];
    for (int t = 0; t < T; t++) tok[t] = (int32_t)((h_rand() + 1) * 128);
    lext_ctx *ctx = NULL;
    CHECK(lext_ctx_create(m, 1, cap, false, &ctx) == LEXT_OK, "ctx: %s", lext_last_error());
    const lext_attn masks[] = {lext_attn_make(LEXT_ATTN_CAUSAL, 16), lext_attn_make(LEXT_ATTN_WINDOW, 5),
                               lext_attn_make(LEXT_ATTN_BCA, 8)};
    int64_t want[48];
    for (int k = 0; k < 3; k++) {
        lext_scores s;
        CHECK(lext_scores_init(&s, 2, cap) == LEXT_OK, "scores init");
        CHECK(lext_scores_add(m, ctx, tok, T, &masks[k], &s) == LEXT_OK, "scores: %s",
              lext_last_error());
        expected_bca_counts(8, T, H, want, cap);
        int bad = 0;
        for (int l = 0; l < 2; l++)
            for (int64_t n = 0; n < cap; n++) {
                int64_t got = s.count[l * cap + n];
                if (masks[k].mode == LEXT_ATTN_CAUSAL)
                    bad += got != (n < T ? H * (T - n) : 0); /* H (T - n) by definition */
                if (masks[k].mode == LEXT_ATTN_WINDOW)
                    bad += got != (n < 5 ? H * (T - n) : 0);
                if (masks[k].mode == LEXT_ATTN_BCA) bad += got != want[n] || (n >= 8 && got != 0);
                bad += got == 0 && s.sum[l * cap + n] != 0; /* no pair, no score */
            }
        CHECK(bad == 0, "%s: %d wrong counts", lext_attn_name(masks[k].mode), bad);
        lext_scores_free(&s);
    }
    /* bca at T <= block is causal: the same sums, bit for bit */
    lext_scores a, b;
    lext_scores_init(&a, 2, cap);
    lext_scores_init(&b, 2, cap);
    lext_attn wide = lext_attn_make(LEXT_ATTN_BCA, 40);
    lext_scores_add(m, ctx, tok, T, &masks[0], &a);
    lext_scores_add(m, ctx, tok, T, &wide, &b);
    CHECK(memcmp(a.sum, b.sum, 2 * cap * sizeof(double)) == 0 &&
              memcmp(a.count, b.count, 2 * cap * sizeof(int64_t)) == 0,
          "bca with T <= block differs from causal");
    /* sums accumulate over texts: twice the same text, twice the sums */
    lext_scores_add(m, ctx, tok, T, &masks[0], &a);
    int bad = 0;
    for (int64_t i = 0; i < 2 * cap; i++)
        bad += a.count[i] != 2 * b.count[i] || fabs(a.sum[i] - 2 * b.sum[i]) > 1e-12 * fabs(b.sum[i]);
    CHECK(bad == 0, "accumulation over texts: %d entries off", bad);
    CHECK(lext_scores_add(m, ctx, tok, T, NULL, &(lext_scores){2, 20, a.sum, a.count, NULL, 0}) == LEXT_ERR_ARG,
          "a text longer than the table must be refused");
    lext_scores_free(&a);
    lext_scores_free(&b);
    lext_ctx_free(ctx);
    lext_model_free(m);
}

TEST(scores_include_the_alibi_bias) {
    /* with q = k = 0 every logit is the bias alone: s[n] = -n mean_h(m_h), and for H = 2 the
     * slopes are 2^-4 and 2^-8 */
    lext_model *m = small_model(LEXT_POS_ALIBI, 16, 41);
    if (!m) return;
    const int D = 16;
    for (int l = 0; l < 2; l++) {
        char name[64];
        snprintf(name, sizeof name, "layers.%d.attn.qkv.weight", l);
        const lext_param *w = lext_model_find_tensor(m, name);
        snprintf(name, sizeof name, "layers.%d.attn.qkv.bias", l);
        const lext_param *bias = lext_model_find_tensor(m, name);
        if (!CHECK(w && bias, "qkv tensors")) return;
        memset(w->data, 0, 2 * D * D * sizeof(float)); /* rows q, then k */
        memset(bias->data, 0, 2 * D * sizeof(float));
    }
    const int64_t T = 24;
    int32_t tok[24];
    for (int t = 0; t < T; t++) tok[t] = t * 7 % 256;
    lext_ctx *ctx = NULL;
    lext_scores s;
    CHECK(lext_ctx_create(m, 1, T, false, &ctx) == LEXT_OK, "ctx");
    CHECK(lext_scores_init(&s, 2, T) == LEXT_OK, "init");
    CHECK(lext_scores_add(m, ctx, tok, T, NULL, &s) == LEXT_OK, "scores: %s", lext_last_error());
    double worst = 0;
    for (int l = 0; l < 2; l++)
        for (int64_t n = 0; n < T; n++) {
            double got = s.sum[l * T + n] / (double)s.count[l * T + n];
            double want = -(double)n * (0.0625 + 0.00390625) / 2;
            worst = fmax(worst, fabs(got - want));
        }
    CHECK(worst < 1e-6, "s[n] off the bias by %.3g", worst);
    lext_scores_free(&s);
    lext_ctx_free(ctx);
    lext_model_free(m);
}

/* ---- (e) ------------------------------------------------------------------------------- */

TEST(expectation_curve_rope_and_xpos) {
    lext_config c;
    lext_config_default(&c); /* d 256, 4 heads: hd 64, B 512 */
    enum { NG = 16384 };
    static double rope[NG], xpos[NG];
    c.pos = LEXT_POS_ROPE;
    CHECK(lext_expectation_curve(&c, rope, NG) == LEXT_OK, "rope: %s", lext_last_error());
    c.pos = LEXT_POS_XPOS;
    CHECK(lext_expectation_curve(&c, xpos, NG) == LEXT_OK, "xpos: %s", lext_last_error());
    CHECK(rope[0] == 1 && xpos[0] == 1, "g[0]: rope %.17g, xpos %.17g", rope[0], xpos[0]);
    /* the decay: far away (8 B to 32 B) rope's curve still swings by about 0.4 while xpos's
     * has died down to a few hundredths */
    double ar = 0, ax = 0;
    for (int n = 4096; n < NG; n++) ar = fmax(ar, fabs(rope[n])), ax = fmax(ax, fabs(xpos[n]));
    CHECK(ax < 0.25 * ar && ax < 0.1, "max |g| over 4096..16383: xpos %.4g, rope %.4g", ax, ar);
    /* each xpos term is the rope term times zeta^(n/B) <= 1; at n = 1 both are near 1 */
    CHECK(xpos[1] < rope[1] && xpos[1] > 0.9, "g[1]: xpos %.6f, rope %.6f", xpos[1], rope[1]);

    /* one pair (hd = 2): theta_0 = 1, zeta_0 = gamma / (1 + gamma), so g[n] is known */
    c.d_model = 2;
    c.n_head = 1;
    double g[64];
    c.pos = LEXT_POS_ROPE;
    lext_expectation_curve(&c, g, 64);
    double e1 = 0, e2 = 0;
    for (int n = 0; n < 64; n++) e1 = fmax(e1, fabs(g[n] - cos(n)));
    c.pos = LEXT_POS_XPOS;
    lext_expectation_curve(&c, g, 64);
    for (int n = 0; n < 64; n++) e2 = fmax(e2, fabs(g[n] - cos(n) * pow(0.4 / 1.4, n / 512.0)));
    CHECK(e1 < 1e-12 && e2 < 1e-12, "one pair: rope off by %.3g, xpos by %.3g", e1, e2);

    c.pos = LEXT_POS_ALIBI;
    CHECK(lext_expectation_curve(&c, g, 64) == LEXT_ERR_ARG, "alibi has no such curve");
}

/* Under Position Interpolation with factor s the curve is the unscaled one stretched by s:
 * g_s[s n] = g[n] (rope; xpos with its decay scaled too); yarn multiplies it by its factor
 * squared at distance 0; dynamic-ntk has none. */
TEST(expectation_curve_under_rope_scaling) {
    lext_config c;
    lext_config_default(&c);
    c.d_model = 64;
    c.n_head = 2;
    c.train_len = 256;
    enum { N = 512, S = 4 };
    static double g[N], gs[N * S];
    lext_rope_scaling r;
    lext_rope_scaling_default(&r);
    r.kind = LEXT_ROPE_SCALING_LINEAR;
    r.factor = S;
    for (int k = 0; k < 2; k++) {
        c.pos = k ? LEXT_POS_XPOS : LEXT_POS_ROPE;
        r.xpos_decay_scaled = k == 1;
        CHECK(lext_expectation_curve(&c, g, N) == LEXT_OK, "plain");
        CHECK(lext_expectation_curve_scaled(&c, &r, 0, gs, N * S) == LEXT_OK, "%s", lext_last_error());
        double e = 0, moved = 0;
        for (int n = 0; n < N; n++) e = fmax(e, fabs(gs[S * n] - g[n])), moved = fmax(moved, fabs(gs[n] - g[n]));
        CHECK(e < 1e-12 && moved > 0.1, "%s: g_s[s n] - g[n] up to %.3g (curve moved by %.3g)",
              lext_pos_name(c.pos), e, moved);
    }
    r.kind = LEXT_ROPE_SCALING_YARN;
    r.factor = 0; /* auto: T = 1024 gives s = 4 */
    r.xpos_decay_scaled = false;
    c.pos = LEXT_POS_ROPE;
    CHECK(lext_expectation_curve_scaled(&c, &r, 1024, g, 4) == LEXT_OK, "yarn");
    const double ms = 0.1 * log(4.0) + 1;
    CHECK(fabs(g[0] - ms * ms) < 1e-12, "yarn g[0] = %.17g, expected %.17g", g[0], ms * ms);
    r.kind = LEXT_ROPE_SCALING_DYNAMIC_NTK;
    CHECK(lext_expectation_curve_scaled(&c, &r, 1024, g, 4) == LEXT_ERR_ARG &&
              strstr(lext_last_error(), "dynamic-ntk"),
          "dynamic-ntk: %s", lext_last_error());
}
