"""course_lib.training: schedule, optimizer groups, exact resume, atomic checkpoints."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pytest
import torch
import torch.nn as nn

from course_lib.training import (History, TrainConfig, load_checkpoint, lr_at, make_optimizer, plot_losses,
                                 save_checkpoint, train)


@dataclass
class TinyConfig:
    vocab_size: int = 11
    block_size: int = 8
    n_embd: int = 16
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class TinyLM(nn.Module):
    """A small next-token model with every kind of parameter (matrix, bias, LayerNorm) and dropout."""

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.ln = nn.LayerNorm(config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.n_embd, config.vocab_size)

    def forward(self, x, y=None):
        logits = self.out(self.drop(self.ln(self.emb(x))))              # (B, T, V)
        loss = None if y is None else nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        return logits, loss


def _stream(n=2000, V=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    # a stream with structure to learn: mostly +1 mod V, sometimes random
    data = torch.zeros(n, dtype=torch.long)
    noise = torch.randint(V, (n,), generator=g)
    jump = torch.rand(n, generator=g) < 0.2
    for i in range(1, n):
        data[i] = noise[i] if jump[i] else (data[i - 1] + 1) % V
    return data[:1800], data[1800:]


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return TinyLM(TinyConfig(**kw))


CFG = dict(max_iters=30, batch_size=4, lr=1e-2, min_lr=1e-3, warmup_iters=5, eval_interval=10, eval_iters=3,
           progress=False)


def _assert_warmup_then_cosine(lr_fn):
    """lr 1.0, min_lr 0.1, 10 warm-up steps, decay over steps 10..100: the values a cosine gives and a line does not."""
    cfg = TrainConfig(max_iters=100, lr=1.0, min_lr=0.1, warmup_iters=10)
    lrs = [lr_fn(s, cfg) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[4] == pytest.approx(0.5) and lrs[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))                 # rising during warm-up
    assert all(a >= b for a, b in zip(lrs[10:100], lrs[11:101]))           # then never rising
    # the cosine 0.1 + 0.45 (1 + cos(pi (s - 10) / 90)) at a tenth, a quarter and three quarters of the
    # way down; a straight line from 1.0 to 0.1 gives 0.910, 0.780 and 0.330 at those steps
    assert [round(lrs[s], 4) for s in (19, 32, 77)] == [0.978, 0.8737, 0.2374]
    assert lrs[100] == lrs[119] == pytest.approx(0.1)


def test_schedule_warmup_then_cosine():
    _assert_warmup_then_cosine(lr_at)


def test_the_schedule_test_refuses_a_linear_decay():
    """At the midpoint a linear decay equals the cosine; the test above checks where they differ."""
    def linear(step, cfg):
        if step < cfg.warmup_iters:
            return cfg.lr * (step + 1) / cfg.warmup_iters
        if step >= cfg.decay_end:
            return cfg.min_lr
        return cfg.lr - (cfg.lr - cfg.min_lr) * (step - cfg.warmup_iters) / (cfg.decay_end - cfg.warmup_iters)

    cfg = TrainConfig(max_iters=100, lr=1.0, min_lr=0.1, warmup_iters=10)
    assert linear(55, cfg) == pytest.approx(lr_at(55, cfg))               # the midpoint cannot tell them apart
    with pytest.raises(AssertionError):
        _assert_warmup_then_cosine(linear)


def test_weight_decay_on_matrices_only():
    model = _model()
    opt = make_optimizer(model, TrainConfig(weight_decay=0.3))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.ndim >= 2), name
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_decoupled_decay_matches_torch_adamw_by_hand():
    # one step with zero gradient: AdamW only shrinks the decayed matrices, by lr * wd
    model = _model()
    cfg = TrainConfig(lr=0.1, weight_decay=0.5)
    opt = make_optimizer(model, cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        expected = before[n] * (1 - 0.1 * 0.5) if p.ndim >= 2 else before[n]
        torch.testing.assert_close(p.detach(), expected)


def test_training_lowers_the_loss_and_records_history():
    train_data, val_data = _stream()
    model = _model()
    h = train(model, train_data, val_data, TrainConfig(**{**CFG, "max_iters": 60}))
    assert h.steps == list(range(60)) and len(h.train_loss) == 60 and len(h.lr) == 60
    assert h.eval_steps == [0, 10, 20, 30, 40, 50, 60]
    assert h.eval_val[-1] < h.eval_val[0] - 0.5
    assert h.tokens == 60 * 4 * 8 and h.tokens_per_sec > 0
    fig = plot_losses(h)
    assert len(fig.axes) == 1


def test_resume_gives_exactly_the_uninterrupted_losses(tmp_path):
    train_data, val_data = _stream()
    full = train(_model(), train_data, val_data, TrainConfig(**CFG))

    ckpt = tmp_path / "run.pt"
    first = train(_model(), train_data, val_data, TrainConfig(**CFG, checkpoint_path=str(ckpt)), stop_at=17)
    assert len(first.train_loss) == 17 and ckpt.is_file()
    # a fresh model with other weights and another global RNG: everything must come from the checkpoint
    torch.manual_seed(999)
    resumed = train(_model(seed=5), train_data, val_data, TrainConfig(**CFG, checkpoint_path=str(ckpt)),
                    resume_from=ckpt)
    assert resumed.steps == full.steps
    assert resumed.train_loss == full.train_loss           # exactly equal, dropout included
    assert resumed.eval_val == full.eval_val and resumed.lr == full.lr


def test_checkpoint_from_another_config_is_refused(tmp_path):
    ckpt = save_checkpoint(tmp_path / "a.pt", _model(n_embd=16))
    with pytest.raises(ValueError, match=r"n_embd: checkpoint 16 vs model 32"):
        load_checkpoint(ckpt, _model(n_embd=32))
    with pytest.raises(ValueError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", _model())


def test_loading_leaves_the_callers_random_state_alone_unless_asked(tmp_path):
    import random

    import numpy as np
    saved, loaded, resumed = _model(), _model(), _model()          # built first: _model() seeds torch itself

    def seed(n):
        torch.manual_seed(n); np.random.seed(n); random.seed(n)

    def draws():
        return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]

    seed(123)
    ckpt = save_checkpoint(tmp_path / "m.pt", saved)               # stores the random state seeded with 123
    seed(123)
    at_save = draws()
    seed(7)
    expected = draws()                                              # what seed 7 gives without a load
    seed(7)
    load_checkpoint(ckpt, loaded)
    assert draws() == expected                                      # loading did not reset the caller's state
    seed(7)
    load_checkpoint(ckpt, resumed, restore_rng=True)               # resuming training asks for it
    assert draws() == at_save


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model = _model()
    ckpt = save_checkpoint(tmp_path / "sub" / "m.pt", model, step=7, history=History(steps=[1], train_loss=[2.0]))
    payload = torch.load(ckpt, weights_only=True)            # only plain data inside
    assert payload["step"] == 7
    other = _model(seed=3)
    out = load_checkpoint(ckpt, other)
    assert out["history"]["train_loss"] == [2.0]
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)


def test_failed_save_leaves_the_old_checkpoint_untouched(tmp_path, monkeypatch):
    path = tmp_path / "keep.pt"
    save_checkpoint(path, _model(), step=1)
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _model(seed=9), step=2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]     # no temp file left behind


@pytest.mark.parametrize("kwargs, words", [
    (dict(max_iters=0), "max_iters"),
    (dict(lr=1e-3, min_lr=1e-2), "min_lr"),
    (dict(grad_clip=0.0), "grad_clip"),
    (dict(betas=(0.9, 1.5)), "betas"),
    (dict(warmup_iters=-1), "warmup_iters"),
    (dict(max_iters=50, warmup_iters=100), "warmup_iters <= max_iters"),
    (dict(max_iters=50, warmup_iters=10, lr_decay_iters=5), "lr_decay_iters"),
])
def test_bad_config_is_a_value_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**kwargs)


def test_bad_data_is_a_value_error():
    with pytest.raises(ValueError, match="1-D stream of integer token ids"):
        train(_model(), torch.zeros(5, 5, dtype=torch.long), torch.zeros(100, dtype=torch.long), TrainConfig(**CFG))
