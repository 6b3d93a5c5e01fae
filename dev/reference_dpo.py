#!/usr/bin/python3
"""Reference for the DPO objective: writes data/fixtures/dpo_reference.bin.

A tiny GPT-2 in PyTorch (float32; the forward of dev/reference_gpt.py), in the layout of model.h (Hugging Face
Conv1D: y = x @ W + b, LM head tied to wte), evaluated on a few preference pairs with prompt
masking (target -1). A policy and a differently initialised reference give per-pair summed
log-probabilities of the responses; the DPO loss is then evaluated in three variants and
differentiated by autograd down to every parameter of the policy.

Run: /usr/bin/python3 dev/reference_dpo.py   (or `make fixtures`)

File layout (little-endian):
  int32[16] header: magic 0x31504F44 ("DPO1"), version 1, V, maxT, L, NH, C, n_pairs, T, n_variants,
                    num_params, 0...
  float32[n_variants, 3]  variant table: loss type (0 sigmoid, 1 ipo), beta, label smoothing
  float32[P]  policy parameters, tensors in model.h order, flattened
  float32[P]  reference parameters
  int32[2n, T] inputs   rows 0..n-1 chosen, n..2n-1 rejected (the layout of pref_batch)
  int32[2n, T] targets  -1 at prompt and padding positions
  float32[2n] policy summed log-probs, float32[2n] reference summed log-probs
  per variant: float32 loss, float32[n] per-pair losses, float32[n] dL/dlogp(chosen),
               float32[n] dL/dlogp(rejected), float32[4] rewards_chosen, rewards_rejected, margin,
               accuracy, float32[P] dL/dparams of the policy
"""
import os
import struct

import numpy as np
import torch

import reference_gpt  # the PyTorch GPT-2 forward (dev/reference_gpt.py)

V, MAXT, L, NH, C = 32, 16, 2, 2, 16
N_PAIRS, T = 3, 12
VARIANTS = [(0, 0.1, 0.0), (0, 0.5, 0.2), (1, 0.1, 0.0)]  # (type, beta, label smoothing)


def param_shapes():
    """Parameter tensors in the order of ParameterTensors in model.h."""
    return [
        ("wte", (V, C)), ("wpe", (MAXT, C)), ("ln1w", (L, C)), ("ln1b", (L, C)),
        ("qkvw", (L, C, 3 * C)), ("qkvb", (L, 3 * C)), ("attprojw", (L, C, C)), ("attprojb", (L, C)),
        ("ln2w", (L, C)), ("ln2b", (L, C)), ("fcw", (L, C, 4 * C)), ("fcb", (L, 4 * C)),
        ("fcprojw", (L, 4 * C, C)), ("fcprojb", (L, C)), ("lnfw", (C,)), ("lnfb", (C,)),
    ]


def init_params(gen):
    """Random parameters, LayerNorm gains and all biases included (a stronger test than GPT-2's
    1/0 initialisation)."""
    p = {}
    for name, shape in param_shapes():
        if name in ("ln1w", "ln2w", "lnfw"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif name.endswith("b"):
            t = 0.05 * torch.randn(shape, generator=gen)
        else:
            t = 0.3 * torch.randn(shape, generator=gen)
        p[name] = t.float()
    return p


def forward_logps(p, inputs, targets):
    """Summed log p(target) over targets != -1, per row: (rows,), from the GPT of reference_gpt.py."""
    _, losses, _ = reference_gpt.forward(p, inputs, targets, nh=NH)
    return -losses.sum(-1)


def dpo_loss(pc, pr, rc, rr, ltype, beta, ls):
    """Per-pair losses, TRL's definitions (sigmoid with label smoothing; ipo on the log-ratio
    difference h without length normalisation, as documented in model.h)."""
    h = (pc - rc) - (pr - rr)
    if ltype == 1:
        return (h - 1.0 / (2.0 * beta)) ** 2
    return -(1.0 - ls) * torch.nn.functional.logsigmoid(beta * h) - ls * torch.nn.functional.logsigmoid(-beta * h)


def make_pairs(gen):
    """Pairs with different prompt and response lengths, padded to T: rows 0..n-1 chosen."""
    eot = V - 1
    specs = [(3, 4, 2), (1, 5, 7), (5, 6, 3)]  # (prompt tokens, chosen, rejected response tokens)
    inputs = torch.full((2 * N_PAIRS, T), eot, dtype=torch.long)
    targets = torch.full((2 * N_PAIRS, T), -1, dtype=torch.long)
    for i, (np_, nc, nr) in enumerate(specs):
        prompt = torch.randint(0, V - 1, (np_,), generator=gen)
        for row, nresp in ((i, nc), (N_PAIRS + i, nr)):
            seq = torch.cat([prompt, torch.randint(0, V - 1, (nresp,), generator=gen), torch.tensor([eot])])
            assert len(seq) <= T + 1
            n = len(seq)
            inputs[row, : n - 1] = seq[: n - 1]
            for t in range(n - 1):
                if t + 1 >= np_:
                    targets[row, t] = seq[t + 1]
    return inputs, targets


def flat(p):
    return torch.cat([p[name].reshape(-1) for name, _ in param_shapes()])


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    policy = init_params(gen)
    reference = init_params(torch.Generator().manual_seed(2))
    inputs, targets = make_pairs(gen)
    n = N_PAIRS
    with torch.no_grad():
        ref_logps = forward_logps(reference, inputs, targets)
    num_params = sum(int(np.prod(s)) for _, s in param_shapes())

    out = bytearray()
    out += struct.pack("<16i", 0x31504F44, 1, V, MAXT, L, NH, C, n, T, len(VARIANTS), num_params, 0, 0, 0, 0, 0)
    out += np.array(VARIANTS, dtype="<f4").tobytes()
    out += flat(policy).numpy().astype("<f4").tobytes()
    out += flat(reference).numpy().astype("<f4").tobytes()
    out += inputs.numpy().astype("<i4").tobytes()
    out += targets.numpy().astype("<i4").tobytes()
    with torch.no_grad():
        out += forward_logps(policy, inputs, targets).numpy().astype("<f4").tobytes()
    out += ref_logps.numpy().astype("<f4").tobytes()
    for ltype, beta, ls in VARIANTS:
        p = {k: v.clone().requires_grad_(True) for k, v in policy.items()}
        logps = forward_logps(p, inputs, targets)
        logps.retain_grad()
        losses = dpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], ltype, beta, ls)
        loss = losses.mean()
        loss.backward()
        with torch.no_grad():
            rc = beta * (logps[:n] - ref_logps[:n])
            rr = beta * (logps[n:] - ref_logps[n:])
            stats = [rc.mean().item(), rr.mean().item(), (rc - rr).mean().item(), (rc > rr).float().mean().item()]
        print(f"variant type={ltype} beta={beta} ls={ls}: loss {loss.item():.6f}, stats {stats}")
        out += struct.pack("<f", loss.item())
        out += losses.detach().numpy().astype("<f4").tobytes()
        out += logps.grad[:n].numpy().astype("<f4").tobytes()
        out += logps.grad[n:].numpy().astype("<f4").tobytes()
        out += np.array(stats, dtype="<f4").tobytes()
        out += torch.cat([p[name].grad.reshape(-1) for name, _ in param_shapes()]).numpy().astype("<f4").tobytes()

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fixtures", "dpo_reference.bin")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(out)
    os.replace(path + ".tmp", path)
    print(f"wrote {os.path.normpath(path)}: {len(out)} bytes, {num_params} parameters")


if __name__ == "__main__":
    main()
