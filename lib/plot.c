// lib/plot.c: the figures of plot.h: the information plane, the probe curves beside the loss,
// and the preference panel, read from probes.csv, train.csv and dpo.csv.
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
    double* layer;   // (n)
    int* dpo;        // (n) 1 for rows of a stage other than pretrain
    int num_layers;  // max layer + 1
    double pre_end;  // last pre-training step (the global offset of later stages)
    int any_dpo;
} ProbeTable;

static void probe_table_free(ProbeTable* t) {
    csv_free(&t->csv);
    free(t->step);
    free(t->gstep);
    free(t->layer);
    free(t->dpo);
    memset(t, 0, sizeof *t);
}

static int probe_table_read(ProbeTable* t, const char* path, char* err, size_t errlen) {
    memset(t, 0, sizeof *t);
    if (csv_read(&t->csv, path, err, errlen) != 0) return -1;
    t->n = t->csv.nrows;
    int js = csv_col(&t->csv, "stage", err, errlen);
    if (js < 0 || !(t->step = csv_column(&t->csv, "step", err, errlen)) ||
        !(t->layer = csv_column(&t->csv, "layer", err, errlen))) {
        probe_table_free(t);
        return -1;
    }
    t->gstep = malloc_check(t->n * sizeof(double));
    t->dpo = malloc_check(t->n * sizeof(int));
    t->pre_end = 0.0;
    int maxl = -1;
    for (size_t r = 0; r < t->n; r++) {
        double l = t->layer[r];
        if (!isfinite(l) || l < 0 || l > 1000 || l != floor(l) || !isfinite(t->step[r])) {
            snprintf(err, errlen, "%s:%zu: step and layer must be non-negative integers", path, t->csv.line[r]);
            probe_table_free(t);
            return -1;
        }
        maxl = (int)l > maxl ? (int)l : maxl;
        t->dpo[r] = strcmp(csv_cell(&t->csv, r, js), "pretrain") != 0;
        t->any_dpo |= t->dpo[r];
        if (!t->dpo[r] && t->step[r] > t->pre_end) t->pre_end = t->step[r];
    }
    for (size_t r = 0; r < t->n; r++) t->gstep[r] = t->step[r] + (t->dpo[r] ? t->pre_end : 0.0);
    t->num_layers = maxl + 1;
    return 0;
}

// ============================================================================
// the three figures

// Rows of layer l (in file order) split into pre-training and later stages.
static size_t rows_of_layer(const ProbeTable* t, int l, int dpo, size_t* idx) {
    size_t n = 0;
    for (size_t r = 0; r < t->n; r++)
        if ((int)t->layer[r] == l && t->dpo[r] == dpo) idx[n++] = r;
    return n;
}

