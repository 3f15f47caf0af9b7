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
# * the reason for the $\sqrt{d_k}$, **measured**: score variance, softmax saturation, and the gradients at the
#   scores and at the query;
# * **padding** and **causal** masks, boolean and **additive**, the checks that catch mask mistakes, and
#   **batching** over sentences and heads;
# * a common worked example **whose shapes do not multiply**, run and corrected;
# * a check of your code against `course_lib.attention` and `torch.nn.functional.scaled_dot_product_attention`.
#
# **Prerequisites:** chapter 01 (tokens, ids, embedding lookup); matrix products and `@`; PyTorch tensors.
#
# **Time:** about 45 minutes; the notebook runs in about 10 seconds (7 s measured, full mode, two CPU cores).

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
from course_lib.checks import check, expect, forbid
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
fig.axes[0].set_title("untrained self-attention, Q = K = V = X")
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
# others ≈ 0. Where does the gradient go then? Write $c$ for the divisor ($\sqrt{d_k}$ or 1), $s_j = q\cdot k_j / c$,
# and $g_j = \partial L/\partial w_j$ for whatever arrives from above. The softmax's backward pass gives
#
# $$\frac{\partial L}{\partial s_j} = w_j\Big(g_j - \sum_i w_i g_i\Big), \qquad
# \frac{\partial L}{\partial q} = \frac{1}{c}\sum_j \frac{\partial L}{\partial s_j}\, k_j .$$
#
# In a nearly one-hot row every $\partial L/\partial s_j$ is close to 0: the winner has $w_j \approx 1$ but
# $g_j - \sum_i w_i g_i \approx 0$, the losers have $w_j \approx 0$. But the gradient that reaches the query, and
# through it $W^Q$, multiplies those small numbers by the keys, whose length grows like $\sqrt{d_k}$. So we
# measure both, on random rows of 16 keys with a random gradient $g$ arriving from above: the largest
# weight, $\lVert\partial L/\partial s\rVert$ and $\lVert\partial L/\partial q\rVert$, with and without the scaling.

# %%
def saturation_and_gradients(d, scale, n_rows=500, n_keys=16):
    """Mean largest weight, mean ||dL/dscores|| and mean ||dL/dq|| for random q, k of dimension d."""
    g = torch.Generator().manual_seed(d)
    q = torch.randn(n_rows, 1, d, generator=g).requires_grad_()
    k = torch.randn(n_rows, n_keys, d, generator=g)
    scores = (q * k).sum(-1) / (math.sqrt(d) if scale else 1.0)   # (n_rows, n_keys)
    scores.retain_grad()
    w = torch.softmax(scores, dim=-1)
    upstream = torch.randn(n_rows, n_keys, generator=g)       # a random gradient dL/dw arriving from above
    (w * upstream).sum().backward()
    return (w.max(-1).values.mean().item(), scores.grad.norm(dim=-1).mean().item(),
            q.grad.norm(dim=-1).mean().item())

rows = {scale: [saturation_and_gradients(d, scale) for d in dims] for scale in (False, True)}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
axes[0].loglog(dims, var_raw, "o-", label="q·k")
axes[0].loglog(dims, var_scaled, "o-", label="q·k / √d_k")
axes[0].set(xlabel="d_k", ylabel="variance of scores", title="score variance")
for scale, label, colour in [(False, "unscaled", "C0"), (True, "scaled by 1/√d_k", "C1")]:
    axes[1].semilogx(dims, [r[0] for r in rows[scale]], "o-", color=colour, label=label)
    axes[2].loglog(dims, [r[1] for r in rows[scale]], "o-", color=colour, label=f"at the scores, {label}")
    axes[2].loglog(dims, [r[2] for r in rows[scale]], "s--", color=colour, label=f"at q, {label}")
axes[1].set(xlabel="d_k", ylabel="mean of the largest weight", title="softmax saturation (16 keys)")
axes[2].set(xlabel="d_k", ylabel="gradient norm", title="gradient at the scores and at q")
axes[0].legend()
axes[1].legend()
axes[2].legend(fontsize=7)
fig.tight_layout()
plt.close(fig)
fig

# %%
for scale in (False, True):
    print(f"{'scaled  ' if scale else 'unscaled'}:")
    for d, (m, gs, gq) in zip(dims, rows[scale]):
        print(f"   d_k={d:>4}: largest weight {m:.2f}   |dL/ds| {gs:.3f}   |dL/dq| {gq:.3f}")
