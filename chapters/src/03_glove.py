# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/03_glove.py; `make notebooks CHAPTERS=03` rebuilds and runs this notebook. -->
# # 03 · GloVe: word vectors from co-occurrence counts
#
# Word2Vec (chapter 02) slides a window over the text and makes millions of small predictions.
# GloVe (Pennington, Socher and Manning, 2014) starts instead from **one table**: how often each
# word appears near each other word. It then fits vectors whose dot products reproduce the
# logarithms of those counts. This chapter builds it and compares it with the classic count
# method it grew out of, PPMI + SVD, and with word2vec.
#
# **What you will build**
#
# * a **sparse, symmetric co-occurrence matrix** with $1/\text{distance}$ weighting, and its statistics;
# * the paper's **ratio argument**, measured on our own counts;
# * the **weighting function** $f(x)$, and why $x_{max}$ matters on a small corpus;
# * the **weighted least-squares loss**, its gradients checked by finite differences, and
#   **AdaGrad** training with a loss curve; vectors $W + \tilde W$;
# * the **PPMI + SVD** baseline, and a comparison table: GloVe, PPMI+SVD, word2vec, gensim.
#
# **Prerequisites:** chapter 02 (vocabulary, windows, evaluation); sparse matrices are explained
# as we go; a little linear algebra (the SVD).
#
# **Time:** about 60 minutes to read and experiment; the notebook runs in about 5 minutes on a
# laptop CPU (about a minute with `COURSE_FAST=1`, which trains for one or two epochs only).

# %%
# Set-up. After `make lab` this does nothing. In Colab, or in a kernel that lacks the course, it
# installs the course from a checkout it finds around this notebook, or says what to run.
import importlib.util, pathlib, subprocess, sys
if importlib.util.find_spec("course_lib") is None:
    _here = pathlib.Path.cwd().resolve()
    _root = next((p for p in (_here, *_here.parents) if (p / "course_lib").is_dir()), None)
    if _root is None:
        raise ModuleNotFoundError(
            "This kernel has no course_lib. In a terminal, or in a notebook cell starting with '!', run "
            "`git clone <the course's repository URL> course && pip install -e ./course`, then restart "
            "the kernel and open this chapter from course/chapters/.")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(_root)], check=True)
    sys.path.insert(0, str(_root))

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

import course_lib
from course_lib import set_seed, pick
from course_lib.checks import check, expect, numerical_gradient
from course_lib.datasets import load_sentences, load_similarity, load_analogies
from course_lib.evaluation import WordVectors, evaluate_similarity, evaluate_analogies
from course_lib import glove
from course_lib.text import build_vocab
from course_lib.word2vec import train_word2vec

set_seed(0)
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Counting co-occurrences
#
# For every pair of tokens at distance $d \le m$ (the window) in the same article, GloVe adds
# $1/d$ to the count of the pair, in both directions, so the matrix is symmetric:
#
# $$ X_{ij} = \sum_{\text{occurrences of } i \text{ and } j \text{ at distance } d \,\le\, m} \frac{1}{d}. $$
#
# First by hand on a toy sentence, with a dictionary and two loops:

# %%
toy = "the cat sat on the mat".split()
toy_words = sorted(set(toy))
toy_counts = {}
for i in range(len(toy)):
    for j in range(i + 1, min(i + 2, len(toy) - 1) + 1):       # window m = 2
        for a, b in [(toy[i], toy[j]), (toy[j], toy[i])]:
            toy_counts[a, b] = toy_counts.get((a, b), 0.0) + 1.0 / (j - i)
print({f"{a}-{b}": round(v, 2) for (a, b), v in toy_counts.items() if a == "the"})

X_toy = glove.cooccurrence_counts(np.array([toy_words.index(w) for w in toy]), 2, len(toy_words))
print(type(X_toy).__name__, X_toy.shape, "non-zeros:", X_toy.nnz)
dense_by_loop = np.zeros((len(toy_words), len(toy_words)))
for (a, b), v in toy_counts.items():
    dense_by_loop[toy_words.index(a), toy_words.index(b)] = v
assert check(X_toy.toarray(), dense_by_loop, name="co-occurrence counts: loop == course_lib")

# %% [markdown]
# Now the Wikipedia sample, with the GloVe paper's window of 10 and the
# same `min_count = 5` vocabulary as chapter 02. `course_lib` counts all pairs at distance $d$ at
# once with array slices (`ids[:-d]` against `ids[d:]`) and lets SciPy sum the duplicates into a
# compressed sparse row (CSR) matrix.

