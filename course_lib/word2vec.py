"""Word2Vec from scratch: skip-gram and CBOW with negative sampling (chapter 02).

The pipeline, one small function per step:

    vocab  = build_vocab(sentences, min_count=5)           # course_lib.text: words by frequency, with counts
    ids, doc = vocab.encode(sentences)                     # one flat id stream + sentence number
    keep   = keep_probabilities(vocab.counts, sample=1e-3) # frequent-word subsampling
    c, o   = skipgram_pairs(ids, window=5, doc=doc, rng=rng)   # (centre, context) pairs
    noise  = noise_distribution(vocab.counts)              # unigram^0.75
    loss, grads = sgns_loss_and_grads(v_c, u_o, u_neg)     # numpy, checked by finite differences

and the fast trainer that ties it together:

    wv = train_word2vec(sentences, sg=True, vector_size=100, epochs=5)

Formulas follow the word2vec C tool and gensim: the keep probability
``(sqrt(f/t) + 1) * t/f``, the shrunk window ``b ~ U{1..window}``, negatives drawn
from ``count^0.75``, input vectors initialised in ``U(-0.5, 0.5)/d``, output vectors
at zero, and a learning rate decaying linearly to ``min_lr``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import positive_int, progress as _progress_bar, torch_threads
from .evaluation import WordVectors
from .text import Word2VecVocab, build_vocab  # noqa: F401  (the vocabulary lives with the others, in text)

__all__ = ["keep_probabilities", "subsample", "window_positions", "skipgram_pairs", "cbow_windows",
           "noise_distribution", "sample_negatives", "sigmoid", "sgns_loss", "sgns_loss_and_grads",
           "train_word2vec"]


# ----------------------------------------------------------------------------- subsampling
def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word (frequent-word subsampling).

    With ``t = sample * total_count`` (a count threshold) and ``f`` a word's count,

    .. math:: P_{keep}(w) = \\min\\left(1, \\left(\\sqrt{f/t} + 1\\right) \\frac{t}{f}\\right)

    the formula of the word2vec C tool and gensim. ``sample=0`` keeps everything.
    """
    counts = _check_counts(counts, "keep_probabilities", positive=True)
    if not 0 <= sample < 1:
        raise ValueError(f"keep_probabilities expected sample in [0, 1), got {sample}")
    if sample == 0:
        return np.ones(counts.shape, dtype=np.float64)
    t = sample * counts.sum()
    f = counts.astype(np.float64)
    return np.minimum(1.0, (np.sqrt(f / t) + 1.0) * (t / f))


def subsample(ids: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask (N,): keep token n with probability ``keep_prob[ids[n]]``."""
    ids = np.asarray(ids)
    return rng.random(ids.shape[0]) < keep_prob[ids]


# ----------------------------------------------------------------------------- windows and pairs
def window_positions(n_tokens: int, window: int, *, doc: np.ndarray | None = None,
                     rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For every position i, the context positions j with ``0 < |i - j| <= b_i`` in the same sentence.

    ``b_i = window`` when ``rng`` is None; otherwise ``b_i`` is drawn uniformly from
    ``{1, ..., window}`` (the word2vec "dynamic window": near words count more often).
    Returns ``pos`` (N, 2*window) int64 context positions and ``valid`` (N, 2*window) bool,
    columns ordered by offset ``-window, ..., -1, +1, ..., +window``.
    """
    window = positive_int(window, "window", "window_positions")
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])  # (2w,)
    centre = np.arange(n_tokens)[:, None]  # (N, 1)
    pos = centre + offsets[None, :]  # (N, 2w)
    valid = (pos >= 0) & (pos < n_tokens)
    if rng is not None:
        reach = rng.integers(1, window + 1, size=n_tokens)  # b_i, (N,)
        valid &= np.abs(offsets)[None, :] <= reach[:, None]
    if doc is not None:
        doc = np.asarray(doc)
        if doc.shape != (n_tokens,):
            raise ValueError(f"doc must have shape ({n_tokens},) like the ids, got {doc.shape}")
        valid &= doc[np.clip(pos, 0, max(n_tokens - 1, 0))] == doc[:, None]
    return pos, valid