unscaled, scaled = rows[False], rows[True]
check(unscaled[-1][0] > 0.9, True, name="unscaled: rows become nearly one-hot")
check(unscaled[-1][1] < unscaled[0][1] / 3, True, name="unscaled: the gradient at the scores shrinks")
check(unscaled[-1][2] > unscaled[0][2], True, name="unscaled: the gradient at q GROWS (the factor k)")
_ = check(max(r[2] for r in scaled) < 1.5 * min(r[2] for r in scaled) and abs(scaled[-1][0] - scaled[0][0]) < 0.1,
          True, name="scaled: saturation and the gradient at q stay the same for every d_k")

# %% [markdown]
# So the trouble without $\sqrt{d_k}$ is not that "nothing flows back to $W^Q$ and $W^K$": the gradient at $q$
# even grows with the width, because the keys it is built from grow. What goes wrong is the softmax itself: its
# rows are nearly one-hot, the weights hardly respond when the scores change, the gradient at the scores
# collapses onto the few keys with non-negligible weight, and the size of everything depends on $d_k$. Scaled,
# the weights and the gradient at $q$ look the same at every width, measured above.
#
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
# `ignore_index`). We mask keys, not queries, because a row whose keys are *all* forbidden would be
# $0/0$ = NaN.
#
# `course_lib.attention.scaled_dot_product_attention` takes such a mask in a separate argument,
# `key_padding_mask` of shape (B, $T_k$), with the convention of `torch.nn.MultiheadAttention`: **True marks
# padding**, a key nobody may read. `padding_mask` marks the *real* tokens, so it goes in inverted:

# %%
_, w_lib = attention.scaled_dot_product_attention(Xb, Xb, Xb, key_padding_mask=~allowed)
check(w_lib, weights_b, name="key_padding_mask=~padding_mask(...) = the weights above", atol=1e-6)
for label, call in [
        ("padding_mask where True = padding is expected",
         lambda: attention.scaled_dot_product_attention(Xb, Xb, Xb, key_padding_mask=allowed)),
        ("a (B, T) mask in the (Tq, Tk) slot",
         lambda: attention.scaled_dot_product_attention(Xb, Xb, Xb, allowed))]:
    try:
        call()
    except ValueError as err:
        print(f"{label}:\n  ValueError: {err}\n")

# %% [markdown]
# Both mistakes would otherwise give numbers, not errors. The first forbids every key of the longest sentence
# (all of its tokens are real, so all are "padding" under the wrong convention): the library refuses any
# query row with no allowed key and names it. The second puts a (B, T) mask where a (Tq, Tk) one belongs; here
# B = 3 differs from T = 8 and the shapes do not fit, and when B happens to equal T the library refuses the
# ambiguous 2-D mask and asks which one you meant.
#
# ### Additive masks, and the 0/1 pitfall
#
# The full formula has a second kind of mask, a float matrix $M$ **added** to the scores:
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V,
# \qquad M_{ij} = 0 \text{ (allowed)}, \quad M_{ij} = -\infty \text{ (forbidden)} .$$
#
# A boolean mask is the same thing written differently; an additive mask can also hold finite values, a bias
# that makes some keys more or less attractive (exercise 2 builds one). The pitfall: a float mask of 0s and 1s,
# such as `torch.tril(torch.ones(T, T))` or `padding_mask(...).float()`, *looks* like "1 = may attend", but it
# is added to the scores, so it forbids nothing (it only tilts the allowed keys by a factor $e$). Measured on
# the padded batch above, with queries and keys made by two different random maps, as in a real layer
# (chapter 05; with $Q = K$ every word mostly reads itself and hides the effect):

