"""course_lib.llama against transformers' LlamaForCausalLM (same logits, with and without the KV-cache),
its pieces against torch and transformers, the parameter formula against published sizes, and clear errors."""
from __future__ import annotations

import math

import pytest
import torch

from _needs import needs_module
from course_lib.generation import generate
from course_lib.gpt import GPT, GPT2_CONFIGS, GPTConfig
from course_lib.gpt import count_parameters as gpt_count_parameters
from course_lib.llama import (LLAMA_CONFIGS, Llama, LlamaConfig, RMSNorm, SwiGLU, apply_rope, count_parameters,
                              from_gpt, from_hf, kv_cache_bytes_per_token, llama_hidden_dim, repeat_kv, rms_norm,
                              rope_tables, rotate_half, to_hf)
from course_lib.training import TrainConfig, train

transformers = needs_module("transformers")
from transformers import DynamicCache, LlamaForCausalLM  # noqa: E402
from transformers import LlamaConfig as HFLlamaConfig  # noqa: E402
from transformers.models.llama import modeling_llama as hf_llama  # noqa: E402

V = 61
CONFIGS = {
    "mha": LlamaConfig(V, 24, n_layer=2, n_head=4, n_embd=32),
    "gqa": LlamaConfig(V, 24, n_layer=2, n_head=4, n_embd=32, n_kv_head=2, rope_theta=500.0),
    "mqa-tied": LlamaConfig(V, 24, n_layer=3, n_head=6, n_embd=48, n_kv_head=1, tie_embeddings=True),
    "gqa-wide-mlp": LlamaConfig(V, 24, n_layer=1, n_head=8, n_embd=64, n_kv_head=4, hidden_dim=200, norm_eps=1e-6),
}
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def _model(config, seed=0, dtype=torch.float32):
    """A Llama on the CPU whose every parameter (RMSNorm gains too) is jittered so that each one matters."""
    torch.manual_seed(seed)
    model = Llama(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.to(dtype)


def _ids(B=3, T=24, seed=1):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def _max_diff(a, b):
    return (a - b).abs().max().item()


# ----------------------------------------------------------------------------- the whole model = transformers' Llama

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_logits_as_transformers(name, dtype):
    model = _model(CONFIGS[name], dtype=dtype)
    hf = to_hf(model)
    assert isinstance(hf, LlamaForCausalLM) and hf.config.num_key_value_heads == CONFIGS[name].n_kv_head
    idx = _ids()
    with torch.no_grad():
        ours, theirs = model(idx)[0], hf(input_ids=idx).logits
    assert ours.dtype == theirs.dtype == dtype
    assert _max_diff(ours, theirs) <= TOLERANCE[dtype]
    assert ours.abs().max() > 0.1            # not trivially equal


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_logits_with_the_cache(name, dtype):
    """Ours with our cache and transformers with its DynamicCache, fed in three chunks, equal the uncached logits."""
    model = _model(CONFIGS[name], dtype=dtype)
    hf = to_hf(model)
    idx = _ids()
    chunks = [(0, 11), (11, 12), (12, 24)]          # a prompt, one token, then several at once
    with torch.no_grad():
        full = hf(input_ids=idx).logits
        cache, hf_cache = model.new_cache(), DynamicCache(config=hf.config)
        ours = torch.cat([model(idx[:, a:b], cache=cache)[0] for a, b in chunks], dim=1)
        theirs = torch.cat([hf(input_ids=idx[:, a:b], cache=hf_cache, use_cache=True).logits for a, b in chunks], 1)
    assert _max_diff(ours, full) <= TOLERANCE[dtype]
    assert _max_diff(theirs, full) <= TOLERANCE[dtype]
    k, v = cache.layers[0]
    assert k.shape == v.shape == (3, CONFIGS[name].n_kv_head, 24, CONFIGS[name].head_dim)   # only the KV heads


def test_the_comparison_can_fail():
    """A different RoPE base or a misplaced norm in transformers' copy gives clearly different logits."""
    model = _model(CONFIGS["gqa"], dtype=torch.float64)
    idx = _ids()
    hf = to_hf(model)
    hf.model.rotary_emb = hf_llama.LlamaRotaryEmbedding(
        HFLlamaConfig(hidden_size=32, num_attention_heads=4, rope_parameters={"rope_type": "default",
                                                                             "rope_theta": 10000.0}))
    with torch.no_grad():
        assert _max_diff(model(idx)[0], hf(input_ids=idx).logits) > 1e-3
        hf = to_hf(model)
        hf.model.layers[0].input_layernorm.weight.mul_(1.01)
        assert _max_diff(model(idx)[0], hf(input_ids=idx).logits) > 1e-4


@pytest.mark.parametrize("name", list(CONFIGS))
def test_from_hf_round_trip(name):
    model = _model(CONFIGS[name], dtype=torch.float64)
    back = from_hf(to_hf(model))
    assert back.config == model.config
    idx = _ids()
    with torch.no_grad():
        assert torch.equal(back(idx)[0], model(idx)[0])


def test_from_hf_of_a_model_built_by_transformers():
    torch.manual_seed(3)
    hc = HFLlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=32, rms_norm_eps=1e-6,
                       rope_parameters={"rope_type": "default", "rope_theta": 1234.0},
                       bos_token_id=None, eos_token_id=None, pad_token_id=None)
    hc._attn_implementation = "sdpa"
    hf = LlamaForCausalLM(hc).double().eval()
    ours = from_hf(hf)
    assert (ours.config.n_kv_head, ours.config.hidden_dim, ours.config.rope_theta) == (2, 72, 1234.0)
    idx = _ids(T=20)
    with torch.no_grad():
        assert _max_diff(ours(idx)[0], hf(input_ids=idx).logits) <= 1e-10


