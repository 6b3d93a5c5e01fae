#!/usr/bin/python3
"""Recomputes the last probes.csv rows of a stage from the run folder alone, in PyTorch.

    /usr/bin/python3 dev/recompute_probes.py RUN_DIR [--stage pretrain|dpo] [--set trajectory|final] [--tol 1e-4]

Reads RUN_DIR/probe_bins.safetensors (W [K, n_bins, C], eps [K], tokens [S, T], and in its
__metadata__ the null seed and traj_seqs: the trajectory set is the first traj_seqs sequences, the
final set all S), the model saved for the stage (RUN_DIR/pretrain or RUN_DIR/dpo: config.json +
model.safetensors, Hugging Face GPT-2 layout), runs the GPT-2 forward in float64 to get every
hidden state (output_hidden_states: 0 = embeddings, i = after block i, L = ln_f of the last
block), and recomputes every column but I_pref at positions p in [3, T-4) with exact n-gram labels
(n = 1..4): H, I_in n, I_out n, I_ctx (every position its own label), optimality, the permutation
nulls (the permutation of probes.h's probe_null_permutation, redone here), the sd over the K draws,
and the mean row (layers 1..L). Prints the max abs difference to the stage's last rows of the set
in RUN_DIR/probes.csv; exit status 1 if it exceeds --tol. I_pref needs the held-out preference
pairs and is not recomputed here.
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


def information(p, h, ids):
    """I(X;Z) in nats of the rows p (N, n_bins), their entropies h (N,), labels ids (N,)."""
    _, inv, cnt = np.unique(ids, return_inverse=True, return_counts=True)
    sums = np.zeros((len(cnt), p.shape[1]))
    np.add.at(sums, inv, p)
    hcond = cnt * entropy_rows(sums / cnt[:, None])
    return float(entropy_rows(p.mean(0))) - float(hcond.sum()) / len(ids)


def xorshift_u32(state):
    state ^= state >> 12
    state ^= (state << 25) & 0xFFFFFFFFFFFFFFFF
    state ^= state >> 27
    return state, ((state * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) >> 32


def null_permutation(seed, n):
    """probes.h probe_null_permutation: Fisher-Yates from the last item, j = u32 % (i + 1)."""
    state = seed if seed else 1
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        state, r = xorshift_u32(state)
        j = r % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm)


def ngram_ids(tokens, pos):
    """(N, 8) labels: input n-grams ending at p (n = 1..4), then output n-grams after p; exact tuples."""
    S = tokens.shape[0]
    cols = []
    for first, n in [(1 - n, n) for n in (1, 2, 3, 4)] + [(1, n) for n in (1, 2, 3, 4)]:
        tup = np.stack([tokens[:, pos + first + j] for j in range(n)], axis=-1).reshape(S * len(pos), n)
        _, inv = np.unique(tup, axis=0, return_inverse=True)
        cols.append(inv.ravel())
    return np.stack(cols, axis=1)


COLS = ["H"] + ["I_in%d" % n for n in (1, 2, 3, 4)] + ["I_out%d" % n for n in (1, 2, 3, 4)] + ["I_ctx"]
NULLS = ["I_in%d_null" % n for n in (1, 2, 3, 4)] + ["I_out%d_null" % n for n in (1, 2, 3, 4)]


def values(z, W, eps, ids, perm):
    """The columns of one hidden state under one draw (W, eps), in nats."""
    nz = np.linalg.norm(z, axis=1, keepdims=True)
    logits = np.where(nz > 0, z / np.where(nz > 0, nz, 1.0), 0.0) @ W.T / eps
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    h = entropy_rows(p)
    H = float(entropy_rows(p.mean(0)))
    Is = [information(p, h, ids[:, k]) for k in range(8)]
    nulls = [information(p, h, ids[perm, k]) for k in range(8)]
    return dict(zip(COLS + NULLS, [H] + Is + [H - float(h.mean())] + nulls))


def read_bins(run_dir):
    """RUN/probe_bins.safetensors: W (K, n_bins, C) and eps (K) in float64, tokens (S, T), metadata."""
    path = os.path.join(run_dir, "probe_bins.safetensors")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n))["__metadata__"]
    bins = read_safetensors(path)
    return bins["W"].astype(np.float64), bins["eps"].astype(np.float64), bins["tokens"], meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--stage", default="pretrain")
    ap.add_argument("--set", default="trajectory", choices=["trajectory", "final"])
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    W, eps, tokens, meta = read_bins(a.run_dir)
    if a.set == "trajectory":
        tokens = tokens[:int(meta["traj_seqs"])]
    S, T = tokens.shape
    K, nb = W.shape[0], W.shape[1]
    with torch.no_grad():
        hs = gpt2_hidden_states(os.path.join(a.run_dir, a.stage), tokens)
    pos = np.arange(3, T - 4)
    ids = ngram_ids(tokens.astype(np.int64), pos)
    perm = null_permutation(int(meta["null_seed"]), len(ids))
    rows = list(csv.DictReader(open(os.path.join(a.run_dir, "probes.csv"))))
    rows = [r for r in rows if r["stage"] == a.stage and r["set"] == a.set]
    if not rows:
        sys.exit("%s: no rows of stage %s, set %s" % (os.path.join(a.run_dir, "probes.csv"), a.stage, a.set))
    last = max(int(r["step"]) for r in rows)
    want = {r["layer"]: r for r in rows if int(r["step"]) == last}
    ln = math.log(nb)
    draws = []  # [layer][draw] -> dict of values / ln n_bins
    for h in hs:
        z = h[:, 3:T - 4].reshape(-1, h.shape[-1]).numpy()
        draws.append([{k: v / ln for k, v in values(z, W[s], eps[s], ids, perm).items()} for s in range(K)])
    L = len(hs) - 1
    draws.append([{k: np.mean([draws[l][s][k] for l in range(1, L + 1)]) for k in draws[0][0]} for s in range(K)])
    maxdiff = 0.0
    for l, per in enumerate(draws):
        name = "mean" if l == len(hs) else str(l)
        got = {k: float(np.mean([d[k] for d in per])) for k in per[0]}
        got["optimality"] = got["I_out1"] / got["I_in1"]
        if K > 1:
            for k in COLS:
                got[k + "_sd"] = float(np.std([d[k] for d in per], ddof=1))
        d = max(abs(v - float(want[name][k])) for k, v in got.items())
        maxdiff = max(maxdiff, d)
        print("layer %4s  H %.6f  I_in1 %.6f  I_out1 %.6f  I_ctx %.6f  I_in1_null %.6f  (csv %s %s %s)  max diff %.2e"
              % (name, got["H"], got["I_in1"], got["I_out1"], got["I_ctx"], got["I_in1_null"], want[name]["H"],
                 want[name]["I_in1"], want[name]["I_out1"], d))
    print("stage %s set %s step %d: %d hidden states + mean, %d positions, %d draws, max abs diff %.2e (tol %.0e)"
          % (a.stage, a.set, last, len(hs), len(ids), K, maxdiff, a.tol))
    sys.exit(0 if maxdiff <= a.tol else 1)


if __name__ == "__main__":
    main()
