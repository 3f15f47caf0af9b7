"""course_lib.text: tokenizers, Vocab, one-hot, embedding lookup, cosine similarity, batches.

Numbers are checked against independent implementations in torch and scipy.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cosine as scipy_cosine

from course_lib.text import (Vocab, char_tokenize, chinese_tokenize, cosine_similarity, embedding_lookup,
                             one_hot, random_batches, word_tokenize)

FAST = settings(max_examples=40, deadline=None)
not_str = st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text(max_size=3), max_size=3))


# --- tokenizers ----------------------------------------------------------------------------------

def test_word_tokenize_english():
    assert word_tokenize("Don't stop, Romeo!") == ["don't", "stop", ",", "romeo", "!"]
    assert word_tokenize("To be, or not to be", lower=False) == ["To", "be", ",", "or", "not", "to", "be"]
    assert word_tokenize("well-known  words\n\tand\u2019apostrophes") == ["well-known", "words", "and\u2019apostrophes"]


def test_word_tokenize_chinese_one_token_per_character():
    assert word_tokenize("我 爱 吃 水果") == ["我", "爱", "吃", "水", "果"]
    assert word_tokenize("我爱吃水果。") == ["我", "爱", "吃", "水", "果", "。"]
    # a Latin word glued to Chinese characters stays whole
    assert word_tokenize("I love 水果and GPT模型") == ["i", "love", "水", "果", "and", "gpt", "模", "型"]


def test_char_and_chinese_tokenize():
    assert char_tokenize("to be\n") == ["t", "o", " ", "b", "e", "\n"]
    assert chinese_tokenize("我 爱 吃 水果") == ["我", "爱", "吃", "水", "果"]
    assert chinese_tokenize(" \n") == [] and word_tokenize("") == [] and char_tokenize("") == []


@FAST
@given(st.text(max_size=60))
def test_char_tokenize_round_trip(text):
    assert "".join(char_tokenize(text)) == text


@FAST
@given(st.text(max_size=60))
def test_word_tokens_have_no_spaces_and_appear_in_order(text):
    tokens = word_tokenize(text, lower=False)
    rest = text
    for tok in tokens:
        assert tok and not any(ch.isspace() for ch in tok)
        pos = rest.find(tok)
        assert pos >= 0, (tok, text)
        rest = rest[pos + len(tok):]


@FAST
@given(not_str)
def test_tokenizers_reject_non_strings(bad):
    for fn in (word_tokenize, char_tokenize, chinese_tokenize):
        with pytest.raises(ValueError, match="expected a str, got"):
            fn(bad)


# --- Vocab ---------------------------------------------------------------------------------------

def test_vocab_order_unk_and_min_freq():
    tokens = "the cat sat on the mat the cat".split()
    v = Vocab(tokens, min_freq=2)
    assert v.itos == ["<unk>", "the", "cat"]  # unk first, then by frequency
    assert v.encode(["the", "dog", "cat"]) == [1, 0, 2]
    assert v.unk_id == 0 and len(v) == 3 and "cat" in v and "sat" not in v
    full = Vocab(tokens)
    assert full.itos == ["<unk>", "the", "cat", "sat", "on", "mat"]  # ties in order of first appearance
    assert Vocab(tokens, max_size=3).itos == ["<unk>", "the", "cat"]
    assert Vocab(tokens, specials=["<pad>", "<bos>"]).itos[:4] == ["<unk>", "<pad>", "<bos>", "the"]
    assert full.counts["the"] == 3
    assert "Vocab(size=6" in repr(full)


def test_vocab_without_unk_raises_on_unknown():
    v = Vocab(["a", "b"], unk=None)
    assert v.encode(["b", "a"]) == [1, 0] and v.unk_id is None
    with pytest.raises(ValueError, match="'zebra' is not in the vocabulary and this Vocab has no unknown token"):
        v.encode(["a", "zebra"])


@FAST
@given(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=30))
def test_encode_decode_round_trip(tokens):
    v = Vocab(tokens, unk=None)
    ids = v.encode(tokens)
    assert v.decode(ids) == tokens
    assert v.decode(np.array(ids)) == tokens and v.decode(torch.tensor(ids)) == tokens
    assert sorted(set(ids)) == list(range(len(v)))


@FAST
@given(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=30), st.integers(1, 4))
def test_rare_tokens_become_unk(tokens, min_freq):
    v = Vocab(tokens, min_freq=min_freq)
    counts = {t: tokens.count(t) for t in tokens}
    decoded = v.decode(v.encode(tokens))
    assert decoded == [t if counts[t] >= min_freq else "<unk>" for t in tokens]


@FAST
@given(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=10), st.text(min_size=5, max_size=8))
def test_unknown_word_without_unk_token_is_a_value_error(tokens, unseen):
    v = Vocab(tokens, unk=None)
    if unseen in v:
        return
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode([unseen])


@pytest.mark.parametrize("empty", [[], "", iter(())])
def test_empty_text_is_a_value_error(empty):
    with pytest.raises(ValueError, match="no tokens at all|got a single str"):
        Vocab(empty)
    with pytest.raises(ValueError):
        Vocab(word_tokenize("   \n"), unk=None)


def test_everything_below_min_freq_without_unk():
    with pytest.raises(ValueError, match="Vocab is empty: no token occurs at least min_freq=5 times"):
        Vocab(["a", "b", "a"], min_freq=5, unk=None)


@FAST
@given(not_str.filter(lambda x: not isinstance(x, list)))
def test_vocab_rejects_wrong_types(bad):
    with pytest.raises(ValueError):
        Vocab([bad])  # non-str token
    v = Vocab(["a"])
    with pytest.raises(ValueError, match="expected a str token"):
        v.encode([bad])


@pytest.mark.parametrize("kw", [{"min_freq": 0}, {"min_freq": 1.5}, {"min_freq": True}, {"max_size": 0}])
def test_vocab_rejects_bad_settings(kw):
    with pytest.raises(ValueError):
        Vocab(["a"], **kw)


def test_vocab_rejects_raw_strings_and_bad_ids():
    v = Vocab(["a", "b"])
    with pytest.raises(ValueError, match="got a single str"):
        Vocab("some text")
    with pytest.raises(ValueError, match="got a str; tokenize the text first"):
        v.encode("a b")
    with pytest.raises(ValueError, match=r"outside the vocabulary range \[0, 3\)"):
        v.decode([3])
    with pytest.raises(ValueError, match="decode expected integer ids, got float 1.0"):
        v.decode([1.0])


# --- one-hot, embedding lookup, cosine -----------------------------------------------------------

@FAST
@given(st.lists(st.integers(0, 9), max_size=12), st.integers(10, 14))
def test_one_hot_matches_torch(ids, V):
    ours = one_hot(ids, V)
    ref = F.one_hot(torch.tensor(ids, dtype=torch.long), V).numpy()
    assert ours.shape == (len(ids), V) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)


def test_one_hot_keeps_batch_shape():
    ids = np.array([[0, 2], [1, 1]])
    np.testing.assert_array_equal(one_hot(ids, 3), F.one_hot(torch.as_tensor(ids), 3).numpy())


@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=10), st.integers(1, 5))
def test_embedding_lookup_is_one_hot_times_matrix_and_torch_embedding(ids, d):
    rng = np.random.default_rng(len(ids) * 10 + d)
    E = rng.standard_normal((7, d)).astype(np.float32)
    rows = embedding_lookup(E, ids)
    assert rows.shape == (len(ids), d)
    np.testing.assert_allclose(rows, one_hot(ids, 7) @ E, rtol=1e-6, atol=1e-7)
    ref = F.embedding(torch.tensor(ids), torch.from_numpy(E)).numpy()
    np.testing.assert_array_equal(rows, ref)


@pytest.mark.parametrize("call,match", [
    (lambda: one_hot([0, 1.5], 3), "integer ids, got dtype float64"),
    (lambda: one_hot([0, 3], 3), r"ids must lie in \[0, 3\), got values from 0 to 3"),
    (lambda: one_hot([-1], 3), r"ids must lie in \[0, 3\)"),
    (lambda: one_hot([0], 0), "vocab_size must be a positive integer"),
    (lambda: one_hot([True], 2), "integer ids, got dtype bool"),
    (lambda: embedding_lookup(np.zeros((4, 2)), [4]), r"shape \(4, 2\), got values from 4 to 4"),
    (lambda: embedding_lookup(np.zeros(4), [0]), r"must have shape \(V, d\), got shape \(4,\)"),
    (lambda: embedding_lookup(np.zeros((4, 2)), ["a"]), "integer ids"),
    (lambda: cosine_similarity(np.ones(3), np.ones(4)), r"same length, got shapes \(3,\) and \(4,\)"),
    (lambda: cosine_similarity(np.ones((3, 2)), np.ones((4, 2))), r"got shapes \(3, 2\) and \(4, 2\)"),
])
def test_bad_input_is_explained(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@FAST
@given(st.lists(st.floats(-100, 100), min_size=3, max_size=3), st.lists(st.floats(-100, 100), min_size=3, max_size=3))
def test_cosine_matches_scipy(a, b):
    a, b = np.array(a), np.array(b)
    ours = cosine_similarity(a, b)
    assert isinstance(ours, float)
    if np.linalg.norm(a) > 1e-3 and np.linalg.norm(b) > 1e-3:
        assert ours == pytest.approx(1 - scipy_cosine(a, b), abs=1e-9)


def test_cosine_rows_and_zero_vectors_match_torch():
    rng = np.random.default_rng(0)
    A, q = rng.standard_normal((5, 4)), rng.standard_normal(4)
    ref = F.cosine_similarity(torch.from_numpy(A), torch.from_numpy(q)[None], dim=-1).numpy()
    np.testing.assert_allclose(cosine_similarity(A, q), ref, rtol=1e-12)
    np.testing.assert_allclose(cosine_similarity(A, A), np.ones(5), rtol=1e-12)
    assert cosine_similarity(np.zeros(3), np.ones(3)) == 0.0


# --- random batches ------------------------------------------------------------------------------

def test_random_batches_targets_are_shifted_inputs():
    data = torch.arange(100)
    g = torch.Generator().manual_seed(0)
    x, y = random_batches(data, block_size=8, batch_size=4, generator=g)
    assert x.shape == y.shape == (4, 8) and x.dtype == torch.long
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    x2, _ = random_batches(data, 8, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


@pytest.mark.parametrize("args,match", [
    ((torch.zeros(2, 5), 2, 1), "1-D token stream"),
    ((torch.arange(5), 5, 1), "need at least block_size \\+ 1 = 6"),
    ((torch.arange(5), 0, 1), "must be >= 1"),
])
def test_random_batches_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        random_batches(*args)
