"""GloVe from scratch, and the count-based baseline PPMI + SVD (chapter 03).

    vocab = build_vocab(sentences, min_count=5)             # course_lib.text, shared with word2vec
    ids, doc = vocab.encode(sentences)
    X = cooccurrence_counts(ids, window=10, vocab_size=len(vocab), doc=doc)  # sparse (V, V)
    f = glove_weight(X.data, x_max=10.0, alpha=0.75)        # weighting f(x)
    wv = train_glove(sentences, vector_size=100, epochs=25) # AdaGrad, vectors W + W~
    wv = ppmi_svd(sentences, vector_size=100, window=10)    # the classic count baseline

The model of Pennington, Socher and Manning (2014) fits

.. math:: J = \\tfrac12 \\sum_{i,j: X_{ij} > 0} f(X_{ij}) \\left(w_i^\\top \\tilde w_j + b_i + \\tilde b_j - \\log X_{ij}\\right)^2

with AdaGrad, the way the reference C program does (accumulators start at 1, the
step size is folded into the accumulated gradients, per-coordinate clipping at 100).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .evaluation import WordVectors
from ._validate import positive_int, progress as _progress_bar, torch_threads
from .text import build_vocab

__all__ = ["cooccurrence_counts", "glove_weight", "glove_loss", "glove_loss_and_grads",
           "train_glove", "ppmi", "ppmi_svd"]


# ----------------------------------------------------------------------------- counting
def cooccurrence_counts(ids: np.ndarray, window: int, vocab_size: int, *, doc: np.ndarray | None = None,
                        distance_weighting: bool = True) -> sp.csr_matrix:
    """Symmetric co-occurrence counts of word ids within ``window`` positions, as a sparse matrix.

    A pair of tokens ``d`` positions apart (``1 <= d <= window``, same sentence) adds
    ``1/d`` (or 1 with ``distance_weighting=False``) to both ``X[a, b]`` and ``X[b, a]``:

    .. math:: X_{ab} = \\sum_{\\text{pairs }(a,b)} \\frac{1}{d}

    Returns a (V, V) ``scipy.sparse.csr_matrix`` of float64.
    """
    window = positive_int(window, "window", "cooccurrence_counts")
    vocab_size = positive_int(vocab_size, "vocab_size", "cooccurrence_counts")
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}), got values from {ids.min()} to {ids.max()}")
    if doc is not None and np.shape(doc) != ids.shape:
        raise ValueError(f"doc must have the shape of ids {ids.shape}, got {np.shape(doc)}")
    rows, cols, vals = [], [], []
    for d in range(1, min(window, max(len(ids) - 1, 0)) + 1):
        left, right = ids[:-d], ids[d:]  # tokens d apart, (N-d,) each
        if doc is not None:
            same = np.asarray(doc)[:-d] == np.asarray(doc)[d:]
            left, right = left[same], right[same]
        w = np.full(len(left), 1.0 / d if distance_weighting else 1.0)
        rows += [left, right]  # both directions: X is symmetric
        cols += [right, left]
        vals += [w, w]
    if not rows:
        return sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    X = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(vocab_size, vocab_size))
    return X.tocsr()  # duplicates are summed here


# ----------------------------------------------------------------------------- the model
def glove_weight(x: np.ndarray, x_max: float = 10.0, alpha: float = 0.75) -> np.ndarray:
    """The weighting function :math:`f(x) = \\min\\left(1, (x/x_{max})^{\\alpha}\\right)`.

    Rare pairs (small x) count less; pairs seen ``x_max`` times or more count fully.
    """
    if not x_max > 0:
        raise ValueError(f"x_max must be positive, got {x_max}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    x = np.asarray(x, dtype=np.float64)
    if np.any(x < 0):
        raise ValueError("co-occurrence counts must be non-negative")
    return np.minimum(1.0, (x / x_max) ** alpha)


def glove_loss(W: np.ndarray, W_t: np.ndarray, b: np.ndarray, b_t: np.ndarray, rows: np.ndarray,
               cols: np.ndarray, x: np.ndarray, *, x_max: float = 10.0, alpha: float = 0.75) -> float:
    """:math:`J = \\tfrac12 \\sum_n f(x_n)\\,(w_{i_n}^\\top \\tilde w_{j_n} + b_{i_n} + \\tilde b_{j_n} - \\log x_n)^2`

    over the non-zero entries ``(rows[n], cols[n], x[n])`` of the co-occurrence matrix.
    ``W``, ``W_t`` (V, d) word and context vectors, ``b``, ``b_t`` (V,) their biases.
    """
    _check_glove_batch(W, W_t, b, b_t, rows, cols, x)
    diff = np.einsum("nd,nd->n", W[rows], W_t[cols]) + b[rows] + b_t[cols] - np.log(x)  # (N,)
    return float(0.5 * np.sum(glove_weight(x, x_max, alpha) * diff ** 2))


def glove_loss_and_grads(W: np.ndarray, W_t: np.ndarray, b: np.ndarray, b_t: np.ndarray,
                         rows: np.ndarray, cols: np.ndarray, x: np.ndarray, *, x_max: float = 10.0,
                         alpha: float = 0.75) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`glove_loss` and its gradients. With :math:`e_n = f(x_n)\\,\\mathrm{diff}_n`:

    .. math:: \\partial J/\\partial w_i = \\sum_{n: i_n = i} e_n \\tilde w_{j_n},\\quad
              \\partial J/\\partial \\tilde w_j = \\sum_{n: j_n = j} e_n w_{i_n},\\quad
              \\partial J/\\partial b_i = \\sum_{n: i_n = i} e_n

    Returns ``(loss, dW (V, d), dW_t (V, d), db (V,), db_t (V,))``.
    """
    _check_glove_batch(W, W_t, b, b_t, rows, cols, x)
    diff = np.einsum("nd,nd->n", W[rows], W_t[cols]) + b[rows] + b_t[cols] - np.log(x)  # (N,)
    fx = glove_weight(x, x_max, alpha)
    err = fx * diff  # (N,)
    dW, dW_t = np.zeros_like(W, dtype=np.float64), np.zeros_like(W_t, dtype=np.float64)
    np.add.at(dW, rows, err[:, None] * W_t[cols])
    np.add.at(dW_t, cols, err[:, None] * W[rows])
    db = np.bincount(rows, weights=err, minlength=W.shape[0])
    db_t = np.bincount(cols, weights=err, minlength=W.shape[0])
    return float(0.5 * np.sum(err * diff)), dW, dW_t, db, db_t


