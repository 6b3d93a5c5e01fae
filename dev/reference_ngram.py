#!/usr/bin/python3
"""Reference for data/ngram.c: smoothed unigram/bigram/trigram cross-entropy on a val split,
computed with dense numpy count arrays (independent of the C hash maps).

Writes data/fixtures/ngram.txt, whitespace-separated numbers:
  V n_train n_val
  n_train train token ids
  n_val val token ids
  h1 h2 h3   (nats/token)

Estimator (same definition as data/corpus.h, interpolated Witten-Bell):
  p1(w)     = (c(w) + 1) / (N + V)
  p2(w|u)   = (c(u,w) + T(u) p1(w)) / (c(u,.) + T(u)),           p1(w) if c(u,.) = 0
  p3(w|t,u) = (c(t,u,w) + T(t,u) p2(w|u)) / (c(t,u,.) + T(t,u)),  p2(w|u) if c(t,u,.) = 0
  T(ctx) = number of distinct tokens following ctx in train.
  H_n = mean over val positions t = 2..n_val-1 of -ln p_n(x_t | x_{t-2}, x_{t-1}).
Run: /usr/bin/python3 dev/reference_ngram.py
"""
import os

import numpy as np

V = 23
rng = np.random.default_rng(20261129)
# A sparse second-order Markov chain over tokens 0..V-2 (token V-1 never occurs in train, so val
# must back off to add-one for it, from contexts never seen in train).
K = V - 1
trans = rng.dirichlet(np.full(K, 0.15), size=(K, K))


def sample(n):
    x = list(rng.integers(0, K, size=2))
    while len(x) < n:
        x.append(int(rng.choice(K, p=trans[x[-2], x[-1]])))
    return np.array(x, dtype=np.int64)


def smooth(c, lower):
    """Witten-Bell: c (..., V) counts of the next token per context, lower the backed-off p."""
    n = c.sum(-1, keepdims=True)
    T = (c > 0).sum(-1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (c + T * lower) / (n + T)
    return np.where(n > 0, p, lower)


def entropies(train, val, V):
    N = len(train)
    c1 = np.bincount(train, minlength=V).astype(np.float64)
    c2 = np.zeros((V, V))
    np.add.at(c2, (train[:-1], train[1:]), 1.0)
    c3 = np.zeros((V, V, V))
    np.add.at(c3, (train[:-2], train[1:-1], train[2:]), 1.0)
    p1 = (c1 + 1.0) / (N + V)                        # (V,)
    p2 = smooth(c2, np.broadcast_to(p1, (V, V)))     # (V, V)    p2[u, w]
    p3 = smooth(c3, np.broadcast_to(p2, (V, V, V)))  # (V, V, V) p3[t, u, w]
    assert np.allclose(p2.sum(1), 1.0) and np.allclose(p3.sum(2), 1.0)
    a, u, w = val[:-2], val[1:-1], val[2:]
    return (-np.log(p1[w]).mean(), -np.log(p2[u, w]).mean(), -np.log(p3[a, u, w]).mean())


train = sample(4000)
val = sample(600)
val[[50, 51, 300]] = V - 1  # an unseen token, and bigram/trigram contexts unseen in train
h = entropies(train, val, V)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
path = os.path.join(root, "data", "fixtures", "ngram.txt")
with open(path, "w") as f:
    f.write(f"{V} {len(train)} {len(val)}\n")
    f.write(" ".join(map(str, train)) + "\n")
    f.write(" ".join(map(str, val)) + "\n")
    f.write(f"{h[0]!r} {h[1]!r} {h[2]!r}\n")
print(f"h1 {h[0]:.6f} h2 {h[1]:.6f} h3 {h[2]:.6f}")
# The hand example of test_data (closed form in data/README.md).
print("hand example:", entropies(np.array([0, 1, 0, 2, 0, 1]), np.array([0, 1, 0, 2, 2]), 3))
print("wrote", path)