int probe_plot_info_plane(const char* probes_csv, const char* svg_out, const char* bound_csv, char* err,
                          size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, err, errlen) != 0) return -1;
    double *xs = csv_column(&t.csv, "I_in1", err, errlen), *ys = NULL, *bx = NULL, *by = NULL;
    size_t nb = 0;
    Csv bc = {0};
    int rc = -1;
    if (!xs || !(ys = csv_column(&t.csv, "I_out1", err, errlen))) goto done;
    if (bound_csv) {
        if (csv_read(&bc, bound_csv, err, errlen) != 0) goto done;
        if (bc.ncols < 2) {
            snprintf(err, errlen, "%s: need two columns (x,y)", bound_csv);
            goto done;
        }
        nb = bc.nrows;
        bx = malloc_check(nb * sizeof(double));
        by = malloc_check(nb * sizeof(double));
        for (size_t r = 0; r < nb; r++)
            if (csv_get(&bc, r, 0, &bx[r], err, errlen) || csv_get(&bc, r, 1, &by[r], err, errlen)) goto done;
    }
    size_t finite = 0;
    for (size_t r = 0; r < t.n; r++) finite += isfinite(xs[r]) && isfinite(ys[r]);
    if (finite == 0) {
        snprintf(err, errlen, "%s: no row has both I_in1 and I_out1", probes_csv);
        goto done;
    }

    const int W = 740, H = 600, L = t.num_layers;
    Panel p = {.x = 80, .y = 56, .w = 480, .h = 470};
    panel_fit(&p, xs, ys, t.n, 0.06, 0.06);
    // the frame follows the data; the bound (a reference) is clipped to it
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Information plane</text>\n",
               (int)p.x);
    svg_printf(&b,
               "<text x=\"%d\" y=\"44\" font-size=\"11\" fill=\"#555\">soft-entropy probes per layer; "
               "lighter = earlier in training</text>\n",
               (int)p.x);
    panel_axes(&b, &p, NULL, "complexity I(X;Z) / ln n_bins  (X = input token)",
               "expressivity I(Y;Z) / ln n_bins  (Y = next token)");
    svg_printf(&b, "<defs><clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                   "</clipPath></defs>\n<g clip-path=\"url(#plot)\">\n",
               p.x, p.y, p.w, p.h);
    if (nb) {
        size_t* bi = malloc_check(nb * sizeof(size_t));
        for (size_t i = 0; i < nb; i++) bi[i] = i;
        svg_path(&b, &p, bx, by, bi, nb,
                 "class=\"bound\" fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"");
        free(bi);
    }
    size_t* idx = malloc_check((t.n + 1) * sizeof(size_t));
    double smax = 0.0;
    for (size_t r = 0; r < t.n; r++) smax = fmax(smax, t.gstep[r]);
    for (int l = 0; l < L; l++) {
        char col[8], attrs[160];
        svg_layer_colour(l, L, col);
        size_t n = rows_of_layer(&t, l, 0, idx);
        snprintf(attrs, sizeof attrs,
                 "class=\"layer-traj\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-opacity=\"0.75\" "
                 "stroke-linejoin=\"round\"",
                 col);
        svg_path(&b, &p, xs, ys, idx, n, attrs);
        // points shaded by progress: opacity 0.15 at step 0 up to 1 at the last step
        for (size_t k = 0; k < n; k++) {
            size_t r = idx[k];
            if (!isfinite(xs[r]) || !isfinite(ys[r])) continue;
            double prog = smax > 0 ? t.gstep[r] / smax : 1.0;
            svg_marker(&b, 0, panel_x(&p, xs[r]), panel_y(&p, ys[r]), 2.6, col, "none", 0.15 + 0.85 * prog);
        }
        size_t first = SIZE_MAX, last = SIZE_MAX;
        for (size_t k = 0; k < n; k++)
            if (isfinite(xs[idx[k]]) && isfinite(ys[idx[k]])) {
                if (first == SIZE_MAX) first = idx[k];
                last = idx[k];
            }
        // the later stage (DPO): dashed, from the last pre-training point on, diamonds
        size_t m = rows_of_layer(&t, l, 1, idx + 1);
        if (m) {
            size_t start = 1;
            if (last != SIZE_MAX) idx[0] = last, start = 0;
            snprintf(attrs, sizeof attrs,
                     "class=\"dpo-traj\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-dasharray=\"5 3\"",
                     col);
            svg_path(&b, &p, xs, ys, idx + start, m + 1 - start, attrs);
            for (size_t k = 1; k <= m; k++) {
                size_t r = idx[k];
                if (isfinite(xs[r]) && isfinite(ys[r])) svg_marker(&b, 2, panel_x(&p, xs[r]), panel_y(&p, ys[r]), 2.8, col, "white", 1.0);
            }
        }
        if (first != SIZE_MAX) {
            svg_marker(&b, 0, panel_x(&p, xs[first]), panel_y(&p, ys[first]), 5.0, "white", col, 1.0);
            svg_marker(&b, 1, panel_x(&p, xs[last]), panel_y(&p, ys[last]), 4.5, col, "white", 1.0);
        }
    }
    free(idx);
    svg_printf(&b, "</g>\n");
    // legend: layers, then the marker key
    double lx = p.x + p.w + 24, ly = p.y + 6;
    svg_layer_legend(&b, lx, ly, L, "hidden state");
    double ky = ly + 18 + 17 * L + 16;
    svg_printf(&b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    svg_marker(&b, 0, lx + 11, ky, 5.0, "white", "#333", 1.0);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">start (step 0)</text>\n", lx + 28, ky + 4);
    ky += 18;
    svg_marker(&b, 1, lx + 11, ky, 4.5, "#333", "white", 1.0);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">end of pre-training</text>\n", lx + 28, ky + 4);
    if (t.any_dpo) {
        ky += 18;
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" "
                       "stroke-dasharray=\"5 3\" stroke-width=\"1.6\"/>\n",
                   lx, ky, lx + 22, ky);
        svg_marker(&b, 2, lx + 11, ky, 3.2, "#333", "white", 1.0);
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">DPO</text>\n", lx + 28, ky + 4);
    }
    if (nb) {
        ky += 18;
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                       "stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>\n",
                   lx, ky, lx + 22, ky);
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">IB bound</text>\n", lx + 28, ky + 4);
    }
    // progress key: a strip of dots from light to dark
    ky += 24;
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">training progress</text>\n", lx, ky);
    for (int i = 0; i < 8; i++) svg_marker(&b, 0, lx + 5 + 12 * i, ky + 12, 3.0, "#333", "none", 0.15 + 0.85 * i / 7.0);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">early</text>\n", lx, ky + 30);
    svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">late</text>\n", lx + 95, ky + 30);
    svg_printf(&b, "</g>\n");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    free(xs);
    free(ys);
    free(bx);
    free(by);
    csv_free(&bc);
    probe_table_free(&t);
    return rc;
}

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

