// lib/plot.c: the figures of plot.h: the information planes, the probe curves beside the loss,
// and the preference panel, read from probes.csv, train.csv, baselines.csv and dpo.csv.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "plot.h"
#include "svg.h"
#include "util.h"

// ============================================================================
// probes.csv as columns

// probes.csv as columns, with the layer count and a global step axis: pre-training steps as
// they are; other stages (dpo, counted from 0) continue after the last pre-training step.
typedef struct {
    Csv csv;
    size_t n;        // rows
    double* step;    // (n)
    double* gstep;   // (n) global step
    int* layer;      // (n) 0..L, or MEAN_LAYER for the layer-mean row
    int* dpo;        // (n) 1 for rows of a stage other than pretrain
    int* final;      // (n) 1 for rows of the final (larger) probe set
    int num_layers;  // max layer + 1
    int any_dpo, any_mean, any_final, any_null;
    double pre_end;  // last pre-training step (the global offset of later stages)
    int raw;         // values as logged; else I_* columns minus their permutation null
} ProbeTable;

#define MEAN_LAYER (-1)

static void probe_table_free(ProbeTable* t) {
    csv_free(&t->csv);
    free(t->step);
    free(t->gstep);
    free(t->layer);
    free(t->dpo);
    free(t->final);
    memset(t, 0, sizeof *t);
}

// Row r's layer: an integer 0..1000 or "mean"; -2 when it is neither.
static int parse_layer(const char* s) {
    if (strcmp(s, "mean") == 0) return MEAN_LAYER;
    char* end;
    long v = strtol(s, &end, 10);
    return end != s && *end == 0 && v >= 0 && v <= 1000 ? (int)v : -2;
}

static int probe_table_read(ProbeTable* t, const char* path, int raw, char* err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->raw = raw;
    if (csv_read(&t->csv, path, err, errlen) != 0) return -1;
    t->n = t->csv.nrows;
    int js = csv_col(&t->csv, "stage", err, errlen), jl = js < 0 ? -1 : csv_col(&t->csv, "layer", err, errlen);
    int jset = -1;
    for (int j = 0; j < t->csv.ncols; j++)
        if (strcmp(t->csv.cells[j], "set") == 0) jset = j;
    if (jl < 0 || !(t->step = csv_column(&t->csv, "step", err, errlen))) {
        probe_table_free(t);
        return -1;
    }
    for (int j = 0; j < t->csv.ncols; j++) t->any_null |= strstr(t->csv.cells[j], "_null") != NULL;
    t->gstep = malloc_check((t->n ? t->n : 1) * sizeof(double));
    t->layer = malloc_check((t->n ? t->n : 1) * sizeof(int));
    t->dpo = malloc_check((t->n ? t->n : 1) * sizeof(int));
    t->final = malloc_check((t->n ? t->n : 1) * sizeof(int));
    int maxl = -1;
    for (size_t r = 0; r < t->n; r++) {
        t->layer[r] = parse_layer(csv_cell(&t->csv, r, jl));
        if (t->layer[r] == -2 || !isfinite(t->step[r]) || t->step[r] < 0) {
            snprintf(err, errlen, "%s:%zu: step must be a non-negative integer and layer an integer or 'mean'", path,
                     t->csv.line[r]);
            probe_table_free(t);
            return -1;
        }
        maxl = t->layer[r] > maxl ? t->layer[r] : maxl;
        t->any_mean |= t->layer[r] == MEAN_LAYER;
        t->dpo[r] = strcmp(csv_cell(&t->csv, r, js), "pretrain") != 0;
        t->final[r] = jset >= 0 && strcmp(csv_cell(&t->csv, r, jset), "final") == 0;
        t->any_dpo |= t->dpo[r];
        t->any_final |= t->final[r];
        if (!t->dpo[r] && t->step[r] > t->pre_end) t->pre_end = t->step[r];
    }
    for (size_t r = 0; r < t->n; r++) t->gstep[r] = t->step[r] + (t->dpo[r] ? t->pre_end : 0.0);
    t->num_layers = maxl + 1;
    if (t->num_layers < 1) {
        snprintf(err, errlen, "%s: no rows of a hidden state", path);
        probe_table_free(t);
        return -1;
    }
    return 0;
}

// The column to plot for `name`: as logged when the table is raw or the column has no null, else
// value − `name`_null row by row. NULL with err filled when the column is missing.
static double* plotted_column(const ProbeTable* t, const char* name, char* err, size_t errlen) {
    double* v = csv_column(&t->csv, name, err, errlen);
    if (!v || t->raw || !t->any_null) return v;
    char nn[64];
    snprintf(nn, sizeof nn, "%s_null", name);
    for (int j = 0; j < t->csv.ncols; j++)
        if (strcmp(t->csv.cells[j], nn) == 0) {
            double* null = csv_column(&t->csv, nn, err, errlen);
            if (!null) {
                free(v);
                return NULL;
            }
            for (size_t r = 0; r < t->n; r++) v[r] -= null[r];
            free(null);
            break;
        }
    return v;
}

