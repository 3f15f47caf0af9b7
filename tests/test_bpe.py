"""course_lib.bpe against independent implementations.

* GPT-2's tokenizer read from the shipped files gives exactly the ids of tiktoken's gpt2 encoding
  (built offline from the same two files) and of transformers' GPT2TokenizerFast (loaded from the
  same files), on Shakespeare, the Wikipedia sample, Tang poems, emoji, code and generated Unicode;
* decode(encode(s)) == s for any string (hypothesis), for GPT-2's and for trained tokenizers;
* training gives the merges of tokenizers' BpeTrainer (ByteLevel pre-tokenizer, min_frequency 0,
  the ByteLevel alphabet as initial alphabet) for several vocabulary sizes, and the incremental
  trainer gives the merges of a from-scratch recount after every merge;
* the GPT-2 file format written by save() is read by tiktoken and transformers;
* bad input gets a ValueError that says what was expected.
"""
from __future__ import annotations

import json
import shutil
import warnings
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _needs import needs_module
from course_lib import bpe
from course_lib.datasets import gpt2_files, load_text

tiktoken = needs_module("tiktoken")
tokenizers = needs_module("tokenizers")
transformers = needs_module("transformers")

SAMPLES = {
    "emoji": "Parrots 🦜🦜, flags 🇫🇷🇯🇵, a family 👨‍👩‍👧 and skin tones 👍🏽👍🏿!",
    "code": 'def f(x: int) -> int:\n    """Square."""\n\treturn x ** 2  # 2026\n\n\nprint(f(12345), [1,2 ,3])\r\n',
    "mixed": "Hello 世界, naïve café, Ελληνικά, русский, עברית, हिन्दी,  \u00a0 spaces\u2003and\ttabs\n\n\n",
    "numbers": "3.14159 + 2,718 = 5.85959; 1e-10; 123456789012345; ٣٤٥ ⅷ",
    "contractions": "I'm sure you'll see they'd've won, isn't it? 'S 'T 'RE",
}


@pytest.fixture(scope="module")
def gpt2():
    return bpe.load_gpt2()


@pytest.fixture(scope="module")
def tiktoken_gpt2(tmp_path_factory):
    """tiktoken's gpt2 encoding, built offline from the shipped files with the hashes tiktoken checks."""
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import gpt2 as tiktoken_spec

    import os
    os.environ["TIKTOKEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("tiktoken-cache"))  # never /tmp/data-gym-cache
    encoder_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(vocab_bpe), encoder_json_file=str(encoder_json),
        vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783")
    import inspect
    source = inspect.getsource(tiktoken_spec)
    assert "1ce1664773c50f3e" in source and "196139668be63f3b" in source  # the hashes tiktoken itself expects
    from tiktoken_ext.openai_public import r50k_pat_str
    return tiktoken.Encoding("gpt2-local", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={bpe.ENDOFTEXT: 50256}, explicit_n_vocab=50257)


@pytest.fixture(scope="module")
def hf_gpt2(tmp_path_factory):
    """transformers' GPT2TokenizerFast, from a folder holding the two shipped files under the names it reads."""
    folder = tmp_path_factory.mktemp("hf-gpt2")
    encoder_json, vocab_bpe = gpt2_files()
    shutil.copy(encoder_json, folder / "vocab.json")
    shutil.copy(vocab_bpe, folder / "merges.txt")
    return transformers.GPT2TokenizerFast.from_pretrained(str(folder))


def hf_ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


# ----------------------------------------------------------------------------- GPT-2: same ids

def test_gpt2_has_gpt2s_sizes(gpt2):
    assert gpt2.vocab_size == 50_257 and len(gpt2.merges) == 50_000
    assert gpt2.special_tokens == {bpe.ENDOFTEXT: 50256}
    assert gpt2.encode("Hello world") == [15496, 995]  # the example in transformers' GPT2Tokenizer docstring
    assert gpt2.encode(" Hello world") == [18435, 995]


@pytest.mark.parametrize("name", ["shakespeare", "wiki", "tang"])
def test_gpt2_same_ids_as_tiktoken_and_transformers_on_corpora(gpt2, tiktoken_gpt2, hf_gpt2, name):
    text = load_text(name)[:300_000]
    ours = gpt2.encode(text)
    assert ours == tiktoken_gpt2.encode_ordinary(text)
    assert ours == hf_ids(hf_gpt2, text)
    assert gpt2.decode(ours) == text


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_gpt2_same_ids_on_samples(gpt2, tiktoken_gpt2, hf_gpt2, name):
    text = SAMPLES[name]
    ours = gpt2.encode(text)
    assert ours == tiktoken_gpt2.encode_ordinary(text) == hf_ids(hf_gpt2, text)
    assert gpt2.decode(ours) == text


def test_gpt2_special_tokens_like_tiktoken(gpt2, tiktoken_gpt2, hf_gpt2):
    text = "The end.<|endoftext|>A new<|endoftext|><|endoftext|> story"
    ours = gpt2.encode(text, allowed_special="all")
    assert ours == tiktoken_gpt2.encode(text, allowed_special="all") == hf_ids(hf_gpt2, text)
    assert ours.count(50256) == 3
    assert gpt2.encode(text, allowed_special={bpe.ENDOFTEXT}) == ours
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)  # as plain text: no 50256
    assert 50256 not in gpt2.encode_ordinary(text)
    assert gpt2.decode(ours) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_gpt2_same_ids_on_any_unicode(gpt2, tiktoken_gpt2, hf_gpt2, text):
    ours = gpt2.encode_ordinary(text)
    assert ours == tiktoken_gpt2.encode_ordinary(text)
    if bpe.ENDOFTEXT not in text:
        assert ours == hf_ids(hf_gpt2, text)
    assert gpt2.decode(ours) == text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(" \n\t'aAzé世界🦜0123.,-"), max_size=80))
