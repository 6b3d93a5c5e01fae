#!/usr/bin/python3
"""Summaries of dev/experiments/run.sh: CSVs with spreads and SVG figures with error bars.

usage: /usr/bin/python3 dev/experiments/summarize.py --runs runs/experiments [--suffix -short] --out docs/results

Reads every finished run (a folder beside its .wall file) under RUNS/scale, RUNS/shakespeare,
RUNS/long and RUNS/hh (with the suffix), each probes.csv by column name (README "Reading the logs"). Every
aggregate is over training seeds: mean, sd (ddof 1; empty for one seed) and n. draw_sd is the
mean over those runs of the probe's own spread over its reference draws (the *_sd columns).
Writes only the files whose runs exist; a summary with no runs behind it is not written.
"""
import argparse
import csv
import glob
import json
import struct
import math
import os
import re
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svgplot  # noqa: E402

QUANTS = ["H", "I_in1", "I_in2", "I_in3", "I_in4", "I_out1", "I_out2", "I_out3", "I_out4", "I_ctx", "optimality"]
NULLS = {q: q + "_null" for q in QUANTS if q.startswith("I_in") or q.startswith("I_out")}
DEPTH = ["L1C64", "L2C64", "L4C64", "L8C64"]
WIDTH = ["L2C32", "L2C64", "L2C128"]


def num(s):
    try:
        v = float(s)
        return v if math.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def agg(vals):
    """(mean, sd, n) of the finite values; sd is None below two values."""
    v = [x for x in vals if x is not None]
    if not v:
        return None, None, 0
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else None), len(v)


def cell(v, digits=6):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.*g" % (digits, v)
    return str(v)


