"""Word vectors and how we judge them: neighbours, analogies, similarity scores (chapters 02-03).

    wv = WordVectors(words, vectors)              # words[i] has the vector vectors[i]
    wv.most_similar("king", topn=5)               # [(word, cosine), ...]
    wv.analogy("man", "king", "woman")            # man : king :: woman : ?   (3CosAdd)
    evaluate_similarity(wv, load_similarity("wordsim353"))   # (spearman, coverage)
    evaluate_analogies(wv, load_analogies())                 # (accuracy, coverage)
    evaluate_analogies_by_section(wv, load_analogies())      # {section: (correct, covered)}

The two evaluations follow gensim's ``KeyedVectors.evaluate_word_pairs`` and
``evaluate_word_analogies`` rule for rule (upper-cased lookup where the first, most
frequent, spelling wins; a vocabulary restricted to the ``restrict_vocab`` most
frequent words; questions with unknown words skipped), so the numbers are the same
as gensim's on the same vectors -- ``tests/test_evaluation.py`` checks this.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["WordVectors", "evaluate_similarity", "evaluate_analogies", "evaluate_analogies_by_section"]


def _unit_rows(m: np.ndarray) -> np.ndarray:
    """Each row divided by its length: ``m_i / ||m_i||`` (zero rows stay zero)."""
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)


@dataclass
class WordVectors:
    """A vocabulary and one vector per word: ``vectors[i]`` belongs to ``words[i]``.

    Words are expected in decreasing frequency order (what every trainer in the course
    returns), because the evaluations restrict themselves to the first, most frequent,
    ``restrict_vocab`` words, as gensim does. ``info`` holds whatever the trainer wants
    to report (loss history, words per second, ...).
    """

    words: list[str]
    vectors: np.ndarray  # (V, d)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.words, str):
            raise ValueError("WordVectors expected a list of words, got a single str")
        self.words = list(self.words)
        if not all(isinstance(w, str) and w and not any(c.isspace() for c in w) for w in self.words):
            bad = next(w for w in self.words if not (isinstance(w, str) and w and not any(c.isspace() for c in w)))
            raise ValueError(f"WordVectors expected non-empty str words without whitespace, got {bad!r}")
        vectors = np.asarray(self.vectors)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must have shape (V, d), got shape {vectors.shape}")
        if vectors.shape[0] != len(self.words):
            raise ValueError(f"vectors has {vectors.shape[0]} rows but there are {len(self.words)} words; "
                             f"expected one row per word")
        if vectors.dtype.kind != "f":
            raise ValueError(f"vectors must be floating point, got dtype {vectors.dtype}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("WordVectors expected distinct words, got duplicates")
        self.vectors = vectors.astype(np.float32, copy=False)
        self.index = {w: i for i, w in enumerate(self.words)}
        self._unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words x {self.vector_size} dims, first={self.words[:5]})"

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to length 1, so that a dot product is a cosine similarity. (V, d)"""
        if self._unit is None:
            self._unit = _unit_rows(self.vectors)
        return self._unit

    def _id(self, word: str) -> int:
        if not isinstance(word, str):
            raise ValueError(f"expected a word (str), got {type(word).__name__} {word!r}")
        if word not in self.index:
            raise ValueError(f"word {word!r} is not in the vocabulary of {len(self)} words "
                             f"(too rare for min_count, or spelled differently?)")
        return self.index[word]

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._id(word)]

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity ``cos(a, b) = a.b / (|a| |b|)``."""
        u = self.unit_vectors
        return float(u[self._id(w1)] @ u[self._id(w2)])

    def _nearest(self, query: np.ndarray, exclude: Sequence[int], topn: int) -> list[tuple[str, float]]:
        if isinstance(topn, bool) or not isinstance(topn, (int, np.integer)) or topn < 1:
            raise ValueError(f"topn must be a positive integer, got {topn!r}")
        sims = self.unit_vectors @ query  # (V,)
        sims[list(exclude)] = -np.inf
        k = min(int(topn), len(self) - len(set(exclude)))
        if k <= 0:
            return []
        best = np.argpartition(-sims, k - 1)[:k]
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in best]

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words with the highest cosine similarity to ``word`` (itself excluded)."""
        i = self._id(word)
        return self._nearest(self.unit_vectors[i], [i], topn)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ... ? By 3CosAdd:

        .. math:: d^* = \\arg\\max_{d \\notin \\{a,b,c\\}} \\cos(d, \\hat b - \\hat a + \\hat c)

        where hats are unit vectors. ``analogy("man", "king", "woman")`` -> ``[("queen", 0.7...)]``.
        """
        ia, ib, ic = self._id(a), self._id(b), self._id(c)
        u = self.unit_vectors
        query = _unit_rows(((u[ib] + u[ic] - u[ia]) / 3.0)[None, :])[0]  # gensim's mean, then unit length
        return self._nearest(query, [ia, ib, ic], topn)

    # -- the word2vec text format, readable by gensim's KeyedVectors.load_word2vec_format --
    def save_word2vec_format(self, path: str | os.PathLike) -> None:
        """Write ``"V d"`` then one line per word: ``word x1 x2 ... xd`` (text, UTF-8)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{len(self)} {self.vector_size}\n")
            for w, vec in zip(self.words, self.vectors):
                f.write(w + " " + " ".join(repr(float(x)) for x in vec) + "\n")

    @classmethod
    def load_word2vec_format(cls, path: str | os.PathLike) -> "WordVectors":
        """Read a text file written by :meth:`save_word2vec_format` (or by gensim / the C tool, text mode)."""
        with open(path, encoding="utf-8") as f:
            header = f.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise ValueError(f"{os.fspath(path)!r}: expected a first line 'V d' with two integers, "
                                 f"got {' '.join(header)!r}")
            n, d = map(int, header)
            words, rows = [], []
            for line_no, line in enumerate(f, start=2):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if len(parts) != d + 1:
                    raise ValueError(f"line {line_no}: expected a word and {d} numbers, got {len(parts) - 1} numbers")
                words.append(parts[0])
                rows.append(np.array(parts[1:], dtype=np.float32))
        if len(words) != n:
            raise ValueError(f"header announces {n} words but the file holds {len(words)}")
        return cls(words, np.stack(rows) if rows else np.zeros((0, d), np.float32))


