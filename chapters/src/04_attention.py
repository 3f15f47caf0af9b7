# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/04_attention.py; `make notebooks CHAPTERS=04` rebuilds and runs this notebook. -->
# # 04 · Scaled dot-product attention
#
# Word vectors (chapters 02 and 03) give every word one fixed meaning. But "bank" in *river bank*
# and in *bank account* should end up different, and a model predicting the next word needs to
# gather information from the words before it. **Attention** is the operation that lets every
# position read from every other position, with weights it computes itself:
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$
#
# **What you will build**
#
# * attention as a **soft dictionary lookup**: dot products, softmax, weighted sum, on a real sentence;
# * the reason for the $\sqrt{d_k}$, **measured**: score variance, softmax saturation and vanishing gradients;
# * **padding** and **causal** masks, and **batching** over sentences and heads;
# * a famous worked example **whose shapes do not multiply**, run and corrected;
# * a check of your code against `course_lib.attention` and `torch.nn.functional.scaled_dot_product_attention`.
#
# **Prerequisites:** chapter 01 (tokens, ids, embedding lookup); matrix products and `@`; PyTorch tensors.
#
# **Time:** about 45 minutes; the notebook runs in a few seconds.

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
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import course_lib
from course_lib import set_seed, pick
from course_lib.checks import check, expect
from course_lib.datasets import load_sentences
from course_lib.text import Vocab
from course_lib import attention
from course_lib.widgets import attention_view, plot_attention

set_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. A dictionary that answers approximately
#
# A Python `dict` is a **hard** lookup: the query must equal a key exactly, and you get exactly one value.

# %%
prices = {"apple": 0.5, "banana": 0.25, "cherry": 3.0}
print(prices["apple"])
try:
    prices["appel"]
except KeyError as err:
    print("KeyError:", err)

# %% [markdown]
# Attention makes the lookup **soft**. Keys and the query are vectors; the query is compared with
# every key by a dot product (a similarity score), the scores become weights with a softmax, and the
# answer is the **weighted average of all the values**:
#
# $$s_j = q \cdot k_j, \qquad w_j = \frac{e^{s_j}}{\sum_{j'} e^{s_{j'}}}, \qquad \text{output} = \sum_j w_j\, v_j .$$
#
# A query close to one key returns (almost) that key's value; a query between two keys returns a blend.
# Below, each fruit's key is a 2-D vector (imagine: sweetness, size), and the values are the prices.

# %%
keys = torch.tensor([[4.0, 1.0],     # apple
                     [3.0, 3.0],     # banana
                     [-2.0, 4.0]])   # cherry
values = torch.tensor([[0.5], [0.25], [3.0]])                # (3 keys, 1 value feature)

for name, query in [("like apple", torch.tensor([4.0, 1.0])), ("between apple and banana", torch.tensor([3.5, 2.0]))]:
    scores = keys @ query                                     # (3,) one score per key
    weights = torch.softmax(scores, dim=0)                    # (3,) positive, sums to 1
    answer = weights @ values                                 # (1,) weighted average of values
    print(f"{name:>25}: scores {scores.tolist()}, weights {weights.numpy().round(3)}, answer {answer.item():.3f}")

# %% [markdown]
# ## 2. Attention over a real sentence
#
# Now the keys, queries and values are the words of a sentence from the Wikipedia sample. Every word
# asks a query, every word offers a key and a value, so a sentence of $T$ words gives a $T \times T$
# table of scores: **self-attention**.

# %%
wiki = load_sentences("wiki")
sentence = wiki[0][:12]
print(" ".join(sentence))
vocab = Vocab([w for article in wiki[:20] for w in article], specials=["<pad>"])
ids = torch.tensor(vocab.encode(sentence))
print("ids:", ids.tolist())

# %% [markdown]
# Each word needs a vector. In a trained model these come from an embedding table learnt with the rest
# of the network; here we use a freshly initialised table, exactly what an untrained model starts from
# (chapter 01: an embedding lookup is a row selection).

