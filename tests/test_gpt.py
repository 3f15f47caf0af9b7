"""course_lib.gpt against transformers' GPT2LMHeadModel; generation and the KV-cache against the plain path."""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from _needs import needs_module
from course_lib import pick_device
from course_lib.generation import KVCache, generate, sample_next
from course_lib.gpt import GPT, GPT2_CONFIGS, GPTConfig, count_parameters, from_hf, to_hf
from course_lib.training import TrainConfig, load_checkpoint, save_checkpoint, train


transformers = needs_module("transformers")     # skipped locally when missing, a failure under CI=true

SMALL = GPTConfig(vocab_size=77, block_size=16, n_layer=2, n_head=4, n_embd=32, bias=False)


def _model(config=SMALL, seed=0, jitter=True):
    """A GPT on the CPU; ``jitter`` perturbs every parameter so that LayerNorm gains, biases... all matter."""
    torch.manual_seed(seed)
    model = GPT(config).eval()
    if jitter:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
    return model


def _ids(B=3, T=16, V=77, seed=1):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- parameter counts

def test_count_parameters_reproduces_published_gpt2_sizes():
    millions = {name: round(count_parameters(cfg) / 1e6) for name, cfg in GPT2_CONFIGS.items()}
    assert millions == {"gpt2": 124, "gpt2-medium": 355, "gpt2-large": 774, "gpt2-xl": 1558}
    # the common "150 million" is wrong by more than 20%
    assert abs(count_parameters(GPT2_CONFIGS["gpt2"]) - 150e6) / 150e6 > 0.15


def test_count_parameters_reference_tiny_config():
    cfg = GPTConfig(77, 64, n_layer=4, n_head=4, n_embd=128, bias=False)
    assert count_parameters(cfg) == 805_632
    assert count_parameters(cfg) == GPT(cfg).num_parameters()


@pytest.mark.parametrize("config", [
    SMALL,
    GPTConfig(50, 24, n_layer=3, n_head=2, n_embd=16, bias=True),
    GPTConfig(11, 8, n_layer=1, n_head=1, n_embd=8, bias=False),
])
def test_count_parameters_matches_instantiated_models(config):
    assert count_parameters(config) == GPT(config).num_parameters()
    hf_count = sum(p.numel() for p in to_hf(GPT(config)).parameters())
    # transformers' GPT-2 always has biases: equal to our count of the same config with bias=True
    with_bias = GPTConfig(**{**config.to_dict(), "bias": True})
    assert count_parameters(with_bias) == hf_count
    assert count_parameters(config, non_embedding=True) == count_parameters(config) - config.block_size * config.n_embd


# ----------------------------------------------------------------------------- same logits as transformers

@pytest.mark.parametrize("bias, gelu", [(False, "tanh"), (True, "tanh"), (False, "exact")])
def test_to_hf_gives_identical_logits(bias, gelu):
    config = GPTConfig(**{**SMALL.to_dict(), "bias": bias, "gelu": gelu})
    model = _model(config)
    x = _ids()
    hf = to_hf(model)
    ours = model(x)[0]
    theirs = hf(input_ids=x).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_the_two_gelus_give_different_logits():
    """So that the equality tests above can tell a tanh GELU from an exact one."""
    tanh = _model(GPTConfig(**{**SMALL.to_dict(), "gelu": "tanh"}))
    exact = _model(GPTConfig(**{**SMALL.to_dict(), "gelu": "exact"}))
    with torch.no_grad():
        for p in exact.parameters():
            p.mul_(4.0)                  # larger activations, where the two curves part
        for p, q in zip(tanh.parameters(), exact.parameters()):
            p.copy_(q)
    x = _ids()
    assert (tanh(x)[0] - exact(x)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("activation, gelu", [("gelu_new", "tanh"), ("gelu", "exact")])
def test_from_hf_gives_identical_logits(activation, gelu):
    hf_config = transformers.GPT2Config(vocab_size=61, n_positions=20, n_embd=24, n_layer=2, n_head=3,
                                        activation_function=activation, bos_token_id=None, eos_token_id=None)
    torch.manual_seed(3)
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))     # non-zero biases, non-unit LayerNorm gains
    ours = from_hf(hf).eval()
    x = _ids(B=2, T=20, V=61)
    torch.testing.assert_close(ours(x)[0], hf(input_ids=x).logits, atol=1e-5, rtol=1e-5)
    assert ours.config == GPTConfig(61, 20, 2, 3, 24, dropout=0.1, bias=True, gelu=gelu)   # GPT-2's dropout
    # and back again
    torch.testing.assert_close(to_hf(ours)(input_ids=x).logits, hf(input_ids=x).logits, atol=1e-5, rtol=1e-5)


