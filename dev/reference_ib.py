#!/usr/bin/python3
"""Independent dense numpy reference for the Information Bottleneck iteration (probes.c,
"Information Bottleneck bound").

Writes data/fixtures/ib_reference.txt, a whitespace-separated text file read by tests/ib.c:

    ib_reference 1
    <nx> <ny> <nt> <K> <nbeta> <nchain>
    pxy <nx*ny values>          the joint, row-major (x, y), sums to 1, about a third of it zero
    q0 <nx*nt values>           the initial encoder p(t|x), row-major (x, t)
    info <H(X)> <H(Y)> <I(X;Y)> nats
    then, for each beta, from q0, K iterations exactly:
    solo <beta> <I(X;T)> <I(T;Y)> <nx*nt values of the final encoder>
    then CHAIN_BETAS as one annealed chain (each starts from the previous one's final encoder,
    the first from q0), K iterations each:
    chain <beta> <I(X;T)> <I(T;Y)> <nx*nt values>
    end

The iteration (Tishby, Pereira & Bialek 2000), written densely with the full KL divergence (the
C code drops the t-independent part and uses sparse rows):
    p(t) = sum_x p(x) q(t|x)
    p(y|t) = sum_x p(x) q(t|x) p(y|x) / p(t)
    q(t|x) = p(t) exp(-beta KL(p(y|x) || p(y|t))) / Z(x)
I(X;T) = sum_x p(x) sum_t q ln(q/p(t)); I(T;Y) = sum_{t,y} p(t,y) ln(p(t,y)/(p(t)p(y))).
"""
import os
import numpy as np
from scipy.special import logsumexp

NX, NY, NT, K = 12, 8, 6, 200
BETAS = [0.5, 1.5, 3.0, 8.0, 30.0, 200.0]
# The chain starts above the first critical beta: started from the trivial encoder (all bins
# alike, what beta < 1 gives) the iteration leaves that unstable fixed point along directions set
# by rounding, which no two implementations share.
CHAIN_BETAS = [3.0, 8.0, 30.0, 200.0]


def xlogy(a, b):
    """a * ln(b) with 0 * ln(0) = 0."""
    out = np.zeros(np.broadcast(a, b).shape)
    m = np.broadcast_to(a, out.shape) > 0
    out[m] = (np.broadcast_to(a, out.shape) * np.log(np.where(np.broadcast_to(b, out.shape) > 0,
                                                                    np.broadcast_to(b, out.shape), 1.0)))[m]
    return out


def step(pxy, q, beta):
    px = pxy.sum(1)
    pygx = pxy / px[:, None]
    pt = px @ q
    pty = (q * px[:, None]).T @ pygx            # (nt, ny): p(t, y)
    alive = pt > 0                              # a bin nobody uses stays unused (p(t) = 0)
    pyt = np.where(alive[:, None], pty / np.where(alive, pt, 1.0)[:, None], 0.0)
    # KL[x, t] = sum_{y: p(y|x) > 0} p(y|x) (ln p(y|x) - ln p(y|t)); +inf when some p(y|t) = 0
    kl = np.empty((pxy.shape[0], len(pt)))
    for x in range(pxy.shape[0]):
        s = pygx[x] > 0
        for t in range(len(pt)):
            if np.all(pyt[t, s] > 0):
                kl[x, t] = float(np.sum(pygx[x, s] * (np.log(pygx[x, s]) - np.log(pyt[t, s]))))
            else:
                kl[x, t] = np.inf
    logits = np.where(alive[None, :], np.log(np.where(alive, pt, 1.0))[None, :] - beta * kl, -np.inf)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def information(pxy, q):
    px, py = pxy.sum(1), pxy.sum(0)
    pt = px @ q
    ixt = float((px[:, None] * xlogy(q, q / pt[None, :])).sum())
    pty = (q * px[:, None]).T @ (pxy / px[:, None])
    ity = float(xlogy(pty, pty / (pt[:, None] * py[None, :])).sum())
    return ixt, ity


def run(pxy, q, beta):
    for _ in range(K):
        q = step(pxy, q, beta)
    return q


def fmt(a):
    return " ".join(repr(float(v)) for v in np.asarray(a).ravel())


def main():
    rng = np.random.default_rng(20260)
    pxy = rng.dirichlet(np.ones(NX * NY) * 0.7).reshape(NX, NY)
    zero = rng.random((NX, NY)) < 0.35
    for x in range(NX):          # keep every row and column non-empty
        zero[x, rng.integers(NY)] = False
    for y in range(NY):
        zero[rng.integers(NX), y] = False
    pxy[zero] = 0.0
    pxy /= pxy.sum()
    q0 = rng.dirichlet(np.ones(NT), size=NX)
    px, py = pxy.sum(1), pxy.sum(0)
    hx, hy = float(-xlogy(px, px).sum()), float(-xlogy(py, py).sum())
    ixy = float(xlogy(pxy, pxy / np.outer(px, py)).sum())
    lines = ["ib_reference 1", f"{NX} {NY} {NT} {K} {len(BETAS)} {len(CHAIN_BETAS)}", "pxy " + fmt(pxy), "q0 " + fmt(q0),
             f"info {hx!r} {hy!r} {ixy!r}"]
    for b in BETAS:
        q = run(pxy, q0, b)
        ixt, ity = information(pxy, q)
        lines.append(f"solo {b!r} {ixt!r} {ity!r} " + fmt(q))
    q = q0
    for b in CHAIN_BETAS:
        q = run(pxy, q, b)
        ixt, ity = information(pxy, q)
        lines.append(f"chain {b!r} {ixt!r} {ity!r} " + fmt(q))
    lines.append("end")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fixtures", "ib_reference.txt")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}: |X|={NX} |Y|={NY} |T|={NT}, K={K}, betas {BETAS}, I(X;Y)={ixy:.6f} nats")


if __name__ == "__main__":
    main()