def skipgram_pairs(ids: np.ndarray, window: int, *, doc: np.ndarray | None = None,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) id pairs of skip-gram, ordered by centre position then offset.

    ``skipgram_pairs([10, 11, 12], window=1)`` -> centres ``[10, 11, 11, 12]``,
    contexts ``[11, 10, 12, 11]``. Pass ``rng`` for the shrunk (dynamic) window.
    """
    ids = _check_ids(ids, "skipgram_pairs")
    pos, valid = window_positions(len(ids), window, doc=doc, rng=rng)  # (N, 2w)
    rows, cols = np.nonzero(valid)
    return ids[rows], ids[pos[rows, cols]]


def cbow_windows(ids: np.ndarray, window: int, *, doc: np.ndarray | None = None,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CBOW examples: ``centres`` (M,) and their ``contexts`` (M, 2*window) padded with -1.

    Positions without any context word (a one-word sentence) are dropped.
    """
    ids = _check_ids(ids, "cbow_windows")
    pos, valid = window_positions(len(ids), window, doc=doc, rng=rng)
    contexts = np.where(valid, ids[np.clip(pos, 0, max(len(ids) - 1, 0))], -1)  # (N, 2w)
    has_context = valid.any(axis=1)
    return ids[has_context], contexts[has_context]


# ----------------------------------------------------------------------------- noise
def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Negative-sampling distribution :math:`P_n(w) = f(w)^{0.75} / \\sum_v f(v)^{0.75}`."""
    counts = _check_counts(counts, "noise_distribution", positive=False).astype(np.float64)
    p = counts ** power
    return p / p.sum()


def sample_negatives(probs: np.ndarray, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw word ids from ``probs`` by inverting the cumulative distribution (fast for big draws)."""
    cdf = np.cumsum(probs)
    draws = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
    return np.minimum(draws, len(probs) - 1)


TABLE_SIZE = 10_000_000


def _noise_table(probs: np.ndarray, size: int = TABLE_SIZE) -> np.ndarray:
    """The C tool's trick: a big array where word w fills about ``probs[w] * size`` cells,
    so a uniform random cell is a draw from ``probs``. (size,) int64"""
    edges = np.rint(np.cumsum(probs) / np.sum(probs) * size).astype(np.int64)  # (V,) cell where each word ends
    cells = np.diff(edges, prepend=0)  # (V,) cells per word
    return np.repeat(np.arange(len(probs), dtype=np.int64), cells)


# ----------------------------------------------------------------------------- the SGNS loss in numpy
def sigmoid(x: np.ndarray) -> np.ndarray:
    """:math:`\\sigma(x) = 1 / (1 + e^{-x})`, computed without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """:math:`\\log \\sigma(x) = -\\log(1 + e^{-x})`, stable."""
    return -np.logaddexp(0.0, -x)


def sgns_loss(v_c: np.ndarray, u_o: np.ndarray, u_neg: np.ndarray) -> float:
    """Skip-gram negative-sampling loss, summed over a batch of B pairs:

    .. math:: L = -\\sum_b \\Big[\\log\\sigma(u_o^\\top v_c) + \\sum_{k=1}^K \\log\\sigma(-u_k^\\top v_c)\\Big]

    ``v_c`` (B, d) centre (input) vectors, ``u_o`` (B, d) true context (output) vectors,
    ``u_neg`` (B, K, d) output vectors of the K sampled negatives.
    """
    v_c, u_o, u_neg = (np.asarray(a, dtype=np.float64) for a in (v_c, u_o, u_neg))
    _check_sgns_shapes(v_c, u_o, u_neg)
    pos = np.einsum("bd,bd->b", u_o, v_c)  # (B,)
    neg = np.einsum("bkd,bd->bk", u_neg, v_c)  # (B, K)
    return float(-(_log_sigmoid(pos).sum() + _log_sigmoid(-neg).sum()))


def sgns_loss_and_grads(v_c: np.ndarray, u_o: np.ndarray, u_neg: np.ndarray
                        ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The loss of :func:`sgns_loss` and its gradients, derived by hand:

    .. math::
        \\frac{\\partial L}{\\partial v_c} = (\\sigma(u_o^\\top v_c) - 1)\\,u_o + \\sum_k \\sigma(u_k^\\top v_c)\\,u_k,\\quad
        \\frac{\\partial L}{\\partial u_o} = (\\sigma(u_o^\\top v_c) - 1)\\,v_c,\\quad
        \\frac{\\partial L}{\\partial u_k} = \\sigma(u_k^\\top v_c)\\,v_c

    Returns ``(loss, grad_v_c (B, d), grad_u_o (B, d), grad_u_neg (B, K, d))``.
    """
    v_c, u_o, u_neg = (np.asarray(a, dtype=np.float64) for a in (v_c, u_o, u_neg))
    _check_sgns_shapes(v_c, u_o, u_neg)
    pos = np.einsum("bd,bd->b", u_o, v_c)  # (B,)
    neg = np.einsum("bkd,bd->bk", u_neg, v_c)  # (B, K)
    loss = float(-(_log_sigmoid(pos).sum() + _log_sigmoid(-neg).sum()))
    g_pos = sigmoid(pos) - 1.0  # dL/d(score of the true pair), (B,)
    g_neg = sigmoid(neg)  # dL/d(score of each negative), (B, K)
    grad_v = g_pos[:, None] * u_o + np.einsum("bk,bkd->bd", g_neg, u_neg)  # (B, d)
    grad_u_o = g_pos[:, None] * v_c  # (B, d)
    grad_u_neg = g_neg[:, :, None] * v_c[:, None, :]  # (B, K, d)
    return loss, grad_v, grad_u_o, grad_u_neg


