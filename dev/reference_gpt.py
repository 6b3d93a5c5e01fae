#!/usr/bin/python3
"""Reference GPT-2 in PyTorch, written from the math (independent of model.c), for tests/model.c.

Writes
  data/fixtures/gpt_reference.bin   a tiny model: params, inputs, targets, logits, losses, hidden
                                    states, gradients (mean loss and a weighted-loss seed) and the
                                    losses of 3 AdamW steps with clipping
  data/fixtures/hf_style/           the same model as a Hugging Face folder written the way
                                    transformers does it ("transformer." prefix, attn.bias and
                                    attn.masked_bias buffers, lm_head.weight), tensors in a
                                    scrambled file order, to test the loader's name handling

Format of gpt_reference.bin (little-endian):
  int32[12]  magic 0x47505452 ("GPTR"), version 1, L, C, NH, maxT, V, B, T, nsteps, 0, 0
  float32[8] lr, beta1, beta2, eps, weight_decay, clip, 0, 0
  float32[P] params in model.h buffer order (wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb,
             ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb; per-layer tensors stacked over L)
  int32[B*T] inputs;  int32[B*T] targets (-1 = ignored)
  float32[B*T*V] logits; float32[B*T] losses; float32[1] mean loss
  float32[(L+1)*B*T*C] hidden states 0..L (Hugging Face output_hidden_states)
  float32[P] grads of the mean loss
  float32[B*T] dlosses seed;  float32[P] grads of sum(losses * seed)
  float32[nsteps+1] mean loss before each AdamW step and after the last one
  float32[nsteps] grad norm (before clipping) at each step

Run: /usr/bin/python3 dev/reference_gpt.py   (make fixtures)
"""
import json
import math
import os
import struct

import numpy as np
import torch

torch.manual_seed(1234)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

L, C, NH, MAXT, V, B, T = 2, 32, 4, 16, 67, 3, 12
NSTEPS = 3
LR, BETA1, BETA2, EPS, WD, CLIP = 5e-3, 0.9, 0.95, 1e-8, 0.1, 1.0
MAGIC, VERSION = 0x47505452, 1

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "data", "fixtures")

# parameter tensors in model.h order: (name, shape, init kind, weight-decayed)
SPEC = [
    ("wte", (V, C), "w", True),
    ("wpe", (MAXT, C), "w", True),
    ("ln1w", (L, C), "lnw", False),
    ("ln1b", (L, C), "b", False),
    ("qkvw", (L, C, 3 * C), "w", True),
    ("qkvb", (L, 3 * C), "b", False),
    ("attprojw", (L, C, C), "w", True),
    ("attprojb", (L, C), "b", False),
    ("ln2w", (L, C), "lnw", False),
    ("ln2b", (L, C), "b", False),
    ("fcw", (L, C, 4 * C), "w", True),
    ("fcb", (L, 4 * C), "b", False),
    ("fcprojw", (L, 4 * C, C), "w", True),
    ("fcprojb", (L, C), "b", False),
    ("lnfw", (C,), "lnw", False),
    ("lnfb", (C,), "b", False),
]


def make_params():
    """Random parameters, larger than GPT-2's init so attention and GELU are far from linear."""
    g = torch.Generator().manual_seed(42)
    params = {}
    for name, shape, kind, _ in SPEC:
        r = torch.randn(shape, generator=g, dtype=torch.float32)
        if kind == "w":
            std = 0.25 if name in ("wte", "wpe") else 0.15
            t = r * std
        elif kind == "lnw":
            t = 1.0 + 0.2 * r
        else:
            t = 0.1 * r
        params[name] = t.clone().requires_grad_(True)
    return params