def _upper_vocab(wv: WordVectors, restrict_vocab: int) -> dict[str, int]:
    """Upper-cased word -> id over the first ``restrict_vocab`` words; the most frequent spelling wins."""
    if isinstance(restrict_vocab, bool) or not isinstance(restrict_vocab, (int, np.integer)) or restrict_vocab < 1:
        raise ValueError(f"restrict_vocab must be a positive integer, got {restrict_vocab!r}")
    return {w.upper(): i for i, w in reversed(list(enumerate(wv.words[:restrict_vocab])))}


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


def evaluate_similarity(wv: WordVectors, pairs: Sequence[tuple[str, str, float]], *,
                        restrict_vocab: int = 300000) -> tuple[float, float]:
    """Spearman's rank correlation between cosine similarities and human scores.

    Returns ``(spearman, coverage)``: coverage is the fraction of pairs whose two words
    are known (case-insensitively, within the ``restrict_vocab`` most frequent words);
    the others are skipped, exactly like gensim's ``evaluate_word_pairs``.
    """
    if not isinstance(wv, WordVectors):
        raise ValueError(f"evaluate_similarity expected WordVectors, got {type(wv).__name__}")
    if len(pairs) == 0:
        raise ValueError("evaluate_similarity got no pairs; expected [(word1, word2, score), ...]")
    ok = _upper_vocab(wv, restrict_vocab)
    u = wv.unit_vectors
    gold, model = [], []
    for item in pairs:
        if len(item) != 3:
            raise ValueError(f"expected (word1, word2, score) triples, got {item!r}")
        a, b, score = item
        a, b = a.upper(), b.upper()
        if a in ok and b in ok:
            gold.append(float(score))
            model.append(float(u[ok[a]] @ u[ok[b]]))
    if not gold:
        raise ValueError(f"none of the {len(pairs)} pairs has both words in the vocabulary")
    return _spearman(np.array(gold), np.array(model)), len(gold) / len(pairs)


