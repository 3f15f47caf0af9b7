"""Text generation for any causal language model: sampling filters, a KV-cache, the generation loop.

    out = generate(model, prompt, 200, temperature=0.8, top_k=20, seed=0)      # (B, T) -> (B, T + 200)
    out = generate(model, prompt, 200, temperature=0, stop_tokens=[eos_id])    # greedy, stops at eos
    nxt = sample_next(logits[:, -1], temperature=0.8, top_p=0.9)                # (B, V) -> (B, 1)
    kept = filter_logits(logits[:, -1], top_k=10)                               # the rest set to -inf

``generate`` needs only this of ``model`` (the GPT of chapter 08, the Llama-style models of
chapter 13 and anything else built the same way):

* ``model(idx, cache=cache)`` with ``idx`` (B, T) token ids returns the logits (B, T, V), or a tuple
  whose first element they are (``(logits, loss)``); with a cache, the T tokens continue the
  ``len(cache)`` tokens already cached (so positions start at ``len(cache)``);
* a context length: the ``block_size`` argument, or ``model.config.block_size``, or ``model.block_size``;
* a cache: ``model.new_cache()`` if the model defines it, else ``KVCache(model.config.n_layer)``.

A :class:`KVCache` holds, per layer, the keys and values (B, H_kv, T_seen, hs) the layer wrote:
H_kv is whatever the model stores, so a model with grouped-query attention (fewer key/value heads
than query heads) caches only its H_kv heads and repeats them for the queries itself.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn as nn

from ._validate import token_ids

__all__ = ["KVCache", "generate", "sample_next", "filter_logits"]


# ----------------------------------------------------------------------------- the KV-cache

class KVCache:
    """Keys and values of the tokens seen so far, one (k, v) pair per layer, each (B, H_kv, T_seen, hs).

    During generation a new token only needs its own query: the keys and values of the earlier
    tokens do not change (the causal mask keeps them from seeing later ones), so we keep them
    instead of recomputing them every step. H_kv is the number of heads the model stores keys and
    values for: all of them for GPT-2, fewer for grouped-query attention.
    """

    def __init__(self, n_layer: int) -> None:
        if isinstance(n_layer, bool) or not isinstance(n_layer, int) or n_layer < 1:
            raise ValueError(f"KVCache expected n_layer to be an integer >= 1, got {n_layer!r}")
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layer

    def __len__(self) -> int:
        """The number of tokens already cached (by the first layer; every layer sees the same tokens)."""
        return self.length(0)

    def length(self, layer: int) -> int:
        """The number of tokens cached in ``layer`` (0 before its first update)."""
        seen = self.layers[layer]
        return 0 if seen is None else seen[0].shape[-2]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's k, v (B, H_kv, T_new, hs) and return all of them (B, H_kv, T_seen + T_new, hs)."""
        _check_kv(self, layer, k, v)
        old = self.layers[layer]
        if old is not None:
            k = torch.cat([old[0], k], dim=-2)                # (B, H_kv, T_seen + T_new, hs)
            v = torch.cat([old[1], v], dim=-2)
        self.layers[layer] = (k, v)
        return k, v


# ----------------------------------------------------------------------------- choosing the next token

def filter_logits(logits: torch.Tensor, *, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit that top-k and/or top-p (nucleus) filtering drops: (B, V) -> (B, V).

    top_k keeps the k largest logits of each row (ties with the k-th are kept too); top_p keeps the
    most likely tokens, in order, while the probability of the ones before them is below top_p, so
    the kept set is the smallest whose probability reaches top_p. softmax then gives the dropped
    tokens probability 0.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or not logits.is_floating_point():
        raise ValueError(f"filter_logits expected float logits of shape (B, V), got "
                         f"{_shape(logits)}{'' if not isinstance(logits, torch.Tensor) else ' ' + str(logits.dtype)}")
    _check_sampling(1.0, top_k, top_p, logits.shape[-1])
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]              # (B, 1) the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(dim=-1) - probs              # probability of the more likely tokens
        drop_sorted = before >= top_p                      # keep a token while the ones before it fall short
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick the next token from the logits of the last position: (B, V) -> (B, 1) ids.

    p = softmax(filter_logits(logits / temperature, top_k, top_p)), then one draw per row.
    ``temperature=0`` is greedy (the argmax). ``generator`` must live on the logits' device.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"sample_next expected logits of shape (B, V), got {_shape(logits)}")
    _check_sampling(temperature, top_k, top_p, logits.shape[-1])
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)                          # (B, 1) greedy
    logits = filter_logits(logits.float() / temperature, top_k=top_k, top_p=top_p)   # (B, V)
    probs = torch.softmax(logits, dim=-1)                                   # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator)     # (B, 1)


# ----------------------------------------------------------------------------- the generation loop

