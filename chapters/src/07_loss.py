# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/07_loss.py; `make notebooks CHAPTERS=07` rebuilds and runs this notebook. -->
# # 07 · The loss: how a language model is graded
#
# A language model outputs, at every position, one score per vocabulary entry: the **logits**.
# Training needs a single number saying how wrong those scores are. That number is the
# **cross-entropy**, and this chapter builds it from nothing:
#
# $$\text{logits} \xrightarrow{\ \text{softmax}\ } \text{probabilities} \xrightarrow{\ -\log p_{\text{target}}\ } \text{loss} \xrightarrow{\ \exp\ } \text{perplexity}$$
#
# **What you will build**
#
# * **softmax**, and why computing it naively overflows (shown), fixed by the **log-sum-exp** trick;
# * **cross-entropy** as the negative log-likelihood of the text, and its link to **entropy** and **KL divergence**;
# * its **gradient**, $\operatorname{softmax} - \text{one-hot}$, derived by hand and checked against autograd;
# * **perplexity**, and the sanity check every training run should start with: loss $= \ln V$ at initialisation;
# * **label smoothing** and **padding** with `ignore_index`, exactly as `torch.nn.functional.cross_entropy` does them.
#
# **Prerequisites:** chapters 01 (tokens and ids) and 04 (softmax appears in attention); PyTorch tensors and `.backward()`.
#
# **Time:** about 40 minutes; the notebook runs in a few seconds.

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
from course_lib.datasets import load_text
from course_lib import losses
from course_lib.gpt import GPT, GPTConfig

set_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Real logits: a character bigram model of Shakespeare
#
# To have real numbers to grade, we use the simplest language model there is: predict the next
# character from the current one by counting. Over the first 90 % of the plays we count how often
# character $b$ follows character $a$; the model's score for $b$ after $a$ is $\log(\text{count}+1)$.
# The last 10 % is held out to grade it.

# %%
text = load_text("shakespeare")
chars = sorted(set(text))
V = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text])
n_train = int(0.9 * len(data))
train_ids, val_ids = data[:n_train], data[n_train:]
print(f"{len(text):,} characters, vocabulary V = {V}, train {len(train_ids):,} / held-out {len(val_ids):,}")

counts = torch.zeros(V, V)
counts.index_put_((train_ids[:-1], train_ids[1:]), torch.ones(len(train_ids) - 1), accumulate=True)
bigram_logits = torch.log(counts + 1)          # (V, V): row a = scores for the character after a
print("bigram logits:", tuple(bigram_logits.shape))

# %% [markdown]
# The scores after the letter `q` (the five highest). Logits are not probabilities: they are
# unbounded and do not sum to one.

# %%
row = bigram_logits[stoi["q"]]
top = torch.topk(row, 5)
print([(chars[i], round(s, 3)) for i, s in zip(top.indices.tolist(), top.values.tolist())])
print("sum of the row:", round(row.sum().item(), 2))

# %% [markdown]
# ## 2. Softmax: from scores to probabilities
#
# $$\operatorname{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{V} e^{z_j}}$$
#
# The exponential makes every entry positive, the division makes them sum to one, and the order of
# the scores is kept. Written directly:

# %%
def naive_softmax(z):
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)


p_after_q = naive_softmax(row)
print("P(u | q) =", round(p_after_q[stoi["u"]].item(), 4), "  sum =", round(p_after_q.sum().item(), 6))

# %% [markdown]
# ### Overflow, shown
#
# $e^{89}$ is already larger than the largest float32 ($3.4\times 10^{38}$). Trained networks produce
# logits in the hundreds or thousands, and the direct formula breaks:

# %%
z = torch.tensor([1000.0, 999.0, 990.0])
print("exp(z):", torch.exp(z))
print("naive softmax:", naive_softmax(z))
print("log of naive softmax of very negative logits:", torch.log(naive_softmax(-z)))

# %% [markdown]
# `inf / inf` is `nan`, and every parameter that this `nan` touches through the gradient is ruined.
#
# ### The log-sum-exp trick
#
# Subtracting any constant $m$ from every score changes nothing, because $e^{-m}$ cancels:
#
# $$\frac{e^{z_i - m}}{\sum_j e^{z_j - m}} = \frac{e^{-m} e^{z_i}}{e^{-m}\sum_j e^{z_j}}.$$
#
# With $m = \max_j z_j$ every exponent is $\le 0$, so every $e^{\cdot}$ lies in $(0, 1]$ and the
# largest is exactly 1: nothing overflows and the sum is at least 1, so its log is safe. For the loss we
# need $\log \operatorname{softmax}$, which is best computed in the log domain directly:
#
# $$\log \operatorname{softmax}(z)_i = (z_i - m) - \log \sum_j e^{z_j - m}.$$