@pytest.mark.slow
def test_generate_with_and_without_the_cache():
    model = _model(CONFIGS["gqa"])
    prompt = _ids(B=2, T=5)
    cached = generate(model, prompt, 30, temperature=0, use_cache=True)     # runs past block_size=24: crops
    plain = generate(model, prompt, 30, temperature=0, use_cache=False)
    assert torch.equal(cached, plain) and cached.shape == (2, 35)
    sampled = generate(model, prompt, 10, temperature=1.0, seed=0)
    assert torch.equal(sampled, generate(model, prompt, 10, temperature=1.0, seed=0))


# ----------------------------------------------------------------------------- the GPT-2 rung is chapter 08's GPT

def test_from_gpt_gives_the_same_logits():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(V, 24, n_layer=2, n_head=4, n_embd=32, bias=False)).eval()
    with torch.no_grad():
        for p in gpt.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = from_gpt(gpt)
    c = ours.config
    assert (c.norm, c.positions, c.mlp, c.n_kv_head, c.tie_embeddings) == ("layernorm", "learned", "gelu", 4, True)
    idx = _ids()
    with torch.no_grad():
        assert _max_diff(ours(idx)[0], gpt(idx)[0]) <= 1e-6
    assert ours.num_parameters() == gpt.num_parameters() == count_parameters(c)


@pytest.mark.slow
def test_every_rung_trains_with_the_course_loop():
    torch.manual_seed(0)
    data = torch.randint(V, (3000,), generator=torch.Generator().manual_seed(0)) % 7     # a 7-symbol stream
    cfg = TrainConfig(max_iters=40, batch_size=8, lr=3e-3, warmup_iters=5, eval_interval=40, eval_iters=2,
                      progress=False)
    for kw in (dict(norm="layernorm", positions="learned", mlp="gelu"), dict(n_kv_head=1)):
        model = Llama(LlamaConfig(V, 16, n_layer=1, n_head=2, n_embd=16, tie_embeddings=True, **kw))
        history = train(model, data[:2500], data[2500:], cfg, print_fn=lambda *a: None)
        assert history.eval_val[-1] < history.eval_val[0] - 1.0


# ----------------------------------------------------------------------------- pieces against torch and transformers