// One small-multiple panel: `col` of probes.csv against the global step, one line per layer, with
// a dotted line where DPO starts.
static void curve_panel(Svg* b, Panel* p, const ProbeTable* t, const double* v, const char* title,
                        const char* ylabel, double xmax) {
    panel_fit(p, t->gstep, v, t->n, 0.0, 0.06);
    panel_set_x(p, 0.0, xmax);
    dpo_shade(b, p, t);
    panel_axes(b, p, title, "step", ylabel);
    size_t* idx = malloc_check(t->n * sizeof(size_t));
    for (int l = 0; l < t->num_layers; l++) {
        char col[8], attrs[160];
        svg_layer_colour(l, t->num_layers, col);
        size_t n = 0;
        for (size_t r = 0; r < t->n; r++)
            if ((int)t->layer[r] == l) idx[n++] = r;
        snprintf(attrs, sizeof attrs,
                 "class=\"layer-curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\"",
                 col);
        svg_path(b, p, t->gstep, v, idx, n, attrs);
        if (n <= 40) // few probe points: mark each, so a run with one or two is still visible
            for (size_t k = 0; k < n; k++)
                if (isfinite(v[idx[k]])) svg_marker(b, 0, panel_x(p, t->gstep[idx[k]]), panel_y(p, v[idx[k]]), 1.8, col, "none", 1.0);
    }
    free(idx);
}