def test_loss_matches_transformers_shifted_labels():
    model = _model()
    x = _ids(T=16)
    hf = to_hf(model)
    # transformers shifts labels inside: loss of logits[:, :-1] against x[:, 1:]
    hf_loss = hf(input_ids=x, labels=x).loss
    ours = model(x[:, :-1], x[:, 1:])[1]
    torch.testing.assert_close(ours, hf_loss, atol=1e-5, rtol=1e-5)


def test_loss_equals_the_course_cross_entropy_with_padding():
    from course_lib.losses import cross_entropy
    model = _model()
    x, y = _ids(T=16), _ids(T=16, seed=2)
    y[0, 5:] = -100                                  # padded positions are skipped by both
    logits, loss = model(x, y)
    torch.testing.assert_close(loss, cross_entropy(logits, y), atol=1e-6, rtol=1e-6)


def test_attention_maps_match_transformers_eager_attentions():
    model = _model()
    x = _ids(B=2, T=10)
    maps = model.attention_maps(x)                                  # (L, B, H, T, T)
    assert maps.shape == (2, 2, 4, 10, 10)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 4, 10))
    assert torch.all(maps.triu(diagonal=1) == 0)                    # causal: nothing from the future
    hf = to_hf(model)
    hf.set_attn_implementation("eager")
    out = hf(input_ids=x, output_attentions=True)
    torch.testing.assert_close(maps, torch.stack(out.attentions), atol=1e-5, rtol=1e-5)


def test_weight_tying_and_architecture():
    model = _model(jitter=False)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert isinstance(model.transformer.h[0].mlp.gelu, torch.nn.GELU)
    assert model.transformer.h[0].mlp.gelu.approximate == "tanh"


# ----------------------------------------------------------------------------- KV-cache

def test_kv_cache_logits_equal_the_uncached_path():
    model = _model()
    x = _ids(B=2, T=12)
    full = model(x)[0]                                              # (B, T, V)
    cache = KVCache(SMALL.n_layer)
    pieces = [model(x[:, :5], cache=cache)[0]]                      # a prompt of 5 tokens...
    pieces += [model(x[:, t:t + 1], cache=cache)[0] for t in range(5, 9)]  # ...then one token at a time
    pieces.append(model(x[:, 9:], cache=cache)[0])                  # ...then 3 at once
    assert len(cache) == 12
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_generate_greedy_with_and_without_cache_agree_past_block_size():
    model = _model()
    prompt = _ids(B=2, T=4)
    cached = model.generate(prompt, 30, temperature=0, use_cache=True)   # 34 > block_size 16: the window slides
    plain = model.generate(prompt, 30, temperature=0, use_cache=False)
    assert cached.shape == (2, 34)
    assert torch.equal(cached, plain)
    assert torch.equal(cached[:, :4], prompt)


def test_generate_sampling_is_reproducible_and_cache_independent():
    model = _model()
    prompt = _ids(B=1, T=3)[0]                                          # (T,) works too
    a = model.generate(prompt, 20, temperature=0.9, top_k=10, top_p=0.9, seed=7)
    b = model.generate(prompt, 20, temperature=0.9, top_k=10, top_p=0.9, seed=7, use_cache=False)
    c = model.generate(prompt, 20, temperature=0.9, top_k=10, top_p=0.9, seed=8)
    assert a.shape == (23,) and torch.equal(a, b) and not torch.equal(a, c)


def test_sampling_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    top1 = {sample_next(logits, top_k=1, generator=g).item() for _ in range(20)}
    assert top1 == {0}
    # top_p = 0.7: 0.5 alone falls short, 0.5 + 0.3 reaches it -> tokens {0, 1}
    seen = {sample_next(logits, top_p=0.7, generator=g).item() for _ in range(300)}
    assert seen == {0, 1}
    seen = {sample_next(logits, top_k=3, generator=g).item() for _ in range(300)}
    assert seen == {0, 1, 2}
    assert sample_next(logits, temperature=0).item() == 0


# ----------------------------------------------------------------------------- bad input

def test_bad_inputs_get_clear_value_errors():
    model = _model()
    with pytest.raises(ValueError, match="longer than block_size=16"):
        model.generate(_ids(B=1, T=17), 5)
    with pytest.raises(ValueError, match=r"token ids in \[0, 77\).*got 77"):
        model(torch.tensor([[1, 2, 77]]))
    with pytest.raises(ValueError, match="got -1"):
        model.generate(torch.tensor([[1, -1]]), 3)
    with pytest.raises(ValueError, match=r"target ids in \[0, 77\).*got 80"):
        model(_ids(B=1, T=3), torch.tensor([[1, 80, 2]]))
    with pytest.raises(ValueError, match=r"targets of shape \(1, 3\)"):
        model(_ids(B=1, T=3), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="shape \\(B, T\\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="block_size=16"):
        model(_ids(B=1, T=17))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(_ids(B=1, T=2), 3, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(_ids(B=1, T=2), 3, top_k=0)
    with pytest.raises(ValueError, match="n_embd divisible by n_head"):
        GPTConfig(10, 8, 1, 3, 16)
    with pytest.raises(ValueError, match=r"gelu to be one of \['exact', 'tanh'\], got 'erf'"):
        GPTConfig(10, 8, 1, 2, 16, gelu="erf")
    relu = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=11, n_positions=8, n_embd=8, n_layer=1,
                                                                n_head=2, activation_function="relu"))
    with pytest.raises(ValueError, match="got activation 'relu'"):
        from_hf(relu)