// Rows of layer l (MEAN_LAYER for the mean) of the trajectory set (final = 0) or the final set,
// in file order, split into pre-training (dpo = 0) and later stages.
static size_t rows_of(const ProbeTable* t, int l, int dpo, int final, size_t* idx) {
    size_t n = 0;
    for (size_t r = 0; r < t->n; r++)
        if (t->layer[r] == l && t->dpo[r] == dpo && t->final[r] == final) idx[n++] = r;
    return n;
}

// Colour of a layer row, with the mean drawn in grey.
static void row_colour(const ProbeTable* t, int l, char col[8]) {
    if (l == MEAN_LAYER) snprintf(col, 8, "#777777");
    else svg_layer_colour(l, t->num_layers, col);
}

// "− null" in axis labels when the plotted values are corrected.
static const char* null_note(const ProbeTable* t) { return t->raw || !t->any_null ? "" : " − null"; }

// ============================================================================
// the information planes

// One layer's trajectory on a plane: the pre-training path with points shaded by progress, start
// (circle) and end (square), the DPO continuation dashed with diamonds, the final set's point as a
// star with its ±sd error bars (xsd/ysd may be NULL).
static void plane_layer(Svg* b, const Panel* p, const ProbeTable* t, int l, const double* xs, const double* ys,
                        const double* xsd, const double* ysd, size_t* idx, double smax) {
    char col[8], attrs[200];
    row_colour(t, l, col);
    double width = l == MEAN_LAYER ? 2.6 : 1.6;
    size_t n = rows_of(t, l, 0, 0, idx);
    snprintf(attrs, sizeof attrs,
             "class=\"layer-traj\" data-layer=\"%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
             "stroke-opacity=\"0.75\" stroke-linejoin=\"round\"",
             l, col, width);
    svg_path(b, p, xs, ys, idx, n, attrs);
    size_t first = SIZE_MAX, last = SIZE_MAX;
    for (size_t k = 0; k < n; k++) {
        size_t r = idx[k];
        if (!isfinite(xs[r]) || !isfinite(ys[r])) continue;
        if (first == SIZE_MAX) first = r;
        last = r;
        double prog = smax > 0 ? t->gstep[r] / smax : 1.0; // opacity 0.15 at step 0 up to 1 at the end
        svg_marker(b, l == MEAN_LAYER ? 3 : 0, panel_x(p, xs[r]), panel_y(p, ys[r]), 2.6, col, "none",
                   0.15 + 0.85 * prog);
    }
    size_t m = rows_of(t, l, 1, 0, idx + 1);
    if (m) { // the later stage (DPO): dashed, from the last pre-training point on
        size_t start = 1;
        if (last != SIZE_MAX) idx[0] = last, start = 0;
        snprintf(attrs, sizeof attrs,
                 "class=\"dpo-traj\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-dasharray=\"5 3\"", col,
                 width);
        svg_path(b, p, xs, ys, idx + start, m + 1 - start, attrs);
        for (size_t k = 1; k <= m; k++)
            if (isfinite(xs[idx[k]]) && isfinite(ys[idx[k]]))
                svg_marker(b, 2, panel_x(p, xs[idx[k]]), panel_y(p, ys[idx[k]]), 2.8, col, "white", 1.0);
    }
    if (first != SIZE_MAX) {
        svg_marker(b, 0, panel_x(p, xs[first]), panel_y(p, ys[first]), 5.0, "white", col, 1.0);
        svg_marker(b, 1, panel_x(p, xs[last]), panel_y(p, ys[last]), 4.5, col, "white", 1.0);
    }
    size_t f = rows_of(t, l, 0, 1, idx);
    f += rows_of(t, l, 1, 1, idx + f);
    for (size_t k = 0; k < f; k++) {
        size_t r = idx[k];
        if (!isfinite(xs[r]) || !isfinite(ys[r])) continue;
        double x = panel_x(p, xs[r]), y = panel_y(p, ys[r]);
        if (xsd && isfinite(xsd[r]))
            svg_printf(b, "<line class=\"errbar\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
                       panel_x(p, xs[r] - xsd[r]), y, panel_x(p, xs[r] + xsd[r]), y, col);
        if (ysd && isfinite(ysd[r]))
            svg_printf(b, "<line class=\"errbar\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n", x,
                       panel_y(p, ys[r] - ysd[r]), x, panel_y(p, ys[r] + ysd[r]), col);
        svg_marker(b, 4, x, y, 6.0, col, "#000", 1.0);
    }
}

