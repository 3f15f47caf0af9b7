"""course_lib.evaluation against gensim's KeyedVectors on the very same vectors."""
from __future__ import annotations

import numpy as np
import pytest

gensim_models = pytest.importorskip("gensim.models")
from gensim.models import KeyedVectors  # noqa: E402

from course_lib import datasets  # noqa: E402
from course_lib.evaluation import (WordVectors, evaluate_analogies, evaluate_analogies_by_section,  # noqa: E402
                                  evaluate_similarity)
from course_lib.glove import ppmi_svd  # noqa: E402


@pytest.fixture(scope="module")
def wv() -> WordVectors:
    """Meaningful vectors (PPMI+SVD on part of the wiki text) plus capitalised twins.

    The twins ("Paris" after "paris") are rarer and random: gensim's rule that the
    first, most frequent, spelling wins decides which vector an upper-cased question uses.
    """
    base = ppmi_svd(datasets.load_sentences("wiki")[:40], vector_size=50, window=5)
    rng = np.random.default_rng(0)
    twins = [w.capitalize() for w in base.words[:3000:7] if w.capitalize() != w]
    vectors = np.vstack([base.vectors, rng.standard_normal((len(twins), 50)).astype(np.float32)])
    return WordVectors(base.words + twins, vectors)


def _to_gensim(wv: WordVectors) -> KeyedVectors:
    kv = KeyedVectors(vector_size=wv.vector_size)
    kv.add_vectors(wv.words, wv.vectors)
    return kv


@pytest.mark.parametrize("restrict_vocab", [300000, 2000])
@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_similarity_equals_gensim(wv, name, restrict_vocab):
    path = datasets.path(datasets.SIMILARITY[name])
    _, g_spearman, g_oov = _to_gensim(wv).evaluate_word_pairs(str(path), restrict_vocab=restrict_vocab)
    spearman, coverage = evaluate_similarity(wv, datasets.load_similarity(name), restrict_vocab=restrict_vocab)
    assert spearman == pytest.approx(g_spearman.statistic, abs=1e-6)
    assert coverage == pytest.approx(1 - g_oov / 100, abs=1e-12)
    assert 0 < coverage < 1


@pytest.mark.parametrize("restrict_vocab", [30000, 1500])
def test_analogies_equal_gensim(wv, restrict_vocab):
    questions = datasets.load_analogies()
    score, sections = _to_gensim(wv).evaluate_word_analogies(
        str(datasets.path("questions-words.txt")), restrict_vocab=restrict_vocab)
    accuracy, coverage = evaluate_analogies(wv, questions, restrict_vocab=restrict_vocab)
    total = sections[-1]
    n_covered = len(total["correct"]) + len(total["incorrect"])
    assert accuracy == pytest.approx(score, abs=1e-12)
    assert coverage == pytest.approx(n_covered / len(questions), abs=1e-12)
    assert accuracy > 0  # the test must be able to fail: some answers are right
    by_section = evaluate_analogies_by_section(wv, questions, restrict_vocab=restrict_vocab)
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"]))
              for s in sections[:-1] if s["correct"] or s["incorrect"]}
    assert by_section == theirs and list(by_section) == list(theirs)
    assert sum(c for c, _ in by_section.values()) > 0


def test_most_similar_and_analogy_equal_gensim(wv):
    kv = _to_gensim(wv)
    for word in ["king", "france", "two"]:
        ours = wv.most_similar(word, topn=5)
        theirs = kv.most_similar(word, topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
    ours = wv.analogy("man", "king", "woman", topn=3)
    theirs = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=3)
    assert [w for w, _ in ours] == [w for w, _ in theirs]


def test_save_load_round_trip_through_gensim(wv, tmp_path):
    path = tmp_path / "vectors.txt"
    wv.save_word2vec_format(path)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert list(kv.index_to_key) == wv.words
    np.testing.assert_array_equal(kv.vectors, wv.vectors)
    assert [w for w, _ in kv.most_similar("city", topn=10)] == [w for w, _ in wv.most_similar("city", topn=10)]
    back = WordVectors.load_word2vec_format(path)
    assert back.words == wv.words
    np.testing.assert_array_equal(back.vectors, wv.vectors)
    # and a file written by gensim reads back too
    path2 = tmp_path / "gensim.txt"
    kv.save_word2vec_format(str(path2), binary=False)
    np.testing.assert_array_equal(WordVectors.load_word2vec_format(path2).vectors, wv.vectors)


def test_bad_input_gets_clear_errors(wv):
    with pytest.raises(ValueError, match="not in the vocabulary"):
        wv.most_similar("qwertyuiopasdf")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        wv.analogy("man", "king", "qwertyuiopasdf")
    with pytest.raises(ValueError, match="topn"):
        wv.most_similar("king", topn=0)
    with pytest.raises(ValueError, match=r"shape \(V, d\)"):
        WordVectors(["a", "b"], np.zeros(2))
    with pytest.raises(ValueError, match="3 rows but there are 2 words"):
        WordVectors(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="none of the"):
        evaluate_similarity(wv, [("qwertyuiop", "asdfghjkl", 1.0)])
    with pytest.raises(ValueError, match="no pairs"):
        evaluate_similarity(wv, [])
    with pytest.raises(ValueError, match="restrict_vocab"):
        evaluate_analogies(wv, [("a", "b", "c", "d")], restrict_vocab=0)


def test_load_rejects_a_broken_file(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("2 3\nhello 1 2 3\nworld 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: expected a word and 3 numbers"):
        WordVectors.load_word2vec_format(p)
    p.write_text("hello 1 2 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first line 'V d'"):
        WordVectors.load_word2vec_format(p)
