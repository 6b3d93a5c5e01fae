// lib/svg.c: the SVG toolkit of svg.h.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

void svg_printf(Svg* b, const char* fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * b->cap + (size_t)(k > 0 ? k : 0) + 4096;
        b->s = realloc_check(b->s, b->cap);
    }
}

void svg_begin(Svg* b, int w, int h) {
    b->cap = 1 << 16;
    b->n = 0;
    b->s = malloc_check(b->cap);
    b->s[0] = '\0';
    svg_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"Helvetica, Arial, sans-serif\">\n"
               "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
               w, h, w, h, w, h);
}

// Closes the document and writes it atomically; frees the builder.
int svg_end(Svg* b, const char* path, char* err, size_t errlen) {
    svg_printf(b, "</svg>\n");
    AtomicFile af;
    int rc = -1;
    if (atomic_open(&af, path, err, errlen) == 0) {
        if (fwrite(b->s, 1, b->n, af.f) != b->n) {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            atomic_abort(&af);
        } else {
            rc = atomic_commit(&af, err, errlen);
        }
    }
    free(b->s);
    b->s = NULL;
    return rc;
}

// Layer colours: Okabe-Ito (colour-blind safe, no yellow) for up to 7 layers; beyond that a
// viridis ramp (perceptually ordered, also colour-blind safe), dark = shallow, light = deep.
void svg_layer_colour(int l, int L, char out[8]) {
    static const char* okabe[7] = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7"};
    if (L <= 7) {
        snprintf(out, 8, "%s", okabe[l % 7]);
        return;
    }
    static const double vir[6][3] = {{68, 1, 84}, {65, 68, 135}, {42, 120, 142},
                                     {34, 168, 132}, {122, 209, 81}, {210, 200, 30}};
    double x = L > 1 ? (double)l / (L - 1) * 5.0 : 0.0;
    int i = (int)x;
    if (i >= 5) i = 4;
    double f = x - i;
    int rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = (int)lround(vir[i][k] * (1 - f) + vir[i + 1][k] * f);
    snprintf(out, 8, "#%02X%02X%02X", rgb[0] & 255, rgb[1] & 255, rgb[2] & 255);
}


double panel_x(const Panel* p, double v) { return p->x + (v - p->x0) / (p->x1 - p->x0) * p->w; }
double panel_y(const Panel* p, double v) { return p->y + p->h - (v - p->y0) / (p->y1 - p->y0) * p->h; }

// A "nice" step (1, 2 or 5 times a power of ten) giving about `target` intervals over span.
static double nice_step(double span, int target) {
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

// Range [lo, hi] of the finite values (NAN when none), grown by frac of the span on each side,
// then snapped outwards to multiples of a nice step.
static void nice_range(double lo, double hi, double frac, int target, double* a, double* b, double* step) {
    if (!isfinite(lo) || !isfinite(hi)) lo = 0.0, hi = 1.0;
    if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi - lo < 1e-12) {
        double m = fabs(lo) > 0 ? 0.1 * fabs(lo) : 0.5;
        lo -= m, hi += m;
    }
    double pad = (hi - lo) * frac;
    lo -= pad, hi += pad;
    *step = nice_step(hi - lo, target);
    *a = floor(lo / *step + 1e-9) * *step;
    *b = ceil(hi / *step - 1e-9) * *step;
}

static void fmt_tick(char* buf, size_t len, double v, double step) {
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0.0; // no "-0.00"
    if (step >= 1.0 && fabs(v) >= 10000.0 && fmod(v, 1000.0) == 0.0) snprintf(buf, len, "%.0fk", v / 1000.0);
    else snprintf(buf, len, "%.*f", dec, v);
}

// Grid, frame, tick labels, axis labels and title of a panel.
void panel_axes(Svg* b, const Panel* p, const char* title, const char* xlabel, const char* ylabel) {
    char t[64];
    svg_printf(b, "<g class=\"axes\" font-size=\"11\" fill=\"#333\">\n");
    for (double v = ceil(p->x0 / p->dx - 1e-9) * p->dx; v <= p->x1 + p->dx * 1e-6; v += p->dx) {
        double x = panel_x(p, v);
        fmt_tick(t, sizeof t, v, p->dx);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", x, p->y, x,
                   p->y + p->h);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x, p->y + p->h, x,
                   p->y + p->h + 4);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, p->y + p->h + 16, t);
    }
    // Tiny values (I_pref is often ~1e-4) would need long tick labels that run into the axis
    // label: show them scaled by a power of ten instead and say so in the label.
    double ymax = fmax(fabs(p->y0), fabs(p->y1)), yscale = 1.0;
    int yexp = 0;
    if (p->dy < 1e-3 && ymax > 0.0) {
        yexp = (int)floor(log10(ymax));
        yscale = pow(10.0, -yexp);
    }
    for (double v = ceil(p->y0 / p->dy - 1e-9) * p->dy; v <= p->y1 + p->dy * 1e-6; v += p->dy) {
        double y = panel_y(p, v);
        fmt_tick(t, sizeof t, v * yscale, p->dy * yscale);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", p->x, y,
                   p->x + p->w, y);
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", p->x - 4, y, p->x,
                   y);
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->x - 7, y + 4, t);
    }
    svg_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
               p->x, p->y, p->w, p->h);
    if (xlabel)
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
                   p->x + p->w / 2, p->y + p->h + 34, xlabel);
    if (ylabel)
        svg_printf(b,
                   "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
                   "font-size=\"12\">%s</text>\n",
                   p->x - 52, p->y + p->h / 2, ylabel);
    if (ylabel && yexp != 0)
        svg_printf(b,
                   "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" "
                   "font-size=\"11\">(&#215; 1e%d)</text>\n",
                   p->x - 38, p->y + p->h / 2, yexp);
    if (title)
        svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", p->x,
                   p->y - 8, title);
    svg_printf(b, "</g>\n");
}

