"""Attention, from one query to many heads (chapters 04 and 05).

    w = softmax(scores)                                   # numerically stable, any axis (course_lib.losses)
    causal_mask(T)                                        # (T, T) bool, True = may attend
    padding_mask(lengths, T)                              # (B, T) bool, True = a real token
    out, w = scaled_dot_product_attention(q, k, v, mask)  # softmax(q k^T / sqrt(d_k) + M) v
    mha = MultiHeadAttention(d_model=64, n_heads=4)       # h heads in parallel, then W^O
    out = chunked_attention(q, k, v, chunk_size=256)      # same numbers, memory linear in T

Mask conventions, one per argument, each checked:

* ``mask`` / ``attn_mask`` **boolean**: True where a query MAY look at a key (like
  ``torch.nn.functional.scaled_dot_product_attention``; NOT like ``torch.nn.MultiheadAttention``'s
  ``attn_mask``, where True = forbidden);
* ``mask`` / ``attn_mask`` **float**: ADDED to the scores, 0 = allowed, ``-inf`` = forbidden
  (M in softmax(QK^T/sqrt(d_k) + M)). A float mask of only 0s and 1s (``torch.tril(torch.ones(T, T))``)
  would forbid nothing, so it is refused: pass it as ``.bool()``;
* ``key_padding_mask`` (B, Tk) boolean: True marks a PADDING key that nobody may look at
  (``torch.nn.MultiheadAttention``'s convention). ``~padding_mask(lengths, T)`` builds it.

Two mistakes that would silently give wrong numbers are refused with a sentence:

* a query row where every key is forbidden (softmax of a row of -inf is 0/0 = NaN), which is also
  what ``padding_mask()`` (True = real) passed as a ``key_padding_mask`` (True = padding) produces
  for the longest sentence of a batch;
* a 2-D mask when the batch size B equals the number of queries Tq: it could be a (B, Tk)
  key-padding mask or a (Tq, Tk) mask. Use ``key_padding_mask``, or give the mask a leading
  dim (``mask[None]``); the causal pattern itself (``causal_mask(T)`` or its KV-cache form
  ``tril(ones(Tq, Tk), diagonal=Tk - Tq)``) is taken as what it is.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate
from .losses import softmax

__all__ = ["softmax", "causal_mask", "padding_mask", "scaled_dot_product_attention",
           "MultiHeadAttention", "chunked_attention"]


# ----------------------------------------------------------------------------- masks

def causal_mask(T: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) boolean mask, True on and below the diagonal: position i may look at j <= i only."""
    T = _validate.positive_int(T, "the length T", "causal_mask")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def causal_mask_rect(Tq: int, Tk: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """(Tq, Tk) boolean mask, True where key j <= query i (torch's ``is_causal`` alignment)."""
    return torch.ones(Tq, Tk, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor | list[int], T: int) -> torch.Tensor:
    """(B, T) boolean mask, True for the first lengths[b] positions of row b (the REAL tokens).

    As a ``mask`` it goes in as ``padding_mask(lengths, T)[:, None, :]`` (B, 1, Tk): True = may attend;
    as a ``key_padding_mask`` (True = padding) it goes in inverted: ``~padding_mask(lengths, T)``.
    """
    T = _validate.positive_int(T, "the length T", "padding_mask")
    lengths = _check_lengths(lengths, T)
    positions = torch.arange(T, device=lengths.device)   # (T,)
    return positions[None, :] < lengths[:, None]          # (B, T)


# ----------------------------------------------------------------------------- scaled dot-product attention

def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    key_padding_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    need_weights: bool = True,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V.

    q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v) -> output (..., Tq, d_v), weights (..., Tq, Tk).
    The leading dims ``...`` (batch, heads) are the same for q, k and v.

    ``mask``: boolean (True = the query MAY attend to the key) or float (added to the scores:
    0 = allowed, -inf = forbidden), of shape (Tq, Tk) with optional leading dims of size 1 or
    matching q's. ``key_padding_mask``: (B, Tk) boolean, True = a PADDING key, B = q.shape[0].
    ``is_causal`` forbids key j for query i when j > i (top-left aligned, like torch).
    The masks combine (a key must be allowed by all); a query with no allowed key is an error.
    ``dropout_p`` drops attention weights at random (use it only while training).
    With ``need_weights=False`` the fused ``torch.nn.functional.scaled_dot_product_attention``
    computes the same output faster and ``None`` is returned for the weights.
    ``scale`` replaces 1/sqrt(d_k) when given.
    """
    return _attend(q, k, v, mask, key_padding_mask, is_causal=is_causal, dropout_p=dropout_p,
                   need_weights=need_weights, scale=scale, fn="scaled_dot_product_attention", mask_name="mask")


def _attend(q, k, v, mask, key_padding_mask, *, is_causal, dropout_p, need_weights, scale, fn, mask_name):
    _check_qkv(q, k, v, fn)
    dropout_p = _check_dropout(dropout_p, fn)
    Tq, Tk, d_k = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(d_k) if scale is None else float(scale)
    if not need_weights and is_causal and mask is None and key_padding_mask is None and Tq == Tk:
        # the fused kernel builds the causal pattern itself (and skips the masked blocks)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True, scale=scale), None
    mask = _combined_mask(q, Tk, mask, key_padding_mask, is_causal, fn, mask_name)  # None, bool or additive

    if not need_weights:  # the fused kernel: same maths, no (Tq, Tk) matrix handed back
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale), None

    scores = (q @ k.transpose(-2, -1)) * scale              # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    # torch.softmax is the fused kernel of the same max-subtracting formula as course_lib.losses.softmax
    # (tests/test_attention.py proves them equal); its backward is one pass instead of five ops.
    weights = torch.softmax(scores, dim=-1)                 # (..., Tq, Tk) each row sums to 1
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights                             # (..., Tq, d_v), (..., Tq, Tk)


def _combined_mask(q, Tk, mask, key_padding_mask, is_causal, fn, mask_name):
    """One mask out of the three ways of forbidding keys: bool (True = allowed) or additive float.

    Every piece is checked first; the result has no query row in which every key is forbidden."""
    score_shape = tuple(q.shape[:-1]) + (Tk,)
    Tq = q.shape[-2]
    parts, given = [], []
    if mask is not None:
        parts.append(_check_mask(mask, score_shape, fn, mask_name).to(device=q.device))
        given.append(mask_name)
    if key_padding_mask is not None:
        kpm = _check_key_padding(key_padding_mask, score_shape, fn).to(device=q.device)
        B = kpm.shape[0]
        parts.append(~kpm.view(B, *([1] * (q.ndim - 2)), Tk))          # (B, 1, ..., 1, Tk) True = allowed
        given.append("key_padding_mask")
    if is_causal:
        parts.append(causal_mask_rect(Tq, Tk, device=q.device))         # (Tq, Tk)
        given.append("is_causal")
    if not parts:
        return None
    if all(p.dtype == torch.bool for p in parts):
        combined = parts[0]
        for p in parts[1:]:
            combined = combined & p                                     # allowed by every mask
    else:
        combined = sum(_as_additive(p, q.dtype) for p in parts)         # -inf wherever one forbids
    _refuse_empty_rows(combined, given, fn)
    return combined


def _as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean (True = allowed) -> float with 0 where allowed and -inf where forbidden."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))
    return mask.to(dtype)


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
    * attn_mask: bool with True = ALLOWED (like ``causal_mask``; torch's nn module uses True =
      forbidden), or float added to the scores (0 allowed, -inf forbidden);
      shape (Tq, Tk), (B, 1, Tq, Tk), (B, H, Tq, Tk) or (B, 1, 1, Tk).
    * weights are per head; ``weights.mean(1)`` is what torch returns with average_attn_weights=True.
    """

    def __init__(self, d_model: int, n_heads: int, *, bias: bool = True, kdim: int | None = None,
                 vdim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        fn = "MultiHeadAttention"
        d_model = _validate.positive_int(d_model, "d_model", fn)
        n_heads = _validate.positive_int(n_heads, "n_heads", fn)
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention expected d_model divisible by n_heads, got d_model={d_model} "
                             f"and n_heads={n_heads} (d_model / n_heads = {d_model / n_heads:g})")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.kdim, self.vdim = kdim or d_model, vdim or d_model
        self.dropout = _check_dropout(dropout, fn, "dropout")
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

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                *, key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                is_causal: bool = False, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value)
        q = self.split_heads(self.q_proj(query))     # (B, H, Tq, d_head)
        k = self.split_heads(self.k_proj(key))       # (B, H, Tk, d_head)
        v = self.split_heads(self.v_proj(value))     # (B, H, Tk, d_head)
        out, weights = _attend(q, k, v, attn_mask, key_padding_mask, is_causal=is_causal,
                               dropout_p=self.dropout if self.training else 0.0, need_weights=need_weights,
                               scale=None, fn="MultiHeadAttention", mask_name="attn_mask")
        return self.out_proj(self.merge_heads(out)), weights   # (B, Tq, d_model), (B, H, Tq, Tk)

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

    def _check_inputs(self, query: object, key: object, value: object) -> None:
        for name, x, features in (("query", query, self.d_model), ("key", key, self.kdim),
                                  ("value", value, self.vdim)):
            x = _validate.float_tensor(x, name, "MultiHeadAttention")
            if x.ndim != 3 or x.shape[-1] != features:
                raise ValueError(f"MultiHeadAttention expected {name} of shape (B, T, {features}) (batch first), "
                                 f"got {tuple(x.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"MultiHeadAttention expected key (B, Tk, kdim) and value (B, Tk, vdim) with the same "
                             f"B and Tk as each other and B as the query, got query {tuple(query.shape)}, "
                             f"key {tuple(key.shape)}, value {tuple(value.shape)}")


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
    chunk_size = _validate.positive_int(chunk_size, "chunk_size", fn)
    Tq, Tk, d_k = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(d_k) if scale is None else float(scale)
    lead = tuple(q.shape[:-2])
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


