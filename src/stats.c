/*
 * stats.c - bootstrap intervals over test documents: a perplexity, and the paired ratio of
 * two models' perplexities on the same documents, combined over training seeds; and the
 * verdict of a claim judged on such an interval (see lext.h, "Intervals").
 *
 * Why documents: the test split's segments are not independent (the segments of one
 * document share its style and vocabulary), documents nearly are, so the document is the
 * unit that is resampled. Why paired: two models scored on the same documents share most
 * of their variance (a hard document is hard for both); resampling the same documents for
 * both leaves only the variance of their difference.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lext_status check_losses(const lext_doc_losses *a, const char *which) {
    if (!a || !a->loss || !a->tokens || a->n_docs == 0 || a->n_seeds == 0)
        return lext_fail(LEXT_ERR_ARG, "bootstrap: %s has no documents or no seeds", which);
    for (size_t d = 0; d < a->n_docs; d++)
        if (!(a->tokens[d] > 0) || !isfinite(a->tokens[d]))
            return lext_fail(LEXT_ERR_ARG, "bootstrap: %s document %zu has %g tokens (must be > 0)",
                             which, d, a->tokens[d]);
    for (size_t i = 0; i < a->n_seeds * a->n_docs; i++)
        if (!isfinite(a->loss[i]))
            return lext_fail(LEXT_ERR_ARG, "bootstrap: %s has a loss that is not finite (seed %zu, "
                                           "document %zu)",
                             which, i / a->n_docs, i % a->n_docs);
    return LEXT_OK;
}

/* Mean over the drawn seeds of exp(sum loss / sum tokens) over the drawn documents. */
static double stat_of(const lext_doc_losses *a, const size_t *seeds, const size_t *docs) {
    double tok = 0, mean = 0;
    for (size_t i = 0; i < a->n_docs; i++) tok += a->tokens[docs[i]];
    for (size_t k = 0; k < a->n_seeds; k++) {
        const double *row = a->loss + seeds[k] * a->n_docs;
        double l = 0;
        for (size_t i = 0; i < a->n_docs; i++) l += row[docs[i]];
        mean += exp(l / tok);
    }
    return mean / (double)a->n_seeds;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The q-quantile of sorted v (n), linearly interpolated between order statistics. */
static double quantile(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

/* The statistic of n cells: prod_k stat_of(cell k)^pow[k], pow[k] = +1 or -1, every cell
 * drawn with the same documents and seeds (the pairing). n = 1: a perplexity; (a, b) with
 * (+1, -1): a ratio; (a, b, c, d) with (+1, -1, -1, +1): a ratio of two ratios. */
static double stat_n(const lext_doc_losses *const *cell, const int *pow, size_t n,
                     const size_t *seeds, const size_t *docs) {
    double v = 1;
    for (size_t k = 0; k < n; k++) {
        double s = stat_of(cell[k], seeds, docs);
        v = pow[k] > 0 ? v * s : v / s;
    }
    return v;
}

static lext_status bootstrap(const lext_doc_losses *const *cell, const int *pow, size_t n,
                             int64_t R, uint64_t seed, lext_interval *out) {
    static const char *const which[] = {"model a", "model b", "model c", "model d"};
    for (size_t k = 0; k < n; k++) {
        LEXT_TRY(check_losses(cell[k], which[k]));
        if (k > 0 && (cell[k]->n_docs != cell[0]->n_docs || cell[k]->n_seeds != cell[0]->n_seeds))
            return lext_fail(LEXT_ERR_ARG,
                             "paired bootstrap: model a has %zu documents x %zu seeds, %s "
                             "%zu x %zu; pairs need the same",
                             cell[0]->n_docs, cell[0]->n_seeds, which[k], cell[k]->n_docs,
                             cell[k]->n_seeds);
    }
    if (R < 100 || R > (int64_t)1 << 24)
        return lext_fail(LEXT_ERR_ARG, "bootstrap: resamples must be in [100, %d], got %lld",
                         1 << 24, (long long)R);
    if (!out) return lext_fail(LEXT_ERR_ARG, "bootstrap: no output");
    const size_t nd = cell[0]->n_docs, ns = cell[0]->n_seeds;
    size_t *docs = NULL, *seeds = NULL;
    double *v = NULL;
    lext_status st = lext_alloc((void **)&docs, nd * sizeof *docs, "bootstrap documents");
    if (!st) st = lext_alloc((void **)&seeds, ns * sizeof *seeds, "bootstrap seeds");
    if (!st) st = lext_alloc((void **)&v, (size_t)R * sizeof *v, "bootstrap replicates");
    if (!st) {
        for (size_t i = 0; i < nd; i++) docs[i] = i;
        for (size_t k = 0; k < ns; k++) seeds[k] = k;
        out->est = stat_n(cell, pow, n, seeds, docs);
        out->lo = out->hi = NAN;
    }
    /* one document of one seed: every resample is the data itself, a zero-width interval
     * that would claim certainty; nothing is known about the spread, so no interval */
    if (!st && (nd > 1 || ns > 1)) {
        lext_rng rng;
        lext_rng_seed(&rng, seed);
        for (int64_t r = 0; r < R; r++) {
            /* seeds first, then documents: one seed keeps the document draws it would have */
            if (ns > 1)
                for (size_t k = 0; k < ns; k++) seeds[k] = (size_t)lext_rng_below(&rng, ns);
            for (size_t i = 0; i < nd; i++) docs[i] = (size_t)lext_rng_below(&rng, nd);
            v[r] = stat_n(cell, pow, n, seeds, docs);
        }
        qsort(v, (size_t)R, sizeof *v, cmp_double);
        out->lo = quantile(v, (size_t)R, 0.025);
        out->hi = quantile(v, (size_t)R, 0.975);
    }
    lext_free(docs);
    lext_free(seeds);
    lext_free(v);
    return st;
}

lext_status lext_bootstrap_ppl(const lext_doc_losses *a, int64_t resamples, uint64_t seed,
                               lext_interval *out) {
    if (!a) return lext_fail(LEXT_ERR_ARG, "bootstrap: model a is missing");
    const lext_doc_losses *cell[1] = {a};
    return bootstrap(cell, (const int[]){1}, 1, resamples, seed, out);
}

lext_status lext_bootstrap_ratio(const lext_doc_losses *a, const lext_doc_losses *b,
                                 int64_t resamples, uint64_t seed, lext_interval *out) {
    if (!a || !b) return lext_fail(LEXT_ERR_ARG, "paired bootstrap: model %s is missing", a ? "b" : "a");
    const lext_doc_losses *cell[2] = {a, b};
    return bootstrap(cell, (const int[]){1, -1}, 2, resamples, seed, out);
}

lext_status lext_bootstrap_ratio_of_ratios(const lext_doc_losses *a, const lext_doc_losses *b,
                                           const lext_doc_losses *c, const lext_doc_losses *d,
                                           int64_t resamples, uint64_t seed, lext_interval *out) {
    if (!a || !b || !c || !d)
        return lext_fail(LEXT_ERR_ARG, "paired bootstrap: model %s is missing",
                         !a ? "a" : !b ? "b" : !c ? "c" : "d");
    const lext_doc_losses *cell[4] = {a, b, c, d};
    return bootstrap(cell, (const int[]){1, -1, -1, 1}, 4, resamples, seed, out);
}

lext_verdict lext_judge(const lext_interval *iv, double threshold, bool above) {
    if (!(iv->lo <= iv->hi)) return LEXT_VERDICT_UNRESOLVED; /* NaN: nothing is known */
    if (above ? iv->lo > threshold : iv->hi < threshold) return LEXT_VERDICT_HOLDS;
    if (above ? iv->hi < threshold : iv->lo > threshold) return LEXT_VERDICT_FAILS;
    return LEXT_VERDICT_UNRESOLVED;
}

const char *lext_verdict_name(lext_verdict v) {
    switch (v) {
    case LEXT_VERDICT_HOLDS: return "holds";
    case LEXT_VERDICT_FAILS: return "fails";
    case LEXT_VERDICT_UNRESOLVED: return "not resolved at this budget";
    default: return "unknown verdict";
    }
}