def write_csv(path, header, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([cell(x) for x in r])
    os.replace(tmp, path)
    print("wrote %s (%d rows)" % (path, len(rows)))


# ---------------------------------------------------------------- reading one run

class Run:
    """One finished ./train run folder: its probes by (stage, set, step, layer), val losses, log facts."""

    def __init__(self, d):
        self.dir, self.name = d, os.path.basename(d)
        m = re.match(r"(?:(scale|shakespeare)-)?(L(\d+)C(\d+))-s(\d+)$", self.name)
        if not m:
            raise ValueError("%s: run name is not SIZE-sSEED" % d)
        self.source, self.size, self.L, self.C, self.seed = m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5))
        self.wall = num(open(d + ".wall").read().strip())
        self.rows = {}
        with open(os.path.join(d, "probes.csv"), newline="") as f:
            for r in csv.DictReader(f):
                self.rows[(r["stage"], r["set"], int(r["step"]), r["layer"])] = r
        self.val = {}
        tc = os.path.join(d, "train.csv")
        if os.path.exists(tc):
            with open(tc, newline="") as f:
                for r in csv.DictReader(f):
                    if r["stage"] == "pretrain" and num(r["val_loss"]) is not None:
                        self.val[int(r["step"])] = num(r["val_loss"])
        # K, the draws of the reference points: W is (K, n_bins, C) in the safetensors header
        with open(os.path.join(d, "probe_bins.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            self.draws = json.loads(f.read(n))["W"]["shape"][0]
        log = open(d + ".log", errors="replace").read()
        m = re.search(r"([0-9.]+)M parameters", log)
        self.params = num(m.group(1)) if m else None
        m = re.search(r"dpo done\s+val accuracy ([0-9.]+), val reward margin ([-+0-9.]+)", log)
        self.val_acc, self.val_margin = (num(m.group(1)), num(m.group(2))) if m else (None, None)
        m = re.search(r"positive continuations: ([0-9.]+)% before DPO -> ([0-9.]+)% after", log)
        self.pos_before, self.pos_after = (num(m.group(1)) / 100, num(m.group(2)) / 100) if m else (None, None)

    def last_layer(self):
        return str(self.L)

    def steps(self, stage, set_):
        return sorted({k[2] for k in self.rows if k[0] == stage and k[1] == set_})

    def row(self, stage, set_, step, layer):
        if layer == "last":
            layer = self.last_layer()
        return self.rows.get((stage, set_, step, layer))

    def final(self, stage, layer):
        """The final set's row at the end of the stage (the trajectory's last row when no final set)."""
        for s in ("final", "trajectory"):
            st = self.steps(stage, s)
            if st:
                return self.row(stage, s, st[-1], layer)
        return None

    def final_val(self):
        return self.val[max(self.val)] if self.val else None


def load_runs(root, suffix, what):
    runs = []
    for wall in sorted(glob.glob(os.path.join(root, what + suffix, "*.wall"))):
        d = wall[:-5]
        if os.path.exists(os.path.join(d, "probes.csv")):
            runs.append(Run(d))
    return runs


def order(sizes):
    known = DEPTH + [w for w in WIDTH if w not in DEPTH]
    return sorted(sizes, key=lambda s: (known.index(s) if s in known else 99, s))


def by_size(runs):
    out = {}
    for r in runs:
        out.setdefault(r.size, []).append(r)
    return {s: out[s] for s in order(out)}


def get(row, q):
    return num(row[q]) if row is not None and q in row else None


# ---------------------------------------------------------------- scale (and its per-run table)

def scale_tables(data, runs):
    """Per run and per size: val loss and every probe quantity of the final set, layer mean and last layer."""
    per_run, summ = [], []
    for size, rs in by_size(runs).items():
        for layer in ("mean", "last"):
            for q in ["val_loss", "wall_s"] + QUANTS:
                vals, draws, nulls = [], [], []
                for r in rs:
                    row = r.final("pretrain", layer)
                    if q == "val_loss":
                        v, dsd, nl = r.final_val(), None, None
                    elif q == "wall_s":
                        v, dsd, nl = r.wall, None, None
                    else:
                        v, dsd, nl = get(row, q), get(row, q + "_sd"), get(row, NULLS.get(q, ""))
                    if q in ("val_loss", "wall_s") and layer == "last":
                        continue
                    vals.append(v), draws.append(dsd), nulls.append(nl)
                    per_run.append([data, r.name, size, r.L, r.C, r.params, r.seed, layer if q not in ("val_loss", "wall_s") else "",
                                    q, v, dsd, nl])
                if not vals:
                    continue
                m, sd, n = agg(vals)
                summ.append([data, size, rs[0].L, rs[0].C, rs[0].params, layer if q not in ("val_loss", "wall_s") else "", q,
                             m, sd, n, agg(draws)[0], agg(nulls)[0]])
    return per_run, summ


def welch(a, b):
    a, b = [x for x in a if x is not None], [x for x in b if x is not None]
    if len(a) < 2 or len(b) < 2:
        return None, None, None
    d = float(np.mean(b) - np.mean(a))
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    p = float(stats.ttest_ind(b, a, equal_var=False).pvalue) if se > 0 else None
    return d, se, p


def corr(x, y):
    """n, Pearson r, its p, Spearman rho, its p over the pairs where both are finite."""
    pts = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    n = len(pts)
    if n < 3 or len({a for a, _ in pts}) < 2 or len({b for _, b in pts}) < 2:
        return [n, None, None, None, None]
    a, b = np.array(pts).T
    pr, sr = stats.pearsonr(a, b), stats.spearmanr(a, b)
    return [n, float(pr[0]), float(pr[1]), float(sr[0]), float(sr[1])]


def scale_order(data, runs):
    """Neighbouring sizes of each ladder: difference of the seed means, its standard error, Welch's p;
    and the trend over the whole ladder (every run a point; x = L or C)."""
    rows = []
    sizes = by_size(runs)
    for ladder, names, key in (("depth_C64", DEPTH, "L"), ("width_L2", WIDTH, "C")):
        present = [s for s in names if s in sizes]
        if len(present) < 2:
            continue
        for layer in ("mean", "last"):
            for q in ("val_loss", "I_in1", "I_out1", "optimality", "I_ctx", "H"):
                def vals(s):
                    return [r.final_val() if q == "val_loss" else get(r.final("pretrain", layer), q) for r in sizes[s]]
                if q == "val_loss" and layer == "last":
                    continue
                lay = "" if q == "val_loss" else layer
                def draw_var(s):
                    # variance of a K-draw mean from the draws' own spread (0 for val loss)
                    if q == "val_loss":
                        return 0.0
                    v = [get(r.final("pretrain", layer), q + "_sd") for r in sizes[s]]
                    v = [x for x in v if x is not None]
                    return float(np.mean(v)) ** 2 / sizes[s][0].draws if v else 0.0
                for a, b in zip(present, present[1:]):
                    d, se, p = welch(vals(a), vals(b))
                    sep = None if se is None else ("yes" if abs(d) > 2 * se else "no")
                    # the reference points are drawn from seed 0 in every run, so their draw error is
                    # shared by the seeds of a size and not in se; added here as if independent per size
                    se2 = None if se is None else math.sqrt(se ** 2 + draw_var(a) + draw_var(b))
                    sep2 = None if se2 is None else ("yes" if abs(d) > 2 * se2 else "no")
                    rows.append([data, ladder, lay, q, "%s->%s" % (a, b), len(vals(a)), len(vals(b)), d, se, p, sep,
                                 se2, sep2, None, None, None, None, None])
                xs = [getattr(r, key) for s in present for r in sizes[s]]
                ys = [v for s in present for v in vals(s)]
                rows.append([data, ladder, lay, q, "trend vs " + key] + [None] * 8 + corr(xs, ys))
    return rows


def quality_corr(data, runs):
    """Does a probe quantity predict the val loss? Across runs at the end of pre-training (one point per
    run), and along training (every trajectory probe step after step 0 of every run, pooled)."""
    rows = []
    for layer in ("mean", "last"):
        for q in ("optimality", "I_in1", "I_out1", "I_ctx", "H"):
            x = [get(r.final("pretrain", layer), q) for r in runs]
            rows.append([data, "end_of_training_across_runs", layer, q, "val_loss"] + corr(x, [r.final_val() for r in runs]))
            # the same within one width: is the relation more than the width step?
            for C in sorted({r.C for r in runs}):
                sub = [r for r in runs if r.C == C]
                if len({r.size for r in sub}) > 1:
                    rows.append([data, "end_of_training_C%d_only" % C, layer, q, "val_loss"] +
                                corr([get(r.final("pretrain", layer), q) for r in sub], [r.final_val() for r in sub]))
            xs, ys = [], []
            for r in runs:
                for st in r.steps("pretrain", "trajectory"):
                    if st > 0 and st in r.val:
                        xs.append(get(r.row("pretrain", "trajectory", st, layer), q)), ys.append(r.val[st])
            rows.append([data, "along_training_pooled_step_gt0", layer, q, "val_loss"] + corr(xs, ys))
    return rows


def scale_figure(data, summ, path):
    idx = {(r[1], r[5], r[6]): r for r in summ}
    panels = []
    for q, lab in (("val_loss", "val loss (nats/token)"), ("I_in1", "I(X;Z), X = input token"),
                   ("I_out1", "I(Y;Z), Y = next token"), ("optimality", "optimality I_out1/I_in1")):
        for ladder, names, key in (("depth at C=64", DEPTH, "L"), ("width at L=2", WIDTH, "C")):
            pres = [s for s in names if any(k[0] == s for k in idx)]
            if len(pres) < 2:  # a ladder of one size compares nothing
                continue
            xs = list(range(len(pres)))
            p = svgplot.Panel("%s, %s" % (q, ladder), ladder, lab, xticks=[(i, s) for i, s in zip(xs, pres)])
            for layer, dx in (("", 0), ("mean", -0.05), ("last", 0.05)):
                rs = [idx.get((s, layer, q)) for s in pres]
                if not any(rs):
                    continue
                p.add("layer mean" if layer == "mean" else "last layer" if layer == "last" else "val loss",
                      [x + dx for x, r in zip(xs, rs) if r], [r[7] for r in rs if r], [r[8] for r in rs if r],
                      style="linepoints")
            panels.append(p)
    if panels:
        seeds = min(r[9] for r in summ)
        svgplot.render(path, "Scale on %s: end of pre-training (final set), %s" % (
            data, "mean ± sd over training seeds" if seeds > 1 else "one training seed: no error bars"), panels)
        print("wrote %s" % path)


# ---------------------------------------------------------------- the back-off picture

def backoff(data, runs):
    rows = []
    for size, rs in by_size(runs).items():
        for layer in ("mean", "last"):
            for side in ("in", "out"):
                for n in (1, 2, 3, 4):
                    q = "I_%s%d" % (side, n)
                    v = [get(r.final("pretrain", layer), q) for r in rs]
                    nl = [get(r.final("pretrain", layer), q + "_null") for r in rs]
                    ex = [a - b if a is not None and b is not None else None for a, b in zip(v, nl)]
                    inc, inc_ex = [None] * len(rs), [None] * len(rs)
                    if n > 1:
                        qp = "I_%s%d" % (side, n - 1)
                        vp = [get(r.final("pretrain", layer), qp) for r in rs]
                        np_ = [get(r.final("pretrain", layer), qp + "_null") for r in rs]
                        inc = [a - b if a is not None and b is not None else None for a, b in zip(v, vp)]
                        inc_ex = [(a - b) - (c - d) if None not in (a, b, c, d) else None for a, b, c, d in zip(v, vp, nl, np_)]
                    m, sd, k = agg(v)
                    rows.append([data, size, layer, side, n, m, sd, k, agg(nl)[0], *agg(ex)[:2], *agg(inc)[:2], *agg(inc_ex)[:2],
                                 agg([get(r.final("pretrain", layer), "I_ctx") for r in rs])[0]])
    return rows


def backoff_figure(data, runs, rows, path):
    if not runs:
        return
    sizes = by_size(runs)
    big = list(sizes)[-1] if "L4C64" not in sizes else "L4C64"
    r = sorted(sizes[big], key=lambda x: x.seed)[0]
    layers = [str(l) for l in range(r.L + 1)] + ["mean"]
    p1 = svgplot.Panel("%s seed %d: (I_in n, I_out n), n = 1..4" % (big, r.seed), "I(X_n;Z), X_n = input n-gram",
                       "I(Y_n;Z), Y_n = next n-gram")
    p1.diagonal = True
    p2 = svgplot.Panel("the context plane: exact bound y = x", "I(C;Z), every position its own label", "I(Y;Z), Y = next token")
    p2.diagonal = True
    for k, l in enumerate(layers):
        row = r.final("pretrain", l)
        c = svgplot.COLORS[k % len(svgplot.COLORS)]
        p1.add("layer " + l, [get(row, "I_in%d" % n) for n in range(1, 5)], [get(row, "I_out%d" % n) for n in range(1, 5)],
               [get(row, "I_out%d_sd" % n) for n in range(1, 5)], style="linepoints", color=c)
        p1.add("layer %s null" % l, [get(row, "I_in%d_null" % n) for n in range(1, 5)],
               [get(row, "I_out%d_null" % n) for n in range(1, 5)], style="linepoints", color=c, dashed=True, hollow=True)
        p2.add("layer " + l, [get(row, "I_ctx")], [get(row, "I_out1")], [get(row, "I_out1_sd")], style="points", color=c)
    p3 = svgplot.Panel("context increments, layer mean (mean ± sd over seeds)", "model", "I_in(n+1) - I_in(n) minus its null's",
                       xticks=[(i, s) for i, s in enumerate(sizes)])
    p4 = svgplot.Panel("context increments, raw (nulls hollow)", "model", "I_in(n+1) - I_in(n)",
                       xticks=[(i, s) for i, s in enumerate(sizes)])
    for n in (2, 3, 4):
        sel = [x for x in rows if x[2] == "mean" and x[3] == "in" and x[4] == n]
        xs = [list(sizes).index(x[1]) for x in sel]
        p3.add("n = %d -> %d" % (n - 1, n), xs, [x[13] for x in sel], [x[14] for x in sel], style="points",
               color=svgplot.COLORS[n - 2])
        c = svgplot.COLORS[n - 2]
        p4.add("n = %d -> %d" % (n - 1, n), xs, [x[11] for x in sel], [x[12] for x in sel], style="points", color=c)
        prev = {x[1]: x[8] for x in rows if x[2] == "mean" and x[3] == "in" and x[4] == n - 1}
        p4.add("its null", xs, [x[8] - prev[x[1]] for x in sel], style="points", color=c, hollow=True)
    svgplot.render(path, "Back-off on %s at the end of pre-training (final set)" % data, [p1, p2, p3, p4], legend_w=0)
    print("wrote %s" % path)


# ---------------------------------------------------------------- two phases along training

def phases(data, runs):
    """Per size and layer: the peak of I_in1 along the trajectory, its fall after the peak, the val
    loss's minimum and how far it rose after it; trajectory bands per step."""
    traj, summ = [], []
    for size, rs in by_size(runs).items():
        steps = sorted(set.intersection(*[set(r.steps("pretrain", "trajectory")) for r in rs]))
        for st in steps:
            vl = [r.val.get(st) for r in rs]
            traj.append([data, size, st, "", "val_loss", *agg(vl)])
            for layer in ("mean", "last"):
                for q in ("I_in1", "I_out1", "I_ctx", "optimality"):
                    traj.append([data, size, st, layer, q, *agg([get(r.row("pretrain", "trajectory", st, layer), q) for r in rs])])
                traj.append([data, size, st, layer, "I_in1_minus_null",
                             *agg([(get(x, "I_in1") - get(x, "I_in1_null")) if x else None
                                   for x in (r.row("pretrain", "trajectory", st, layer) for r in rs)])])
        for layer in ("mean", "last"):
            pk_step, pk, end, fall, fall_draws, vmin_step, vmin, rise, sat = ([] for _ in range(9))
            for r in rs:
                s = r.steps("pretrain", "trajectory")
                v = [get(r.row("pretrain", "trajectory", x, layer), "I_in1") for x in s]
                dsd = [get(r.row("pretrain", "trajectory", x, layer), "I_in1_sd") for x in s]
                i = int(np.argmax(v))
                pk_step.append(s[i]), pk.append(v[i]), end.append(v[-1]), fall.append(v[i] - v[-1])
                fall_draws.append((v[i] - v[-1]) / dsd[-1] if dsd[-1] else None)
                vs = sorted(r.val)
                vv = [r.val[x] for x in vs]
                j = int(np.argmin(vv))
                vmin_step.append(vs[j]), vmin.append(vv[j]), rise.append(vv[-1] - vv[j])
                # saturation: the first eval step whose val loss is within 0.02 nats of the run's minimum
                sat.append(next(x for x, y in zip(vs, vv) if y - vv[j] <= 0.02))
            t = stats.ttest_1samp(fall, 0.0, alternative="greater").pvalue if len(fall) > 1 and np.std(fall) > 0 else None
            summ.append([data, size, layer, len(rs), *agg(pk_step)[:2], *agg(pk)[:2], *agg(end)[:2], *agg(fall)[:2],
                         t, agg(fall_draws)[0], *agg(sat)[:2], *agg(vmin_step)[:2], *agg(vmin)[:2], *agg(rise)[:2]])
    return traj, summ


def phases_figure(data, traj, path):
    sizes = order({r[1] for r in traj})
    panels = []
    for layer, q, lab in (("", "val_loss", "val loss (nats/token)"), ("mean", "I_in1", "I(X;Z) layer mean"),
                          ("last", "I_in1", "I(X;Z) last layer"), ("mean", "I_in1_minus_null", "I(X;Z) - null, layer mean"),
                          ("mean", "I_out1", "I(Y;Z) layer mean"), ("last", "I_out1", "I(Y;Z) last layer")):
        p = svgplot.Panel(lab, "step", lab)
        for k, s in enumerate(sizes):
            sel = [r for r in traj if r[1] == s and r[3] == layer and r[4] == q and r[5] is not None]
            p.add(s, [r[2] for r in sel], [r[5] for r in sel], [r[6] for r in sel], style="line",
                  color=svgplot.COLORS[k])
        panels.append(p)
    svgplot.render(path, "Two phases on %s: trajectory set (3,648 positions), mean ± sd over training seeds" % data, panels)
    print("wrote %s" % path)


# ---------------------------------------------------------------- preference information

def pref(pairs, runs, pre_by_name):
    """Per DPO run: I_pref before (DPO step 0) and after (final set), with nulls; the DPO outcome; the
    pre-training predictors of the checkpoint DPO started from."""
    rows = []
    for r in runs:
        pre = pre_by_name.get(r.name, r)
        st = r.steps("dpo", "trajectory")
        if not st:
            continue
        for layer in ("mean", "last"):
            b = r.row("dpo", "trajectory", st[0], layer)
            a = r.final("dpo", layer)
            p = pre.final("pretrain", layer)
            rows.append([pairs, r.name, r.source or "scale", r.size, r.seed, layer,
                         get(b, "I_pref"), get(b, "I_pref_null"), get(b, "I_pref_sd"),
                         get(a, "I_pref"), get(a, "I_pref_null"), get(a, "I_pref_sd"),
                         get(p, "optimality"), get(p, "I_in1"), get(p, "I_out1"), get(a, "optimality"), get(a, "I_in1"),
                         get(a, "I_out1"), pre.final_val(), r.val_acc, r.val_margin, r.pos_before, r.pos_after])
    return rows


PREF_HEAD = ["pairs", "run", "pretrained_on", "size", "seed", "layer", "I_pref_before", "I_pref_null_before", "I_pref_sd_before",
             "I_pref_after", "I_pref_null_after", "I_pref_sd_after", "optimality_pretrain", "I_in1_pretrain", "I_out1_pretrain",
             "optimality_dpo", "I_in1_dpo", "I_out1_dpo", "val_loss_pretrain", "dpo_val_accuracy", "dpo_val_margin",
             "positive_before", "positive_after"]


def pref_summary(rows):
    out = []
    keys = sorted({(r[0], r[2], r[3], r[5]) for r in rows}, key=lambda k: (k[0], k[1], order([k[2]]), k[3]))
    for k in keys:
        sel = [r for r in rows if (r[0], r[2], r[3], r[5]) == k]
        line = list(k)
        for i in range(6, len(PREF_HEAD)):
            line += agg([r[i] for r in sel])[:2]
        out.append(line + [len(sel)])
    return out


def pref_groups(rows):
    """(pairs, pretrained_on, layer, the rows of that group) for every group of pref rows."""
    for pairs in sorted({r[0] for r in rows}):
        for src in sorted({r[2] for r in rows if r[0] == pairs}):
            for layer in ("mean", "last"):
                yield pairs, src, layer, [r for r in rows if r[0] == pairs and r[2] == src and r[5] == layer]


def pref_corr(rows):
    """Every predictor (I_pref as value minus null) against every DPO outcome, within each group."""
    out = []
    H = {h: i for i, h in enumerate(PREF_HEAD)}
    for pairs, src, layer, sel in pref_groups(rows):
        outcomes = ["dpo_val_accuracy", "dpo_val_margin"] + (["positive_after"] if pairs == "builtin" else [])
        preds = ["I_pref_before", "I_pref_after", "optimality_pretrain", "optimality_dpo", "I_in1_pretrain",
                 "I_out1_pretrain", "val_loss_pretrain"]
        for o in outcomes:
            for p in preds:
                x = [r[H[p]] for r in sel]
                if p.startswith("I_pref"):
                    nl = [r[H[p.replace("I_pref", "I_pref_null")]] for r in sel]
                    x = [a - b if a is not None and b is not None else None for a, b in zip(x, nl)]
                    p += "_minus_null"
                out.append([pairs, src, layer, p, o] + corr(x, [r[H[o]] for r in sel]))
    return out


def dpo_change(rows):
    """What DPO does to the pre-training information (the paper: post-training leaves complexity nearly
    unchanged): per run, final set after DPO minus final set after pre-training; mean, sd, n and the
    one-sample t-test's p of "no change"."""
    out = []
    H = {h: i for i, h in enumerate(PREF_HEAD)}
    for pairs, src, layer, sel in pref_groups(rows):
        for q in ("I_in1", "I_out1", "optimality"):
            d = [r[H[q + "_dpo"]] - r[H[q + "_pretrain"]] for r in sel
                 if r[H[q + "_dpo"]] is not None and r[H[q + "_pretrain"]] is not None]
            m, sd, n = agg(d)
            p = float(stats.ttest_1samp(d, 0.0).pvalue) if n > 1 and np.std(d) > 0 else None
            out.append([pairs, src, layer, q, n, m, sd, p])
    return out


def pref_figure(rows, path):
    panels = []
    for pairs in sorted({r[0] for r in rows}):
        for src in sorted({r[2] for r in rows if r[0] == pairs}):
            sizes = order({r[3] for r in rows if r[0] == pairs and r[2] == src})
            p = svgplot.Panel("%s pairs, %s checkpoints, layer mean" % (pairs, src), "model", "I(pref;Z) / ln n_bins",
                              xticks=[(i, s) for i, s in enumerate(sizes)])
            for lab, col, dx, hollow in (("before DPO", 6, -0.1, False), ("null before", 7, -0.1, True),
                                         ("after DPO", 9, 0.1, False), ("null after", 10, 0.1, True)):
                xs, ys, es = [], [], []
                for i, s in enumerate(sizes):
                    m, sd, n = agg([r[col] for r in rows if r[0] == pairs and r[2] == src and r[3] == s and r[5] == "mean"])
                    if m is not None:
                        xs.append(i + dx), ys.append(m), es.append(sd)
                p.add(lab, xs, ys, es, style="points", hollow=hollow,
                      color=svgplot.COLORS[0] if "before" in lab else svgplot.COLORS[1])
            panels.append(p)
            q = svgplot.Panel("DPO outcome vs I(pref;Z) - null before DPO", "I_pref - null before DPO, layer mean",
                              "held-out DPO accuracy")
            for k, s in enumerate(sizes):
                sel = [r for r in rows if r[0] == pairs and r[2] == src and r[3] == s and r[5] == "mean"]
                q.add(s, [r[6] - r[7] if r[6] is not None and r[7] is not None else None for r in sel], [r[19] for r in sel],
                      style="points", color=svgplot.COLORS[k])
            panels.append(q)
    if panels:
        svgplot.render(path, "Preference information before and after DPO (mean ± sd over training seeds; hollow = null)", panels)
        print("wrote %s" % path)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", required=True)
    ap.add_argument("--suffix", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sets = {"corpus": load_runs(a.runs, a.suffix, "scale"), "shakespeare": load_runs(a.runs, a.suffix, "shakespeare"),
            "shakespeare_long": load_runs(a.runs, a.suffix, "long")}
    tags = {"corpus": "scale", "shakespeare": "shakespeare", "shakespeare_long": "long"}
    hh = load_runs(a.runs, a.suffix, "hh")
    for data, runs in sets.items():
        if not runs:
            print("no finished %s runs: its summaries are not written" % data)
            continue
        tag = tags[data]
        per_run, summ = scale_tables(data, runs)
        write_csv(os.path.join(a.out, tag + "_runs.csv"), ["data", "run", "size", "L", "C", "params_M", "seed", "layer", "quantity",
                                                           "value", "draw_sd", "null"], per_run)
        write_csv(os.path.join(a.out, tag + ".csv"), ["data", "size", "L", "C", "params_M", "layer", "quantity", "mean", "sd", "n",
                                                       "draw_sd", "null_mean"], summ)
        write_csv(os.path.join(a.out, tag + "_order.csv"), ["data", "ladder", "layer", "quantity", "comparison", "n_a", "n_b",
                                                             "diff_b_minus_a", "se", "welch_p", "separated_2se",
                                                             "se_with_draws", "separated_2se_with_draws", "n",
                                                             "pearson", "pearson_p", "spearman", "spearman_p"], scale_order(data, runs))
        write_csv(os.path.join(a.out, tag + "_quality_corr.csv"), ["data", "points", "layer", "predictor", "outcome", "n", "pearson",
                                                                    "pearson_p", "spearman", "spearman_p"], quality_corr(data, runs))
        scale_figure(data, summ, os.path.join(a.out, tag + ".svg"))
        bo = backoff(data, runs)
        write_csv(os.path.join(a.out, tag + "_backoff.csv"), ["data", "size", "layer", "side", "n", "I_mean", "I_sd", "runs",
                                                               "null_mean", "excess_mean", "excess_sd", "increment_mean",
                                                               "increment_sd", "increment_excess_mean", "increment_excess_sd",
                                                               "I_ctx_mean"], bo)
        backoff_figure(data, runs, bo, os.path.join(a.out, tag + "_backoff.svg"))
        traj, ph = phases(data, runs)
        write_csv(os.path.join(a.out, tag + "_trajectory.csv"), ["data", "size", "step", "layer", "quantity", "mean", "sd", "n"], traj)
        write_csv(os.path.join(a.out, tag + "_phases.csv"),
                  ["data", "size", "layer", "runs", "peak_step_mean", "peak_step_sd", "I_in1_peak_mean", "I_in1_peak_sd",
                   "I_in1_end_mean", "I_in1_end_sd", "fall_mean", "fall_sd", "fall_gt0_p", "fall_in_draw_sds",
                   "val_saturation_step_mean", "val_saturation_step_sd", "val_min_step_mean", "val_min_step_sd",
                   "val_min_mean", "val_min_sd", "val_rise_after_min_mean", "val_rise_after_min_sd"], ph)
        phases_figure(data, traj, os.path.join(a.out, tag + "_phases.svg"))
    # an hh run is named after the checkpoint it started from: scale-SIZE-sSEED or shakespeare-SIZE-sSEED
    pre = {"%s-%s" % (k, r.name): r for k, d in (("scale", "corpus"), ("shakespeare", "shakespeare")) for r in sets[d]}
    prow = pref("builtin", sets["corpus"], {r.name: r for r in sets["corpus"]}) + pref("hh", hh, pre)
    if prow:
        write_csv(os.path.join(a.out, "pref_runs.csv"), PREF_HEAD, prow)
        write_csv(os.path.join(a.out, "pref.csv"), ["pairs", "pretrained_on", "size", "layer"] +
                  [h + s for h in PREF_HEAD[6:] for s in ("_mean", "_sd")] + ["n"], pref_summary(prow))
        write_csv(os.path.join(a.out, "pref_corr.csv"), ["pairs", "pretrained_on", "layer", "predictor", "outcome", "n", "pearson",
                                                          "pearson_p", "spearman", "spearman_p"], pref_corr(prow))
        write_csv(os.path.join(a.out, "dpo_change.csv"), ["pairs", "pretrained_on", "layer", "quantity", "n", "change_mean",
                                                           "change_sd", "t_test_p"], dpo_change(prow))
        pref_figure(prow, os.path.join(a.out, "pref.svg"))


if __name__ == "__main__":
    main()
