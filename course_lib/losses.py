"""The loss of a language model: log-softmax, cross-entropy, its gradient, perplexity (chapter 07).

    logp = log_softmax(logits)                       # (..., V), stable for logits of +-1e4
    loss = cross_entropy(logits, targets)            # mean negative log-likelihood of the targets
    grad = cross_entropy_grad(logits, targets)       # d loss / d logits = (softmax - one_hot) / N
    perplexity(loss)                                 # exp(loss): "as unsure as a fair die with this many faces"

Classes sit on the LAST axis (the language-model convention: logits (B, T, V), targets (B, T)),
unlike ``torch.nn.functional.cross_entropy`` which wants them on axis 1. For 2-D logits (N, V)
the two agree, and the tests prove the numbers are the same.
"""
from __future__ import annotations

import math

import torch

from ._validate import class_ids, float_tensor

__all__ = ["log_softmax", "softmax", "cross_entropy", "cross_entropy_grad", "perplexity",
           "smoothed_targets"]

_REDUCTIONS = ("mean", "sum", "none")


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(x)_i = x_i - logsumexp(x), computed as (x_i - m) - log sum_j exp(x_j - m), m = max_j x_j.

    Subtracting the maximum changes nothing mathematically but keeps every exp() in (0, 1]:
    no overflow for logits of 1e4, no log(0) for logits of -1e4.
    """
    x = _require_float_tensor(x, "x", "log_softmax")
    m = x.amax(dim=dim, keepdim=True).detach()               # (..., 1) a constant: no gradient needed
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # rows of -inf stay -inf, not nan
    shifted = x - m                                           # (..., V) every entry <= 0
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j  (= exp(log_softmax(x)_i)).

    The course's one softmax (``course_lib.attention`` uses this one). Subtracting the maximum
    cancels mathematically but keeps every exp() in (0, 1]: scores of 1000 give no inf/inf = nan.
    A row that is entirely -inf (nothing allowed) gives nan, as ``torch.softmax`` does.
    """
    x = _require_float_tensor(x, "x", "softmax")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"softmax expected dim in [{-x.ndim}, {x.ndim}) for a tensor of shape "
                         f"{tuple(x.shape)}, got {dim}")
    m = x.amax(dim=dim, keepdim=True).detach()               # a constant shift: no gradient flows through it
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(x - m)                                      # every entry in [0, 1]
    return e / e.sum(dim=dim, keepdim=True)


def smoothed_targets(targets: torch.Tensor, num_classes: int, label_smoothing: float = 0.0,
                     *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """q = (1 - eps) * one_hot(y) + eps / V: the target distribution with label smoothing eps.

    ``targets`` (...) of ids in [0, V) -> q (..., V); each row sums to 1.
    """
    one_hot = torch.nn.functional.one_hot(targets.long(), num_classes).to(dtype)  # (..., V)
    return (1.0 - label_smoothing) * one_hot + label_smoothing / num_classes


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = -100,
                  label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy between the model's distribution and the targets, classes on the last axis.

    For one position with target y:  loss = -sum_i q_i log p_i,  p = softmax(logits),
    q = (1 - eps) one_hot(y) + eps / V.  With eps = 0 this is -log p_y, the negative log-likelihood.

    - ``logits`` (..., V) float, ``targets`` (...) integer ids in [0, V).
    - positions whose target equals ``ignore_index`` (padding) contribute 0 and are not counted.
    - ``reduction="mean"`` divides by the number of counted positions (nan if there are none, as torch),
      ``"sum"`` adds them up, ``"none"`` returns the loss of every position, shape (...).
    """
    fn = "cross_entropy"
    logits = _require_float_tensor(logits, "logits", fn)
    targets = class_ids(targets, logits, ignore_index, fn)
    _check_options(label_smoothing, reduction, fn)
    logp = log_softmax(logits, dim=-1)                        # (..., V)
    keep = targets != ignore_index                            # (...) True for real tokens
    safe = torch.where(keep, targets, torch.zeros_like(targets)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)    # (...) -log p_y
    if label_smoothing > 0:
        uniform = -logp.mean(dim=-1)                          # (...) -(1/V) sum_i log p_i
        per_position = (1.0 - label_smoothing) * nll + label_smoothing * uniform
    else:
        per_position = nll
    per_position = torch.where(keep, per_position, torch.zeros_like(per_position))
    if reduction == "none":
        return per_position
    total = per_position.sum()
    if reduction == "sum":
        return total
    return total / keep.sum()


def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = -100,
                       label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """The analytic gradient of :func:`cross_entropy` with respect to the logits.

    d loss / d logits = (softmax(logits) - q) / N   per counted position (q the smoothed one-hot),
    0 on ignored positions; N = number of counted positions for ``"mean"``, 1 for ``"sum"``.
    For ``"none"`` it is the gradient of the summed per-position losses (each row on its own).
    Returns a tensor shaped like ``logits``.
    """
    fn = "cross_entropy_grad"
    logits = _require_float_tensor(logits, "logits", fn)
    targets = class_ids(targets, logits, ignore_index, fn)
    _check_options(label_smoothing, reduction, fn)
    with torch.no_grad():
        V = logits.shape[-1]
        keep = targets != ignore_index                        # (...)
        safe = torch.where(keep, targets, torch.zeros_like(targets))
        q = smoothed_targets(safe, V, label_smoothing, dtype=logits.dtype)  # (..., V)
        grad = (softmax(logits, dim=-1) - q) * keep.unsqueeze(-1).to(logits.dtype)
        if reduction == "mean":
            grad = grad / keep.sum()
    return grad


def perplexity(loss: float | torch.Tensor) -> float | torch.Tensor:
    """Perplexity = exp(mean cross-entropy in nats): a uniform guess over V tokens scores exactly V."""
    if isinstance(loss, torch.Tensor):
        if not loss.is_floating_point():
            raise ValueError(f"perplexity expected a floating-point loss, got dtype {loss.dtype}")
        return torch.exp(loss)
    if isinstance(loss, bool) or not isinstance(loss, (int, float)):
        raise ValueError(f"perplexity expected a number (a mean cross-entropy in nats), got {type(loss).__name__}")
    return math.exp(loss)


# ----------------------------------------------------------------------------- input checks

def _require_float_tensor(x: object, name: str, fn: str) -> torch.Tensor:
    """A floating-point tensor with at least one axis (the classes)."""
    return float_tensor(x, name, fn, min_ndim=1)


def _check_options(label_smoothing: float, reduction: str, fn: str) -> None:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"{fn} expected label_smoothing to be a number in [0, 1], got {label_smoothing!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn} expected reduction to be one of {_REDUCTIONS}, got {reduction!r}")
