"""The modern (Llama) block against chapter 08's GPT-2 block at equal time, and against transformers' Llama.

    python benchmarks/modern.py                   # the reference run: 120 s of training each (~6 min on 2 cores)
    python benchmarks/modern.py --seconds 30 --device cuda

1. Equal time. Chapter 08's GPT (course_lib.gpt.GPT: LayerNorm, learned positions, tanh-GELU MLP, 4 heads)
   and course_lib.llama.Llama with the same depth, width and heads (RMSNorm, RoPE, SwiGLU, 2 KV heads, tied
   embeddings like the GPT). The two take turns, one step each on the same batch, so a machine shared with
   other work slows both alike; each trains until its own steps have taken --seconds, and its learning rate
   follows warm-up + cosine in *time*: the schedule at the fraction of its budget already spent.
   Reported: tokens/s while training and the held-out loss at the end (the same 65,536 validation characters).
2. Speed against transformers: our Llama and LlamaForCausalLM built from the same config with our weights
   (to_hf), one training step each on the same batch, alternating; the ratio of tokens/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F

from course_lib import pick_device
from course_lib.datasets import load_text
from course_lib.gpt import GPT, GPTConfig
from course_lib.llama import Llama, LlamaConfig, to_hf
from course_lib.text import random_batches
from course_lib.training import TrainConfig, lr_at, make_optimizer


def char_data():
    text = load_text("shakespeare")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return len(chars), data[:n], data[n:]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Run:
    """One model, its optimizer and schedule, and the seconds its steps took."""

    def __init__(self, model, loss_fn, cfg: TrainConfig, budget: float | None = None) -> None:
        self.model, self.loss_fn, self.cfg, self.budget = model, loss_fn, cfg, budget
        self.opt = make_optimizer(model, cfg)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_at(s, cfg) / cfg.lr)
        self.seconds, self.steps, self.last = 0.0, 0, float("nan")

    def set_lr_by_time(self) -> None:
        """The schedule of cfg.max_iters virtual steps, read at the fraction of the time budget spent."""
        virtual = min(self.cfg.max_iters, int(self.cfg.max_iters * self.seconds / self.budget))
        for group in self.opt.param_groups:
            group["lr"] = lr_at(virtual, self.cfg)

    def step(self, x, y, device, timed: bool = True) -> None:
        sync(device)
        t0 = time.perf_counter()
        loss = self.loss_fn(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if self.budget is not None:
            self.set_lr_by_time()
        self.opt.step()
        if self.budget is None:
            self.sched.step()
        sync(device)
        if timed:
            self.seconds += time.perf_counter() - t0
        self.steps += 1
        self.last = loss.item()


@torch.no_grad()
def heldout_loss(model, val_data, T: int, device, n_tokens: int = 65_536, batch: int = 32) -> float:
    model.eval()
    stream = val_data[: (n_tokens // T) * T + 1]
    x, y = stream[:-1].view(-1, T), stream[1:].view(-1, T)
    total = 0.0
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch].to(device))[0]
        total += F.cross_entropy(logits.flatten(0, 1), y[i:i + batch].to(device).flatten(), reduction="sum").item()
    model.train()
    return total / x.numel()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="training time per model in part 1")
    ap.add_argument("--hf-iters", type=int, default=40, help="timed steps per model in part 2")
    ap.add_argument("--device", default=None, help="cuda, mps or cpu (default: whatever is present)")
    args = ap.parse_args(argv)

    device = pick_device(args.device)
    V, train_data, val_data = char_data()
    T, B, L, H, C = 128, 16, 4, 4, 128
    gpt_config = GPTConfig(V, T, n_layer=L, n_head=H, n_embd=C, bias=False)
    llama_config = LlamaConfig(V, T, n_layer=L, n_head=H, n_embd=C, n_kv_head=2, tie_embeddings=True)
    makers = {"GPT-2 block (course_lib.gpt.GPT, chapter 08)": lambda: GPT(gpt_config).to(device),
              "Llama block (course_lib.llama.Llama)": lambda: Llama(llama_config).to(device)}
    loss_of = lambda m, x, y: m(x, y)[1]                                                   # noqa: E731
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device}, {torch.get_num_threads()} threads, load average {load:.2f} at start")
    print(f"both: {L} layers, width {C}, {H} heads, context {T}, batch {B}; Llama: 2 KV heads, "
          f"SwiGLU width {llama_config.hidden_dim}\n", flush=True)

    # ---- part 1: equal time
    cfg = TrainConfig(max_iters=1000, batch_size=B, lr=3e-3, min_lr=3e-4, warmup_iters=50, grad_clip=1.0)
    runs = {}
    for name, make in makers.items():
        torch.manual_seed(0)
        model = make()
        runs[name] = Run(model, lambda x, y, m=model: loss_of(m, x, y), cfg, budget=args.seconds)
        print(f"{name:46} {sum(p.numel() for p in model.parameters()):>9,} parameters", flush=True)
    g = torch.Generator().manual_seed(0)
    it = 0
    while any(r.seconds < args.seconds for r in runs.values()):
        x, y = random_batches(train_data, T, B, generator=g)
        x, y = x.to(device), y.to(device)
        order = list(runs.items()) if it % 2 == 0 else list(reversed(runs.items()))
        for name, r in order:
            if r.seconds < args.seconds:
                r.step(x, y, device)
        it += 1
    print(f"\n{'model':46} {'steps':>6} {'seconds':>8} {'tokens/s':>9} {'held-out loss':>14}")
    results = {}
    for name, r in runs.items():
        tps = r.steps * B * T / r.seconds
        vl = heldout_loss(r.model, val_data, T, device)
        results[name] = (tps, vl)
        print(f"{name:46} {r.steps:>6} {r.seconds:>8.1f} {tps:>9,.0f} {vl:>14.4f}")
    (gpt_tps, gpt_val), (llama_tps, llama_val) = results.values()
    print(f"\nLlama / GPT-2 tokens/s: {llama_tps / gpt_tps:.2f}; held-out loss Llama - GPT-2 at equal time: "
          f"{llama_val - gpt_val:+.4f} (aim: negative)")

    # ---- part 2: against transformers' LlamaForCausalLM, same config and weights
    torch.manual_seed(0)
    ours = Llama(llama_config).to(device)
    hf = to_hf(ours).train()
    cfg = TrainConfig(max_iters=args.hf_iters + 5, batch_size=B, lr=1e-3, warmup_iters=1, grad_clip=1.0)
    pair = {"course_lib.llama.Llama": Run(ours, lambda x, y: ours(x, y)[1], cfg),
            "transformers LlamaForCausalLM (sdpa)": Run(
                hf, lambda x, y: F.cross_entropy(hf(input_ids=x).logits.flatten(0, 1), y.flatten()), cfg)}
    g = torch.Generator().manual_seed(1)
    for i in range(args.hf_iters + 5):
        x, y = random_batches(train_data, T, B, generator=g)
        x, y = x.to(device), y.to(device)
        for name, r in (pair.items() if i % 2 == 0 else reversed(pair.items())):
            r.step(x, y, device, timed=i >= 5)
    print()
    tps = {name: args.hf_iters * B * T / r.seconds for name, r in pair.items()}
    for name, r in pair.items():
        print(f"{name:46} {tps[name]:>9,.0f} tokens/s (last loss {r.last:.3f})")
    ours_tps, hf_tps = tps.values()
    print(f"course Llama / transformers Llama tokens/s: {ours_tps / hf_tps:.2f} (aim >= 1.0); "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