def layernorm(x, w, b):
    # biased variance, eps 1e-5
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(p, idx, targets, nh=NH):
    """Returns logits (B,T,V), per-position losses (B,T) (0 at target -1), hidden states list.
    L and C come from the parameter shapes, so other scripts can reuse it for their own sizes."""
    Bn, Tn = idx.shape
    L, C = p["ln1w"].shape
    hs = C // nh
    x = p["wte"][idx] + p["wpe"][:Tn][None, :, :]
    hidden = [x]
    mask = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
    for l in range(L):
        h = layernorm(x, p["ln1w"][l], p["ln1b"][l])
        qkv = h @ p["qkvw"][l] + p["qkvb"][l]  # Conv1D: y = x W + b
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(Bn, Tn, nh, hs).transpose(1, 2)
        k = k.view(Bn, Tn, nh, hs).transpose(1, 2)
        v = v.view(Bn, Tn, nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        x = x + (y @ p["attprojw"][l] + p["attprojb"][l])
        h = layernorm(x, p["ln2w"][l], p["ln2b"][l])
        h = gelu_tanh(h @ p["fcw"][l] + p["fcb"][l])
        x = x + (h @ p["fcprojw"][l] + p["fcprojb"][l])
        hidden.append(x)
    xf = layernorm(x, p["lnfw"], p["lnfb"])
    hidden[-1] = xf  # Hugging Face: the last hidden state is ln_f(block L output)
    logits = xf @ p["wte"].t()
    logp = torch.log_softmax(logits, dim=-1)
    valid = targets >= 0
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    losses = torch.where(valid, -picked, torch.zeros_like(picked))
    return logits, losses, hidden


def mean_loss(losses, targets):
    valid = targets >= 0
    return losses.sum() / valid.sum()


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors]).detach().numpy().astype("<f4")


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    idx = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    # ignored targets: a prompt prefix in sequence 0, padding at the end of sequence 2, one in the middle
    targets[0, :3] = -1
    targets[2, 9:] = -1
    targets[1, 5] = -1

    params = make_params()
    names = [s[0] for s in SPEC]
    plist = [params[n] for n in names]

    # 1. forward and the mean-loss gradients
    logits, losses, hidden = forward(params, idx, targets)
    loss = mean_loss(losses, targets)
    loss.backward()
    grads = flat([p.grad for p in plist])
    for p in plist:
        p.grad = None

    # 2. gradients of sum(losses * seed) for a non-uniform seed (nonzero at ignored targets too:
    #    those must contribute nothing)
    seed = torch.rand((B, T), generator=g) * 2.0 - 0.5
    _, losses2, _ = forward(params, idx, targets)
    (losses2 * seed).sum().backward()
    grads2 = flat([p.grad for p in plist])
    for p in plist:
        p.grad = None

    # 3. AdamW steps with global-norm clipping, decay only on the 2-D tensors
    train = {n: params[n].detach().clone().requires_grad_(True) for n in names}
    decay = [train[s[0]] for s in SPEC if s[3]]
    no_decay = [train[s[0]] for s in SPEC if not s[3]]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LR, betas=(BETA1, BETA2), eps=EPS)
    step_losses, norms = [], []
    for _ in range(NSTEPS):
        opt.zero_grad()
        _, ls, _ = forward(train, idx, targets)
        lo = mean_loss(ls, targets)
        lo.backward()
        step_losses.append(lo.item())
        norm = torch.sqrt(sum((t.grad.double() ** 2).sum() for t in train.values()))
        norms.append(norm.item())
        if norm.item() > CLIP:
            for t in train.values():
                t.grad.mul_(CLIP / norm.item())
        opt.step()
    with torch.no_grad():
        _, ls, _ = forward(train, idx, targets)
        step_losses.append(mean_loss(ls, targets).item())

    path = os.path.join(OUT, "gpt_reference.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<12i", MAGIC, VERSION, L, C, NH, MAXT, V, B, T, NSTEPS, 0, 0))
        f.write(struct.pack("<8f", LR, BETA1, BETA2, EPS, WD, CLIP, 0.0, 0.0))
        f.write(flat(plist).tobytes())
        f.write(idx.numpy().astype("<i4").tobytes())
        f.write(targets.numpy().astype("<i4").tobytes())
        f.write(logits.detach().numpy().astype("<f4").tobytes())
        f.write(losses.detach().numpy().astype("<f4").tobytes())
        f.write(np.array([loss.item()], dtype="<f4").tobytes())
        f.write(flat(hidden).tobytes())
        f.write(grads.tobytes())
        f.write(seed.numpy().astype("<f4").tobytes())
        f.write(grads2.tobytes())
        f.write(np.array(step_losses, dtype="<f4").tobytes())
        f.write(np.array(norms, dtype="<f4").tobytes())
    print(f"wrote {path} ({os.path.getsize(path)} bytes): loss {loss.item():.6f}, "
          f"AdamW losses {[round(x, 6) for x in step_losses]}, grad norms {[round(x, 4) for x in norms]}")

    write_hf_style(params)


def write_hf_style(params):
    """The same model as transformers' GPT2LMHeadModel.save_pretrained would lay it out."""
    d = os.path.join(OUT, "hf_style")
    os.makedirs(d, exist_ok=True)
    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "bos_token_id": 0,
           "eos_token_id": 0, "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": MAXT,
           "n_embd": C, "n_head": NH, "n_inner": None, "n_layer": L, "n_positions": MAXT,
           "tie_word_embeddings": True, "torch_dtype": "float32", "vocab_size": V}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    p = {k: v.detach().numpy().astype("<f4") for k, v in params.items()}
    tensors = [("transformer.wte.weight", p["wte"]), ("transformer.wpe.weight", p["wpe"])]
    for l in range(L):
        h = f"transformer.h.{l}."
        tensors += [
            (h + "ln_1.weight", p["ln1w"][l]), (h + "ln_1.bias", p["ln1b"][l]),
            (h + "attn.bias", np.tril(np.ones((MAXT, MAXT), "<f4")).reshape(1, 1, MAXT, MAXT)),
            (h + "attn.masked_bias", np.array(-1e4, dtype="<f4")),
            (h + "attn.c_attn.weight", p["qkvw"][l]), (h + "attn.c_attn.bias", p["qkvb"][l]),
            (h + "attn.c_proj.weight", p["attprojw"][l]), (h + "attn.c_proj.bias", p["attprojb"][l]),
            (h + "ln_2.weight", p["ln2w"][l]), (h + "ln_2.bias", p["ln2b"][l]),
            (h + "mlp.c_fc.weight", p["fcw"][l]), (h + "mlp.c_fc.bias", p["fcb"][l]),
            (h + "mlp.c_proj.weight", p["fcprojw"][l]), (h + "mlp.c_proj.bias", p["fcprojb"][l]),
        ]
    tensors += [("transformer.ln_f.weight", p["lnfw"]), ("transformer.ln_f.bias", p["lnfb"]),
                ("lm_head.weight", p["wte"])]
    # data in reverse order of the header entries, so the loader must follow data_offsets
    header, blobs, pos = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in reversed(tensors):
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    ordered = {"__metadata__": header["__metadata__"]}
    for name, _ in tensors:
        ordered[name] = header[name]
    hj = json.dumps(ordered, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    path = os.path.join(d, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
