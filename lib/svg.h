// lib/svg.h: a small SVG toolkit for the figures (no dependencies): a growing string buffer written
// atomically, panels with data ranges, "nice" ticks and axes, polylines, markers, and the layer
// palette shared by every figure (and by the run page's colours).
#ifndef SVG_H
#define SVG_H

#include <stddef.h>

#include "util.h"

typedef struct {
    char* s;
    size_t n, cap;
} Svg;

void svg_printf(Svg* b, const char* fmt, ...) PRINTF_LIKE(2, 3);
// Starts a w x h document with a white background; svg_end writes it to path atomically (0, or
// -1 with err filled) and frees the buffer either way.
void svg_begin(Svg* b, int w, int h);
int svg_end(Svg* b, const char* path, char* err, size_t errlen);

// Colour "#RRGGBB" of layer l of L: Okabe-Ito up to 7 layers, a viridis ramp beyond.
void svg_layer_colour(int l, int L, char out[8]);

// A plot area in pixels (x, y, w, h) showing data [x0, x1] x [y0, y1] with tick steps dx, dy.
typedef struct {
    double x, y, w, h;
    double x0, x1, y0, y1;
    double dx, dy;
} Panel;

// Pixel coordinates of data values.
double panel_x(const Panel* p, double v);
double panel_y(const Panel* p, double v);
// Frame, grid, ticks, labels and title of a panel.
void panel_axes(Svg* b, const Panel* p, const char* title, const char* xlabel, const char* ylabel);
// Ranges from the finite values of xs/ys (n each), padded by the given fractions, with nice ticks.
void panel_fit(Panel* p, const double* xs, const double* ys, size_t n, double xpad, double ypad);
// A step axis over exactly [lo, hi].
void panel_set_x(Panel* p, double lo, double hi);
// A polyline through rows idx[0..n) of xs/ys, broken at NAN values; attrs go into the element.
void svg_path(Svg* b, const Panel* p, const double* xs, const double* ys, const size_t* idx, size_t n,
              const char* attrs);
// Marker at pixel (x, y): kind 0 circle, 1 square, 2 diamond, 3 triangle, 4 star.
void svg_marker(Svg* b, int kind, double x, double y, double r, const char* fill, const char* stroke,
                double opacity);
// Legend of L layers in a column from (x, y).
void svg_layer_legend(Svg* b, double x, double y, int L, const char* title);

#endif // SVG_H