# %%
articles = load_sentences("wiki")
vocab = build_vocab(articles, min_count=5)
ids, doc = vocab.encode(articles)
X = glove.cooccurrence_counts(ids, window=10, vocab_size=len(vocab), doc=doc)
V = len(vocab)
print(f"V = {V:,} words, {len(ids):,} tokens")
print(f"X: {X.shape}, {X.nnz:,} non-zero entries = {X.nnz / V**2:.2%} of the matrix")
print(f"dense float64 would take {V * V * 8 / 2**20:,.0f} MiB; CSR takes {(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20:,.1f} MiB")

# %%
assert check(bool(abs(X - X.T).max() < 1e-9), True, name="X is symmetric")
assert check(X.sum(), 2 * sum(np.sum(doc[:-d] == doc[d:]) / d for d in range(1, 11)),
             name="total weight = 2 * sum over distances of (pairs at d) / d")

# %% [markdown]
# ### What do the counts look like?
#
# Most entries are tiny: a pair seen once, 7 words apart, counts $1/7$. A few pairs of frequent
# words reach thousands. The distribution spans many orders of magnitude, which is why GloVe
# fits $\log X$ rather than $X$.

# %%
values = X.data
print(f"median {np.median(values):.2f}, mean {values.mean():.2f}, max {values.max():,.0f}")
for threshold in [1, 10, 100]:
    print(f"entries below {threshold:>3}: {np.mean(values < threshold):.1%}")
i_max, j_max = np.unravel_index(X.argmax(), X.shape)
print("largest count:", vocab.words[i_max], "-", vocab.words[j_max])

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(np.log10(values), bins=60)
ax.set_xlabel("log10 of the count X_ij")
ax.set_ylabel("number of entries")
ax.set_title("Co-occurrence counts span five orders of magnitude")
plt.show()

# %% [markdown]
# ## 2. The ratio argument, measured
#
# The GloVe paper's key observation: a single probability $P(k \mid i) = X_{ik} / X_i$ (with
# $X_i = \sum_k X_{ik}$) says little, but the **ratio** $P(k \mid i) / P(k \mid j)$ separates
# the words $k$ that are specific to $i$ (ratio $\gg 1$), specific to $j$ ($\ll 1$), or related to
# both or neither ($\approx 1$). The paper used *ice* and *steam*; they are too rare in our sample
# (*steam* occurs twice), so we take two frequent words that differ in one clear way: *he* and *she*.
# (*king* and *queen* would be the obvious choice, but in these articles *Queen* is mostly the rock band.)

# %%
def p_given(word: str) -> np.ndarray:
    """P(k | word) for every k: a row of X divided by its sum."""
    row = X[vocab.index[word]].toarray().ravel()      # (V,)
    return row / row.sum()


i_word, j_word = "he", "she"
probes = ["his", "her", "the", "of", "and", "war"]
p_i, p_j = p_given(i_word), p_given(j_word)
print(f"{'k':>6} {'P(k|' + i_word + ')':>12} {'P(k|' + j_word + ')':>12} {'ratio':>8}")
ratios = {}
for k in probes:
    a, b = p_i[vocab.index[k]], p_j[vocab.index[k]]
    ratios[k] = a / b
    print(f"{k:>6} {a:12.5f} {b:12.5f} {ratios[k]:8.2f}")

# %%
assert check(bool(ratios["his"] > 2 and ratios["her"] < 0.5), True, name="his: ratio > 2, her: ratio < 0.5")
assert check(bool(all(0.5 < ratios[k] < 2 for k in ["the", "of", "and"])), True,
             name="the, of, and: ratio between 0.5 and 2")

# %% [markdown]
# The ratio is large for *his* (a *he* word), tiny for *her* (a *she* word) and close to 1 for the
# function words *the*, *of*, *and* that go with both; the probabilities alone (small, all of them) hide this.
# GloVe asks the vectors to encode these ratios: with $w_i^\top \tilde w_k \approx \log X_{ik} - b_i - \tilde b_k$,
# the difference $(w_i - w_j)^\top \tilde w_k$ is the log of the ratio.
#
# ## 3. The weighting function
#
# Fitting $\log X_{ij}$ by least squares would give a pair seen once as much say as *of*–*the*,
# and $\log 0$ is undefined. GloVe fits only the non-zero entries, weighted by
#
# $$ f(x) = \begin{cases} (x / x_{max})^{\alpha} & x < x_{max} \\ 1 & \text{otherwise,} \end{cases}
# \qquad \alpha = 3/4, \; x_{max} = 100 \text{ in the paper.} $$

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
x = np.logspace(-1, 3, 200)
for x_max in [10, 100]:
    ax.semilogx(x, glove.glove_weight(x, x_max=x_max, alpha=0.75), label=f"$x_{{max}}$ = {x_max}")