@torch.no_grad()
def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             use_cache: bool = True, stop_tokens: int | Iterable[int] | None = None,
             block_size: int | None = None) -> torch.Tensor:
    """Continue ``idx`` (B, T) (or (T,)) by up to ``max_new_tokens`` tokens; returns (B, T + new) on the model's device.

    Each step: logits of the last position / temperature -> keep the top_k most likely and/or the
    smallest set whose probability reaches top_p -> sample (``temperature=0``: greedy).
    ``seed`` makes sampling reproducible with a ``torch.Generator`` created on the device where the
    sampling happens (the logits' device), so a CPU prompt works with a CUDA model.
    ``use_cache``: feed only the tokens not yet cached (same numbers, less work). Once the text
    outgrows ``block_size`` the context is cropped to its last ``block_size`` tokens and every step
    recomputes that window (the positions of all its tokens change), exactly like the uncached path.
    ``stop_tokens``: a row that produces one of them is finished; it repeats that token while
    other rows go on, and generation ends early once every row is finished.
    """
    squeeze = isinstance(idx, torch.Tensor) and idx.ndim == 1
    if squeeze:
        idx = idx.unsqueeze(0)
    config = getattr(model, "config", None)
    vocab_size = getattr(config, "vocab_size", None)
    idx = token_ids(idx, vocab_size, "generate")
    window = _block_size(model, block_size)
    B, T = idx.shape
    if T == 0:
        raise ValueError("generate expected a prompt of at least one token, got an empty one")
    if T > window:
        raise ValueError(f"generate got a prompt of {T} tokens, longer than block_size={window}; "
                         f"keep its last {window} tokens")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"generate expected max_new_tokens to be an integer >= 0, got {max_new_tokens!r}")
    if vocab_size is not None:
        _check_sampling(temperature, top_k, top_p, vocab_size)
    stops = _stop_tokens(stop_tokens, vocab_size)
    new_cache = _cache_factory(model) if use_cache else None

    idx = idx.to(_device_of(model))
    generator = None                                  # made at the first sample, on the logits' device
    done = last = None                                # rows finished, and the stop token each ended with
    cache, fed = None, 0                              # fed = tokens the cache has seen
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            if idx.shape[1] > window:
                # the window slides: every position changes, so the cache is of no use any more
                cache = None
                logits = _logits(model(idx[:, -window:]))
            elif new_cache is not None:
                if cache is None:
                    cache, fed = new_cache(), 0
                logits = _logits(model(idx[:, fed:], cache=cache))      # only the tokens not yet cached
                fed = idx.shape[1]
            else:
                logits = _logits(model(idx))                             # recompute the whole context
            last_logits = logits[:, -1, :]                               # (B, V)
            if seed is not None and generator is None:
                generator = torch.Generator(device=last_logits.device).manual_seed(int(seed))
            nxt = sample_next(last_logits, temperature=temperature, top_k=top_k, top_p=top_p,
                              generator=generator)                       # (B, 1)
            if stops is not None:
                if done is None:
                    done = torch.zeros_like(nxt, dtype=torch.bool)       # (B, 1)
                    last = torch.zeros_like(nxt)
                nxt = torch.where(done, last, nxt)                       # finished rows repeat their stop token
                newly = ~done & torch.isin(nxt, stops.to(nxt.device))
                last = torch.where(newly, nxt, last)
                done = done | newly
            idx = torch.cat([idx, nxt.to(idx.dtype)], dim=1)             # (B, T + 1)
            if done is not None and bool(done.all()):
                break
    finally:
        model.train(was_training)
    return idx[0] if squeeze else idx


# ----------------------------------------------------------------------------- what generate asks of a model

def _logits(out: object) -> torch.Tensor:
    logits = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3:
        raise ValueError("generate expected model(idx) to return logits of shape (B, T, V) (or a tuple "
                         f"starting with them), got {tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    return logits


def _block_size(model: nn.Module, block_size: int | None) -> int:
    if block_size is None:
        config = getattr(model, "config", None)
        block_size = getattr(config, "block_size", None) or getattr(model, "block_size", None)
    if block_size is None:
        raise ValueError("generate needs the model's context length: give block_size=..., or a model with "
                         "config.block_size or block_size")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"generate expected block_size to be an integer >= 1, got {block_size!r}")
    return block_size


def _cache_factory(model: nn.Module):
    if callable(getattr(model, "new_cache", None)):
        return model.new_cache
    n_layer = getattr(getattr(model, "config", None), "n_layer", None)
    if n_layer is None:
        raise ValueError("generate(use_cache=True) needs model.new_cache() or model.config.n_layer to make a "
                         "KVCache; pass use_cache=False for a model without a cache")
    return lambda: KVCache(n_layer)


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return torch.device("cpu") if p is None else p.device


def _stop_tokens(stop_tokens: object, vocab_size: int | None) -> torch.Tensor | None:
    if stop_tokens is None:
        return None
    ids = [stop_tokens] if isinstance(stop_tokens, int) else list(stop_tokens)
    if not ids or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in ids) \
            or (vocab_size is not None and max(ids) >= vocab_size):
        raise ValueError(f"generate expected stop_tokens to be token ids in [0, {vocab_size or 'V'}) "
                         f"(an int or a list of them), got {stop_tokens!r}")
    return torch.tensor(ids, dtype=torch.long)


def _check_sampling(temperature, top_k, top_p, vocab_size: int) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0 \
            or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= vocab_size):
        raise ValueError(f"top_k must be an integer in [1, {vocab_size}] or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


def _check_kv(cache: KVCache, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(cache.layers):
        raise ValueError(f"KVCache.update expected a layer in [0, {len(cache.layers)}), got {layer!r}")
    if not isinstance(k, torch.Tensor) or not isinstance(v, torch.Tensor) or k.ndim != 4 or v.ndim != 4 \
            or k.shape[:3] != v.shape[:3]:
        raise ValueError("KVCache.update expected k and v of shape (B, H_kv, T_new, hs) with the same B, H_kv, "
                         f"T_new, got {_shape(k)} and {_shape(v)}")
    old = cache.layers[layer]
    if old is not None:
        for name, new, seen in (("k", k, old[0]), ("v", v, old[1])):
            if new.shape[:2] != seen.shape[:2] or new.shape[-1] != seen.shape[-1]:
                raise ValueError(f"KVCache.update: layer {layer} caches {name} of shape (B, H_kv, T, hs) = "
                                 f"{_shape(seen)}; the new {name} {_shape(new)} differs in B, H_kv or hs")


def _shape(x: object) -> object:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