# %%
def my_log_softmax(z):
    m = z.max(dim=-1, keepdim=True).values          # (..., 1)
    shifted = z - m                                  # (..., V), all <= 0
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


print(my_log_softmax(z))
print(torch.exp(my_log_softmax(z)))

# %%
check(my_log_softmax(z), losses.log_softmax(z), name="log-softmax, huge logits, against course_lib")
check(my_log_softmax(bigram_logits), torch.log_softmax(bigram_logits, dim=-1), name="log-softmax of the bigram table, against torch")
check(losses.log_softmax(torch.tensor([1e4, 0.0, -1e4])), torch.log_softmax(torch.tensor([1e4, 0.0, -1e4]), -1),
      name="course_lib log-softmax at +-1e4")

# %% [markdown]
# ## 3. Cross-entropy is the negative log-likelihood
#
# A model assigns the held-out text $y_1, \dots, y_N$ the probability $\prod_t p(y_t \mid \text{context}_t)$.
# Training maximises it; equivalently (the log turns a product into a sum, the minus sign turns
# maximising into minimising, and dividing by $N$ makes texts of any length comparable) it minimises
#
# $$\mathcal{L} = -\frac{1}{N}\sum_{t=1}^{N} \log p(y_t \mid \text{context}_t) \quad\text{(nats per token).}$$
#
# Here the context is the previous character. The logits for every held-out position are rows of
# the bigram table:

# %%
x_val, y_val = val_ids[:-1], val_ids[1:]
logits_val = bigram_logits[x_val]                         # (N, V)
print("logits:", tuple(logits_val.shape), " targets:", tuple(y_val.shape))

nll = -my_log_softmax(logits_val)[torch.arange(len(y_val)), y_val]   # (N,) -log p(target)
bigram_loss = nll.mean()
print(f"bigram held-out loss: {bigram_loss.item():.4f} nats per character")

# %%
check(bigram_loss, losses.cross_entropy(logits_val, y_val), name="NLL = course_lib cross_entropy")
check(bigram_loss, F.cross_entropy(logits_val, y_val), name="NLL = torch cross_entropy")

# %% [markdown]
# ### Entropy, cross-entropy and KL divergence
#
# For a true distribution $p$ and a model $q$ over the same $V$ outcomes:
#
# $$H(p) = -\sum_i p_i \log p_i,\qquad H(p, q) = -\sum_i p_i \log q_i,\qquad
# \mathrm{KL}(p\,\|\,q) = \sum_i p_i \log\frac{p_i}{q_i} = H(p, q) - H(p).$$
#
# The cross-entropy is the entropy of the data (which no model can remove) plus the KL divergence
# (which measures how far the model is from the truth, and is $\ge 0$, zero only when $q = p$).
# Minimising cross-entropy over the model therefore minimises the KL divergence. Our loss above is
# $H(p, q)$ with $p$ the one-hot "distribution" of the actual next character.
#
# Measured on the characters following `t` in the held-out text (their frequencies are $p$) and the
# bigram model's prediction after `t` (that is $q$):

# %%
after_t = y_val[x_val == stoi["t"]]
p = torch.bincount(after_t, minlength=V).double() / len(after_t)     # empirical next-char distribution
q = torch.softmax(bigram_logits[stoi["t"]].double(), dim=-1)          # the model's
nz = p > 0
H_p = -(p[nz] * p[nz].log()).sum()
H_pq = -(p[nz] * q[nz].log()).sum()
KL = (p[nz] * (p[nz] / q[nz]).log()).sum()
print(f"H(p) = {H_p:.4f}   H(p, q) = {H_pq:.4f}   KL(p || q) = {KL:.4f}")
check(H_pq, H_p + KL, name="H(p, q) = H(p) + KL(p || q)")
check(KL >= 0, True, name="KL is never negative")
# and the mean loss over those positions is exactly H(p, q)
check(losses.cross_entropy(bigram_logits[torch.full_like(after_t, stoi["t"])].double(), after_t), H_pq,
      name="mean loss after 't' = cross-entropy H(p, q)")