ax.set_xlabel("co-occurrence count x")
ax.set_ylabel("weight f(x)")
ax.set_title("The GloVe weighting function (alpha = 3/4)")
ax.legend()
plt.show()

# %% [markdown]
# The paper's $x_{max} = 100$ was chosen for corpora of billions of words. On our half a million,
# how many pairs ever reach full weight, and how is the total weight spread?

# %%
for x_max in [10, 100]:
    f = glove.glove_weight(X.data, x_max=x_max)
    print(f"x_max = {x_max:>3}: {np.mean(f == 1):6.2%} of the pairs at full weight; "
          f"mean weight {f.mean():.3f}")

# %%
share_10 = np.mean(glove.glove_weight(X.data, x_max=10) == 1)
share_100 = np.mean(glove.glove_weight(X.data, x_max=100) == 1)
assert check(bool(share_100 < share_10 < 0.2), True, name="few pairs reach x_max, fewer still for x_max = 100")

# %% [markdown]
# With $x_{max} = 100$ almost every pair is down-weighted and the loss is dominated by a small
# set of frequent-word pairs; $x_{max} = 10$ (the default of the GloVe program's demo script) spreads
# the weight more evenly, and is what we use.
#
# ## 4. The loss and its gradients
#
# $$ J = \frac12 \sum_{i,j:\,X_{ij} > 0} f(X_{ij}) \left( w_i^\top \tilde w_j + b_i + \tilde b_j - \log X_{ij} \right)^2 $$
#
# Every word has a vector $w_i$ and a bias $b_i$ as a "word", and $\tilde w_j$, $\tilde b_j$ as a
# "context". With $e_{ij} = f(X_{ij})\,(w_i^\top \tilde w_j + b_i + \tilde b_j - \log X_{ij})$,
#
# $$ \frac{\partial J}{\partial w_i} = \sum_j e_{ij}\, \tilde w_j, \qquad
#    \frac{\partial J}{\partial \tilde w_j} = \sum_i e_{ij}\, w_i, \qquad
#    \frac{\partial J}{\partial b_i} = \sum_j e_{ij}, \qquad \frac{\partial J}{\partial \tilde b_j} = \sum_i e_{ij}. $$
#
# (The C program and `course_lib` keep the factor $\frac12$; the paper's $J$ omits it, which only
# rescales the learning rate.) Step by step on a few real entries of $X$:

# %%
rng = np.random.default_rng(0)
coo = X.tocoo()
pick_idx = rng.choice(coo.nnz, size=8, replace=False)
rows, cols, x_vals = coo.row[pick_idx], coo.col[pick_idx], coo.data[pick_idx]
d = 5
W, W_t = rng.normal(scale=0.3, size=(V, d)), rng.normal(scale=0.3, size=(V, d))
b, b_t = rng.normal(scale=0.3, size=V), rng.normal(scale=0.3, size=V)

diff = (W[rows] * W_t[cols]).sum(1) + b[rows] + b_t[cols] - np.log(x_vals)   # (8,)
J = 0.5 * np.sum(glove.glove_weight(x_vals, 10.0) * diff**2)
print(f"J on 8 entries: {J:.5f}")
assert check(J, glove.glove_loss(W, W_t, b, b_t, rows, cols, x_vals, x_max=10.0), name="GloVe loss == course_lib")

# %% [markdown]
# And the gradients, checked against finite differences (on a small slice of the matrices, so
# the check stays quick: only the rows that take part matter).

