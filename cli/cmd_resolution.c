/*
 * cmd_resolution.c - `lext resolution`: the expected pre-softmax attention score by
 * relative distance, s[n] (LeX Eq. 11), per layer over the first L bytes of documents,
 * and the attention resolution R(s) of Eq. 3 per layer and averaged over layers (the
 * paper's Table 3 figure). For rope and xpos it adds the theoretical curve g[n] (Eq. 7).
 * Writes every distance to --csv and draws the curves with --svg.
 *
 * Under bca and window only the (query, key) pairs the mask allows exist, so s[n] is
 * defined only at the distances those pairs have; R is computed over those distances.
 */
#include "args.h"
#include "commands.h"
#include "evalopts.h"
#include "lext.h"
#include "svg.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Why the existing distances are what they are, for the output. */
static void describe_distances(const lext_attn *a, int64_t L, int64_t last, char *buf, size_t n) {
    switch (a->mode) {
    case LEXT_ATTN_CAUSAL:
        snprintf(buf, n, "causal: every distance 0..%lld occurs (L - n pairs per head at distance n)",
                 (long long)(L - 1));
        break;
    case LEXT_ATTN_BCA:
        if (L <= a->block)
            snprintf(buf, n, "bca with L = %lld <= l = %lld is plain causal: distances 0..%lld",
                     (long long)L, (long long)a->block, (long long)(L - 1));
        else
            snprintf(buf, n,
                     "bca l=%lld: a query sees the previous block of %lld and its own block's causal "
                     "part, so only distances 0..%lld occur",
                     (long long)a->block, (long long)(a->block / 2), (long long)last);
        break;
    case LEXT_ATTN_WINDOW:
        snprintf(buf, n, "window W=%lld: a query sees itself and the %lld bytes before it, so only "
                         "distances 0..%lld occur",
                 (long long)a->window, (long long)(a->window - 1), (long long)last);
        break;
    default: snprintf(buf, n, "?"); break;
    }
}