# %%
d_k = 16
embedding = torch.nn.Embedding(len(vocab), d_k)
with torch.no_grad():
    X = embedding(ids)                                       # (T, d_k)
T = X.shape[0]
print("X:", tuple(X.shape), " (T words, d_k features)")

# %% [markdown]
# In a Transformer, $Q$, $K$ and $V$ are three learnt linear maps of $X$ (chapter 05). To see the
# bare mechanism we first let $Q = K = V = X$. The three steps, each one line:

# %%
Q, K, V = X, X, X
scores = Q @ K.T / math.sqrt(d_k)                            # (T, T): scores[i, j] = q_i . k_j / sqrt(d_k)
weights = torch.softmax(scores, dim=-1)                      # (T, T): each row sums to 1
output = weights @ V                                         # (T, d_k): row i = sum_j weights[i, j] v_j
print("scores", tuple(scores.shape), "weights", tuple(weights.shape), "output", tuple(output.shape))
print("row sums:", weights.sum(-1))

# %%
fig = plot_attention(weights, sentence)
plt.close(fig)
fig

# %% [markdown]
# The diagonal dominates: with random vectors in 16 dimensions, a word's vector is most similar to
# itself (its score is $\|x\|^2/\sqrt{d_k}$, while two unrelated random vectors are nearly orthogonal).
# A word used twice would give two identical columns, because both copies share one vector. So untrained
# attention is "look at yourself and your copies"; training the maps $W^Q, W^K$ is what turns
# the scores into relationships such as *this adjective describes that noun* (chapters 05, 06, 08).
#
# Our three lines agree with the course library and with PyTorch's fused kernel:

# %%
ref_out, ref_w = attention.scaled_dot_product_attention(Q, K, V)
check(output, ref_out, name="output = course_lib")
check(weights, ref_w, name="weights = course_lib")
_ = check(output, F.scaled_dot_product_attention(Q[None], K[None], V[None])[0], name="output = torch", rtol=1e-5, atol=1e-6)

# %% [markdown]
# ### The softmax, stably
#
# `torch.softmax` hides a detail that matters once scores get large: $e^{1000}$ overflows to
# infinity, and $\infty/\infty$ is `nan`. Since $\operatorname{softmax}(s) = \operatorname{softmax}(s - c)$ for any
# constant $c$, we subtract the row maximum first; every exponent is then $\le 0$.

# %%
s = torch.tensor([1000.0, 999.0, 990.0])
naive = torch.exp(s) / torch.exp(s).sum()
print("naive :", naive)
print("stable:", attention.softmax(s))
_ = check(attention.softmax(s), torch.softmax(s, dim=0), name="stable softmax = torch")

# %% [markdown]
# ## 3. Why divide by $\sqrt{d_k}$? Measured
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1, the score
# $q\cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ terms of variance 1, so
# $\operatorname{Var}(q \cdot k) = d_k$. Its typical size grows like $\sqrt{d_k}$, and dividing by
# $\sqrt{d_k}$ brings the variance back to 1. Let us measure it rather than believe it.

# %%
# NBVAL_IGNORE_OUTPUT
# (fast mode draws fewer samples; the check cell below asserts what matters)
dims = [4, 16, 64, 256, 1024]
n_samples = pick(20_000, 2_000)
g = torch.Generator().manual_seed(0)
var_raw, var_scaled = [], []
for d in dims:
    q, k = torch.randn(n_samples, d, generator=g), torch.randn(n_samples, d, generator=g)
    dots = (q * k).sum(-1)                                   # (n_samples,) one score each
    var_raw.append(dots.var().item())
    var_scaled.append((dots / math.sqrt(d)).var().item())
for d, a, b in zip(dims, var_raw, var_scaled):
    print(f"d_k = {d:>4}: Var(q.k) = {a:8.1f}   Var(q.k / sqrt(d_k)) = {b:.3f}")