# ----------------------------------------------------------------------------- the fast torch trainer
@dataclass
class Word2VecConfig:
    sg: bool = True
    vector_size: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    min_count: int = 5
    epochs: int = 5
    lr: float = 0.025
    min_lr: float = 1e-4
    batch_size: int = 1024
    seed: int = 0


def _epoch_examples(cfg: Word2VecConfig, ids: np.ndarray, doc: np.ndarray, keep: np.ndarray,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """One epoch of training windows: subsample, shrink windows, shuffle.

    Returns ``centres`` (M,), ``contexts`` (M, 2*window) padded with -1, and the number
    of words kept by subsampling. Skip-gram and CBOW both train on these windows.
    """
    mask = subsample(ids, keep, rng)
    centres, contexts = cbow_windows(ids[mask], cfg.window, doc=doc[mask], rng=rng)
    order = rng.permutation(len(centres))
    return centres[order], contexts[order], int(mask.sum())


def _batches_by_reach(centres: np.ndarray, contexts: np.ndarray, batch_size: int,
                      rng: np.random.Generator) -> Iterator[tuple["torch.Tensor", "torch.Tensor"]]:
    """Batches of windows of equal reach, in random order: (centre (B,), context (B, 2h)).

    A shrunk window of reach h only fills the 2h middle columns of ``contexts`` (M, 2w),
    ordered by offset -w..-1, +1..+w. Batching windows of equal reach and keeping just
    their 2h columns saves the work on padding (about 40% of the slots for w = 5).
    """
    import torch

    w = contexts.shape[1] // 2
    distance = np.concatenate([np.arange(w, 0, -1), np.arange(1, w + 1)])  # (2w,) |offset| of each column
    reach = np.max(np.where(contexts >= 0, distance, 0), axis=1)  # (M,) farthest context word
    batches = []
    for h in range(1, w + 1):
        rows = np.flatnonzero(reach == h)  # keeps the shuffled order
        batches += [(rows[i:i + batch_size], h) for i in range(0, len(rows), batch_size)]
    for k in rng.permutation(len(batches)):
        rows, h = batches[k]
        yield torch.from_numpy(centres[rows]), torch.from_numpy(contexts[rows, w - h:w + h])


def _sg_step(W: "torch.Tensor", V: int, centre: "torch.Tensor", context: "torch.Tensor",
             negatives: "torch.Tensor", lr: float) -> tuple[float, int]:
    """One batched SGD step of skip-gram with negative sampling, gradients by hand (torch).

    As in the C tool and gensim, the pair (centre c, context o) trains the *input* vector
    of o to predict the *output* vector of c against K noise words:
    :math:`J = -\\log\\sigma(u_c \\cdot v_o) - \\sum_k \\log\\sigma(-u_{n_k} \\cdot v_o)`.
    The pairs of one window share their K noise words, so a window costs one gather of
    ``2w + 1 + K`` rows instead of ``2w (2 + K)`` and the scores are one small matrix
    product; every pair still gets its own K negative terms.

    ``W`` (2V+1, d) stacks input vectors (rows 0..V-1), output vectors (rows V..2V-1)
    and a zero padding row. centre (B,), context (B, 2w) padded with -1, negatives (B, K).
    Returns the summed loss of the batch and its number of pairs.
    """
    import torch

    B, K = negatives.shape
    pad_row = W.shape[0] - 1
    present = context >= 0  # (B, 2w) real context words
    inputs = torch.where(present, context, pad_row)  # (B, 2w) padded slots -> the zero row
    m = inputs.shape[1]
    v = W.index_select(0, inputs.reshape(-1)).view(B, m, -1)  # (B, 2w, d) input vectors v_o
    out_rows = torch.cat([centre[:, None], negatives], dim=1) + V  # (B, 1+K): c, then n_1..n_K
    u = W.index_select(0, out_rows.reshape(-1)).view(B, 1 + K, -1)  # (B, 1+K, d) output vectors
    scores = torch.bmm(v, u.transpose(1, 2))  # (B, 2w, 1+K): u_c.v_o, then u_k.v_o
    terms = present[:, :, None] & _noise_mask(centre, negatives)[:, None, :]  # (B, 2w, 1+K) real terms
    g = (torch.sigmoid(scores) - _labels(K)) * terms  # dJ/dscore = sigma(s) - label
    loss, pairs = _pair_loss(scores, terms), int(present.sum())
    g *= -lr  # fold the step size in: the scatters below add -lr * gradient directly
    step_v = torch.bmm(g, u)  # (B, 2w, d)  -lr dJ/dv_o = -lr sum_k g_k u_k
    step_u = torch.bmm(g.transpose(1, 2), v)  # (B, 1+K, d)  -lr dJ/du_k = -lr sum_o g_k v_o
    W.index_add_(0, inputs.reshape(-1), step_v.view(B * m, -1))
    W.index_add_(0, out_rows.reshape(-1), step_u.view(B * (1 + K), -1))  # padded slots added 0: g is 0 there
    return loss, pairs


def _labels(K: int) -> "torch.Tensor":
    """(1+K,) the labels of one example: 1 for the true word, 0 for the K noise words."""
    import torch

    return torch.cat([torch.ones(1), torch.zeros(K)])


def _noise_mask(target: "torch.Tensor", negatives: "torch.Tensor") -> "torch.Tensor":
    """(B, 1+K) bool: which terms count. A noise word equal to the true word is skipped (gensim)."""
    import torch

    return torch.cat([torch.ones_like(target, dtype=torch.bool)[:, None], negatives != target[:, None]], dim=1)


def _pair_loss(scores: "torch.Tensor", terms: "torch.Tensor") -> float:
    """Summed SGNS loss of scores (..., 1+K), true word first, over the terms that count."""
    import torch.nn.functional as F

    logs = F.logsigmoid(scores)  # log sigma(s) for the true word
    logs[..., 1:] = F.logsigmoid(-scores[..., 1:])  # log sigma(-s) for the noise words
    return float(-(logs * terms).sum())


def _cbow_step(W: "torch.Tensor", V: int, centre: "torch.Tensor", context: "torch.Tensor",
               negatives: "torch.Tensor", lr: float) -> tuple[float, int]:
    """One batched SGD step of CBOW: the mean of the context vectors predicts the centre.

    context (B, 2w) padded with -1. ``W`` has one extra last row kept at zero: padded
    slots point at it, so every gather and scatter has a fixed shape (no boolean masks).
    With :math:`h = \\frac{1}{|C|}\\sum_{j \\in C} v_j` over the |C| context words actually present
    (a shrunk window has fewer), the true gradient is :math:`\\partial J/\\partial v_j = \\frac{1}{|C|}
    \\partial J/\\partial h`. Like the C tool and gensim (cbow_mean=1), each context word is moved
    by the full :math:`-\\eta\\,\\partial J/\\partial h` instead, |C| times the gradient step.
    Returns the summed loss and the number of windows.
    """
    import torch

    B, K = negatives.shape
    pad_row = W.shape[0] - 1
    present = context >= 0  # (B, 2w)
    ctx = torch.where(present, context, pad_row).reshape(-1)  # (B*2w,) padded slots -> the zero row
    count = present.sum(1, keepdim=True).clamp(min=1)  # (B, 1)
    h = W.index_select(0, ctx).view(B, -1, W.shape[1]).sum(1) / count  # (B, d) mean of the context vectors
    out_rows = torch.cat([centre[:, None], negatives], dim=1) + V  # (B, 1+K)
    u = W.index_select(0, out_rows.reshape(-1)).view(B, 1 + K, -1)  # (B, 1+K, d)
    scores = (u * h[:, None, :]).sum(-1)  # (B, 1+K)
    terms = _noise_mask(centre, negatives)  # (B, 1+K)
    g = (torch.sigmoid(scores) - _labels(K)) * terms
    loss = _pair_loss(scores, terms)
    g *= -lr  # the scatter below adds -lr * gradient
    step_h = torch.bmm(g[:, None, :], u)[:, 0]  # (B, d)  -lr dJ/dh
    step_u = g[:, :, None] * h[:, None, :]  # (B, 1+K, d)  -lr dJ/du_k
    W.index_add_(0, ctx, step_h[:, None, :].expand(-1, context.shape[1], -1).reshape(-1, W.shape[1]))
    W.index_add_(0, out_rows.reshape(-1), step_u.reshape(B * (1 + K), -1))
    W[pad_row] = 0.0  # the padding row absorbed the steps of padded slots: reset it
    return loss, B


def train_word2vec(sentences: Sequence[Sequence[str]], *, sg: bool = True, vector_size: int = 100,
                   window: int = 5, negative: int = 5, sample: float = 1e-3, min_count: int = 5,
                   epochs: int = 5, lr: float | None = None, seed: int = 0, progress: bool = True,
                   min_lr: float = 1e-4, batch_size: int = 1024,
                   threads: int | None = 1,
                   on_epoch: Callable[[int, WordVectors], None] | None = None) -> WordVectors:
    """Train skip-gram (``sg=True``) or CBOW with negative sampling; return the input vectors.

    Each epoch draws a fresh subsample and fresh shrunk windows (numpy, vectorised),
    shuffles the windows (a centre word with its context words), and runs batched SGD
    in torch with hand-written gradients (sparse ``index_add_`` updates) on
    ``batch_size`` windows at a time; in skip-gram the pairs of one window share their
    noise words. The learning rate falls linearly from ``lr`` to ``min_lr`` over all
    batches of all epochs; ``lr=None`` takes the word2vec C tool's defaults, 0.025 for
    skip-gram and 0.05 for CBOW (gensim's ``alpha`` is 0.025 for both). ``wv.info`` reports the loss per example (per pair for
    skip-gram, per window for CBOW) of each epoch, the effective words (after
    subsampling) and effective words per second. ``threads`` sets torch's intra-op
    threads during training (None: leave torch's setting); one thread is the default,
    steady when other programs share the cores (two threads on two idle cores are
    about 1.4 times faster). ``on_epoch(epoch, wv)``,
    if given, receives a copy of the vectors after each epoch (epoch = 1, 2, ...).
    """
    import torch

    fn = "train_word2vec"
    if on_epoch is not None and not callable(on_epoch):
        raise ValueError(f"{fn} expected on_epoch to be a function (epoch, wv) -> None, got {type(on_epoch).__name__}")
    if lr is None:
        lr = 0.025 if sg else 0.05  # the C tool's defaults (gensim uses 0.025 for both)
    cfg = Word2VecConfig(sg=bool(sg), vector_size=positive_int(vector_size, "vector_size", fn),
                         window=positive_int(window, "window", fn),
                         negative=positive_int(negative, "negative", fn), sample=sample,
                         min_count=min_count, epochs=positive_int(epochs, "epochs", fn), lr=lr,
                         min_lr=min_lr, batch_size=positive_int(batch_size, "batch_size", fn), seed=seed)
    if not lr > 0 or not 0 <= min_lr <= lr:
        raise ValueError(f"expected lr > 0 and 0 <= min_lr <= lr, got lr={lr}, min_lr={min_lr}")
    vocab = build_vocab(sentences, min_count=min_count)
    keep = keep_probabilities(vocab.counts, sample)
    ids, doc = vocab.encode(sentences)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(seed))
    V, d = len(vocab), cfg.vector_size
    # rows 0..V-1: word (input) vectors; rows V..2V-1: context (output) vectors; last row: zero padding (CBOW)
    W = torch.zeros(2 * V + 1, d)
    W[:V] = (torch.rand(V, d, generator=gen) - 0.5) / d
    noise_table = torch.from_numpy(_noise_table(noise_distribution(vocab.counts)))  # (TABLE_SIZE,)
    step = _sg_step if cfg.sg else _cbow_step
    expected_words = float(keep[ids].sum()) * cfg.epochs  # to spread the lr decay over the whole run
    words_done, losses, seconds, effective = 0.0, [], 0.0, 0
    bar = _progress_bar(cfg.epochs, progress)
    with torch_threads(threads, fn), torch.no_grad():
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            centres, contexts, n_words = _epoch_examples(cfg, ids, doc, keep, rng)
            n, total, examples, done = len(centres), 0.0, 0, 0
            for centre, context in _batches_by_reach(centres, contexts, cfg.batch_size, rng):
                progress_frac = min(1.0, (words_done + n_words * done / max(n, 1)) / expected_words)
                alpha = cfg.lr - (cfg.lr - cfg.min_lr) * progress_frac
                draws = torch.randint(len(noise_table), (len(centre), cfg.negative), generator=gen)
                negs = noise_table[draws]  # (B, K) ids drawn from the unigram^0.75 distribution
                loss, count = step(W, V, centre, context, negs, alpha)
                _check_not_diverged(loss, count, cfg, epoch)
                done += len(centre)
                total, examples = total + loss, examples + count
            words_done += n_words
            effective += n_words
            seconds += time.perf_counter() - t0
            losses.append(total / max(examples, 1))
            bar(epoch, losses[-1])
            if on_epoch is not None:  # e.g. to follow a score along training
                on_epoch(epoch + 1, WordVectors(vocab.words, W[:V].numpy().copy()))
    info = {"loss_per_epoch": losses, "effective_words": effective, "seconds": seconds,
            "words_per_second": effective / max(seconds, 1e-9), "config": cfg, "counts": vocab.counts}
    return WordVectors(vocab.words, W[:V].numpy().copy(), info=info)


