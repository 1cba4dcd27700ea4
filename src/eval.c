/*
 * eval.c - perplexity by length under the paper's protocol, the expected attention score
 * by distance, and attention resolution.
 */
#include "internal.h"
#include "model.h"
#include "position.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whether a mask at length L admits every causal pair: then it is plain causal attention
 * there (bca up to its block, a window at least L wide), and its results equal causal's. */
static bool is_causal_at(const lext_attn *a, int64_t L) {
    return a->mode == LEXT_ATTN_CAUSAL || (a->mode == LEXT_ATTN_BCA && L <= a->block) ||
           (a->mode == LEXT_ATTN_WINDOW && L <= a->window);
}

/* An earlier mode whose cell at length L computes exactly the same thing, or -1. */
static int64_t same_as_earlier(const lext_attn *modes, size_t k, int64_t L) {
    for (size_t e = 0; e < k; e++)
        if (is_causal_at(&modes[e], L) && is_causal_at(&modes[k], L)) return (int64_t)e;
    return -1;
}

/* lext_evaluate, and with doc_loss (n_cells, docs_used) non-NULL the per-document sums
 * (lext_evaluate_docs) */
static lext_status evaluate(lext_model *m, const lext_dataset *d, const int64_t *lengths,
                            size_t n_lengths, const lext_attn *modes, size_t n_modes,
                            int64_t batch_tokens, lext_eval_cell *cells, lext_eval_summary *sum,
                            double *doc_loss, size_t doc_cap,
                            void (*progress)(const lext_eval_progress *p, void *user),
                            void *user) {
    const lext_config *c = &m->cfg;
    if (n_lengths == 0 || n_modes == 0)
        return lext_fail(LEXT_ERR_ARG, "evaluation needs at least one length and one mode");
    int64_t N = 0;
    for (size_t i = 0; i < n_lengths; i++) {
        if (lengths[i] < 2)
            return lext_fail(LEXT_ERR_ARG, "evaluation lengths must be >= 2, got %lld",
                             (long long)lengths[i]);
        N = lengths[i] > N ? lengths[i] : N;
    }
    for (size_t k = 0; k < n_modes; k++) LEXT_TRY(lext_attn_validate(&modes[k]));
    lext_eval_summary s = {0};
    for (size_t i = 0; i < d->n_docs; i++) {
        if (d->docs[i].len >= (size_t)N) s.docs_used++;
        else s.docs_skipped++;
        s.longest = d->docs[i].len > s.longest ? d->docs[i].len : s.longest;
    }
    if (sum) *sum = s;
    if (s.docs_used == 0)
        return lext_fail(LEXT_ERR_DATA,
                         "no document has the %lld bytes the largest length needs: %zu document(s), "
                         "the longest %zu bytes",
                         (long long)N, d->n_docs, s.longest);
    const size_t nd = s.docs_used;
    if (doc_loss && doc_cap < n_lengths * n_modes * nd)
        return lext_fail(LEXT_ERR_ARG,
                         "per-document sums need %zu cells x %zu documents = %zu doubles, the "
                         "buffer holds %zu",
                         n_lengths * n_modes, nd, n_lengths * n_modes * nd, doc_cap);
    if (doc_loss)
        for (size_t i = 0; i < n_lengths * n_modes * nd; i++) doc_loss[i] = 0.0;

    /* cells and the work to do */
    int64_t total = 0;
    for (size_t li = 0; li < n_lengths; li++)
        for (size_t k = 0; k < n_modes; k++) {
            lext_eval_cell *cell = &cells[li * n_modes + k];
            memset(cell, 0, sizeof *cell);
            cell->length = lengths[li];
            cell->attn = modes[k];
            if (c->pos == LEXT_POS_LEARNED && lengths[li] > c->train_len) {
                cell->skipped = true;
                snprintf(cell->why, sizeof cell->why,
                         "learned positions stop at train_len %d", c->train_len);
                if (doc_loss)
                    for (size_t i = 0; i < nd; i++) doc_loss[(li * n_modes + k) * nd + i] = NAN;
                continue;
            }
            if (same_as_earlier(modes, k, lengths[li]) < 0)
                total += (int64_t)s.docs_used * (N / lengths[li]);
        }

    if (batch_tokens < N) batch_tokens = N;
    lext_ctx *ctx = NULL;
    int32_t *tok = NULL, *tgt = NULL;
    int64_t *row_doc = NULL; /* the document ordinal (among those used) of each batch row */
    /* capacity: the longest segment, and batch_tokens tokens per pass */
    lext_status st = lext_ctx_create(m, (batch_tokens + N - 1) / N, N, false, &ctx);
    const size_t cap = (size_t)(((batch_tokens + N - 1) / N) * N);
    if (!st) st = lext_alloc((void **)&tok, cap * sizeof(int32_t), "evaluation batch");
    if (!st) st = lext_alloc((void **)&tgt, cap * sizeof(int32_t), "evaluation batch");
    if (!st) st = lext_alloc((void **)&row_doc, cap * sizeof(int64_t), "evaluation batch");

    lext_eval_progress pr = {0, total, 0, LEXT_ATTN_CAUSAL, 0};
    for (size_t li = 0; !st && li < n_lengths; li++) {
        const int64_t L = lengths[li], per_doc = N / L;
        const int64_t B = (int64_t)(cap / (size_t)L) > 0 ? (int64_t)(cap / (size_t)L) : 1;
        for (size_t k = 0; !st && k < n_modes; k++) {
            lext_eval_cell *cell = &cells[li * n_modes + k];
            if (cell->skipped) continue;
            const int64_t twin = same_as_earlier(modes, k, L);
            if (twin >= 0) { /* e.g. bca at L <= l: the causal cell's numbers, bit for bit */
                const lext_attn own = cell->attn;
                *cell = cells[li * n_modes + (size_t)twin];
                cell->attn = own;
                if (doc_loss)
                    memcpy(doc_loss + (li * n_modes + k) * nd,
                           doc_loss + (li * n_modes + (size_t)twin) * nd, nd * sizeof(double));
                continue;
            }
            pr.length = L;
            pr.mode = modes[k].mode;
            pr.cell = li * n_modes + k;
            /* walk (document, segment) pairs in order, B segments per pass */
            size_t di = 0;
            int64_t seg = 0, filled = 0;
            for (;;) {
                while (di < d->n_docs && d->docs[di].len < (size_t)N) di++;
                bool more = di < d->n_docs;
                if (more) {
                    const uint8_t *src = d->docs[di].bytes + seg * L;
                    for (int64_t t = 0; t < L; t++) {
                        tok[filled * L + t] = src[t];
                        tgt[filled * L + t] = t + 1 < L ? src[t + 1] : -1; /* L-1 predictions */
                    }
                    if (seg == 0) cell->docs++;
                    row_doc[filled] = cell->docs - 1;
                    filled++;
                    if (++seg == per_doc) seg = 0, di++;
                }
                if (filled == B || (!more && filled > 0)) {
                    st = lext_forward(m, ctx, tok, tgt, filled, L, &modes[k], NULL);
                    if (st) break;
                    /* the per-row losses, added in double (not the pass's float mean) */
                    double *dl = doc_loss ? doc_loss + (li * n_modes + k) * nd : NULL;
                    for (int64_t r = 0; r < filled * L; r++)
                        if (tgt[r] >= 0) {
                            cell->loss_sum += (double)ctx->losses[r];
                            if (dl) dl[row_doc[r / L]] += (double)ctx->losses[r];
                        }
                    cell->tokens += lext_ctx_num_targets(ctx);
                    cell->segments += filled;
                    pr.done += filled;
                    filled = 0;
                    if (progress) progress(&pr, user);
                }
                if (!more) break;
            }
            /* with per-document sums, the cell's sum is theirs added in document order: the
             * same bits when the documents were evaluated apart (mpirun -np P lext eval) */
            if (!st && doc_loss) {
                const double *dl = doc_loss + (li * n_modes + k) * nd;
                double total_loss = 0.0;
                for (int64_t i = 0; i < cell->docs; i++) total_loss += dl[i];
                cell->loss_sum = total_loss;
            }
        }
    }
    lext_free(tok);
    lext_free(tgt);
    lext_free(row_doc);
    lext_ctx_free(ctx);
    return st;
}