# %%
causal = attention.causal_mask(T)                            # (T, T) True on and below the diagonal
additive = torch.zeros(T, T).masked_fill(~causal, float("-inf"))   # 0 where allowed, -inf where forbidden
_, w_bool = attention.scaled_dot_product_attention(Q, K, V, causal)
_, w_add = attention.scaled_dot_product_attention(Q, K, V, additive)
check(w_add, w_bool, name="additive mask = boolean mask")
gp = torch.Generator().manual_seed(2)
W_q, W_k = (torch.randn(d_k, d_k, generator=gp) / math.sqrt(d_k) for _ in range(2))   # two different maps
qb, kb = Xb @ W_q, Xb @ W_k                                  # (B, T, d_k): queries no longer favour themselves
zero_one = allowed[:, None, :].float()                      # (B, 1, T) 1.0 = real word: meant as "may attend"
w_zero_one = torch.softmax(qb @ kb.transpose(-2, -1) / math.sqrt(d_k) + zero_one, dim=-1)   # adding it
w_boolean = attention.scaled_dot_product_attention(qb, kb, Xb, key_padding_mask=~allowed)[1]
pad_share = lambda w: w.masked_fill(allowed[:, None, :], 0.0).sum(-1)[allowed]   # real queries' weight on pads
on_padding = pad_share(w_zero_one)
check(F.scaled_dot_product_attention(qb, kb, Xb, attn_mask=zero_one), w_zero_one @ Xb,
      name="torch adds the 0/1 float mask without a word", atol=1e-6)
print(f"0/1 float mask: {on_padding.mean():.3f} of a real word's attention lands on padding (mean over the "
      f"{int(allowed.sum())} real words); boolean mask: {pad_share(w_boolean).max():.3f}")
print("per sentence (real words, padding):", [(int(n), int(T_max - n)) for n in lengths],
      "share on padding:", [round(float(w_zero_one[b, :n, n:].sum(-1).mean()), 3) for b, n in enumerate(lengths)])
for bad in (zero_one, torch.tril(torch.ones(T, T))):
    try:
        attention.scaled_dot_product_attention(Xb if bad.ndim == 3 else Q, Xb if bad.ndim == 3 else K,
                                               Xb if bad.ndim == 3 else V, bad)
    except ValueError as err:
        print(f"course_lib, float mask of shape {tuple(bad.shape)}: ValueError: {str(err)[:140]}...")

# %%
_ = check(bool(on_padding.mean() > 0.05 and pad_share(w_boolean).max() == 0), True,
          name="the 0/1 float mask leaks attention onto padding, the boolean one does not")

# %% [markdown]
# ### Causal: no peeking at the future
#
# A language model predicts word $t+1$ from words $1..t$. If position $t$ could attend to position $t+1$,
# it would simply copy the answer. The **causal mask** allows key $j$ for query $i$ only when $j \le i$:
# a lower-triangular matrix (the `causal` above).

# %%
print(causal.int())
scores_c = (Q @ K.T / math.sqrt(d_k)).masked_fill(~causal, float("-inf"))
weights_c = torch.softmax(scores_c, dim=-1)
fig = plot_attention(weights_c, sentence)
fig.axes[0].set_title("causal self-attention, untrained vectors")
plt.close(fig)
fig

# %%
check(weights_c.triu(1), torch.zeros(T, T), name="no weight above the diagonal")
_ = check(weights_c, attention.scaled_dot_product_attention(Q, K, V, is_causal=True)[1], name="causal weights = course_lib")

# %% [markdown]
# The first word can only look at itself (weight 1); the last one at the whole sentence.
#
# **Try the interactive view** below: hover over a query token to highlight its row. It is made of core
# ipywidgets only, so it works in JupyterLab, VS Code, Colab and in the static book, without a running kernel;
# only where no widget can be shown at all (a terminal, GitHub's notebook preview) a PNG of the same weights
# stands in.

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
# A common slip in written walk-throughs of attention (we cite none: the point is the slip, not who made it)
# is a worked example like this one: three tokens with 4 features, weight matrices $W^Q, W^K, W^V$
# **of shape 3 × 3**, and then "$Q = X W^Q$". Let us run it exactly as written.

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
# Each test runs your function with the shortcut switched off (`forbid`): build the piece from the operations
# the chapter showed.
#
# ### Exercise 1: a sliding-window causal mask
#
# Long-context models often let a query see only its last `window` positions, itself included:
# query $i$ may look at key $j$ when $0 \le i - j < \text{window}$. Write `sliding_window_mask(T, window)`, a
# boolean (T, T) tensor. `torch.tril`/`triu` and `causal_mask` are switched off: compare position indices.

# %% nbgrader={"grade": false, "grade_id": "ex-04-sliding-window", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sliding_window_mask(T, window):
    """(T, T) bool, True where 0 <= i - j < window (i = query position, j = key position)."""
    ### BEGIN SOLUTION
    pos = torch.arange(T)
    offset = pos[:, None] - pos[None, :]                     # (T, T): i - j
    return (offset >= 0) & (offset < window)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-04-sliding-window-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_ones = torch.ones(6, 6, dtype=torch.bool)
