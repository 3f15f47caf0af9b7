"""Attention, from one query to many heads (chapters 04 and 05).

    w = softmax(scores)                                   # numerically stable, any axis
    causal_mask(T)                                        # (T, T) bool, True = may attend
    padding_mask(lengths, T)                              # (B, T) bool, True = a real token
    out, w = scaled_dot_product_attention(q, k, v, mask)  # softmax(q k^T / sqrt(d_k)) v
    mha = MultiHeadAttention(d_model=64, n_heads=4)       # h heads in parallel, then W^O
    out = chunked_attention(q, k, v, chunk_size=256)      # same numbers, memory linear in T

Mask conventions (the same as ``torch.nn.functional.scaled_dot_product_attention``):

* a **boolean** ``mask`` / ``attn_mask`` is True where a query MAY look at a key;
* a **float** mask is ADDED to the scores (0 = allowed, ``-inf`` = forbidden);
* ``MultiHeadAttention``'s ``key_padding_mask`` is the exception, kept as in
  ``torch.nn.MultiheadAttention``: True marks a PADDING key, one that nobody may look at.
  ``~padding_mask(lengths, T)`` turns our "real token" mask into it.
"""
from __future__ import annotations

import math
import re
import sys
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["softmax", "causal_mask", "padding_mask", "scaled_dot_product_attention",
           "MultiHeadAttention", "chunked_attention", "peak_memory"]


# ----------------------------------------------------------------------------- validation

def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _require_float(x: object, name: str, fn: str, min_ndim: int = 0) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{fn} expected {name} to be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{fn} expected a floating-point {name} (e.g. torch.float32), got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{fn} expected {name} with at least {min_ndim} dimensions, got shape {_shape(x)}")
    return x


def _check_qkv(q: object, k: object, v: object, fn: str) -> None:
    """q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v): same leading dims, same dtype."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        _require_float(x, name, fn, min_ndim=2)
    if not (q.ndim == k.ndim == v.ndim):
        raise ValueError(f"{fn} expected q, k, v with the same number of dimensions, got shapes "
                         f"q {_shape(q)}, k {_shape(k)}, v {_shape(v)}")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(f"{fn} expected q, k, v with the same leading (batch, head) dimensions, got "
                         f"q {_shape(q)}, k {_shape(k)}, v {_shape(v)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{fn} expected q (..., Tq, d_k) and k (..., Tk, d_k) to share d_k, got "
                         f"q {_shape(q)} and k {_shape(k)}: q @ k^T would not multiply")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{fn} expected one value per key: k (..., Tk, d_k) and v (..., Tk, d_v) with the "
                         f"same Tk, got k {_shape(k)} and v {_shape(v)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"{fn} expected q, k, v of one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")


def _check_mask(mask: object, target: tuple[int, ...], fn: str, name: str = "mask") -> torch.Tensor:
    """A mask ends in (Tq, Tk) or (1, Tk); every other dim is 1 or equal to the target's."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{fn} expected {name} to be a torch.Tensor (bool or float), got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(f"{fn} expected a boolean {name} (True = may attend) or a float {name} (added to the "
                         f"scores), got dtype {mask.dtype}")
    if mask.ndim < 2 or mask.ndim > len(target) or mask.shape[-1] != target[-1] or mask.shape[-2] not in (1, target[-2]):
        raise ValueError(f"{fn} expected {name} of shape (Tq, Tk) = {target[-2:]} (or (1, Tk): the same for every "
                         f"query), optionally with leading dims broadcastable to {target[:-2]}, got {_shape(mask)}")
    lead, want = _shape(mask)[:-2], target[len(target) - mask.ndim:-2]
    if any(m not in (1, w) for m, w in zip(lead, want)):
        raise ValueError(f"{fn} expected {name} whose leading dims are 1 or match {want}, got {_shape(mask)} "
                         f"for scores of shape {target}")
    return mask


def _as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean (True = allowed) -> float with 0 where allowed and -inf where forbidden."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))
    return mask.to(dtype)


def _combine(a: torch.Tensor | None, b: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Both masks must allow a position: AND for booleans, a sum for additive masks."""
    if a is None or b is None:
        return a if b is None else b
    if a.dtype == torch.bool and b.dtype == torch.bool:
        return a & b
    return _as_additive(a, dtype) + _as_additive(b, dtype)


# ----------------------------------------------------------------------------- building blocks

def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), with m = max_j x_j.

    Subtracting the row maximum changes nothing mathematically (it cancels) but keeps
    every exp() in (0, 1], so scores of 1000 do not overflow to inf/inf = nan.
    A row that is entirely -inf (nothing allowed) gives nan, as ``torch.softmax`` does.
    """
    x = _require_float(x, "x", "softmax", min_ndim=1)
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"softmax expected dim in [{-x.ndim}, {x.ndim}) for a tensor of shape {_shape(x)}, got {dim}")
    m = x.amax(dim=dim, keepdim=True).detach()   # a constant shift: no gradient flows through it
    e = torch.exp(x - m)                          # every entry in [0, 1]
    return e / e.sum(dim=dim, keepdim=True)