lext_status lext_evaluate(lext_model *m, const lext_dataset *d, const int64_t *lengths,
                          size_t n_lengths, const lext_attn *modes, size_t n_modes,
                          int64_t batch_tokens, lext_eval_cell *cells, lext_eval_summary *sum,
                          void (*progress)(const lext_eval_progress *p, void *user), void *user) {
    return evaluate(m, d, lengths, n_lengths, modes, n_modes, batch_tokens, cells, sum, NULL, 0,
                    progress, user);
}

lext_status lext_evaluate_docs(lext_model *m, const lext_dataset *d, const int64_t *lengths,
                               size_t n_lengths, const lext_attn *modes, size_t n_modes,
                               int64_t batch_tokens, lext_eval_cell *cells, lext_eval_summary *sum,
                               double *doc_loss, size_t doc_cap,
                               void (*progress)(const lext_eval_progress *p, void *user),
                               void *user) {
    if (!doc_loss) return lext_fail(LEXT_ERR_ARG, "lext_evaluate_docs needs a doc_loss buffer");
    return evaluate(m, d, lengths, n_lengths, modes, n_modes, batch_tokens, cells, sum, doc_loss,
                    doc_cap, progress, user);
}

/* ---- attention resolution ---------------------------------------------------------------- */

lext_status lext_scores_init(lext_scores *s, int n_layer, int64_t max_len) {
    memset(s, 0, sizeof *s);
    if (n_layer < 1 || max_len < 1) return lext_fail(LEXT_ERR_ARG, "empty score table");
    s->n_layer = n_layer;
    s->max_len = max_len;
    size_t n = (size_t)n_layer * (size_t)max_len;
    lext_status st = lext_alloc((void **)&s->sum, n * sizeof(double), "score sums");
    if (!st) st = lext_alloc((void **)&s->count, n * sizeof(int64_t), "score counts");
    if (st) lext_scores_free(s);
    return st;
}