// The diagonal y = x across a panel, dashed, labelled near its top end.
static void plane_diagonal(Svg* b, const Panel* p, const char* label) {
    double lo = fmax(p->x0, p->y0), hi = fmin(p->x1, p->y1);
    if (!(hi > lo)) return;
    svg_printf(b,
               "<line class=\"bound\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444\" "
               "stroke-width=\"1.3\" stroke-dasharray=\"6 4\"/>\n",
               panel_x(p, lo), panel_y(p, lo), panel_x(p, hi), panel_y(p, hi));
    double lx = lo + 0.55 * (hi - lo);
    svg_printf(b,
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#444\" transform=\"rotate(%.1f %.1f %.1f)\">%s"
               "</text>\n",
               panel_x(p, lx) - 4, panel_y(p, lx) - 6,
               -atan2(panel_y(p, lo) - panel_y(p, hi), panel_x(p, hi) - panel_x(p, lo)) * 180.0 / M_PI,
               panel_x(p, lx) - 4, panel_y(p, lx) - 6, label);
}

// One plane: every layer (and the mean) from columns xs/ys; bound_x/bound_y a reference curve
// (nb points, may be 0).
static void plane_panel(Svg* b, Panel* p, const ProbeTable* t, const double* xs, const double* ys,
                        const double* xsd, const double* ysd, const char* title, const char* xlabel,
                        const char* ylabel, const char* diag_label, const double* bx, const double* by, size_t nb,
                        const char* clip_id) {
    // one range for both axes, so that the bound y = x runs corner to corner through the data
    double* both = malloc_check(2 * (t->n + 1) * sizeof(double));
    for (size_t r = 0; r < t->n; r++) both[r] = xs[r], both[t->n + r] = ys[r];
    panel_fit(p, both, both, 2 * t->n, 0.06, 0.06);
    double lo = INFINITY;
    for (size_t r = 0; r < 2 * t->n; r++)
        if (isfinite(both[r])) lo = fmin(lo, both[r]);
    if (lo >= 0.0 && p->x0 < 0.0) p->x0 = p->y0 = 0.0; // information is never negative: no axis below 0
    free(both);
    panel_axes(b, p, title, xlabel, ylabel);
    svg_printf(b, "<defs><clipPath id=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                  "</clipPath></defs>\n<g clip-path=\"url(#%s)\">\n",
               clip_id, p->x, p->y, p->w, p->h, clip_id);
    plane_diagonal(b, p, diag_label);
    if (nb) {
        size_t* bi = malloc_check(nb * sizeof(size_t));
        for (size_t i = 0; i < nb; i++) bi[i] = i;
        svg_path(b, p, bx, by, bi, nb,
                 "class=\"ib-curve\" fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"");
        free(bi);
    }
    size_t* idx = malloc_check((t->n + 1) * sizeof(size_t));
    double smax = 0.0;
    for (size_t r = 0; r < t->n; r++) smax = fmax(smax, t->gstep[r]);
    for (int l = 0; l < t->num_layers; l++) plane_layer(b, p, t, l, xs, ys, xsd, ysd, idx, smax);
    if (t->any_mean) plane_layer(b, p, t, MEAN_LAYER, xs, ys, xsd, ysd, idx, smax);
    free(idx);
    svg_printf(b, "</g>\n");
}

// The key beside the planes: layers, the mean, markers, the bound, the IB curve, progress.
static void plane_key(Svg* b, const ProbeTable* t, double lx, double ly, int ib) {
    svg_layer_legend(b, lx, ly, t->num_layers, "hidden state");
    double ky = ly + 18 + 17 * t->num_layers;
    svg_printf(b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    if (t->any_mean) {
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#777\" stroke-width=\"2.6\"/>\n",
                   lx, ky - 4, lx + 22, ky - 4);
        svg_marker(b, 3, lx + 11, ky - 4, 3.5, "#777", "none", 1.0);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">mean of 1..%d (model)</text>\n", lx + 28, ky, t->num_layers - 1);
        ky += 17;
    }
    ky += 10;
    svg_marker(b, 0, lx + 11, ky, 5.0, "white", "#333", 1.0);
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">start (step 0)</text>\n", lx + 28, ky + 4);
    ky += 18;
    svg_marker(b, 1, lx + 11, ky, 4.5, "#333", "white", 1.0);
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">end of pre-training</text>\n", lx + 28, ky + 4);
    if (t->any_dpo) {
        ky += 18;
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" "
                      "stroke-dasharray=\"5 3\" stroke-width=\"1.6\"/>\n",
                   lx, ky, lx + 22, ky);
        svg_marker(b, 2, lx + 11, ky, 3.2, "#333", "white", 1.0);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">DPO</text>\n", lx + 28, ky + 4);
    }
    if (t->any_final) {
        ky += 20;
        svg_marker(b, 4, lx + 11, ky, 6.0, "#bbb", "#000", 1.0);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">final, larger probe set (± sd</text>\n", lx + 28, ky + 4);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">over reference draws)</text>\n", lx + 28, ky + 17);
        ky += 13;
    }
    ky += 20;
    svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" stroke-dasharray=\"6 4\" "
                  "stroke-width=\"1.3\"/><text x=\"%.1f\" y=\"%.1f\">bound: y = x</text>\n",
               lx, ky, lx + 22, ky, lx + 28, ky + 4);
    if (ib) {
        ky += 18;
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-dasharray=\"2 3\" "
                      "stroke-width=\"1.5\"/><text x=\"%.1f\" y=\"%.1f\">IB curve of a</text>\n"
                      "<text x=\"%.1f\" y=\"%.1f\">current-token encoder</text>\n",
                   lx, ky, lx + 22, ky, lx + 28, ky + 4, lx + 28, ky + 17);
        ky += 13;
    }
    ky += 26;
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">training progress</text>\n", lx, ky);
    for (int i = 0; i < 8; i++) svg_marker(b, 0, lx + 5 + 12 * i, ky + 12, 3.0, "#333", "none", 0.15 + 0.85 * i / 7.0);
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">early</text>\n", lx, ky + 30);
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">late</text>\n", lx + 95, ky + 30);
    svg_printf(b, "</g>\n");
}

