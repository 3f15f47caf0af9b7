"""Byte-level byte-pair encoding (BPE), up to GPT-2's own tokenizer.

The idea (Sennrich, Haddow & Birch, 2016; on bytes, as in GPT-2, Radford et al., 2019): start
from the 256 byte values of UTF-8 text, count every adjacent pair of tokens, replace the most
frequent pair by a new token, and repeat until the vocabulary has the size you asked for.
Encoding new text replays the merges in the order they were learned.

    tok = train(text, 4096)              # 256 bytes + 3,839 merges + <|endoftext|>
    ids = tok.encode("To be, or not to be")
    tok.decode(ids)                      # == "To be, or not to be", for any string
    gpt2 = load_gpt2()                   # GPT-2's 50,257 tokens, from datasets/gpt2/
    tok.save("my_tokenizer")             # GPT-2's file format: encoder.json + vocab.bpe
    load("my_tokenizer")

Text is first cut into pre-tokens by a regular expression (GPT-2's ``GPT2_PATTERN``: words
with their leading space, numbers, punctuation runs, whitespace), and merges never cross a
pre-token boundary. Training counts each distinct pre-token once, weighted by its frequency,
and after each merge recounts only the pre-tokens that contain the merged pair.
"""
from __future__ import annotations

import heapq
import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Integral
from pathlib import Path
from typing import Collection, Iterable, Literal, Mapping, Sequence

import regex

from . import _validate

__all__ = ["GPT2_PATTERN", "ENDOFTEXT", "Tokenizer", "train", "learn_merges", "pair_counts", "merge",
           "pre_tokenize", "bytes_to_unicode", "tie_order", "load", "load_gpt2"]

# GPT-2's pre-tokenizer (openai/gpt-2, src/encoder.py): English contractions, a letter run with
# its leading space, a digit run with its leading space, other symbols with their leading space,
# whitespace not followed by a non-space (so the last space sticks to the next word), whitespace.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"


# ----------------------------------------------------------------------------- the two primitives

def pair_counts(words: Mapping[Sequence[int], int]) -> Counter:
    """Weighted counts of adjacent pairs over distinct pre-tokens:

        count(a, b) = sum_w  f(w) * #{ i : w_i = a and w_{i+1} = b }

    ``words`` maps a pre-token (a sequence of token ids) to its frequency f(w). Overlapping
    pairs count: (7, 7, 7) holds the pair (7, 7) twice.
    """
    counts: Counter = Counter()
    for ids, freq in words.items():
        for pair in zip(ids, ids[1:]):
            counts[pair] += freq
    return counts


