/*
 * cmd_plot.c - `lext plot A.json B.json ... -o ppl.svg`: perplexity against segment length
 * from `lext eval --json` reports, one line with markers per (model, mask), on a log2-spaced
 * length axis with a tick at every evaluated length and the training length marked.
 *
 * The y axis is logarithmic when the perplexities span more than a factor of 10 (models
 * that do not extrapolate explode past the training length and would flatten every other
 * line), linear otherwise; --y forces either.
 */
#include "args.h"
#include "commands.h"
#include "lext.h"
#include "svg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_FILES = 64, MAX_SERIES = 256, MAX_POINTS = 256, MAX_TRAIN = 16 };

typedef struct {
    char pos[64], mask[64]; /* the model's scheme and the mask, as the report names them */
    char label[256];        /* built from them once all files are read */
    double x[MAX_POINTS], y[MAX_POINTS];
    size_t n;
} plot_series;

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The whole file as a NUL-terminated string (cJSON wants one), or NULL after printing. */
static char *read_all(const char *cmd, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(cmd, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (ferror(f) || len < cap - 1) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        cli_error(cmd, buf ? "cannot read %s" : "out of memory reading %s", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Adds the series of one eval report. Returns 0, or 1 after printing. */
static int add_report(const char *cmd, const char *path, plot_series *series, size_t *ns,
                      double *train, size_t *n_train, double *lengths, size_t *n_lengths,
                      const char **model_names) {
    char *text = read_all(cmd, path);
    if (!text) return 1;
    cJSON *root = cJSON_Parse(text);
    int rc = 0;
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        rc = cli_error(cmd, "%s: not valid JSON (near byte %lld)", path,
                       at ? (long long)(at - text) : -1LL);
        goto done;
    }
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *tl = config ? cJSON_GetObjectItemCaseSensitive(config, "train_len") : NULL;
    const cJSON *pos = config ? cJSON_GetObjectItemCaseSensitive(config, "pos") : NULL;
    if (!cJSON_IsArray(cells) || !cJSON_IsNumber(tl) || !cJSON_IsString(pos) ||
        !cJSON_IsString(model)) {
        rc = cli_error(cmd, "%s: not an eval report (it needs model, config.train_len, config.pos "
                            "and cells; write one with lext eval --json)",
                       path);
        goto done;
    }
    *model_names = strdup(base_name(model->valuestring));
    const size_t first = *ns;
    bool have_train = false;
    for (size_t i = 0; i < *n_train; i++) have_train |= train[i] == tl->valuedouble;
    if (!have_train && *n_train < MAX_TRAIN) train[(*n_train)++] = tl->valuedouble;

    const cJSON *cell;
    cJSON_ArrayForEach(cell, cells) {
        const cJSON *len = cJSON_GetObjectItemCaseSensitive(cell, "length");
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(cell, "mode");
        const cJSON *ppl = cJSON_GetObjectItemCaseSensitive(cell, "ppl");
        if (!cJSON_IsNumber(len) || !cJSON_IsString(mode) || !(cJSON_IsNumber(ppl) || cJSON_IsNull(ppl))) {
            rc = cli_error(cmd, "%s: a cell lacks a numeric length, a mode or a ppl (number or null)",
                           path);
            goto done;
        }
        bool have_len = false;
        for (size_t i = 0; i < *n_lengths; i++) have_len |= lengths[i] == len->valuedouble;
        if (!have_len && *n_lengths < MAX_POINTS) lengths[(*n_lengths)++] = len->valuedouble;
        /* the mask's name with its size, as eval prints it */
        char mname[64];
        const cJSON *bl = cJSON_GetObjectItemCaseSensitive(cell, "block");
        const cJSON *wi = cJSON_GetObjectItemCaseSensitive(cell, "window");
        if (cJSON_IsNumber(bl)) snprintf(mname, sizeof mname, "%s l=%g", mode->valuestring, bl->valuedouble);
        else if (cJSON_IsNumber(wi)) snprintf(mname, sizeof mname, "%s W=%g", mode->valuestring, wi->valuedouble);
        else snprintf(mname, sizeof mname, "%s", mode->valuestring);
        plot_series *se = NULL;
        for (size_t i = first; i < *ns; i++)
            if (strcmp(series[i].mask, mname) == 0) se = &series[i];
        if (!se) {
            if (*ns == MAX_SERIES) {
                rc = cli_error(cmd, "more than %d series", MAX_SERIES);
                goto done;
            }
            se = &series[(*ns)++];
            se->n = 0;
            snprintf(se->pos, sizeof se->pos, "%s", pos->valuestring);
            snprintf(se->mask, sizeof se->mask, "%s", mname);
        }
        if (cJSON_IsNull(ppl)) continue; /* not computable (learned positions past train_len) */
        if (se->n == MAX_POINTS) {
            rc = cli_error(cmd, "%s: more than %d lengths", path, MAX_POINTS);
            goto done;
        }
        se->x[se->n] = len->valuedouble;
        se->y[se->n++] = ppl->valuedouble;
    }
    /* drop series without a point, sort the others by length */
    size_t w = first;
    for (size_t i = first; i < *ns; i++) {
        plot_series *se = &series[i];
        for (size_t a = 1; a < se->n; a++)
            for (size_t b = a; b > 0 && se->x[b] < se->x[b - 1]; b--) {
                double tx = se->x[b], ty = se->y[b];
                se->x[b] = se->x[b - 1], se->y[b] = se->y[b - 1];
                se->x[b - 1] = tx, se->y[b - 1] = ty;
            }
        if (se->n > 0 && w != i) series[w] = *se;
        if (se->n > 0) w++;
    }
    *ns = w;
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_plot(int argc, char **argv) {
    const char *cmd = "plot";
    const char *out = NULL, *out_long = NULL, *title = "Perplexity by evaluation length",
               *yscale = "auto";
    cli_opt opts[] = {
        {"-o", OPT_STR, &out, 0, 0, "the SVG file to write (required)", 0},
        {"--out", OPT_STR, &out_long, 0, 0, "the same as -o", 0},
        {"--title", OPT_STR, &title, 0, 0, "the chart's title [Perplexity by evaluation length]", 0},
        {"--y", OPT_STR, &yscale, 0, 0, "y axis: log, linear, or auto (log past a 10x spread) [auto]", 0},
    };
    const size_t n = sizeof opts / sizeof *opts;
    char *files[MAX_FILES];
    size_t nf = 0;
    int rc = cli_parse(cmd, "A.json [B.json ...] -o FILE.svg [options]", argc, argv, opts, n, files,
                       MAX_FILES, &nf);
    if (rc) return rc == 1 ? 0 : rc;
    if (out && out_long) return cli_error(cmd, "give the output once, with -o or --out");
    if (out_long) out = out_long;
    if (!out) return cli_error(cmd, "-o FILE.svg is required");
    if (nf == 0) return cli_error(cmd, "expects one or more eval reports (from lext eval --json)");
    if (strcmp(yscale, "auto") && strcmp(yscale, "log") && strcmp(yscale, "linear"))
        return cli_error(cmd, "--y: '%s' is not log, linear or auto", yscale);

    plot_series *series = calloc(MAX_SERIES, sizeof *series);
    size_t file_of[MAX_SERIES]; /* which file each series came from */
    const char *model_names[MAX_FILES] = {0};
    double train[MAX_TRAIN], lengths[MAX_POINTS];
    size_t ns = 0, n_train = 0, n_lengths = 0;
    if (!series) return cli_error(cmd, "out of memory");
    rc = 0;
    for (size_t i = 0; i < nf && !rc; i++) {
        size_t before = ns;
        rc = add_report(cmd, files[i], series, &ns, train, &n_train, lengths, &n_lengths,
                        &model_names[i]);
        for (size_t s = before; s < ns; s++) file_of[s] = i;
    }
    if (!rc && ns == 0) rc = cli_error(cmd, "nothing to plot: no cell has a perplexity");
    if (rc) goto done;

    /* labels: the model file's name, unless two reports share it: then the report's name */
    for (size_t s = 0; s < ns; s++) {
        size_t fi = file_of[s];
        const char *name = model_names[fi] ? model_names[fi] : files[fi];
        for (size_t j = 0; j < nf; j++)
            if (j != fi && model_names[j] && strcmp(model_names[j], name) == 0) name = base_name(files[fi]);
        snprintf(series[s].label, sizeof series[s].label, "%s (%s), %s", name, series[s].pos,
                 series[s].mask);
    }

    double ymin = INFINITY, ymax = -INFINITY;
    for (size_t s = 0; s < ns; s++)
        for (size_t i = 0; i < series[s].n; i++)
            if (isfinite(series[s].y[i]) && series[s].y[i] > 0)
                ymin = fmin(ymin, series[s].y[i]), ymax = fmax(ymax, series[s].y[i]);
    bool ylog = strcmp(yscale, "log") == 0 || (strcmp(yscale, "auto") == 0 && ymax > 10 * ymin);

    svg_series se[MAX_SERIES];
    for (size_t s = 0; s < ns; s++)
        se[s] = (svg_series){series[s].label, series[s].x, series[s].y, series[s].n, true, false, NULL};
    svg_vline vl[MAX_TRAIN];
    char vlab[MAX_TRAIN][64];
    for (size_t i = 0; i < n_train; i++) {
        snprintf(vlab[i], sizeof vlab[i], "training length %g", train[i]);
        vl[i] = (svg_vline){train[i], vlab[i]};
    }
    qsort(lengths, n_lengths, sizeof *lengths, cmp_double);
    svg_chart ch = {title,
                    {"segment length (bytes, log scale)", SVG_LOG, lengths, n_lengths},
                    {ylog ? "perplexity (log scale)" : "perplexity", ylog ? SVG_LOG : SVG_LINEAR,
                     NULL, 0},
                    se, ns, vl, n_train, 0, 0};
    char err[512];
    if (svg_chart_write(&ch, out, err, sizeof err)) {
        rc = cli_error(cmd, "%s", err);
        goto done;
    }
    printf("wrote %s: %zu series from %zu report(s), %s y axis\n", out, ns, nf,
           ylog ? "log" : "linear");
done:
    for (size_t i = 0; i < nf; i++) free((void *)model_names[i]);
    free(series);
    return rc;
}
