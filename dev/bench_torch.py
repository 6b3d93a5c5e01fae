#!/usr/bin/python3
"""dev/bench_torch.py: the same training step as ./train, in PyTorch on the CPU (or with --device cuda
on the GPU, for dev/gpu_check.sh), for the speed comparison in dev/bench.sh.

A GPT-2 (pre-LayerNorm blocks, tanh GELU, causal attention, tied LM head, fp32) of the given shape;
one step = forward + cross-entropy loss + backward + gradient-norm clip (1.0) + AdamW
(betas 0.9/0.95, eps 1e-8, weight decay 0.1 on 2-D tensors), on random tokens (the data does not
change the cost). Prints one line per timed step and a summary line:

    torch L6 C384 H6 V8192 B8 T256 threads 2: median 2392.1 ms/step over 5 steps (warm-up 1), CPU median ...

--autocast bf16 runs the forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's
one-line mixed precision: matrix products in bf16, master weights and AdamW in fp32). --matmul-check prints
the BLAS library this process loaded (its path, and OpenBLAS's build config and kernel family when it is
OpenBLAS) and the throughput of a 2048^3 product in fp32 and in bf16, for dev/bench.sh to compare with the
machine's SGEMM limit before timing anything:

    torch blas: /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 (OpenBLAS 0.3.21 ... Zen), threads 2
    torch matmul 2048^3: fp32 171.3 GFLOP/s, bf16 12.5 GFLOP/s (best of 5)

Run with Debian's interpreter (python3-torch): /usr/bin/python3 dev/bench_torch.py --help
"""
import argparse
import ctypes
import math
import re
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("bench_torch.py: torch is not installed for this interpreter (use /usr/bin/python3)", file=sys.stderr)
    sys.exit(3)


class Block(nn.Module):
    def __init__(self, C, H, T):
        super().__init__()
        self.H = H
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T))

    def attn(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.H
        q = q.view(B, T, self.H, hs).transpose(1, 2)
        k = k.view(B, T, self.H, hs).transpose(1, 2)
        v = v.view(B, T, self.H, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x

    def forward_cached(self, x, cache):
        """x (B, t, C) new positions; cache [k, v] of (B, H, T_past, hs) tensors or None, extended in place
        (Hugging Face's past_key_values scheme). Causal within the new positions."""
        B, T, C = x.shape
        hs = C // self.H
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.H, hs).transpose(1, 2)
        k = k.view(B, T, self.H, hs).transpose(1, 2)
        v = v.view(B, T, self.H, hs).transpose(1, 2)
        if cache[0] is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        cache[0], cache[1] = k, v
        Tk = k.size(2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~self.mask[:, :, Tk - T:Tk, :Tk], float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self, L, C, H, V, T):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, H, T) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def logits(self, idx, caches=None, start=0):
        """Logits (B, t, V) of idx (B, t) at positions start..; with caches (one [k, v] per block) the
        blocks attend to the cached positions too and extend them."""
        pos = torch.arange(start, start + idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for i, block in enumerate(self.h):
            x = block(x) if caches is None else block.forward_cached(x, caches[i])
        return self.ln_f(x) @ self.wte.weight.t()

    def forward(self, idx, targets):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        logits = x @ self.wte.weight.t()  # tied LM head
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def generate(model, a):
    """Greedy decoding of a.generate tokens after a.prompt tokens: a forward over the whole prefix per
    token (no cache), then a prefill plus one cached forward per token. Prints tokens/s of both."""
    model.eval()
    prompt = torch.tensor([[(i * 7919 + 13) % a.V for i in range(a.prompt)]])
    with torch.no_grad():
        model.logits(prompt)  # warm-up
        idx = prompt
        t0 = time.perf_counter()
        for _ in range(a.generate):
            nxt = model.logits(idx)[:, -1].argmax(-1, keepdim=True)
            idx = torch.cat([idx, nxt], dim=1)
        t_full = time.perf_counter() - t0
        caches = [[None, None] for _ in model.h]
        t0 = time.perf_counter()
        out = prompt
        lg = model.logits(prompt, caches, 0)[:, -1]
        for i in range(a.generate):
            nxt = lg.argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], dim=1)
            if i + 1 < a.generate:
                lg = model.logits(nxt, caches, out.size(1) - 1)[:, -1]
        t_kv = time.perf_counter() - t0
    same = torch.equal(idx, out)
    print(f"torch generate L{a.L} C{a.C} H{a.H} V{a.V}, prompt {a.prompt}, {a.generate} new tokens, batch 1, "
          f"threads {a.threads}: no cache {a.generate / t_full:.1f} tokens/s, KV cache {a.generate / t_kv:.1f} "
          f"tokens/s, same tokens: {'yes' if same else 'no'}")