static int write_csv(const char *cmd, const char *path, const int64_t *dist, size_t nd,
                     const double *s, int n_layer, const double *mean, const double *theory) {
    FILE *f = fopen(path, "w");
    if (!f) return cli_error(cmd, "cannot create %s: %s", path, strerror(errno));
    fprintf(f, "distance");
    for (int l = 0; l < n_layer; l++) fprintf(f, ",layer%d", l);
    fprintf(f, ",mean%s\n", theory ? ",theory" : "");
    for (size_t i = 0; i < nd; i++) {
        fprintf(f, "%lld", (long long)dist[i]);
        for (int l = 0; l < n_layer; l++) fprintf(f, ",%.9g", s[(size_t)l * nd + i]);
        fprintf(f, ",%.9g", mean[i]);
        if (theory) fprintf(f, ",%.9g", theory[i]);
        fprintf(f, "\n");
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = true;
    if (bad) return cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* The figures as JSON: R per layer, the mean, the theory's R, and the mean curve. */
static int write_json(const char *cmd, const char *path, const char *model_path,
                      const lext_config *c, const lext_rope_scaling *rs,
                      const lext_attn_ext *ext, const char *mask, int64_t L, size_t docs,
                      const int64_t *dist, size_t nd, const double *R, int n_layer,
                      double R_mean, double R_theory, const double *mean) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "lext", "resolution");
    cJSON_AddStringToObject(j, "model", model_path);
    cJSON_AddStringToObject(j, "pos", lext_pos_name(c->pos));
    cJSON_AddNumberToObject(j, "train_len", c->train_len);
    cJSON_AddStringToObject(j, "mask", mask);
    cJSON_AddNumberToObject(j, "length", (double)L);
    cJSON_AddItemToObject(j, "rope_scaling", cli_scaling_json(rs));
    cJSON_AddItemToObject(j, "attn_ext", cli_ext_json(ext));
    cJSON_AddNumberToObject(j, "rope_factor", lext_rope_scaling_factor(rs, L, c->train_len));
    cJSON_AddNumberToObject(j, "documents", (double)docs);
    cJSON_AddNumberToObject(j, "distances", (double)nd);
    cJSON *layers = cJSON_AddArrayToObject(j, "R");
    for (int l = 0; l < n_layer; l++) cJSON_AddItemToArray(layers, cJSON_CreateNumber(R[l]));
    cJSON_AddNumberToObject(j, "mean_R", R_mean);
    if (isfinite(R_theory)) cJSON_AddNumberToObject(j, "theory_R", R_theory);
    else cJSON_AddNullToObject(j, "theory_R");
    cJSON *curve = cJSON_AddArrayToObject(j, "mean_score");
    for (size_t i = 0; i < nd; i++) {
        cJSON *pt = cJSON_CreateArray();
        cJSON_AddItemToArray(pt, cJSON_CreateNumber((double)dist[i]));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(mean[i]));
        cJSON_AddItemToArray(curve, pt);
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = txt ? fopen(path, "w") : NULL;
    bool bad = !f || fputs(txt, f) < 0 || fputc('\n', f) == EOF;
    if (f && fclose(f) != 0) bad = true;
    free(txt);
    if (bad) return cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* One series per layer, the mean in black, the theory (dashed) mapped linearly onto the
 * mean's range: g[n] is an average of cosines in [-1, 1], on no common scale with the
 * logits, so only its shape is comparable. */
static int write_svg(const char *cmd, const char *path, const char *title, const int64_t *dist,
                     size_t nd, const double *s, int n_layer, const double *mean,
                     const double *theory, const char *pos) {
    int rc = 0;
    size_t ns = (size_t)n_layer + 1 + (theory ? 1 : 0);
    svg_series *se = calloc(ns, sizeof *se);
    double *x = malloc(nd * sizeof *x), *gt = theory ? malloc(nd * sizeof *gt) : NULL;
    char (*labels)[96] = calloc(ns, sizeof *labels);
    if (!se || !x || (theory && !gt) || !labels) {
        rc = cli_error(cmd, "out of memory while drawing");
        goto done;
    }
    for (size_t i = 0; i < nd; i++) x[i] = (double)dist[i];
    for (int l = 0; l < n_layer; l++) {
        snprintf(labels[l], sizeof labels[l], "layer %d", l);
        se[l] = (svg_series){labels[l], x, s + (size_t)l * nd, nd, false, false, NULL, NULL, NULL, NULL};
    }
    se[n_layer] = (svg_series){"mean over layers", x, mean, nd, false, false, "#000000", NULL, NULL, NULL};
    if (theory) {
        double gmin = INFINITY, gmax = -INFINITY, mmin = INFINITY, mmax = -INFINITY;
        for (size_t i = 0; i < nd; i++) {
            gmin = fmin(gmin, theory[i]), gmax = fmax(gmax, theory[i]);
            mmin = fmin(mmin, mean[i]), mmax = fmax(mmax, mean[i]);
        }
        double a = gmax > gmin ? (mmax - mmin) / (gmax - gmin) : 0;
        for (size_t i = 0; i < nd; i++) gt[i] = mmin + a * (theory[i] - gmin);
        snprintf(labels[n_layer + 1], sizeof labels[n_layer + 1],
                 "theory g[n] (%s), rescaled to the mean's range", pos);
        se[n_layer + 1] = (svg_series){labels[n_layer + 1], x, gt, nd, false, true, "#777777", NULL, NULL, NULL};
    }
    svg_chart ch = {title,
                    {"relative distance n (query position - key position)", SVG_LINEAR, NULL, 0},
                    {"expected pre-softmax score s[n]", SVG_LINEAR, NULL, 0},
                    se, ns, NULL, 0, 0, 0};
    char err[512];
    if (svg_chart_write(&ch, path, err, sizeof err)) rc = cli_error(cmd, "--svg: %s", err);
done:
    free(se);
    free(x);
    free(gt);
    free(labels);
    return rc;
}

int cmd_resolution(int argc, char **argv) {
    const char *cmd = "resolution";
    const char *model_path = NULL, *data_path = NULL, *attn_s = "causal", *csv = NULL, *svg = NULL;
    const char *json = NULL;
    int64_t L = 0, block = 0, window = 0, max_docs = 0, threads = 0;
    cli_scaling scl;
    cli_scaling_init(&scl);
    cli_ext xo;
    cli_ext_init(&xo);
    cli_opt opts[] = {
        {"--model", OPT_STR, &model_path, 0, 0, "checkpoint to analyse", 0},
        {"--data", OPT_STR, &data_path, 0, 0, "text: a file, or a directory of documents", 0},
        {"--length", OPT_INT, &L, 2, 1 << 24, "L: the first L bytes of each document (required)", 0},
        {"--attn", OPT_STR, &attn_s, 0, 0, "one mask: causal, bca or window [causal]", 0},
        {"--block", OPT_INT, &block, -1e18, 1 << 30, "bca block l, even [train length]", 0},
        {"--window", OPT_INT, &window, -1e18, 1 << 30, "window W for the window mask [train length]", 0},
        {"--docs", OPT_INT, &max_docs, 1, (double)(1LL << 40), "use at most N documents [all]", 0},
        {"--csv", OPT_STR, &csv, 0, 0, "write s[n] for every distance to this CSV file", 0},
        {"--svg", OPT_STR, &svg, 0, 0, "draw the s[n] curves into this SVG file", 0},
        {"--json", OPT_STR, &json, 0, 0, "write R per layer, its mean and the mean curve as JSON", 0},
        {"--threads", OPT_INT, &threads, 1, 4096, "threads [all cores]", 0},
        CLI_SCALING_OPTS(&scl),
        CLI_EXT_OPTS(&xo),
    };
    const size_t n = sizeof opts / sizeof *opts;
    int rc = cli_parse(cmd, "--model FILE --data PATH --length L [options]", argc, argv, opts, n,
                       NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model_path) return cli_error(cmd, "--model FILE is required (a checkpoint from lext train)");
    if (!data_path) return cli_error(cmd, "--data PATH is required (a text file or a directory)");
    if (!L) return cli_error(cmd, "--length L is required (how many bytes of each document to read)");
    lext_attn_ext ext;
    cli_masks mk;
    lext_rope_scaling rs;
    if (cli_inference_parse(cmd, opts, n, &xo, &scl, &attn_s, block, window, &mk, &ext, &rs)) return 1;
    if (mk.n != 1) return cli_error(cmd, "--attn: resolution takes one mask at a time, got %zu", mk.n);

    lext_model *m = NULL;
    if (lext_checkpoint_load(model_path, &m, NULL, NULL)) return cli_lib_error(cmd, "--model");
    const lext_config *c = lext_model_config(m);
    lext_attn mask;
    if (cli_scaling_apply(cmd, m, &rs) || cli_ext_apply(cmd, m, &ext) ||
        cli_masks_build(cmd, &mk, c->train_len, &mask)) {
        lext_model_free(m);
        return 1;
    }
    lext_dataset data = {0};
    if (lext_dataset_load(data_path, &data)) {
        lext_model_free(m);
        return cli_lib_error(cmd, "--data");
    }
    lext_set_threads((int)threads);

    size_t usable = 0, longest = 0;
    for (size_t i = 0; i < data.n_docs; i++) {
        usable += data.docs[i].len >= (size_t)L;
        longest = data.docs[i].len > longest ? data.docs[i].len : longest;
    }
    lext_ctx *ctx = NULL;
    lext_scores sc = {0};
    int32_t *tok = NULL;
    double *s = NULL, *mean = NULL, *g = NULL, *theory = NULL, *R = NULL;
    int64_t *dist = NULL;
    rc = 0;
    if (usable == 0) {
        rc = cli_error(cmd, "no document has the %lld bytes --length asks for: %zu document(s), the "
                            "longest %zu bytes",
                       (long long)L, data.n_docs, longest);
        goto done;
    }
    size_t n_use = max_docs && (size_t)max_docs < usable ? (size_t)max_docs : usable;
    char line[256], mname[48];
    cli_model_summary(m, line, sizeof line);
    cli_mask_name(&mask, mname, sizeof mname);
    printf("model: %s (%s)\n", model_path, line);
    printf("data: %s: %zu of %zu documents used (the first %lld bytes of each), %zu skipped as "
           "shorter than %lld bytes\n",
           data_path, n_use, data.n_docs, (long long)L, data.n_docs - usable, (long long)L);
    printf("mask: %s, length %lld (%.3gx the training length)\n", mname, (long long)L,
           (double)L / c->train_len);
    if (rs.kind != LEXT_ROPE_SCALING_NONE) {
        cli_scaling_describe(&rs, line, sizeof line);
        printf("rope scaling: %s; factor at this length %g\n", line,
               lext_rope_scaling_factor(&rs, L, c->train_len));
    }
    if (ext.kind != LEXT_EXT_NONE) {
        cli_ext_describe(&ext, line, sizeof line);
        printf("attention extension: %s (scores by true distance)\n", line);
    }
    fflush(stdout);

    if (lext_ctx_create(m, 1, L, false, &ctx) || lext_scores_init(&sc, c->n_layer, L)) {
        rc = cli_lib_error(cmd, "workspace");
        goto done;
    }
    if (!(tok = malloc((size_t)L * sizeof *tok))) {
        rc = cli_error(cmd, "out of memory");
        goto done;
    }
    const bool tty = is_tty(STDERR_FILENO);
    const double t0 = cli_now();
    double last_draw = 0;
    size_t done_docs = 0;
    for (size_t i = 0; i < data.n_docs && done_docs < n_use; i++) {
        if (data.docs[i].len < (size_t)L) continue;
        for (int64_t t = 0; t < L; t++) tok[t] = data.docs[i].bytes[t];
        if (lext_scores_add(m, ctx, tok, L, &mask, &sc)) {
            if (tty) fprintf(stderr, "\r\033[K");
            rc = cli_error(cmd, "scoring %s: %s", data.docs[i].name, lext_last_error());
            goto done;
        }
        done_docs++;
        double now = cli_now();
        if (tty && (now - last_draw >= 0.1 || done_docs == n_use)) {
            char el[32], eta[32];
            fmt_duration(el, sizeof el, now - t0);
            fmt_duration(eta, sizeof eta, (now - t0) / (double)done_docs * (double)(n_use - done_docs));
            fprintf(stderr, "\r\033[Kresolution %zu/%zu documents  %s elapsed  ETA %s", done_docs,
                    n_use, el, eta);
            fflush(stderr);
            last_draw = now;
        }
    }
    if (tty) fprintf(stderr, "\r\033[K");

    /* the distances that have pairs (the same at every layer), and s[n] on them */
    const int nL = c->n_layer;
    size_t nd = 0;
    dist = malloc((size_t)L * sizeof *dist);
    s = malloc((size_t)nL * (size_t)L * sizeof *s);
    mean = calloc((size_t)L, sizeof *mean);
    R = malloc((size_t)nL * sizeof *R);
    /* dynamic-ntk scores depend on both positions, not the distance, and an extension that
     * moves keys scores them at other distances: no theoretical curve for either */
    const bool has_theory = (c->pos == LEXT_POS_ROPE || c->pos == LEXT_POS_XPOS) &&
                            rs.kind != LEXT_ROPE_SCALING_DYNAMIC_NTK &&
                            (ext.kind == LEXT_EXT_NONE ||
                             (ext.kind == LEXT_EXT_SINKS && ext.sink_pos == LEXT_SINK_ABSOLUTE));
    if (has_theory) g = malloc((size_t)L * sizeof *g), theory = malloc((size_t)L * sizeof *theory);
    if (!dist || !s || !mean || !R || (has_theory && (!g || !theory))) {
        rc = cli_error(cmd, "out of memory");
        goto done;
    }
    for (int64_t d = 0; d < L; d++)
        if (sc.count[d] > 0) dist[nd++] = d;
    for (int l = 0; l < nL; l++) {
        const double *sum = sc.sum + (size_t)l * (size_t)L;
        const int64_t *cnt = sc.count + (size_t)l * (size_t)L;
        for (size_t i = 0; i < nd; i++) {
            double v = sum[dist[i]] / (double)cnt[dist[i]];
            s[(size_t)l * nd + i] = v;
            mean[i] += v / nL;
        }
        R[l] = lext_resolution(s + (size_t)l * nd, (int64_t)nd);
    }
    double R_mean = 0, R_theory = NAN;
    for (int l = 0; l < nL; l++) R_mean += R[l] / nL;
    if (has_theory) {
        if (lext_expectation_curve_scaled(c, &rs, L, g, L)) {
            rc = cli_lib_error(cmd, "theory");
            goto done;
        }
        for (size_t i = 0; i < nd; i++) theory[i] = g[dist[i]];
        R_theory = lext_resolution(theory, (int64_t)nd);
    }

    char why[256];
    const int64_t last = dist[nd - 1];
    describe_distances(&mask, L, last, why, sizeof why);
    printf("distances: %zu of %lld have (query, key) pairs; s[n] and R use only those\n  %s\n\n",
           nd, (long long)L, why);
    printf("attention resolution R (Eq. 3) per layer\n%-8s  %9s\n", "layer", "R");
    for (int l = 0; l < nL; l++) printf("%-8d  %9.5f\n", l, R[l]);
    printf("%-8s  %9.5f\n", "mean", R_mean);
    if (has_theory) printf("%-8s  %9.5f   (R of the theoretical curve g[n], %s)\n", "theory", R_theory,
                           lext_pos_name(c->pos));
    printf("\nnote: Eq. 3 equals sum p_i^2 - sum p_i p_(i+1) with p = softmax(s), which is < 1 for any\n"
           "curve: the paper's 1.08 (Table 3) cannot be reproduced by the formula; compare R only\n"
           "relatively, between models, masks and lengths.\n\n");

    /* a sampled curve: 0, 1, 2, 4, 8, ... and the last distance */
    printf("expected score s[n] by distance (mean over heads, allowed pairs and documents)\n");
    printf("%-8s", "n");
    for (int l = 0; l < nL; l++) {
        char h[32];
        snprintf(h, sizeof h, "layer%d", l);
        printf("  %11s", h);
    }
    printf("  %11s%s\n", "mean", has_theory ? "     theory g[n]" : "");
    for (size_t i = 0; i < nd; i++) {
        int64_t d = dist[i];
        bool shown = d == 0 || (d & (d - 1)) == 0 || i == nd - 1;
        if (!shown) continue;
        printf("%-8lld", (long long)d);
        for (int l = 0; l < nL; l++) printf("  %11.5f", s[(size_t)l * nd + i]);
        printf("  %11.5f", mean[i]);
        if (has_theory) printf("  %14.5f", theory[i]);
        printf("\n");
    }
    if (csv) {
        if ((rc = write_csv(cmd, csv, dist, nd, s, nL, mean, has_theory ? theory : NULL))) goto done;
        printf("wrote %s (%zu distances)\n", csv, nd);
    }
    if (json) {
        if ((rc = write_json(cmd, json, model_path, c, &rs, &ext, mname, L, n_use, dist, nd, R, nL, R_mean,
                             R_theory, mean)))
            goto done;
        printf("wrote %s\n", json);
    }
    if (svg) {
        char title[512];
        const char *base = strrchr(model_path, '/') ? strrchr(model_path, '/') + 1 : model_path;
        snprintf(title, sizeof title, "Expected attention score by distance: %s (%s, %s, L = %lld)",
                 base, lext_pos_name(c->pos), mname, (long long)L);
        if ((rc = write_svg(cmd, svg, title, dist, nd, s, nL, mean, has_theory ? theory : NULL,
                            lext_pos_name(c->pos))))
            goto done;
        printf("wrote %s (one curve per layer, the mean%s)\n", svg,
               has_theory ? ", and g[n] rescaled linearly onto the mean's range" : "");
    }
done:
    free(tok);
    free(s);
    free(mean);
    free(g);
    free(theory);
    free(R);
    free(dist);
    lext_scores_free(&sc);
    lext_ctx_free(ctx);
    lext_dataset_free(&data);
    lext_model_free(m);
    return rc;
}