def test_gpt2_same_ids_on_dense_edge_cases(gpt2, tiktoken_gpt2, text):
    """Few characters, many repeats: runs of spaces, contractions, digits, multi-byte neighbours."""
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


def test_encode_cache_changes_nothing(gpt2):
    text = load_text("shakespeare")[:50_000]
    fresh = bpe.Tokenizer(gpt2.vocab, gpt2.merges, special_tokens=gpt2.special_tokens, cache_size=1)
    assert fresh.encode(text) == gpt2.encode(text) == fresh.encode(text)
    assert len(fresh._cache) <= 1


# ----------------------------------------------------------------------------- round trips

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_decode_encode_is_identity_gpt2(gpt2, text):
    assert gpt2.decode(gpt2.encode_ordinary(text)) == text


@pytest.fixture(scope="module")
def small():
    return bpe.train(load_text("shakespeare")[:100_000], 600)


@pytest.fixture(scope="module")
def small_no_pattern():
    return bpe.train(load_text("tang")[:3_000], 300, pattern=None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_decode_encode_is_identity_trained(small, small_no_pattern, text):
    assert small.decode(small.encode_ordinary(text)) == text
    assert small_no_pattern.decode(small_no_pattern.encode_ordinary(text)) == text


def test_decode_of_a_cut_character_is_a_replacement(gpt2):
    ids = gpt2.encode("世")                         # one character, 3 bytes, 2 GPT-2 tokens
    assert len(ids) == 2 and len(gpt2.token_bytes(ids[0])) < 3
    assert gpt2.decode(ids[:1]) == "\ufffd"          # GPT-2's errors="replace"
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode(ids[:1], errors="strict")
    assert "".join(gpt2.decode([i]) for i in ids) != "世" and gpt2.decode(ids) == "世"


# ----------------------------------------------------------------------------- training

def hf_merges(text: str, vocab_size: int, specials=(bpe.ENDOFTEXT,)) -> list[tuple[bytes, bytes]]:
    """tokenizers' BpeTrainer: ByteLevel pre-tokenizer (GPT-2's regex, no added prefix space), every
    pair allowed (min_frequency 0), the 256 ByteLevel characters as the initial alphabet."""
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=0, show_progress=False,
                                  special_tokens=list(specials),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer=trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    back = {c: b for b, c in bpe.bytes_to_unicode().items()}
    as_bytes = lambda s: bytes(back[c] for c in s)
    pairs = [m if isinstance(m, list) else m.split(" ") for m in merges]
    return [(as_bytes(a), as_bytes(b)) for a, b in pairs]


def our_merges(tok: bpe.Tokenizer) -> list[tuple[bytes, bytes]]:
    return [(tok.vocab[a], tok.vocab[b]) for a, b in tok.merges]


@pytest.mark.parametrize("name,chars,vocab_size", [
    ("shakespeare", 200_000, 300), ("shakespeare", 200_000, 1000), ("shakespeare", 1_100_000, 4096),
    ("tang", 60_000, 1000), ("wiki", 100_000, 2000)])
def test_merges_equal_tokenizers_bpe_trainer(name, chars, vocab_size):
    text = load_text(name)[:chars]
    tok = bpe.train(text, vocab_size)
    theirs = hf_merges(text, vocab_size)
    assert len(theirs) == vocab_size - 257
    assert our_merges(tok) == theirs
    assert tok.vocab_size == vocab_size and tok.special_tokens == {bpe.ENDOFTEXT: vocab_size - 1}


def test_tie_rule_is_what_makes_them_match(monkeypatch):
    """Breaking ties by raw byte value instead of tokenizers' order diverges early on Shakespeare."""
    text = load_text("shakespeare")[:200_000]
    theirs = hf_merges(text, 400)
    monkeypatch.setattr(bpe, "tie_order", lambda: tuple(range(256)))
    by_byte_value = our_merges(bpe.train(text, 400))
    first = next(i for i, (a, b) in enumerate(zip(by_byte_value, theirs)) if a != b)
    assert first < 50 and set(by_byte_value[first:first + 2]) == set(theirs[first:first + 2])


def naive_merges(words: Counter, num_merges: int) -> list[tuple[tuple[int, int], int]]:
    """Recount every pair of every pre-token after every merge: slow, obviously right."""
    order = list(bpe.tie_order())
    words = {tuple(w): f for w, f in words.items()}
    out = []
    for k in range(num_merges):
        counts = bpe.pair_counts(words)
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], -order[p[0]], -order[p[1]]))
        out.append((pair, counts[pair]))
        order.append(256 + k)
        merged: Counter = Counter()
        for w, f in words.items():
            merged[tuple(bpe.merge(w, pair, 256 + k))] += f
        words = merged
    return out


