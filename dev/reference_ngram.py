#!/usr/bin/python3
"""Reference for data/ngram.c: smoothed unigram/bigram/trigram cross-entropy on a val split,
computed with dense numpy count arrays (independent of the C hash maps).

Writes data/fixtures/ngram.txt, whitespace-separated numbers:
  V n_train n_val n_alpha
  n_train train token ids
  n_val val token ids
  n_alpha lines: alpha h1 h2 h3   (nats/token)

Estimator (same definition as data/corpus.h):
  p1(w)     = (c(w) + 1) / (N + V)
  p2(w|u)   = (c(u,w) + alpha p1(w)) / (c(u,.) + alpha)
  p3(w|t,u) = (c(t,u,w) + alpha p2(w|u)) / (c(t,u,.) + alpha)
  H_n = mean over val positions t = 2..n_val-1 of -ln p_n(x_t | x_{t-2}, x_{t-1}).
Run: /usr/bin/python3 dev/reference_ngram.py
"""
import os

import numpy as np

V = 23
rng = np.random.default_rng(20261129)
# A sparse second-order Markov chain over tokens 0..V-2 (token V-1 never occurs in train, so val
# must back off to add-one for it).
K = V - 1
trans = rng.dirichlet(np.full(K, 0.15), size=(K, K))


def sample(n):
    x = list(rng.integers(0, K, size=2))
    while len(x) < n:
        x.append(int(rng.choice(K, p=trans[x[-2], x[-1]])))
    return np.array(x, dtype=np.int64)


train = sample(4000)
val = sample(600)
val[[50, 51, 300]] = V - 1  # unseen unigram, and unseen bigram/trigram contexts


def entropies(train, val, V, alpha):
    N = len(train)
    c1 = np.bincount(train, minlength=V).astype(np.float64)
    c2 = np.zeros((V, V))
    np.add.at(c2, (train[:-1], train[1:]), 1.0)
    c3 = np.zeros((V, V, V))
    np.add.at(c3, (train[:-2], train[1:-1], train[2:]), 1.0)
    p1 = (c1 + 1.0) / (N + V)                                          # (V,)
    p2 = (c2 + alpha * p1[None, :]) / (c2.sum(1, keepdims=True) + alpha)  # (V, V)
    p3 = (c3 + alpha * p2[None, :, :]) / (c3.sum(2, keepdims=True) + alpha)  # (V, V, V)
    assert np.allclose(p2.sum(1), 1.0) and np.allclose(p3.sum(2), 1.0)
    a, u, w = val[:-2], val[1:-1], val[2:]
    return (-np.log(p1[w]).mean(), -np.log(p2[u, w]).mean(), -np.log(p3[a, u, w]).mean())


alphas = [1.0, 0.5, 4.0]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
path = os.path.join(root, "data", "fixtures", "ngram.txt")
with open(path, "w") as f:
    f.write(f"{V} {len(train)} {len(val)} {len(alphas)}\n")
    f.write(" ".join(map(str, train)) + "\n")
    f.write(" ".join(map(str, val)) + "\n")
    for alpha in alphas:
        h = entropies(train, val, V, alpha)
        f.write(f"{alpha!r} {h[0]!r} {h[1]!r} {h[2]!r}\n")
        print(f"alpha {alpha}: h1 {h[0]:.6f} h2 {h[1]:.6f} h3 {h[2]:.6f}")
print("wrote", path)