# ----------------------------------------------------------------------------- checking the inputs

_CONVENTIONS = ("conventions: `mask`/`attn_mask` True = MAY attend (torch.nn.functional.scaled_dot_product_"
                "attention; torch.nn.MultiheadAttention's attn_mask is the opposite, True = forbidden); "
                "`key_padding_mask` True = PADDING (torch.nn.MultiheadAttention); padding_mask(lengths, T) is "
                "True at REAL tokens, so it goes in as key_padding_mask=~padding_mask(lengths, T)")


def _check_lengths(lengths: object, T: int) -> torch.Tensor:
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"padding_mask expected a 1-D sequence of integer lengths (B,), got shape "
                         f"{tuple(lengths.shape)} and dtype {lengths.dtype}")
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > T):
        raise ValueError(f"padding_mask expected lengths in [0, {T}], got min {int(lengths.min())} "
                         f"and max {int(lengths.max())}")
    return lengths


def _check_dropout(p: object, fn: str, name: str = "dropout_p") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{fn} expected {name} in [0, 1), got {p!r}")
    return float(p)


def _check_qkv(q: object, k: object, v: object, fn: str) -> None:
    """q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v): same leading dims, same dtype."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        _validate.float_tensor(x, name, fn, min_ndim=2)
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    if not (q.ndim == k.ndim == v.ndim):
        raise ValueError(f"{fn} expected q, k, v with the same number of dimensions, got shapes {shapes}")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(f"{fn} expected q, k, v with the same leading (batch, head) dimensions, got {shapes}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{fn} expected q (..., Tq, d_k) and k (..., Tk, d_k) to share d_k, got "
                         f"q {tuple(q.shape)} and k {tuple(k.shape)}: q @ k^T would not multiply")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{fn} expected one value per key: k (..., Tk, d_k) and v (..., Tk, d_v) with the "
                         f"same Tk, got k {tuple(k.shape)} and v {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"{fn} expected q, k, v of one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")


def _check_mask(mask: object, target: tuple[int, ...], fn: str, name: str) -> torch.Tensor:
    """A mask ends in (Tq, Tk) or (1, Tk); every other dim is 1 or equal to the target's.

    Refused besides: a float mask of only 0s and 1s, and a 2-D mask that could be (B, Tk)."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{fn} expected {name} to be a torch.Tensor (bool or float), got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(f"{fn} expected a boolean {name} (True = may attend) or a float {name} (added to the "
                         f"scores: 0 = allowed, -inf = forbidden), got dtype {mask.dtype}")
    Tq, Tk = target[-2:]
    shape = tuple(mask.shape)
    if mask.ndim < 2 or mask.ndim > len(target) or shape[-1] != Tk or shape[-2] not in (1, Tq):
        hint = (f"; a (B, Tk) key-padding mask goes in key_padding_mask (True = padding)"
                if mask.ndim == 2 and shape[-1] == Tk and len(target) >= 3 and shape[0] == target[0] else "")
        raise ValueError(f"{fn} expected {name} of shape (Tq, Tk) = {(Tq, Tk)} (or (1, Tk): the same for every "
                         f"query), optionally with leading dims broadcastable to {target[:-2]}, got {shape}{hint}")
    want = target[len(target) - mask.ndim:-2]
    if any(m not in (1, w) for m, w in zip(shape[:-2], want)):
        raise ValueError(f"{fn} expected {name} whose leading dims are 1 or match {want}, got {shape} "
                         f"for scores of shape {target}")
    if mask.is_floating_point():
        zero_one = (mask == 0) | (mask == 1)
        if bool(zero_one.all()) and bool((mask == 1).any()):
            raise ValueError(
                f"{fn} got a float {name} that holds only 0s and 1s. A float mask is ADDED to the scores "
                f"(0 = allowed, -inf = forbidden), so adding 0 or 1 forbids nothing: this looks like a 0/1 "
                f"'may attend' mask such as torch.tril(torch.ones(T, T)). Pass it as a boolean mask "
                f"({name}.bool(), True = may attend) or as an additive one "
                f"(torch.zeros(shape).masked_fill({name} == 0, float('-inf'))).")
    B = target[0]
    if mask.ndim == 2 and len(target) >= 3 and B == Tq > 1 and shape[0] == Tq and not _is_causal_pattern(mask):
        raise ValueError(
            f"{fn} got a 2-D {name} of shape {shape} while the batch size B = {B} equals the number of queries "
            f"Tq = {Tq}: it could be a (B, Tk) key-padding mask or a (Tq, Tk) mask shared by the batch. Say "
            f"which: key_padding_mask=... for a (B, Tk) mask (True = padding), or {name}={name}[None] for one "
            f"(Tq, Tk) mask for every batch item (or is_causal=True for the causal mask).")
    return mask