# %%
# the measured variance follows d_k (within sampling error), the scaled one stays near 1
check(np.array(var_raw) / np.array(dims), np.ones(len(dims)), name="Var(q.k) = d_k", rtol=0.1)
_ = check(np.array(var_scaled), np.ones(len(dims)), name="Var(q.k/sqrt(d_k)) = 1", rtol=0.1)

# %% [markdown]
# Why do large scores hurt? Softmax **saturates**: with scores of spread 30, one weight is ≈ 1 and the
# others ≈ 0. The gradient of the softmax, $\partial w_i/\partial s_j = w_i(\delta_{ij} - w_j)$, is then
# ≈ 0 everywhere, so nothing flows back to $W^Q$ and $W^K$ and learning stalls. We measure both: the
# largest weight of a row of 16 keys, and the size of the gradient reaching the scores, averaged over many
# random rows.

# %%
def saturation_and_gradient(d, scale, n_rows=500, n_keys=16):
    """Mean max weight and mean gradient norm d(loss)/d(scores) for random q, k of dimension d."""
    g = torch.Generator().manual_seed(d)
    q = torch.randn(n_rows, 1, d, generator=g)
    k = torch.randn(n_rows, n_keys, d, generator=g)
    scores = ((q * k).sum(-1) / (math.sqrt(d) if scale else 1.0)).requires_grad_()   # (n_rows, n_keys)
    w = torch.softmax(scores, dim=-1)
    upstream = torch.randn(n_rows, n_keys, generator=g)      # a random gradient arriving from above
    (w * upstream).sum().backward()
    return w.max(-1).values.mean().item(), scores.grad.norm(dim=-1).mean().item()

rows = {scale: [saturation_and_gradient(d, scale) for d in dims] for scale in (False, True)}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
axes[0].loglog(dims, var_raw, "o-", label="q·k")
axes[0].loglog(dims, var_scaled, "o-", label="q·k / √d_k")
axes[0].set(xlabel="d_k", ylabel="variance of scores", title="score variance")
for scale, label in [(False, "unscaled"), (True, "scaled by 1/√d_k")]:
    axes[1].semilogx(dims, [r[0] for r in rows[scale]], "o-", label=label)
    axes[2].loglog(dims, [r[1] for r in rows[scale]], "o-", label=label)
axes[1].set(xlabel="d_k", ylabel="mean of the largest weight", title="softmax saturation (16 keys)")
axes[2].set(xlabel="d_k", ylabel="gradient norm at the scores", title="gradient reaching Q and K")
for ax in axes:
    ax.legend()
fig.tight_layout()
plt.close(fig)
fig

# %%
for scale in (False, True):
    print(f"{'scaled  ' if scale else 'unscaled'}: " + "  ".join(
        f"d={d}: max w {m:.2f}, grad {gn:.3f}" for d, (m, gn) in zip(dims, rows[scale])))
# unscaled: the largest weight approaches 1 and the gradient shrinks as d_k grows; scaled: both stay put
check(rows[False][-1][0] > 0.9 and rows[False][-1][1] < rows[False][0][1] / 3, True, name="unscaled saturates")
_ = check(abs(rows[True][-1][0] - rows[True][0][0]) < 0.1 and rows[True][-1][1] > 0.5 * rows[True][0][1], True,
      name="scaled stays trainable")

# %% [markdown]
# ## 4. Masks: who may look at whom
#
# ### Padding
#
# Sentences in a batch have different lengths, so short ones are padded to a common length $T$.
# A padding token is not a word and must receive **no** attention. We forbid it by setting its
# score to $-\infty$ before the softmax, since $e^{-\infty} = 0$. A **boolean mask** says which keys are
# allowed (True) — the same convention as `torch.nn.functional.scaled_dot_product_attention`.

