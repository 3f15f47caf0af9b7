"""Small generated tasks for training a model in a minute (chapter 06).

    number_to_words(407)                       # ['four', 'hundred', 'seven']
    task = NumberWords()                       # digits -> English words, numbers 0 .. 999,999
    train, test = task.split(24_000, 1_200)    # disjoint, every digit length equally represented
    task.encode_src(train), task.encode_tgt(train)
"""
from __future__ import annotations

import random

import torch

from . import _validate

__all__ = ["number_to_words", "NumberWords"]

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(n: int) -> list[str]:
    """407 -> ['four', 'hundred', 'seven'];  12019 -> ['twelve', 'thousand', 'nineteen'] (0 <= n < 10**6)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 10**6:
        raise ValueError(f"number_to_words expected an integer in [0, 1000000), got {n!r}")
    if n < 1000:
        return _below_thousand(n)
    thousands, rest = divmod(n, 1000)
    return _below_thousand(thousands) + ["thousand"] + (_below_thousand(rest) if rest else [])


def _below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


class NumberWords:
    """Digit strings to English words, a seq2seq task generated on the fly: "407" -> "four hundred seven".

    Source vocabulary: <pad> and the ten digits. Target vocabulary: <pad>, <bos>, <eos> and
    the 30 words. ``split(n_train, n_test, seed)`` draws disjoint sets of distinct numbers in
    which every digit length (1 .. src_len) has the same share, as far as there are numbers of
    that length: drawn uniformly over values, 90 % of them would have six digits and the
    one-digit numbers would almost never appear.
    """

    PAD, BOS, EOS = 0, 1, 2

    def __init__(self, max_value: int = 10**6) -> None:
        if isinstance(max_value, bool) or not isinstance(max_value, int) or not 10 <= max_value <= 10**6:
            raise ValueError(f"NumberWords expected max_value in [10, 1000000], got {max_value!r}")
        self.max_value = max_value
        self.src_itos = ["<pad>"] + list("0123456789")
        self.tgt_itos = ["<pad>", "<bos>", "<eos>"] + _ONES + _TENS[2:] + ["hundred", "thousand"]
        self.src_stoi = {s: i for i, s in enumerate(self.src_itos)}
        self.tgt_stoi = {s: i for i, s in enumerate(self.tgt_itos)}
        self.src_len = len(str(max_value - 1))
        sevens = [int("7" * d) for d in range(1, self.src_len + 1)]    # the wordiest numbers
        self.tgt_len = 2 + max(len(number_to_words(n)) for n in sevens + [max_value - 1] if n < max_value)

    def lengths(self) -> dict[int, range]:
        """Digit length -> the numbers of that length below max_value (1: 0..9, 2: 10..99, ...)."""
        return {d: range(0 if d == 1 else 10 ** (d - 1), min(10**d, self.max_value))
                for d in range(1, self.src_len + 1)}

    def split(self, n_train: int, n_test: int, seed: int = 0) -> tuple[list[int], list[int]]:
        """Two disjoint lists of distinct numbers, each digit length with an equal share.

        Per length d (with c_d numbers): test takes min(n_test // L, c_d // 3) of them, train
        min(n_train // L, the rest), L = number of lengths. Short lengths have fewer numbers than
        their share (10 one-digit, 90 two-digit numbers), so they contribute what exists: a third
        to test, the rest to train. Both lists are shuffled.
        """
        fn = "NumberWords.split"
        n_train = _validate.positive_int(n_train, "n_train", fn)
        n_test = _validate.positive_int(n_test, "n_test", fn)
        by_length = self.lengths()
        L = len(by_length)
        if n_train < L or n_test < L:
            raise ValueError(f"{fn} expected n_train and n_test >= {L} (one per digit length), "
                             f"got {n_train} and {n_test}")
        rng = random.Random(seed)
        train, test = [], []
        for d, numbers in by_length.items():
            n_d_test = min(n_test // L, len(numbers) // 3)
            n_d_train = min(n_train // L, len(numbers) - n_d_test)
            drawn = rng.sample(numbers, n_d_test + n_d_train)
            test += drawn[:n_d_test]
            train += drawn[n_d_test:]
        rng.shuffle(train)
        rng.shuffle(test)
        return train, test

    def encode_src(self, numbers: list[int]) -> torch.Tensor:
        """(B,) numbers -> (B, src_len) digit ids, padded on the right."""
        rows = [[self.src_stoi[c] for c in str(n)] for n in numbers]
        return torch.tensor([r + [self.PAD] * (self.src_len - len(r)) for r in rows], dtype=torch.long)

    def encode_tgt(self, numbers: list[int]) -> torch.Tensor:
        """(B,) numbers -> (B, tgt_len) word ids: <bos> words <eos> <pad>..."""
        rows = [[self.BOS] + [self.tgt_stoi[w] for w in number_to_words(n)] + [self.EOS] for n in numbers]
        width = max(self.tgt_len, max(len(r) for r in rows))
        return torch.tensor([r + [self.PAD] * (width - len(r)) for r in rows], dtype=torch.long)

    def decode_tgt(self, ids: torch.Tensor | list[int]) -> str:
        """Word ids -> "four hundred seven" (stops at <eos>, skips <bos> and <pad>)."""
        words = []
        for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
            if i == self.EOS:
                break
            if i not in (self.BOS, self.PAD):
                words.append(self.tgt_itos[i])
        return " ".join(words)