# %% [markdown]
# ## 4. The gradient: softmax minus one-hot
#
# For one position with logits $z$, $p = \operatorname{softmax}(z)$ and target $y$,
# $\ell = -\log p_y = -z_y + \log \sum_j e^{z_j}$. Differentiating with respect to $z_i$:
#
# $$\frac{\partial \ell}{\partial z_i} = -[i = y] + \frac{e^{z_i}}{\sum_j e^{z_j}} = p_i - [i = y].$$
#
# The gradient is the predicted distribution minus the one-hot target: it pushes the target's
# score up by $1 - p_y$ and every other score down by $p_i$; each row sums to zero. For the mean over
# $N$ positions, divide by $N$:
#
# $$\frac{\partial \mathcal{L}}{\partial z} = \frac{1}{N}\left(\operatorname{softmax}(z) - \operatorname{onehot}(y)\right).$$

# %%
def my_ce_grad(logits, targets):
    N, V = logits.shape
    probs = torch.exp(my_log_softmax(logits))                 # (N, V)
    one_hot = F.one_hot(targets, V).to(logits.dtype)         # (N, V)
    return (probs - one_hot) / N


sample_logits = logits_val[:8].clone().requires_grad_(True)   # 8 real positions
sample_targets = y_val[:8]
F.cross_entropy(sample_logits, sample_targets).backward()      # autograd's answer
ours = my_ce_grad(sample_logits.detach(), sample_targets)
print("gradient:", tuple(ours.shape), " row sums:", ours.sum(-1))

# %%
check(ours, sample_logits.grad, name="softmax - one-hot = autograd")
check(losses.cross_entropy_grad(sample_logits.detach(), sample_targets), sample_logits.grad,
      name="course_lib.losses.cross_entropy_grad = autograd")

# %% [markdown]
# A third, independent witness: finite differences, $\partial\mathcal{L}/\partial z_{ti} \approx
# (\mathcal{L}(z + \varepsilon e_{ti}) - \mathcal{L}(z - \varepsilon e_{ti})) / 2\varepsilon$, in float64.

# %%
z64 = logits_val[:8].double()
eps = 1e-6
fd = torch.zeros_like(z64)
for t in range(z64.shape[0]):
    for i in range(V):
        bump = torch.zeros_like(z64)
        bump[t, i] = eps
        fd[t, i] = (losses.cross_entropy(z64 + bump, sample_targets) - losses.cross_entropy(z64 - bump, sample_targets)) / (2 * eps)
check(fd, my_ce_grad(z64, sample_targets), name="softmax - one-hot = finite differences", atol=1e-8)

# %% [markdown]
# ## 5. Perplexity, and the loss at initialisation
#
# $$\mathrm{PPL} = e^{\mathcal{L}}$$
#
# turns nats back into a count: a model with perplexity 12 is, on average, as unsure as if it chose
# uniformly among 12 characters. A model that knows nothing spreads its probability evenly,
# $p_i = 1/V$, so its loss is $-\log(1/V) = \ln V$ and its perplexity is exactly $V$.

# %%
print(f"ln V = ln {V} = {math.log(V):.4f}  (perplexity {V})")
print(f"bigram model: loss {bigram_loss.item():.4f}, perplexity {losses.perplexity(bigram_loss.item()):.2f}")
check(losses.cross_entropy(torch.zeros(5, V), y_val[:5]), torch.tensor(math.log(V)), name="uniform logits give ln V")

# %% [markdown]
# **The sanity check every training run starts with.** A freshly initialised GPT has tiny random
# weights (standard deviation 0.02), so its logits are all close to 0 and its first loss should be
# close to $\ln V$. A first loss far above $\ln V$ means the model is confidently wrong from the
# start: a bug (or a bad initialisation) to fix before training.

# %%
set_seed(0)
fresh = GPT(GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False))
g = torch.Generator().manual_seed(0)
starts = torch.randint(len(val_ids) - 65, (8,), generator=g)
xb = torch.stack([val_ids[s:s + 64] for s in starts])
yb = torch.stack([val_ids[s + 1:s + 65] for s in starts])
with torch.no_grad():
    init_logits, init_loss = fresh(xb, yb)
print(f"loss of an untrained GPT: {init_loss.item():.4f}   ln V = {math.log(V):.4f}")
print(f"logit spread at init: std {init_logits.std().item():.3f}")
check(abs(init_loss.item() - math.log(V)) < 0.1, True, name="loss at init is within 0.1 of ln V")

# %% [markdown]
# ## 6. Label smoothing
#
# With a one-hot target the loss keeps rewarding ever larger logit gaps: $-\log p_y \to 0$ only as
# $p_y \to 1$. **Label smoothing** replaces the target by
#
# $$q = (1 - \varepsilon)\,\operatorname{onehot}(y) + \frac{\varepsilon}{V},$$
#
# so the loss becomes $(1-\varepsilon)(-\log p_y) + \varepsilon \cdot \frac{1}{V}\sum_i(-\log p_i)$ and the gradient
# $\operatorname{softmax}(z) - q$. The best a model can now do is predict $q$ itself, which costs
# $H(q) > 0$: the loss has a floor above zero.

