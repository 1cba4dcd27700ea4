/*
 * svg.h - a small line-chart writer for the commands that draw (plot, resolution, and
 * later experiment): series of (x, y) points on linear or log axes, ticks with labels, a
 * legend, dashed vertical marker lines and a title, written as a standalone SVG 1.1 file
 * (xmlns, viewBox, escaped text) that browsers and XML parsers open.
 *
 * It is not a plotting library: one chart per file, one x axis and one y axis; the caller
 * decides what to rescale. Every series' line is a <path class="series">, its markers are
 * <circle class="point"> elements and its band a <path class="band">, so tests can count
 * them.
 *
 *   +------------------------------------------------+
 *   |                     title                      |
 *   |  y ticks |  plot area, dashed markers | legend |
 *   |          +---------------------------+         |
 *   |                x ticks, x label               |
 *   +------------------------------------------------+
 */
#ifndef LEXT_CLI_SVG_H
#define LEXT_CLI_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { SVG_LINEAR, SVG_LOG } svg_scale;

typedef struct {
    const char *label;   /* the legend entry (NULL or "": none) */
    const double *x, *y; /* n points, in the order the line joins them; a point whose x or y
                            is not finite (or not > 0 on a log axis) breaks the line */
    size_t n;
    bool markers;        /* a dot on every point */
    bool dashed;         /* a dashed line (e.g. a reference curve) */
    const char *color;   /* "#rrggbb", or NULL: the palette colour of the series' index */
    const char *dash;    /* a stroke-dasharray ("7,4"), overriding dashed; NULL: none */
    const double *lo, *hi; /* an interval band around the line (n values each, NaN: none
                              there), drawn translucent in the line's colour; NULL: none */
} svg_series;

/* The i-th colour ("#rrggbb") of the ten-colour palette series take by default, cycling:
 * for callers that colour by something other than the series' index. */
const char *svg_palette(size_t i);

typedef struct {
    double x;          /* a vertical dashed line across the plot at this x */
    const char *label; /* written next to its top (may be NULL) */
} svg_vline;

typedef struct {
    const char *label;   /* axis title (may be NULL) */
    svg_scale scale;
    const double *ticks; /* tick positions, or NULL: chosen automatically (1-2-5 steps,
                            decades on a log axis) */
    size_t n_ticks;
} svg_axis;

typedef struct {
    const char *title;
    svg_axis x, y;
    const svg_series *series;
    size_t n_series;
    const svg_vline *vlines;
    size_t n_vlines;
    int width, height; /* pixels of the whole picture; 0 = 860 x 500 */
} svg_chart;

/* Writes the chart to f. The axes span every drawable point and every marker line.
 * Returns 0, or -1 with a reason in err when there is nothing drawable (no finite point,
 * none positive on a log axis). */
int svg_chart_fprint(const svg_chart *c, FILE *f, char *err, size_t errlen);
/* The same into a new file at path; a write failure names the path. */
int svg_chart_write(const svg_chart *c, const char *path, char *err, size_t errlen);

/* ---- heatmaps (lext passkey): panels of cells coloured by a value in [0, 1] ---------- */

typedef struct {
    const char *title; /* the panel's heading (e.g. a mask) */
    const double *v;   /* (ny, nx) values in [0, 1], row r = y_ticks[r]; NaN: no cell */
} svg_heat_panel;

typedef struct {
    const char *title, *x_label, *y_label;
    const char *const *x_ticks; /* column labels, nx */
    size_t nx;
    const char *const *y_ticks; /* row labels, ny, drawn top to bottom */
    size_t ny;
    const svg_heat_panel *panels; /* side by side */
    size_t n_panels;
} svg_heatmap;

/* Every cell a <rect class="cell"> coloured from red (0) through yellow to green (1), its
 * value as a percentage inside, and a colour scale. Returns 0, or -1 with err. */
int svg_heatmap_write(const svg_heatmap *h, const char *path, char *err, size_t errlen);

/* Writes s to f with XML's special characters escaped; control characters and invalid
 * UTF-8 become '?', so any file name or label gives well-formed XML. */
void svg_escape(FILE *f, const char *s);

#endif