# %%
batch_sentences = [wiki[1][:5], wiki[2][:8], wiki[3][:3]]
lengths = torch.tensor([len(s) for s in batch_sentences])
T_max = int(lengths.max())
pad_id = vocab.token_to_id("<pad>")
batch_ids = torch.full((len(batch_sentences), T_max), pad_id)
for b, s in enumerate(batch_sentences):
    batch_ids[b, :len(s)] = torch.tensor(vocab.encode(s))
allowed = attention.padding_mask(lengths, T_max)             # (B, T): True = real token
print(batch_ids)
print(allowed)

# %%
with torch.no_grad():
    Xb = embedding(batch_ids)                                # (B, T, d_k)
key_mask = allowed[:, None, :]                               # (B, 1, T): the same for every query row
scores_b = Xb @ Xb.transpose(-2, -1) / math.sqrt(d_k)        # (B, T, T)
scores_b = scores_b.masked_fill(~key_mask, float("-inf"))
weights_b = torch.softmax(scores_b, dim=-1)                  # (B, T, T)
print("weights of sentence 2 (3 real words, 5 padding):")
print(weights_b[2])

# %% [markdown]
# The padded **columns** are exactly 0. The padded **rows** (queries that are themselves padding) still
# attend to the real words; their outputs are never used, and the loss ignores them (chapter 07's
# `ignore_index`). A row whose keys are *all* forbidden would be $0/0$ = `nan`, which is why we mask keys,
# not queries.
#
# ### Causal: no peeking at the future
#
# A language model predicts word $t+1$ from words $1..t$. If position $t$ could attend to position $t+1$,
# it would simply copy the answer. The **causal mask** allows key $j$ for query $i$ only when $j \le i$:
# a lower-triangular matrix.

# %%
causal = attention.causal_mask(T)                            # (T, T) True on and below the diagonal
print(causal.int())
scores_c = (Q @ K.T / math.sqrt(d_k)).masked_fill(~causal, float("-inf"))
weights_c = torch.softmax(scores_c, dim=-1)
fig = plot_attention(weights_c, sentence)
plt.close(fig)
fig

# %%
check(weights_c.triu(1), torch.zeros(T, T), name="no weight above the diagonal")
_ = check(weights_c, attention.scaled_dot_product_attention(Q, K, V, is_causal=True)[1], name="causal weights = course_lib")

# %% [markdown]
# The first word can only look at itself (weight 1); the last one at the whole sentence.
#
# **Try the interactive view** below: hover over a query token to highlight its row. It shows the same
# weights (outside JupyterLab you see a still picture).

# %%
attention_view(weights_c, sentence, title="causal self-attention, untrained vectors")

# %% [markdown]
# ## 5. Batching: any number of leading dimensions
#
# Nothing in the formula cares about extra dimensions in front: with $Q$ of shape (B, H, T, d_k)
# (batch, heads, positions, features), `K.transpose(-2, -1)` swaps only the last two axes and `@`
# multiplies the last two dimensions, batching over the rest. One call computes every sentence and every head.

# %%
B, H, Tq, Tk, dk, dv = 3, 2, T_max, T_max, 8, 5
gb = torch.Generator().manual_seed(1)
Qb, Kb, Vb = torch.randn(B, H, Tq, dk, generator=gb), torch.randn(B, H, Tk, dk, generator=gb), torch.randn(B, H, Tk, dv, generator=gb)
mask_b = allowed[:, None, None, :]                           # (B, 1, 1, Tk): broadcast over heads and queries
sc = Qb @ Kb.transpose(-2, -1) / math.sqrt(dk)               # (B, H, Tq, Tk)
out_b = torch.softmax(sc.masked_fill(~mask_b, float("-inf")), dim=-1) @ Vb   # (B, H, Tq, dv)
print("Q", tuple(Qb.shape), "K^T", tuple(Kb.transpose(-2, -1).shape), "scores", tuple(sc.shape), "output", tuple(out_b.shape))
check(out_b, F.scaled_dot_product_attention(Qb, Kb, Vb, attn_mask=mask_b), name="batched, masked = torch", atol=1e-6)
_ = check(out_b, attention.scaled_dot_product_attention(Qb, Kb, Vb, mask_b)[0], name="batched, masked = course_lib", atol=1e-6)

