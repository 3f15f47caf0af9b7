"""The course GPT against transformers' GPT2LMHeadModel: same config, same start, same batches.

    python benchmarks/gpt.py                     # the reference run: 2000 iterations (~5 min on 2 cores)
    python benchmarks/gpt.py --iters 200 --device cuda

Both models start from the same weights (``to_hf`` copies ours into GPT-2), then take turns:
one training step of ours, one of theirs, on the same batch, with the same AdamW, schedule and
clipping. Only the steps are timed, each model separately, so a machine shared with other work
slows both alike and the ratio stays fair. Reference (nanoGPT, n_layer 4, n_head 4, n_embd 128,
block 64, batch 12, lr 1e-3, warm-up 100, cosine to 1e-4, no biases, betas (0.9, 0.99),
weight decay 0.1, clip 1.0, 2000 iterations): val loss 1.95, about 14,800 tokens/s on 2 cores.
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

from course_lib.datasets import load_text
from course_lib.gpt import GPT, GPTConfig, count_parameters, pick_device, to_hf
from course_lib.text import random_batches
from course_lib.training import TrainConfig, lr_at, make_optimizer

NANOGPT_VAL_LOSS = 1.95
NANOGPT_TOKENS_PER_SEC = 14_800


def char_data():
    text = load_text("shakespeare")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return chars, data[:n], data[n:]


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
    ours = GPT(config, device=device)
    contenders = {"course GPT": ours}
    if not args.no_peer:
        hf = to_hf(ours).train()              # same starting weights (its biases start at zero)
        contenders["transformers GPT2LMHeadModel"] = hf
    runs = {}
    for name, model in contenders.items():
        opt = make_optimizer(model, cfg)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, cfg) / cfg.lr)
        runs[name] = dict(model=model, opt=opt, sched=sched, seconds=0.0, loss=float("nan"))

    def step_ours(x, y):
        return ours(x, y)[1]

    def step_hf(x, y):
        logits = contenders["transformers GPT2LMHeadModel"](input_ids=x).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    step_fns = {"course GPT": step_ours, "transformers GPT2LMHeadModel": step_hf}
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
            loss = step_fns[name](x, y)
            r["opt"].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(r["model"].parameters(), cfg.grad_clip)
            r["opt"].step()
            r["sched"].step()
            sync(device)
            if it >= warmup:
                r["seconds"] += time.perf_counter() - t0
            r["loss"] = loss.item()
        if (it + 1) % max(1, args.iters // 10) == 0:
            print(f"  iter {it + 1:>5}: " + ", ".join(f"{n} {r['loss']:.3f}" for n, r in runs.items()), flush=True)

    tokens = (args.iters - warmup) * cfg.batch_size * config.block_size
    print()
    print(f"{'model':<30} {'params':>10} {'val loss':>9} {'tokens/s':>10} {'vs course':>10}")
    base = None
    for name, r in runs.items():
        model = r["model"].eval()
        fn = (lambda x, m=model: m(x)[0]) if name == "course GPT" else (lambda x, m=model: m(input_ids=x).logits)
        vl = val_loss(fn, val_data, cfg, config.block_size, device, args.eval_batches)
        tps = tokens / r["seconds"]
        base = base or tps
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{name:<30} {n_params:>10,} {vl:>9.4f} {tps:>10,.0f} {tps / base:>9.2f}x")
        r["val"], r["tps"] = vl, tps
    ours_r = runs["course GPT"]
    print(f"{'nanoGPT (reference, unloaded)':<30} {805_632:>10,} {NANOGPT_VAL_LOSS:>9.2f} "
          f"{NANOGPT_TOKENS_PER_SEC:>10,}")
    if "transformers GPT2LMHeadModel" in runs:
        ratio = ours_r["tps"] / runs["transformers GPT2LMHeadModel"]["tps"]
        print(f"\ncourse GPT / transformers tokens/s ratio: {ratio:.2f} (aim >= 1.0)")
    print(f"course GPT val loss {ours_r['val']:.4f} (target <= {NANOGPT_VAL_LOSS}); "
          f"tokens/s {ours_r['tps']:,.0f} vs nanoGPT's {NANOGPT_TOKENS_PER_SEC:,} measured unloaded "
          f"(load average now {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