// Reads a bound curve "x,y" (header line, two columns) into malloc'd arrays.
static int read_curve(const char* path, double** bx, double** by, size_t* n, char* err, size_t errlen) {
    Csv bc = {0};
    *bx = *by = NULL;
    *n = 0;
    if (csv_read(&bc, path, err, errlen) != 0) return -1;
    int rc = -1;
    if (bc.ncols < 2) {
        snprintf(err, errlen, "%s: need two columns (x,y)", path);
        goto done;
    }
    *bx = malloc_check((bc.nrows + 1) * sizeof(double));
    *by = malloc_check((bc.nrows + 1) * sizeof(double));
    for (size_t r = 0; r < bc.nrows; r++)
        if (csv_get(&bc, r, 0, &(*bx)[r], err, errlen) || csv_get(&bc, r, 1, &(*by)[r], err, errlen)) goto done;
    *n = bc.nrows;
    rc = 0;
done:
    csv_free(&bc);
    return rc;
}

int probe_plot_info_plane(const char* probes_csv, const char* svg_out, const PlotOptions* o, char* err,
                          size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, !o->corrected, err, errlen) != 0) return -1;
    double *xs = plotted_column(&t, "I_in1", err, errlen), *ys = NULL, *cx = NULL, *xsd = NULL, *ysd = NULL;
    double *bx = NULL, *by = NULL;
    size_t nb = 0;
    int rc = -1;
    if (!xs || !(ys = plotted_column(&t, "I_out1", err, errlen)) || !(cx = csv_column(&t.csv, "I_ctx", err, errlen)))
        goto done;
    char e2[16];
    xsd = csv_column(&t.csv, "I_in1_sd", e2, sizeof e2); // optional
    ysd = csv_column(&t.csv, "I_out1_sd", e2, sizeof e2);
    if (o->bound_csv && read_curve(o->bound_csv, &bx, &by, &nb, err, errlen) != 0) goto done;
    size_t finite = 0;
    for (size_t r = 0; r < t.n; r++) finite += isfinite(xs[r]) && isfinite(ys[r]);
    if (finite == 0) {
        snprintf(err, errlen, "%s: no row has both I_in1 and I_out1", probes_csv);
        goto done;
    }
    const int W = 1130, H = 560;
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"80\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Information planes</text>\n");
    svg_printf(&b,
               "<text x=\"80\" y=\"44\" font-size=\"11\" fill=\"#555\">soft-entropy probes per hidden state, "
               "/ ln n_bins; %s; lighter = earlier in training</text>\n",
               t.raw || !t.any_null ? "raw plug-in values (the permutation nulls: probes.svg, dotted)"
                                    : "each I minus its permutation null (labels shuffled among the positions; --plot-corrected)");
    char xl[160], yl[160], cl[160];
    snprintf(xl, sizeof xl, "complexity I(X;Z)%s, X = input token", null_note(&t));
    snprintf(yl, sizeof yl, "expressivity I(Y;Z)%s, Y = next token", null_note(&t));
    snprintf(cl, sizeof cl, "I(C;Z), C = whole input context (every position its own label)");
    Panel a = {.x = 80, .y = 80, .w = 380, .h = 400}, c = {.x = 540, .y = 80, .w = 380, .h = 400};
    plane_panel(&b, &a, &t, xs, ys, xsd, ysd, "Token plane (the paper's)", xl, yl, "optimality = 1", bx, by, nb,
                "plane-a");
    plane_panel(&b, &c, &t, cx, ys, NULL, ysd, "Context plane", cl, yl, "exact bound: I(Y;Z) ≤ I(C;Z)", NULL, NULL,
                0, "plane-c");
    plane_key(&b, &t, c.x + c.w + 24, c.y + 6, nb > 0);
    rc = svg_end(&b, svg_out, err, errlen);