# %%
def smoothed_loss(logits, targets, eps):
    logp = my_log_softmax(logits)                                    # (N, V)
    nll = -logp[torch.arange(len(targets)), targets]                 # (N,)
    uniform = -logp.mean(dim=-1)                                     # (N,)
    return ((1 - eps) * nll + eps * uniform).mean()


for eps in (0.0, 0.1, 0.3):
    ours = smoothed_loss(logits_val, y_val, eps)
    check(ours, F.cross_entropy(logits_val, y_val, label_smoothing=eps), name=f"label smoothing {eps} against torch")

# %%
# the floor: even a perfectly confident, correct model pays for smoothing
eps = 0.1
confident = torch.full((1, V), -20.0)
confident[0, 0] = 20.0
q_target = losses.smoothed_targets(torch.tensor([0]), V, eps)
print(f"perfect, confident model: loss {losses.cross_entropy(confident, torch.tensor([0])).item():.2e} without smoothing,"
      f" {losses.cross_entropy(confident, torch.tensor([0]), label_smoothing=eps).item():.3f} with eps = {eps}")
best = torch.log(q_target)                                           # predicting q itself
print(f"predicting q itself: {losses.cross_entropy(best, torch.tensor([0]), label_smoothing=eps).item():.4f}"
      f" = H(q) = {-(q_target * q_target.log()).sum().item():.4f}")

# %% [markdown]
# ## 7. Padding and `ignore_index`
#
# Lines of a play have different lengths. To batch them we pad the short ones to a common length;
# the padded positions are not text and must not count. The convention (torch's, and ours): give
# those positions the target `ignore_index` (default $-100$). They contribute 0 and the mean divides by
# the number of **real** targets.

# %%
lines = [l for l in text[:5000].splitlines() if 10 < len(l) < 40][:4]
for l in lines:
    print(repr(l))
T_max = max(len(l) for l in lines) - 1
x_pad = torch.zeros(len(lines), T_max, dtype=torch.long)
y_pad = torch.full((len(lines), T_max), -100)
for b, l in enumerate(lines):
    ids = torch.tensor([stoi[c] for c in l])
    x_pad[b, :len(ids) - 1] = ids[:-1]
    y_pad[b, :len(ids) - 1] = ids[1:]
print("inputs", tuple(x_pad.shape), " real targets per line:", (y_pad != -100).sum(1).tolist())

# %%
logits_pad = bigram_logits[x_pad]                                  # (B, T, V)
real = y_pad != -100
by_hand = -(my_log_softmax(logits_pad)[real].gather(-1, y_pad[real][:, None])).mean()
print(f"loss over the {int(real.sum())} real characters: {by_hand.item():.4f}")
check(losses.cross_entropy(logits_pad, y_pad), by_hand, name="ignore_index, course_lib")
check(F.cross_entropy(logits_pad.reshape(-1, V), y_pad.reshape(-1)), by_hand, name="ignore_index, torch")
wrong = F.cross_entropy(logits_pad.reshape(-1, V), torch.where(real, y_pad, 0).reshape(-1))
print(f"if the padding were graded as id 0: {wrong.item():.4f} (a different, meaningless number)")

# %% [markdown]
# ## 8. The whole loss against torch, every option
#
# `course_lib.losses.cross_entropy` takes logits with the classes on the **last** axis, (B, T, V),
# as language models produce them (torch wants them on axis 1, so we flatten for the comparison).

# %%
for reduction in ("mean", "sum", "none"):
    for eps in (0.0, 0.1):
        ours = losses.cross_entropy(logits_pad, y_pad, label_smoothing=eps, reduction=reduction)
        ref = F.cross_entropy(logits_pad.reshape(-1, V), y_pad.reshape(-1), label_smoothing=eps, reduction=reduction)
        check(ours, ref.reshape(ours.shape), name=f"reduction={reduction}, label_smoothing={eps}")

# %% [markdown]
# Bad input gets a sentence that says what was expected:

# %%
try:
    losses.cross_entropy(logits_pad, y_pad[:, :-1])
except ValueError as e:
    print("ValueError:", e)
try:
    losses.cross_entropy(logits_pad, y_pad.float())
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## 9. Exercises
#
# ### Exercise 1: a stable log-sum-exp
#
# Write `logsumexp(z)` returning $\log\sum_j e^{z_j}$ over the last axis (shape `(...,)`), without
# overflow for scores of $\pm 10^4$. Hint: $\log\sum_j e^{z_j} = m + \log \sum_j e^{z_j - m}$.