# %% [markdown]
# ## 6. Myth, measured: a worked example whose shapes do not multiply
#
# Many introductions to attention show a worked example like this one: three tokens with 4 features,
# weight matrices $W^Q, W^K, W^V$ **of shape 3 × 3**, and then "$Q = X W^Q$". Let us run it exactly as printed.

# %%
X_ex = torch.tensor([[1.0, 0.0, 1.0, 0.0],
                     [0.0, 2.0, 0.0, 2.0],
                     [1.0, 1.0, 1.0, 1.0]])                 # (3 tokens, 4 features)
W_ex = torch.tensor([[1.0, 0.0, 1.0],
                     [1.0, 0.0, 0.0],
                     [0.0, 0.0, 1.0]])                      # (3, 3): as printed
try:
    X_ex @ W_ex
except RuntimeError as err:
    print("RuntimeError:", err)

# %% [markdown]
# It cannot work: in $X W$ the **inner** dimensions must agree, (3 × **4**) @ (**3** × 3). A projection from
# 4 input features to $d_k$ features must be **4 × $d_k$**. The second classic slip is $Q K$ instead of $Q K^\top$:
# (3 × $d_k$) @ (3 × $d_k$) multiplies only when $d_k = 3$, and then it computes something meaningless.
# Corrected, the shapes tell the whole story:
#
# | step | shapes |
# |---|---|
# | $Q = X W^Q$ | (3 × 4) @ (4 × 3) → (3 × 3) |
# | $S = Q K^\top/\sqrt{d_k}$ | (3 × 3) @ (3 × 3) → (3 × 3): token × token |
# | $A = \operatorname{softmax}(S)$ | (3 × 3), rows sum to 1 |
# | $A V$ | (3 × 3) @ (3 × $d_v$) → (3 × $d_v$) |

# %%
W_Q = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])   # (4, 3)
W_K = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])   # (4, 3)
W_V = torch.tensor([[0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.0, 3.0], [1.0, 1.0, 0.0]])   # (4, 3)
Q_ex, K_ex, V_ex = X_ex @ W_Q, X_ex @ W_K, X_ex @ W_V        # each (3, 3)
A_ex = torch.softmax(Q_ex @ K_ex.T / math.sqrt(3), dim=-1)   # (3, 3)
print("Q", tuple(Q_ex.shape), "K^T", tuple(K_ex.T.shape), "A", tuple(A_ex.shape), "output", tuple((A_ex @ V_ex).shape))
print(A_ex @ V_ex)
_ = check(A_ex @ V_ex, F.scaled_dot_product_attention(Q_ex, K_ex, V_ex), name="corrected example = torch", atol=1e-6)

# %% [markdown]
# `course_lib` refuses a mismatch with a sentence instead of a stack trace deep in a matrix product:

# %%
try:
    attention.scaled_dot_product_attention(Q_ex, K_ex[:, :2], V_ex)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 7. Exercises
#
# ### Exercise 1: masked attention
#
# Write `masked_attention(q, k, v, mask)` for q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v) and a boolean
# mask broadcastable to (..., Tq, Tk), True where attention is allowed (or `None`). Return `(output, weights)`.

