"""course_lib.attention against torch's scaled_dot_product_attention and nn.MultiheadAttention."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.attention import (MultiHeadAttention, causal_mask, chunked_attention, padding_mask,
                                  scaled_dot_product_attention, softmax)
from course_lib.profiling import peak_memory

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-5)}


def _qkv(lead=(2, 3), Tq=5, Tk=7, d_k=4, d_v=6, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*lead, Tq, d_k, generator=g, dtype=dtype)
    k = torch.randn(*lead, Tk, d_k, generator=g, dtype=dtype)
    v = torch.randn(*lead, Tk, d_v, generator=g, dtype=dtype)
    return q, k, v


# ----------------------------------------------------------------------------- softmax and masks

def test_softmax_matches_torch_and_is_stable():
    x = torch.randn(3, 4, 5, dtype=torch.float64) * 3
    for dim in (-1, 0, 1):
        torch.testing.assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim))
    big = torch.tensor([[1000.0, 1001.0, 999.0]])
    naive = torch.exp(big) / torch.exp(big).sum(-1, keepdim=True)
    assert torch.isnan(naive).all()          # the naive formula overflows...
    out = softmax(big)                       # ...the shifted one does not
    torch.testing.assert_close(out, torch.softmax(big, dim=-1))
    assert torch.isfinite(out).all()


def test_masks():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m[2, 1] and m[2, 2] and not m[1, 2]
    p = padding_mask(torch.tensor([2, 4, 0]), 4)
    assert p.tolist() == [[True, True, False, False], [True] * 4, [False] * 4]
    assert padding_mask([1], 3).tolist() == [[True, False, False]]


@pytest.mark.parametrize("bad, msg", [
    (lambda: causal_mask(0), "integer >= 1"),
    (lambda: causal_mask(2.0), "integer >= 1"),
    (lambda: padding_mask(torch.tensor([1, 5]), 4), r"lengths in \[0, 4\]"),
    (lambda: padding_mask(torch.tensor([[1]]), 4), "1-D"),
    (lambda: padding_mask(torch.tensor([1.0]), 4), "integer"),
    (lambda: softmax(torch.arange(3)), "floating-point"),
])
def test_mask_and_softmax_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        bad()


# ----------------------------------------------------------------------------- scaled dot-product attention

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
@pytest.mark.parametrize("kind", ["none", "bool", "additive", "causal", "bool-broadcast", "key-padding"])
def test_sdpa_matches_torch(dtype, lead, kind):
    q, k, v = _qkv(lead=lead, dtype=dtype, Tk=5 if kind == "causal" else 7)
    Tq, Tk = q.shape[-2], k.shape[-2]
    g = torch.Generator().manual_seed(1)
    mask, is_causal = None, False
    if kind in ("bool", "bool-broadcast"):
        shape = (*lead, Tq, Tk) if kind == "bool" else (*([1] * len(lead)), Tq, Tk)
        mask = torch.rand(shape, generator=g) > 0.4
        mask[..., 0] = True                                    # every query may see at least one key
    elif kind == "additive":
        mask = torch.randn(Tq, Tk, generator=g, dtype=dtype)
        mask[1, 2:] = float("-inf")
    elif kind == "key-padding":                                # (..., 1, Tk): one row for every query
        mask = torch.rand((*lead, 1, Tk), generator=g) > 0.4
        mask[..., 0] = True
    elif kind == "causal":
        is_causal = True
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
    out, w = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    assert w.shape == (*lead, Tq, Tk)
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=dtype), **TOL[dtype])
    if mask is not None and mask.dtype == torch.bool:
        assert (w.masked_select(~mask.expand_as(w)) == 0).all()
    if is_causal:
        assert (w.masked_select(~causal_mask(Tq)) == 0).all()
    fused, none = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal, need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, ref, **TOL[dtype])


def test_sdpa_gradients_match_torch():
    q, k, v = (t.requires_grad_() for t in _qkv())
    out, _ = scaled_dot_product_attention(q, k, v, is_causal=True)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, **TOL[torch.float64])


def test_sdpa_mask_and_causal_combine():
    q, k, v = _qkv(lead=(2,), Tq=5, Tk=5)
    pad = padding_mask(torch.tensor([5, 3]), 5)[:, None, :]    # (B, 1, Tk)
    out, w = scaled_dot_product_attention(q, k, v, pad.expand(2, 5, 5), is_causal=True)
    both = pad & causal_mask(5)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=both), **TOL[torch.float64])


def test_sdpa_dropout_keeps_expectation_shape():
    torch.manual_seed(0)
    q, k, v = _qkv(lead=(1,), Tq=3, Tk=3)
    _, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert (w == 0).any()                                      # some weights were dropped
    kept = w[w != 0]
    _, w0 = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(kept, (w0 * 2)[w != 0])         # and the rest scaled by 1/(1-p)


@pytest.mark.parametrize("make, msg", [
    (lambda q, k, v: (q, k[..., :3], v), "share d_k"),
    (lambda q, k, v: (q, k, v[..., :4, :]), "same Tk"),
    (lambda q, k, v: (q, k[0], v[0]), "same number of dimensions"),
    (lambda q, k, v: (q, k.float(), v), "one dtype"),
    (lambda q, k, v: (q.long(), k, v), "floating-point q"),
    (lambda q, k, v: (q[0, 0, 0], k, v), "at least 2 dimensions"),
])
def test_sdpa_shape_errors(make, msg):
    with pytest.raises(ValueError, match=msg):
        scaled_dot_product_attention(*make(*_qkv()))


@pytest.mark.parametrize("mask, msg", [
    (torch.ones(7, 5, dtype=torch.bool), r"shape \(Tq, Tk\) = \(5, 7\)"),         # transposed
    (torch.ones(5, dtype=torch.bool), r"shape \(Tq, Tk\)"),
    (torch.ones(2, 7, dtype=torch.bool), r"shape \(Tq, Tk\)"),
    (torch.ones(4, 1, 5, 7, dtype=torch.bool), "leading dims are 1 or match"),
    (torch.ones(5, 7, dtype=torch.long), "boolean mask"),
])
def test_sdpa_mask_errors(mask, msg):
    with pytest.raises(ValueError, match=msg):
        scaled_dot_product_attention(*_qkv(), mask)


# ----------------------------------------------------------------------------- mask mistakes that used to pass silently

def test_float_zero_one_mask_is_refused_with_the_two_conventions():
    q, k, v = _qkv(lead=(2,), Tq=5, Tk=5)
    zero_one = torch.tril(torch.ones(5, 5, dtype=torch.float64))            # meant as "may attend"
    with pytest.raises(ValueError, match=r"only 0s and 1s.*ADDED to the scores.*\.bool\(\)"):
        scaled_dot_product_attention(q, k, v, zero_one)
    with pytest.raises(ValueError, match=r"attn_mask.*only 0s and 1s"):
        MultiHeadAttention(4, 2).double()(torch.randn(2, 5, 4, dtype=torch.float64), attn_mask=zero_one)
    # what the message suggests works, and equals the boolean and the additive spelling
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, zero_one.bool())[0], ref)
    additive = torch.zeros(5, 5, dtype=torch.float64).masked_fill(zero_one == 0, float("-inf"))
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, additive)[0], ref)
    # an additive mask of zeros (nothing forbidden) and a real bias stay accepted
    scaled_dot_product_attention(q, k, v, torch.zeros(5, 5, dtype=torch.float64))
    scaled_dot_product_attention(q, k, v, torch.full((5, 5), 0.5, dtype=torch.float64))


@pytest.mark.parametrize("need_weights", [True, False])
def test_a_query_with_no_allowed_key_raises_naming_the_row(need_weights):
    q, k, v = _qkv(lead=(2,), Tq=4, Tk=6)
    mask = torch.ones(2, 4, 6, dtype=torch.bool)
    mask[1, 2] = False                                                     # batch 1, query 2 sees nothing
    with pytest.raises(ValueError, match=r"every key is forbidden for query 2 at leading index \(1\).*NaN"):
        scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    additive = torch.zeros(4, 6, dtype=torch.float64)
    additive[3] = float("-inf")
    with pytest.raises(ValueError, match=r"every key is forbidden for query 3"):
        scaled_dot_product_attention(q, k, v, additive, need_weights=need_weights)
    # torch answers silently here: softmax gives NaN, the fused kernel a row of zeros
    scores = (q @ k.transpose(-2, -1)).masked_fill(~mask, float("-inf"))
    assert torch.isnan(torch.softmax(scores, -1)[1, 2]).all()
    assert (F.scaled_dot_product_attention(q, k, v, attn_mask=mask)[1, 2] == 0).all()


def test_padding_mask_in_the_key_padding_slot_is_caught():
    """padding_mask() is True at REAL tokens; key_padding_mask wants True at PADDING. The longest
    sentence of a batch is all real, so the mix-up forbids every key of that sentence."""
    q, k, v = _qkv(lead=(3, 2), Tq=5, Tk=5)
    real = padding_mask(torch.tensor([5, 3, 2]), 5)                       # (B, Tk) True = real
    with pytest.raises(ValueError, match=r"every key is forbidden.*key_padding_mask=~padding_mask"):
        scaled_dot_product_attention(q, k, v, key_padding_mask=real)
    mha = MultiHeadAttention(4, 2)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: every key is forbidden.*True = PADDING"):
        mha(torch.randn(3, 5, 4), key_padding_mask=real)
    # the right spelling equals torch with the same mask
    out, w = scaled_dot_product_attention(q, k, v, key_padding_mask=~real)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=real[:, None, None, :]))
    assert (w[1, :, :, 3:] == 0).all()
    # torch's nn.MultiheadAttention convention for attn_mask (True = forbidden) is caught the same way
    with pytest.raises(ValueError, match="torch.nn.MultiheadAttention's attn_mask is the opposite"):
        mha(torch.randn(2, 5, 4), attn_mask=~causal_mask(5))


def test_a_two_d_mask_that_could_be_key_padding_is_refused():
    B = T = 4
    q, k, v = _qkv(lead=(B,), Tq=T, Tk=T)
    pad = padding_mask(torch.tensor([4, 3, 2, 2]), T)                     # (B, Tk), B == Tq
    with pytest.raises(ValueError, match=r"B = 4 equals the number of queries Tq = 4.*key_padding_mask"):
        scaled_dot_product_attention(q, k, v, pad)
    with pytest.raises(ValueError, match="could be a"):
        MultiHeadAttention(4, 2)(torch.randn(B, T, 4), attn_mask=pad)
    # both readings, spelled out, are accepted and differ
    as_keys, _ = scaled_dot_product_attention(q, k, v, key_padding_mask=~pad)
    as_queries, _ = scaled_dot_product_attention(q, k, v, pad[None])
    torch.testing.assert_close(as_keys, F.scaled_dot_product_attention(q, k, v, attn_mask=pad[:, None, :]))
    assert not torch.allclose(as_keys, as_queries)
    # the causal pattern (square, and the KV-cache form) is taken as what it is
    scaled_dot_product_attention(q, k, v, causal_mask(T))
    k2, v2 = _qkv(lead=(B,), Tq=T, Tk=T + 3)[1:]
    kv_cache = torch.ones(T, T + 3, dtype=torch.bool).tril(diagonal=3)
    torch.testing.assert_close(scaled_dot_product_attention(q, k2, v2, kv_cache)[0],
                               F.scaled_dot_product_attention(q, k2, v2, attn_mask=kv_cache))
    # with B != Tq a (B, Tk) mask cannot pass for (Tq, Tk), and the error points to key_padding_mask
    with pytest.raises(ValueError, match="goes in key_padding_mask"):
        scaled_dot_product_attention(*_qkv(lead=(3,), Tq=4, Tk=4), padding_mask(torch.tensor([4, 3, 2]), 4))


def test_key_padding_mask_shape_and_dtype_errors():
    q, k, v = _qkv(lead=(2, 3), Tq=5, Tk=7)
    with pytest.raises(ValueError, match=r"key_padding_mask as a bool tensor of shape \(B, Tk\) = \(2, 7\)"):
        scaled_dot_product_attention(q, k, v, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="True = padding"):
        scaled_dot_product_attention(q, k, v, key_padding_mask=torch.zeros(2, 7))
    with pytest.raises(ValueError, match="batch dim"):
        scaled_dot_product_attention(q[0, 0], k[0, 0], v[0, 0], key_padding_mask=torch.zeros(1, 7, dtype=torch.bool))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.integers(1, 3))
def test_sdpa_property_matches_torch(Tq, Tk, d, B):
    q, k, v = _qkv(lead=(B,), Tq=Tq, Tk=Tk, d_k=d, d_v=d)
    out, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL[torch.float64])


# ----------------------------------------------------------------------------- multi-head attention

def _pair(d_model=12, n_heads=3, bias=True, kdim=None, vdim=None, dtype=torch.float64):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(d_model, n_heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=True,
                                      dtype=dtype)
    ours = MultiHeadAttention(d_model, n_heads, bias=bias, kdim=kdim, vdim=vdim).to(dtype)
    ours.load_torch_weights(ref)
    return ours, ref


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("use_padding", [False, True])
def test_mha_matches_torch(bias, cross, use_padding):
    kdim, vdim = (5, 7) if cross else (None, None)
    ours, ref = _pair(bias=bias, kdim=kdim, vdim=vdim)
    g = torch.Generator().manual_seed(2)
    B, Tq, Tk = 2, 4, 6 if cross else 4
    x = torch.randn(B, Tq, 12, generator=g, dtype=torch.float64, requires_grad=True)
    key = torch.randn(B, Tk, kdim, generator=g, dtype=torch.float64) if cross else x
    value = torch.randn(B, Tk, vdim, generator=g, dtype=torch.float64) if cross else x
    kpm = ~padding_mask(torch.tensor([Tk, 2]), Tk) if use_padding else None
    out, w = ours(x, key, value, key_padding_mask=kpm)
    ref_out, ref_w = ref(x, key, value, key_padding_mask=kpm)
    torch.testing.assert_close(out, ref_out, **TOL[torch.float64])
    assert w.shape == (B, 3, Tq, Tk)
    torch.testing.assert_close(w.mean(1), ref_w, **TOL[torch.float64])
    if use_padding:
        assert (w[1, :, :, 2:] == 0).all()
    # gradients with respect to the input and to every parameter
    grad_x, = torch.autograd.grad(out.sum(), x)
    ref_grad_x, = torch.autograd.grad(ref_out.sum(), x)
    torch.testing.assert_close(grad_x, ref_grad_x, **TOL[torch.float64])
    out, _ = ours(x, key, value, key_padding_mask=kpm)
    ref_out, _ = ref(x, key, value, key_padding_mask=kpm)
    out.square().sum().backward()
    ref_out.square().sum().backward()
    torch.testing.assert_close(ours.out_proj.weight.grad, ref.out_proj.weight.grad, **TOL[torch.float64])
    wq = ours.q_proj.weight.grad
    ref_wq = ref.in_proj_weight.grad[:12] if ref.in_proj_weight is not None else ref.q_proj_weight.grad
    torch.testing.assert_close(wq, ref_wq, **TOL[torch.float64])
    ref_wv = ref.in_proj_weight.grad[24:] if ref.in_proj_weight is not None else ref.v_proj_weight.grad
    torch.testing.assert_close(ours.v_proj.weight.grad, ref_wv, **TOL[torch.float64])
    if bias:
        torch.testing.assert_close(torch.cat([ours.q_proj.bias.grad, ours.k_proj.bias.grad, ours.v_proj.bias.grad]),
                                   ref.in_proj_bias.grad, **TOL[torch.float64])


def test_mha_causal_matches_torch_mask_convention():
    ours, ref = _pair()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    out, w = ours(x, attn_mask=causal_mask(5))                 # ours: True = allowed
    ref_out, _ = ref(x, x, x, attn_mask=~causal_mask(5))       # torch's nn module: True = forbidden
    torch.testing.assert_close(out, ref_out, **TOL[torch.float64])
    out2, _ = ours(x, is_causal=True)
    torch.testing.assert_close(out2, ref_out, **TOL[torch.float64])
    fused, none = ours(x, is_causal=True, need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, ref_out, **TOL[torch.float64])
    assert (w.masked_select(~causal_mask(5)) == 0).all()


def test_mha_float32_matches_torch():
    ours, ref = _pair(d_model=32, n_heads=4, dtype=torch.float32)
    x = torch.randn(3, 9, 32)
    torch.testing.assert_close(ours(x)[0], ref(x, x, x)[0], **TOL[torch.float32])


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        mha(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(torch.randn(2, 3, 8), key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        mha(torch.randn(2, 3, 8), attn_mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same B and Tk"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 4, 8), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="kdim"):
        mha.load_torch_weights(torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=3))


# ----------------------------------------------------------------------------- chunked attention

@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunked_equals_plain(chunk_size, is_causal, dtype):
    q, k, v = _qkv(lead=(2, 2), Tq=11, Tk=11 if is_causal else 13, dtype=dtype)
    q = q * 4                                                  # sharp softmax: the rescaling matters
    ref, _ = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    out = chunked_attention(q, k, v, chunk_size=chunk_size, is_causal=is_causal)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=is_causal), **TOL[dtype])


def test_chunked_errors():
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_attention(*_qkv(), chunk_size=0)
    with pytest.raises(ValueError, match="share d_k"):
        chunked_attention(*_qkv(d_k=3)[:1], *_qkv(d_k=4)[1:], chunk_size=2)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="peak_memory reads /proc")
def test_peak_memory_sees_a_big_tensor_and_chunking_saves_memory():
    n = 32 * 1024 * 1024                                       # a 128 MiB float32 tensor
    measured = peak_memory(lambda: torch.ones(n).sum())
    assert 0.9 * 4 * n < measured < 1.3 * 4 * n
    q, k, v = _qkv(lead=(1,), Tq=2048, Tk=2048, d_k=32, d_v=32, dtype=torch.float32)
    plain = peak_memory(lambda: scaled_dot_product_attention(q, k, v)[0])
    chunked = peak_memory(lambda: chunked_attention(q, k, v, chunk_size=128))
    assert plain > 2 * 2048 * 2048 * 4 * 0.9                   # scores and weights: two (T, T) matrices
    assert chunked < plain / 4
