"""course_lib.losses against torch.nn.functional.cross_entropy and autograd."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.losses import (cross_entropy, cross_entropy_grad, log_softmax, perplexity, softmax,
                               smoothed_targets)


def _data(B=3, T=5, V=7, seed=0, ignore_frac=0.3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g, dtype=dtype) * 3
    targets = torch.randint(V, (B, T), generator=g)
    drop = torch.rand(B, T, generator=g) < ignore_frac
    return logits, targets, drop


def _torch_ce(logits, targets, **kw):
    """torch wants classes on axis 1: flatten (B, T, V) -> (B*T, V) and reshape back for 'none'."""
    V = logits.shape[-1]
    out = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), **kw)
    return out.reshape(targets.shape) if kw.get("reduction") == "none" else out


def test_log_softmax_matches_torch():
    x = torch.randn(4, 6, 11, dtype=torch.float64)
    torch.testing.assert_close(log_softmax(x), torch.log_softmax(x, dim=-1))
    torch.testing.assert_close(log_softmax(x, dim=1), torch.log_softmax(x, dim=1))
    torch.testing.assert_close(softmax(x).sum(-1), torch.ones(4, 6, dtype=torch.float64))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("use_ignore", [False, True])
def test_cross_entropy_matches_torch(reduction, label_smoothing, use_ignore):
    logits, targets, drop = _data()
    ignore_index = -100
    if use_ignore:
        targets = targets.masked_fill(drop, ignore_index)
        assert drop.any() and not drop.all()
    ours = cross_entropy(logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing,
                         reduction=reduction)
    ref = _torch_ce(logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing,
                    reduction=reduction)
    torch.testing.assert_close(ours, ref)


def test_custom_ignore_index_is_a_real_class_id():
    # ignoring class 0 (a padding id inside the vocabulary), as a tokenizer with <pad>=0 would
    logits, targets, _ = _data(seed=3)
    assert (targets == 0).any()
    torch.testing.assert_close(cross_entropy(logits, targets, ignore_index=0),
                               _torch_ce(logits, targets, ignore_index=0))


def test_all_ignored_mean_is_nan_like_torch():
    logits = torch.randn(2, 3, 5)
    targets = torch.full((2, 3), -100)
    assert torch.isnan(cross_entropy(logits, targets)) and torch.isnan(_torch_ce(logits, targets))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_analytic_gradient_equals_autograd(reduction, label_smoothing):
    logits, targets, drop = _data(seed=1)
    targets = targets.masked_fill(drop, -100)
    x = logits.clone().requires_grad_(True)
    loss = cross_entropy(x, targets, label_smoothing=label_smoothing, reduction=reduction)
    loss.sum().backward()
    ours = cross_entropy_grad(logits, targets, label_smoothing=label_smoothing, reduction=reduction)
    torch.testing.assert_close(ours, x.grad)
    # and torch's own autograd of its own loss agrees too
    y = logits.clone().requires_grad_(True)
    _torch_ce(y, targets, label_smoothing=label_smoothing, reduction=reduction).sum().backward()
    torch.testing.assert_close(ours, y.grad)


def test_gradient_rows_sum_to_zero_and_match_finite_differences():
    logits, targets, _ = _data(B=1, T=2, V=4, seed=5)
    g = cross_entropy_grad(logits, targets)
    torch.testing.assert_close(g.sum(-1), torch.zeros(1, 2, dtype=torch.float64))
    eps = 1e-6
    for idx in [(0, 0, 1), (0, 1, 3)]:
        plus, minus = logits.clone(), logits.clone()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (cross_entropy(plus, targets) - cross_entropy(minus, targets)) / (2 * eps)
        assert abs(fd.item() - g[idx].item()) < 1e-7


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_stable_for_huge_logits(scale):
    logits = torch.tensor([[scale, 0.0, -scale], [0.5 * scale, scale, 0.0]], dtype=torch.float32)
    targets = torch.tensor([1, 0])
    ours = cross_entropy(logits, targets, reduction="none")
    ref = F.cross_entropy(logits, targets, reduction="none")
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref)
    g = cross_entropy_grad(logits, targets)
    assert torch.isfinite(g).all()
    # the naive formula overflows: exp(1e4) is inf in float32 (and in float64)
    naive = torch.log(torch.exp(logits) / torch.exp(logits).sum(-1, keepdim=True))
    assert not torch.isfinite(naive).all()


def test_loss_at_uniform_logits_is_ln_v_and_perplexity_v():
    V = 77
    logits = torch.zeros(4, 9, V)
    targets = torch.randint(V, (4, 9))
    loss = cross_entropy(logits, targets)
    assert abs(loss.item() - math.log(V)) < 1e-6
    assert abs(perplexity(loss.item()) - V) < 1e-4
    torch.testing.assert_close(perplexity(loss), torch.tensor(float(V)))


def test_smoothed_targets_rows_sum_to_one():
    q = smoothed_targets(torch.tensor([0, 2]), 4, 0.2)
    torch.testing.assert_close(q.sum(-1), torch.ones(2))
    torch.testing.assert_close(q[0], torch.tensor([0.85, 0.05, 0.05, 0.05]))


@pytest.mark.parametrize("kwargs, words", [
    (dict(logits=torch.randn(3, 5), targets=torch.zeros(4, dtype=torch.long)), "shape (3,)"),
    (dict(logits=torch.randn(3, 5), targets=torch.zeros(3)), "integer class ids"),
    (dict(logits=torch.randn(3, 5), targets=torch.tensor([0, 5, 1])), "[0, 5)"),
    (dict(logits=torch.randn(3, 5), targets=torch.tensor([0, -3, 1])), "got -3"),
    (dict(logits=torch.randint(5, (3, 5)), targets=torch.zeros(3, dtype=torch.long)), "floating-point"),
    (dict(logits=torch.randn(3, 5), targets=torch.zeros(3, dtype=torch.long), label_smoothing=1.5), "label_smoothing"),
    (dict(logits=torch.randn(3, 5), targets=torch.zeros(3, dtype=torch.long), reduction="avg"), "reduction"),
    (dict(logits=[[0.0, 1.0]], targets=torch.zeros(1, dtype=torch.long)), "torch.Tensor"),
])
def test_bad_input_gets_clear_value_error(kwargs, words):
    with pytest.raises(ValueError, match=None) as err:
        cross_entropy(**kwargs)
    assert words in str(err.value)


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 6), V=st.integers(2, 9), extra=st.integers(1, 3))
def test_property_wrong_target_length_always_rejected(N, V, extra):
    with pytest.raises(ValueError, match="expected targets of shape"):
        cross_entropy(torch.randn(N, V), torch.zeros(N + extra, dtype=torch.long))


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 6), V=st.integers(2, 9), seed=st.integers(0, 10_000),
       eps=st.floats(0.0, 1.0))
def test_property_matches_torch(N, V, seed, eps):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, V, generator=g, dtype=torch.float64) * 5
    targets = torch.randint(V, (N,), generator=g)
    torch.testing.assert_close(cross_entropy(logits, targets, label_smoothing=eps),
                               F.cross_entropy(logits, targets, label_smoothing=eps))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_any_integer_dtype_of_targets_is_accepted(dtype):
    """One rule with GPT.forward (course_lib._validate.class_ids): any integer ids, not only torch.long."""
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 5, 2, 3])
    ref = F.cross_entropy(logits, targets)
    torch.testing.assert_close(cross_entropy(logits, targets.to(dtype)), ref)
    torch.testing.assert_close(cross_entropy_grad(logits, targets.to(dtype)), cross_entropy_grad(logits, targets))