def test_rms_norm_against_torch_and_transformers():
    x = torch.randn(4, 7, 32, dtype=torch.float64) * 3 + 1
    w = torch.rand(32, dtype=torch.float64) + 0.5
    assert _max_diff(rms_norm(x.float(), w.float(), 1e-5), torch.nn.functional.rms_norm(x.float(), (32,), w.float(),
                                                                                         1e-5)) < 1e-5
    hf = hf_llama.LlamaRMSNorm(32, eps=1e-6).double()
    with torch.no_grad():
        hf.weight.copy_(w)
    ours = RMSNorm(32, eps=1e-6).double()
    with torch.no_grad():
        ours.weight.copy_(w)
        assert torch.equal(ours(x), hf(x))
    # RMSNorm of centred inputs is LayerNorm (without bias, same gains)
    centred = x - x.mean(-1, keepdim=True)
    ln = torch.nn.functional.layer_norm(x.float(), (32,), w.float(), None, 1e-5)
    assert _max_diff(rms_norm(centred.float(), w.float(), 1e-5), ln) < 1e-5


def test_rope_against_transformers():
    hc = HFLlamaConfig(hidden_size=64, num_attention_heads=4, rope_parameters={"rope_type": "default",
                                                                               "rope_theta": 777.0})
    q, k = torch.randn(2, 4, 9, 16), torch.randn(2, 4, 9, 16)
    positions = torch.arange(5, 14)
    cos_hf, sin_hf = hf_llama.LlamaRotaryEmbedding(hc)(q, positions[None])
    cos, sin = rope_tables(positions, 16, 777.0)
    assert torch.equal(cos, cos_hf[0]) and torch.equal(sin, sin_hf[0])
    q_hf, k_hf = hf_llama.apply_rotary_pos_emb(q, k, cos_hf, sin_hf)
    assert torch.equal(apply_rope(q, cos, sin), q_hf) and torch.equal(apply_rope(k, cos, sin), k_hf)
    assert torch.equal(rotate_half(q), hf_llama.rotate_half(q))


def test_rope_scores_depend_only_on_the_offset():
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)

    def score(m, n):
        cos, sin = rope_tables(torch.tensor([m, n]), 16, 10000.0)
        rotated = apply_rope(torch.stack([q, k]), cos.double(), sin.double())   # row 0: q at m, row 1: k at n
        return float(rotated[0] @ rotated[1])

    for m, n in ((3, 1), (10, 10), (7, 30)):
        for shift in (1, 10, 100):   # the tables are float32 (as transformers'): exact enough here
            assert math.isclose(score(m, n), score(m + shift, n + shift), rel_tol=0, abs_tol=1e-4)
    assert abs(score(3, 1) - score(4, 1)) > 1e-3           # a different offset, a different score
    cos, sin = rope_tables(40, 16)
    x = torch.randn(40, 16)
    assert _max_diff(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1)) < 1e-5   # a rotation keeps lengths


def test_swiglu_against_transformers():
    hc = HFLlamaConfig(hidden_size=24, num_attention_heads=4, intermediate_size=64, mlp_bias=False, hidden_act="silu")
    hf = hf_llama.LlamaMLP(hc)
    ours = SwiGLU(24, 64)
    ours.load_state_dict(hf.state_dict())
    x = torch.randn(2, 5, 24)
    with torch.no_grad():
        assert torch.equal(ours(x), hf(x))
    assert sum(p.numel() for p in SwiGLU(96, 256).parameters()) == 2 * 96 * 384   # = GELU's at 8C/3


@pytest.mark.parametrize("n_rep", [1, 2, 4])
def test_repeat_kv_is_repeat_interleave(n_rep):
    x = torch.randn(2, 3, 5, 8)
    assert torch.equal(repeat_kv(x, n_rep), torch.repeat_interleave(x, n_rep, dim=1))
    assert torch.equal(repeat_kv(x, n_rep), hf_llama.repeat_kv(x, n_rep))


def test_grouped_attention_with_one_kv_head_per_query_head_is_multi_head():
    """n_kv_head = n_head is standard multi-head attention: the same numbers as the GPT-2 rung's attention."""
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(V, 24, n_layer=1, n_head=4, n_embd=32, bias=False)).eval()
    ours = from_gpt(gpt)
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        assert _max_diff(ours.layers[0].attn(x), gpt.transformer.h[0].attn(x)[0]) < 1e-6