done:
    free(xs);
    free(ys);
    free(cx);
    free(xsd);
    free(ysd);
    free(bx);
    free(by);
    probe_table_free(&t);
    return rc;
}

// ============================================================================
// curves against step

// The DPO stage as a light band from the last pre-training step to the panel's right edge, labelled
// at the top (before the axes, so grid and data draw over it).
static void dpo_shade(Svg* b, const Panel* p, const ProbeTable* t) {
    if (!t->any_dpo) return;
    double x = panel_x(p, t->pre_end);
    svg_printf(b,
               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f2f2f2\"/>\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#777\" stroke-dasharray=\"3 3\"/>\n"
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\" text-anchor=\"end\">DPO</text>\n",
               x, p->y, p->x + p->w - x, p->h, x, p->y, x, p->y + p->h, x - 3, p->y + 11);
}

// One layer's line (trajectory rows, both stages) of v against the global step; `dotted` for a
// null drawn beside its value.
static void curve_line(Svg* b, const Panel* p, const ProbeTable* t, const double* v, int l, size_t* idx, int dotted) {
    char col[8], attrs[200];
    row_colour(t, l, col);
    size_t n = rows_of(t, l, 0, 0, idx);
    n += rows_of(t, l, 1, 0, idx + n);
    size_t finite = 0;
    for (size_t k = 0; k < n; k++) finite += isfinite(v[idx[k]]);
    if (!finite) return;
    snprintf(attrs, sizeof attrs,
             "class=\"%s\" data-layer=\"%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\"%s",
             dotted ? "null-curve" : "layer-curve", l, col, l == MEAN_LAYER ? 2.4 : 1.5,
             dotted ? " stroke-dasharray=\"1.5 2.5\" stroke-opacity=\"0.8\"" : "");
    svg_path(b, p, t->gstep, v, idx, n, attrs);
    if (!dotted && n <= 40) // few probe points: mark each, so a run with one or two is still visible
        for (size_t k = 0; k < n; k++)
            if (isfinite(v[idx[k]]))
                svg_marker(b, 0, panel_x(p, t->gstep[idx[k]]), panel_y(p, v[idx[k]]), 1.8, col, "none", 1.0);
}

// One small-multiple panel: v against the global step, one line per layer and the mean; null (may
// be NULL) dotted beside it.
static void curve_panel(Svg* b, Panel* p, const ProbeTable* t, const double* v, const double* null,
                        const char* title, const char* xlabel, const char* ylabel, double xmax) {
    size_t m = 0;
    double* both = malloc_check(2 * (t->n + 1) * sizeof(double));
    double* bx = malloc_check(2 * (t->n + 1) * sizeof(double));
    for (size_t r = 0; r < t->n; r++) {
        if (t->final[r]) continue;
        both[m] = v[r], bx[m++] = t->gstep[r];
        if (null) both[m] = null[r], bx[m++] = t->gstep[r];
    }
    panel_fit(p, bx, both, m, 0.0, 0.06);
    free(both);
    free(bx);
    panel_set_x(p, 0.0, xmax);
    dpo_shade(b, p, t);
    panel_axes(b, p, title, xlabel, ylabel);
    size_t* idx = malloc_check((t->n + 1) * sizeof(size_t));
    for (int l = 0; l < t->num_layers; l++) {
        if (null) curve_line(b, p, t, null, l, idx, 1);
        curve_line(b, p, t, v, l, idx, 0);
    }
    if (t->any_mean) curve_line(b, p, t, v, MEAN_LAYER, idx, 0);
    free(idx);
}