# %%
used = np.unique(np.concatenate([rows, cols]))                 # the word ids that take part
remap = {w: k for k, w in enumerate(used)}
r_small, c_small = np.array([remap[i] for i in rows]), np.array([remap[j] for j in cols])
Ws, Wts, bs, bts = W[used].copy(), W_t[used].copy(), b[used].copy(), b_t[used].copy()
_, dW, dW_t, db, db_t = glove.glove_loss_and_grads(Ws, Wts, bs, bts, r_small, c_small, x_vals)
for name, param, grad in [("W", Ws, dW), ("W~", Wts, dW_t), ("b", bs, db), ("b~", bts, db_t)]:
    numeric = numerical_gradient(lambda _: glove.glove_loss(Ws, Wts, bs, bts, r_small, c_small, x_vals), param)
    check(grad, numeric, name=f"dJ/d{name} passes the finite-difference check", rtol=1e-5, atol=1e-7)

# %% [markdown]
# ## 5. Training with AdaGrad
#
# The GloVe program visits the non-zero entries in a random order and updates the two vectors
# and two biases of each entry with **AdaGrad**: every coordinate $\theta$ keeps the sum of its
# past squared gradients $G$ and moves by
#
# $$ \theta \leftarrow \theta - \frac{g}{\sqrt{G}}, \qquad G \leftarrow G + g^2, \qquad g = \eta \cdot \frac{\partial J_{ij}}{\partial \theta}, $$
#
# with $G$ starting at 1 and $\eta = 0.05$. Coordinates that received big gradients take
# smaller steps: the pairs of frequent words, seen in every pass, settle, while rare words keep
# moving. `course_lib.glove.train_glove` does this on batches of 4,096 entries (entries of one
# batch see the accumulators as they were before the batch) and returns $W + \tilde W$, the sum of
# the word and context vectors, as the paper recommends.

# %%
GLOVE_EPOCHS = pick(25, 2)
set_seed(0)
t0 = time.perf_counter()
wv_glove = glove.train_glove(articles, vector_size=100, window=10, x_max=10.0, alpha=0.75,
                             epochs=GLOVE_EPOCHS, lr=0.05, min_count=5, seed=0, progress=False)
time_glove = time.perf_counter() - t0
print(wv_glove, f"fitted on {wv_glove.info['nonzeros']:,} non-zero entries")

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{GLOVE_EPOCHS} epochs in {time_glove:.1f} s")
print("cost per entry by epoch:", np.round(wv_glove.info["loss_per_epoch"], 4))
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(np.arange(1, GLOVE_EPOCHS + 1), wv_glove.info["loss_per_epoch"], "o-")
ax.set_xlabel("epoch")
ax.set_ylabel("J / number of entries")
ax.set_title("GloVe training with AdaGrad")
plt.show()

# %%
glove_losses = wv_glove.info["loss_per_epoch"]
assert check(bool(glove_losses[-1] < 0.8 * glove_losses[0]), True, name="the GloVe cost fell by more than 20%")

# %% [markdown]
# ## 6. The count baseline: PPMI + SVD
#
# Before GloVe, the standard count method was to turn counts into **pointwise mutual
# information**, how much more often two words meet than chance predicts, keep the positive
# part, and compress with a truncated SVD:
#
# $$ \mathrm{PPMI}(w, c) = \max\Big(0, \log \frac{P(w, c)}{P(w)\,P_{0.75}(c)}\Big), \qquad
#    \mathrm{PPMI} \approx U_d \Sigma_d V_d^\top, \qquad \text{vectors} = U_d \Sigma_d^{1/2}. $$
#
# ($P_{0.75}$ smooths the context distribution with the same $3/4$ power as word2vec's noise,
# following Levy, Goldberg and Dagan, 2015.) Plain, unweighted counts in a window of 10:

# %%
t0 = time.perf_counter()
wv_ppmi = glove.ppmi_svd(articles, vector_size=100, window=10, min_count=5)
time_ppmi = time.perf_counter() - t0
M = glove.ppmi(glove.cooccurrence_counts(ids, 10, V, doc=doc, distance_weighting=False))
print(f"PPMI matrix: {M.nnz:,} positive entries of {V * V:,}")
print("largest singular values:", np.round(wv_ppmi.info["singular_values"][:5], 1))

# %% [markdown]
# ## 7. Evaluation and comparison
#
# The same yardsticks as chapter 02, and a word2vec skip-gram trained on the same articles by our
# trainer and by gensim (5 epochs each here; `benchmarks/embeddings.py` has 15-epoch figures).

# %%
ws353, simlex, analogies = load_similarity("wordsim353"), load_similarity("simlex999"), load_analogies()