int probe_plot_curves(const char* probes_csv, const char* train_csv, const char* svg_out, char* err,
                      size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, err, errlen) != 0) return -1;
    static const char* cols[4] = {"H", "I_in1", "I_out1", "optimality"};
    static const char* titles[4] = {"Entropy H(Z)", "Complexity I(X;Z)", "Expressivity I(Y;Z)",
                                    "Optimality I(Y;Z) / I(X;Z)"};
    static const char* ylabels[4] = {"H / ln n_bins", "I / ln n_bins", "I / ln n_bins", "ratio"};
    double* v[4] = {0};
    Csv tc = {0};
    double *tstep = NULL, *tloss = NULL, *vloss = NULL, *tg = NULL;
    int rc = -1;
    for (int i = 0; i < 4; i++)
        if (!(v[i] = csv_column(&t.csv, cols[i], err, errlen))) goto done;
    if (train_csv) {
        int js;
        if (csv_read(&tc, train_csv, err, errlen) != 0 || (js = csv_col(&tc, "stage", err, errlen)) < 0 ||
            !(tstep = csv_column(&tc, "step", err, errlen)) || !(tloss = csv_column(&tc, "loss", err, errlen)) ||
            !(vloss = csv_column(&tc, "val_loss", err, errlen)))
            goto done;
        tg = malloc_check(tc.nrows * sizeof(double));
        for (size_t r = 0; r < tc.nrows; r++)
            tg[r] = tstep[r] + (strcmp(csv_cell(&tc, r, js), "pretrain") != 0 ? t.pre_end : 0.0);
    }
    const int W = 1000, H = 640;
    Svg b;
    svg_begin(&b, W, H);
    svg_printf(&b, "<text x=\"70\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Training curves and "
                   "soft-entropy probes</text>\n");
    // 3 x 2 grid: loss | H | I_in1 / I_out1 | optimality | legend
    const double cw = 250, ch = 200, gx = 80, gy = 78;
    Panel ps[6];
    for (int i = 0; i < 6; i++) {
        Panel q = {.x = 72 + (i % 3) * (cw + gx), .y = 64 + (i / 3) * (ch + gy), .w = cw, .h = ch};
        ps[i] = q;
    }
    double xmax = 0.0; // every panel shares the step axis
    for (size_t r = 0; r < t.n; r++) xmax = fmax(xmax, t.gstep[r]);
    for (size_t r = 0; train_csv && r < tc.nrows; r++)
        if (isfinite(tg[r])) xmax = fmax(xmax, tg[r]);
    if (train_csv) {
        Panel* p = &ps[0];
        double* both = malloc_check(2 * tc.nrows * sizeof(double));
        double* bx = malloc_check(2 * tc.nrows * sizeof(double));
        for (size_t r = 0; r < tc.nrows; r++) both[r] = tloss[r], both[tc.nrows + r] = vloss[r];
        for (size_t r = 0; r < tc.nrows; r++) bx[r] = bx[tc.nrows + r] = tg[r];
        panel_fit(p, bx, both, 2 * tc.nrows, 0.0, 0.06);
        panel_set_x(p, 0.0, xmax);
        dpo_shade(&b, p, &t);
        panel_axes(&b, p, "Loss", "step", "cross-entropy (nats)");
        size_t* idx = malloc_check(tc.nrows * sizeof(size_t));
        for (size_t r = 0; r < tc.nrows; r++) idx[r] = r;
        svg_path(&b, p, tg, tloss, idx, tc.nrows, "class=\"loss\" fill=\"none\" stroke=\"#0072B2\" stroke-width=\"1.2\"");
        size_t nv = 0;
        for (size_t r = 0; r < tc.nrows; r++)
            if (isfinite(vloss[r])) idx[nv++] = r;
        svg_path(&b, p, tg, vloss, idx, nv,
                 "class=\"val-loss\" fill=\"none\" stroke=\"#D55E00\" stroke-width=\"1.8\" stroke-dasharray=\"5 3\"");
        for (size_t k = 0; k < nv; k++) svg_marker(&b, 0, panel_x(p, tg[idx[k]]), panel_y(p, vloss[idx[k]]), 2.5, "#D55E00", "none", 1.0);
        free(idx);
        free(both);
        free(bx);
        // key inside the loss panel, top right
        double kx = p->x + p->w - 70, ky = p->y + 14;
        if (t.any_dpo) kx = fmin(kx, panel_x(p, t.pre_end) - 100); // clear of the DPO band and its label
        svg_printf(&b, "<g font-size=\"10\" fill=\"#333\"><rect x=\"%.1f\" y=\"%.1f\" width=\"66\" height=\"32\" "
                       "fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
                   kx - 4, ky - 10);
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#0072B2\" stroke-width=\"1.5\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\">train</text>\n",
                   kx, ky - 3, kx + 18, ky - 3, kx + 22, ky);
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#D55E00\" stroke-width=\"1.8\" "
                       "stroke-dasharray=\"5 3\"/><text x=\"%.1f\" y=\"%.1f\">val</text></g>\n",
                   kx, ky + 11, kx + 18, ky + 11, kx + 22, ky + 14);
    } else {
        svg_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#777\" text-anchor=\"middle\">"
                       "(no train.csv)</text>\n",
                   ps[0].x + ps[0].w / 2, ps[0].y + ps[0].h / 2);
    }
    for (int i = 0; i < 4; i++) curve_panel(&b, &ps[i + 1], &t, v[i], titles[i], ylabels[i], xmax);
    svg_layer_legend(&b, ps[5].x + 10, ps[5].y + 10, t.num_layers, "hidden state");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    for (int i = 0; i < 4; i++) free(v[i]);
    free(tstep);
    free(tloss);
    free(vloss);
    free(tg);
    csv_free(&tc);
    probe_table_free(&t);
    return rc;
}