// The loss panel: train and val loss against the global step, with the n-gram baselines of
// baselines_csv (may be NULL) as labelled horizontal lines.
static int loss_panel(Svg* b, Panel* p, const ProbeTable* t, const char* train_csv, const char* baselines_csv,
                      double xmax, char* err, size_t errlen) {
    Csv tc = {0}, bc = {0};
    double *tstep = NULL, *tloss = NULL, *vloss = NULL, *tg = NULL, *bl = NULL;
    int rc = -1, js;
    if (csv_read(&tc, train_csv, err, errlen) != 0 || (js = csv_col(&tc, "stage", err, errlen)) < 0 ||
        !(tstep = csv_column(&tc, "step", err, errlen)) || !(tloss = csv_column(&tc, "loss", err, errlen)) ||
        !(vloss = csv_column(&tc, "val_loss", err, errlen)))
        goto done;
    if (baselines_csv && (csv_read(&bc, baselines_csv, err, errlen) != 0 ||
                          !(bl = csv_column(&bc, "val_loss_nats_per_token", err, errlen))))
        goto done;
    size_t n = tc.nrows, nbl = bl ? bc.nrows : 0;
    tg = malloc_check((n + 1) * sizeof(double));
    for (size_t r = 0; r < n; r++) tg[r] = tstep[r] + (strcmp(csv_cell(&tc, r, js), "pretrain") != 0 ? t->pre_end : 0.0);
    double* both = malloc_check((2 * n + nbl + 1) * sizeof(double));
    double* bx = malloc_check((2 * n + nbl + 1) * sizeof(double));
    for (size_t r = 0; r < n; r++) both[r] = tloss[r], both[n + r] = vloss[r], bx[r] = bx[n + r] = tg[r];
    for (size_t k = 0; k < nbl; k++) both[2 * n + k] = bl[k], bx[2 * n + k] = 0.0;
    panel_fit(p, bx, both, 2 * n + nbl, 0.0, 0.06);
    free(both);
    free(bx);
    panel_set_x(p, 0.0, xmax);
    dpo_shade(b, p, t);
    panel_axes(b, p, "Loss", "step", "cross-entropy (nats)");
    for (size_t k = 0; k < nbl; k++) {
        if (!isfinite(bl[k])) continue;
        double y = panel_y(p, bl[k]), ty = y - 3;
        // a label that would touch an earlier baseline's goes below its own line
        for (size_t j = 0; j < k; j++)
            if (isfinite(bl[j]) && fabs(panel_y(p, bl[j]) - y) < 11) ty = y + 10;
        svg_printf(b,
                   "<line class=\"baseline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                   "stroke-dasharray=\"1.5 2.5\"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#666\" "
                   "text-anchor=\"end\">%s %.2f</text>\n",
                   p->x, y, p->x + p->w, y, p->x + p->w - 3, ty, csv_cell(&bc, k, 0), bl[k]);
    }
    size_t* idx = malloc_check((n + 1) * sizeof(size_t));
    for (size_t r = 0; r < n; r++) idx[r] = r;
    svg_path(b, p, tg, tloss, idx, n, "class=\"loss\" fill=\"none\" stroke=\"#0072B2\" stroke-width=\"1.2\"");
    size_t nv = 0;
    for (size_t r = 0; r < n; r++)
        if (isfinite(vloss[r])) idx[nv++] = r;
    svg_path(b, p, tg, vloss, idx, nv,
             "class=\"val-loss\" fill=\"none\" stroke=\"#D55E00\" stroke-width=\"1.8\" stroke-dasharray=\"5 3\"");
    for (size_t k = 0; k < nv; k++) svg_marker(b, 0, panel_x(p, tg[idx[k]]), panel_y(p, vloss[idx[k]]), 2.5, "#D55E00", "none", 1.0);
    free(idx);
    // key inside the panel, top right, clear of the DPO band
    double kx = p->x + p->w - 70, ky = p->y + 14;
    if (t->any_dpo) kx = fmin(kx, panel_x(p, t->pre_end) - 100);
    svg_printf(b, "<g font-size=\"10\" fill=\"#333\"><rect x=\"%.1f\" y=\"%.1f\" width=\"66\" height=\"32\" "
                  "fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
               kx - 4, ky - 10);
    svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#0072B2\" stroke-width=\"1.5\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\">train</text>\n",
               kx, ky - 3, kx + 18, ky - 3, kx + 22, ky);
    svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#D55E00\" stroke-width=\"1.8\" "
                  "stroke-dasharray=\"5 3\"/><text x=\"%.1f\" y=\"%.1f\">val</text></g>\n",
               kx, ky + 11, kx + 18, ky + 11, kx + 22, ky + 14);
    rc = 0;
done:
    free(tstep);
    free(tloss);
    free(vloss);
    free(tg);
    free(bl);
    csv_free(&tc);
    csv_free(&bc);
    return rc;
}

enum { NUM_CURVES = 5 };

