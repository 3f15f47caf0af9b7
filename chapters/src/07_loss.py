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
# * **perplexity** and **bits per character**, why perplexities compare only under the same tokenizer, and the
#   sanity check every training run should start with: loss $= \ln V$ at initialisation;
# * **label smoothing** and **padding** with `ignore_index`, exactly as `torch.nn.functional.cross_entropy` does them.
#
# **Prerequisites:** chapters 01 (tokens and ids) and 04 (softmax appears in attention); PyTorch tensors and `.backward()`.
#
# **Time:** about 45 minutes to read; the notebook runs in about 20 seconds (measured in full mode on two CPU cores: 19 s).

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
print(f"e^89 = {math.exp(89):.3g}, largest float32 = {torch.finfo(torch.float32).max:.3g}")
check(math.exp(89) > torch.finfo(torch.float32).max, True, name="e^89 overflows float32")
check(math.exp(88) < torch.finfo(torch.float32).max, True, name="e^88 does not: 89 is the first integer that overflows")
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
# ### Temperature: one knob on the softmax
#
# Dividing the logits by a **temperature** $\tau$ before the softmax, $p = \operatorname{softmax}(z/\tau)$,
# keeps the order of the scores but changes how peaked the distribution is: $\tau < 1$ sharpens it
# (towards the argmax as $\tau \to 0$), $\tau > 1$ flattens it (towards uniform as $\tau \to \infty$).
# Chapter 08 samples text this way. Here is the bigram model's distribution after `t`, the ten most likely characters:

# %%
row_t = bigram_logits[stoi["t"]]
order = torch.argsort(row_t, descending=True)[:10]
fig, ax = plt.subplots(figsize=(7, 2.8))
width = 0.27
for j, tau in enumerate((0.5, 1.0, 2.0)):
    probs_tau = torch.softmax(row_t / tau, dim=-1)
    ax.bar(torch.arange(10) + (j - 1) * width, probs_tau[order], width, label=f"τ = {tau}")
    print(f"tau = {tau}: P('{chars[order[0]]}' | t) = {probs_tau[order[0]]:.3f}, "
          f"entropy {-(probs_tau * probs_tau.log()).sum():.3f} nats")
ax.set_xticks(range(10), [repr(chars[i])[1:-1] for i in order])
ax.set_xlabel("next character after 't'"); ax.set_ylabel("probability")
ax.set_title("softmax(z / τ): the same scores, three temperatures"); ax.legend()
fig.tight_layout()
plt.show()

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
# ### Where the loss comes from
#
# The loss of one position is $-\ln p_{\text{target}}$: 0 when the model gave the right character
# probability 1, $\ln 2 = 0.69$ at $p = 1/2$, 2.3 at $p = 0.1$, and without bound as $p \to 0$. A model is
# punished most for being confidently wrong. The histogram shows the probabilities the bigram model
# actually gave the held-out characters:

# %%
p_target = torch.exp(-nll)                                   # (N,) the probability of each actual next character
ps = torch.linspace(0.005, 1, 200)
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(ps, -torch.log(ps), color="tab:red", label="loss $-\\ln p$")
ax.set_xlabel("probability the model gave the target"); ax.set_ylabel("loss (nats)", color="tab:red")
ax2 = ax.twinx()
ax2.hist(p_target.numpy(), bins=50, range=(0, 1), color="tab:blue", alpha=0.4)
ax2.set_ylabel("held-out positions", color="tab:blue")
ax.set_title("loss against the probability of the target, and where the bigram model's targets fall")
fig.tight_layout()
plt.show()
low = p_target < 0.1
share = (nll[low].sum() / nll.sum()).item()
print(f"{low.float().mean().item():.1%} of the held-out positions got p < 0.1 and carry {share:.1%} of the total loss")

# %%
check(round(low.float().mean().item(), 3), 0.533, name="53.3% of positions with p < 0.1")
check(round(share, 3), 0.724, name="they carry 72.4% of the loss")

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
# bigram model's prediction after `t` (that is $q$). The KL divergence is computed twice: by the formula,
# and by `torch.distributions`, an independent implementation; the mean loss over those positions,
# computed by `cross_entropy` from the logits, is $H(p, q)$ itself.