def merge(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right
    (so (7, 7, 7) merged on (7, 7) gives (new, 7))."""
    out, i, n = [], 0, len(ids)
    a, b = pair
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def pre_tokenize(text: str, pattern: str | None = GPT2_PATTERN) -> list[str]:
    """Cut ``text`` into the pieces that merges may not cross (``pattern=None``: one piece)."""
    _validate.text(text, "pre_tokenize")
    if pattern is None:
        return [text] if text else []
    return _compiled(pattern).findall(text)


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> "regex.Pattern":
    return regex.compile(pattern)


# ----------------------------------------------------------------------------- GPT-2's byte alphabet

@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte, used in ``encoder.json`` and ``vocab.bpe``.

    Bytes that are printable Latin-1 characters (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) stand
    for themselves; the other 68 (controls, space, 0x7F-0xA0, 0xAD) become U+0100, U+0101, ...
    in byte order, so that the space byte 0x20 is ``Ġ`` and the newline 0x0A is ``Ċ``.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def _unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


@lru_cache(maxsize=1)
def tie_order() -> tuple[int, ...]:
    """The position of each byte when the 256 byte tokens are sorted by their GPT-2 stand-in
    character (``bytes_to_unicode``). Ties in training are broken in this order (see ``learn_merges``)."""
    stand_in = bytes_to_unicode()
    ranked = sorted(range(256), key=lambda b: stand_in[b])
    position = [0] * 256
    for pos, b in enumerate(ranked):
        position[b] = pos
    return tuple(position)


# ----------------------------------------------------------------------------- training

def learn_merges(words: Mapping[Sequence[int], int], num_merges: int) -> list[tuple[tuple[int, int], int]]:
    """Learn up to ``num_merges`` merges on pre-tokens of byte ids (0..255), incrementally.

    Step k merges the most frequent pair (a, b) into the new token 256 + k. Ties between
    equally frequent pairs go to the smallest pair, comparing tokens by this order: the 256
    byte tokens sorted by their GPT-2 stand-in character (``tie_order``), then the merged
    tokens in the order they were made. This is the order of the ids that `tokenizers`'
    BpeTrainer gives the same tokens (ByteLevel alphabet first, sorted; merges after), and
    its rule (highest count, then smallest pair of ids), so both learn the same merges.

    After a merge only the pre-tokens that contain the pair are recounted: ``where[pair]``
    remembers which pre-tokens hold each pair, and a heap of (-count, order) finds the best
    pair; entries made stale by a merge are corrected when they reach the top.

    Returns ``[((a, b), count), ...]`` in merge order; fewer than ``num_merges`` if no pair is left.
    """
    num_merges = _validate.non_negative_int(num_merges, "num_merges", "learn_merges")
    seqs = [list(w) for w in words]                    # distinct pre-tokens, as mutable id lists
    freqs = list(words.values())
    _check_byte_words(seqs)
    order = list(tie_order())                          # order[id]: where the id sorts on ties
    counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for w, (ids, f) in enumerate(zip(seqs, freqs)):
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + f
            where.setdefault(pair, set()).add(w)
    heap = [(-c, order[a], order[b], a, b) for (a, b), c in counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[tuple[int, int], int]] = []
    while len(merges) < num_merges and heap:
        neg, _, _, a, b = heapq.heappop(heap)
        current = counts.get((a, b), 0)
        if current != -neg:                            # stale: the count fell since it was pushed
            if current > 0:
                heapq.heappush(heap, (-current, order[a], order[b], a, b))
            continue
        new_id = 256 + len(merges)
        order.append(new_id)                           # merged tokens sort after the bytes, by age
        merges.append(((a, b), current))
        grown: set[tuple[int, int]] = set()
        for w in where.pop((a, b), ()):
            ids = seqs[w]
            if len(ids) < 2:
                continue
            new = merge(ids, (a, b), new_id)
            if len(new) == len(ids):                   # this pre-token no longer holds the pair
                continue
            f = freqs[w]
            for pair in zip(ids, ids[1:]):             # remove the pre-token's old pairs ...
                counts[pair] -= f
            for pair in zip(new, new[1:]):             # ... and add its new ones
                counts[pair] = counts.get(pair, 0) + f
                if new_id in pair:
                    grown.add(pair)
                    where.setdefault(pair, set()).add(w)
            seqs[w] = new
        counts.pop((a, b), None)
        for pair in grown:                             # pairs with the new token are new to the heap
            if counts.get(pair, 0) > 0:
                heapq.heappush(heap, (-counts[pair], order[pair[0]], order[pair[1]], pair[0], pair[1]))
    return merges


def train(text: str, vocab_size: int, *, pattern: str | None = GPT2_PATTERN,
          special_tokens: Sequence[str] = (ENDOFTEXT,)) -> "Tokenizer":
    """Train a byte-level BPE tokenizer of ``vocab_size`` tokens on ``text``.

    vocab_size = 256 bytes + number of merges + number of special tokens; the special tokens
    take the last ids, as ``<|endoftext|>`` does in GPT-2 (50,256). ``pattern`` is the
    pre-tokenizer (None: the whole text is one piece, so merges may cross words and spaces).
    """
    text = _validate.text(text, "train")
    specials = _check_specials(special_tokens, "train")
    vocab_size = _validate.positive_int(vocab_size, "vocab_size", "train")
    if vocab_size < 256 + len(specials):
        raise ValueError(f"train expected vocab_size >= 256 byte tokens + {len(specials)} special token(s) = "
                         f"{256 + len(specials)}, got {vocab_size}")
    if pattern is not None:
        _compiled(pattern)  # a bad pattern fails here, with regex's own message
    pieces = Counter(pre_tokenize(text, pattern))
    for s in specials:      # special tokens are whole tokens, never material for merges
        if s in text:
            raise ValueError(f"train: the text contains the special token {s!r}; remove it from the text "
                             f"(special tokens get their own id and are not learned from data)")
    words = Counter()
    for piece, f in pieces.items():
        words[tuple(_utf8(piece, "train"))] += f
    num_merges = vocab_size - 256 - len(specials)
    learned = learn_merges(words, num_merges)
    if len(learned) < num_merges:
        warnings.warn(f"train: the text ran out of pairs after {len(learned)} of {num_merges} merges; "
                      f"the tokenizer has {256 + len(learned) + len(specials)} tokens, not {vocab_size}",
                      stacklevel=2)
    vocab = {i: bytes([i]) for i in range(256)}
    merges: dict[tuple[int, int], int] = {}
    for k, ((a, b), _) in enumerate(learned):
        vocab[256 + k] = vocab[a] + vocab[b]
        merges[(a, b)] = 256 + k
    first_special = 256 + len(learned)
    return Tokenizer(vocab, merges, pattern=pattern,
                     special_tokens={s: first_special + i for i, s in enumerate(specials)})


# ----------------------------------------------------------------------------- the tokenizer

@dataclass
class Tokenizer:
    """A byte-level BPE tokenizer: ``vocab`` (id -> bytes), ``merges`` ((left id, right id) -> new id,
    in the order they apply), the pre-tokenizer ``pattern`` and the ``special_tokens`` (str -> id)."""

    vocab: dict[int, bytes]
    merges: dict[tuple[int, int], int]
    pattern: str | None = GPT2_PATTERN
    special_tokens: dict[str, int] = field(default_factory=dict)
    cache_size: int = 1 << 18          # pre-tokens remembered by encode (text repeats: Zipf)

    def __post_init__(self) -> None:
        _check_tokenizer(self)
        self._byte_id = [0] * 256
        for i, token in self.vocab.items():
            if len(token) == 1:
                self._byte_id[token[0]] = i
        self._rank = {pair: rank for rank, pair in enumerate(self.merges)}
        self._by_rank = list(self.merges)
        self._cache: dict[str, tuple[int, ...]] = {}
        self._id_to_special = {i: s for s, i in self.special_tokens.items()}

    @property
    def vocab_size(self) -> int:
        """Number of ids: tokens made of bytes plus special tokens."""
        return len(self.vocab) + len(self.special_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return (f"Tokenizer(vocab_size={self.vocab_size:,}, merges={len(self.merges):,}, "
                f"special_tokens={list(self.special_tokens)}, pattern={'GPT-2' if self.pattern == GPT2_PATTERN else self.pattern!r})")

    # -- encoding ---------------------------------------------------------------------------

    def _bpe(self, piece: bytes) -> tuple[int, ...]:
        """Apply the merges to one pre-token: repeatedly merge the adjacent pair learned earliest.

        One occurrence at a time (the leftmost), updating only the ranks of its two neighbours;
        this gives the same result as ``merge``-ing every occurrence, because a pair that a merge
        creates contains the new token and so always ranks after the merge that made it."""
        byte_id = self._byte_id
        ids = [byte_id[b] for b in piece]
        rank_of, never = self._rank.get, len(self._rank)
        ranks = [rank_of(pair, never) for pair in zip(ids, ids[1:])]     # ranks[k]: pair (ids[k], ids[k+1])
        while ranks:
            best = min(ranks)
            if best == never:                                              # no learned pair left
                break
            i = ranks.index(best)
            ids[i:i + 2] = [self.merges[self._by_rank[best]]]
            del ranks[i]
            if i > 0:
                ranks[i - 1] = rank_of((ids[i - 1], ids[i]), never)
            if i < len(ranks):
                ranks[i] = rank_of((ids[i], ids[i + 1]), never)
        return tuple(ids)

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, treating special-token strings as ordinary text."""
        text = _validate.text(text, "encode")
        out: list[int] = []
        cache = self._cache
        for piece in pre_tokenize(text, self.pattern):
            ids = cache.get(piece)
            if ids is None:
                ids = self._bpe(_utf8(piece, "encode"))
                if len(cache) >= self.cache_size:
                    cache.clear()
                cache[piece] = ids
            out.extend(ids)
        return out

    def encode(self, text: str, *, allowed_special: Literal["all"] | Collection[str] = frozenset()) -> list[int]:
        """Token ids of ``text``. A special token in the text (e.g. ``<|endoftext|>``) becomes its own
        id only if ``allowed_special`` names it (or is ``"all"``); otherwise it is refused, because
        text from users must not be able to inject control tokens by accident."""
        text = _validate.text(text, "encode")
        allowed = self._allowed(allowed_special)
        refused = [s for s in self.special_tokens if s not in allowed and s in text]
        if refused:
            raise ValueError(
                f"encode: the text contains the special token {refused[0]!r}, which is not allowed; pass "
                f"allowed_special={{{refused[0]!r}}} (or 'all') to encode it as id {self.special_tokens[refused[0]]}, "
                f"or use encode_ordinary(text) to encode it as plain text")
        if not allowed:
            return self.encode_ordinary(text)
        splitter = _compiled("(" + "|".join(regex.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")")
        out: list[int] = []
        for k, part in enumerate(splitter.split(text)):
            if k % 2:
                out.append(self.special_tokens[part])
            elif part:
                out.extend(self.encode_ordinary(part))
        return out

    def _allowed(self, allowed_special: object) -> set[str]:
        if allowed_special == "all":
            return set(self.special_tokens)
        if isinstance(allowed_special, str) or not isinstance(allowed_special, Collection):
            raise ValueError(f"encode expected allowed_special to be 'all' or a set of special tokens, "
                             f"got {allowed_special!r}")
        unknown = [s for s in allowed_special if s not in self.special_tokens]
        if unknown:
            raise ValueError(f"encode: {unknown[0]!r} is not a special token of this tokenizer; "
                             f"expected some of {sorted(self.special_tokens)}")
        return set(allowed_special)

    # -- decoding ---------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of a sequence of ids (special tokens as their UTF-8 text)."""
        parts = []
        for i in _check_ids(ids, self.vocab_size, "decode"):
            token = self.vocab.get(i)
            parts.append(token if token is not None else self._id_to_special[i].encode("utf-8"))
        return b"".join(parts)

    def decode(self, ids: Iterable[int], *, errors: str = "replace") -> str:
        """The text of a sequence of ids. The bytes are joined *first* and decoded once: a token may
        hold part of a multi-byte character. Bytes that are no valid UTF-8 (a cut sequence) become
        U+FFFD with ``errors="replace"`` (GPT-2's choice); ``errors="strict"`` raises instead."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def token_bytes(self, i: int) -> bytes:
        """The bytes of one id."""
        return self.decode_bytes([i])

    # -- GPT-2's file format ----------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``encoder.json`` (stand-in string -> id, special tokens included) and ``vocab.bpe``
        (``#version: 0.2``, then one merge per line: the two stand-in strings, in merge order)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        show = bytes_to_unicode()
        as_text = lambda token: "".join(show[b] for b in token)
        encoder = {as_text(t): i for i, t in sorted(self.vocab.items())}
        encoder.update(self.special_tokens)
        lines = ["#version: 0.2"] + [f"{as_text(self.vocab[a])} {as_text(self.vocab[b])}" for a, b in self.merges]
        enc_path, bpe_path = folder / "encoder.json", folder / "vocab.bpe"
        enc_path.write_text(json.dumps(encoder, ensure_ascii=False), encoding="utf-8")
        bpe_path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
        return enc_path, bpe_path


def load(folder: str | os.PathLike | None = None, *, encoder_json: str | os.PathLike | None = None,
         vocab_bpe: str | os.PathLike | None = None, pattern: str | None = GPT2_PATTERN) -> Tokenizer:
    """Read a tokenizer in GPT-2's format: ``folder/encoder.json`` and ``folder/vocab.bpe`` (or the two
    paths). Entries of encoder.json that are neither a byte nor a merge result are special tokens."""
    if folder is not None:
        encoder_json, vocab_bpe = Path(folder) / "encoder.json", Path(folder) / "vocab.bpe"
    if encoder_json is None or vocab_bpe is None:
        raise ValueError("load expected a folder, or both encoder_json= and vocab_bpe= paths")
    encoder = json.loads(Path(encoder_json).read_text(encoding="utf-8"))
    lines = Path(vocab_bpe).read_text(encoding="utf-8").split("\n")
    if not lines or not lines[0].startswith("#version"):
        raise ValueError(f"load expected vocab.bpe to start with a '#version' line, got {lines[0][:40]!r}")
    to_byte = _unicode_to_bytes()
    as_bytes = lambda s: bytes(to_byte[c] for c in s)
    vocab: dict[int, bytes] = {}
    for b, c in bytes_to_unicode().items():
        if c not in encoder:
            raise ValueError(f"load: encoder.json has no entry for the byte {b} (stand-in {c!r})")
        vocab[encoder[c]] = bytes([b])
    merges: dict[tuple[int, int], int] = {}
    made = set(bytes_to_unicode().values())
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 2 or parts[0] + parts[1] not in encoder:
            raise ValueError(f"load: line {n} of vocab.bpe should be two tokens whose join is in encoder.json, "
                             f"got {line!r}")
        left, right, joined = encoder[parts[0]], encoder[parts[1]], parts[0] + parts[1]
        merges[(left, right)] = encoder[joined]
        vocab[encoder[joined]] = as_bytes(joined)
        made.add(joined)
    specials = {s: i for s, i in encoder.items() if s not in made}
    return Tokenizer(vocab, merges, pattern=pattern, special_tokens=specials)


def load_gpt2() -> Tokenizer:
    """GPT-2's real tokenizer (50,257 ids, ``<|endoftext|>`` = 50256) from the shipped, checksummed files."""
    from .datasets import gpt2_files

    encoder_json, vocab_bpe = gpt2_files()
    return load(encoder_json=encoder_json, vocab_bpe=vocab_bpe, pattern=GPT2_PATTERN)


# ----------------------------------------------------------------------------- input checks

def _utf8(piece: str, fn: str) -> bytes:
    try:
        return piece.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = piece[exc.start]
        raise ValueError(f"{fn}: the text holds {bad!r} (U+{ord(bad):04X}), a lone surrogate that has no UTF-8 "
                         f"bytes; it usually comes from decoding bytes with errors='surrogateescape'") from None


def _check_specials(special_tokens: object, fn: str) -> list[str]:
    if isinstance(special_tokens, str) or not isinstance(special_tokens, Sequence):
        raise ValueError(f"{fn} expected special_tokens as a list of strings such as ['<|endoftext|>'], "
                         f"got {special_tokens!r}")
    specials = list(special_tokens)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise ValueError(f"{fn} expected every special token to be a non-empty str, got {s!r}")
    if len(set(specials)) != len(specials):
        raise ValueError(f"{fn} expected distinct special tokens, got {specials}")
    return specials


def _check_byte_words(seqs: list[list[int]]) -> None:
    for ids in seqs:
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, Integral) or not 0 <= i < 256:
                raise ValueError(f"learn_merges expected pre-tokens of byte values 0..255, got {i!r} in {ids[:10]}")