def blas_report():
    """One line: the BLAS shared library mapped into this process (torch links libblas.so.3, which Debian's
    alternatives point at OpenBLAS or at the reference BLAS), with OpenBLAS's config string, kernel family
    and thread count when it exports them."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # the BLAS is loaded and initialised by now
    with open("/proc/self/maps") as f:
        libs = sorted({ln.split()[-1] for ln in f if re.search(r"/lib[^/]*(blas|mkl)[^/]*\.so", ln)})
    desc = []
    for lib in libs:
        try:
            h = ctypes.CDLL(lib)
            cfg, core = h.openblas_get_config, h.openblas_get_corename
            cfg.restype = core.restype = ctypes.c_char_p
            desc.append(f"{lib} ({cfg().decode()}, kernels {core().decode()}, threads {h.openblas_get_num_threads()})")
            break  # libblas.so.3 and libopenblas*.so are the same library
        except (OSError, AttributeError):
            desc.append(f"{lib} (not OpenBLAS)")
    return "; ".join(desc) if desc else "none found in /proc/self/maps (BLAS linked statically, or MKL?)"


def matmul_gflops(dtype, n=2048, reps=5):
    """Best of reps timed n^3 products torch.mm in dtype, in GFLOP/s (one untimed warm-up)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best * 1e-9


def main():
    ap = argparse.ArgumentParser(description="time PyTorch GPT-2 training steps on the CPU or a GPU")
    ap.add_argument("-L", type=int, default=6)
    ap.add_argument("-C", type=int, default=384)
    ap.add_argument("-H", type=int, default=6)
    ap.add_argument("-V", type=int, default=8192)
    ap.add_argument("-B", type=int, default=8)
    ap.add_argument("-T", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up step)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--generate", type=int, default=0, metavar="N",
                    help="instead of training: time greedy generation of N tokens (batch 1), without and with a "
                         "KV cache (past_key_values style)")
    ap.add_argument("--prompt", type=int, default=16, help="prompt tokens for --generate")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--tf32", action="store_true", help="cuda: TF32 matrix products (fp32 otherwise)")
    ap.add_argument("--autocast", choices=("off", "bf16"), default="off",
                    help="cpu: bf16 autocast of the forward and loss (torch.autocast('cpu', dtype=torch.bfloat16))")
    ap.add_argument("--matmul-check", action="store_true",
                    help="print the BLAS library in use and 2048^3 matmul GFLOP/s in fp32 and bf16, then exit")
    a = ap.parse_args()
    for name in ("L", "C", "H", "V", "B", "T", "steps", "threads"):
        if getattr(a, name) < 1:
            ap.error(f"-{name} must be >= 1")
    if a.C % a.H:
        ap.error(f"-C {a.C} must be divisible by -H {a.H}")

    if a.device == "cuda" and not torch.cuda.is_available():
        print("bench_torch.py: --device cuda but torch finds no CUDA device", file=sys.stderr)
        sys.exit(1)
    cuda = a.device == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32

    def sync():  # GPU work is asynchronous: wait for it before reading the clock
        if cuda:
            torch.cuda.synchronize()

    torch.set_num_threads(a.threads)
    if a.matmul_check:
        print(f"torch blas: {blas_report()}")
        print(f"torch matmul 2048^3: fp32 {matmul_gflops(torch.float32):.1f} GFLOP/s, bf16 "
              f"{matmul_gflops(torch.bfloat16):.1f} GFLOP/s (best of 5), threads {torch.get_num_threads()}")
        return
    if a.autocast != "off" and cuda:
        ap.error("--autocast runs on the CPU only")
    torch.manual_seed(1337)
    model = GPT(a.L, a.C, a.H, a.V, a.T).to(a.device)
    if a.generate:
        if a.prompt < 1 or a.prompt + a.generate > a.T:
            ap.error("--prompt + --generate must be <= -T")
        if cuda:
            ap.error("--generate runs on the CPU only")
        generate(model, a)
        return
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    times, cpu_times = [], []
    for step in range(a.steps + 1):
        idx = torch.randint(0, a.V, (a.B, a.T), generator=g).to(a.device)
        tgt = torch.randint(0, a.V, (a.B, a.T), generator=g).to(a.device)
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            loss = model(idx, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()
        ms = (time.perf_counter() - t0) * 1e3
        cpu_ms = (time.process_time() - c0) * 1e3  # on-CPU time of all threads
        if step > 0:
            times.append(ms)
            cpu_times.append(cpu_ms)
        print(f"step {step}{' (warm-up)' if step == 0 else ''}: loss {loss.item():.4f}, {ms:.1f} ms, "
              f"CPU {cpu_ms:.1f} ms", flush=True)
    where = f"threads {a.threads}" if not cuda else f"cuda {'tf32' if a.tf32 else 'fp32'}"
    if a.autocast != "off":
        where += f" autocast {a.autocast}"
    print(f"torch L{a.L} C{a.C} H{a.H} V{a.V} B{a.B} T{a.T} {where}: median "
          f"{statistics.median(times):.1f} ms/step over {a.steps} steps (warm-up 1), CPU median "
          f"{statistics.median(cpu_times):.1f} ms/step")


if __name__ == "__main__":
    main()