// Sets a panel's ranges from the finite values of xs/ys (n each) and picks tick steps.
void panel_fit(Panel* p, const double* xs, const double* ys, size_t n, double xpad, double ypad) {
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) continue;
        xl = fmin(xl, xs[i]), xh = fmax(xh, xs[i]);
        yl = fmin(yl, ys[i]), yh = fmax(yh, ys[i]);
    }
    if (xl > xh) xl = xh = NAN;
    if (yl > yh) yl = yh = NAN;
    int xt = p->w > 300 ? 6 : 4, yt = p->h > 250 ? 6 : 4;
    nice_range(xl, xh, xpad, xt, &p->x0, &p->x1, &p->dx);
    nice_range(yl, yh, ypad, yt, &p->y0, &p->y1, &p->dy);
}

// A step axis runs exactly over [lo, hi] (no padding: training starts at 0 and ends at the last
// step), with nice ticks inside.
void panel_set_x(Panel* p, double lo, double hi) {
    if (!(hi > lo)) hi = lo + 1.0;
    p->x0 = lo, p->x1 = hi;
    p->dx = fmax(1.0, nice_step(hi - lo, p->w > 300 ? 6 : 4)); // steps are integers
}

// A polyline through the finite points of rows idx[0..n) (xs/ys indexed by row); gaps at NAN.
void svg_path(Svg* b, const Panel* p, const double* xs, const double* ys, const size_t* idx, size_t n,
                  const char* attrs) {
    svg_printf(b, "<path %s d=\"", attrs);
    int pen = 0;
    for (size_t k = 0; k < n; k++) {
        double x = xs[idx[k]], y = ys[idx[k]];
        if (!isfinite(x) || !isfinite(y)) {
            pen = 0;
            continue;
        }
        svg_printf(b, "%s%.2f %.2f", pen ? " L" : (k ? " M" : "M"), panel_x(p, x), panel_y(p, y));
        pen = 1;
    }
    svg_printf(b, "\"/>\n");
}

void svg_marker(Svg* b, int kind, double x, double y, double r, const char* fill, const char* stroke,
                double opacity) {
    if (kind == 0) // circle
        svg_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\" fill-opacity=\"%.2f\"/>\n",
                   x, y, r, fill, stroke, opacity);
    else if (kind == 1) // square
        svg_printf(b,
                   "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"%s\" "
                   "fill-opacity=\"%.2f\"/>\n",
                   x - r, y - r, 2 * r, 2 * r, fill, stroke, opacity);
    else if (kind == 3) // triangle
        svg_printf(b,
                   "<path d=\"M%.2f %.2f L%.2f %.2f L%.2f %.2f Z\" fill=\"%s\" stroke=\"%s\" fill-opacity=\"%.2f\"/>\n",
                   x, y - r * 1.3, x + r * 1.15, y + r * 0.75, x - r * 1.15, y + r * 0.75, fill, stroke, opacity);
    else if (kind == 4) { // five-pointed star
        svg_printf(b, "<path d=\"");
        for (int k = 0; k < 10; k++) {
            double a = -M_PI / 2 + k * M_PI / 5, rr = k % 2 ? r * 0.45 : r;
            svg_printf(b, "%s%.2f %.2f", k ? " L" : "M", x + rr * cos(a), y + rr * sin(a));
        }
        svg_printf(b, " Z\" fill=\"%s\" stroke=\"%s\" fill-opacity=\"%.2f\"/>\n", fill, stroke, opacity);
    } else // diamond
        svg_printf(b,
                   "<path d=\"M%.2f %.2f L%.2f %.2f L%.2f %.2f L%.2f %.2f Z\" fill=\"%s\" stroke=\"%s\" "
                   "fill-opacity=\"%.2f\"/>\n",
                   x, y - r * 1.3, x + r * 1.3, y, x, y + r * 1.3, x - r * 1.3, y, fill, stroke, opacity);
}

// Legend of layers in a column starting at (x, y).
void svg_layer_legend(Svg* b, double x, double y, int L, const char* title) {
    svg_printf(b, "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n");
    svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">%s</text>\n", x, y, title);
    for (int l = 0; l < L; l++) {
        char col[8];
        svg_layer_colour(l, L, col);
        double yy = y + 18 + 17 * l;
        svg_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n",
                   x, yy - 4, x + 22, yy - 4, col);
        if (l == 0) svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">0 (embeddings)</text>\n", x + 28, yy);
        else if (l == L - 1 && L > 2) svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%d (final, ln_f)</text>\n", x + 28, yy, l);
        else svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%d</text>\n", x + 28, yy, l);
    }
    svg_printf(b, "</g>\n");
}

