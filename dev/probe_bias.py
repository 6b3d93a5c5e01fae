#!/usr/bin/python3
"""How much of a probe value is estimator bias, measured on a run folder's own probe sequences.

    /usr/bin/python3 dev/probe_bias.py RUN_DIR [--stage pretrain|dpo] [--csv OUT.csv]

The plug-in I of n-gram labels is biased upward by a small sample. The run folder holds the final
probe set (S sequences, all of probe_bins.safetensors' tokens) and the trajectory set (its first
traj_seqs sequences). This script cuts the final set into S // traj_seqs disjoint blocks of the
trajectory's size and compares, for every hidden state of the stage's saved model (draw 0 of the
reference points):

  plug-in at the trajectory's size   the mean over the blocks (its sd over the blocks in brackets)
  plug-in at the final set's size    the whole set
  bias, lower bound                  block mean - whole set (the whole set is itself biased upward,
                                     so the bias at the trajectory's size is at least this)
  permutation null                   the same statistic with the labels permuted among the rows,
                                     at both sizes (what probes.csv's *_null columns hold)

for I_in1..4 and I_out1..4, all in units of ln n_bins. The null measures the bias of labels that
carry nothing about Z; for informative labels the actual bias is smaller, which the table shows.
"""
import argparse
import csv
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recompute_probes import COLS, gpt2_hidden_states, ngram_ids, null_permutation, read_bins, values  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--stage", default="pretrain")
    ap.add_argument("--csv", default=None, help="also write the table as CSV")
    a = ap.parse_args()
    W, eps, tokens, meta = read_bins(a.run_dir)
    W, eps = W[0], float(eps[0])
    path = os.path.join(a.run_dir, "probe_bins.safetensors")
    S, T = tokens.shape
    traj = int(meta["traj_seqs"])
    blocks = S // traj
    if blocks < 2:
        sys.exit("%s: the final set (%d sequences) holds fewer than two trajectory-sized blocks (%d)" % (path, S, traj))
    with torch.no_grad():
        hs = gpt2_hidden_states(os.path.join(a.run_dir, a.stage), tokens)
    ln = math.log(W.shape[0])
    pos = np.arange(3, T - 4)
    labels = COLS[1:9]
    rows = []
    for l, h in enumerate(hs):
        def measure(lo, hi):
            tk = tokens[lo:hi].astype(np.int64)
            ids = ngram_ids(tk, pos)
            perm = null_permutation(int(meta["null_seed"]), len(ids))
            z = h[lo:hi, 3:T - 4].reshape(-1, h.shape[-1]).numpy()
            return {k: v / ln for k, v in values(z, W, eps, ids, perm).items()}
        whole = measure(0, blocks * traj)
        parts = [measure(b * traj, (b + 1) * traj) for b in range(blocks)]
        for k in labels:
            small = np.array([p[k] for p in parts])
            nulls = np.array([p[k + "_null"] for p in parts])
            rows.append(dict(layer=l, label=k, n_small=traj * len(pos), n_large=blocks * traj * len(pos),
                             plugin_small=small.mean(), plugin_small_sd=small.std(ddof=1), plugin_large=whole[k],
                             bias_lower_bound=small.mean() - whole[k], null_small=nulls.mean(),
                             null_large=whole[k + "_null"]))
    print("stage %s: %d blocks of %d sequences (%d positions) vs all %d (%d positions); units of ln %d"
          % (a.stage, blocks, traj, traj * len(pos), blocks * traj, blocks * traj * len(pos), W.shape[0]))
    print("%5s %-7s %16s %9s %11s %10s %10s" % ("layer", "label", "plug-in small", "large", "bias >=", "null small",
                                                 "null large"))
    for r in rows:
        print("%5d %-7s %9.4f (%.4f) %9.4f %+11.4f %10.4f %10.4f" % (
            r["layer"], r["label"], r["plugin_small"], r["plugin_small_sd"], r["plugin_large"], r["bias_lower_bound"],
            r["null_small"], r["null_large"]))
    if a.csv:
        with open(a.csv + ".tmp", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})
        os.replace(a.csv + ".tmp", a.csv)
        print("wrote", a.csv)


if __name__ == "__main__":
    main()