@pytest.mark.parametrize("name,pattern", [("shakespeare", bpe.GPT2_PATTERN), ("tang", bpe.GPT2_PATTERN),
                                          ("shakespeare", None)])
def test_incremental_training_equals_full_recount(name, pattern):
    text = load_text(name)[:8_000]
    words = Counter(tuple(p.encode("utf-8")) for p in bpe.pre_tokenize(text, pattern))
    assert bpe.learn_merges(words, 150) == naive_merges(words, 150)


def test_overlapping_pairs_count_and_merge_left_to_right():
    assert bpe.pair_counts({(7, 7, 7): 2, (7, 8): 1}) == Counter({(7, 7): 4, (7, 8): 1})
    assert bpe.merge([7, 7, 7], (7, 7), 300) == [300, 7]
    assert bpe.merge([1, 2, 1, 2, 3], (1, 2), 256) == [256, 256, 3]


def test_training_runs_out_of_pairs_with_a_warning():
    with pytest.warns(UserWarning, match="ran out of pairs"):
        tok = bpe.train("abab", 300)
    assert tok.vocab_size == 256 + 2 + 1  # "abab" is one pre-token: ab, then (ab)(ab), then no pair is left
    assert tok.decode(tok.encode("abab")) == "abab" and len(tok.encode("abab")) == 1


def test_pattern_none_lets_merges_cross_words():
    text = "the cat and the hat " * 50
    with_pattern = bpe.train(text, 265)
    without = bpe.train(text, 265, pattern=None)
    made = lambda tok: [tok.vocab[i] for i in tok.merges.values()]
    assert all(b" " not in t[1:] for t in made(with_pattern))  # a space only ever starts a token
    assert any(b" " in t[1:] for t in made(without))            # without the pattern, tokens span words