# %% nbgrader={"grade": false, "grade_id": "ex-07-logsumexp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def logsumexp(z):
    """log(sum(exp(z))) over the last axis, computed without overflow."""
    ### BEGIN SOLUTION
    m = z.max(dim=-1, keepdim=True).values
    return (m + torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))).squeeze(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-07-logsumexp-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(logsumexp(torch.tensor([0.0, 0.0])), torch.tensor(math.log(2)), name="log(e^0 + e^0) = ln 2")
expect(logsumexp(torch.tensor([1e4, 1e4])), torch.tensor(1e4 + math.log(2)), name="no overflow at 1e4")
### BEGIN HIDDEN TESTS
expect(logsumexp(bigram_logits), torch.logsumexp(bigram_logits, dim=-1), name="bigram table rows")
expect(logsumexp(torch.tensor([-1e4, -1e4 - 1])), torch.logsumexp(torch.tensor([-1e4, -1e4 - 1]), 0),
       name="no underflow at -1e4")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: the gradient with padding
#
# Write `ce_grad(logits, targets, ignore_index=-100)`: the gradient of the **mean** cross-entropy
# (over real targets only) with respect to `logits` (N, V). Ignored rows get a zero gradient, and
# $N$ counts real targets only.

# %% nbgrader={"grade": false, "grade_id": "ex-07-ce-grad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ce_grad(logits, targets, ignore_index=-100):
    """d mean-CE / d logits for logits (N, V), targets (N,) with ignore_index rows skipped."""
    ### BEGIN SOLUTION
    keep = targets != ignore_index                                   # (N,)
    safe = torch.where(keep, targets, torch.zeros_like(targets))
    probs = torch.softmax(logits, dim=-1)
    grad = probs - F.one_hot(safe, logits.shape[-1]).to(logits.dtype)
    return grad * keep[:, None].to(logits.dtype) / keep.sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-07-ce-grad-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_z = logits_pad.reshape(-1, V).clone().requires_grad_(True)
_y = y_pad.reshape(-1)
F.cross_entropy(_z, _y).backward()
expect(ce_grad(_z.detach(), _y), _z.grad, name="gradient with padding = autograd")
### BEGIN HIDDEN TESTS
expect(ce_grad(logits_val[:20], y_val[:20]), losses.cross_entropy_grad(logits_val[:20], y_val[:20]),
       name="no padding = course_lib")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: perplexity of the bigram model on another play
#
# Write `bigram_perplexity(ids)`: the perplexity of the bigram model (`bigram_logits`) on a 1-D
# tensor of character ids (each character predicted from the one before it).

# %% nbgrader={"grade": false, "grade_id": "ex-07-perplexity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bigram_perplexity(ids):
    """exp(mean cross-entropy) of the bigram model on the stream ids."""
    ### BEGIN SOLUTION
    return math.exp(F.cross_entropy(bigram_logits[ids[:-1]], ids[1:]).item())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-07-perplexity-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(bigram_perplexity(val_ids), losses.perplexity(bigram_loss.item()), name="held-out perplexity")
### BEGIN HIDDEN TESTS
expect(bigram_perplexity(train_ids[:10_000]),
       math.exp(losses.cross_entropy(bigram_logits[train_ids[:9_999]], train_ids[1:10_000]).item()),
       name="perplexity on training text")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | idea | equation | in `course_lib` |
# |---|---|---|
# | stable log-softmax | $(z_i - m) - \log\sum_j e^{z_j - m}$ | `course_lib.losses.log_softmax` |
# | cross-entropy = NLL | $-\frac1N\sum_t \log p(y_t)$, with `ignore_index`, label smoothing, 3 reductions | `course_lib.losses.cross_entropy` |
# | its gradient | $(\operatorname{softmax}(z) - q)/N$ | `course_lib.losses.cross_entropy_grad` |
# | smoothed target | $(1-\varepsilon)\,\text{onehot} + \varepsilon/V$ | `course_lib.losses.smoothed_targets` |
# | perplexity | $e^{\mathcal{L}}$; $V$ for a uniform guess | `course_lib.losses.perplexity` |
#
# `tests/test_losses.py` proves all of them equal to `torch.nn.functional.cross_entropy` (every
# reduction, `ignore_index`, label smoothing) and to autograd, and stable at logits of $\pm 10^4$.
#
# The bigram model scores about 2.5 nats per character on held-out Shakespeare. In chapter 08 a tiny
# GPT, trained with exactly this loss, sees 64 or more characters of context and gets well below 2.
