"""course_lib.generation: one generate() for any causal LM, a KV-cache that stores however many KV heads."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from course_lib import generation
from course_lib.generation import KVCache, generate, sample_next
from course_lib.gpt import GPT, GPTConfig


class TinyGQA(nn.Module):
    """A causal LM that is not a GPT: one attention layer with 4 query heads sharing 2 key/value heads.

    Its API is the one ``generate`` asks for: ``forward(idx, cache=None) -> logits`` (no tuple),
    ``block_size`` as an attribute (no config), ``new_cache()``. The cache holds only the 2 KV heads.
    """

    def __init__(self, V=13, C=16, n_head=4, n_kv_head=2, block_size=12):
        super().__init__()
        self.block_size, self.n_head, self.n_kv_head, self.hs = block_size, n_head, n_kv_head, C // n_head
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(block_size, C)
        self.q = nn.Linear(C, C)
        self.kv = nn.Linear(C, 2 * n_kv_head * self.hs)
        self.out = nn.Linear(C, V)

    def new_cache(self) -> KVCache:
        return KVCache(1)

    def forward(self, idx, cache=None):
        B, T = idx.shape
        start = 0 if cache is None else len(cache)
        x = self.wte(idx) + self.wpe(torch.arange(start, start + T))                      # (B, T, C)
        q = self.q(x).view(B, T, self.n_head, self.hs).transpose(1, 2)                     # (B, 4, T, hs)
        k, v = self.kv(x).view(B, T, 2, self.n_kv_head, self.hs).permute(2, 0, 3, 1, 4)  # 2 x (B, 2, T, hs)
        if cache is not None:
            k, v = cache.update(0, k, v)                                                   # (B, 2, start + T, hs)
        rep = self.n_head // self.n_kv_head
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)            # (B, 4, start + T, hs)
        allowed = torch.ones(T, start + T, dtype=torch.bool).tril(diagonal=start)
        y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)         # (B, 4, T, hs)
        return self.out(x + y.transpose(1, 2).reshape(B, T, -1))                           # (B, T, V)


def _gqa(seed=0):
    torch.manual_seed(seed)
    return TinyGQA().eval()


def test_a_model_that_is_not_a_gpt_generates_the_same_with_and_without_its_cache():
    model = _gqa()
    prompt = torch.randint(13, (2, 3), generator=torch.Generator().manual_seed(1))
    for kwargs in (dict(temperature=0), dict(temperature=0.9, top_k=8, top_p=0.95, seed=3)):
        cached = generate(model, prompt, 20, use_cache=True, **kwargs)       # 23 > block_size 12: the window slides
        plain = generate(model, prompt, 20, use_cache=False, **kwargs)
        assert cached.shape == (2, 23) and torch.equal(cached, plain), kwargs
        assert torch.equal(cached[:, :3], prompt)


def test_the_cache_stores_only_the_kv_heads_and_matches_the_full_pass():
    model = _gqa()
    x = torch.randint(13, (2, 9), generator=torch.Generator().manual_seed(2))
    cache = model.new_cache()
    pieces = [model(x[:, :4], cache=cache)] + [model(x[:, t:t + 1], cache=cache) for t in range(4, 9)]
    k, v = cache.layers[0]
    assert k.shape == v.shape == (2, 2, 9, 4)                 # (B, H_kv = 2, T, hs), not 4 heads
    assert len(cache) == cache.length(0) == 9
    torch.testing.assert_close(torch.cat(pieces, dim=1), model(x), atol=1e-5, rtol=1e-5)


def test_gpt_generate_is_the_shared_loop():
    torch.manual_seed(0)
    model = GPT(GPTConfig(17, 10, 2, 2, 16)).eval()
    prompt = torch.tensor([[1, 2, 3]])
    a = model.generate(prompt, 15, temperature=0.8, top_k=5, seed=4)
    b = generate(model, prompt, 15, temperature=0.8, top_k=5, seed=4)
    assert torch.equal(a, b)


def test_the_generator_is_made_on_the_device_where_sampling_happens(monkeypatch):
    """A CPU prompt with a model elsewhere (here 'meta', the only second device a CPU-only machine has).

    The old code made the generator on the prompt's device, which breaks a CPU prompt with a CUDA
    model ('Expected a cuda generator'); a meta generator cannot even be built, so we record the request.
    """
    made = []
    real = torch.Generator

    class Recorder:
        def __new__(cls, device="cpu"):
            made.append(torch.device(device))
            return real()                                   # a meta device has no generator of its own

    class MetaLM(nn.Module):
        config = GPTConfig(11, 8, 1, 1, 4)

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(11, device="meta"))

        def forward(self, idx, cache=None):
            assert idx.device.type == "meta"               # the prompt was moved to the model
            return self.w.expand(idx.shape[0], idx.shape[1], 11), None

    monkeypatch.setattr(torch, "Generator", Recorder)
    out = generate(MetaLM(), torch.tensor([[1, 2]]), 3, seed=0, use_cache=False)
    assert made == [torch.device("meta")]                   # once, on the logits' device, not the prompt's
    assert out.device.type == "meta" and out.shape == (1, 5)


def test_stop_tokens_end_each_row_and_generation():
    model = _gqa()
    prompt = torch.tensor([[1, 2], [3, 4]])
    free = generate(model, prompt, 10, temperature=0)
    stop = int(free[0, 4])                                  # the third token row 0 produces
    out = generate(model, prompt, 10, temperature=0, stop_tokens=[stop])
    first = [int((row[2:] == stop).nonzero()[0]) if (row[2:] == stop).any() else None for row in free]
    for b, row in enumerate(out):
        if first[b] is None:
            assert torch.equal(row, free[b, :out.shape[1]])
        else:
            end = 2 + first[b]
            assert torch.equal(row[:end + 1], free[b, :end + 1])   # the same text up to the stop token...
            assert bool((row[end:] == stop).all())                  # ...which it then repeats
    if all(f is not None for f in first):
        assert out.shape[1] == 2 + max(first) + 1           # and it ends when every row has stopped
    single = generate(model, prompt[:1], 10, temperature=0, stop_tokens=stop)
    assert single.shape == (1, 2 + first[0] + 1) and int(single[0, -1]) == stop


def test_bad_input_gets_clear_value_errors():
    model = _gqa()
    with pytest.raises(ValueError, match="longer than block_size=12"):
        generate(model, torch.zeros(1, 13, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), -1)
    with pytest.raises(ValueError, match="stop_tokens"):
        generate(GPT(GPTConfig(11, 8, 1, 1, 4)), torch.zeros(1, 2, dtype=torch.long), 2, stop_tokens=[11])
    with pytest.raises(ValueError, match="block_size"):
        generate(nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="new_cache"):
        generate(nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long), 2, block_size=4)
    class LastOnly(nn.Module):                              # returns (B, V): the last position only
        def forward(self, idx, cache=None):
            return torch.zeros(idx.shape[0], 5)
    with pytest.raises(ValueError, match=r"logits of shape \(B, T, V\)"):
        generate(LastOnly(), torch.zeros(1, 2, dtype=torch.long), 2, block_size=4, use_cache=False)
    cache = KVCache(2)
    cache.update(0, torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="differs in B, H_kv or hs"):
        cache.update(0, torch.zeros(1, 4, 1, 4), torch.zeros(1, 4, 1, 4))
    with pytest.raises(ValueError, match=r"\(B, H_kv, T_new, hs\)"):
        cache.update(1, torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"layer in \[0, 2\)"):
        cache.update(2, torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="n_layer"):
        KVCache(0)


def test_sample_next_is_exported_from_gpt_too():
    from course_lib import gpt
    assert gpt.sample_next is sample_next and gpt.KVCache is KVCache and gpt.generate is generation.generate


def test_filter_logits_against_transformers_warpers():
    """The filters that sample_next applies, equal to transformers' TopK/TopP logits warpers."""
    from _needs import needs_module
    generation_utils = needs_module("transformers").generation
    logits = torch.randn(6, 40, generator=torch.Generator().manual_seed(0)) * 3
    for k in (1, 5, 40):
        theirs = generation_utils.TopKLogitsWarper(top_k=k)(None, logits.clone())
        assert torch.equal(torch.isinf(generation.filter_logits(logits, top_k=k)), torch.isinf(theirs)), k
    for p in (0.1, 0.5, 0.9, 0.99):
        theirs = generation_utils.TopPLogitsWarper(top_p=p)(None, logits.clone())
        ours = generation.filter_logits(logits, top_p=p)
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs)), p
        kept = torch.where(torch.isinf(ours), 0.0, torch.softmax(logits, -1)).sum(-1)
        assert bool((kept >= p).all())                          # the kept set reaches p...
    with pytest.raises(ValueError, match=r"float logits of shape \(B, V\)"):
        generation.filter_logits(torch.zeros(5), top_k=2)
