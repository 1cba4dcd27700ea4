/* svg.c - the line-chart writer (see svg.h). */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Tableau's ten colours: distinguishable, and readable on white */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
enum { N_PALETTE = sizeof palette / sizeof *palette };

const char *svg_palette(size_t i) { return palette[i % N_PALETTE]; }

enum { MAX_TICKS = 64 };

/* ---- text ------------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is invalid, overlong, a
 * surrogate, or a character XML 1.0 forbids (U+FFFE, U+FFFF). */
static int utf8_len(const unsigned char *p) {
    unsigned c = p[0];
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    if (n == 3 && c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
    if (n == 3 && c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
    if (n == 3 && c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE) return 0;
    if (n == 4 && c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
    if (n == 4 && c == 0xF4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
    return n;
}

void svg_escape(FILE *f, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned c = *p;
        if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c == '\'') fputs("&apos;", f);
        else if (c < 0x20) fputc('?', f); /* control characters are not XML characters */
        else if (c < 0x80) fputc((int)c, f);
        else {
            int n = utf8_len(p);
            if (n == 0) {
                fputc('?', f);
                p++;
                continue;
            }
            fwrite(p, 1, (size_t)n, f);
            p += n;
            continue;
        }
        p++;
    }
}

/* Display width of a label in pixels at 12px sans-serif, roughly (UTF-8 continuation
 * bytes do not count): only used to keep labels from overlapping. */
static double text_width(const char *s) {
    double n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return 7.0 * n;
}

/* A tick label: integers in full (16384, not 1.638e+04), others with 4 digits. */
static void fmt_tick(char *buf, size_t n, double v) {
    if (v == 0) snprintf(buf, n, "0");
    else if (fabs(v) < 1e9 && v == round(v)) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.4g", v);
}

/* ---- axes ------------------------------------------------------------------------------ */

typedef struct {
    svg_scale scale;
    double lo, hi; /* the domain, data units */
    double p0, p1; /* where lo and hi land, pixels */
    double ticks[MAX_TICKS];
    int n_ticks;
} axis_map;

static bool drawable(svg_scale s, double v) { return isfinite(v) && (s == SVG_LINEAR || v > 0); }
static double fwd(svg_scale s, double v) { return s == SVG_LOG ? log10(v) : v; }
static double to_px(const axis_map *a, double v) {
    double t = (fwd(a->scale, v) - fwd(a->scale, a->lo)) /
               (fwd(a->scale, a->hi) - fwd(a->scale, a->lo));
    return a->p0 + t * (a->p1 - a->p0);
}

/* 1, 2 or 5 times a power of ten, near x */
static double nice_step(double x) {
    double e = pow(10.0, floor(log10(x))), f = x / e;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e;
}

static void add_tick(axis_map *a, double v) {
    double eps = (a->hi - a->lo) * 1e-9;
    if (a->n_ticks < MAX_TICKS && v >= a->lo - eps && v <= a->hi + eps) a->ticks[a->n_ticks++] = v;
}

/* about `parts` steps of 1, 2 or 5 times a power of ten across [lo, hi] */
static void linear_ticks(axis_map *a, double lo, double hi, double parts) {
    double step = nice_step((hi - lo) / parts);
    if (!(step > 0) || !isfinite(step)) return;
    /* a counted loop: with a range tiny next to its values k++ may not change k */
    double k0 = ceil(lo / step - 1e-9);
    for (int i = 0; i < MAX_TICKS; i++) {
        double v = (k0 + i) * step;
        if (v > hi + step * 1e-9) break;
        add_tick(a, fabs(v) < step * 1e-9 ? 0.0 : v);
    }
}

/* The domain [lo, hi] from the data range [mn, mx], and the ticks. */
static void axis_setup(axis_map *a, const svg_axis *ax, double mn, double mx) {
    a->scale = ax->scale;
    a->n_ticks = 0;
    if (mn == mx) { /* one value: give it some room */
        if (a->scale == SVG_LOG) mn /= 2, mx *= 2;
        else mn -= fabs(mn) > 0 ? fabs(mn) * 0.1 : 1, mx += fabs(mx) > 0 ? fabs(mx) * 0.1 : 1;
    }
    if (a->scale == SVG_LINEAR) {
        double pad = (mx - mn) * 0.04;
        a->lo = mn - pad, a->hi = mx + pad;
    } else { /* pad in log space */
        double l0 = log10(mn), l1 = log10(mx), pad = (l1 - l0) * 0.04;
        a->lo = pow(10.0, l0 - pad), a->hi = pow(10.0, l1 + pad);
    }
    if (ax->ticks) {
        for (size_t i = 0; i < ax->n_ticks; i++)
            if (drawable(a->scale, ax->ticks[i])) add_tick(a, ax->ticks[i]);
        return;
    }
    if (a->scale == SVG_LINEAR) {
        linear_ticks(a, a->lo, a->hi, 5);
        return;
    }
    /* decades, thinned to at most 10; then 2x and 5x while that leaves few (a curve that
     * stays below the first decade would have no tick near it) */
    int k0 = (int)floor(log10(a->lo)), k1 = (int)ceil(log10(a->hi));
    int every = (k1 - k0) / 10 + 1;
    for (int k = k0; k <= k1; k += every) add_tick(a, pow(10.0, k));
    if (a->n_ticks < 5)
        for (int k = k0; k <= k1; k++) add_tick(a, 2 * pow(10.0, k)), add_tick(a, 5 * pow(10.0, k));
    if (a->n_ticks < 4) { /* within a decade or so: plain steps read better */
        a->n_ticks = 0;
        linear_ticks(a, a->lo, a->hi, 8); /* denser: a log axis squeezes its top */
    }
    /* keep them in order for the overlap check */
    for (int i = 1; i < a->n_ticks; i++)
        for (int j = i; j > 0 && a->ticks[j] < a->ticks[j - 1]; j--) {
            double t = a->ticks[j];
            a->ticks[j] = a->ticks[j - 1], a->ticks[j - 1] = t;
        }
}

/* ---- the chart ------------------------------------------------------------------------- */

int svg_chart_fprint(const svg_chart *c, FILE *f, char *err, size_t errlen) {
    /* data ranges over drawable points and marker lines */
    double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
    size_t npts = 0;
    for (size_t s = 0; s < c->n_series; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!drawable(c->x.scale, x) || !drawable(c->y.scale, y)) continue;
            xmn = fmin(xmn, x), xmx = fmax(xmx, x), ymn = fmin(ymn, y), ymx = fmax(ymx, y);
            npts++;
            if (c->series[s].lo && c->series[s].hi && drawable(c->y.scale, c->series[s].lo[i]) &&
                drawable(c->y.scale, c->series[s].hi[i]))
                ymn = fmin(ymn, c->series[s].lo[i]), ymx = fmax(ymx, c->series[s].hi[i]);
        }
    if (npts == 0) {
        snprintf(err, errlen, "nothing to draw: no point with finite coordinates%s",
                 c->x.scale == SVG_LOG || c->y.scale == SVG_LOG ? " (> 0 on a log axis)" : "");
        return -1;
    }
    for (size_t v = 0; v < c->n_vlines; v++)
        if (drawable(c->x.scale, c->vlines[v].x))
            xmn = fmin(xmn, c->vlines[v].x), xmx = fmax(xmx, c->vlines[v].x);

    /* layout: the legend to the right of the plot, as wide as its longest label */
    double legend_w = 0;
    size_t n_labels = 0;
    for (size_t s = 0; s < c->n_series; s++)
        if (c->series[s].label && *c->series[s].label) {
            double w = 44 + text_width(c->series[s].label);
            legend_w = fmax(legend_w, w > 360 ? 360 : w);
            n_labels++;
        }
    const double left = 76, top = c->title && *c->title ? 44 : 20, bottom_pad = 56;
    double W = c->width > 0 ? c->width : 860, H = c->height > 0 ? c->height : 500;
    W = fmax(W, left + 540 + legend_w + 24); /* the plot keeps at least 540 px */
    H = fmax(H, top + 18.0 * (double)n_labels + bottom_pad + 20);
    const double right = W - legend_w - 24, bottom = H - bottom_pad;

    axis_map xa, ya;
    axis_setup(&xa, &c->x, xmn, xmx);
    axis_setup(&ya, &c->y, ymn, ymx);
    xa.p0 = left, xa.p1 = right;
    ya.p0 = bottom, ya.p1 = top; /* y grows upwards */

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, "
            "sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    if (c->title && *c->title) {
        fprintf(f, "<title>");
        svg_escape(f, c->title);
        fprintf(f, "</title>\n");
    }
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
    if (c->title && *c->title) {
        fprintf(f, "<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">",
                W / 2); /* over the whole picture: long titles fit */
        svg_escape(f, c->title);
        fprintf(f, "</text>\n");
    }

    /* grid, frame, ticks */
    char lab[64];
    fprintf(f, "<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (int i = 0; i < xa.n_ticks; i++) {
        double px = to_px(&xa, xa.ticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, top, px, bottom);
    }
    for (int i = 0; i < ya.n_ticks; i++) {
        double py = to_px(&ya, ya.ticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, py, right, py);
    }
    fprintf(f, "</g>\n");
    fprintf(f,
            "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"none\" stroke=\"#333333\"/>\n",
            left, top, right - left, bottom - top);
    fprintf(f, "<g class=\"xticks\" text-anchor=\"middle\" fill=\"#333333\">\n");
    double last_end = -INFINITY; /* right edge of the last x label drawn: skip overlaps */
    for (int i = 0; i < xa.n_ticks; i++) {
        double px = to_px(&xa, xa.ticks[i]);
        fmt_tick(lab, sizeof lab, xa.ticks[i]);
        double w = text_width(lab);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n",
                px, bottom, px, bottom + 5);
        if (px - w / 2 < last_end + 6) continue;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", px, bottom + 19, lab);
        last_end = px + w / 2;
    }
    fprintf(f, "</g>\n<g class=\"yticks\" text-anchor=\"end\" fill=\"#333333\">\n");
    double last_top = INFINITY;
    for (int i = 0; i < ya.n_ticks; i++) {
        double py = to_px(&ya, ya.ticks[i]);
        fmt_tick(lab, sizeof lab, ya.ticks[i]);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n",
                left - 5, py, left, py);
        if (py + 7 > last_top - 4) continue;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", left - 8, py + 4, lab);
        last_top = py - 7;
    }
    fprintf(f, "</g>\n");
    if (c->x.label) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (left + right) / 2,
                bottom + 42);
        svg_escape(f, c->x.label);
        fprintf(f, "</text>\n");
    }
    if (c->y.label) {
        double cy = (top + bottom) / 2;
        fprintf(f, "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">",
                cy, cy);
        svg_escape(f, c->y.label);
        fprintf(f, "</text>\n");
    }

    /* marker lines under the series */
    for (size_t v = 0; v < c->n_vlines; v++) {
        if (!drawable(c->x.scale, c->vlines[v].x)) continue;
        double px = to_px(&xa, c->vlines[v].x);
        fprintf(f,
                "<line class=\"vline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#555555\" stroke-width=\"1.2\" stroke-dasharray=\"6,4\"/>\n",
                px, top, px, bottom);
        if (c->vlines[v].label) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555555\" font-size=\"11\">", px + 4,
                    top + 14 + 14.0 * (double)v);
            svg_escape(f, c->vlines[v].label);
            fprintf(f, "</text>\n");
        }
    }

    /* bands under every line: each run of points with an interval is one closed polygon,
     * along the upper bounds and back along the lower ones */
    for (size_t s = 0; s < c->n_series; s++) {
        const svg_series *se = &c->series[s];
        if (!se->lo || !se->hi) continue;
        const char *col = se->color ? se->color : svg_palette(s);
        for (size_t i = 0; i < se->n;) {
            size_t j = i;
            while (j < se->n && drawable(c->x.scale, se->x[j]) && drawable(c->y.scale, se->lo[j]) &&
                   drawable(c->y.scale, se->hi[j]))
                j++;
            if (j - i >= 2) {
                fprintf(f, "<path class=\"band\" fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" d=\"", col);
                for (size_t k = i; k < j; k++)
                    fprintf(f, "%s%.1f %.1f", k == i ? "M" : " L", to_px(&xa, se->x[k]), to_px(&ya, se->hi[k]));
                for (size_t k = j; k-- > i;)
                    fprintf(f, " L%.1f %.1f", to_px(&xa, se->x[k]), to_px(&ya, se->lo[k]));
                fprintf(f, " Z\"/>\n");
            }
            i = j > i ? j : i + 1;
        }
    }

    /* series */
    for (size_t s = 0; s < c->n_series; s++) {
        const svg_series *se = &c->series[s];
        const char *col = se->color ? se->color : svg_palette(s);
        const char *dash = se->dash ? se->dash : se->dashed ? "5,3" : NULL;
        fprintf(f, "<g class=\"series-group\">\n<path class=\"series\" fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"1.8\" stroke-linejoin=\"round\"",
                col);
        if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
        fprintf(f, " d=\"");
        bool pen_down = false;
        size_t drawn = 0;
        for (size_t i = 0; i < se->n; i++) {
            if (!drawable(c->x.scale, se->x[i]) || !drawable(c->y.scale, se->y[i])) {
                pen_down = false; /* a gap */
                continue;
            }
            fprintf(f, "%s%.1f %.1f", pen_down ? " L" : drawn ? " M" : "M", to_px(&xa, se->x[i]),
                    to_px(&ya, se->y[i]));
            pen_down = true;
            drawn++;
        }
        fprintf(f, "\"/>\n");
        if (se->markers || drawn == 1) /* a lone point has no line to show it */
            for (size_t i = 0; i < se->n; i++)
                if (drawable(c->x.scale, se->x[i]) && drawable(c->y.scale, se->y[i]))
                    fprintf(f, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"/>\n",
                            to_px(&xa, se->x[i]), to_px(&ya, se->y[i]), col);
        fprintf(f, "</g>\n");
    }

    /* legend */
    if (n_labels) {
        fprintf(f, "<g class=\"legend\">\n");
        double lx = right + 16, ly = top + 8;
        for (size_t s = 0; s < c->n_series; s++) {
            const svg_series *se = &c->series[s];
            if (!se->label || !*se->label) continue;
            const char *col = se->color ? se->color : svg_palette(s);
            const char *dash = se->dash ? se->dash : se->dashed ? "5,3" : NULL;
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"",
                    lx, ly, lx + 22, ly, col);
            if (dash) fprintf(f, " stroke-dasharray=\"%s\"", dash);
            fprintf(f, "/>\n");
            if (se->markers)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"/>\n", lx + 11, ly, col);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 28, ly + 4);
            svg_escape(f, se->label);
            fprintf(f, "</text>\n");
            ly += 18;
        }
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</svg>\n");
    return 0;
}