def causal_mask(T: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) boolean mask, True on and below the diagonal: position i may look at j <= i only."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"causal_mask expected a positive integer length T, got {T!r}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor | list[int], T: int) -> torch.Tensor:
    """(B, T) boolean mask, True for the first lengths[b] positions of row b (the real tokens)."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"padding_mask expected a positive integer length T, got {T!r}")
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"padding_mask expected a 1-D sequence of integer lengths (B,), got shape "
                         f"{_shape(lengths)} and dtype {lengths.dtype}")
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > T):
        raise ValueError(f"padding_mask expected lengths in [0, {T}], got min {int(lengths.min())} "
                         f"and max {int(lengths.max())}")
    positions = torch.arange(T, device=lengths.device)   # (T,)
    return positions[None, :] < lengths[:, None]          # (B, T)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    need_weights: bool = True,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V.

    q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v) -> output (..., Tq, d_v), weights (..., Tq, Tk).
    The leading dims ``...`` (batch, heads) are the same for q, k and v.

    ``mask`` is boolean (True = the query may attend to the key) or float (added to the
    scores), of shape (Tq, Tk) with optional leading dims of size 1 or matching q's.
    ``is_causal`` forbids key j for query i when j > i (top-left aligned, like torch).
    ``dropout_p`` drops attention weights at random (use it only while training).
    With ``need_weights=False`` the fused ``torch.nn.functional.scaled_dot_product_attention``
    computes the same output faster and ``None`` is returned for the weights.
    ``scale`` replaces 1/sqrt(d_k) when given.
    """
    fn = "scaled_dot_product_attention"
    _check_qkv(q, k, v, fn)
    Tq, Tk, d_k = q.shape[-2], k.shape[-2], q.shape[-1]
    score_shape = _shape(q)[:-1] + (Tk,)
    if mask is not None:
        _check_mask(mask, score_shape, fn)
    if not 0.0 <= float(dropout_p) < 1.0:
        raise ValueError(f"{fn} expected dropout_p in [0, 1), got {dropout_p}")
    scale = 1.0 / math.sqrt(d_k) if scale is None else float(scale)
    if not need_weights and is_causal and mask is None and Tq == Tk:
        # the fused kernel builds the causal pattern itself (and skips the masked blocks)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=float(dropout_p), is_causal=True, scale=scale)
        return out, None
    if is_causal:
        mask = _combine(mask, causal_mask_rect(Tq, Tk, device=q.device), q.dtype)

    if not need_weights:  # the fused kernel: same maths, no (Tq, Tk) matrix handed back
        if mask is not None and mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=float(dropout_p), scale=scale)
        return out, None

    scores = (q @ k.transpose(-2, -1)) * scale              # (..., Tq, Tk)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.to(scores.dtype)
    # torch.softmax is the fused kernel of the same max-subtracting formula as softmax() above
    # (tests/test_attention.py proves them equal); its backward is one pass instead of five ops.
    weights = torch.softmax(scores, dim=-1)                 # (..., Tq, Tk) each row sums to 1
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=float(dropout_p))
    return weights @ v, weights                             # (..., Tq, d_v), (..., Tq, Tk)


