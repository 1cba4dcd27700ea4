/*
 * cmd_plot.c - `lext plot A.json B.json ... -o ppl.svg`: perplexity against segment length
 * from `lext eval --json` reports, on a log2-spaced length axis with a tick at every
 * evaluated length and the training length marked.
 *
 * One line per (model, mask). Reports of models whose file names differ only by a
 * "-seedN" suffix (xpos.safetensors, xpos-seed2.safetensors: what `lext experiment
 * --seeds` writes) are seeds of one model: their line is the mean over the seeds, with a
 * band for its 95% interval (the bootstrap over documents and seeds of lext_bootstrap_ppl,
 * as the experiment's tables; one model alone gets its band over documents). Lines are
 * labelled by position scheme (by model name when two models share a scheme), coloured
 * by scheme, and styled by mask: causal solid, bca dashed, window dotted.
 *
 * The y axis is logarithmic when the perplexities span more than a factor of 3 (a model
 * that does not extrapolate explodes past the training length and would flatten the
 * differences that matter into one band), linear otherwise; --y forces either.
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

enum { MAX_FILES = 64, MAX_SERIES = 256, MAX_POINTS = 256, MAX_TRAIN = 16, BOOT_RESAMPLES = 2000 };

typedef struct {
    char group[128];        /* the model's file name without .safetensors and -seedN */
    char pos[64], mask[64]; /* the model's scheme and the mask with its size, as eval prints */
    char mode[16];          /* the mask's name alone: causal, bca, window */
    char label[256];        /* built once all files are read */
    double x[MAX_POINTS], y[MAX_POINTS], lo[MAX_POINTS], hi[MAX_POINTS];
    size_t n, n_seeds;
    bool band;              /* some point has an interval */
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

/* "dir/xpos-seed2.safetensors" -> "xpos": the name seeds of one model share */
static void group_of(const char *model, char *out, size_t n) {
    snprintf(out, n, "%s", base_name(model));
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
    char *sd = strstr(out, "-seed");
    while (sd) {
        char *nx = strstr(sd + 1, "-seed");
        if (!nx) break;
        sd = nx;
    }
    if (sd && sd[5]) {
        const char *q = sd + 5;
        while (*q >= '0' && *q <= '9') q++;
        if (!*q) *sd = 0;
    }
}