# ----------------------------------------------------------------------------- sizes, without allocating

def _hf_count_on_meta(config: LlamaConfig) -> int:
    """transformers' own count: build LlamaForCausalLM on the meta device (no memory) and add up its parameters."""
    with torch.device("meta"):
        hf = LlamaForCausalLM(_hf_config(config))
    return sum(p.numel() for p in hf.parameters())


def _hf_config(config):
    from course_lib.llama import _hf_config as build    # the same translation to_hf uses
    return build(config)


def test_published_llama_sizes():
    assert count_parameters(LLAMA_CONFIGS["llama-2-7b"]) == 6_738_415_616           # "6.74B"
    assert count_parameters(LLAMA_CONFIGS["llama-3-8b"]) == 8_030_261_248           # "8.03B"
    assert round(count_parameters(LLAMA_CONFIGS["llama-2-7b"]) / 1e9, 2) == 6.74
    assert round(count_parameters(LLAMA_CONFIGS["llama-3-8b"]) / 1e9, 2) == 8.03
    for name, config in LLAMA_CONFIGS.items():
        assert count_parameters(config) == _hf_count_on_meta(config), name
    # Llama 3 8B's 8 KV heads instead of 32 save 3 * 4096 * 3072 * 32 parameters over multi-head attention
    mha = LlamaConfig(**{**LLAMA_CONFIGS["llama-3-8b"].to_dict(), "n_kv_head": 32})
    assert count_parameters(mha) - count_parameters(LLAMA_CONFIGS["llama-3-8b"]) == 2 * 4096 * 3072 * 32


def test_meta_rule_for_the_mlp_width():
    assert llama_hidden_dim(4096, multiple_of=256) == 11008                          # Llama 2 7B
    assert llama_hidden_dim(4096, multiple_of=1024, ffn_dim_multiplier=1.3) == 14336   # Llama 3 8B
    assert llama_hidden_dim(96) == 256 and llama_hidden_dim(128) == 344


@pytest.mark.parametrize("name", list(GPT2_CONFIGS))
def test_gpt2_sizes_from_the_gpt2_flags(name):
    g = GPT2_CONFIGS[name]
    ours = LlamaConfig(g.vocab_size, g.block_size, g.n_layer, g.n_head, g.n_embd, norm="layernorm",
                       positions="learned", mlp="gelu", tie_embeddings=True)
    no_bias = GPTConfig(**{**g.to_dict(), "bias": False})
    assert count_parameters(ours) == gpt_count_parameters(no_bias)
    # GPT-2's published sizes count biases, which this module does not have
    assert gpt_count_parameters(g) - count_parameters(ours) == g.n_layer * (3 * g.n_embd + g.n_embd + 4 * g.n_embd
                                                                            + g.n_embd + 2 * g.n_embd) + g.n_embd


@pytest.mark.parametrize("config", list(CONFIGS.values()) + [
    LlamaConfig(V, 16, 2, 4, 32, norm="layernorm", positions="learned", mlp="gelu", tie_embeddings=True),
    LlamaConfig(V, 16, 2, 4, 32, positions="learned", n_kv_head=2),
    LlamaConfig(V, 16, 1, 3, 27, positions="learned", mlp="gelu"),      # odd head size: fine without RoPE
])
def test_formula_equals_allocated(config):
    assert count_parameters(config) == Llama(config).num_parameters()
    emb = V * config.n_embd + (16 * config.n_embd if config.positions == "learned" else 0)
    assert count_parameters(config, non_embedding=True) == count_parameters(config) - emb


def test_kv_cache_bytes_per_token_measured():
    for n_kv in (4, 2, 1):
        config = LlamaConfig(V, 24, n_layer=2, n_head=4, n_embd=32, n_kv_head=n_kv)
        model, cache = Llama(config).eval(), None
        cache = model.new_cache()
        with torch.no_grad():
            model(_ids(B=1, T=20), cache=cache)
        stored = sum(t.nbytes for layer in cache.layers for t in layer)
        assert stored == 20 * kv_cache_bytes_per_token(config, torch.float32)
    assert kv_cache_bytes_per_token(LLAMA_CONFIGS["llama-2-7b"]) == 512 * 1024        # fp16
    assert kv_cache_bytes_per_token(LLAMA_CONFIGS["llama-3-8b"]) == 128 * 1024


