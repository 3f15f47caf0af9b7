"""course_lib.transformer against torch.nn.LayerNorm and torch.nn.TransformerEncoderLayer/DecoderLayer."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.attention import causal_mask, padding_mask
from course_lib.tasks import NumberWords, number_to_words
from course_lib.transformer import (Decoder, DecoderLayer, Encoder, EncoderLayer, FeedForward, LayerNorm,
                                    LearnedPositionalEncoding, SinusoidalPositionalEncoding,
                                    Transformer, TransformerConfig, sinusoidal_positions)

TOL64 = dict(rtol=1e-10, atol=1e-10)
D, H, FF = 16, 4, 24


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_sinusoidal_positions_formula():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    pos, i = 7, 2                                          # column 2i = 4 is sin, 2i+1 = 5 is cos
    angle = pos / 10000 ** (2 * i / 8)
    assert math.isclose(pe[pos, 2 * i].item(), math.sin(angle), rel_tol=1e-6)
    assert math.isclose(pe[pos, 2 * i + 1].item(), math.cos(angle), rel_tol=1e-6)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))
    # each sin/cos pair has norm 1, so every position vector has norm sqrt(d/2)
    torch.testing.assert_close(pe.norm(dim=1), torch.full((50,), 2.0))
    with pytest.raises(ValueError, match="even d_model"):
        sinusoidal_positions(4, 5)


def test_positional_modules():
    x = torch.zeros(2, 5, 8)
    torch.testing.assert_close(SinusoidalPositionalEncoding(8, 10)(x)[1], sinusoidal_positions(5, 8))
    learned = LearnedPositionalEncoding(8, 10)
    torch.testing.assert_close(learned(x)[0], learned.weight[:5])
    for enc in (SinusoidalPositionalEncoding(8, 4), learned):
        with pytest.raises(ValueError, match="T <= "):
            enc(torch.zeros(1, 11, 8))


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_matches_torch(bias):
    ref = torch.nn.LayerNorm(D, eps=1e-5, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.normal_()
        if bias:
            ref.bias.normal_()
    ours = LayerNorm(D, bias=bias).double()
    ours.load_state_dict(ref.state_dict())
    x = (_x(3, 5, D) * 10 + 4).requires_grad_()
    torch.testing.assert_close(ours(x), ref(x), **TOL64)
    g1, = torch.autograd.grad(ours(x).pow(3).sum(), x)
    g2, = torch.autograd.grad(ref(x).pow(3).sum(), x)
    torch.testing.assert_close(g1, g2, **TOL64)
    with pytest.raises(ValueError, match=f"{D} features"):
        ours(_x(3, D + 1))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feedforward_matches_functional(activation):
    ffn = FeedForward(D, FF, activation).double()
    x = _x(2, 3, D)
    act = F.relu if activation == "relu" else F.gelu
    torch.testing.assert_close(ffn(x), F.linear(act(F.linear(x, ffn.linear1.weight, ffn.linear1.bias)),
                                                ffn.linear2.weight, ffn.linear2.bias), **TOL64)
    with pytest.raises(ValueError, match="activation"):
        FeedForward(D, FF, "tanh")


def _torch_layer(cls, norm_first, activation):
    torch.manual_seed(0)
    layer = cls(D, H, FF, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first,
                dtype=torch.float64)
    with torch.no_grad():                                  # non-trivial LayerNorm parameters
        for name, p in layer.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.3)
    return layer


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(norm_first, activation):
    ref = _torch_layer(torch.nn.TransformerEncoderLayer, norm_first, activation)
    ours = EncoderLayer(D, H, FF, dropout=0.0, activation=activation, norm_first=norm_first).double()
    ours.load_torch_weights(ref)
    x = _x(2, 5, D).requires_grad_()
    pad = ~padding_mask(torch.tensor([5, 3]), 5)           # True = padding, as torch wants
    out = ours(x, src_key_padding_mask=pad)
    ref_out = ref(x, src_key_padding_mask=pad)
    torch.testing.assert_close(out, ref_out, **TOL64)
    g1, = torch.autograd.grad(out.square().sum(), x)
    g2, = torch.autograd.grad(ref_out.square().sum(), x)
    torch.testing.assert_close(g1, g2, **TOL64)
    # a causal source mask: ours says True = allowed, torch's layer True = forbidden
    torch.testing.assert_close(ours(x, src_mask=causal_mask(5)), ref(x, src_mask=~causal_mask(5)), **TOL64)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(norm_first, activation):
    ref = _torch_layer(torch.nn.TransformerDecoderLayer, norm_first, activation)
    ours = DecoderLayer(D, H, FF, dropout=0.0, activation=activation, norm_first=norm_first).double()
    ours.load_torch_weights(ref)
    x, memory = _x(2, 4, D).requires_grad_(), _x(2, 6, D, seed=1).requires_grad_()
    mem_pad = ~padding_mask(torch.tensor([6, 2]), 6)
    out = ours(x, memory, tgt_is_causal=True, memory_key_padding_mask=mem_pad, need_weights=True)
    ref_out = ref(x, memory, tgt_mask=~causal_mask(4), tgt_is_causal=True, memory_key_padding_mask=mem_pad)
    torch.testing.assert_close(out, ref_out, **TOL64)
    grads = torch.autograd.grad(out.square().sum(), (x, memory))
    ref_grads = torch.autograd.grad(ref_out.square().sum(), (x, memory))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, **TOL64)
    assert ours.cross_weights.shape == (2, H, 4, 6)
    assert (ours.cross_weights[1, :, :, 2:] == 0).all()     # nobody looks at padded memory
    assert (ours.self_weights.masked_select(~causal_mask(4)) == 0).all()


def test_load_torch_weights_refuses_a_mismatch():
    ref = _torch_layer(torch.nn.TransformerEncoderLayer, False, "relu")
    with pytest.raises(ValueError, match="norm_first"):
        EncoderLayer(D, H, FF, norm_first=True).double().load_torch_weights(ref)


@pytest.mark.parametrize("norm_first", [False, True])
def test_stacks_match_torch(norm_first):
    layer = _torch_layer(torch.nn.TransformerEncoderLayer, norm_first, "relu")
    ref = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(D, dtype=torch.float64) if norm_first
                                      else None, enable_nested_tensor=False)
    ours = Encoder(2, D, H, FF, dropout=0.0, norm_first=norm_first).double()
    for a, b in zip(ours.layers, ref.layers):
        a.load_torch_weights(b)
    x = _x(2, 5, D)
    torch.testing.assert_close(ours(x), ref(x), **TOL64)

    dlayer = _torch_layer(torch.nn.TransformerDecoderLayer, norm_first, "relu")
    dref = torch.nn.TransformerDecoder(dlayer, 2, norm=torch.nn.LayerNorm(D, dtype=torch.float64) if norm_first
                                       else None)
    dours = Decoder(2, D, H, FF, dropout=0.0, norm_first=norm_first).double()
    for a, b in zip(dours.layers, dref.layers):
        a.load_torch_weights(b)
    y = _x(2, 3, D, seed=4)
    torch.testing.assert_close(dours(y, x, need_weights=True), dref(y, x, tgt_mask=~causal_mask(3), tgt_is_causal=True),
                               **TOL64)
    assert dours.cross_weights().shape == (2, 2, H, 3, 5)


def _tiny_model(**kw):
    torch.manual_seed(0)
    return Transformer(TransformerConfig(src_vocab_size=11, tgt_vocab_size=9, d_model=D, n_heads=H, d_ff=FF,
                                         n_encoder_layers=1, n_decoder_layers=1, dropout=0.0, max_len=12, **kw))


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_transformer_is_causal_and_ignores_padding(positions):
    model = _tiny_model(positions=positions).eval()
    src = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 1]])
    tgt = torch.tensor([[1, 5, 6, 7], [1, 3, 3, 2]])
    logits = model(src, tgt)
    assert logits.shape == (2, 4, 9)
    # changing a later target token leaves earlier positions alone (causal decoder)
    tgt2 = tgt.clone()
    tgt2[:, 3] = 8
    torch.testing.assert_close(model(src, tgt2)[:, :3], logits[:, :3])
    # cutting away padding from the source changes nothing
    torch.testing.assert_close(model(src[:1, :3], tgt[:1]), logits[:1], rtol=1e-5, atol=1e-6)


def test_greedy_decode_matches_step_by_step_argmax():
    model = _tiny_model()
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    out = model.greedy_decode(src, bos_id=1, eos_id=2, max_len=5)
    assert out[:, 0].tolist() == [1, 1] and out.shape[1] <= 6
    row = torch.tensor([[1]])
    for _ in range(out.shape[1] - 1):                      # redo row 0 by hand
        nxt = model.eval()(src[:1], row)[0, -1].argmax()
        row = torch.cat([row, nxt.view(1, 1)], 1)
        if nxt == 2:
            break
    assert out[0, :row.shape[1]].tolist() == row[0].tolist()
    model.train()
    model.greedy_decode(src, bos_id=1, eos_id=2, max_len=2)
    assert model.training


def test_transformer_input_errors():
    model = _tiny_model()
    with pytest.raises(ValueError, match=r"\(B, T\) torch.long"):
        model(torch.tensor([[1.0, 2.0]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match=r"ids in \[0, 11\)"):
        model(torch.tensor([[12]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match="positions"):
        Transformer(TransformerConfig(5, 5, positions="rotary"))
    with pytest.raises(ValueError, match=r"\(B, T, 16\)"):
        EncoderLayer(D, H, FF)(torch.randn(2, 3, 8))


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (42, "forty two"), (100, "one hundred"),
    (407, "four hundred seven"), (1000, "one thousand"), (12019, "twelve thousand nineteen"),
    (999999, "nine hundred ninety nine thousand nine hundred ninety nine"),
    (700070, "seven hundred thousand seventy"),
])
def test_number_to_words(n, words):
    assert " ".join(number_to_words(n)) == words


def test_number_words_split_gives_every_digit_length_its_share():
    task = NumberWords()
    train, test = task.split(24_000, 1_200, seed=1)
    assert not set(train) & set(test) and len(set(train)) == len(train) and len(set(test)) == len(test)
    count = lambda numbers, d: sum(len(str(n)) == d for n in numbers)
    # what exists of the short lengths: a third to test, the rest to train
    assert [count(test, d) for d in (1, 2, 3)] == [3, 30, 200]
    assert [count(train, d) for d in (1, 2, 3)] == [7, 60, 700]
    # the long ones get their full, equal share (uniform over values, 6 digits would take 90 %)
    assert [count(test, d) for d in (4, 5, 6)] == [200] * 3
    assert [count(train, d) for d in (4, 5, 6)] == [4000] * 3
    assert task.split(24_000, 1_200, seed=1) == (train, test)          # deterministic
    assert task.split(24_000, 1_200, seed=2) != (train, test)


def test_number_words_task():
    task = NumberWords()
    src, tgt = task.encode_src([407, 5]), task.encode_tgt([407, 5])
    assert src.shape == (2, 6) and tgt.shape == (2, task.tgt_len) and task.tgt_len == 11
    small = NumberWords(2000)                              # tgt_len is the wordiest number + BOS + EOS
    assert small.tgt_len == 2 + max(len(number_to_words(n)) for n in range(2000))
    assert task.decode_tgt(tgt[0]) == "four hundred seven" and task.decode_tgt(tgt[1]) == "five"
    assert src[1].tolist() == [task.src_stoi["5"]] + [0] * 5
    with pytest.raises(ValueError, match="n_train and n_test >= 3"):
        NumberWords(1000).split(2, 20)
    with pytest.raises(ValueError, match="n_test"):
        NumberWords(1000).split(20, 0)
    with pytest.raises(ValueError, match="integer in"):
        number_to_words(10**6)