_ref = _ones.tril() & ~_ones.tril(-3)                        # reference, computed before the switch-off
with forbid("torch.tril", "torch.Tensor.tril", "torch.triu", "torch.Tensor.triu",
            "course_lib.attention.causal_mask", what="the sliding-window mask"):
    _got = sliding_window_mask(6, 3)
    _full = sliding_window_mask(6, 6)
expect(_got, _ref, name="T=6, window=3")
expect(_full, attention.causal_mask(6), name="a window of T is the causal mask")
### BEGIN HIDDEN TESTS
_big = torch.ones(13, 13, dtype=torch.bool)
_ref1, _ref5 = _big.tril() & ~_big.tril(-1), _big.tril() & ~_big.tril(-5)
with forbid("torch.tril", "torch.Tensor.tril", "torch.triu", "torch.Tensor.triu",
            "course_lib.attention.causal_mask", what="the sliding-window mask"):
    _got1, _got5 = sliding_window_mask(13, 1), sliding_window_mask(13, 5)
expect(_got1, _ref1, name="window 1: only itself")
expect(_got5, _ref5, name="T=13, window=5")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: a distance bias in the additive mask
#
# ALiBi (Press et al., 2022, *Train Short, Test Long*) replaces position vectors by a penalty in the additive
# mask: the score of key $j$ for query $i \ge j$ gets $-m\,(i - j)$ added, so far-away words need a stronger
# match to be read; keys $j > i$ stay forbidden. Write `distance_biased_attention(q, k, v, slope)` for
# q, k (..., T, d_k), v (..., T, d_v), returning `(output, weights)`. The attention functions are switched off:
# build $M$ and apply the formula yourself.

# %% nbgrader={"grade": false, "grade_id": "ex-04-distance-bias", "locked": false, "schema_version": 3, "solution": true, "task": false}
def distance_biased_attention(q, k, v, slope):
    """softmax(q k^T / sqrt(d_k) + M) v with M[i, j] = -slope * (i - j) for j <= i, -inf for j > i."""
    ### BEGIN SOLUTION
    T = q.shape[-2]
    pos = torch.arange(T)
    offset = (pos[:, None] - pos[None, :]).to(q.dtype)      # (T, T): i - j
    M = (-slope * offset).masked_fill(offset < 0, float("-inf"))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + M
    w = torch.softmax(scores, dim=-1)
    return w @ v, w
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-04-distance-bias-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_ref_causal = attention.scaled_dot_product_attention(Qb, Kb, Vb, is_causal=True)
_off = "torch.nn.functional.scaled_dot_product_attention", "course_lib.attention.scaled_dot_product_attention"
with forbid(*_off, what="attention with a distance bias"):
    _out0, _w0 = distance_biased_attention(Qb, Kb, Vb, 0.0)
    _out2, _w2 = distance_biased_attention(Qb, Kb, Vb, 2.0)
expect(_out0, _ref_causal[0], name="slope 0 is causal attention", atol=1e-6)
expect(_w2.sum(-1), torch.ones(_w2.shape[:-1]), name="rows sum to 1", atol=1e-6)
expect(_w2.triu(1), torch.zeros_like(_w2), name="no weight on future keys")
### BEGIN HIDDEN TESTS
_pos = torch.arange(Qb.shape[-2])
_bias = (-2.0 * (_pos[:, None] - _pos[None, :]).float()).masked_fill(_pos[None, :] > _pos[:, None], float("-inf"))
expect(_out2, F.scaled_dot_product_attention(Qb, Kb, Vb, attn_mask=_bias), name="slope 2 = torch with M", atol=1e-5)
_q64, _k64, _v64 = (t.double() for t in (Qb, Kb, Vb))
with forbid(*_off, what="attention with a distance bias"):
    _out64, _ = distance_biased_attention(_q64, _k64, _v64, 0.5)
_bias64 = (-0.5 * (_pos[:, None] - _pos[None, :]).double()).masked_fill(_pos[None, :] > _pos[:, None], float("-inf"))
expect(_out64, F.scaled_dot_product_attention(_q64, _k64, _v64, attn_mask=_bias64), name="float64, slope 0.5",
       rtol=1e-9)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: the softmax's backward pass, derived
