"""Minimal SVG figures for dev/experiments/summarize.py: panels of lines, points, error bars and bands.

No plotting library is needed (Debian's python3 here has numpy and scipy but no matplotlib). A
figure is a grid of panels; each panel holds series, each series x, y and optionally yerr (drawn
as error bars for points, as a band for lines). Render to PNG with rsvg-convert to look at one.
"""
import math
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def nice_ticks(lo, hi, n=5):
    """About n round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 0.5:
        ticks.append(round(t, 12))
        t += step
    return ticks


def fmt(v):
    return ("%.4g" % v) if abs(v) >= 1e-3 or v == 0 else ("%.1e" % v)


class Panel:
    def __init__(self, title, xlabel, ylabel, xticks=None):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xticks = xticks  # [(x, label)] for categorical axes, else automatic
        self.series = []
        self.diagonal = False

    def add(self, label, x, y, yerr=None, style="line", color=None, dashed=False, hollow=False):
        """style: 'line' (band from yerr), 'points' (error bars), 'linepoints' (both marks, error bars)."""
        pts = [(a, b, (e if e is not None and math.isfinite(e) else 0.0) if yerr is not None else 0.0)
               for a, b, e in zip(x, y, yerr if yerr is not None else [None] * len(x))
               if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
        self.series.append(dict(label=label, pts=pts, style=style, dashed=dashed, hollow=hollow,
                                color=color or COLORS[len(self.series) % len(COLORS)]))

    def bounds(self):
        xs = [p[0] for s in self.series for p in s["pts"]]
        ys = [v for s in self.series for p in s["pts"] for v in (p[1] - p[2], p[1] + p[2])]
        if self.xticks:
            xs += [t[0] for t in self.xticks]
        if not xs:
            return 0, 1, 0, 1
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if self.diagonal:
            lo, hi = min(x0, y0), max(x1, y1)
            x0, x1, y0, y1 = lo, hi, lo, hi
        px, py = (x1 - x0) * 0.06 or 0.5, (y1 - y0) * 0.08 or abs(y0) * 0.05 or 0.01
        return x0 - px, x1 + px, y0 - py, y1 + py


def render(path, title, panels, cols=2, w=540, h=300, legend_w=0):
    """Writes panels (a list of Panel) on a grid of cols columns to path as SVG."""
    rows = (len(panels) + cols - 1) // cols
    W, H = cols * w + legend_w, rows * h + 40
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14" text-anchor="middle">%s</text>' % (W // 2, escape(title))]
    for i, p in enumerate(panels):
        ox, oy = (i % cols) * w, 40 + (i // cols) * h
        out += panel_svg(p, ox, oy, w, h)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def panel_svg(p, ox, oy, w, h):
    L, R, T, B = 62, 118, 22, 42  # the legend sits in the right margin, clear of the data
    x0, x1, y0, y1 = p.bounds()
    pw, ph = w - L - R, h - T - B
    X = lambda v: ox + L + (v - x0) / (x1 - x0) * pw
    Y = lambda v: oy + T + (1 - (v - y0) / (y1 - y0)) * ph
    o = ['<text x="%g" y="%g" font-size="12" text-anchor="middle">%s</text>' % (ox + L + pw / 2, oy + 14, escape(p.title)),
         '<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#444"/>' % (ox + L, oy + T, pw, ph)]
    yt = [t for t in nice_ticks(y0, y1) if y0 <= t <= y1]
    for t in yt:
        o.append('<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#ddd"/>' % (ox + L, ox + L + pw, Y(t), Y(t)))
        o.append('<text x="%g" y="%g" text-anchor="end">%s</text>' % (ox + L - 4, Y(t) + 4, fmt(t)))
    xt = p.xticks or [(t, fmt(t)) for t in nice_ticks(x0, x1) if x0 <= t <= x1]
    for t, lab in xt:
        o.append('<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#ddd"/>' % (X(t), X(t), oy + T, oy + T + ph))
        o.append('<text x="%g" y="%g" text-anchor="middle">%s</text>' % (X(t), oy + T + ph + 14, escape(lab)))
    o.append('<text x="%g" y="%g" text-anchor="middle">%s</text>' % (ox + L + pw / 2, oy + h - 8, escape(p.xlabel)))
    o.append('<text transform="translate(%g,%g) rotate(-90)" text-anchor="middle">%s</text>'
             % (ox + 14, oy + T + ph / 2, escape(p.ylabel)))
    if p.diagonal:
        lo, hi = max(x0, y0), min(x1, y1)
        o.append('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999" stroke-dasharray="4,3"/>' % (X(lo), Y(lo), X(hi), Y(hi)))
    for k, s in enumerate(p.series):
        c, dash = s["color"], ' stroke-dasharray="5,3"' if s["dashed"] else ""
        pts = sorted(s["pts"]) if s["style"] == "line" else s["pts"]
        if s["style"] == "line" and any(e > 0 for _, _, e in pts):
            band = [(X(a), Y(b + e)) for a, b, e in pts] + [(X(a), Y(b - e)) for a, b, e in reversed(pts)]
            o.append('<polygon points="%s" fill="%s" fill-opacity="0.18" stroke="none"/>'
                     % (" ".join("%.1f,%.1f" % q for q in band), c))
        if s["style"] in ("line", "linepoints") and len(pts) > 1:
            o.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>'
                     % (" ".join("%.1f,%.1f" % (X(a), Y(b)) for a, b, _ in pts), c, dash))
        if s["style"] in ("points", "linepoints"):
            for a, b, e in pts:
                if e > 0:
                    o.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>' % (X(a), X(a), Y(b - e), Y(b + e), c))
                    for yy in (b - e, b + e):
                        o.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>' % (X(a) - 3, X(a) + 3, Y(yy), Y(yy), c))
                o.append('<circle cx="%.1f" cy="%.1f" r="3.2" fill="%s" stroke="%s"/>'
                         % (X(a), Y(b), "white" if s["hollow"] else c, c))
        ly, lx = oy + T + 8 + 13 * k, ox + L + pw + 6
        o.append('<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="%s" stroke-width="2"%s/>'
                 % (lx, lx + 14, ly - 4, ly - 4, c, dash))
        o.append('<text x="%g" y="%g" font-size="10">%s</text>' % (lx + 18, ly, escape(s["label"])))
    return o
