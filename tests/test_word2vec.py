"""course_lib.word2vec: exact pipeline pieces, gradients checked, formulas equal to gensim's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import word2vec as w2v
from course_lib.checks import numerical_gradient
from course_lib.text import build_vocab


def test_vocab_orders_by_count_and_drops_rare_words():
    sents = [["b", "a", "c", "a"], ["b", "a", "d"]]
    vocab = build_vocab(sents, min_count=2)
    assert vocab.words == ["a", "b"]
    assert vocab.counts.tolist() == [3, 2]
    ids, doc = vocab.encode(sents)
    assert ids.tolist() == [1, 0, 0, 1, 0]  # c and d are dropped before windowing, like gensim
    assert doc.tolist() == [0, 0, 0, 1, 1]


def test_vocab_equals_gensims():
    from gensim.models import Word2Vec

    sents = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "sat", "on", "a", "log"]] * 3
    model = Word2Vec(min_count=2, vector_size=4)
    model.build_vocab(sents)
    vocab = build_vocab(sents, min_count=2)
    # same words with the same counts; only the order among equal counts may differ
    assert dict(zip(vocab.words, vocab.counts.tolist())) == {
        w: model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key}
    assert np.all(np.diff(vocab.counts) <= 0)


def test_keep_probabilities_equal_gensim():
    from gensim.models import Word2Vec
    from course_lib.datasets import load_sentences

    sents = load_sentences("wiki")[:20]
    for sample in (1e-3, 1e-4):
        model = Word2Vec(min_count=5, sample=sample, vector_size=4)
        model.build_vocab(sents)
        vocab = build_vocab(sents, min_count=5)
        ours = w2v.keep_probabilities(vocab.counts, sample)
        theirs = np.array([model.wv.get_vecattr(w, "sample_int") for w in vocab.words]) / (2**32 - 1)
        np.testing.assert_allclose(ours, theirs, atol=1e-8)
        assert ours.min() < 0.5  # frequent words really are thinned out


def test_keep_probability_formula_by_hand():
    counts = np.array([1000, 10, 1])
    t = 1e-2 * counts.sum()  # 10.11
    expected = [(np.sqrt(1000 / t) + 1) * t / 1000, 1.0, 1.0]
    np.testing.assert_allclose(w2v.keep_probabilities(counts, 1e-2), expected)


def test_skipgram_pairs_on_a_hand_checked_text():
    # "the quick brown fox" | "jumps over" with window 2; ids 0..5, two sentences
    ids = np.array([0, 1, 2, 3, 4, 5])
    doc = np.array([0, 0, 0, 0, 1, 1])
    centres, contexts = w2v.skipgram_pairs(ids, 2, doc=doc)
    pairs = list(zip(centres.tolist(), contexts.tolist()))
    assert pairs == [(0, 1), (0, 2),
                     (1, 0), (1, 2), (1, 3),
                     (2, 0), (2, 1), (2, 3),
                     (3, 1), (3, 2),
                     (4, 5),
                     (5, 4)]


def test_cbow_windows_on_a_hand_checked_text():
    centres, contexts = w2v.cbow_windows(np.array([7, 8, 9]), 1)
    assert centres.tolist() == [7, 8, 9]
    assert contexts.tolist() == [[-1, 8], [7, 9], [8, -1]]


def test_dynamic_window_shrinks_like_word2vec():
    """With b ~ U{1..w}, a context at distance d is used with probability (w - d + 1) / w."""
    rng = np.random.default_rng(0)
    n, w = 200_000, 5
    pos, valid = w2v.window_positions(n, w, rng=rng)
    dist = np.abs(pos - np.arange(n)[:, None])[valid]
    freq = np.bincount(dist, minlength=w + 1)[1:] / (2 * n)
    np.testing.assert_allclose(freq, (w - np.arange(1, w + 1) + 1) / w, atol=0.005)
    full_c, full_o = w2v.skipgram_pairs(np.arange(50), 3)
    c, o = w2v.skipgram_pairs(np.arange(50), 3, rng=np.random.default_rng(1))
    assert set(zip(c, o)) < set(zip(full_c, full_o))


def test_noise_distribution_and_sampling():
    counts = np.array([100, 10, 1])
    p = w2v.noise_distribution(counts)
    np.testing.assert_allclose(p, counts**0.75 / (counts**0.75).sum())
    draws = w2v.sample_negatives(p, 100_000, np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 1e5, p, atol=0.01)
    table = w2v._noise_table(p, size=100_000)
    np.testing.assert_allclose(np.bincount(table, minlength=3) / 1e5, p, atol=1e-4)


def _random_batch(B=3, K=4, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, d)), rng.normal(size=(B, d)), rng.normal(size=(B, K, d))


def test_sgns_gradients_pass_the_finite_difference_check():
    v_c, u_o, u_neg = _random_batch()
    loss, g_v, g_o, g_neg = w2v.sgns_loss_and_grads(v_c, u_o, u_neg)
    assert loss == pytest.approx(w2v.sgns_loss(v_c, u_o, u_neg))
    for x, g in [(v_c, g_v), (u_o, g_o), (u_neg, g_neg)]:
        num = numerical_gradient(lambda _: w2v.sgns_loss(v_c, u_o, u_neg), x)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_sgns_loss_and_gradients_equal_torch_autograd():
    v_c, u_o, u_neg = _random_batch(seed=1)
    t = [torch.tensor(a, requires_grad=True) for a in (v_c, u_o, u_neg)]
    loss = -(torch.nn.functional.logsigmoid((t[1] * t[0]).sum(-1)).sum()
             + torch.nn.functional.logsigmoid(-torch.einsum("bkd,bd->bk", t[2], t[0])).sum())
    loss.backward()
    ours = w2v.sgns_loss_and_grads(v_c, u_o, u_neg)
    assert ours[0] == pytest.approx(loss.item(), rel=1e-12)
    for g, tt in zip(ours[1:], t):
        np.testing.assert_allclose(g, tt.grad.numpy(), rtol=1e-10)


def test_a_gradient_bug_is_caught_by_the_check():
    v_c, u_o, u_neg = _random_batch()
    _, g_v, _, _ = w2v.sgns_loss_and_grads(v_c, u_o, u_neg)
    num = numerical_gradient(lambda _: w2v.sgns_loss(v_c, u_o, u_neg), v_c)
    assert not np.allclose(g_v * 1.01, num, rtol=1e-6, atol=1e-8)


def test_skipgram_step_applies_the_numpy_gradients():
    """One batched skip-gram step adds -lr times the hand-derived gradient of every pair.

    Window b has centre c_b and context words o (padding -1); each pair (o -> c_b) is one
    SGNS example with input v_o, output u_{c_b} and the window's K noise words. All pair
    gradients are taken at the old vectors and summed into the rows they touch.
    """
    V, d, lr = 12, 6, 0.1
    rng = np.random.default_rng(0)
    W = torch.tensor(np.vstack([rng.normal(size=(2 * V, d)), np.zeros((1, d))]))  # last row: padding
    centre = torch.tensor([0, 1, 2])
    context = torch.tensor([[3, 4, -1, -1], [-1, 5, 6, 3], [7, -1, -1, -1]])
    negs = torch.tensor([[8, 9], [10, 11], [9, 2]])  # window 3 draws its own centre: skipped, as in gensim
    before = W.clone().numpy()
    loss, pairs = w2v._sg_step(W, V, centre, context, negs, lr)
    expected, ref_loss = before.copy(), 0.0
    for b in range(3):
        keep = [n for n in negs[b].tolist() if n != centre[b].item()]
        for o in [o for o in context[b].tolist() if o >= 0]:
            v, uo, un = before[[o]], before[[centre[b].item() + V]], before[[k + V for k in keep]][None]
            l, g_v, g_o, g_n = w2v.sgns_loss_and_grads(v, uo, un)
            ref_loss += l
            expected[o] -= lr * g_v[0]
            expected[centre[b].item() + V] -= lr * g_o[0]
            np.add.at(expected, [k + V for k in keep], -lr * g_n[0])
    assert pairs == 6
    assert loss == pytest.approx(ref_loss, rel=1e-10)
    np.testing.assert_allclose(W.numpy(), expected, rtol=1e-10, atol=1e-12)


def _two_topic_corpus(n=400, seed=0):
    rng = np.random.default_rng(seed)
    topics = [["cat", "dog", "mouse", "pet", "fur"] + [f"animal{i}" for i in range(30)],
              ["car", "road", "wheel", "engine", "fuel"] + [f"vehicle{i}" for i in range(30)]]
    return [list(rng.choice(topics[i % 2], size=12)) for i in range(n)]


@pytest.mark.parametrize("sg", [True, False])
def test_training_separates_two_topics(sg):
    wv = w2v.train_word2vec(_two_topic_corpus(), sg=sg, vector_size=16, window=3, min_count=1,
                            epochs=5, sample=0, progress=False, batch_size=64)
    same = np.mean([wv.similarity("cat", w) for w in ["dog", "mouse", "pet", "fur"]])
    other = np.mean([wv.similarity("cat", w) for w in ["car", "road", "wheel", "engine"]])
    assert same > other + 0.3
    losses = wv.info["loss_per_epoch"]
    assert losses[-1] < losses[0]
    assert wv.info["effective_words"] > 0


def test_training_is_deterministic():
    a = w2v.train_word2vec(_two_topic_corpus(50), vector_size=8, min_count=1, epochs=1, progress=False)
    b = w2v.train_word2vec(_two_topic_corpus(50), vector_size=8, min_count=1, epochs=1, progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="corpus is empty"):
        w2v.train_word2vec([], progress=False)
    with pytest.raises(ValueError, match="corpus is empty"):
        build_vocab([[], []])
    with pytest.raises(ValueError, match="min_count=5 leaves no words"):
        w2v.train_word2vec([["a", "b", "a"]], progress=False)
    with pytest.raises(ValueError, match="train_word2vec expected window to be an integer >= 1, got 0"):
        w2v.train_word2vec([["a", "b"]], min_count=1, window=0, progress=False)
    with pytest.raises(ValueError, match="list of token lists"):
        build_vocab("a text, not tokens")
    with pytest.raises(ValueError, match="tokenize the text first"):
        build_vocab(["a sentence", "another"])
    with pytest.raises(ValueError, match=r"u_neg must have shape \(B, K, d\)"):
        w2v.sgns_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expected sample in \[0, 1\), got 1.5"):
        w2v.keep_probabilities(np.array([3, 2]), sample=1.5)


def test_training_restores_torch_threads_and_reports_speed():
    before = torch.get_num_threads()
    wv = w2v.train_word2vec(_two_topic_corpus(50), vector_size=8, min_count=1, epochs=1, progress=False,
                            threads=1)
    assert torch.get_num_threads() == before
    assert wv.info["words_per_second"] > 0
    assert wv.info["effective_words"] <= sum(len(s) for s in _two_topic_corpus(50))


def test_cbow_step_applies_the_numpy_gradients():
    """CBOW: h = mean of the context vectors; every context word moves by -lr dJ/dh (C tool rule)."""
    V, d, lr = 12, 5, 0.1
    rng = np.random.default_rng(1)
    W = torch.tensor(np.vstack([rng.normal(size=(2 * V, d)), np.zeros((1, d))]))  # last row: padding
    centre, negs = torch.tensor([0, 1]), torch.tensor([[8, 9], [10, 11]])
    context = torch.tensor([[2, 3, -1], [4, 5, 6]])
    before = W.clone()
    loss, windows = w2v._cbow_step(W, V, centre, context, negs, lr)
    assert windows == 2
    h = np.stack([before[[2, 3]].mean(0).numpy(), before[[4, 5, 6]].mean(0).numpy()])
    ref_loss, g_h, g_o, g_n = w2v.sgns_loss_and_grads(h, before[centre + V].numpy(), before[negs + V].numpy())
    assert loss == pytest.approx(ref_loss)
    for row, ctx_rows in enumerate([[2, 3], [4, 5, 6]]):
        np.testing.assert_allclose(W[ctx_rows].numpy(), before[ctx_rows].numpy() - lr * g_h[row], rtol=1e-10)
    np.testing.assert_allclose(W[centre + V].numpy(), before[centre + V].numpy() - lr * g_o, rtol=1e-10)
    np.testing.assert_allclose(W[negs + V].numpy(), before[negs + V].numpy() - lr * g_n, rtol=1e-10)
    assert torch.all(W[-1] == 0)


def test_cbow_windows_and_pairs_refuse_non_integer_ids_with_a_sentence():
    # numpy used to raise its own DTypePromotionError from deep inside np.where
    for fn in (w2v.cbow_windows, w2v.skipgram_pairs):
        with pytest.raises(ValueError, match=r"expected ids as a 1-D array of integer word ids, got shape \(2,\) dtype <U1"):
            fn(np.array(["a", "b"]), 2)
        with pytest.raises(ValueError, match="integer word ids, got shape \\(2, 2\\)"):
            fn(np.zeros((2, 2), dtype=np.int64), 2)
    centres, contexts = w2v.cbow_windows([], 2)
    assert centres.shape == (0,) and contexts.shape == (0, 4)


def test_keep_probabilities_name_the_bad_count():
    with pytest.raises(ValueError, match=r"expected every count > 0 .*got counts\[1\] = 0"):
        w2v.keep_probabilities(np.array([3, 0, 2]))
    with pytest.raises(ValueError, match=r"got counts\[2\] = -1"):
        w2v.noise_distribution(np.array([3, 0, -1]))
    with pytest.raises(ValueError, match="all zeros"):
        w2v.noise_distribution(np.array([0, 0]))


@pytest.mark.parametrize("sg", [True, False])
def test_a_run_that_blows_up_stops_with_the_reason(sg):
    # Every batch adds up the steps of all the windows that share a word: with one batch of
    # the whole corpus and a big learning rate the loss grows instead of falling.
    with pytest.raises(ValueError, match=r"diverged in epoch \d.*batch_size=100000 and lr=5.0.*smaller batch_size"):
        w2v.train_word2vec(_two_topic_corpus(400), vector_size=8, min_count=1, epochs=3, lr=5.0,
                           batch_size=100_000, progress=False)


def test_default_learning_rates_are_the_c_tools():
    sents = _two_topic_corpus(20)
    assert w2v.train_word2vec(sents, sg=True, min_count=1, epochs=1, progress=False).info["config"].lr == 0.025
    assert w2v.train_word2vec(sents, sg=False, min_count=1, epochs=1, progress=False).info["config"].lr == 0.05
    assert w2v.train_word2vec(sents, sg=False, lr=0.01, min_count=1, epochs=1, progress=False).info["config"].lr == 0.01


def test_on_epoch_sees_the_vectors_after_every_epoch():
    seen = []
    wv = w2v.train_word2vec(_two_topic_corpus(50), vector_size=8, min_count=1, epochs=3, progress=False,
                            on_epoch=lambda epoch, v: seen.append((epoch, v.vectors)))
    assert [e for e, _ in seen] == [1, 2, 3]
    np.testing.assert_array_equal(seen[-1][1], wv.vectors)
    assert not np.array_equal(seen[0][1], seen[-1][1])
    with pytest.raises(ValueError, match="on_epoch to be a function"):
        w2v.train_word2vec(_two_topic_corpus(5), min_count=1, progress=False, on_epoch=3)
