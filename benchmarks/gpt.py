"""The course GPT against transformers' GPT2LMHeadModel and a nanoGPT-style GPT: same config, start, batches.

    python benchmarks/gpt.py                     # the reference run: 2000 iterations (~7 min on 2 cores)
    python benchmarks/gpt.py --iters 200 --device cuda

All models start from the same weights (``to_hf`` copies ours into GPT-2), then take turns, one
training step each on the same batch, with the same AdamW, schedule and clipping. Only the steps
are timed, each model separately, so a machine shared with other work slows all alike and the
ratios stay fair. Reference (nanoGPT, n_layer 4, n_head 4, n_embd 128, block 64, batch 12,
lr 1e-3, warm-up 100, cosine to 1e-4, no biases, betas (0.9, 0.99), weight decay 0.1, clip 1.0,
2000 iterations): val loss 1.95, about 14,800 tokens/s on 2 cores.

The nanoGPT-style peer is written here (nanoGPT itself is not on PyPI) with the choices that set
nanoGPT's speed on a CPU: the exact (erf) GELU instead of GPT-2's tanh approximation, torch's
fused cross-entropy, and the per-tensor ("foreach") AdamW, since nanoGPT fuses AdamW on CUDA only.
The course GPT must keep the tanh GELU to equal GPT-2, and that GELU is 3x slower on a CPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.datasets import load_text
from course_lib import pick_device
from course_lib.gpt import GPT, GPTConfig, count_parameters, to_hf
from course_lib.text import random_batches
from course_lib.training import TrainConfig, lr_at, make_optimizer

COURSE, COURSE_EXACT = "course GPT", "course GPT, gelu='exact'"
HF, NANO = "transformers GPT2LMHeadModel", "nanoGPT-style (written here)"
NANOGPT_VAL_LOSS = 1.95
NANOGPT_TOKENS_PER_SEC = 14_800


def char_data():
    text = load_text("shakespeare")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return chars, data[:n], data[n:]


class NanoStyleBlock(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)), with the exact GELU as nanoGPT uses it."""

    def __init__(self, C: int, H: int) -> None:
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
        self.c_attn, self.attn_proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C, bias=False), nn.Linear(4 * C, C, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in self.c_attn(self.ln_1(x)).split(C, 2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoStyleGPT(nn.Module):
    def __init__(self, ours: GPT) -> None:
        super().__init__()
        c = ours.config
        self.wte, self.wpe = nn.Embedding(c.vocab_size, c.n_embd), nn.Embedding(c.block_size, c.n_embd)
        self.h = nn.ModuleList([NanoStyleBlock(c.n_embd, c.n_head) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd, bias=False)
        self.to(ours.device)
        with torch.no_grad():                         # start from our weights
            src = dict(ours.named_parameters())
            self.wte.weight.copy_(src["transformer.wte.weight"])
            self.wpe.weight.copy_(src["transformer.wpe.weight"])
            self.ln_f.weight.copy_(src["transformer.ln_f.weight"])
            for i, b in enumerate(self.h):
                for mine, theirs in [("ln_1", "ln_1"), ("ln_2", "ln_2"), ("c_attn", "attn.c_attn"),
                                     ("attn_proj", "attn.c_proj"), ("c_fc", "mlp.c_fc"), ("mlp_proj", "mlp.c_proj")]:
                    getattr(b, mine).weight.copy_(src[f"transformer.h.{i}.{theirs}.weight"])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T       # tied output layer, (B, T, V)


def nano_style_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """nanoGPT's AdamW: the same groups as ours (decay on matrices), but fused only on CUDA."""
    return make_optimizer(model, cfg, fused=next(model.parameters()).is_cuda)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def val_loss(logits_fn, data, cfg: TrainConfig, block: int, device, n_batches: int) -> float:
    g = torch.Generator().manual_seed(1234)
    total = 0.0
    for _ in range(n_batches):
        x, y = random_batches(data, block, cfg.batch_size, generator=g)
        x, y = x.to(device), y.to(device)
        logits = logits_fn(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
    return total / n_batches


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--device", default=None, help="cuda, mps or cpu (default: whatever is present)")
    ap.add_argument("--eval-batches", type=int, default=200)
    ap.add_argument("--no-peer", action="store_true", help="train only the course GPT")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    device = pick_device(args.device)
    chars, train_data, val_data = char_data()
    config = GPTConfig(len(chars), block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    cfg = TrainConfig(max_iters=args.iters, batch_size=12, lr=1e-3, min_lr=1e-4, warmup_iters=100,
                      weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0, progress=False)
    ours = GPT(config).to(device)
    # name -> (model, its logits function (B, T) -> (B, T, V), its optimizer)
    contenders = {COURSE: (ours, lambda x: ours(x)[0], make_optimizer)}
    if not args.no_peer:
        exact = GPT(replace(config, gelu="exact")).to(device)
        exact.load_state_dict(ours.state_dict())
        hf = to_hf(ours).train()              # same starting weights (its biases start at zero)
        nano = NanoStyleGPT(ours)
        contenders[COURSE_EXACT] = (exact, lambda x: exact(x)[0], make_optimizer)
        contenders[HF] = (hf, lambda x: hf(input_ids=x).logits, make_optimizer)
        contenders[NANO] = (nano, nano, nano_style_optimizer)
    runs = {}
    for name, (model, logits_fn, optimizer) in contenders.items():
        opt = optimizer(model, cfg)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, cfg) / cfg.lr)
        if isinstance(model, GPT):            # the course's own path: GPT.forward(x, targets)
            loss_fn = lambda x, y, m=model: m(x, y)[1]                                     # noqa: E731
        else:
            loss_fn = lambda x, y, f=logits_fn: F.cross_entropy(f(x).flatten(0, 1), y.flatten())  # noqa: E731
        runs[name] = dict(model=model, logits=logits_fn, loss=loss_fn, opt=opt, sched=sched,
                          seconds=0.0, last=float("nan"))

    g = torch.Generator().manual_seed(0)
    warmup = min(10, args.iters // 10)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device}, {torch.get_num_threads()} threads, load average {load:.2f} at start; "
          f"{count_parameters(config):,} parameters (ours); {args.iters} iterations", flush=True)
    for it in range(args.iters):
        x, y = random_batches(train_data, config.block_size, cfg.batch_size, generator=g)
        x, y = x.to(device), y.to(device)
        order = list(runs) if it % 2 == 0 else list(reversed(runs))   # alternate who goes first
        for name in order:
            r = runs[name]
            sync(device)
            t0 = time.perf_counter()
            loss = r["loss"](x, y)
            r["opt"].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(r["model"].parameters(), cfg.grad_clip)
            r["opt"].step()
            r["sched"].step()
            sync(device)
            if it >= warmup:
                r["seconds"] += time.perf_counter() - t0
            r["last"] = loss.item()
        if (it + 1) % max(1, args.iters // 10) == 0:
            print(f"  iter {it + 1:>5}: " + ", ".join(f"{n} {r['last']:.3f}" for n, r in runs.items()), flush=True)

    tokens = (args.iters - warmup) * cfg.batch_size * config.block_size
    print()
    print(f"{'model':<30} {'params':>10} {'val loss':>9} {'tokens/s':>10} {'vs course':>10}")
    base = None
    for name, r in runs.items():
        r["model"].eval()
        vl = val_loss(r["logits"], val_data, cfg, config.block_size, device, args.eval_batches)
        tps = tokens / r["seconds"]
        base = base or tps
        n_params = sum(p.numel() for p in r["model"].parameters())
        print(f"{name:<30} {n_params:>10,} {vl:>9.4f} {tps:>10,.0f} {tps / base:>9.2f}x")
        r["val"], r["tps"] = vl, tps
    ours_r = runs[COURSE]
    print(f"{'nanoGPT (reference, unloaded)':<30} {805_632:>10,} {NANOGPT_VAL_LOSS:>9.2f} "
          f"{NANOGPT_TOKENS_PER_SEC:>10,}")
    if not args.no_peer:
        print(f"\ncourse GPT / transformers tokens/s: {ours_r['tps'] / runs[HF]['tps']:.2f} (aim >= 1.0)")
        print(f"course GPT / nanoGPT-style tokens/s: {ours_r['tps'] / runs[NANO]['tps']:.2f} "
              f"(GPT-2's tanh GELU against nanoGPT's exact one)")
        print(f"course GPT with gelu='exact' / nanoGPT-style tokens/s: "
              f"{runs[COURSE_EXACT]['tps'] / runs[NANO]['tps']:.2f} (the same GELU on both sides)")
    print(f"course GPT val loss {ours_r['val']:.4f} (target <= {NANOGPT_VAL_LOSS}); "
          f"tokens/s {ours_r['tps']:,.0f} vs nanoGPT's {NANOGPT_TOKENS_PER_SEC:,} measured unloaded "
          f"(load average now {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