# %% nbgrader={"grade": false, "grade_id": "ex-04-masked-attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k), forbidden scores set to -inf) v -> (output, weights)."""
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-04-masked-attention-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_out, _w = masked_attention(Qb, Kb, Vb, mask_b)
expect(_out, attention.scaled_dot_product_attention(Qb, Kb, Vb, mask_b)[0], name="padded batch output", atol=1e-6)
expect(_w.sum(-1), torch.ones(B, H, Tq), name="rows sum to 1", atol=1e-6)
### BEGIN HIDDEN TESTS
_c = attention.causal_mask(T)
expect(masked_attention(Q, K, V, _c)[1], attention.scaled_dot_product_attention(Q, K, V, is_causal=True)[1],
       name="causal weights", atol=1e-6)
expect(masked_attention(Q, K, V)[0], attention.scaled_dot_product_attention(Q, K, V)[0], name="no mask", atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: the causal mask
#
# Write `my_causal_mask(T)`: a boolean (T, T) tensor, True where query $i$ may look at key $j$, i.e. $j \le i$.
# Do not call `torch.tril`; compare position indices instead.

# %% nbgrader={"grade": false, "grade_id": "ex-04-causal-mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def my_causal_mask(T):
    """(T, T) bool, True where key position j <= query position i."""
    ### BEGIN SOLUTION
    pos = torch.arange(T)
    return pos[None, :] <= pos[:, None]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-04-causal-mask-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(my_causal_mask(4), attention.causal_mask(4), name="causal mask, T=4")
### BEGIN HIDDEN TESTS
expect(my_causal_mask(1), attention.causal_mask(1), name="causal mask, T=1")
expect(my_causal_mask(13), attention.causal_mask(13), name="causal mask, T=13")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: how sharp is a row?
#
# The **entropy** of a row of weights, $H = -\sum_j w_j \ln w_j$, is $\ln T_k$ for uniform attention and 0 when
# one key takes everything. Write `row_entropy(weights)` returning the entropy of every row, shape (...,),
# treating $0 \ln 0$ as 0 (masked keys have weight exactly 0).

# %% nbgrader={"grade": false, "grade_id": "ex-04-entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def row_entropy(weights):
    """-sum_j w_j ln w_j over the last axis, with 0 ln 0 = 0."""
    ### BEGIN SOLUTION
    logw = torch.where(weights > 0, weights.log(), torch.zeros_like(weights))
    return -(weights * logw).sum(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-04-entropy-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(row_entropy(torch.full((2, 4), 0.25)), torch.full((2,), math.log(4)), name="uniform rows: ln 4")
expect(row_entropy(weights_c)[0], torch.tensor(0.0), name="first causal row: one key, entropy 0")
### BEGIN HIDDEN TESTS
expect(row_entropy(weights_b), torch.special.entr(weights_b).sum(-1), name="padded batch", atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | idea | equation | in `course_lib` |
# |---|---|---|
# | stable softmax | $e^{s_i - m}/\sum_j e^{s_j - m}$, $m = \max_j s_j$ | `course_lib.attention.softmax` |
# | scaled dot-product attention | $\operatorname{softmax}(QK^\top/\sqrt{d_k} + M)\,V$, any leading dims | `course_lib.attention.scaled_dot_product_attention` |
# | padding mask | True for the first `length` positions | `course_lib.attention.padding_mask` |
# | causal mask | True where $j \le i$ | `course_lib.attention.causal_mask` |
# | attention heatmaps | interactive and static | `course_lib.widgets.attention_view`, `plot_attention` |
#
# * Dividing by $\sqrt{d_k}$ keeps the score variance at 1 whatever the width, so the softmax neither
#   saturates nor starves the gradient — measured above, not assumed.
# * Masks act on **scores**, before the softmax: forbidden means $-\infty$, which becomes weight 0.
# * When an example's shapes do not multiply, write the shapes next to every product; (3 × 4) @ (4 × $d_k$).
#
# `course_lib.attention` is tested against `torch.nn.functional.scaled_dot_product_attention` (boolean and
# additive masks, causal, batch and head dimensions, float64 to $10^{-10}$) in `tests/test_attention.py`.
#
# **Next:** chapter 05 gives attention its own learnt projections and runs several heads side by side.