void lext_scores_free(lext_scores *s) {
    lext_free(s->sum);
    lext_free(s->count);
    lext_free(s->part);
    s->sum = NULL;
    s->count = NULL;
    s->part = NULL;
    s->part_heads = 0;
}

lext_status lext_scores_add(lext_model *m, lext_ctx *ctx, const int32_t *tokens, int64_t T,
                            const lext_attn *attn, lext_scores *s) {
    if (s->n_layer != m->cfg.n_layer || T > s->max_len)
        return lext_fail(LEXT_ERR_ARG, "score table is %d layers x %lld, model has %d, text %lld",
                         s->n_layer, (long long)s->max_len, m->cfg.n_layer, (long long)T);
    if (s->part_heads < m->cfg.n_head) { /* the forward must not fail half way for scratch */
        lext_free(s->part);
        s->part = NULL;
        s->part_heads = 0;
        LEXT_TRY(lext_alloc((void **)&s->part,
                            (size_t)m->cfg.n_head * (size_t)s->max_len * sizeof(double),
                            "score scratch"));
        s->part_heads = m->cfg.n_head;
    }
    ctx->scores = s;
    lext_status st = lext_forward(m, ctx, tokens, NULL, 1, T, attn, NULL);
    ctx->scores = NULL;
    return st;
}

double lext_resolution(const double *s, int64_t n) {
    if (n < 1) return NAN;
    double mx = s[0];
    for (int64_t i = 1; i < n; i++) mx = s[i] > mx ? s[i] : mx;
    /* shifting s by a constant leaves R unchanged: work with e^(s - max) */
    double z = 0, num = 0;
    for (int64_t i = 0; i < n; i++) z += exp(s[i] - mx);
    for (int64_t i = 0; i < n; i++) {
        double e = exp(s[i] - mx), next = i + 1 < n ? exp(s[i + 1] - mx) : 0.0;
        num += e * (e - next);
    }
    return num / (z * z);
}

lext_status lext_expectation_curve(const lext_config *c, double *g, int64_t n) {
    return lext_expectation_curve_scaled(c, NULL, 0, g, n);
}

lext_status lext_expectation_curve_scaled(const lext_config *c, const lext_rope_scaling *r,
                                          int64_t T, double *g, int64_t n) {
    if (c->pos != LEXT_POS_ROPE && c->pos != LEXT_POS_XPOS)
        return lext_fail(LEXT_ERR_ARG, "the expectation curve exists for rope and xpos only, not %s",
                         lext_pos_name(c->pos));
    LEXT_TRY(lext_rope_scaling_validate(r, c));
    if (rope_scaling_per_row(r))
        return lext_fail(LEXT_ERR_ARG, "dynamic-ntk rotates each position with its own base, so "
                                       "scores are not a function of the distance: no curve");
    const int hd = c->d_model / c->n_head, P = hd / 2;
    double *omega = malloc((size_t)P * sizeof *omega);
    if (!omega) return lext_fail(LEXT_ERR_NOMEM, "cannot allocate %d frequencies", P);
    /* the frequencies, cos/sin factor and decay base of the scaling at length T */
    const rope_params rp = rope_params_at(c, r, T, 0, omega);
    for (int64_t t = 0; t < n; t++) {
        double acc = 0;
        for (int j = 0; j < P; j++) {
            double zeta = c->pos == LEXT_POS_XPOS
                              ? (2.0 * j + c->xpos_gamma * hd) / ((1.0 + c->xpos_gamma) * hd)
                              : 1.0;
            acc += cos((double)t * omega[j]) * pow(zeta, (double)t / rp.decay_base);
        }
        g[t] = rp.mscale * rp.mscale * acc / P; /* yarn's factor is on q and on k */
    }
    free(omega);
    return LEXT_OK;
}