# ----------------------------------------------------------------------------- training
def _adagrad_epoch(PG, rows, cols, logx, fx, lr: float, batch_size: int, V: int, clip: float = 100.0) -> float:
    """One pass of AdaGrad over the shuffled non-zero entries, as the C program does it.

    ``PG`` (2V, 2(d+1)) holds, per row, a vector and its bias followed by their squared-gradient
    accumulators: rows 0..V-1 for words (w, b), rows V..2V-1 for contexts (w~, b~). For each
    entry the step of a coordinate is ``g / sqrt(G)`` with ``g = lr * f(x) * diff * (other
    vector)``, then ``G += g^2``. Entries of one batch see the accumulators from before it.
    """
    import torch

    cost = 0.0
    k = PG.shape[1] // 2  # d + 1: vector plus bias
    d = k - 1
    for start in range(0, len(rows), batch_size):
        i = rows[start:start + batch_size]
        n = len(i)
        both = torch.cat([i, cols[start:start + batch_size] + V])  # (2n,) word rows then context rows
        R = PG.index_select(0, both)  # (2n, 2k): one gather for parameters and accumulators
        Pi, Pj = R[:n, :k], R[n:, :k]  # (n, d+1) each
        diff = (Pi[:, :d] * Pj[:, :d]).sum(1) + Pi[:, d] + Pj[:, d] - logx[start:start + batch_size]  # (n,)
        err = fx[start:start + batch_size] * diff  # f(x) * diff
        cost += 0.5 * float((err * diff).sum())
        err *= lr
        upd = torch.empty_like(R)  # (2n, 2k): [-step | g^2]
        g = upd[:, k:]  # per-entry gradients, scaled by lr
        torch.clamp(err[:, None] * Pj[:, :d], -clip, clip, out=g[:n, :d])  # for w_i
        torch.clamp(err[:, None] * Pi[:, :d], -clip, clip, out=g[n:, :d])  # for w~_j
        g[:n, d] = err
        g[n:, d] = err
        torch.div(g, R[:, k:].sqrt(), out=upd[:, :k])  # AdaGrad: divide by root of past squared gradients
        upd[:, :k].neg_()
        g.square_()
        PG.index_add_(0, both, upd)  # one scatter: parameters move, accumulators grow
    return cost