@settings(max_examples=25, deadline=None)
@given(top_p=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=1.0, exclude_min=True,
                                                                             allow_nan=False)))
def test_property_top_p_outside_0_1_is_refused(top_p):
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        sample_next(torch.zeros(1, 5), top_p=top_p)


def test_checkpoint_from_another_gpt_config_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "gpt.pt", _model())
    bigger = GPTConfig(**{**SMALL.to_dict(), "n_layer": 3, "n_embd": 64})
    with pytest.raises(ValueError, match=r"n_embd: checkpoint 32 vs model 64; n_layer: checkpoint 2 vs model 3"):
        load_checkpoint(path, GPT(bigger))


def test_checkpoint_written_before_a_config_field_existed_loads(tmp_path):
    """A checkpoint from before GPTConfig.gelu: its config lacks the field, whose default is what it used."""
    model = _model()
    path = save_checkpoint(tmp_path / "old.pt", model)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["gelu"]
    torch.save(payload, path)
    again = GPT(SMALL)
    load_checkpoint(path, again)                           # used to fail: "gelu: checkpoint None vs model 'tanh'"
    x = _ids()
    torch.testing.assert_close(again.eval()(x)[0], model(x)[0])
    with pytest.raises(ValueError, match="gelu: checkpoint 'tanh' vs model 'exact'"):
        load_checkpoint(path, GPT(GPTConfig(**{**SMALL.to_dict(), "gelu": "exact"})))
    payload["config"]["heads"] = 4                         # a field this code does not know
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"cannot read.*unknown fields \['heads'\]"):
        load_checkpoint(path, GPT(SMALL))


def test_no_module_uses_another_modules_private_helpers():
    import re
    from pathlib import Path

    import course_lib
    for name in ("gpt", "generation", "losses", "training"):
        source = (Path(course_lib.__file__).parent / f"{name}.py").read_text()
        private = re.findall(r"from \.(?!_validate\b)\w+ import [^\n]*\b_\w+", source)
        assert not private, f"{name}.py imports private helpers: {private}"


def test_trains_with_the_course_loop_and_reloads(tmp_path):
    torch.manual_seed(0)
    data = torch.arange(400) % 7                                     # a sequence a GPT learns at once
    model = GPT(GPTConfig(7, 8, 1, 2, 16))
    cfg = TrainConfig(max_iters=60, batch_size=8, lr=1e-2, min_lr=1e-3, warmup_iters=5, eval_interval=30,
                      eval_iters=2, progress=False, checkpoint_path=str(tmp_path / "m.pt"))
    h = train(model, data[:300], data[300:], cfg)
    assert h.eval_val[-1] < 0.2 < h.eval_val[0]
    again = GPT(GPTConfig(7, 8, 1, 2, 16))
    load_checkpoint(tmp_path / "m.pt", again)
    x = data[None, :8]
    torch.testing.assert_close(again.eval()(x)[0], model.eval()(x)[0])


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cuda", "mps", "cpu")
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else pick_device().type)
    with pytest.raises(ValueError, match="pick_device expected a device"):
        pick_device("gpu0")
    import course_lib.gpt as gpt
    assert not hasattr(gpt, "pick_device")              # one device choice, in course_lib.core


def test_missing_transformers_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_for_this_test"):
        needs_module("no_such_module_for_this_test")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        needs_module("no_such_module_for_this_test")


# ----------------------------------------------------------------------------- devices

def test_gpt_stays_where_torch_builds_it_and_has_no_device_argument():
    assert "device" not in inspect.signature(GPT).parameters
    model = GPT(SMALL)
    assert model.device == torch.device("cpu")              # even when a GPU is present
    with torch.device("meta"):                               # torch's own way to choose: follows it
        assert GPT(SMALL).device.type == "meta"
    assert model.to("meta").device.type == "meta"


def test_int32_targets_are_accepted_like_cross_entropy_accepts_them():
    from course_lib.losses import cross_entropy
    model = _model()
    x, y = _ids(T=16), _ids(T=16, seed=2)
    logits, loss64 = model(x, y)
    _, loss32 = model(x, y.int())                            # torch's kernel alone refuses int32
    torch.testing.assert_close(loss32, loss64)
    torch.testing.assert_close(cross_entropy(logits, y.int()), loss64, atol=1e-6, rtol=1e-6)
    for bad in (y.float(), y.bool()):
        with pytest.raises(ValueError, match="GPT.forward expected integer class ids"):
            model(x, bad)
