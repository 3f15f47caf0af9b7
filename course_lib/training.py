"""The one training loop of the course: AdamW, warm-up + cosine schedule, clipping, eval, checkpoints.

    history = train(model, train_data, val_data, TrainConfig(max_iters=2000, lr=1e-3))
    plot_losses(history)                                     # train / val curves
    history = train(model, train_data, val_data, cfg, resume_from="checkpoints/gpt.pt")

Any model whose ``forward(x, y)`` returns ``(logits, loss)`` trains here (pass ``loss_fn`` for
others, ``batch_fn`` for data that is not one long token stream). A run is reproducible: the
batches come from a generator seeded by ``TrainConfig.seed``, and a checkpoint stores the model,
optimizer, scheduler, step and every random state, so resuming from it gives exactly the losses
of a run that was never interrupted.
"""
from __future__ import annotations

import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .text import random_batches

__all__ = ["TrainConfig", "History", "train", "lr_at", "make_optimizer", "estimate_loss",
           "save_checkpoint", "load_checkpoint", "plot_losses"]


@dataclass
class TrainConfig:
    """Everything that decides how a model is trained (the defaults are the reference tiny-GPT run)."""

    max_iters: int = 2000
    batch_size: int = 12
    lr: float = 1e-3                 # peak learning rate, reached at the end of warm-up
    min_lr: float = 1e-4             # where the cosine ends
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # end of the cosine; None = max_iters
    weight_decay: float = 0.1        # applied to matrices only (not biases, LayerNorm gains)
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float | None = 1.0    # clip the global gradient norm to this (None: no clipping)
    eval_interval: int = 250         # evaluate every this many steps (and at the last one)
    eval_iters: int = 20             # batches averaged per evaluation
    seed: int = 0                    # seeds the batch sampler (and the model's dropout)
    checkpoint_path: str | None = None  # where to save (atomically) at every checkpoint_interval
    checkpoint_interval: int = 0     # 0: only at the end of the run
    progress: bool = True            # show a tqdm progress bar

    def __post_init__(self) -> None:
        for name in ("max_iters", "batch_size", "eval_interval", "eval_iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig expected {name} to be a positive integer, got {v!r}")
        for name in ("warmup_iters", "checkpoint_interval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"TrainConfig expected {name} to be an integer >= 0, got {v!r}")
        if self.warmup_iters > self.max_iters:
            raise ValueError(f"TrainConfig expected warmup_iters <= max_iters, got warmup_iters={self.warmup_iters} "
                             f"> max_iters={self.max_iters}: the learning rate would never reach lr")
        if self.lr_decay_iters is not None and (isinstance(self.lr_decay_iters, bool)
                                                or not isinstance(self.lr_decay_iters, int)
                                                or self.lr_decay_iters < self.warmup_iters):
            raise ValueError(f"TrainConfig expected lr_decay_iters to be None or an integer >= warmup_iters="
                             f"{self.warmup_iters}, got {self.lr_decay_iters!r}")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"TrainConfig expected 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig expected grad_clip > 0 or None, got {self.grad_clip}")
        if self.weight_decay < 0:
            raise ValueError(f"TrainConfig expected weight_decay >= 0, got {self.weight_decay}")
        self.betas = tuple(float(b) for b in self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig expected two betas in [0, 1), got {self.betas}")

    @property
    def decay_end(self) -> int:
        return self.max_iters if self.lr_decay_iters is None else self.lr_decay_iters


@dataclass
class History:
    """What happened during training: a loss per step and the periodic evaluations."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)      # loss of the batch at each step
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_train: list[float] = field(default_factory=list)      # mean loss on eval_iters train batches
    eval_val: list[float] = field(default_factory=list)        # the same on held-out data
    seconds: float = 0.0                                       # time spent in this run (not resumed ones)
    tokens: int = 0                                            # tokens trained on in this run

    @property
    def tokens_per_sec(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    @property
    def final_val(self) -> float:
        return self.eval_val[-1] if self.eval_val else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine decay from lr to min_lr.

        warm-up (step < W):      lr * (step + 1) / W
        decay   (W <= step <= D): min_lr + (lr - min_lr) * (1 + cos(pi * (step - W) / (D - W))) / 2
        after D:                 min_lr
    """
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / cfg.warmup_iters
    if step >= cfg.decay_end:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(1, cfg.decay_end - cfg.warmup_iters)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, cfg: TrainConfig, *, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on the matrices (ndim >= 2) only.

    Biases and LayerNorm gains (1-D) are not decayed: shrinking them towards 0 has no
    regularising meaning. Tied parameters appear once (``model.parameters()`` deduplicates).
    On CPU and CUDA the update runs as one fused kernel over all parameters (same maths,
    about 12% more tokens/s for the chapter's GPT on 2 CPU cores than the per-tensor loop);
    ``fused=False`` asks for torch's per-tensor loop instead.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if fused is None:
        fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused or None)


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _default_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    _, loss = model(x, y)
    return loss


def _block_size(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "block_size"):
        raise ValueError("train() needs model.config.block_size to cut windows from a token stream; "
                         "give batch_fn=... for other models")
    return config.block_size


@torch.no_grad()
def estimate_loss(model: nn.Module, batch_fn: Callable, split: str, cfg: TrainConfig,
                  loss_fn: Callable = _default_loss) -> float:
    """Mean loss over ``cfg.eval_iters`` batches of ``split``, always the SAME batches (seeded), in eval mode."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(cfg.seed + 1)
    device = _device_of(model)
    total = 0.0
    for _ in range(cfg.eval_iters):
        x, y = batch_fn(split, g)
        total += float(loss_fn(model, x.to(device), y.to(device)))
    model.train(was_training)
    return total / cfg.eval_iters


# ----------------------------------------------------------------------------- checkpoints

def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        # NumPy's state holds an ndarray; a tensor is what weights_only=True loads
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _config_dict(model: nn.Module) -> dict | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    return config.to_dict() if hasattr(config, "to_dict") else asdict(config)


def _with_defaults(model: nn.Module, stored: dict | None, name: str) -> dict | None:
    """The stored config as the model's config class reads it today: fields added later get their defaults."""
    from_dict = getattr(type(getattr(model, "config", None)), "from_dict", None)
    if stored is None or from_dict is None:
        return stored
    try:
        config = from_dict(stored)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {name} holds a model config this code cannot read: {exc}") from None
    return config.to_dict() if hasattr(config, "to_dict") else asdict(config)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, *, step: int = 0, history: History | None = None,
                    generator: torch.Generator | None = None, train_config: TrainConfig | None = None) -> Path:
    """Write everything needed to resume to ``path``, atomically.

    The file is first written next to the target as ``<name>.tmp`` and then renamed over it
    with ``os.replace`` (atomic on POSIX and Windows): a crash or an error mid-save leaves the
    previous checkpoint intact and no half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": "course_lib.training/1",
        "config": _config_dict(model),
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "step": int(step),
        "history": None if history is None else history.to_dict(),
        "rng": _rng_state(),
        "batch_generator": None if generator is None else generator.get_state(),
        "train_config": None if train_config is None else asdict(train_config),
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, *, restore_rng: bool = False) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and optimizer, scheduler).

    Uses ``torch.load(..., weights_only=True)``: only tensors and plain containers are read, no
    arbitrary code. The stored model config, with the defaults of fields added since it was written
    filled in (``type(model.config).from_dict``), must equal ``model.config``; otherwise a ValueError
    names the fields that differ. The caller's global random state (torch, NumPy, Python) is left
    alone unless ``restore_rng=True``, which resuming training asks for. Returns the payload
    (``step``, ``history``, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path.name!r} (looked for the file {path})")
    payload = torch.load(path, map_location=_device_of(model), weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "course_lib.training/1":
        raise ValueError(f"{path.name} is not a course_lib checkpoint (written by save_checkpoint)")
    ours, theirs = _config_dict(model), _with_defaults(model, payload["config"], path.name)
    if ours is not None and theirs is not None and ours != theirs:
        diff = [f"{k}: checkpoint {theirs.get(k)!r} vs model {ours.get(k)!r}"
                for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
        raise ValueError(f"checkpoint {path.name} was saved from a model with another config; differing "
                         f"fields: " + "; ".join(diff))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {path.name} does not fit this model: {exc}") from None
    if optimizer is not None and payload["optimizer"] is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng:
        _set_rng_state(payload["rng"])
    return payload


# ----------------------------------------------------------------------------- the loop

def _stream_batches(train_data: torch.Tensor, val_data: torch.Tensor, block_size: int, batch_size: int):
    data = {"train": torch.as_tensor(train_data), "val": torch.as_tensor(val_data)}
    for split, d in data.items():
        if d.ndim != 1 or d.dtype.is_floating_point:
            raise ValueError(f"train() expected {split}_data to be a 1-D stream of integer token ids, "
                             f"got shape {tuple(d.shape)} dtype {d.dtype}")

    def batch_fn(split: str, generator: torch.Generator):
        return random_batches(data[split], block_size, batch_size, generator=generator)
    return batch_fn


def train(model: nn.Module, train_data=None, val_data=None, cfg: TrainConfig | None = None, *,
          batch_fn: Callable | None = None, loss_fn: Callable | None = None,
          resume_from: str | os.PathLike | None = None, stop_at: int | None = None,
          print_fn: Callable = print) -> History:
    """Train ``model`` with AdamW + warm-up/cosine + clipping, evaluating on held-out data.

    ``train_data``/``val_data``: 1-D token streams cut into random (x, y) windows of
    ``model.config.block_size``; or give ``batch_fn(split, generator) -> (x, y)``.
    ``resume_from``: a checkpoint to continue from (model, optimizer, schedule, step, RNGs).
    ``stop_at``: stop after this step, as if interrupted (the schedule still aims at max_iters).
    Returns the :class:`History` (resumed runs continue the stored one).
    """
    from tqdm.std import tqdm

    cfg = cfg or TrainConfig()
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"train() expected a TrainConfig, got {type(cfg).__name__}")
    if batch_fn is None:
        if train_data is None or val_data is None:
            raise ValueError("train() needs train_data and val_data (1-D token streams) or a batch_fn")
        batch_fn = _stream_batches(train_data, val_data, _block_size(model), cfg.batch_size)
    loss_fn = loss_fn or _default_loss
    device = _device_of(model)

    torch.manual_seed(cfg.seed)                              # dropout masks
    generator = torch.Generator().manual_seed(cfg.seed)      # training batches
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_at(s, cfg) / cfg.lr)
    history, step = History(), 0
    if resume_from is not None:
        payload = load_checkpoint(resume_from, model, optimizer, scheduler, restore_rng=True)
        step = payload["step"]
        history = History.from_dict(payload["history"] or {})
        history.seconds, history.tokens = 0.0, 0
        if payload["batch_generator"] is not None:
            generator.set_state(payload["batch_generator"])
    last = cfg.max_iters if stop_at is None else min(stop_at, cfg.max_iters)

    def evaluate(at: int) -> None:
        history.eval_steps.append(at)
        history.eval_train.append(estimate_loss(model, batch_fn, "train", cfg, loss_fn))
        history.eval_val.append(estimate_loss(model, batch_fn, "val", cfg, loss_fn))
        line = f"step {at:>5}: train loss {history.eval_train[-1]:.4f}, val loss {history.eval_val[-1]:.4f}"
        (bar.write if bar is not None else print_fn)(line)

    def checkpoint(at: int) -> None:
        if cfg.checkpoint_path:
            save_checkpoint(cfg.checkpoint_path, model, optimizer, scheduler, step=at, history=history,
                            generator=generator, train_config=cfg)

    bar = tqdm(total=cfg.max_iters, initial=step, disable=not cfg.progress, file=sys.stdout,
               mininterval=2.0, ncols=100, desc="training") if cfg.progress else None
    model.train()
    t0 = time.perf_counter()
    try:
        while step < last:
            if step % cfg.eval_interval == 0 and (not history.eval_steps or history.eval_steps[-1] != step):
                evaluate(step)
            x, y = batch_fn("train", generator)
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            history.lr.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
            history.steps.append(step)
            history.train_loss.append(loss.item())
            history.tokens += x.numel()
            step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}",
                                val=f"{history.eval_val[-1]:.3f}" if history.eval_val else "-", refresh=False)
            if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0 and step < last:
                checkpoint(step)
        if step == cfg.max_iters and (not history.eval_steps or history.eval_steps[-1] != step):
            evaluate(step)
    finally:
        history.seconds += time.perf_counter() - t0
        if bar is not None:
            bar.close()
    checkpoint(step)
    return history


def plot_losses(history: History, *, ax=None, title: str | None = None, smooth: int = 50):
    """Train loss per step (faint, and a moving average) and the periodic train/val evaluations."""
    import matplotlib.pyplot as plt

    if not isinstance(history, History):
        raise ValueError(f"plot_losses expected a History, got {type(history).__name__}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=80)
    else:
        fig = ax.figure
    steps, losses = np.asarray(history.steps), np.asarray(history.train_loss)
    if len(losses):
        ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8, label="train (batch)")
        k = max(1, min(smooth, len(losses) // 5 or 1))
        avg = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], avg, color="tab:blue", lw=1.5, label=f"train ({k}-step average)")
    if history.eval_steps:
        ax.plot(history.eval_steps, history.eval_train, "o-", color="tab:green", ms=4, label="train (eval)")
        ax.plot(history.eval_steps, history.eval_val, "s-", color="tab:red", ms=4, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title or "loss curves")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
