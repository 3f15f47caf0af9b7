"""Chapter 01's pieces against their peers, measured in the same process.

    python benchmarks/text.py

Prints, for each operation, the best-of-N wall time of course_lib and of a peer
(gensim for tokenizing and vocabulary encoding, torch for the embedding lookup) and
the ratio ours / peer (below 1: we are faster). The peers do comparable, not identical,
work (simple_preprocess drops punctuation and accents). Times depend on the machine; ratios
measured side by side are what to compare.
"""
from __future__ import annotations

import timeit
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from gensim.corpora import Dictionary
from gensim.utils import simple_preprocess

from course_lib.datasets import load_text
from course_lib.text import Vocab, embedding_lookup, one_hot, word_tokenize


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` runs, in seconds: the run least disturbed by other programs."""
    return min(timeit.repeat(fn, number=1, repeat=repeats))


def main() -> None:
    torch.set_num_threads(1)  # a fair, quiet comparison on a shared machine
    text = load_text("shakespeare")
    words = [t for t in word_tokenize(text) if t[0].isalnum()]
    vocab = Vocab(words)
    dictionary = Dictionary([words])
    V, d = len(vocab), 64
    ids = np.random.default_rng(0).integers(0, V, size=2_000)
    W = np.random.default_rng(1).standard_normal((V, d)).astype(np.float32)
    W_t, ids_t = torch.from_numpy(W), torch.from_numpy(ids)

    rows = [
        ("word_tokenize, 1.1 MB", "gensim simple_preprocess",
         lambda: word_tokenize(text), lambda: simple_preprocess(text, max_len=100), 5),
        ("Vocab.encode, 199k words", "gensim Dictionary.doc2idx",
         lambda: vocab.encode(words), lambda: dictionary.doc2idx(words), 5),
        ("embedding_lookup, 2k ids", "torch F.embedding",
         lambda: embedding_lookup(W, ids), lambda: F.embedding(ids_t, W_t), 200),
        ("one_hot(ids) @ W, 2k ids", "torch F.embedding",
         lambda: one_hot(ids, V) @ W, lambda: F.embedding(ids_t, W_t), 5),
    ]
    print(f"V = {V:,}, d = {d}, torch threads = {torch.get_num_threads()}")
    print(f"{'ours':<28} {'peer':<27} {'ours ms':>9} {'peer ms':>9} {'ours/peer':>10}")
    for name, peer, ours_fn, peer_fn, repeats in rows:
        ours_fn(), peer_fn()  # warm-up
        t_ours, t_peer = best_of(ours_fn, repeats), best_of(peer_fn, repeats)
        print(f"{name:<28} {peer:<27} {t_ours * 1e3:9.3f} {t_peer * 1e3:9.3f} {t_ours / t_peer:10.2f}")


if __name__ == "__main__":
    main()