def _is_causal_pattern(mask: torch.Tensor) -> bool:
    """True for the (Tq, Tk) causal pattern aligned at the bottom right (a KV cache; square: causal_mask)."""
    Tq, Tk = mask.shape
    allowed = torch.ones(Tq, Tk, dtype=torch.bool, device=mask.device).tril(diagonal=Tk - Tq)
    if mask.dtype == torch.bool:
        return bool(torch.equal(mask, allowed))
    return bool(torch.equal(mask == 0, allowed) and torch.equal(torch.isneginf(mask), ~allowed))


def _check_key_padding(kpm: object, target: tuple[int, ...], fn: str) -> torch.Tensor:
    """(B, Tk) boolean, True = padding; B is the first dim of the queries."""
    Tk = target[-1]
    if len(target) < 3:
        raise ValueError(f"{fn} expected q with a batch dim (B, ..., Tq, d_k) to go with key_padding_mask "
                         f"(B, Tk), got scores of shape {target}")
    want = (target[0], Tk)
    if not isinstance(kpm, torch.Tensor) or kpm.dtype != torch.bool or tuple(kpm.shape) != want:
        got = f"{tuple(kpm.shape)} {kpm.dtype}" if isinstance(kpm, torch.Tensor) else type(kpm).__name__
        raise ValueError(f"{fn} expected key_padding_mask as a bool tensor of shape (B, Tk) = {want} with "
                         f"True = padding, got {got}")
    return kpm


def _refuse_empty_rows(combined: torch.Tensor, given: list[str], fn: str) -> None:
    """No query row may have every key forbidden: softmax of a row of -inf is 0/0 = NaN."""
    empty = ~combined.any(-1) if combined.dtype == torch.bool else torch.isneginf(combined).all(-1)
    if not bool(empty.any()):
        return
    idx = tuple(int(i) for i in torch.nonzero(empty)[0])
    lead = ", ".join(str(i) for i in idx[:-1])
    where = f"query {idx[-1]}" + (f" at leading index ({lead})" if lead else "")
    raise ValueError(
        f"{fn}: every key is forbidden for {where} (by {' + '.join(given)}, combined shape "
        f"{tuple(combined.shape)}), and softmax over a row of -inf is 0/0 = NaN. Check each mask's "
        f"convention; {_CONVENTIONS}.")