int probe_plot_curves(const char* probes_csv, const char* train_csv, const char* baselines_csv, const char* svg_out,
                      const PlotOptions* o, char* err, size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, !o->corrected, err, errlen) != 0) return -1;
    static const char* cols[NUM_CURVES] = {"H", "I_in1", "I_out1", "optimality", "I_ctx"};
    double* v[NUM_CURVES] = {0};
    double* nulls[NUM_CURVES] = {0};
    int rc = -1;
    for (int i = 0; i < NUM_CURVES; i++)
        if (!(v[i] = (i == 1 || i == 2) ? plotted_column(&t, cols[i], err, errlen) : csv_column(&t.csv, cols[i], err, errlen)))
            goto done;
    int corrected = !t.raw && t.any_null;
    if (corrected)
        for (size_t r = 0; r < t.n; r++) v[3][r] = v[1][r] > 1e-12 ? v[2][r] / v[1][r] : NAN;
    else if (t.any_null) { // raw values: the nulls dotted beside them, the bias one can see
        char e2[16];
        nulls[1] = csv_column(&t.csv, "I_in1_null", e2, sizeof e2);
        nulls[2] = csv_column(&t.csv, "I_out1_null", e2, sizeof e2);
    }
    char titles[NUM_CURVES][96];
    snprintf(titles[0], sizeof titles[0], "Entropy H(Z)");
    snprintf(titles[1], sizeof titles[1], "Complexity I(X;Z)%s, X = token", null_note(&t));
    snprintf(titles[2], sizeof titles[2], "Expressivity I(Y;Z)%s, Y = next", null_note(&t));
    snprintf(titles[3], sizeof titles[3], "Optimality %s", corrected ? "(I_out1 − null) / (I_in1 − null)" : "I_out1 / I_in1");
    snprintf(titles[4], sizeof titles[4], "Context I(C;Z)");
    static const char* ylabels[NUM_CURVES] = {"H / ln n_bins", "I / ln n_bins", "I / ln n_bins", "ratio",
                                              "I / ln n_bins"};
    const int W = 1130, H = 640;
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"70\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Training curves and "
                   "soft-entropy probes</text>\n");
    svg_printf(&b, "<text x=\"70\" y=\"44\" font-size=\"11\" fill=\"#555\">%s</text>\n",
               corrected ? "I columns minus their permutation null (--plot-corrected; the raw values are the default)"
                         : t.any_null ? "raw plug-in values; dotted: each layer's permutation null (the estimator's bias "
                                        "for a label independent of Z)"
                                      : "raw plug-in values");
    const double cw = 250, ch = 200, gx = 80, gy = 78;
    Panel ps[6];
    for (int i = 0; i < 6; i++) {
        Panel q = {.x = 72 + (i % 3) * (cw + gx), .y = 70 + (i / 3) * (ch + gy), .w = cw, .h = ch};
        ps[i] = q;
    }
    double xmax = 0.0; // every panel shares the step axis
    for (size_t r = 0; r < t.n; r++) xmax = fmax(xmax, t.gstep[r]);
    if (train_csv) {
        if (loss_panel(&b, &ps[0], &t, train_csv, baselines_csv, xmax, err, errlen) != 0) {
            free(b.s);
            goto done;
        }
    } else {
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#777\" text-anchor=\"middle\">"
                       "(no train.csv)</text>\n",
                   ps[0].x + ps[0].w / 2, ps[0].y + ps[0].h / 2);
    }
    for (int i = 0; i < NUM_CURVES; i++) curve_panel(&b, &ps[i + 1], &t, v[i], nulls[i], titles[i], "step", ylabels[i], xmax);
    svg_layer_legend(&b, ps[2].x + ps[2].w + 24, ps[2].y + 6, t.num_layers, "hidden state");
    if (t.any_mean)
        svg_printf(&b, "<g font-size=\"11\" fill=\"#333\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                       "stroke=\"#777\" stroke-width=\"2.4\"/><text x=\"%.1f\" y=\"%.1f\">mean of 1..%d</text></g>\n",
                   ps[2].x + ps[2].w + 24, ps[2].y + 20 + 17.0 * t.num_layers, ps[2].x + ps[2].w + 46,
                   ps[2].y + 20 + 17.0 * t.num_layers, ps[2].x + ps[2].w + 52, ps[2].y + 24 + 17.0 * t.num_layers,
                   t.num_layers - 1);
    rc = svg_end(&b, svg_out, err, errlen);
done:
    for (int i = 0; i < NUM_CURVES; i++) {
        free(v[i]);
        free(nulls[i]);
    }
    probe_table_free(&t);
    return rc;
}

// ============================================================================
// preference information during DPO

// The reward panel: margin, and the chosen/rejected rewards it is the difference of.
static void reward_panel(Svg* b, Panel* m, const Csv* dc, const double* ds, const double* mg, const double* rcx,
                         const double* rrj, double smax) {
    size_t n = dc->nrows;
    double* ally = malloc_check((3 * n + 1) * sizeof(double));
    double* allx = malloc_check((3 * n + 1) * sizeof(double));
    for (size_t r = 0; r < n; r++) {
        ally[r] = mg[r], ally[n + r] = rcx[r], ally[2 * n + r] = rrj[r];
        allx[r] = allx[n + r] = allx[2 * n + r] = ds[r];
    }
    panel_fit(m, allx, ally, 3 * n, 0.0, 0.08);
    panel_set_x(m, 0.0, smax);
    free(ally);
    free(allx);
    panel_axes(b, m, "Rewards (β · log-ratio to reference)", "DPO step", "reward (nats)");
    if (m->y0 < 0 && m->y1 > 0)
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", m->x, panel_y(m, 0),
                   m->x + m->w, panel_y(m, 0));
    size_t* idx = malloc_check((n + 1) * sizeof(size_t));
    for (size_t r = 0; r < n; r++) idx[r] = r;
    svg_path(b, m, ds, rcx, idx, n, "class=\"chosen\" fill=\"none\" stroke=\"#009E73\" stroke-width=\"1.2\"");
    svg_path(b, m, ds, rrj, idx, n, "class=\"rejected\" fill=\"none\" stroke=\"#CC79A7\" stroke-width=\"1.2\"");
    svg_path(b, m, ds, mg, idx, n, "class=\"margin\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"");
    free(idx);
    double kx = m->x + m->w + 22, ky = m->y + 6;
    svg_printf(b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    static const char* kc[3] = {"#000", "#009E73", "#CC79A7"};
    static const char* kt[3] = {"margin", "chosen", "rejected"};
    static const double kw[3] = {2, 1.2, 1.2};
    for (int i = 0; i < 3; i++)
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                   kx, ky + 17 * i - 4, kx + 22, ky + 17 * i - 4, kc[i], kw[i], kx + 28, ky + 17 * i, kt[i]);
    svg_printf(b, "</g>\n");
}