def train_glove(sentences: Sequence[Sequence[str]], *, vector_size: int = 100, window: int = 10,
                x_max: float = 10.0, alpha: float = 0.75, epochs: int = 25, lr: float = 0.05,
                min_count: int = 5, seed: int = 0, progress: bool = True, batch_size: int = 4096,
                threads: int | None = 1,
                on_epoch: Callable[[int, WordVectors], None] | None = None) -> WordVectors:
    """Count co-occurrences (1/distance, symmetric), fit GloVe with AdaGrad, return ``W + W~``.

    ``wv.info`` holds the cost per epoch (``loss_per_epoch``, the mean of J over entries),
    the number of non-zero entries and the time taken. ``on_epoch(epoch, wv)``,
    if given, receives a copy of the vectors after each epoch (epoch = 1, 2, ...).
    """
    import torch

    vector_size = positive_int(vector_size, "vector_size", "train_glove")
    epochs = positive_int(epochs, "epochs", "train_glove")
    batch_size = positive_int(batch_size, "batch_size", "train_glove")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    glove_weight(np.ones(1), x_max, alpha)  # validates x_max and alpha
    if on_epoch is not None and not callable(on_epoch):
        raise ValueError(f"train_glove expected on_epoch to be a function (epoch, wv) -> None, got "
                         f"{type(on_epoch).__name__}")
    t0 = time.perf_counter()
    vocab = build_vocab(sentences, min_count=min_count)
    ids, doc = vocab.encode(sentences)
    X = cooccurrence_counts(ids, window, len(vocab), doc=doc).tocoo()
    t_count = time.perf_counter() - t0
    V, d = len(vocab), vector_size
    gen = torch.Generator().manual_seed(int(seed))
    PG = torch.ones(2 * V, 2 * (d + 1))  # per row: vector, bias, then their AdaGrad accumulators (start at 1)
    PG[:, :d + 1] = (torch.rand(2 * V, d + 1, generator=gen) - 0.5) / d  # initialised as the C program
    rows_all, cols_all = torch.from_numpy(X.row.astype(np.int64)), torch.from_numpy(X.col.astype(np.int64))
    logx_all = torch.from_numpy(np.log(X.data)).float()
    fx_all = torch.from_numpy(glove_weight(X.data, x_max, alpha)).float()
    losses, bar = [], _progress_bar(epochs, progress)
    with torch_threads(threads, "train_glove"), torch.no_grad():
        for epoch in range(epochs):
            order = torch.randperm(len(rows_all), generator=gen)  # shuffle entries every epoch
            cost = _adagrad_epoch(PG, rows_all[order], cols_all[order], logx_all[order], fx_all[order],
                                  lr, batch_size, V)
            losses.append(cost / len(rows_all))
            bar(epoch, losses[-1])
            if on_epoch is not None:  # e.g. to follow a score along training
                on_epoch(epoch + 1, WordVectors(vocab.words, (PG[:V, :d] + PG[V:, :d]).numpy().copy()))
    vectors = (PG[:V, :d] + PG[V:, :d]).numpy()  # W + W~ (the C program's "model 2")
    info = {"loss_per_epoch": losses, "nonzeros": int(X.nnz), "seconds": time.perf_counter() - t0,
            "counting_seconds": t_count, "counts": vocab.counts}
    return WordVectors(vocab.words, vectors, info=info)