# %%
after_t = y_val[x_val == stoi["t"]]
p = torch.bincount(after_t, minlength=V).double() / len(after_t)     # empirical next-char distribution
q = torch.softmax(bigram_logits[stoi["t"]].double(), dim=-1)          # the model's
nz = p > 0
H_p = -(p[nz] * p[nz].log()).sum()
H_pq = -(p[nz] * q[nz].log()).sum()
KL = (p[nz] * (p[nz] / q[nz]).log()).sum()
print(f"H(p) = {H_p:.4f}   H(p, q) = {H_pq:.4f}   KL(p || q) = {KL:.4f}")
torch_kl = torch.distributions.kl_divergence(torch.distributions.Categorical(probs=p),
                                             torch.distributions.Categorical(probs=q))
check(KL, torch_kl, name="KL(p || q) = torch.distributions.kl_divergence")
mean_loss_after_t = losses.cross_entropy(bigram_logits[torch.full_like(after_t, stoi["t"])].double(), after_t)
check(mean_loss_after_t, H_pq, name="mean loss after 't' (from the logits) = cross-entropy H(p, q)")
check(mean_loss_after_t - H_p, torch_kl, name="mean loss - entropy of the data = KL (torch)")

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
check(round(bigram_loss.item(), 2), 2.52, name="the bigram model scores 2.52 nats per character")
check(round(losses.perplexity(bigram_loss.item()), 1), 12.5, name="perplexity 12.5: about 12 equally likely characters")

# %% [markdown]
# ### Bits per character
#
# With $\log_2$ instead of $\ln$ the same loss is counted in **bits**: $\mathcal{L}_{\text{bits}} = \mathcal{L}/\ln 2$.
# Per character, this is the length a compressor driven by the model (arithmetic coding) would need for each
# character of the text, a unit that does not depend on the model's vocabulary. A uniform guess over our $V$
# characters costs $\log_2 V$ bits; the bigram model needs far fewer:

# %%
bpc_uniform = math.log2(V)
bpc_bigram = bigram_loss.item() / math.log(2)
print(f"uniform guess: {bpc_uniform:.3f} bits per character;  bigram model: {bpc_bigram:.3f} bits per character")
check(round(bpc_bigram, 2), 3.64, name="the bigram model needs 3.64 bits per character")

# %% [markdown]
# ### Perplexities compare only under the same tokenizer
#
# A perplexity is *per token*, so it depends on what a token is. Cut the same text into **pairs of characters**
# (a vocabulary of $V^2$ possible tokens) and fit the simplest model, each pair's frequency in the training
# text (plus one, so that no pair has probability 0). Compare it with the same kind of model over single characters
# and with the bigram model:

# %%
def pair_tokens(ids):
    ids = ids[: len(ids) // 2 * 2]
    return ids[0::2] * V + ids[1::2]                          # token id of the pair (a, b) is a V + b


def frequency_model(tokens, n_tokens):
    counts = torch.bincount(tokens, minlength=n_tokens).double() + 1
    return torch.log(counts / counts.sum())                   # (n_tokens,) log-probabilities


char_logp = frequency_model(train_ids, V)
pair_logp = frequency_model(pair_tokens(train_ids), V * V)
val_pairs = pair_tokens(val_ids)
rows = {                     # name -> (nats per token, characters per token)
    "characters, frequency": (-char_logp[val_ids].mean().item(), 1),
    "characters, bigram": (bigram_loss.item(), 1),
    "pairs of characters, frequency": (-pair_logp[val_pairs].mean().item(), 2),
}
print(f"{'model':32} {'perplexity per token':>21} {'bits per character':>19}")
for name, (nats, chars_per_token) in rows.items():
    print(f"{name:32} {math.exp(nats):21.1f} {nats / chars_per_token / math.log(2):19.3f}")

# %%
ppl = {name: math.exp(nats) for name, (nats, _) in rows.items()}
bpc = {name: nats / c / math.log(2) for name, (nats, c) in rows.items()}
check(ppl["pairs of characters, frequency"] > 10 * ppl["characters, frequency"], True,
      name="per token, the pair model looks more than 10x worse")
check(bpc["pairs of characters, frequency"] < bpc["characters, frequency"], True,
      name="per character, it is better than the character frequencies")
check([round(v, 2) for v in bpc.values()], [4.74, 3.64, 4.2], name="bits per character 4.74, 3.64, 4.20")
check([round(v, 1) for v in ppl.values()], [26.7, 12.5, 336.4], name="perplexities per token 26.7, 12.5, 336.4")

# %% [markdown]
# Per token, the pair model looks an order of magnitude worse (perplexity 336 against 27), yet per character it
# needs 4.20 bits where single-character frequencies need 4.74: knowing the first character of a pair helps with
# the second. Its tokens are simply bigger, so each one is harder to guess. **Perplexities of models with
# different tokenizers cannot be compared**; convert both to bits (or nats) per character, or per byte, of the
# same text. Chapter 09 compares a character model with a byte-pair model exactly this way.

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
# Each test runs your function with the library and torch functions that would answer it switched off
# (`forbid`): build it from the operations this chapter used (`exp`, `log`, `max`, `sum`, indexing, `where`...).
#
# ### Exercise 1: log-sum-exp over the allowed entries only
#
# Attention (chapter 04) and padded vocabularies need $\log \sum_{j \in A} e^{z_j}$ over a set $A$ of allowed
# entries. Write `masked_logsumexp(z, allowed)`: `z` float (..., V), `allowed` bool of the same shape, result
# (...). It must not overflow or underflow for scores of $\pm 10^4$, and a row with **no** allowed entry gives
# $-\infty$ (the log of an empty sum), never `nan`. Careful: the maximum of an empty row is $-\infty$, and
# $-\infty - (-\infty)$ is `nan`.

# %% nbgrader={"grade": false, "grade_id": "ex-07-masked-logsumexp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_logsumexp(z, allowed):
    """log(sum over allowed j of exp(z_j)) over the last axis; -inf for a row with nothing allowed."""
    ### BEGIN SOLUTION
    z = z.masked_fill(~allowed, float("-inf"))
    m = z.max(dim=-1, keepdim=True).values                       # (..., 1), -inf for an empty row
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))   # shift by 0 there: exp(-inf) = 0, no nan
    return (m + torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))).squeeze(-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-07-masked-logsumexp-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_z = torch.tensor([[1e4, 1e4, 5.0], [-1e4, -1e4 - 1, 3.0], [1.0, 2.0, 3.0]])
_allowed = torch.tensor([[True, True, False], [True, True, False], [False, False, False]])
_ref = torch.logsumexp(_z.masked_fill(~_allowed, float("-inf")), dim=-1)     # reference first
with forbid("torch.logsumexp", "torch.Tensor.logsumexp", "torch.special.logsumexp", "torch.softmax",
            "torch.Tensor.softmax", "torch.log_softmax", "torch.Tensor.log_softmax", "torch.nn.functional.softmax",
            "torch.nn.functional.log_softmax", "course_lib.losses.log_softmax", "course_lib.losses.softmax",
            what="a masked log-sum-exp"):
    _got = masked_logsumexp(_z, _allowed)
expect(_got, _ref, name="1e4 + ln 2, -1e4 + ln(1 + 1/e), and -inf for the empty row")
### BEGIN HIDDEN TESTS
_allowed2 = bigram_logits > 3.0
_ref2 = torch.logsumexp(bigram_logits.masked_fill(~_allowed2, float("-inf")), dim=-1)
with forbid("torch.logsumexp", "torch.Tensor.logsumexp", "torch.special.logsumexp", "torch.softmax",
            "torch.Tensor.softmax", "torch.log_softmax", "torch.Tensor.log_softmax", "torch.nn.functional.softmax",
            "torch.nn.functional.log_softmax", "course_lib.losses.log_softmax", "course_lib.losses.softmax",
            what="a masked log-sum-exp"):
    _got2 = masked_logsumexp(bigram_logits, _allowed2)
expect(_got2, _ref2, name="rows of the bigram table, scores above 3 only")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: the gradient of the smoothed loss, with padding
#
# Section 4 derived the gradient without label smoothing. Derive it **with** smoothing $\varepsilon$ (section 6
# gives the smoothed loss) and write `smoothed_ce_grad(logits, targets, eps, ignore_index=-100)`: the
# gradient of the **mean** smoothed cross-entropy over the real (not ignored) targets with respect to
# `logits` (N, V). Ignored rows get a zero gradient. The test compares it with autograd; autograd and the
# library's gradient are switched off inside it.

# %% nbgrader={"grade": false, "grade_id": "ex-07-smoothed-grad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smoothed_ce_grad(logits, targets, eps, ignore_index=-100):
    """d mean smoothed CE / d logits for logits (N, V), targets (N,) with ignore_index rows skipped."""
    ### BEGIN SOLUTION
    N, V = logits.shape
    keep = targets != ignore_index                                   # (N,)
    safe = torch.where(keep, targets, torch.zeros_like(targets))
    q = (1 - eps) * F.one_hot(safe, V).to(logits.dtype) + eps / V   # (N, V) the smoothed target
    probs = torch.exp(my_log_softmax(logits))
    return (probs - q) * keep[:, None].to(logits.dtype) / keep.sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-07-smoothed-grad-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_zs = logits_pad.reshape(-1, V).clone().requires_grad_(True)
_ys = y_pad.reshape(-1)
F.cross_entropy(_zs, _ys, label_smoothing=0.1).backward()           # reference first: autograd
_ref = _zs.grad.clone()
_forbidden = ("course_lib.losses.cross_entropy_grad", "torch.Tensor.backward", "torch.autograd.backward",
              "torch.autograd.grad", "torch.autograd.functional.vjp", "torch.autograd.functional.jacobian",
              "torch.func.grad", "torch.func.vjp")
with forbid(*_forbidden, what="the gradient of the smoothed loss"):
    _got = smoothed_ce_grad(_zs.detach(), _ys, 0.1)
expect(_got, _ref, name="smoothing 0.1 with padding = autograd")
### BEGIN HIDDEN TESTS
_zh = logits_val[:50].double().clone().requires_grad_(True)
F.cross_entropy(_zh, y_val[:50], label_smoothing=0.3).backward()
_ref = _zh.grad.clone()
with forbid(*_forbidden, what="the gradient of the smoothed loss"):
    _got = smoothed_ce_grad(_zh.detach(), y_val[:50], 0.3)
expect(_got, _ref, name="smoothing 0.3, no padding, float64", atol=1e-10)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: KL divergence between two models, from their logits
#
# Write `kl_from_logits(p_logits, q_logits)`: $\mathrm{KL}(p\,\|\,q) = \sum_i p_i (\log p_i - \log q_i)$ over the
# last axis, with $p = \operatorname{softmax}$(`p_logits`) and $q = \operatorname{softmax}$(`q_logits`), computed in
# the log domain (your `my_log_softmax` is allowed). A logit of $-\infty$ in `p_logits` means $p_i = 0$, and
# $0 \log 0 = 0$ by convention: such entries add nothing (and must not make `nan`).

# %% nbgrader={"grade": false, "grade_id": "ex-07-kl", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kl_from_logits(p_logits, q_logits):
    """KL(softmax(p_logits) || softmax(q_logits)) over the last axis, shape (...)."""
    ### BEGIN SOLUTION
    logp, logq = my_log_softmax(p_logits), my_log_softmax(q_logits)
    p = torch.exp(logp)
    terms = torch.where(p > 0, p * (logp - logq), torch.zeros_like(p))   # 0 log 0 = 0
    return terms.sum(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-07-kl-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_Cat = torch.distributions.Categorical
_pl, _ql = bigram_logits[:10], bigram_logits[10:20]
_ref = torch.distributions.kl_divergence(_Cat(logits=_pl), _Cat(logits=_ql))       # reference first
_forbidden = ("torch.nn.functional.kl_div", "torch.distributions.kl_divergence", "torch.distributions.kl.kl_divergence",
              "torch.nn.KLDivLoss", "torch.nn.functional.cross_entropy", "course_lib.losses.cross_entropy")
with forbid(*_forbidden, what="the KL divergence"):
    _got = kl_from_logits(_pl, _ql)
expect(_got, _ref, name="ten rows of the bigram table against ten others")
### BEGIN HIDDEN TESTS
_pz = bigram_logits[:5].clone()
_pz[:, ::3] = float("-inf")                                       # p_i = 0 on every third character
_ref = torch.distributions.kl_divergence(_Cat(logits=_pz), _Cat(logits=bigram_logits[5:10]))
with forbid(*_forbidden, what="the KL divergence"):
    _got = kl_from_logits(_pz, bigram_logits[5:10])
expect(_got, _ref, name="zero probabilities in p add nothing")
with forbid(*_forbidden, what="the KL divergence"):
    _self = kl_from_logits(bigram_logits, bigram_logits)
expect(_self, torch.zeros(V), name="KL(p || p) = 0", atol=1e-6)
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
# | perplexity | $e^{\mathcal{L}}$; $V$ for a uniform guess; compare only under one tokenizer | `course_lib.losses.perplexity` |
# | bits per character | $\mathcal{L}/\ln 2$ per character: comparable across tokenizers | (one division) |
#
# `tests/test_losses.py` proves all of them equal to `torch.nn.functional.cross_entropy` (every
# reduction, `ignore_index`, label smoothing) and to autograd, and stable at logits of $\pm 10^4$.
#
# The bigram model scores 2.52 nats (3.64 bits) per character on held-out Shakespeare. In chapter 08 a tiny
# GPT, trained with exactly this loss, sees up to 128 characters of context and gets well below 2 nats.