int probe_plot_preference(const char* probes_csv, const char* dpo_csv, const char* svg_out, char* err,
                          size_t errlen) {
    ProbeTable t;
    if (probe_table_read(&t, probes_csv, err, errlen) != 0) return -1;
    Csv dc = {0};
    double *ip = NULL, *ds = NULL, *mg = NULL, *rcx = NULL, *rrj = NULL, *masked = NULL;
    int rc = -1;
    if (!(ip = csv_column(&t.csv, "I_pref", err, errlen))) goto done;
    if (csv_read(&dc, dpo_csv, err, errlen) != 0 || !(ds = csv_column(&dc, "step", err, errlen)) ||
        !(mg = csv_column(&dc, "margin", err, errlen)) || !(rcx = csv_column(&dc, "rewards_chosen", err, errlen)) ||
        !(rrj = csv_column(&dc, "rewards_rejected", err, errlen)))
        goto done;
    // I_pref of DPO rows only, against the DPO step
    masked = malloc_check(t.n * sizeof(double));
    size_t have = 0;
    for (size_t r = 0; r < t.n; r++) {
        masked[r] = t.dpo[r] ? ip[r] : NAN;
        have += isfinite(masked[r]);
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
    Panel a = {.x = 72, .y = 64, .w = 300, .h = 260};
    Panel m = {.x = 580, .y = 64, .w = 300, .h = 260};
    panel_fit(&a, t.step, masked, t.n, 0.0, 0.08);
    double smax = 0.0;
    for (size_t r = 0; r < t.n; r++)
        if (t.dpo[r]) smax = fmax(smax, t.step[r]);
    for (size_t r = 0; r < dc.nrows; r++)
        if (isfinite(ds[r])) smax = fmax(smax, ds[r]);
    panel_set_x(&a, 0.0, smax);
    panel_axes(&b, &a, "I(preference; Z) per layer", "DPO step", "I_pref / ln n_bins");
    size_t* idx = malloc_check((t.n > dc.nrows ? t.n : dc.nrows) * sizeof(size_t));
    for (int l = 0; l < t.num_layers; l++) {
        char col[8], attrs[160];
        svg_layer_colour(l, t.num_layers, col);
        size_t n = rows_of_layer(&t, l, 1, idx);
        snprintf(attrs, sizeof attrs, "class=\"layer-pref\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"", col);
        svg_path(&b, &a, t.step, masked, idx, n, attrs);
        for (size_t k = 0; k < n; k++)
            if (isfinite(masked[idx[k]])) svg_marker(&b, 0, panel_x(&a, t.step[idx[k]]), panel_y(&a, masked[idx[k]]), 2.2, col, "none", 1.0);
    }
    // reward panel: margin, and the chosen/rejected rewards it is the difference of
    double* ally = malloc_check(3 * dc.nrows * sizeof(double));
    double* allx = malloc_check(3 * dc.nrows * sizeof(double));
    for (size_t r = 0; r < dc.nrows; r++) {
        ally[r] = mg[r], ally[dc.nrows + r] = rcx[r], ally[2 * dc.nrows + r] = rrj[r];
        allx[r] = allx[dc.nrows + r] = allx[2 * dc.nrows + r] = ds[r];
    }
    panel_fit(&m, allx, ally, 3 * dc.nrows, 0.0, 0.08);
    panel_set_x(&m, 0.0, smax);
    free(ally);
    free(allx);
    panel_axes(&b, &m, "Rewards (β · log-ratio to reference)", "DPO step", "reward (nats)");
    if (m.y0 < 0 && m.y1 > 0)
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", m.x, panel_y(&m, 0),
                   m.x + m.w, panel_y(&m, 0));
    for (size_t r = 0; r < dc.nrows; r++) idx[r] = r;
    svg_path(&b, &m, ds, rcx, idx, dc.nrows, "class=\"chosen\" fill=\"none\" stroke=\"#009E73\" stroke-width=\"1.2\"");
    svg_path(&b, &m, ds, rrj, idx, dc.nrows, "class=\"rejected\" fill=\"none\" stroke=\"#CC79A7\" stroke-width=\"1.2\"");
    svg_path(&b, &m, ds, mg, idx, dc.nrows, "class=\"margin\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"");
    free(idx);
    double kx = m.x + m.w + 22, ky = m.y + 6;
    svg_printf(&b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    static const char* kc[3] = {"#000", "#009E73", "#CC79A7"};
    static const char* kt[3] = {"margin", "chosen", "rejected"};
    static const double kw[3] = {2, 1.2, 1.2};
    for (int i = 0; i < 3; i++)
        svg_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                   kx, ky + 17 * i - 4, kx + 22, ky + 17 * i - 4, kc[i], kw[i], kx + 28, ky + 17 * i, kt[i]);
    svg_printf(&b, "</g>\n");
    svg_layer_legend(&b, a.x + a.w + 18, a.y + 6, t.num_layers, "hidden state");
    rc = svg_end(&b, svg_out, err, errlen);
done:
    free(ip);
    free(ds);
    free(mg);
    free(rcx);
    free(rrj);
    free(masked);
    csv_free(&dc);
    probe_table_free(&t);
    return rc;
}

// The run folder's figures: DIR/info_plane.svg and DIR/probes.svg from DIR/probes.csv (with
// DIR/train.csv when present), and DIR/preference.svg when DIR/dpo.csv exists.
int probe_plots_write(const char* dir, const char* bound_csv, char* err, size_t errlen) {
    char pc[4096], tc[4096], dc[4096], out[4096];
    struct stat st;
    snprintf(pc, sizeof pc, "%s/probes.csv", dir);
    snprintf(tc, sizeof tc, "%s/train.csv", dir);
    snprintf(dc, sizeof dc, "%s/dpo.csv", dir);
    snprintf(out, sizeof out, "%s/info_plane.svg", dir);
    if (probe_plot_info_plane(pc, out, bound_csv, err, errlen) != 0) return -1;
    snprintf(out, sizeof out, "%s/probes.svg", dir);
    if (probe_plot_curves(pc, stat(tc, &st) == 0 ? tc : NULL, out, err, errlen) != 0) return -1;
    if (stat(dc, &st) != 0) return 0;
    snprintf(out, sizeof out, "%s/preference.svg", dir);
    return probe_plot_preference(pc, dc, out, err, errlen);
}