# ----------------------------------------------------------------------------- PPMI + SVD
def ppmi(X: sp.spmatrix, *, cds: float = 0.75) -> sp.csr_matrix:
    """Positive pointwise mutual information of a count matrix, with context smoothing:

    .. math:: \\mathrm{PPMI}(w, c) = \\max\\left(0, \\log \\frac{X_{wc} \\, \\sum_{c'} X_{\\cdot c'}^{\\,cds}}
              {X_{w\\cdot}\\, X_{\\cdot c}^{\\,cds}}\\right)

    ``cds=0.75`` raises rare contexts' probabilities a little (Levy, Goldberg and Dagan, 2015).
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    if X.shape[0] != X.shape[1]:
        raise ValueError(f"expected a square (V, V) count matrix, got shape {X.shape}")
    if X.nnz == 0:
        raise ValueError("the count matrix is all zeros")
    row_sum = np.asarray(X.sum(1)).ravel()  # (V,)
    ctx = np.asarray(X.sum(0)).ravel() ** cds  # (V,)
    coo = X.tocoo()
    pmi = np.log(coo.data) + np.log(ctx.sum()) - np.log(row_sum[coo.row]) - np.log(ctx[coo.col])
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=X.shape)


def ppmi_svd(sentences: Sequence[Sequence[str]], *, vector_size: int = 100, window: int = 5,
             min_count: int = 5, cds: float = 0.75, eig: float = 0.5,
             distance_weighting: bool = False, seed: int = 0) -> WordVectors:
    """The count baseline: symmetric window counts -> PPMI -> truncated SVD, vectors ``U S^eig``.

    .. math:: \\mathrm{PPMI} \\approx U_d \\Sigma_d V_d^\\top, \\qquad \\text{vectors} = U_d \\Sigma_d^{\\,eig}
    """
    from scipy.sparse.linalg import svds

    vector_size = positive_int(vector_size, "vector_size", "ppmi_svd")
    vocab = build_vocab(sentences, min_count=min_count)
    if vector_size >= len(vocab):
        raise ValueError(f"vector_size must be smaller than the vocabulary ({len(vocab)} words), got {vector_size}")
    ids, doc = vocab.encode(sentences)
    M = ppmi(cooccurrence_counts(ids, window, len(vocab), doc=doc, distance_weighting=distance_weighting), cds=cds)
    v0 = np.random.default_rng(seed).standard_normal(len(vocab))  # fixed start: deterministic result
    U, S, _ = svds(M, k=vector_size, v0=v0)
    order = np.argsort(-S)
    U, S = U[:, order], S[order]
    U *= np.sign(U[np.abs(U).argmax(0), np.arange(U.shape[1])])  # fix each column's sign
    return WordVectors(vocab.words, (U * S ** eig).astype(np.float32), info={"singular_values": S})


# ----------------------------------------------------------------------------- input checks
def _check_glove_batch(W: np.ndarray, W_t: np.ndarray, b: np.ndarray, b_t: np.ndarray,
                       rows: np.ndarray, cols: np.ndarray, x: np.ndarray) -> None:
    if W.ndim != 2 or W_t.shape != W.shape:
        raise ValueError(f"W and W_t must both have shape (V, d), got {W.shape} and {W_t.shape}")
    if b.shape != (W.shape[0],) or b_t.shape != (W.shape[0],):
        raise ValueError(f"b and b_t must have shape ({W.shape[0]},), got {b.shape} and {b_t.shape}")
    if not (rows.shape == cols.shape == x.shape) or rows.ndim != 1:
        raise ValueError(f"rows, cols and x must be 1-D of one length, got {rows.shape}, {cols.shape}, {x.shape}")
    if np.any(x <= 0):
        raise ValueError("GloVe fits log X, so every count x must be > 0")