# ----------------------------------------------------------------------------- input checks
def _check_ids(ids: object, fn: str) -> np.ndarray:
    """A 1-D array of integer word ids (an empty one is fine)."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{fn} expected ids as a 1-D array of integer word ids, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    return arr.astype(np.int64) if arr.size == 0 else arr


def _check_counts(counts: object, fn: str, *, positive: bool) -> np.ndarray:
    """A non-empty 1-D array of word counts, each > 0 (``positive``) or >= 0 and not all 0."""
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
        raise ValueError(f"{fn} expected counts as a non-empty 1-D array of numbers, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    bad = np.flatnonzero(~(arr > 0) if positive else ~(arr >= 0))
    if bad.size:
        rule = "> 0 (every vocabulary word occurs at least once)" if positive else ">= 0"
        raise ValueError(f"{fn} expected every count {rule}, got counts[{bad[0]}] = {arr[bad[0]].item()!r}")
    if not positive and arr.sum() == 0:
        raise ValueError(f"{fn} expected at least one count > 0, got all zeros")
    return arr


def _check_sgns_shapes(v_c: np.ndarray, u_o: np.ndarray, u_neg: np.ndarray) -> None:
    if v_c.ndim != 2:
        raise ValueError(f"v_c must have shape (B, d), got {v_c.shape}")
    B, d = v_c.shape
    if u_o.shape != (B, d):
        raise ValueError(f"u_o must have shape (B, d) = {(B, d)} like v_c, got {u_o.shape}")
    if u_neg.ndim != 3 or u_neg.shape[0] != B or u_neg.shape[2] != d:
        raise ValueError(f"u_neg must have shape (B, K, d) = ({B}, K, {d}), got {u_neg.shape}")


DIVERGED = 3.0  # a batch whose loss per example exceeds 3x the starting (1 + K) ln 2 has diverged


def _check_not_diverged(loss: float, count: int, cfg: Word2VecConfig, epoch: int) -> None:
    """Stop a run that blew up, with the reason, instead of returning meaningless vectors.

    Output vectors start at zero, so every example starts at a loss of (1 + K) ln 2 and
    SGD only lowers it. A batch adds up the steps of all its windows; a frequent word that
    sits in hundreds of windows of one batch gets hundreds of steps at once, and with a
    big ``batch_size`` (skip-gram: 4096 on the wiki text) the sum overshoots and grows.
    """
    start = (1 + cfg.negative) * np.log(2.0)
    per_example = loss / max(count, 1)
    if not per_example <= DIVERGED * start:  # also catches NaN
        raise ValueError(
            f"train_word2vec diverged in epoch {epoch + 1}: a batch's loss per example reached "
            f"{per_example:.3g}, above {DIVERGED:g} x its starting value (1 + negative) ln 2 = {start:.2f}. "
            f"With batch_size={cfg.batch_size} and lr={cfg.lr}, each batch adds up the steps of every "
            f"window that shares a frequent word; expected a smaller batch_size (1024, the default, is "
            f"tested) or a smaller lr")
