#!/usr/bin/python3
"""Independent numpy/scipy reference for the soft-entropy probes (probes.c).

Writes data/fixtures/probes_reference.txt, a whitespace-separated text file read by tests/probes.c:

    eps <count>
    <d> <n_bins> <eps>                       one line per (d, n_bins) pair
    cases <count>
    case <N> <d> <n_bins> <K>                 then, for each case:
    eps <eps>                                 the float32 temperature used
    W <n_bins*d floats>                       unit rows, float32
    z <N*d floats>                            hidden vectors, float32 (not normalised)
    labels <N*K ints>                         row-major (N, K), INT64_MIN = no label
    H <H(Z)/ln n_bins>
    I <K values: I(X_k;Z)/ln n_bins>
    end

Math (issue "Compression probes"): p = softmax((z/|z|)·Wᵀ/eps); P(Z) = mean p; H = -Σ P ln P;
I(X;Z) = H(Z) - Σ_x P(x) H(Z|X=x) over the labelled rows; all divided by ln n_bins. eps solves
KL_lower(eps, d) = ln n_bins with k = 1/eps, nu = d/2 - 1, G(a,b,k) = k/(a + sqrt(k²+b²)),
Phi = r - nu + nu ln((d-2)/(nu+r)), r = sqrt(k²+nu²), KL_lower = G(d/2,d/2,k)/eps - Phi.
"""
import os
import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp

NO_LABEL = -(2**63)


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


def soft_entropy(p, labels):
    n_bins = p.shape[1]
    H = entropy(p.mean(0)) / np.log(n_bins)
    Is = []
    for k in range(labels.shape[1]):
        lab = labels[:, k]
        keep = lab != NO_LABEL
        pk, lk = p[keep], lab[keep]
        hz = entropy(pk.mean(0))
        hcond = 0.0
        for x in np.unique(lk):
            rows = pk[lk == x]
            hcond += len(rows) / len(pk) * entropy(rows.mean(0))
        Is.append((hz - hcond) / np.log(n_bins))
    return H, Is


def make_case(rng, N, d, n_bins):
    W = rng.standard_normal((n_bins, d))
    W = (W / np.linalg.norm(W, axis=1, keepdims=True)).astype(np.float32)
    eps = np.float32(calibrate_eps(d, n_bins))
    # z: a mixture around a few centres so that labels carry information, plus noise
    K_centres = 12
    centres = rng.standard_normal((K_centres, d)) * 1.5
    comp = rng.integers(0, K_centres, N)
    z = (centres[comp] + rng.standard_normal((N, d))).astype(np.float32)
    labels = np.stack([
        comp,                                  # informative, 12 values
        comp // 3,                             # coarser, 4 values
        rng.integers(0, 50, N),                # independent of z, 50 values
        comp * 1000003 + rng.integers(0, 3, N) * (1 << 40),  # finer, large int64 keys
        np.where(rng.random(N) < 0.3, NO_LABEL, comp % 5),   # partly unlabelled
    ], axis=1).astype(np.int64)
    p = soft_assign(z, W, eps)
    H, Is = soft_entropy(p, labels)
    return dict(N=N, d=d, n_bins=n_bins, W=W, eps=eps, z=z, labels=labels, H=H, I=Is)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = os.path.join(root, "data", "fixtures", "probes_reference.txt")
    rng = np.random.default_rng(20251)
    lines = []
    pairs = [(d, n) for d in (64, 128, 384, 768) for n in (50, 100, 200)]
    lines.append("eps %d" % len(pairs))
    for d, n in pairs:
        lines.append("%d %d %.17g" % (d, n, calibrate_eps(d, n)))
    cases = [make_case(rng, 500, 16, 50), make_case(rng, 400, 32, 100)]
    lines.append("cases %d" % len(cases))
    for c in cases:
        lines.append("case %d %d %d %d" % (c["N"], c["d"], c["n_bins"], c["labels"].shape[1]))
        lines.append("eps %.9g" % c["eps"])
        lines.append("W " + " ".join("%.9g" % v for v in c["W"].ravel()))
        lines.append("z " + " ".join("%.9g" % v for v in c["z"].ravel()))
        lines.append("labels " + " ".join("%d" % v for v in c["labels"].ravel()))
        lines.append("H %.17g" % c["H"])
        lines.append("I " + " ".join("%.17g" % v for v in c["I"]))
        lines.append("end")
        print("case N=%d d=%d n_bins=%d eps=%.6g H=%.6f I=%s" % (c["N"], c["d"], c["n_bins"], c["eps"], c["H"],
                                                                 " ".join("%.6f" % v for v in c["I"])))
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(out + ".tmp", out)
    for d, n in pairs:
        print("eps d=%d n_bins=%d: %.10g" % (d, n, calibrate_eps(d, n)))
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