def causal_mask_rect(Tq: int, Tk: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """(Tq, Tk) boolean mask, True where key j <= query i (torch's ``is_causal`` alignment)."""
    return torch.ones(Tq, Tk, dtype=torch.bool, device=device).tril()


# ----------------------------------------------------------------------------- multi-head attention

class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W^Q_i, K W^K_i, V W^V_i).

    Each of the h heads works in d_head = d_model / h dimensions, so h heads cost about
    as much as one full-width head. Inputs are batch-first (B, T, d_model).

    ``kdim`` / ``vdim`` are the feature sizes of key and value inputs when they differ
    from ``d_model`` (cross-attention to another model's states).

    forward(query, key=None, value=None, *, key_padding_mask=None, attn_mask=None,
            is_causal=False, need_weights=True) -> (output (B, Tq, d_model), weights (B, H, Tq, Tk) or None)

    * key and value default to query: self-attention.
    * key_padding_mask (B, Tk) bool: True marks a PADDING key (torch.nn.MultiheadAttention's
      convention). Build it as ``~padding_mask(lengths, Tk)``.
    * attn_mask: bool with True = ALLOWED (like ``causal_mask``), or float added to the scores;
      shape (Tq, Tk), (B, 1, Tq, Tk), (B, H, Tq, Tk) or (B, 1, 1, Tk).
    * weights are per head; ``weights.mean(1)`` is what torch returns with average_attn_weights=True.
    """

    def __init__(self, d_model: int, n_heads: int, *, bias: bool = True, kdim: int | None = None,
                 vdim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        for name, val in (("d_model", d_model), ("n_heads", n_heads)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"MultiHeadAttention expected a positive integer {name}, got {val!r}")
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention expected d_model divisible by n_heads, got d_model={d_model} "
                             f"and n_heads={n_heads} (d_model / n_heads = {d_model / n_heads:g})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention expected dropout in [0, 1), got {dropout}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.kdim, self.vdim = kdim or d_model, vdim or d_model
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)     # W^Q for all heads side by side
        self.k_proj = nn.Linear(self.kdim, d_model, bias=bias)   # W^K
        self.v_proj = nn.Linear(self.vdim, d_model, bias=bias)   # W^V
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)   # W^O

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, H, T, d_head): each head gets its own slice of the features."""
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, T, d_head) -> (B, T, d_model): concatenate the heads again."""
        B, H, T, d = x.shape
        return x.transpose(1, 2).reshape(B, T, H * d)

    def _check_input(self, x: object, name: str, features: int) -> torch.Tensor:
        x = _require_float(x, name, "MultiHeadAttention", min_ndim=0)
        if x.ndim != 3 or x.shape[-1] != features:
            raise ValueError(f"MultiHeadAttention expected {name} of shape (B, T, {features}) (batch first), "
                             f"got {_shape(x)}")
        return x

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                *, key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                is_causal: bool = False, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = query if key is None else key
        value = key if value is None else value
        query = self._check_input(query, "query", self.d_model)
        key = self._check_input(key, "key", self.kdim)
        value = self._check_input(value, "value", self.vdim)
        B, Tq, _ = query.shape
        Tk = key.shape[1]
        if key.shape[:2] != value.shape[:2] or key.shape[0] != B:
            raise ValueError(f"MultiHeadAttention expected key (B, Tk, kdim) and value (B, Tk, vdim) with the same "
                             f"B and Tk as each other and B as the query, got query {_shape(query)}, "
                             f"key {_shape(key)}, value {_shape(value)}")
        score_shape = (B, self.n_heads, Tq, Tk)
        mask = None
        if attn_mask is not None:
            mask = _check_mask(attn_mask, score_shape, "MultiHeadAttention", "attn_mask")
        if key_padding_mask is not None:
            if not isinstance(key_padding_mask, torch.Tensor) or key_padding_mask.dtype != torch.bool \
                    or _shape(key_padding_mask) != (B, Tk):
                got = (f"{_shape(key_padding_mask)} {key_padding_mask.dtype}"
                       if isinstance(key_padding_mask, torch.Tensor) else type(key_padding_mask).__name__)
                raise ValueError(f"MultiHeadAttention expected key_padding_mask as a bool tensor of shape "
                                 f"(B, Tk) = {(B, Tk)} with True = padding, got {got}")
            allowed = ~key_padding_mask[:, None, None, :]                  # (B, 1, 1, Tk)
            mask = _combine(mask, allowed.expand(B, 1, Tq, Tk), query.dtype)

        q = self.split_heads(self.q_proj(query))     # (B, H, Tq, d_head)
        k = self.split_heads(self.k_proj(key))       # (B, H, Tk, d_head)
        v = self.split_heads(self.v_proj(value))     # (B, H, Tk, d_head)
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0,
            need_weights=need_weights)               # (B, H, Tq, d_head), (B, H, Tq, Tk)
        return self.out_proj(self.merge_heads(out)), weights   # (B, Tq, d_model)

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """Copy the parameters of a ``torch.nn.MultiheadAttention`` of the same sizes into this module.

        torch keeps W^Q, W^K, W^V stacked in one ``in_proj_weight`` (3 d_model, d_model) when
        key and value have d_model features, and separately otherwise; the biases are stacked.
        """
        if (mha.embed_dim, mha.num_heads, mha.kdim, mha.vdim) != (self.d_model, self.n_heads, self.kdim, self.vdim):
            raise ValueError(f"load_torch_weights expected a torch MultiheadAttention with (embed_dim, num_heads, "
                             f"kdim, vdim) = {(self.d_model, self.n_heads, self.kdim, self.vdim)}, got "
                             f"{(mha.embed_dim, mha.num_heads, mha.kdim, mha.vdim)}")
        if (mha.in_proj_bias is None) != (self.q_proj.bias is None) or mha.bias_k is not None:
            raise ValueError("load_torch_weights expected the same bias setting on both modules (and no add_bias_kv)")
        if mha.in_proj_weight is not None:
            wq, wk, wv = mha.in_proj_weight.chunk(3, dim=0)
        else:
            wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
        for lin, w in ((self.q_proj, wq), (self.k_proj, wk), (self.v_proj, wv)):
            lin.weight.copy_(w)
        if mha.in_proj_bias is not None:
            for lin, b in zip((self.q_proj, self.k_proj, self.v_proj), mha.in_proj_bias.chunk(3)):
                lin.bias.copy_(b)
            self.out_proj.bias.copy_(mha.out_proj.bias)
        self.out_proj.weight.copy_(mha.out_proj.weight)
        return self


# ----------------------------------------------------------------------------- chunked (online-softmax) attention

def chunked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, chunk_size: int,
                      is_causal: bool = False, scale: float | None = None) -> torch.Tensor:
    """Exact attention computed over key chunks with an online softmax (the FlashAttention idea).

    For each chunk c of keys, with running row maximum m, running denominator l and
    running (unnormalised) output o:

        s     = q k_c^T / sqrt(d_k)                       # (..., Tq, chunk)
        m'    = max(m, rowmax(s))
        l     = l * exp(m - m') + rowsum(exp(s - m'))
        o     = o * exp(m - m') + exp(s - m') v_c
        m     = m'
    and finally output = o / l. Only a (Tq, chunk) block of scores exists at a time, so
    the extra memory grows linearly with the sequence length, not quadratically.
    q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v) -> (..., Tq, d_v).
    """
    fn = "chunked_attention"
    _check_qkv(q, k, v, fn)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{fn} expected a positive integer chunk_size, got {chunk_size!r}")
    Tq, Tk, d_k = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(d_k) if scale is None else float(scale)
    lead = _shape(q)[:-2]
    m = torch.full(lead + (Tq, 1), float("-inf"), dtype=q.dtype, device=q.device)  # (..., Tq, 1)
    l = torch.zeros(lead + (Tq, 1), dtype=q.dtype, device=q.device)                 # (..., Tq, 1)
    o = torch.zeros(lead + (Tq, v.shape[-1]), dtype=q.dtype, device=q.device)       # (..., Tq, d_v)
    q_pos = torch.arange(Tq, device=q.device)[:, None]                              # (Tq, 1)
    for start in range(0, Tk, chunk_size):
        if is_causal and start > Tq - 1:
            break                                    # every later key is in every query's future
        stop = min(start + chunk_size, Tk)
        s = (q @ k[..., start:stop, :].transpose(-2, -1)) * scale                   # (..., Tq, c)
        if is_causal:
            k_pos = torch.arange(start, stop, device=q.device)[None, :]             # (1, c)
            s = s.masked_fill(k_pos > q_pos, float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))                      # (..., Tq, 1)
        m_safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))  # rows with nothing yet
        rescale = torch.exp(m - m_safe)                                             # exp(-inf) = 0 at start
        p = torch.exp(s - m_safe)                                                   # (..., Tq, c)
        l = l * rescale + p.sum(dim=-1, keepdim=True)
        o = o * rescale + p @ v[..., start:stop, :]
        m = m_new
        del s, p
    return o / l


# ----------------------------------------------------------------------------- measuring memory

def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    if match is None:  # pragma: no cover - every Linux kernel has these fields
        raise RuntimeError(f"/proc/self/status has no {field} line")
    return int(match.group(1))


def peak_memory(fn: Callable[[], object]) -> int:
    """Bytes of resident memory that ``fn()`` needed on top of what was in use before it ran (Linux only).

    How: make glibc hand big blocks straight back to the system (a fixed mmap threshold) and
    release the free pages it still holds (``malloc_trim``), reset the kernel's high-water mark of resident memory (``/proc/self/clear_refs``),
    call ``fn``, then read the high-water mark (VmHWM) and subtract the resident size
    before the call. torch's CPU allocator does not cache, so every tensor ``fn``
    creates is in that difference; the result is exact to a few pages.
    """
    if not sys.platform.startswith("linux"):
        raise RuntimeError("peak_memory reads /proc/self and works on Linux only")
    import ctypes
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: new blocks >= 128 KiB come from (and go back to) mmap
        libc.malloc_trim(0)           # give freed heap pages back, so reusing them shows up as new pages
    except (OSError, AttributeError):  # pragma: no cover - musl and friends return big blocks anyway
        pass
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                         # reset VmHWM to the current RSS
    result = fn()
    peak = _rss_kib("VmHWM")
    del result
    return max(0, peak - before) * 1024