int probe_plot_preference(const char* probes_csv, const char* dpo_csv, const char* svg_out, const PlotOptions* o,
                          char* err, size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, !o->corrected, err, errlen) != 0) return -1;
    Csv dc = {0};
    double *ip = NULL, *ds = NULL, *mg = NULL, *rcx = NULL, *rrj = NULL, *null = NULL;
    int rc = -1;
    if (!(ip = plotted_column(&t, "I_pref", err, errlen))) goto done;
    if (csv_read(&dc, dpo_csv, err, errlen) != 0 || !(ds = csv_column(&dc, "step", err, errlen)) ||
        !(mg = csv_column(&dc, "margin", err, errlen)) || !(rcx = csv_column(&dc, "rewards_chosen", err, errlen)) ||
        !(rrj = csv_column(&dc, "rewards_rejected", err, errlen)))
        goto done;
    if (t.raw && t.any_null) {
        char e2[16];
        null = csv_column(&t.csv, "I_pref_null", e2, sizeof e2);
    }
    size_t have = 0; // I_pref of DPO trajectory rows only, against the DPO step
    for (size_t r = 0; r < t.n; r++) {
        if (!t.dpo[r] || t.final[r]) ip[r] = NAN;
        have += isfinite(ip[r]);
    }
    if (!have) {
        snprintf(err, errlen, "%s: no DPO row with an I_pref value", probes_csv);
        goto done;
    }
    const int W = 1000, H = 400;
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"72\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Preference information during "
                   "DPO</text>\n");
    Panel a = {.x = 72, .y = 64, .w = 300, .h = 260}, m = {.x = 580, .y = 64, .w = 300, .h = 260};
    double smax = 0.0;
    for (size_t r = 0; r < t.n; r++)
        if (t.dpo[r]) smax = fmax(smax, t.step[r]);
    for (size_t r = 0; r < dc.nrows; r++)
        if (isfinite(ds[r])) smax = fmax(smax, ds[r]);
    // the panel plots against the DPO step: a table whose global step is the DPO step
    double* keep = t.gstep;
    t.gstep = t.step;
    double pe = t.pre_end;
    int ad = t.any_dpo;
    t.pre_end = 0.0, t.any_dpo = 0;
    char title[96];
    snprintf(title, sizeof title, "I(preference; Z)%s per layer", null_note(&t));
    curve_panel(&b, &a, &t, ip, null, title, "DPO step", "I_pref / ln n_bins", smax);
    t.gstep = keep, t.pre_end = pe, t.any_dpo = ad;
    reward_panel(&b, &m, &dc, ds, mg, rcx, rrj, smax);
    svg_layer_legend(&b, a.x + a.w + 18, a.y + 6, t.num_layers, "hidden state");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    free(ip);
    free(ds);
    free(mg);
    free(rcx);
    free(rrj);
    free(null);
    csv_free(&dc);
    probe_table_free(&t);
    return rc;
}

// The run folder's figures: DIR/info_plane.svg and DIR/probes.svg from DIR/probes.csv (with
// DIR/train.csv and DIR/baselines.csv when present), and DIR/preference.svg when DIR/dpo.csv exists.
int probe_plots_write(const char* dir, const PlotOptions* o, char* err, size_t errlen) {
    char pc[4096], tc[4096], bc[4096], dc[4096], out[4096];
    struct stat st;
    snprintf(pc, sizeof pc, "%s/probes.csv", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    snprintf(bc, sizeof bc, "%s/baselines.csv", dir);
    snprintf(dc, sizeof dc, "%s/dpo.csv", dir);
    snprintf(out, sizeof out, "%s/info_plane.svg", dir);
    if (probe_plot_info_plane(pc, out, o, err, errlen) != 0) return -1;
    snprintf(out, sizeof out, "%s/probes.svg", dir);
    if (probe_plot_curves(pc, stat(tc, &st) == 0 ? tc : NULL, stat(bc, &st) == 0 ? bc : NULL, out, o, err, errlen) != 0)
        return -1;
    if (stat(dc, &st) != 0) return 0;
    snprintf(out, sizeof out, "%s/preference.svg", dir);
    return probe_plot_preference(pc, dc, out, o, err, errlen);
}