# ----------------------------------------------------------------------------- GPT-2's file format

def test_save_load_round_trip_and_peers_read_our_files(tmp_path, small):
    enc, voc = small.save(tmp_path / "tok")
    again = bpe.load(tmp_path / "tok")
    assert again.merges == small.merges and again.vocab == small.vocab
    assert again.special_tokens == small.special_tokens
    text = load_text("shakespeare")[200_000:230_000] + "<|endoftext|>"
    ids = small.encode(text, allowed_special="all")
    assert again.encode(text, allowed_special="all") == ids
    # tiktoken reads the same files with its own loader and encodes the same ids (our byte tokens have
    # ids 0..255 in byte order, GPT-2's in another order: clobber_one_byte_tokens takes them from encoder.json)
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(voc), encoder_json_file=str(enc),
                                            clobber_one_byte_tokens=True)
    theirs = tiktoken.Encoding("ours", pat_str=bpe.GPT2_PATTERN, mergeable_ranks=ranks,
                               special_tokens=small.special_tokens)
    assert theirs.encode(text, allowed_special="all") == ids
    # and so does transformers
    shutil.copy(enc, tmp_path / "vocab.json")
    shutil.copy(voc, tmp_path / "merges.txt")
    hf = transformers.GPT2TokenizerFast.from_pretrained(str(tmp_path))
    assert hf_ids(hf, text) == ids


def test_saved_gpt2_is_the_shipped_gpt2(tmp_path, gpt2):
    enc, voc = gpt2.save(tmp_path)
    shipped_enc, shipped_voc = gpt2_files()
    assert json.loads(enc.read_text(encoding="utf-8")) == json.loads(shipped_enc.read_text(encoding="utf-8"))
    assert voc.read_text(encoding="utf-8").split("\n")[1:] == shipped_voc.read_text(encoding="utf-8").split("\n")[1:]


# ----------------------------------------------------------------------------- bad input teaches

def test_bad_input_says_what_was_expected(gpt2):
    with pytest.raises(ValueError, match="as a str, got bytes; decode it first"):
        gpt2.encode(b"hello")
    with pytest.raises(ValueError, match=r"ids in \[0, 50257\), got 50257 at position 1"):
        gpt2.decode([1, 50257])
    with pytest.raises(ValueError, match="integer token ids, got 1.5"):
        gpt2.decode([1.5])
    with pytest.raises(ValueError, match="to turn text into ids use encode"):
        gpt2.decode("hello")
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>', which is not allowed"):
        gpt2.encode("end<|endoftext|>")
    with pytest.raises(ValueError, match="not a special token of this tokenizer"):
        gpt2.encode("x", allowed_special={"<|im_start|>"})
    with pytest.raises(ValueError, match="'all' or a set"):
        gpt2.encode("x", allowed_special="<|endoftext|>")
    with pytest.raises(ValueError, match="lone surrogate"):
        gpt2.encode("a\udc80b")
    with pytest.raises(ValueError, match=r"vocab_size >= 256 byte tokens \+ 1 special token\(s\) = 257, got 256"):
        bpe.train("hello", 256)
    with pytest.raises(ValueError, match="integer >= 1"):
        bpe.train("hello", 300.0)
    with pytest.raises(ValueError, match="as a str, got bytes"):
        bpe.train(b"hello", 300)
    with pytest.raises(ValueError, match="list of strings"):
        bpe.train("hello", 300, special_tokens="<|endoftext|>")
    with pytest.raises(ValueError, match="contains the special token"):
        bpe.train("a<|endoftext|>b", 300)
    with pytest.raises(ValueError, match="byte values 0..255"):
        bpe.learn_merges({(1, 300): 1}, 3)


def test_tensor_ids_decode(gpt2):
    import torch

    ids = gpt2.encode("To be, or not to be")
    assert gpt2.decode(torch.tensor(ids)) == "To be, or not to be"
    with pytest.raises(ValueError, match="1-D"):
        gpt2.decode(torch.tensor([ids]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gpt2.decode([]) == ""