/* One colour per scheme, the same in every picture lext draws */
static const char *scheme_color(const char *pos) {
    static const struct {
        const char *pos, *color;
    } map[] = {{"xpos", "#d62728"},     {"rope", "#1f77b4"}, {"alibi", "#2ca02c"},
               {"sinusoidal", "#8c564b"}, {"learned", "#e377c2"}, {"none", "#7f7f7f"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(map[i].pos, pos) == 0) return map[i].color;
    return NULL;
}

/* causal solid, bca dashed, window dotted, anything else dash-dot */
static const char *mode_dash(const char *mode) {
    if (strcmp(mode, "causal") == 0) return NULL;
    if (strcmp(mode, "bca") == 0) return "7,4";
    if (strcmp(mode, "window") == 0) return "2,3";
    return "8,3,2,3";
}

enum { MAX_SEEDS = 16, MAX_LEN = 64 };

/* The cells of one series, before they are combined: cell[k][q] is seed q's cell at the
 * k-th length of the series (x[k]). */
typedef struct {
    const cJSON *cell[MAX_LEN][MAX_SEEDS];
    size_t n_seed_cells[MAX_LEN];
} series_cells;

/* Adds the cells of one eval report (root, already parsed) to the series of its group.
 * Returns 0, or 1 after printing. */
static int add_report(const char *cmd, const char *path, const cJSON *root, const char *group,
                      plot_series *series, series_cells *sc, size_t *ns, double *train,
                      size_t *n_train, double *lengths, size_t *n_lengths) {
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *tl = config ? cJSON_GetObjectItemCaseSensitive(config, "train_len") : NULL;
    const cJSON *pos = config ? cJSON_GetObjectItemCaseSensitive(config, "pos") : NULL;
    bool have_train = false;
    for (size_t i = 0; i < *n_train; i++) have_train |= train[i] == tl->valuedouble;
    if (!have_train && *n_train < MAX_TRAIN) train[(*n_train)++] = tl->valuedouble;

    bool seen[MAX_SERIES] = {false}; /* the series this report added a seed to */
    const cJSON *cell;
    cJSON_ArrayForEach(cell, cells) {
        const cJSON *len = cJSON_GetObjectItemCaseSensitive(cell, "length");
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(cell, "mode");
        const cJSON *ppl = cJSON_GetObjectItemCaseSensitive(cell, "ppl");
        if (!cJSON_IsNumber(len) || !cJSON_IsString(mode) || !(cJSON_IsNumber(ppl) || cJSON_IsNull(ppl)))
            return cli_error(cmd, "%s: a cell lacks a numeric length, a mode or a ppl (number or null)", path);
        bool have_len = false;
        for (size_t i = 0; i < *n_lengths; i++) have_len |= lengths[i] == len->valuedouble;
        if (!have_len && *n_lengths < MAX_POINTS) lengths[(*n_lengths)++] = len->valuedouble;
        char mname[64];
        const cJSON *bl = cJSON_GetObjectItemCaseSensitive(cell, "block");
        const cJSON *wi = cJSON_GetObjectItemCaseSensitive(cell, "window");
        if (cJSON_IsNumber(bl)) snprintf(mname, sizeof mname, "%s l=%g", mode->valuestring, bl->valuedouble);
        else if (cJSON_IsNumber(wi)) snprintf(mname, sizeof mname, "%s W=%g", mode->valuestring, wi->valuedouble);
        else snprintf(mname, sizeof mname, "%s", mode->valuestring);
        size_t si = *ns;
        for (size_t i = 0; i < *ns; i++)
            if (strcmp(series[i].group, group) == 0 && strcmp(series[i].mask, mname) == 0) si = i;
        plot_series *se = &series[si];
        if (si == *ns) {
            if (*ns == MAX_SERIES) return cli_error(cmd, "more than %d series", MAX_SERIES);
            (*ns)++;
            memset(se, 0, sizeof *se);
            memset(&sc[si], 0, sizeof sc[si]);
            snprintf(se->group, sizeof se->group, "%s", group);
            snprintf(se->pos, sizeof se->pos, "%s", pos->valuestring);
            snprintf(se->mask, sizeof se->mask, "%s", mname);
            snprintf(se->mode, sizeof se->mode, "%s", mode->valuestring);
        } else if (strncmp(se->pos, pos->valuestring, sizeof se->pos - 1) != 0) { /* as stored */
            return cli_error(cmd, "%s: a %s model in the group '%s' of %s models; seeds of one model "
                                  "share its scheme (rename one)",
                             path, pos->valuestring, group, se->pos);
        }
        if (!seen[si]) se->n_seeds++, seen[si] = true;
        size_t k = 0;
        while (k < se->n && se->x[k] != len->valuedouble) k++;
        if (k == se->n) {
            if (se->n == MAX_LEN) return cli_error(cmd, "%s: more than %d lengths", path, MAX_LEN);
            se->x[se->n++] = len->valuedouble;
        }
        if (sc[si].n_seed_cells[k] == MAX_SEEDS)
            return cli_error(cmd, "more than %d seeds of the model '%s'", MAX_SEEDS, group);
        sc[si].cell[k][sc[si].n_seed_cells[k]++] = cell;
    }
    return 0;
}

/* The point k of a series from its seeds' cells: the mean perplexity over the seeds and,
 * where every seed has per-document losses on the same documents, the bootstrap interval
 * over documents and seeds. NaN when some seed has no perplexity there. */
static void combine(plot_series *se, const series_cells *sc, size_t k) {
    const size_t q = sc->n_seed_cells[k];
    se->y[k] = se->lo[k] = se->hi[k] = NAN;
    if (q != se->n_seeds) return; /* a seed lacks this length: no mean to draw */
    double sum = 0;
    for (size_t i = 0; i < q; i++) {
        const cJSON *ppl = cJSON_GetObjectItemCaseSensitive(sc->cell[k][i], "ppl");
        if (!cJSON_IsNumber(ppl)) return;
        sum += ppl->valuedouble;
    }
    se->y[k] = sum / (double)q;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(sc->cell[k][0], "doc_tokens");
    const int nd = cJSON_GetArraySize(dt);
    if (!cJSON_IsArray(dt) || nd < 1) return;
    double *loss = malloc(sizeof(double) * q * (size_t)nd), *tok = malloc(sizeof(double) * (size_t)nd);
    bool ok = loss && tok;
    for (int d = 0; ok && d < nd; d++) {
        const cJSON *t = cJSON_GetArrayItem(dt, d);
        ok = cJSON_IsNumber(t);
        if (ok) tok[d] = t->valuedouble;
    }
    for (size_t i = 0; ok && i < q; i++) {
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(sc->cell[k][i], "doc_loss");
        ok = cJSON_IsArray(dl) && cJSON_GetArraySize(dl) == nd;
        for (int d = 0; ok && d < nd; d++) {
            const cJSON *l = cJSON_GetArrayItem(dl, d);
            ok = cJSON_IsNumber(l);
            if (ok) loss[i * (size_t)nd + (size_t)d] = l->valuedouble;
        }
    }
    lext_interval iv;
    lext_doc_losses a = {loss, tok, q, (size_t)nd};
    if (ok && lext_bootstrap_ppl(&a, BOOT_RESAMPLES, LEXT_BOOTSTRAP_SEED, &iv) == LEXT_OK) {
        se->y[k] = iv.est, se->lo[k] = iv.lo, se->hi[k] = iv.hi;
        se->band |= isfinite(iv.lo);
    }
    free(loss);
    free(tok);
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
        {"--y", OPT_STR, &yscale, 0, 0, "y axis: log, linear, or auto (log past a 3x spread) [auto]", 0},
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
    series_cells *sc = calloc(MAX_SERIES, sizeof *sc);
    cJSON *roots[MAX_FILES] = {0};
    char groups[MAX_FILES][128];
    double train[MAX_TRAIN], lengths[MAX_POINTS];
    size_t ns = 0, n_train = 0, n_lengths = 0;
    rc = 0;
    if (!series || !sc) rc = cli_error(cmd, "out of memory");
    for (size_t i = 0; i < nf && !rc; i++) {
        char *text = read_all(cmd, files[i]);
        if (!text) {
            rc = 1;
            break;
        }
        roots[i] = cJSON_Parse(text);
        if (!roots[i]) {
            const char *at = cJSON_GetErrorPtr();
            rc = cli_error(cmd, "%s: not valid JSON (near byte %lld)", files[i],
                           at ? (long long)(at - text) : -1LL);
        }
        free(text);
        if (rc) break;
        const cJSON *config = cJSON_GetObjectItemCaseSensitive(roots[i], "config");
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(roots[i], "model");
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(roots[i], "cells")) ||
            !cJSON_IsNumber(config ? cJSON_GetObjectItemCaseSensitive(config, "train_len") : NULL) ||
            !cJSON_IsString(config ? cJSON_GetObjectItemCaseSensitive(config, "pos") : NULL) ||
            !cJSON_IsString(model))
            rc = cli_error(cmd, "%s: not an eval report (it needs model, config.train_len, config.pos "
                                "and cells; write one with lext eval --json)",
                           files[i]);
        else group_of(model->valuestring, groups[i], sizeof groups[i]);
    }
    /* two reports of the very same model file (say, on two corpora): the reports' names tell
     * them apart instead */
    for (size_t i = 0; i < nf && !rc; i++)
        for (size_t j = 0; j < nf; j++) {
            const cJSON *mi = cJSON_GetObjectItemCaseSensitive(roots[i], "model"),
                        *mj = cJSON_GetObjectItemCaseSensitive(roots[j], "model");
            if (j != i && strcmp(base_name(mi->valuestring), base_name(mj->valuestring)) == 0) {
                group_of(files[i], groups[i], sizeof groups[i]);
                break;
            }
        }
    for (size_t i = 0; i < nf && !rc; i++)
        rc = add_report(cmd, files[i], roots[i], groups[i], series, sc, &ns, train, &n_train, lengths,
                        &n_lengths);
    /* combine the seeds, sort each series by length, drop those without a point */
    size_t w = 0;
    for (size_t s = 0; s < ns && !rc; s++) {
        plot_series *se = &series[s];
        for (size_t k = 0; k < se->n; k++) combine(se, &sc[s], k);
        for (size_t a = 1; a < se->n; a++)
            for (size_t b = a; b > 0 && se->x[b] < se->x[b - 1]; b--) {
                double t[4] = {se->x[b], se->y[b], se->lo[b], se->hi[b]};
                se->x[b] = se->x[b - 1], se->y[b] = se->y[b - 1];
                se->lo[b] = se->lo[b - 1], se->hi[b] = se->hi[b - 1];
                se->x[b - 1] = t[0], se->y[b - 1] = t[1], se->lo[b - 1] = t[2], se->hi[b - 1] = t[3];
            }
        size_t pts = 0;
        for (size_t k = 0; k < se->n; k++) pts += isfinite(se->y[k]);
        if (pts && w != s) series[w] = *se;
        if (pts) w++;
    }
    ns = w;
    if (!rc && ns == 0) rc = cli_error(cmd, "nothing to plot: no cell has a perplexity");
    if (rc) goto done;

    /* labels by scheme, unless two models share one: then by model name */
    bool by_scheme = true;
    for (size_t a = 0; a < ns; a++)
        for (size_t b = 0; b < ns; b++)
            if (strcmp(series[a].pos, series[b].pos) == 0 && strcmp(series[a].group, series[b].group) != 0)
                by_scheme = false;
    for (size_t s = 0; s < ns; s++) {
        char seeds[32] = "";
        if (series[s].n_seeds > 1) snprintf(seeds, sizeof seeds, " (%zu seeds)", series[s].n_seeds);
        if (by_scheme)
            snprintf(series[s].label, sizeof series[s].label, "%s, %s%s", series[s].pos, series[s].mask, seeds);
        else
            snprintf(series[s].label, sizeof series[s].label, "%s (%s), %s%s", series[s].group,
                     series[s].pos, series[s].mask, seeds);
    }

    double ymin = INFINITY, ymax = -INFINITY;
    for (size_t s = 0; s < ns; s++)
        for (size_t i = 0; i < series[s].n; i++)
            if (isfinite(series[s].y[i]) && series[s].y[i] > 0)
                ymin = fmin(ymin, series[s].y[i]), ymax = fmax(ymax, series[s].y[i]);
    bool ylog = strcmp(yscale, "log") == 0 || (strcmp(yscale, "auto") == 0 && ymax > 3 * ymin);

    /* one colour per scheme (by model when labelled by model), a line style per mask */
    svg_series se[MAX_SERIES];
    size_t n_groups = 0, group_ix[MAX_SERIES];
    for (size_t s = 0; s < ns; s++) {
        group_ix[s] = n_groups;
        for (size_t t = 0; t < s; t++)
            if (strcmp(series[t].group, series[s].group) == 0) group_ix[s] = group_ix[t];
        if (group_ix[s] == n_groups) n_groups++;
        const char *col = by_scheme ? scheme_color(series[s].pos) : NULL;
        if (!col) col = svg_palette(group_ix[s]);
        se[s] = (svg_series){series[s].label, series[s].x, series[s].y, series[s].n, true, false, col,
                             mode_dash(series[s].mode), series[s].band ? series[s].lo : NULL,
                             series[s].band ? series[s].hi : NULL};
    }
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
    for (size_t i = 0; i < nf; i++) cJSON_Delete(roots[i]);
    free(series);
    free(sc);
    return rc;
}