def evaluate_analogies(wv: WordVectors, questions: Sequence[tuple[str, ...]], *,
                       restrict_vocab: int = 30000) -> tuple[float, float]:
    """Accuracy of 3CosAdd on analogy questions ``a : b :: c : d``, gensim's rules.

    ``questions`` are ``(a, b, c, d)`` or ``(section, a, b, c, d)`` tuples (what
    ``load_analogies`` returns). Only the ``restrict_vocab`` most frequent words take
    part, case-insensitively; a question with an unknown word is skipped. The answer is
    the best of the five nearest words to ``unit(b) - unit(a) + unit(c)`` that is not
    a, b or c. Returns ``(accuracy on the covered questions, coverage)``.
    """
    hits, n_questions = _analogy_hits(wv, questions, restrict_vocab, "evaluate_analogies")
    accuracy = sum(ok for _, ok in hits) / len(hits) if hits else 0.0
    return accuracy, len(hits) / n_questions


def evaluate_analogies_by_section(wv: WordVectors, questions: Sequence[tuple[str, ...]], *,
                                  restrict_vocab: int = 30000) -> dict[str, tuple[int, int]]:
    """The rules of :func:`evaluate_analogies`, section by section (``capital-common-countries``,
    ``gram3-comparative``, ...): ``{section: (correct, covered)}`` for every section with at
    least one covered question, in the order of the file (gensim's ``sections`` list)."""
    hits, _ = _analogy_hits(wv, questions, restrict_vocab, "evaluate_analogies_by_section")
    out: dict[str, tuple[int, int]] = {}
    for section, ok in hits:
        right, total = out.get(section, (0, 0))
        out[section] = (right + int(ok), total + 1)
    return out


def _analogy_hits(wv: WordVectors, questions: Sequence[tuple[str, ...]], restrict_vocab: int,
                  fn: str) -> tuple[list[tuple[str | None, bool]], int]:
    """(section, answered right?) for every covered question, and the number of questions."""
    if not isinstance(wv, WordVectors):
        raise ValueError(f"{fn} expected WordVectors, got {type(wv).__name__}")
    if len(questions) == 0:
        raise ValueError(f"{fn} got no questions; expected [(a, b, c, d), ...]")
    ok = _upper_vocab(wv, restrict_vocab)
    n_keep = min(int(restrict_vocab), len(wv))
    u = wv.unit_vectors[:n_keep]  # (V', d)
    upper = [w.upper() for w in wv.words[:n_keep]]
    covered: list[tuple[int, int, int, str, tuple[str, str, str], str | None]] = []
    for q in questions:
        if len(q) not in (4, 5):
            raise ValueError(f"expected (a, b, c, d) or (section, a, b, c, d), got {q!r}")
        a, b, c, d = (w.upper() for w in q[-4:])
        if a in ok and b in ok and c in ok and d in ok:
            covered.append((ok[a], ok[b], ok[c], d, (a, b, c), q[0] if len(q) == 5 else None))
    hits: list[tuple[str | None, bool]] = []
    for start in range(0, len(covered), 1024):  # batches of questions: one matrix product each
        chunk = covered[start:start + 1024]
        ia, ib, ic = (np.array([q[k] for q in chunk]) for k in range(3))
        queries = _unit_rows(u[ib] + u[ic] - u[ia])  # (Q, d)
        sims = queries @ u.T  # (Q, V')
        rows = np.arange(len(chunk))
        for col in (ia, ib, ic):
            sims[rows, col] = -np.inf  # gensim drops the input words from the candidates
        top = np.argsort(-sims, axis=1, kind="stable")[:, :5] if sims.shape[1] <= 5 else \
            _top5(sims)
        for (_, _, _, d, ignore, section), cands in zip(chunk, top):
            predicted = None
            for i in cands:
                predicted = upper[i]
                if predicted not in ignore:
                    break
            hits.append((section, predicted == d))
    return hits, len(questions)


def _top5(sims: np.ndarray) -> np.ndarray:
    """Indices of the five largest values of each row, best first. (Q, 5)"""
    part = np.argpartition(-sims, 4, axis=1)[:, :5]
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