def scores(wv):
    return {"WS353": evaluate_similarity(wv, ws353)[0], "SimLex": evaluate_similarity(wv, simlex)[0],
            "analogy": evaluate_analogies(wv, analogies, restrict_vocab=30000)[0]}


W2V_EPOCHS = pick(5, 1)
t0 = time.perf_counter()
wv_w2v = train_word2vec(articles, sg=True, vector_size=100, window=5, negative=5, sample=1e-3,
                        min_count=5, epochs=W2V_EPOCHS, seed=0, progress=False)
time_w2v = time.perf_counter() - t0
from gensim.models import Word2Vec

t0 = time.perf_counter()
g = Word2Vec(articles, sg=1, vector_size=100, window=5, negative=5, sample=1e-3, min_count=5,
             epochs=W2V_EPOCHS, workers=2, seed=0)
time_gensim = time.perf_counter() - t0
wv_gensim = WordVectors(list(g.wv.index_to_key), g.wv.vectors)
table = {"course GloVe": (scores(wv_glove), time_glove), "course PPMI+SVD": (scores(wv_ppmi), time_ppmi),
         "course word2vec SG": (scores(wv_w2v), time_w2v), "gensim word2vec SG": (scores(wv_gensim), time_gensim)}

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{'model':20s} {'WS353':>7s} {'SimLex':>7s} {'analogy':>8s} {'time':>8s}")
for name, (s, secs) in table.items():
    print(f"{name:20s} {s['WS353']:7.3f} {s['SimLex']:7.3f} {s['analogy']:8.1%} {secs:7.1f} s")
for word in ["war", "music", "three"]:
    print(f"{word:>6} GloVe: {[w for w, _ in wv_glove.most_similar(word, 5)]}")
    print(f"{word:>6} PPMI:  {[w for w, _ in wv_ppmi.most_similar(word, 5)]}")

# %%
assert check(bool(table["course PPMI+SVD"][0]["WS353"] > pick(0.5, 0.2)), True, name="PPMI+SVD WS353 above its bound")
assert check(bool(table["course GloVe"][0]["WS353"] > pick(0.2, -0.2)), True, name="GloVe WS353 above its bound")

# %% [markdown]
# On this small corpus the ranking is the one reported by Levy, Goldberg and Dagan (2015) for
# small data: the humble PPMI + SVD scores best on WordSim353, word2vec comes next, and GloVe,
# which needs many co-occurrences per pair to fit $\log X$ well, trails (the reference GloVe
# program gets about the same WordSim353 $\approx 0.24$ on this text). With billions of words the
# order changes; the lesson is to measure on your own data rather than trust a ranking.
#
# ### gensim reads our vectors
#
# Vectors are shared in the word2vec text format: a header `V d`, then one line per word.
# gensim loads our GloVe vectors and finds the same neighbours:

# %%
import os
import tempfile

from gensim.models import KeyedVectors

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "glove.txt")
    wv_glove.save_word2vec_format(path)
    kv = KeyedVectors.load_word2vec_format(path, binary=False)
print(kv)
assert check([w for w, _ in kv.most_similar("war", topn=10)], [w for w, _ in wv_glove.most_similar("war", topn=10)],
             name="gensim finds the same 10 neighbours of 'war'")

# %% [markdown]
# ## 8. Exercises
#
# ### Exercise 3.1: the weighting function
#
# Complete `weight(x, x_max, alpha)` for a NumPy array of counts: $(x/x_{max})^\alpha$ below
# $x_{max}$, 1 from $x_{max}$ on.

# %% nbgrader={"grade": false, "grade_id": "ex-03-weight", "locked": false, "schema_version": 3, "solution": true, "task": false}
def weight(x: np.ndarray, x_max: float = 10.0, alpha: float = 0.75) -> np.ndarray:
    """GloVe's f(x) = min(1, (x / x_max) ** alpha), elementwise."""
    ### BEGIN SOLUTION
    return np.minimum(1.0, (np.asarray(x, dtype=float) / x_max) ** alpha)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-03-weight-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(weight(np.array([10.0, 1000.0])), np.array([1.0, 1.0]), name="full weight from x_max on")
expect(weight(np.array([5.0]), x_max=10.0, alpha=1.0), np.array([0.5]), name="linear below x_max when alpha = 1")
### BEGIN HIDDEN TESTS
expect(weight(X.data, 100.0, 0.75), glove.glove_weight(X.data, 100.0, 0.75), name="weight on our counts == course_lib")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3.2: counting one sentence
#
# Complete `count_pairs(ids, window, V)`: the dense (V, V) co-occurrence matrix of a single
# sentence of word ids, symmetric, each pair at distance $d \le$ `window` adding $1/d$.

