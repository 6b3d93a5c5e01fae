#!/usr/bin/python3
"""Recomputes the last probes.csv rows of a stage from the run folder alone, in PyTorch.

    /usr/bin/python3 dev/recompute_probes.py RUN_DIR [--stage pretrain|dpo] [--tol 1e-4]

Reads RUN_DIR/probe_bins.safetensors (W [n_bins, C], eps [1], tokens [S, T]), the model saved for
the stage (RUN_DIR/pretrain or RUN_DIR/dpo: config.json + model.safetensors, Hugging Face GPT-2
layout), runs the GPT-2 forward in float64 to get every hidden state (output_hidden_states: 0 =
embeddings, i = after block i, L = ln_f of the last block), and recomputes H, I_in1..3, I_out1..3
and optimality at positions p in [2, T-3) with exact n-gram labels. Prints the max abs difference
to the stage's last rows in RUN_DIR/probes.csv; exit status 1 if it exceeds --tol. I_pref needs
the held-out preference pairs and is not recomputed here.
"""
import argparse
import csv
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    dtypes = {"F32": np.float32, "I32": np.int32, "F64": np.float64, "I64": np.int64}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
        out[name[len("transformer."):] if name.startswith("transformer.") else name] = arr.copy()
    return out


def gpt2_hidden_states(model_dir, tokens):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    w = {k: torch.from_numpy(v).double() for k, v in read_safetensors(os.path.join(model_dir, "model.safetensors")).items()}
    L, NH, C = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    idx = torch.from_numpy(tokens.astype(np.int64))
    B, T = idx.shape

    def ln(x, p):
        return torch.nn.functional.layer_norm(x, (C,), w[p + ".weight"], w[p + ".bias"], eps)

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    x = w["wte.weight"][idx] + w["wpe.weight"][:T][None]
    hs = [x]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(L):
        p = "h.%d." % i
        qkv = ln(x, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // NH)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = gelu_new(ln(x, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        hs.append(x)
    hs[-1] = ln(x, "ln_f")
    return hs


def entropy_rows(q):
    q = np.where(q > 0, q, 1.0)
    return -(q * np.log(q)).sum(-1)


def soft_entropy(p, labels):
    """p (N, n_bins) float64, labels list of (N,) int arrays: (H, [I...]) in units of ln n_bins."""
    nb = p.shape[1]
    H = float(entropy_rows(p.mean(0))) / math.log(nb)
    out = []
    for lab in labels:
        _, inv, cnt = np.unique(lab, return_inverse=True, return_counts=True)
        sums = np.zeros((len(cnt), nb))
        np.add.at(sums, inv, p)
        hcond = float((cnt * entropy_rows(sums / cnt[:, None])).sum()) / len(lab)
        out.append(H - hcond / math.log(nb))
    return H, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--stage", default="pretrain")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    bins = read_safetensors(os.path.join(a.run_dir, "probe_bins.safetensors"))
    W, eps, tokens = bins["W"].astype(np.float64), float(bins["eps"][0]), bins["tokens"]
    S, T = tokens.shape
    with torch.no_grad():
        hs = gpt2_hidden_states(os.path.join(a.run_dir, a.stage), tokens)
    pos = np.arange(2, T - 3)
    tk = tokens.astype(np.int64)
    labels = []
    for n in (1, 2, 3):  # input n-gram ending at p: tokens p-n+1 .. p
        key = np.zeros((S, len(pos)), dtype=np.int64)
        for j in range(n):
            key = key * (1 << 20) + tk[:, pos - n + 1 + j]
        labels.append(key.ravel())
    for n in (1, 2, 3):  # output n-gram: tokens p+1 .. p+n
        key = np.zeros((S, len(pos)), dtype=np.int64)
        for j in range(n):
            key = key * (1 << 20) + tk[:, pos + 1 + j]
        labels.append(key.ravel())
    rows = list(csv.DictReader(open(os.path.join(a.run_dir, "probes.csv"))))
    rows = [r for r in rows if r["stage"] == a.stage]
    if not rows:
        sys.exit("%s: no rows of stage %s" % (os.path.join(a.run_dir, "probes.csv"), a.stage))
    last = max(int(r["step"]) for r in rows)
    want = {int(r["layer"]): r for r in rows if int(r["step"]) == last}
    cols = ["H", "I_in1", "I_in2", "I_in3", "I_out1", "I_out2", "I_out3", "optimality"]
    maxdiff = 0.0
    for l, h in enumerate(hs):
        z = h[:, 2:T - 3].reshape(-1, h.shape[-1]).numpy()
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        logits = z @ W.T / eps
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        H, Is = soft_entropy(p, labels)
        got = [H] + Is + [Is[3] / Is[0]]
        ref = [float(want[l][c]) for c in cols]
        d = max(abs(x - y) for x, y in zip(got, ref))
        maxdiff = max(maxdiff, d)
        print("layer %2d  H %.6f  I_in1 %.6f  I_out1 %.6f  (csv %.6f %.6f %.6f)  max diff %.2e"
              % (l, H, Is[0], Is[3], ref[0], ref[1], ref[4], d))
    print("stage %s step %d: %d hidden states, %d positions, max abs diff %.2e (tol %.0e)"
          % (a.stage, last, len(hs), S * len(pos), maxdiff, a.tol))
    sys.exit(0 if maxdiff <= a.tol else 1)


if __name__ == "__main__":
    main()
