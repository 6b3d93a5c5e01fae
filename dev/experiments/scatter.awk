# scatter.awk: a small SVG scatter plot (no dependencies) for the experiment summaries.
#
#   awk -F, -v title=T -v xlabel=X -v ylabel=Y [-v bound=CURVE.csv] [-v lines=1] -f scatter.awk DATA.csv > OUT.svg
#
# DATA.csv: a header line, then rows "x,y,group[,label]"; points of one group share a colour (and
# are joined in file order when lines=1); label, when present, is written beside the point.
# bound: an optional CSV (header, then x,y,...) drawn as a dashed grey curve (the IB bound).
function px(v) { return X0 + (v - xmin) / (xmax - xmin) * W }
function py(v) { return Y0 + H - (v - ymin) / (ymax - ymin) * H }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function nice_step(range,   e, f) {
    e = 10 ^ int(log(range / 5) / log(10) - (range / 5 < 1 ? 1 : 0))
    f = range / 5 / e
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * e
}
BEGIN {
    split("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf", PAL, " ")
    X0 = 80; Y0 = 50; W = 520; H = 400
    xmin = 1e300; xmax = -1e300; ymin = 1e300; ymax = -1e300
    nb = 0
    if (bound != "") {
        hdr = 1
        while ((getline line < bound) > 0) {
            if (hdr) { hdr = 0; continue }
            split(line, f, ",")
            nb++; bx[nb] = f[1] + 0; by[nb] = f[2] + 0
        }
        close(bound)
    }
}
NR == 1 { next }
$1 != "" && $2 != "" {
    n++; x[n] = $1 + 0; y[n] = $2 + 0; g[n] = $3; lab[n] = $4
    if (!(g[n] in gi)) { ng++; gi[g[n]] = ng; gname[ng] = g[n] }
    if (x[n] < xmin) xmin = x[n]; if (x[n] > xmax) xmax = x[n]
    if (y[n] < ymin) ymin = y[n]; if (y[n] > ymax) ymax = y[n]
}
END {
    if (n == 0) { print "scatter.awk: no data rows" > "/dev/stderr"; exit 1 }
    if (xmax == xmin) { xmin -= 0.5; xmax += 0.5 }
    if (ymax == ymin) { ymin -= 0.5; ymax += 0.5 }
    dx = (xmax - xmin) * 0.08; dy = (ymax - ymin) * 0.08
    xmin -= dx; xmax += dx; ymin -= dy; ymax += dy
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", X0 + W + 170, Y0 + H + 60
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    printf "<text x=\"%d\" y=\"28\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", X0, esc(title)
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", X0, Y0, W, H
    s = nice_step(xmax - xmin)
    for (v = s * int(xmin / s); v <= xmax; v += s) if (v >= xmin) {
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", px(v), Y0, px(v), Y0 + H
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px(v), Y0 + H + 16, v
    }
    s = nice_step(ymax - ymin)
    for (v = s * int(ymin / s); v <= ymax; v += s) if (v >= ymin) {
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", X0, py(v), X0 + W, py(v)
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", X0 - 6, py(v) + 4, v
    }
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", X0 + W / 2, Y0 + H + 40, esc(xlabel)
    printf "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", X0 - 52, Y0 + H / 2, esc(ylabel)
    printf "<defs><clipPath id=\"c\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath></defs>\n<g clip-path=\"url(#c)\">\n", X0, Y0, W, H
    if (nb > 1) {
        printf "<path class=\"bound\" fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\" d=\""
        for (i = 1; i <= nb; i++) printf "%s%.1f,%.1f ", (i == 1 ? "M" : "L"), px(bx[i]), py(by[i])
        printf "\"/>\n"
    }
    for (k = 1; k <= ng; k++) {
        col = PAL[(k - 1) % 10 + 1]
        if (lines) {
            d = ""
            for (i = 1; i <= n; i++) if (gi[g[i]] == k) d = d sprintf("%s%.1f,%.1f ", (d == "" ? "M" : "L"), px(x[i]), py(y[i]))
            printf "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.4\" stroke-opacity=\"0.7\" d=\"%s\"/>\n", col, d
        }
        for (i = 1; i <= n; i++) if (gi[g[i]] == k) {
            printf "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", px(x[i]), py(y[i]), col
            if (lab[i] != "") printf "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\">%s</text>\n", px(x[i]) + 5, py(y[i]) - 4, col, esc(lab[i])
        }
    }
    printf "</g>\n"
    for (k = 1; k <= ng; k++) {
        ly = Y0 + 10 + 18 * (k - 1)
        printf "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", X0 + W + 20, ly, PAL[(k - 1) % 10 + 1], X0 + W + 30, ly + 4, esc(gname[k])
    }
    if (nb > 1) {
        ly = Y0 + 10 + 18 * ng
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/><text x=\"%d\" y=\"%d\">IB bound</text>\n", X0 + W + 12, ly, X0 + W + 28, ly, X0 + W + 30, ly + 4
    }
    printf "</svg>\n"
}