# %% nbgrader={"grade": false, "grade_id": "ex-03-count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_pairs(ids: list[int], window: int, V: int) -> np.ndarray:
    """Dense symmetric co-occurrence counts with 1/distance weighting, (V, V)."""
    ### BEGIN SOLUTION
    counts = np.zeros((V, V))
    for i in range(len(ids)):
        for j in range(i + 1, min(i + window, len(ids) - 1) + 1):
            counts[ids[i], ids[j]] += 1.0 / (j - i)
            counts[ids[j], ids[i]] += 1.0 / (j - i)
    return counts
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-03-count-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(count_pairs([0, 1, 0], 2, 2), np.array([[1.0, 2.0], [2.0, 0.0]]), name="counts of '0 1 0' with window 2")
expect(count_pairs([0, 1], 1, 3).shape, (3, 3), name="shape (V, V)")
### BEGIN HIDDEN TESTS
some = ids[:300]
expect(count_pairs(some.tolist(), 4, V), glove.cooccurrence_counts(some, 4, V).toarray(),
       name="counts of 300 wiki tokens == course_lib")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3.3: the loss of the entries
#
# Complete `glove_cost(W, W_t, b, b_t, rows, cols, x)`: the loss $J$ of section 4 (with the
# factor $\frac12$, $x_{max} = 10$, $\alpha = 3/4$) over the entries `(rows[n], cols[n], x[n])`.
# You may use `glove.glove_weight`.

# %% nbgrader={"grade": false, "grade_id": "ex-03-cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def glove_cost(W, W_t, b, b_t, rows, cols, x) -> float:
    """J = 1/2 sum f(x) (w_i . w~_j + b_i + b~_j - log x)^2."""
    ### BEGIN SOLUTION
    diff = (W[rows] * W_t[cols]).sum(1) + b[rows] + b_t[cols] - np.log(x)
    return float(0.5 * np.sum(glove.glove_weight(x, 10.0, 0.75) * diff ** 2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-03-cost-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
one = np.ones((2, 1))
expect(glove_cost(one, one, np.zeros(2), np.zeros(2), np.array([0]), np.array([1]), np.array([np.e])), 0.0,
       name="a perfect fit costs 0")
expect(glove_cost(W, W_t, b, b_t, rows, cols, x_vals), glove.glove_loss(W, W_t, b, b_t, rows, cols, x_vals),
       name="glove_cost == course_lib on 8 entries")
### BEGIN HIDDEN TESTS
r2, c2, x2 = coo.row[:100], coo.col[:100], coo.data[:100]
expect(glove_cost(W, W_t, b, b_t, r2, c2, x2), glove.glove_loss(W, W_t, b, b_t, r2, c2, x2),
       name="glove_cost == course_lib on 100 entries")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | you built | where it lives in `course_lib` |
# |---|---|
# | sparse symmetric co-occurrence counts, $1/d$ weighting | `course_lib.glove.cooccurrence_counts` |
# | weighting function $f(x)$ | `course_lib.glove.glove_weight` |
# | weighted least-squares loss and gradients | `course_lib.glove.glove_loss`, `glove_loss_and_grads` |
# | AdaGrad training, vectors $W + \tilde W$ | `course_lib.glove.train_glove` |
# | PPMI and the PPMI + SVD baseline | `course_lib.glove.ppmi`, `ppmi_svd` |
# | vocabulary, finite differences (from chapter 02) | `course_lib.word2vec.build_vocab`, `numerical_gradient` |
# | evaluation, word2vec text format | `course_lib.evaluation.WordVectors`, `evaluate_similarity`, `evaluate_analogies` |
#
# What to remember:
#
# * GloVe fits $w_i^\top \tilde w_j + b_i + \tilde b_j \approx \log X_{ij}$ on the non-zero counts,
#   weighted by $f(X_{ij})$, so that differences of vectors encode ratios of probabilities;
# * $x_{max}$ decides which pairs count fully: tune it to the size of your corpus;
# * AdaGrad gives each coordinate its own step size, shrinking where gradients were large;
# * on a small corpus, PPMI + SVD is a strong and fast baseline: always compare with it.
#
# Next: **04 · Scaled dot-product attention**, where vectors start to look at each other.
