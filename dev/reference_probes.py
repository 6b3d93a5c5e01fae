#!/usr/bin/python3
"""Independent numpy/scipy reference for the soft-entropy probes (probes.c).

Writes data/fixtures/probes_reference.txt, a whitespace-separated text file read by tests/probes.c:

    eps <count>
    <d> <n_bins> <eps>                       one line per (d, n_bins): the find_eps temperature
    cases <count>
    case <N> <d> <n_bins> <K> <unit>         then, for each case (unit = 1: W rows are unit vectors)
    eps <eps>                                the float32 temperature used
    W <n_bins*d floats>                      reference points, float32
    z <N*d floats>                           hidden vectors, float32 (not normalised)
    labels <N*K ints>                        row-major (N, K) int64 keys
    perm <N ints>                            the null's permutation: row i takes the labels of row perm[i]
    H <H(Z)/ln n_bins>
    I <K values: I(X_k;Z)/ln n_bins>
    I_ctx <every row its own label>
    I_null <K values, labels permuted by perm>
    end
    ngrams <count>
    ngram <S> <T> <d> <n_bins> <V>           the n-gram labelling of probe sequences, then
    eps, W, tokens <S*T ints>, z <S*T*d floats: the hidden states of every position>
    perm <N ints>                            N = S*(T-7): positions p in [3, T-4) of every sequence
    H, I_in <4>, I_out <4>, I_ctx, I_in_null <4>, I_out_null <4>
    end

Math: p = softmax((z/|z|)·Wᵀ/eps); P(Z) = mean p; H = -Σ P ln P; for a labelling X,
I(X;Z) = H(Z) - Σ_x P(x) H(Z|X=x) with P(Z|X=x) the mean of p over the rows labelled x; I_ctx is
the same with every row its own label: H(Z) - mean_i H(p_i). All divided by ln n_bins. The input
n-gram of order n at position p is tokens p-n+1..p, the output n-gram tokens p+1..p+n; labels are
exact token tuples. The null labels row i with the label of row perm[i] (a permutation of the rows,
so every label keeps its count). find_eps: the root of KL_lower(eps, d) = ln n_bins with k = 1/eps,
nu = d/2 - 1, G(a,b,k) = k/(a + sqrt(k²+b²)), Phi = r - nu + nu ln((d-2)/(nu+r)), r = sqrt(k²+nu²),
KL_lower = G(d/2,d/2,k)/eps - Phi. The Gaussian calibration (the default) uses W ~ N(0, 1) entries,
rows not normalised, and eps = 1/sqrt(2 ln n_bins).
"""
import os
import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp


def kl_lower(eps, d):
    k = 1.0 / eps
    nu = d / 2.0 - 1.0
    G = k / (d / 2.0 + np.sqrt(k * k + (d / 2.0) ** 2))
    r = np.sqrt(k * k + nu * nu)
    phi = r - nu + nu * np.log((d - 2.0) / (nu + r))
    return G / eps - phi


def calibrate_eps(d, n_bins):
    return brentq(lambda e: kl_lower(e, d) - np.log(n_bins), 1e-5, 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                  maxiter=500)


def entropy(q):
    q = q[q > 0]
    return float(-(q * np.log(q)).sum())


def soft_assign(z, W, eps):
    z = z.astype(np.float64)
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    logits = zn @ W.astype(np.float64).T / float(eps)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def information(p, lab):
    """I(X;Z) in nats for one labelling lab (N,) of the rows of p."""
    hz = entropy(p.mean(0))
    hcond = 0.0
    for x in np.unique(lab):
        rows = p[lab == x]
        hcond += len(rows) / len(p) * entropy(rows.mean(0))
    return hz - hcond


def context_information(p):
    return entropy(p.mean(0)) - float(np.mean([entropy(r) for r in p]))


def draw_bins(rng, n_bins, d, unit):
    W = rng.standard_normal((n_bins, d))
    if unit:
        W = W / np.linalg.norm(W, axis=1, keepdims=True)
        eps = calibrate_eps(d, n_bins)
    else:
        eps = 1.0 / np.sqrt(2.0 * np.log(n_bins))
    return W.astype(np.float32), np.float32(eps)


def make_case(rng, N, d, n_bins, unit):
    W, eps = draw_bins(rng, n_bins, d, unit)
    # z: a mixture around a few centres so that labels carry information, plus noise
    n_centres = 12
    centres = rng.standard_normal((n_centres, d)) * 1.5
    comp = rng.integers(0, n_centres, N)
    z = (centres[comp] + rng.standard_normal((N, d))).astype(np.float32)
    labels = np.stack([
        comp,                                                # informative, 12 values
        comp // 3,                                           # coarser, 4 values
        rng.integers(0, 50, N),                              # independent of z, 50 values
        comp * 1000003 + rng.integers(0, 3, N) * (1 << 40),  # finer, large int64 keys
        np.where(rng.random(N) < 0.3, np.arange(N) + 100, comp % 5),  # 30% of rows with a label of their own
    ], axis=1).astype(np.int64)
    perm = rng.permutation(N)
    p = soft_assign(z, W, eps)
    ln = np.log(n_bins)
    return dict(N=N, d=d, n_bins=n_bins, unit=unit, W=W, eps=eps, z=z, labels=labels, perm=perm,
                H=entropy(p.mean(0)) / ln, I=[information(p, labels[:, k]) / ln for k in range(labels.shape[1])],
                I_ctx=context_information(p) / ln,
                I_null=[information(p, labels[perm, k]) / ln for k in range(labels.shape[1])])


