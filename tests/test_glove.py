"""course_lib.glove: exact counts, gradients checked, AdaGrad as the C program, PPMI by hand."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_lib import glove
from course_lib.checks import numerical_gradient


def test_cooccurrence_counts_on_a_hand_checked_text():
    # "a b c a" | "b c", window 2, 1/distance weighting, symmetric
    ids = np.array([0, 1, 2, 0, 1, 2])
    doc = np.array([0, 0, 0, 0, 1, 1])
    X = glove.cooccurrence_counts(ids, 2, 3, doc=doc).toarray()
    # sentence 1 pairs: (a,b) d1, (b,c) d1, (c,a) d1, (a,c) d2, (b,a) d2; sentence 2: (b,c) d1
    expected = np.array([[0.0, 1.5, 1.5],
                         [1.5, 0.0, 2.0],
                         [1.5, 2.0, 0.0]])
    np.testing.assert_allclose(X, expected)
    X1 = glove.cooccurrence_counts(ids, 2, 3, doc=doc, distance_weighting=False).toarray()
    np.testing.assert_allclose(X1, [[0, 2, 2], [2, 0, 2], [2, 2, 0]])


def test_cooccurrence_counts_equal_a_plain_loop():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, size=300)
    doc = np.sort(rng.integers(0, 12, size=300))
    window = 4
    expected = np.zeros((7, 7))
    for i in range(len(ids)):
        for j in range(i + 1, min(i + window, len(ids) - 1) + 1):
            if doc[i] == doc[j]:
                expected[ids[i], ids[j]] += 1 / (j - i)
                expected[ids[j], ids[i]] += 1 / (j - i)
    X = glove.cooccurrence_counts(ids, window, 7, doc=doc)
    assert sp.issparse(X)
    np.testing.assert_allclose(X.toarray(), expected)


def test_weighting_function():
    x = np.array([0.5, 1.0, 10.0, 100.0])
    np.testing.assert_allclose(glove.glove_weight(x, 10.0, 0.75), [0.05**0.75, 0.1**0.75, 1.0, 1.0])


def _small_problem(seed=0, V=6, d=4, n=15):
    rng = np.random.default_rng(seed)
    W, W_t = rng.normal(size=(V, d)), rng.normal(size=(V, d))
    b, b_t = rng.normal(size=V), rng.normal(size=V)
    rows, cols = rng.integers(0, V, n), rng.integers(0, V, n)
    x = rng.uniform(0.2, 30.0, n)
    return W, W_t, b, b_t, rows, cols, x


def test_glove_gradients_pass_the_finite_difference_check():
    W, W_t, b, b_t, rows, cols, x = _small_problem()
    loss, dW, dW_t, db, db_t = glove.glove_loss_and_grads(W, W_t, b, b_t, rows, cols, x)

    def J(_):
        return glove.glove_loss(W, W_t, b, b_t, rows, cols, x)

    assert loss == pytest.approx(J(None))
    for param, grad in [(W, dW), (W_t, dW_t), (b, db), (b_t, db_t)]:
        np.testing.assert_allclose(grad, numerical_gradient(J, param), rtol=1e-5, atol=1e-6)


def test_glove_loss_equals_torch_autograd():
    W, W_t, b, b_t, rows, cols, x = _small_problem(seed=3)
    t = [torch.tensor(a, requires_grad=True) for a in (W, W_t, b, b_t)]
    r, c = torch.tensor(rows), torch.tensor(cols)
    diff = (t[0][r] * t[1][c]).sum(1) + t[2][r] + t[3][c] - torch.log(torch.tensor(x))
    loss = 0.5 * (torch.clamp(torch.tensor(x) / 10.0, max=1.0) ** 0.75 * diff**2).sum()
    loss.backward()
    ours = glove.glove_loss_and_grads(W, W_t, b, b_t, rows, cols, x)
    assert ours[0] == pytest.approx(loss.item(), rel=1e-12)
    for g, tt in zip(ours[1:], t):
        np.testing.assert_allclose(g, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_adagrad_step_follows_the_c_program():
    """One entry, one step, written out as glove.c does it."""
    V, d, lr = 3, 4, 0.05
    rng = np.random.default_rng(0)
    P = rng.normal(size=(2 * V, d + 1))  # vectors + bias
    G = rng.uniform(1.0, 2.0, size=(2 * V, d + 1))
    PG = torch.tensor(np.hstack([P, G]))
    i, j, x = 1, 2, 7.0
    fx = glove.glove_weight(np.array([x]))[0]
    glove._adagrad_epoch(PG, torch.tensor([i]), torch.tensor([j]), torch.tensor([np.log(x)]),
                         torch.tensor([fx]), lr, 16, V)
    wi, wj = P[i], P[V + j]
    diff = wi[:d] @ wj[:d] + wi[d] + wj[d] - np.log(x)
    fdiff = lr * fx * diff
    g_i = np.append(fdiff * wj[:d], fdiff)
    g_j = np.append(fdiff * wi[:d], fdiff)
    np.testing.assert_allclose(PG[i, :d + 1].numpy(), wi - g_i / np.sqrt(G[i]))
    np.testing.assert_allclose(PG[V + j, :d + 1].numpy(), wj - g_j / np.sqrt(G[V + j]))
    np.testing.assert_allclose(PG[i, d + 1:].numpy(), G[i] + g_i**2)
    np.testing.assert_allclose(PG[0].numpy(), np.hstack([P[0], G[0]]))  # untouched rows stay


def test_ppmi_equals_the_dense_formula():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(8, 8)).astype(float)
    X = X + X.T
    M = glove.ppmi(sp.csr_matrix(X), cds=0.75).toarray()
    ctx = X.sum(0) ** 0.75
    with np.errstate(divide="ignore"):
        pmi = np.log(X * ctx.sum() / (X.sum(1)[:, None] * ctx[None, :]))
    np.testing.assert_allclose(M, np.maximum(pmi, 0))


def _two_topic_corpus(n=400, seed=0, leak=0.15):
    """Sentences about animals or vehicles; 15% of words leak from the other topic.

    (GloVe only fits observed pairs: without leaks the topics never meet and nothing
    in the loss tells them apart.)"""
    rng = np.random.default_rng(seed)
    topics = [[f"animal{i}" for i in range(30)], [f"vehicle{i}" for i in range(30)]]
    out = []
    for i in range(n):
        own, other = rng.choice(topics[i % 2], size=12), rng.choice(topics[1 - i % 2], size=12)
        out.append([str(o) if rng.random() > leak else str(x) for o, x in zip(own, other)])
    return out


def test_glove_and_ppmi_separate_two_topics():
    corpus = _two_topic_corpus()
    for wv in [glove.train_glove(corpus, vector_size=8, window=4, epochs=20, min_count=1, progress=False,
                                 x_max=5.0, batch_size=256),
               glove.ppmi_svd(corpus, vector_size=4, window=4, min_count=1)]:
        same = np.mean([wv.similarity("animal0", f"animal{i}") for i in range(1, 30)])
        other = np.mean([wv.similarity("animal0", f"vehicle{i}") for i in range(30)])
        assert same > other + 0.3
    losses = wv.info.get("loss_per_epoch") or [1, 0]
    assert losses[-1] < losses[0]


def test_glove_loss_falls():
    wv = glove.train_glove(_two_topic_corpus(100), vector_size=8, window=4, epochs=5, min_count=1,
                           progress=False, batch_size=256)
    losses = wv.info["loss_per_epoch"]
    assert losses[-1] < 0.8 * losses[0]


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="corpus is empty"):
        glove.train_glove([], progress=False)
    with pytest.raises(ValueError, match="min_count=5 leaves no words"):
        glove.train_glove([["a", "b"]], progress=False)
    with pytest.raises(ValueError, match="cooccurrence_counts expected window to be an integer >= 1, got 0"):
        glove.cooccurrence_counts(np.array([0, 1]), 0, 2)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 2\)"):
        glove.cooccurrence_counts(np.array([0, 5]), 2, 2)
    with pytest.raises(ValueError, match="x_max must be positive"):
        glove.glove_weight(np.ones(3), x_max=0)
    with pytest.raises(ValueError, match="every count x must be > 0"):
        W, W_t, b, b_t, rows, cols, x = _small_problem()
        glove.glove_loss(W, W_t, b, b_t, rows, cols, x * 0)
    with pytest.raises(ValueError, match="vector_size must be smaller than the vocabulary"):
        glove.ppmi_svd([["a", "b", "c"]], vector_size=10, min_count=1)


def test_no_module_imports_another_modules_private_helpers():
    """glove used to take _check_positive_int, _progress and _torch_threads from word2vec."""
    import ast
    from pathlib import Path

    import course_lib

    for path in (Path(course_lib.__file__).parent / name for name in ("glove.py", "word2vec.py", "text.py",
                                                                       "evaluation.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "_validate":
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_vocabulary_and_finite_differences_live_in_their_rooms():
    from course_lib import checks, text, word2vec

    assert text.build_vocab.__module__ == "course_lib.text" and "build_vocab" in text.__all__
    assert text.Word2VecVocab.__module__ == "course_lib.text"
    assert checks.numerical_gradient.__module__ == "course_lib.checks"
    assert not hasattr(word2vec, "numerical_gradient")


def test_on_epoch_sees_w_plus_w_tilde_after_every_epoch():
    seen = []
    wv = glove.train_glove(_two_topic_corpus(50), vector_size=8, window=4, epochs=3, min_count=1, progress=False,
                           batch_size=256, on_epoch=lambda epoch, v: seen.append((epoch, v.vectors)))
    assert [e for e, _ in seen] == [1, 2, 3]
    np.testing.assert_array_equal(seen[-1][1], wv.vectors)
    with pytest.raises(ValueError, match="on_epoch to be a function"):
        glove.train_glove(_two_topic_corpus(5), min_count=1, progress=False, on_epoch="print")