def _check_ids(ids: object, vocab_size: int, fn: str) -> list[int]:
    if isinstance(ids, (str, bytes, bytearray)):
        raise ValueError(f"{fn} expected a sequence of token ids (ints), got {type(ids).__name__}; "
                         f"to turn text into ids use encode")
    if hasattr(ids, "tolist"):                      # torch / numpy
        if getattr(ids, "ndim", 1) != 1:
            raise ValueError(f"{fn} expected a 1-D sequence of ids, got shape {tuple(ids.shape)}")
        ids = ids.tolist()
    out = list(ids)
    for k, i in enumerate(out):
        if isinstance(i, bool) or not isinstance(i, Integral):
            raise ValueError(f"{fn} expected integer token ids, got {i!r} ({type(i).__name__}) at position {k}")
        if not 0 <= i < vocab_size:
            raise ValueError(f"{fn} expected ids in [0, {vocab_size}), got {i} at position {k}")
    return out


def _check_tokenizer(tok: Tokenizer) -> None:
    singles = sorted(t[0] for t in tok.vocab.values() if len(t) == 1)
    if singles != list(range(256)):
        raise ValueError(f"Tokenizer expected a token for each of the 256 bytes, got {len(singles)} single-byte tokens")
    for (a, b), new in tok.merges.items():
        if a not in tok.vocab or b not in tok.vocab or tok.vocab.get(new) != tok.vocab[a] + tok.vocab[b]:
            raise ValueError(f"Tokenizer: the merge ({a}, {b}) -> {new} does not join the bytes of its two tokens")
    clash = set(tok.special_tokens.values()) & set(tok.vocab)
    if clash:
        raise ValueError(f"Tokenizer: special token ids {sorted(clash)} are also ids of byte tokens")
    ids = sorted([*tok.vocab, *tok.special_tokens.values()])
    if ids != list(range(len(ids))):
        raise ValueError(f"Tokenizer expected ids 0..{len(ids) - 1} without gaps")