def ngram_labels(tokens, T):
    """(N, 8) labels: input n-grams n = 1..4 ending at p, output n-grams starting at p+1, p in [3, T-4)."""
    rows = []
    for s in range(tokens.shape[0]):
        t = tokens[s]
        for p in range(3, T - 4):
            rows.append([tuple(t[p - n + 1:p + 1]) for n in range(1, 5)] + [tuple(t[p + 1:p + 1 + n]) for n in range(1, 5)])
    # tuples -> dense ids per column (exact: equal tuples share an id)
    out = np.zeros((len(rows), 8), dtype=np.int64)
    for k in range(8):
        ids = {}
        for i, r in enumerate(rows):
            out[i, k] = ids.setdefault(r[k], len(ids))
    return out


def make_ngram_case(rng, S, T, d, n_bins, V):
    W, eps = draw_bins(rng, n_bins, d, 0)
    # a small vocabulary and a sticky chain so that bigrams to quadgrams repeat
    tokens = np.zeros((S, T), dtype=np.int64)
    for s in range(S):
        tokens[s, 0] = rng.integers(0, V)
        for t in range(1, T):
            tokens[s, t] = (tokens[s, t - 1] + 1) % V if rng.random() < 0.6 else rng.integers(0, V)
    emb = rng.standard_normal((V, d))
    # hidden states that depend on the current and the previous token, plus noise
    z = emb[tokens] + 0.5 * np.roll(emb[tokens], 1, axis=1) + 0.7 * rng.standard_normal((S, T, d))
    z = z.astype(np.float32)
    labels = ngram_labels(tokens, T)
    N = labels.shape[0]
    perm = rng.permutation(N)
    rows = np.concatenate([z[s, 3:T - 4] for s in range(S)])
    p = soft_assign(rows, W, eps)
    ln = np.log(n_bins)
    I = [information(p, labels[:, k]) / ln for k in range(8)]
    In = [information(p, labels[perm, k]) / ln for k in range(8)]
    return dict(S=S, T=T, d=d, n_bins=n_bins, V=V, W=W, eps=eps, tokens=tokens, z=z, perm=perm,
                H=entropy(p.mean(0)) / ln, I_in=I[:4], I_out=I[4:], I_ctx=context_information(p) / ln,
                I_in_null=In[:4], I_out_null=In[4:])


def floats(a):
    return " ".join("%.9g" % v for v in np.asarray(a).ravel())


def ints(a):
    return " ".join("%d" % v for v in np.asarray(a).ravel())


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = os.path.join(root, "data", "fixtures", "probes_reference.txt")
    rng = np.random.default_rng(20251)
    lines = []
    pairs = [(d, n) for d in (64, 128, 384, 768) for n in (50, 100, 200)]
    lines.append("eps %d" % len(pairs))
    for d, n in pairs:
        lines.append("%d %d %.17g" % (d, n, calibrate_eps(d, n)))
    cases = [make_case(rng, 500, 16, 50, 1), make_case(rng, 400, 32, 100, 0)]
    lines.append("cases %d" % len(cases))
    for c in cases:
        lines.append("case %d %d %d %d %d" % (c["N"], c["d"], c["n_bins"], c["labels"].shape[1], c["unit"]))
        lines.append("eps %.9g" % c["eps"])
        lines.append("W " + floats(c["W"]))
        lines.append("z " + floats(c["z"]))
        lines.append("labels " + ints(c["labels"]))
        lines.append("perm " + ints(c["perm"]))
        lines.append("H %.17g" % c["H"])
        lines.append("I " + " ".join("%.17g" % v for v in c["I"]))
        lines.append("I_ctx %.17g" % c["I_ctx"])
        lines.append("I_null " + " ".join("%.17g" % v for v in c["I_null"]))
        lines.append("end")
        print("case N=%d d=%d n_bins=%d unit=%d eps=%.6g H=%.6f I=%s I_ctx=%.6f I_null=%s" % (
            c["N"], c["d"], c["n_bins"], c["unit"], c["eps"], c["H"], " ".join("%.6f" % v for v in c["I"]),
            c["I_ctx"], " ".join("%.6f" % v for v in c["I_null"])))
    grams = [make_ngram_case(rng, 6, 24, 24, 40, 7)]
    lines.append("ngrams %d" % len(grams))
    for g in grams:
        lines.append("ngram %d %d %d %d %d" % (g["S"], g["T"], g["d"], g["n_bins"], g["V"]))
        lines.append("eps %.9g" % g["eps"])
        lines.append("W " + floats(g["W"]))
        lines.append("tokens " + ints(g["tokens"]))
        lines.append("z " + floats(g["z"]))
        lines.append("perm " + ints(g["perm"]))
        lines.append("H %.17g" % g["H"])
        for key in ("I_in", "I_out"):
            lines.append(key + " " + " ".join("%.17g" % v for v in g[key]))
        lines.append("I_ctx %.17g" % g["I_ctx"])
        for key in ("I_in_null", "I_out_null"):
            lines.append(key + " " + " ".join("%.17g" % v for v in g[key]))
        lines.append("end")
        print("ngram S=%d T=%d d=%d n_bins=%d V=%d: H=%.6f I_in=%s I_out=%s I_ctx=%.6f" % (
            g["S"], g["T"], g["d"], g["n_bins"], g["V"], g["H"], " ".join("%.6f" % v for v in g["I_in"]),
            " ".join("%.6f" % v for v in g["I_out"]), g["I_ctx"]))
        print("      null: I_in=%s I_out=%s" % (" ".join("%.6f" % v for v in g["I_in_null"]),
                                               " ".join("%.6f" % v for v in g["I_out_null"])))
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(out + ".tmp", out)
    for d, n in pairs:
        print("eps d=%d n_bins=%d: %.10g" % (d, n, calibrate_eps(d, n)))
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