#
# Section 3 used $\partial L/\partial s_j = w_j\,(g_j - \sum_i w_i g_i)$. Derive it from
# $w = \operatorname{softmax}(s)$ (hint: $\partial w_i/\partial s_j = w_i(\delta_{ij} - w_j)$) and write
# `softmax_backward(w, grad_w)`: given the weights $w$ (..., n) and $g = \partial L/\partial w$ of the same
# shape, return $\partial L/\partial s$. Autograd is switched off; the test compares with it.

# %% nbgrader={"grade": false, "grade_id": "ex-04-softmax-backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_backward(w, grad_w):
    """dL/ds for w = softmax(s) along the last axis, given dL/dw."""
    ### BEGIN SOLUTION
    return w * (grad_w - (w * grad_w).sum(-1, keepdim=True))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-04-softmax-backward-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_g = torch.Generator().manual_seed(4)
_s = (torch.randn(3, 5, 7, generator=_g, dtype=torch.float64) * 3).requires_grad_()
_w = torch.softmax(_s, -1)
_up = torch.randn(3, 5, 7, generator=_g, dtype=torch.float64)
_ref = torch.autograd.grad(_w, _s, _up)[0]                   # reference, before the switch-off
_no_autograd = ("torch.autograd.grad", "torch.Tensor.backward", "torch.autograd.backward", "torch.func.vjp",
                "torch.autograd.functional.vjp", "torch.autograd.functional.jacobian")
with forbid(*_no_autograd, what="the softmax's backward pass"):
    _got = softmax_backward(_w.detach(), _up)
expect(_got, _ref, name="dL/ds = autograd", rtol=1e-10)
### BEGIN HIDDEN TESTS
_s2 = torch.tensor([[30.0, 0.0, -5.0, 2.0]], dtype=torch.float64, requires_grad=True)   # a saturated row
_w2 = torch.softmax(_s2, -1)
_up2 = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)
_ref2 = torch.autograd.grad(_w2, _s2, _up2)[0]
with forbid(*_no_autograd, what="the softmax's backward pass"):
    _got2 = softmax_backward(_w2.detach(), _up2)
expect(_got2, _ref2, name="a saturated row", rtol=1e-9, atol=1e-15)
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | idea | equation | in `course_lib` |
# |---|---|---|
# | stable softmax | $e^{s_i - m}/\sum_j e^{s_j - m}$, $m = \max_j s_j$ | `course_lib.attention.softmax` |
# | scaled dot-product attention | $\operatorname{softmax}(QK^\top/\sqrt{d_k} + M)\,V$, any leading dims | `course_lib.attention.scaled_dot_product_attention` |
# | padding mask | True for the first `length` positions (real tokens) | `course_lib.attention.padding_mask` |
# | key-padding mask | (B, $T_k$), True = padding: `~padding_mask(...)` | `scaled_dot_product_attention(..., key_padding_mask=)` |
# | additive mask | $M$ added to the scores: 0 allowed, $-\infty$ forbidden, or a bias | `scaled_dot_product_attention(q, k, v, M)` |
# | causal mask | True where $j \le i$ | `course_lib.attention.causal_mask` |
# | attention heatmaps | interactive and static | `course_lib.widgets.attention_view`, `plot_attention` |
#
# * Dividing by $\sqrt{d_k}$ keeps the score variance at 1 whatever the width, so the softmax does not
#   saturate and the gradient at $q$ keeps its size at every width; without it the gradient at the scores
#   shrinks while the gradient at $q$ grows — measured above, not assumed.
# * Masks act on **scores**, before the softmax: forbidden means $-\infty$, which becomes weight 0. A float
#   mask is *added*: a 0/1 float mask forbids nothing, and `course_lib` refuses it, as it refuses a query with
#   no allowed key and a 2-D mask that could be either (B, $T_k$) or ($T_q$, $T_k$).
# * When an example's shapes do not multiply, write the shapes next to every product; (3 × 4) @ (4 × $d_k$).
#
# `course_lib.attention` is tested against `torch.nn.functional.scaled_dot_product_attention` (boolean and
# additive masks, causal, batch and head dimensions, float64 to $10^{-10}$) in `tests/test_attention.py`.
#
# **Next:** chapter 05 gives attention its own learnt projections and runs several heads side by side.
