"""Input checks shared by every module (private: chapters never import it).

Each function either returns the (possibly converted) value or raises a ``ValueError``
whose sentence names the function that was called, what it expected and what arrived:
a learner's mistake gets a sentence that teaches, not a stack trace deep in torch.

    positive_int(value, name, fn)            an int >= 1 (bools refused)
    non_negative_int(value, name, fn)        an int >= 0
    probability(value, name, fn)             a float in [0, 1]
    text(value, fn)                          a str (bytes refused, with a hint)
    float_tensor(x, name, fn, min_ndim=0)    a floating-point torch.Tensor
    class_ids(targets, logits, ignore_index, fn)   integer targets of shape logits.shape[:-1], ids in range
    token_ids(idx, vocab_size, fn)           integer (B, T) token ids in [0, vocab_size)
    to_numpy(x)                              tensors (any device, bfloat16 too) and array-likes -> np.ndarray
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def positive_int(value: object, name: str, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn} expected {name} to be an integer >= 1, got {value!r}")
    return int(value)


def non_negative_int(value: object, name: str, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{fn} expected {name} to be an integer >= 0, got {value!r}")
    return int(value)


def probability(value: object, name: str, fn: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{fn} expected {name} to be a number in [0, 1], got {value!r}")
    return float(value)


def text(value: object, fn: str, name: str = "text") -> str:
    if isinstance(value, (bytes, bytearray)):
        raise ValueError(f"{fn} expected {name} as a str, got {type(value).__name__}; decode it first "
                         f"(e.g. data.decode('utf-8'))")
    if not isinstance(value, str):
        raise ValueError(f"{fn} expected {name} as a str, got {type(value).__name__}")
    return value


def float_tensor(x: object, name: str, fn: str, min_ndim: int = 0) -> Any:
    import torch

    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{fn} expected {name} to be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{fn} expected a floating-point {name} (e.g. torch.float32), got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{fn} expected {name} with at least {min_ndim} dimensions, got shape {_shape(x)}")
    return x


def class_ids(targets: object, logits: Any, ignore_index: int, fn: str) -> Any:
    """Integer class ids (any integer dtype; torch.long is what torch's kernels take) of shape
    ``logits.shape[:-1]``, each in [0, V) or equal to ``ignore_index``."""
    import torch

    if not isinstance(targets, torch.Tensor):
        raise ValueError(f"{fn} expected targets to be a torch.Tensor of class ids, got {type(targets).__name__}")
    if targets.is_floating_point() or targets.dtype == torch.bool or targets.is_complex():
        raise ValueError(f"{fn} expected integer class ids as targets (torch.long), got dtype {targets.dtype}")
    if tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"{fn} expected targets of shape {tuple(logits.shape[:-1])} (logits shape {tuple(logits.shape)} "
            f"without its last, class axis), got {tuple(targets.shape)}")
    V = logits.shape[-1]
    real = targets[targets != ignore_index]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= V):
        bad = real[(real < 0) | (real >= V)][0].item()
        raise ValueError(f"{fn} expected target ids in [0, {V}) (or ignore_index={ignore_index}), got {bad}")
    return targets


_NUMPY_FLOATS = ("torch.float16", "torch.float32", "torch.float64")


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (detached, moved to the CPU; bfloat16/float8 widened to float32) or anything
    ``np.asarray`` takes, as a NumPy array."""
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.is_floating_point() and str(x.dtype) not in _NUMPY_FLOATS:  # numpy has no bfloat16
            x = x.float()
        return x.numpy()
    return np.asarray(x)


@contextmanager
def torch_threads(threads: int | None, fn: str = "torch_threads") -> Iterator[None]:
    """Run a block with torch using ``threads`` intra-op threads (None: unchanged), then restore."""
    import torch

    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(positive_int(threads, "threads", fn))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def progress(total: int, enabled: bool, desc: str = "epochs") -> Callable[[int, float], None]:
    """A tiny progress reporter: ``update(epoch, loss)`` moves a tqdm bar (nothing when disabled)."""
    if not enabled:
        return lambda epoch, loss: None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return lambda epoch, loss: print(f"epoch {epoch + 1}/{total}: loss {loss:.4f}")
    bar = tqdm(total=total, desc=desc, leave=False)

    def update(epoch: int, loss: float) -> None:
        bar.set_postfix(loss=f"{loss:.4f}")
        bar.update(1)
        if epoch + 1 == total:
            bar.close()

    return update


def token_ids(idx: object, vocab_size: int | None, fn: str) -> Any:
    """Integer token ids of shape (B, T), each in [0, vocab_size) (unchecked when vocab_size is None)."""
    import torch

    if not isinstance(idx, torch.Tensor):
        raise ValueError(f"{fn} expected a torch.Tensor of token ids, got {type(idx).__name__}")
    if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"{fn} expected integer token ids, got dtype {idx.dtype}")
    if idx.ndim != 2:
        raise ValueError(f"{fn} expected token ids of shape (B, T), got shape {_shape(idx)}")
    if idx.numel() and vocab_size is not None:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{fn} expected token ids in [0, {vocab_size}) (the vocabulary), "
                             f"got {lo if lo < 0 else hi}")
    return idx
