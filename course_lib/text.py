"""From text to numbers: tokenizers, a vocabulary, one-hot vectors and embedding lookup (chapter 01).

    tokens = word_tokenize("To be, or not to be")      # ['to', 'be', ',', 'or', 'not', 'to', 'be']
    vocab  = Vocab(tokens, min_freq=1)                 # token <-> id, with an unknown token
    ids    = vocab.encode(tokens)                      # [2, 3, ...]
    E[ids]                                             # embedding lookup = one_hot(ids) @ E
    x, y   = random_batches(ids, block_size, batch)    # language-model examples: y is x shifted by one

and the vocabulary of the word-vector chapters (02 word2vec, 03 GloVe), which drops rare
words instead of mapping them to an unknown token:

    vocab    = build_vocab(sentences, min_count=5)     # Word2VecVocab: words by count, and the counts
    ids, doc = vocab.encode(sentences)                 # one flat id stream + the sentence of each token
"""
from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import positive_int

__all__ = ["word_tokenize", "char_tokenize", "chinese_tokenize", "Vocab", "Word2VecVocab", "build_vocab",
           "one_hot", "embedding_lookup", "cosine_similarity", "random_batches"]

# a word is letters/digits with inner apostrophes or hyphens; any other visible char is its own token
_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[^\w\s]", re.UNICODE)
# CJK Unified Ideographs (+ extension A) and CJK punctuation
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_CJK_SPLIT_RE = re.compile(f"({_CJK_RE.pattern})")  # split keeping each CJK character


def word_tokenize(text: str, *, lower: bool = True) -> list[str]:
    """Split English text into words and punctuation marks.

    ``"Don't stop, Romeo!" -> ["don't", "stop", ",", "romeo", "!"]``. Characters of
    scripts written without spaces (Chinese) each become one token.
    """
    text = _require_text(text, "word_tokenize")
    if lower:
        text = text.lower()
    tokens: list[str] = []
    for tok in _WORD_RE.findall(text):
        if _CJK_RE.search(tok):
            # no spaces between Chinese words: one token per Chinese character, while a Latin
            # run glued to it ("hello世界") stays one word: ['hello', '世', '界']
            tokens.extend(t for t in _CJK_SPLIT_RE.split(tok) if t)
        else:
            tokens.append(tok)
    return tokens


def char_tokenize(text: str) -> list[str]:
    """Every character is a token, spaces and newlines included (what the tiny GPT uses)."""
    return list(_require_text(text, "char_tokenize"))


def chinese_tokenize(text: str) -> list[str]:
    """Chinese text as characters, whitespace dropped: ``"我 爱 吃 水果" -> ['我','爱','吃','水','果']``."""
    return [ch for ch in _require_text(text, "chinese_tokenize") if not ch.isspace()]


class Vocab:
    """A two-way map between tokens and integer ids.

    Ids are given in order: special tokens first (``unk`` first of all), then tokens by
    decreasing frequency, ties broken by first appearance. Tokens seen fewer than
    ``min_freq`` times are left out and will be encoded as ``unk``. With ``unk=None``
    an unknown token raises a ValueError instead.
    """

    def __init__(self, tokens: Iterable[str], *, min_freq: int = 1, unk: str | None = "<unk>",
                 specials: Sequence[str] = (), max_size: int | None = None):
        if isinstance(tokens, str):
            raise ValueError("Vocab expected an iterable of tokens (e.g. a list of str), got a single str; "
                             "tokenize the text first")
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"max_size must be a positive integer or None, got {max_size!r}")
        counts: Counter[str] = Counter()
        for tok in tokens:
            if not isinstance(tok, str):
                raise ValueError(f"Vocab expected str tokens, got {type(tok).__name__} {tok!r}")
            counts[tok] += 1
        if not counts:
            raise ValueError("Vocab got no tokens at all (was the text empty?); "
                             "expected a non-empty iterable of str tokens")
        self.unk = unk
        self.counts = counts
        itos = ([unk] if unk is not None else []) + [s for s in specials if s != unk]
        seen = set(itos)
        kept = [t for t, c in counts.most_common() if c >= min_freq and t not in seen]  # stable for ties
        if max_size is not None:
            kept = kept[: max(0, max_size - len(itos))]
        self.itos: list[str] = itos + kept
        if not self.itos:
            raise ValueError(f"Vocab is empty: no token occurs at least min_freq={min_freq} times "
                             f"(got {len(counts)} distinct tokens) and no unknown token was given")
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, unk={self.unk!r}, first={self.itos[:5]})"

    @property
    def unk_id(self) -> int | None:
        return None if self.unk is None else self.stoi[self.unk]

    def token_to_id(self, token: str) -> int:
        if not isinstance(token, str):
            raise ValueError(f"expected a str token, got {type(token).__name__} {token!r}")
        if token in self.stoi:
            return self.stoi[token]
        if self.unk is None:
            raise ValueError(f"token {token!r} is not in the vocabulary and this Vocab has no unknown token "
                             f"(build it with unk='<unk>' to map unseen tokens)")
        return self.stoi[self.unk]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Tokens -> ids; unknown tokens become ``unk_id`` (or raise if there is no unk)."""
        if isinstance(tokens, str):
            raise ValueError("encode expected a list of tokens, got a str; tokenize the text first")
        return [self.token_to_id(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> tokens. Every id must lie in ``[0, len(vocab))``."""
        out = []
        for i in ids:
            try:
                i = operator.index(i)  # ints, numpy ints and integer 0-d tensors; never a float
            except TypeError:
                raise ValueError(f"decode expected integer ids, got {type(i).__name__} {i!r}") from None
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is outside the vocabulary range [0, {len(self.itos)})")
            out.append(self.itos[i])
        return out