# ----------------------------------------------------------------------------- clear errors

@pytest.mark.parametrize("kwargs, words", [
    (dict(n_head=4, n_embd=32, n_kv_head=3), "n_kv_head to divide n_head"),
    (dict(n_head=4, n_embd=32, n_kv_head=0), "n_kv_head"),
    (dict(n_head=4, n_embd=36), "must be even"),
    (dict(n_head=5, n_embd=32), "divisible by n_head"),
    (dict(n_head=4, n_embd=32, norm="batchnorm"), "norm to be one of"),
    (dict(n_head=4, n_embd=32, positions="sinusoidal"), "positions to be one of"),
    (dict(n_head=4, n_embd=32, mlp="relu"), "mlp to be one of"),
    (dict(n_head=4, n_embd=32, rope_theta=1.0), "rope_theta > 1"),
    (dict(n_head=4, n_embd=32, mlp="gelu", hidden_dim=100), "GPT-2's, of width"),
    (dict(n_head=4, n_embd=32, tie_embeddings=1), "tie_embeddings"),
    (dict(n_head=4, n_embd=32, norm_eps=0), "norm_eps"),
])
def test_config_errors(kwargs, words):
    with pytest.raises(ValueError, match=words):
        LlamaConfig(V, 16, 1, **kwargs)


def test_forward_and_piece_errors():
    learned = Llama(LlamaConfig(V, 8, 1, 2, 16, positions="learned"))
    with pytest.raises(ValueError, match="no vector for position 8"):
        learned(torch.zeros(1, 9, dtype=torch.long))
    rope = Llama(LlamaConfig(V, 8, 1, 2, 16))
    assert rope(torch.zeros(1, 20, dtype=torch.long))[0].shape == (1, 20, V)     # RoPE runs past block_size
    with pytest.raises(ValueError, match=r"token ids in \[0, 61\)"):
        rope(torch.full((1, 3), V))
    with pytest.raises(ValueError, match="integer token ids"):
        rope(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="KVCache of 1 layers"):
        from course_lib.generation import KVCache
        rope(torch.zeros(1, 3, dtype=torch.long), cache=KVCache(2))
    with pytest.raises(ValueError, match="even head_dim"):
        rope_tables(5, 7)
    with pytest.raises(ValueError, match=r"cos of shape \(T, d\) = \(4, 8\)"):
        cos, sin = rope_tables(5, 8)
        apply_rope(torch.randn(2, 4, 8), cos, sin)
    with pytest.raises(ValueError, match="even last dimension"):
        apply_rope(torch.randn(4, 7), torch.ones(4, 7), torch.ones(4, 7))
    with pytest.raises(ValueError, match=r"weight of shape \(8,\)"):
        rms_norm(torch.randn(3, 8), torch.ones(4))
    with pytest.raises(ValueError, match="floating-point x"):
        rms_norm(torch.ones(3, 8, dtype=torch.long), torch.ones(8))
    with pytest.raises(ValueError, match=r"\(B, H_kv, T, hs\)"):
        repeat_kv(torch.randn(3, 4, 5), 2)
    with pytest.raises(ValueError, match="n_rep"):
        repeat_kv(torch.randn(1, 3, 4, 5), 0)
    with pytest.raises(ValueError, match="RMSNorm, RoPE and SwiGLU"):
        to_hf(learned)
    with pytest.raises(ValueError, match="bias=False"):
        from_gpt(GPT(GPTConfig(V, 8, 1, 2, 16, bias=True)))
    with pytest.raises(ValueError, match="LlamaConfig"):
        Llama(GPTConfig(V, 8, 1, 2, 16))
    with pytest.raises(ValueError, match="ffn_dim_multiplier"):
        llama_hidden_dim(64, ffn_dim_multiplier=-1)
    with pytest.raises(ValueError, match="floating-point torch.dtype"):
        kv_cache_bytes_per_token(LLAMA_CONFIGS["llama-2-7b"], torch.int8)