int svg_chart_write(const svg_chart *c, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = svg_chart_fprint(c, f, err, errlen);
    bool werr = ferror(f) != 0;
    if (fclose(f) != 0) werr = true;
    if (!rc && werr) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc) remove(path); /* no half-written picture left behind */
    return rc;
}

/* ---- heatmaps ------------------------------------------------------------------------------ */

/* red (0) -> yellow (0.5) -> green (1), as the needle-in-a-haystack charts */
static void heat_colour(double v, char *buf, size_t n) {
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    const double r = v < 0.5 ? 220 : 220 - (v - 0.5) * 2 * (220 - 40);
    const double g = v < 0.5 ? 60 + v * 2 * (200 - 60) : 200 - (v - 0.5) * 2 * (200 - 160);
    const double b = 60;
    snprintf(buf, n, "#%02x%02x%02x", (int)r, (int)g, (int)b);
}

static int heatmap_fprint(const svg_heatmap *h, FILE *f) {
    const int cw = 44, ch = 22, left = 70, top = 60, gap = 40, legend_w = 70;
    const int pw = (int)h->nx * cw, ph = (int)h->ny * ch;
    const int W = left + (int)h->n_panels * (pw + gap) + legend_w, H = top + ph + 70;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            W, H, W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\" text-anchor=\"middle\">", W / 2);
    svg_escape(f, h->title ? h->title : "");
    fprintf(f, "</text>\n");
    for (size_t p = 0; p < h->n_panels; p++) {
        const int x0 = left + (int)p * (pw + gap);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", x0 + pw / 2, top - 22);
        svg_escape(f, h->panels[p].title ? h->panels[p].title : "");
        fprintf(f, "</text>\n");
        for (size_t r = 0; r < h->ny; r++)
            for (size_t c = 0; c < h->nx; c++) {
                const double v = h->panels[p].v[r * h->nx + c];
                const int x = x0 + (int)c * cw, y = top + (int)r * ch;
                if (!isfinite(v)) {
                    fprintf(f, "<rect class=\"nocell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                               "fill=\"#eeeeee\" stroke=\"white\"/>\n", x, y, cw, ch);
                    continue;
                }
                char col[16];
                heat_colour(v, col, sizeof col);
                fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                           "fill=\"%s\" stroke=\"white\"><title>%.0f%%</title></rect>\n",
                        x, y, cw, ch, col, 100 * v);
                fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%.0f</text>\n",
                        x + cw / 2, y + ch / 2 + 4, 100 * v);
            }
        for (size_t c = 0; c < h->nx; c++) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x0 + (int)c * cw + cw / 2, top + ph + 16);
            svg_escape(f, h->x_ticks[c]);
            fprintf(f, "</text>\n");
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x0 + pw / 2, top + ph + 36);
        svg_escape(f, h->x_label ? h->x_label : "");
        fprintf(f, "</text>\n");
        if (p == 0) {
            for (size_t r = 0; r < h->ny; r++) {
                fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", x0 - 6, top + (int)r * ch + ch / 2 + 4);
                svg_escape(f, h->y_ticks[r]);
                fprintf(f, "</text>\n");
            }
            fprintf(f, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
                    top + ph / 2, top + ph / 2);
            svg_escape(f, h->y_label ? h->y_label : "");
            fprintf(f, "</text>\n");
        }
    }
    /* colour scale: 0% at the bottom, 100% at the top */
    const int lx = W - legend_w + 10, steps = 10;
    for (int k = 0; k < steps; k++) {
        char col[16];
        heat_colour(1.0 - (k + 0.5) / steps, col, sizeof col);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"%d\" fill=\"%s\"/>\n", lx,
                top + k * ph / steps, ph / steps + 1, col);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\">100%%</text>\n<text x=\"%d\" y=\"%d\">0%%</text>\n",
            lx + 18, top + 8, lx + 18, top + ph);
    fprintf(f, "</svg>\n");
    return 0;
}

int svg_heatmap_write(const svg_heatmap *h, const char *path, char *err, size_t errlen) {
    if (!h->nx || !h->ny || !h->n_panels) {
        snprintf(err, errlen, "nothing to draw");
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = heatmap_fprint(h, f);
    bool werr = ferror(f) != 0;
    if (fclose(f) != 0) werr = true;
    if (!rc && werr) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc) remove(path);
    return rc;
}