@dataclass
class Word2VecVocab:
    """The vocabulary of word2vec and GloVe: words seen at least ``min_count`` times, most
    frequent first, with their counts. Unlike :class:`Vocab` it has no unknown token:
    rare words are dropped from the text, before any window is formed (as gensim does)."""

    words: list[str]
    counts: np.ndarray  # (V,) int64

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Flatten sentences into ids, dropping out-of-vocabulary words.

        Returns ``ids`` (N,) int64 and ``doc`` (N,) int64, the sentence number of each
        token: windows never cross from one sentence into the next.
        """
        ids, doc = [], []
        index = self.index
        for s, sent in enumerate(sentences):
            kept = [index[w] for w in sent if w in index]
            ids.extend(kept)
            doc.extend([s] * len(kept))
        return np.array(ids, dtype=np.int64), np.array(doc, dtype=np.int64)


def build_vocab(sentences: Sequence[Sequence[str]], *, min_count: int = 5) -> Word2VecVocab:
    """Count words and keep those seen at least ``min_count`` times, most frequent first.

    Ties keep the order of first appearance, like gensim, so both libraries number the
    words identically.
    """
    _check_sentences(sentences)
    min_count = positive_int(min_count, "min_count", "build_vocab")
    counts: Counter[str] = Counter()
    for sent in sentences:
        counts.update(sent)
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    if not kept:
        raise ValueError(f"min_count={min_count} leaves no words: the most frequent of the "
                         f"{len(counts)} distinct words occurs {max(counts.values())} times")
    kept.sort(key=lambda wc: -wc[1])  # stable: ties stay in order of first appearance
    return Word2VecVocab([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))


def one_hot(ids: Sequence[int] | np.ndarray, vocab_size: int) -> np.ndarray:
    """One-hot rows: ``one_hot(ids, V)[n, ids[n]] = 1``; shape ``(len(ids), V)``, float32."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    ids = np.asarray(ids)
    if ids.size == 0:
        ids = ids.astype(np.int64)  # np.asarray([]) is float64; an empty list of ids is fine
    if ids.dtype.kind not in "iu":
        raise ValueError(f"one_hot expected integer ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    out = np.zeros(ids.shape + (vocab_size,), dtype=np.float32)
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out


def embedding_lookup(E: np.ndarray, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Row indexing ``E[ids]``: the same numbers as ``one_hot(ids, V) @ E`` without the multiplication.

    ``E`` has shape (V, d); the result has shape ``ids.shape + (d,)``.
    """
    E = np.asarray(E)
    if E.ndim != 2:
        raise ValueError(f"embedding matrix must have shape (V, d), got shape {E.shape}")
    ids = np.asarray(ids)
    if ids.size == 0:
        ids = ids.astype(np.int64)  # np.asarray([]) is float64; an empty list of ids is fine
    if ids.dtype.kind not in "iu":
        raise ValueError(f"embedding_lookup expected integer ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= E.shape[0]):
        raise ValueError(f"ids must lie in [0, {E.shape[0]}) for an embedding matrix of shape {E.shape}, "
                         f"got values from {ids.min()} to {ids.max()}")
    return E[ids]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """cos(a, b) = a·b / (|a| |b|), along the last axis (zero vectors give 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape[-1:] != b.shape[-1:]:
        raise ValueError(f"cosine_similarity needs vectors of the same length, got shapes {a.shape} and {b.shape}")
    if a.ndim > 1 and b.ndim > 1 and a.shape != b.shape:
        raise ValueError(f"cosine_similarity compares one vector with many, or row i with row i: expected equal "
                         f"shapes or one 1-D vector, got shapes {a.shape} and {b.shape}")
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(out) if np.ndim(out) == 0 else out


def random_batches(data, block_size: int, batch_size: int, *, generator=None):
    """Sample ``batch_size`` windows from a 1-D token stream: inputs ``x`` and next-token targets ``y``.

    ``x[b] = data[i : i + block_size]`` and ``y[b] = data[i + 1 : i + 1 + block_size]`` for random
    starts ``i``; both are int64 tensors of shape (batch_size, block_size).
    """
    import torch

    data = torch.as_tensor(data)
    if data.ndim != 1:
        raise ValueError(f"random_batches expected a 1-D token stream, got shape {tuple(data.shape)}")
    if block_size < 1 or batch_size < 1:
        raise ValueError(f"block_size and batch_size must be >= 1, got {block_size} and {batch_size}")
    if len(data) < block_size + 1:
        raise ValueError(f"the token stream has {len(data)} tokens; need at least block_size + 1 = {block_size + 1}")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets].long()        # (B, T)
    y = data[starts[:, None] + offsets + 1].long()    # (B, T)
    return x, y


# ----------------------------------------------------------------------------- input checks
def _require_text(text: object, fn: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{fn} expected a str, got {type(text).__name__}")
    return text


def _check_sentences(sentences: object) -> None:
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise ValueError("expected sentences as a list of token lists (list[list[str]]), "
                         f"got {type(sentences).__name__}")
    if len(sentences) == 0 or all(len(s) == 0 for s in sentences):
        raise ValueError("the corpus is empty: expected at least one sentence with at least one token")
    first = next(s for s in sentences if len(s))
    if isinstance(first, str) or not isinstance(first[0], str):
        raise ValueError("expected each sentence to be a list of str tokens, got "
                         f"{type(first).__name__} of {type(first[0]).__name__}; tokenize the text first")
