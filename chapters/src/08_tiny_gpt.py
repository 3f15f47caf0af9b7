# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/08_tiny_gpt.py; `make notebooks CHAPTERS=08` rebuilds and runs this notebook. -->
# # 08 · A tiny GPT, trained on Shakespeare
#
# Everything so far comes together: characters become ids (chapter 01), attention mixes them
# (04-05), Transformer blocks stack (06), the cross-entropy grades the predictions (07). This
# chapter assembles **GPT-2's exact architecture** at a tiny size, trains it on the plays, and
# makes it write.
#
# **What you will build**
#
# * a character-level data pipeline: vocabulary, 90/10 split, random batches of windows;
# * the GPT, block by block (embeddings, causal self-attention from `course_lib.attention`, MLP,
#   pre-norm residual blocks, weight tying), checked against `transformers`' GPT-2 with our weights;
# * the **parameter count** with pen and paper, reproducing GPT-2's published sizes;
# * training with the course loop (AdamW, warm-up + cosine, clipping), train/val curves read honestly,
#   and an **overfitting** experiment with and without **dropout**;
# * sampling with **temperature**, **top-k** and **top-p**, and why greedy decoding repeats itself;
# * the **KV-cache**, and its speed-up measured against the length of the generated text;
# * the **attention widget** on the trained model; saving and reloading a checkpoint.
#
# **Prerequisites:** chapters 04-07.
#
# **Time:** about an hour to read; the whole notebook runs in about 6 minutes on two CPU cores (full mode; the main
# training run is most of it): 368 s measured for the outputs stored here, on a quiet machine (871 s on a machine busy
# with other full-mode runs). With `COURSE_FAST=1` smaller models train for a few hundred steps.

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
import re
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn

import course_lib
from course_lib import set_seed, pick
from course_lib import fast_mode
from course_lib.checks import check, expect, forbid
from course_lib.datasets import load_text
from course_lib.text import random_batches
from course_lib.attention import scaled_dot_product_attention, causal_mask
from course_lib import pick_device
from course_lib.gpt import GPT, GPTConfig, GPT2_CONFIGS, count_parameters, to_hf
from course_lib.training import TrainConfig, train, plot_losses, lr_at, save_checkpoint, load_checkpoint
from course_lib.widgets import head_view, model_attention, model_view, neuron_view, plot_attention

set_seed(0)
plt.rcParams["figure.dpi"] = 80
torch.set_printoptions(precision=4, sci_mode=False)
device = pick_device("cpu")   # the CPU, so that every reader gets the same numbers; pick_device() would take a GPU
print("device:", device)

# %% [markdown]
# ## 1. The data: characters of Shakespeare
#
# Our tokens are single characters, so the vocabulary is tiny and the model has to learn spelling,
# words and the layout of a play script all by itself.

# %%
text = load_text("shakespeare")
chars = sorted(set(text))
V = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
itos = {i: c for c, i in stoi.items()}


def encode(s: str) -> list[int]:
    return [stoi[c] for c in s]


def decode(ids) -> str:
    return "".join(itos[int(i)] for i in ids)


print(f"{len(text):,} characters, V = {V}:", repr("".join(chars)))
print(encode("ROMEO."), "->", repr(decode(encode("ROMEO."))))

# %% [markdown]
# The first 90 % of the text trains the model; the last 10 % is held out to measure how well it does on
# text it has not seen. The file holds nine plays one after the other, so the held-out part is not a random
# sample of them: it is the end of *King Henry IV, Part 1* (whose first scenes are in the training part) and
# the opening of *Part 2*.

# %%
data = torch.tensor(encode(text), dtype=torch.long)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
print("train", tuple(train_data.shape), " val", tuple(val_data.shape))
plays = [(m.start(), m.group(1)) for m in re.finditer(r"(?m)^([A-Z][A-Z ,'-]+)\n\nby William Shakespeare", text)]
held_out = {}
for (start, title), (end, _) in zip(plays, plays[1:] + [(len(text), None)]):
    in_train, in_val = max(0, min(end, n) - start), max(0, end - max(start, n))
    print(f"{title:32} {in_train:>8,} characters in train  {in_val:>8,} in val")
    if in_val:
        held_out[title] = (in_train, in_val)

# %%
check(held_out, {"KING HENRY IV, THE FIRST PART": (54_162, 84_231), "KING HENRY IV, SECOND PART": (0, 25_767)},
      name="the held-out text: the end of Henry IV Part 1 and the start of Part 2")

# %% [markdown]
# A training example is a window of `block_size` characters $x$ and the same window shifted by one,
# $y$: at every position $t$ the model predicts $y_t = x_{t+1}$ from $x_0..x_t$. One window therefore
# holds `block_size` predictions, with contexts of every length from 1 to `block_size`.

# %%
g = torch.Generator().manual_seed(0)
xb, yb = random_batches(train_data, 32, 4, generator=g)     # block_size 32, batch 4
print("x", tuple(xb.shape), " y", tuple(yb.shape))
print(repr(decode(xb[0])))
print(repr(decode(yb[0])))
for t in range(4):
    print(f"  context {decode(xb[0, :t + 1])!r:>8} -> target {decode(yb[0, t:t + 1])!r}")

# %% [markdown]
# ## 2. The model, block by block
#
# GPT-2 (Radford et al., 2019) is a stack of decoder blocks without cross-attention:
#
# $$h_0 = W_{te}[x] + W_{pe}[0..T-1], \qquad
# h_{l} = h'_{l} + \mathrm{MLP}(\mathrm{LN}(h'_l)),\quad h'_l = h_{l-1} + \mathrm{Attn}(\mathrm{LN}(h_{l-1})), \qquad
# \text{logits} = \mathrm{LN}(h_L)\, W_{te}^{\top}$$
#
# * **learned positions** $W_{pe}$ (a table of `block_size` vectors), added to the token vectors;
# * **pre-norm** blocks: LayerNorm comes *before* each sub-layer, and the residual stream $h$ itself is never normalised;
# * **GELU** in its tanh approximation, $\tfrac12 x\,(1 + \tanh(\sqrt{2/\pi}(x + 0.044715x^3)))$, in an MLP of width $4C$;
# * **weight tying**: the output layer reuses the token-embedding matrix $W_{te}$ (transposed).
#
# We build each piece with the same parameter names as `course_lib.gpt`, so our model can load its weights.

# %%
cfg_demo = GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64, bias=False)
B, T, C, H = 4, 32, cfg_demo.n_embd, cfg_demo.n_head

wte = nn.Embedding(V, C)                          # token embeddings (V, C)
wpe = nn.Embedding(cfg_demo.block_size, C)        # position embeddings (block_size, C)
h0 = wte(xb) + wpe(torch.arange(T))               # (B, T, C) + (T, C) broadcasts over the batch
print("embeddings:", tuple(h0.shape))

# %% [markdown]
# **Causal self-attention.** One Linear makes queries, keys and values at once (GPT-2's `c_attn`);
# they are split into $H$ heads of size $C/H$, each head attends with the causal mask of chapter 04
# (token $t$ sees tokens $\le t$), and `c_proj` mixes the heads back together.

# %%
class MyCausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)   # W_q | W_k | W_v
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)       # W_o

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=-1)                          # 3 x (B, T, C)
        heads = lambda z: z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, hs)
        y, w = scaled_dot_product_attention(heads(q), heads(k), heads(v), causal_mask(T))  # (B, H, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)                             # (B, T, C) heads side by side
        return self.c_proj(y)


attn = MyCausalSelfAttention(cfg_demo)
print("attention out:", tuple(attn(h0).shape))

# %% [markdown]
# **The MLP and the block.**

# %%
class MyMLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))        # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class MyBlock(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = MyCausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MyMLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))     # pre-norm: normalise the input of the sub-layer only
        x = x + self.mlp(self.ln_2(x))
        return x                            # (B, T, C)


print("block out:", tuple(MyBlock(cfg_demo)(h0).shape))

# %% [markdown]
# **Which GELU?** GPT-2 uses the tanh approximation above; the exact GELU is $x\,\Phi(x)$, with $\Phi$ the
# normal distribution function (computed with erf). BERT and nanoGPT use the exact one. How far apart are
# the two curves, and what does each cost on this CPU for the MLP activations of one training batch?

# %%
xs = torch.linspace(-6, 6, 10_001)
gap = (nn.functional.gelu(xs, approximate="tanh") - nn.functional.gelu(xs)).abs()
print(f"largest gap between the two GELUs on [-6, 6]: {gap.max():.1e} at x = {xs[gap.argmax()]:+.2f}")
check(bool(gap.max() < 1e-3), True, name="tanh GELU and exact GELU differ by less than 0.001")

# %%
# NBVAL_IGNORE_OUTPUT
hidden = torch.randn(12, 64, 4 * 128)        # (B, T, 4C): the MLP's hidden layer in benchmarks/gpt.py


def ms_per_call(approximate: str, repeats: int = 50) -> float:
    nn.functional.gelu(hidden, approximate=approximate)          # warm up
    t0 = time.perf_counter()
    for _ in range(repeats):
        nn.functional.gelu(hidden, approximate=approximate)
    return (time.perf_counter() - t0) / repeats * 1e3


tanh_ms, exact_ms = ms_per_call("tanh"), ms_per_call("none")
print(f"tanh GELU {tanh_ms:.2f} ms, exact GELU {exact_ms:.2f} ms per call: the exact one is {tanh_ms / exact_ms:.1f}x faster")

# %% [markdown]
# The curves agree to a few parts in ten thousand, yet a CPU evaluates tanh slowly, and the MLP applies it to
# $4C$ numbers per token, forwards and backwards. We keep GPT-2's tanh GELU so that our model *is* GPT-2
# (`to_hf` gives identical logits). `GPTConfig(..., gelu="exact")` swaps it (and `to_hf` then picks
# transformers' `"gelu"`); `benchmarks/gpt.py` trains both side by side with a nanoGPT-style model and shows
# that this single choice is the whole speed difference between them.

# %% [markdown]
# **The whole GPT.** Embeddings, `n_layer` blocks, a final LayerNorm, and the tied output layer.

# %%
class MyGPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList([MyBlock(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight            # weight tying

    def forward(self, idx):
        T = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))                # (B, T, V)


mine = MyGPT(cfg_demo)
reference = GPT(cfg_demo).eval()
mine.load_state_dict(reference.state_dict())             # same names, same shapes
print("logits:", tuple(mine(xb).shape))
check(mine(xb), reference(xb)[0], name="our GPT = course_lib.gpt.GPT with the same weights", atol=1e-6)

# %% [markdown]
# **Proven against transformers.** `to_hf` copies our weights into a `transformers.GPT2LMHeadModel`
# (built from a `GPT2Config`, nothing downloaded). Its `Conv1D` layers store matrices transposed, and
# it always has biases (set to zero for our bias-free model). Same logits:

# %%
hf = to_hf(reference)
check(hf(input_ids=xb).logits, reference(xb)[0], name="course_lib GPT = transformers GPT2LMHeadModel", atol=1e-5)

# %% [markdown]
# ## 3. How many parameters?
#
# Per block, with $C$ = `n_embd` (no biases): attention $C \cdot 3C + C \cdot C = 4C^2$, MLP
# $C \cdot 4C + 4C \cdot C = 8C^2$, two LayerNorms $2C$. Plus token embeddings $VC$, positions
# $TC$, the final LayerNorm $C$; the output layer is free thanks to weight tying.
#
# $$N = VC + TC + L\,(12C^2 + 2C) + C \qquad (\text{with biases: } +\,L\,(9C + 2C) + C)$$

# %%
for config in (cfg_demo, GPTConfig(V, 64, 4, 4, 128, bias=False), GPTConfig(V, 64, 4, 4, 128, bias=True)):
    allocated = GPT(config).num_parameters()
    print(f"L={config.n_layer} C={config.n_embd} bias={config.bias!s:5}: formula {count_parameters(config):>9,}  "
          f"allocated {allocated:>9,}")
    check(count_parameters(config), allocated, name="formula = allocated", )

# %% [markdown]
# > **Myth, measured: "GPT-2 has 150 million parameters."** The formula needs no memory, so we can
# > evaluate it for the four GPT-2 sizes (vocabulary 50,257, context 1,024, biases on).
#
# Which numbers to compare with? The GPT-2 paper (Radford et al. 2019, Table 2) lists 117M, 345M, 762M and
# 1542M parameters. Those were wrong: the README of OpenAI's `openai/gpt-2` repository notes that the original
# parameter counts were wrong due to an error, in the paper and the early blog posts, which is why the small
# and medium models are often called 117M and 345M. The checkpoints that repository distributes are named
# 124M, 355M, 774M and 1558M, and the formula gives exactly those:

# %%
paper = {"gpt2": 117, "gpt2-medium": 345, "gpt2-large": 762, "gpt2-xl": 1542}       # Table 2 of the paper
released = {"gpt2": 124, "gpt2-medium": 355, "gpt2-large": 774, "gpt2-xl": 1558}    # openai/gpt-2 checkpoint names
counted = {}
for name, config in GPT2_CONFIGS.items():
    counted[name] = count_parameters(config)
    print(f"{name:12} L={config.n_layer:2} H={config.n_head:2} C={config.n_embd:4}: {counted[name]:>13,}   "
          f"paper: {paper[name]:>4}M   checkpoint name: {released[name]:>4}M")
small = counted["gpt2"]
print(f"\nthe smallest GPT-2 has {small / 1e6:.1f} million parameters; '150 million' is off by "
      f"{(150e6 - small) / small:.0%}")
check({k: round(v / 1e6) for k, v in counted.items()}, released, name="the formula gives the checkpoints' sizes")
check(round(small / 1e6), 124, name="GPT-2 small has 124M parameters, not 150M")

# %% [markdown]
# Of GPT-2 small's 124M, 38.6M are the token embeddings ($50{,}257 \times 768$, printed below); without weight
# tying the output layer would add another 38.6M.

# %%
print(f"token embeddings of GPT-2 small: {50257 * 768:,}")
check(round(50257 * 768 / 1e6, 1), 38.6, name="38.6M token embeddings")

# %% [markdown]
#
# ## 4. Train it
#
# First the sanity check from chapter 07: an untrained model should score about $\ln V$.

# %%
# NBVAL_IGNORE_OUTPUT
config = GPTConfig(vocab_size=V, block_size=pick(128, 64), n_layer=pick(4, 2), n_head=4,
                   n_embd=pick(128, 64), dropout=0.0, bias=False)
set_seed(0)
model = GPT(config).to(device)
print(config)
print(f"{model.num_parameters():,} parameters")
xb, yb = random_batches(val_data, config.block_size, 8, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    _, loss0 = model(xb.to(device), yb.to(device))
print(f"loss at initialisation {loss0.item():.4f}, ln V = {math.log(V):.4f}")

# %%
check(abs(loss0.item() - math.log(V)) < 0.15, True, name="initial loss close to ln V")

# %% [markdown]
# The course loop (`course_lib.training.train`) does what every chapter that trains needs:
#
# * **AdamW** with weight decay on the matrices only (not on LayerNorm gains or biases);
# * a learning rate that **warms up** linearly, then follows a **cosine** down to `min_lr`;
# * **gradient clipping** at norm 1; periodic **evaluation** on the same held-out batches;
# * a progress bar, and checkpoints written atomically.

# %%
# NBVAL_IGNORE_OUTPUT
train_cfg = TrainConfig(
    max_iters=pick(2000, 300), batch_size=16, lr=3e-3, min_lr=3e-4, warmup_iters=pick(100, 30),
    weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0, eval_interval=pick(250, 100), eval_iters=pick(25, 10),
    seed=0, progress=False)                    # one line per evaluation instead of a progress bar
steps = range(train_cfg.max_iters)
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.plot(steps, [lr_at(s, train_cfg) for s in steps])
ax.set_xlabel("step"); ax.set_ylabel("learning rate"); ax.set_title("warm-up, then cosine decay")
fig.tight_layout()
print(f"{train_cfg.max_iters} steps x {train_cfg.batch_size} windows x {config.block_size} characters = "
      f"{train_cfg.max_iters * train_cfg.batch_size * config.block_size:,} training tokens")

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
history = train(model, train_data, val_data, train_cfg)
minutes = (time.perf_counter() - t0) / 60
print(f"trained in {minutes:.1f} minutes, {history.tokens_per_sec:,.0f} tokens/s; "
      f"final val loss {history.final_val:.4f} (perplexity {math.exp(history.final_val):.2f})")

# %%
# full mode: the target is a validation loss of at most 1.80; fast mode: clearly below ln V
check(history.final_val < pick(1.80, math.log(V) - 1.0), True, name="validation loss below the target")
check(history.eval_val[-1] < history.eval_val[0], True, name="validation loss fell during training")

# %%
# NBVAL_IGNORE_OUTPUT
# full mode only: the numbers the text below states (chapter 07's bigram model scored 2.52 on the same text)
if not fast_mode():
    assert check(abs(history.final_val - 1.66) < 0.015, True, name="validation loss 1.66")

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_losses(history, title=f"tiny GPT, {model.num_parameters():,} parameters")
fig.axes[0].axhline(math.log(V), color="grey", ls=":", label="ln V")
fig.axes[0].legend()
plt.show()

# %% [markdown]
# ### Reading the two curves
#
# Both curves fall, but they do not stay together. The gap between them (validation minus training loss),
# evaluation by evaluation:

# %%
# NBVAL_IGNORE_OUTPUT
gaps = [v - t for t, v in zip(history.eval_train, history.eval_val)]
for step, t, v, gap in zip(history.eval_steps, history.eval_train, history.eval_val, gaps):
    print(f"step {step:>5}: train {t:.3f}  val {v:.3f}  gap {gap:+.3f}")

# %% [markdown]
# The gap is under 0.05 nats at step 250 and grows to about 0.20 at the end (train 1.46, val 1.66). Two
# things contribute to it.
#
# * **The held-out text is other text.** It is the end of one history play and the start of the next, not a
#   sample of all nine plays. Even chapter 07's bigram model, whose 77 x 77 counts from a million characters cannot
#   memorise anything, scores worse on it than on its own training text (measured below): that part of the gap
#   is the difference between the texts, not a flaw of the model.
# * **The model starts to fit its training text in particular.** The rest of the gap, most of it, appeared
#   while the model learnt words, names and phrases: it is the beginning of overfitting. With 0.8 M parameters
#   and 4 M training tokens (about four passes over the plays) it is mild here. The experiment after the next
#   cell makes overfitting large enough to see.

# %%
counts = torch.zeros(V, V)
counts.index_put_((train_data[:-1], train_data[1:]), torch.ones(len(train_data) - 1), accumulate=True)
bigram = torch.log(counts + 1)                                           # chapter 07's bigram model
bigram_train = nn.functional.cross_entropy(bigram[train_data[:-1]], train_data[1:]).item()
bigram_val = nn.functional.cross_entropy(bigram[val_data[:-1]], val_data[1:]).item()
print(f"bigram model: train {bigram_train:.3f}, val {bigram_val:.3f}, gap {bigram_val - bigram_train:+.3f} nats")
check(round(bigram_val - bigram_train, 3), 0.045, name="the bigram model's gap: 0.045 nats of different text")

# %%
# NBVAL_IGNORE_OUTPUT
if not fast_mode():
    assert check(abs(gaps[1]) < 0.05, True, name="gap under 0.05 nats at step 250")
    assert check(gaps[-1] > gaps[1] + 0.1, True, name="the gap grows by more than 0.1 nats after step 250")
    assert check(abs(gaps[-1] - 0.20) < 0.02, True, name="final gap 0.20 nats")
    assert check(abs(history.eval_train[-1] - 1.46) < 0.015, True, name="final train loss 1.46")

# %% [markdown]
# ### Overfitting, and what dropout does about it
#
# To see overfitting clearly, give a small model (the 2-layer, 64-wide configuration of section 2) far too
# little text: the first 100,000 training characters only (three quarters of *All's Well That Ends Well*), and 1,500
# steps of 16 windows of 64 characters, about 15 passes over it. Then train the same model again with
# **dropout** 0.2: during training every dropout layer (after the embeddings, on the attention weights, after
# each residual branch) zeroes each activation with probability $p$ and scales the survivors by $1/(1-p)$, so
# the model cannot rely on any single unit; at evaluation dropout is off. Both runs are evaluated on the same
# held-out text as before.

# %%
# NBVAL_IGNORE_OUTPUT
small_train = train_data[:pick(100_000, 20_000)]
runs = {}
for p_drop in (0.0, 0.2):
    set_seed(0)
    small = GPT(GPTConfig(vocab_size=V, block_size=64, n_layer=2, n_head=4, n_embd=64, dropout=p_drop, bias=False))
    small_cfg = TrainConfig(max_iters=pick(1500, 60), batch_size=16, lr=3e-3, min_lr=3e-4, warmup_iters=pick(100, 10),
                            eval_interval=pick(250, 30), eval_iters=pick(20, 3), seed=0, progress=False)
    runs[p_drop] = train(small.to(device), small_train, val_data, small_cfg, print_fn=lambda line: None)
    h = runs[p_drop]
    print(f"dropout {p_drop}: train {h.eval_train[-1]:.3f}  val {h.eval_val[-1]:.3f}  gap {h.eval_val[-1] - h.eval_train[-1]:+.3f}"
          f"  (best val {min(h.eval_val):.3f} at step {h.eval_steps[h.eval_val.index(min(h.eval_val))]})")
fig, ax = plt.subplots(figsize=(7, 3.2))
for (p_drop, h), color in zip(runs.items(), ("tab:red", "tab:blue")):
    ax.plot(h.eval_steps, h.eval_train, "--", color=color, label=f"train, dropout {p_drop}")
    ax.plot(h.eval_steps, h.eval_val, "-o", ms=3, color=color, label=f"val, dropout {p_drop}")
ax.set_xlabel("step"); ax.set_ylabel("cross-entropy (nats)"); ax.set_ylim(1.0, 3.5)
ax.set_title("a small model on 100,000 characters: overfitting with and without dropout"); ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# %%
# NBVAL_IGNORE_OUTPUT
gap_of = {p: h.eval_val[-1] - h.eval_train[-1] for p, h in runs.items()}
if not fast_mode():
    assert check(runs[0.0].eval_train[-1] < runs[0.2].eval_train[-1], True, name="dropout makes the training loss higher")
    assert check(gap_of[0.0] > 0.3, True, name="without dropout the small model overfits: gap above 0.3 nats")
    assert check(gap_of[0.2] < gap_of[0.0] - 0.1, True, name="dropout 0.2 shrinks the gap by more than 0.1 nats")
    early_gap = runs[0.0].eval_val[1] - runs[0.0].eval_train[1]           # at the second evaluation
    assert check(gap_of[0.0] > early_gap + 0.2, True, name="without dropout the gap widens by more than 0.2 nats "
                 f"between step {runs[0.0].eval_steps[1]} and the end")

# %% [markdown]
# Without dropout the small model memorises its 100,000 characters: its training loss keeps falling while the
# validation loss falls far less, so the gap between them widens as training goes on, the signature of
# overfitting (the printed best-validation step says whether, in this run, the validation loss has already
# started to climb again). Dropout makes the
# training task harder (the training loss is higher) and keeps the two curves closer; whether it also gives a
# lower validation loss depends on how much the model overfits, which the printed numbers show for this run.
# The main model above sees ten times more distinct text (990,000 characters, four passes in 2,000 steps) and
# trains with dropout 0: its gap of 0.20 nats is the mild beginning of what this experiment exaggerates.
#
# ## 5. Make it write: temperature, top-k, top-p
#
# To sample, feed a prompt, take the logits of the last position, turn them into probabilities and
# draw one character; append it and repeat.
#
# * **temperature** $\tau$: $p = \operatorname{softmax}(z/\tau)$. $\tau < 1$ sharpens the distribution (safer,
#   more repetitive), $\tau > 1$ flattens it (more surprising, more mistakes), $\tau \to 0$ is greedy.
# * **top-k**: keep only the $k$ most likely characters.
# * **top-p** (nucleus sampling, Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration"): keep the
#   most likely characters until their probability reaches $p$, so the number kept adapts to how sure the model is.
#
# `model.generate` is `course_lib.generation.generate`, one loop for any causal language model (chapter 13's
# models use it too); `course_lib.generation.filter_logits` applies top-k and top-p.

# %%
# NBVAL_IGNORE_OUTPUT
prompt = torch.tensor([encode("ROMEO.\n")], device=device)
for temperature in (0.5, 0.8, 1.2):
    out = model.generate(prompt, pick(300, 80), temperature=temperature, seed=0)
    print(f"----- temperature {temperature} -----")
    print(decode(out[0]))

# %%
# NBVAL_IGNORE_OUTPUT
for kwargs in (dict(top_k=5), dict(top_p=0.9), dict(temperature=0.8, top_k=10, top_p=0.95)):
    out = model.generate(prompt, pick(300, 80), seed=1, **kwargs)
    print(f"----- {kwargs} -----")
    print(decode(out[0]))

# %%
first = model.generate(prompt, 200, temperature=0.8, seed=0)
again = model.generate(prompt, 200, temperature=0.8, seed=0)
other_seed = model.generate(prompt, 200, temperature=0.8, seed=1)
check(torch.equal(first, again), True, name="the same seed gives the same text")
check(torch.equal(first, other_seed), False, name="another seed gives another text")
sample = decode(first[0])

# %% [markdown]
# How many characters does top-p keep? It depends on how sure the model is at that point:

# %%
# NBVAL_IGNORE_OUTPUT
with torch.no_grad():
    logits, _ = model(torch.tensor([encode("KING HENRY.\nWhat say")], device=device))
for label, z in (("after 'What say'", logits[0, -1]), ("after 'KING HENRY.\\nW'", logits[0, 12])):
    p = torch.softmax(z, -1).sort(descending=True).values
    kept = int(((p.cumsum(0) - p) < 0.9).sum())
    print(f"{label:24}: top-p 0.9 keeps {kept:2} characters; most likely: "
          f"{[decode([int(i)]) for i in torch.softmax(z, -1).topk(5).indices]}")

# %% [markdown]
# ## 6. The KV-cache
#
# Without a cache, generating token $t$ recomputes queries, keys and values for all $t$ earlier
# tokens, which is quadratic work over a whole sample. But the keys and values of earlier tokens never
# change (the mask stops them from seeing later ones), so we store them per layer and feed only
# the newest token: its query attends to the cached keys. Same numbers, less work.

# %%
greedy_cached = model.generate(prompt, 100, temperature=0, use_cache=True)
greedy_plain = model.generate(prompt, 100, temperature=0, use_cache=False)
check(decode(greedy_cached[0]), decode(greedy_plain[0]), name="greedy text with and without the cache")

# %% [markdown]
# **Greedy decoding repeats itself.** The greedy text (temperature 0, the most likely character every time):

# %%
# NBVAL_IGNORE_OUTPUT
def longest_run(s: str, shortest: int = 4, longest: int = 20) -> tuple[int, str]:
    """The most consecutive repeats of one piece of 4-20 characters anywhere in s, and that piece."""
    best = (1, "")
    for size in range(shortest, longest + 1):
        for i in range(len(s) - size):
            unit, k = s[i:i + size], 1
            while s[i + k * size:i + (k + 1) * size] == unit:
                k += 1
            best = max(best, (k, unit))
    return best


greedy_text = decode(greedy_cached[0])
print(greedy_text)
greedy_run, sampled_run = longest_run(greedy_text[len("ROMEO.\n"):]), longest_run(sample[len("ROMEO.\n"):])
print(f"\ngreedy: {greedy_run[1]!r} {greedy_run[0]} times in a row;  sampled at temperature 0.8: at most "
      f"{sampled_run[0]} in a row")

# %%
# NBVAL_IGNORE_OUTPUT
if not fast_mode():
    assert check(greedy_run[0] >= 3, True, name="the greedy text repeats a phrase at least 3 times in a row")
    assert check(sampled_run[0] <= 2, True, name="the sampled text does not")

# %% [markdown]
# Greedy decoding is deterministic: once the context ends in a phrase after which the same phrase is the
# single most likely continuation, it must write that phrase again, and the context after it is the same kind
# of context, so the loop closes. Nothing in the argmax can leave it. Sampling leaves it because it sometimes
# picks a less likely character; this degeneration of the most-likely path is what led Holtzman et al. to
# nucleus sampling. (A larger, better-trained model loops later, but greedy decoding loops all the same.)
#
# **How much faster is the cache?** Without it, the step that writes token $t$ runs the model on all $t$
# tokens of the context; with it, on one token whose query attends to the $t$ cached keys. So the work of a
# whole sample grows like $t^2$ without the cache and like $t$ with it (apart from the attention over the
# cache, which is small here), and the speed-up should grow with the length of the text. To measure it over
# longer texts than our model's 128-position window, we time an *untrained* model of the same shape with a
# 512-position window (the time per token does not depend on the weights), on one thread so that the two
# paths compete fairly on a shared machine.

# %%
# NBVAL_IGNORE_OUTPUT
set_seed(0)
timer = GPT(GPTConfig(**{**config.to_dict(), "block_size": pick(512, 64)})).to(device).eval()
lengths = pick([25, 57, 121, 249, 505], [9, 25, 57])            # prompt (7) + new tokens = 32 ... 512
threads = torch.get_num_threads()
torch.set_num_threads(1)
speedups = {}
try:
    for n_new in lengths:
        seconds = {False: [], True: []}
        for use_cache in (False, True, False, True):            # alternate, to be fair to a busy machine
            t0 = time.perf_counter()
            timer.generate(prompt, n_new, temperature=0, use_cache=use_cache)
            seconds[use_cache].append(time.perf_counter() - t0)
        plain, cached = min(seconds[False]), min(seconds[True])
        speedups[n_new] = plain / cached
        print(f"{n_new:>4} new tokens: without cache {plain * 1e3:7.0f} ms, with cache {cached * 1e3:5.0f} ms, "
              f"speed-up {plain / cached:5.1f}x")
finally:
    torch.set_num_threads(threads)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(list(speedups), list(speedups.values()), "o-")
ax.set_xlabel("tokens generated"); ax.set_ylabel("speed-up of the KV-cache (x)")
ax.set_title("KV-cache speed-up against the length of the text (one thread)"); ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
ratios = list(speedups.values())
if not fast_mode():                                 # timings: a fast-mode run on a busy machine proves nothing
    assert check(ratios[-1] > ratios[0] and ratios[-1] > ratios[2], True, name="the speed-up grows with the length of the text")
    assert check(ratios[-1] > 4, True, name="more than 4x faster at 505 tokens")

# %% [markdown]
# The speed-up grows with the length of the text, as the count of work predicts. For a model with a 1,024-token
# window, or a chat that goes on for thousands of tokens, the cache is what makes generation affordable. Its
# price is memory: two (B, H, T, hs) tensors per layer, which for large models is why chapter 13's grouped-query
# attention keeps fewer key/value heads (the same `KVCache` stores whatever number of heads the model writes).
#
# ## 7. Looking inside: attention of the trained model
#
# `model.attention_maps(idx)` returns the attention weights of every layer and head, shape
# (L, B, H, T, T), for a batch; the views below take the model itself and one text, run it with
# `need_weights` and draw what it attended to (without a widget front end, a static picture of every head
# is shown instead).

# %%
snippet = "ROMEO.\nBut soft, what light"
ids = torch.tensor([encode(snippet)], device=device)
maps = model.attention_maps(ids)                     # (L, B, H, T, T)
check(maps.shape, (config.n_layer, 1, config.n_head, len(snippet), len(snippet)), name="maps of shape (L, B, H, T, T)")
check(maps.sum(-1), torch.ones(maps.shape[:-1]), name="every row is a probability distribution", atol=1e-5)
check(bool((maps.triu(diagonal=1) == 0).all()), True, name="no attention to the future")

# %% [markdown]
# **Every layer and head at once: the model view.** One thumbnail per (layer, head), rows the layers, columns the
# heads; click one to open it large, hover a row there to read its numbers. One colour scale is shared by all
# sixteen maps, so a head that spreads its weight over the past looks pale and a head that reads one character
# looks dark: on each map's own scale they would look equally dark. Each map is a lower triangle (no attention
# to the future). Look for heads whose dark cells sit just below the diagonal: they read the **previous**
# character; dark cells on the diagonal read the character itself; a dark first column reads the first
# character of the window whatever it is.

# %%
# NBVAL_IGNORE_OUTPUT
model_view(model, list(snippet), ids=ids[0], title="tiny GPT after training: every layer x head, one colour scale")

# %% [markdown]
# One text is an anecdote; the next cell measures, for every head, where its weight goes on average over 64
# windows of held-out text: on the previous character (offset −1), on the one before it (−2), on the character
# itself (offset 0), on the first position of the window, and how concentrated a row is (its largest weight).

# %%
# NBVAL_IGNORE_OUTPUT
# (which head does what depends on the training run: fast mode trains a smaller model for less)
x_heads, _ = random_batches(val_data, config.block_size, 64, generator=torch.Generator().manual_seed(7))
all_maps = model.attention_maps(x_heads.to(device)).cpu()          # (L, 64, H, T, T)
on_prev = all_maps.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(1, 3))   # (L, H)
on_prev2 = all_maps.diagonal(offset=-2, dim1=-2, dim2=-1).mean(dim=(1, 3))  # (L, H)
on_self = all_maps.diagonal(offset=0, dim1=-2, dim2=-1)[..., 1:].mean(dim=(1, 3))   # (L, H), rows 1.. (row 0 has no choice)
on_first = all_maps[..., 1:, 0].mean(dim=(1, 3))                     # (L, H)
row_max = all_maps[..., 1:, :].max(dim=-1).values.mean(dim=(1, 3))   # (L, H)
print("layer head | previous  two back  itself  first  | largest weight of a row")
for l in range(config.n_layer):
    for h in range(config.n_head):
        print(f"{l:>5} {h:>4} |   {on_prev[l, h]:.2f}      {on_prev2[l, h]:.2f}     {on_self[l, h]:.2f}    "
              f"{on_first[l, h]:.2f}  |   {row_max[l, h]:.2f}")
prev_layer, prev_head = divmod(int(on_prev.argmax()), config.n_head)
print(f"the head that reads the previous character most: layer {prev_layer}, head {prev_head} "
      f"({on_prev[prev_layer, prev_head]:.0%} of its weight)")

# %%
# NBVAL_IGNORE_OUTPUT
if not fast_mode():
    others = torch.ones(config.n_layer, config.n_head, dtype=torch.bool)
    others[0, 2:4] = False                                          # all heads but layer 0's heads 2 and 3
    assert check((prev_layer, prev_head), (0, 3), name="the previous-character head is layer 0, head 3")
    assert check(bool(0.90 < on_prev[0, 3] < 0.94 and 0.65 < on_prev2[0, 2] < 0.70 and 0.66 < row_max[0, 2] < 0.70),
                 True, name="92 % on the previous character; layer 0, head 2: 0.68 on two back, largest weight 0.68")
    assert check(bool(row_max[others].min() > 0.22 and row_max[others].max() < 0.56 and on_first.max() <= 0.035),
                 True, name="every other head spreads (largest weight 0.24 to 0.54); nobody parks on the first position")

# %% [markdown]
# Two heads of the first layer are specialists. **Layer 0, head 3 reads the previous character**: 92 % of its
# weight lands there, and on the shared scale its thumbnail is a dark line just below the diagonal. **Layer 0,
# head 2 reads the character two back**: 0.68 of its weight (the "two back" column), the dark line one step
# further from the diagonal. Between them, every position reads its last two characters. The other fourteen heads spread their weight over the past (a row's largest weight
# averages 0.24 to 0.54): they mix many earlier characters, which is why their thumbnails are pale. And no head
# parks its weight on the first position of the window (at most 0.03 there).

# %% [markdown]
# **All heads of a layer overlaid: the head view.** Every head of the chosen layer at once, one colour per head,
# a line from each character (left) to the characters it reads (right); switch heads off and on with the
# buttons. Hover a character on the left to keep only what it reads, one on the right to keep only who reads it.
# In the layer of the previous-character head, that head's lines all slope by one row, while the others fan out
# over the past.

# %%
# NBVAL_IGNORE_OUTPUT
head_view(model, list(snippet), ids=ids[0], title="tiny GPT after training: heads overlaid")

# %% [markdown]
# **One weight, step by step: the neuron view.** For the previous-character head, pick a query character and a
# key character: the view shows the query vector $q$ of that position (the head's $C / H$ numbers, red positive, blue
# negative), the key vector $k$ of every earlier character, their element-wise product, its sum $q \cdot k$, the
# division by $\sqrt{C / H}$, and the softmax over the row, with the arithmetic of the chosen key written out. The
# numbers are recomputed from the inputs of the model's own attention module, and the view refuses to draw if
# they do not give the weights the model returned. We run it on the first 16 characters of the snippet: in a
# causal model the first 16 rows do not depend on what comes after them, so they are the rows of the whole text.
# Later keys are masked: their score is set to $-\infty$, so softmax gives them nothing.

# %%
# NBVAL_IGNORE_OUTPUT
neuron_view(model, list(snippet[:16]), ids=ids[0, :16], layer=prev_layer, head=prev_head,
            title="tiny GPT, the previous-character head")

# %% [markdown]
# What to look for: for every query, the previous character's row has the largest score and most of the weight.
# The next cell measures by how much, over the first 32 of the held-out windows, with `model_attention` (what
# the views run: one sequence at a time, the queries $q$, keys $k$ and masks of every layer).

# %%
# NBVAL_IGNORE_OUTPUT
# (depends on the training run: fast mode trains a smaller model for less)
leads, agree = [], []
for window in x_heads[:32]:
    run = model_attention(model, ids=window)                        # one sequence: q (L, H, T, d), k, allowed
    q, k = run.q[prev_layer, prev_head], run.k[prev_layer, prev_head]   # (T, d)
    scores = np.where(run.allowed[prev_layer], q @ k.T * run.scale, -np.inf)   # (T, T) q.k / sqrt(d), masked
    t = np.arange(1, len(window))
    rest = scores[t].copy()
    rest[np.arange(len(t)), t - 1] = -np.inf
    leads.append(scores[t, t - 1] - rest.max(axis=-1))              # previous character minus the best other key
    agree.append((q[t] * k[t - 1] > 0).sum(axis=-1))                # products q_i k_i > 0
leads, agree = np.concatenate(leads), np.concatenate(agree)
d_head = q.shape[-1]
print(f"previous character minus the best other key: median {np.median(leads):.2f} in scaled score "
      f"(positive for {(leads > 0).mean():.1%} of the positions); products > 0: {agree.mean():.1f} of {d_head}")
if not fast_mode():
    assert check(bool(3.6 < np.median(leads) < 3.95 and (leads > 0).mean() > 0.99 and 23 < agree.mean() < 24.2), True,
                 name="a median lead of 3.8, positive almost everywhere, about 24 of 32 products agree")

# %% [markdown]
# The previous character leads the best other key by a median of 3.8 in scaled score, so it gets about
# $e^{3.8} \approx 45$ times the weight of the runner-up, at almost every position; and about 24 of the 32 products
# $q_i k_i$ are positive: as in chapter 05, the score is a vote of many dimensions.

# %%
# NBVAL_IGNORE_OUTPUT
fig = plot_attention(maps[:, 0].cpu(), list(snippet), layer=config.n_layer - 1, head="mean")
plt.show()

# %% [markdown]
# ## 8. Save and reload
#
# `save_checkpoint` writes the model, optimizer, schedule, step and random states to a temporary
# file and renames it over the target, so an interrupted save never leaves a broken checkpoint.
# `load_checkpoint` reads it with `torch.load(..., weights_only=True)` (no arbitrary code) and
# refuses a checkpoint made for another configuration (fields added to `GPTConfig` since the checkpoint was
# written take their defaults). It leaves your random state alone unless you pass `restore_rng=True`, which
# resuming a training run does. (`checkpoints/` is ignored by git.)

# %%
# NBVAL_IGNORE_OUTPUT
ckpt = save_checkpoint(Path("checkpoints") / "08_tiny_gpt.pt", model, step=train_cfg.max_iters, history=history)
print(f"saved {ckpt.as_posix()} ({ckpt.stat().st_size / 1e6:.1f} MB)")

# %%
reloaded = GPT(config).to(device)
payload = load_checkpoint(ckpt, reloaded)
xb, _ = random_batches(val_data, config.block_size, 2, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    check(reloaded.eval()(xb.to(device))[0], model.eval()(xb.to(device))[0], name="reloaded model, same logits")
check(payload["step"], train_cfg.max_iters, name="the step is stored")

# %%
# NBVAL_IGNORE_OUTPUT
other = GPT(GPTConfig(vocab_size=V, block_size=config.block_size, n_layer=1, n_head=4, n_embd=32)).to(device)
try:
    load_checkpoint(ckpt, other)
    refused = None
except ValueError as e:
    refused = str(e)
    print("ValueError:", e)

# %%
check(refused is not None and "n_embd" in refused and "n_layer" in refused, True,
      name="a checkpoint of another config is refused, naming the fields")

# %% [markdown]
# ## 9. Exercises
#
# Each test runs your function with the library functions that would answer it switched off (`forbid`).
#
# ### Exercise 1: the nucleus, by hand
#
# Write `top_p_filter(logits, p)` for the logits of one position, shape (V,): keep the most likely characters,
# in order of probability, while the probability of the characters before them is below `p` (so the kept set is
# the smallest whose probability reaches `p`), and set every other logit to `-inf`. Section 5 counted the
# characters this keeps; now build the filter. Use `torch.softmax`, `torch.sort`, `cumsum`.

# %% nbgrader={"grade": false, "grade_id": "ex-08-top-p", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_p_filter(logits, p):
    """logits (V,) -> (V,) with everything outside the top-p nucleus set to -inf."""
    ### BEGIN SOLUTION
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True)
    before = sorted_probs.cumsum(0) - sorted_probs               # probability of the more likely characters
    drop = torch.zeros_like(logits, dtype=torch.bool)
    drop[order] = before >= p
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-08-top-p-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.generation import filter_logits
_z = torch.log(torch.tensor([0.1, 0.5, 0.05, 0.3, 0.05]))
_refs = {p: filter_logits(_z[None], top_p=p)[0] for p in (0.5, 0.7, 0.85, 1.0)}     # references first
_forbidden = ("course_lib.generation.filter_logits", "course_lib.gpt.filter_logits",
              "course_lib.generation.sample_next", "transformers.generation.TopPLogitsWarper")
with forbid(*_forbidden, what="top-p filtering"):
    _got = {p: top_p_filter(_z, p) for p in _refs}
for _p in _refs:
    expect(_got[_p], _refs[_p], name=f"top-p {_p} on probabilities 0.1, 0.5, 0.05, 0.3, 0.05")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    _last = model(prompt)[0][0, -1].cpu()
_ref = filter_logits(_last[None], top_p=0.9)[0]
with forbid(*_forbidden, what="top-p filtering"):
    _got = top_p_filter(_last, 0.9)
expect(_got, _ref, name="top-p 0.9 on the trained model's logits")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: parameters without weight tying
#
# Write `gpt_parameters(V, T, L, C, bias, tied)`: the number of parameters of a GPT with vocabulary `V`,
# `T` positions, `L` blocks of width `C`, with or without biases, and with the output layer either **tied** to
# the token embeddings (as in this chapter) or a separate $C \times V$ matrix (`tied=False`, without bias, as in
# transformers' `GPT2LMHeadModel(tie_word_embeddings=False)`). Section 3 gives the pieces.

# %% nbgrader={"grade": false, "grade_id": "ex-08-untied-params", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gpt_parameters(V, T, L, C, bias, tied=True):
    """Parameters of a GPT-2-style model, with or without weight tying."""
    ### BEGIN SOLUTION
    b = int(bias)
    layer_norm = C + b * C
    block = 2 * layer_norm + (3 * C * C + b * 3 * C) + (C * C + b * C) + (4 * C * C + b * 4 * C) + (4 * C * C + b * C)
    total = V * C + T * C + L * block + layer_norm
    return total if tied else total + V * C
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-08-untied-params-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
import transformers
_untied = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=V, n_positions=64, n_embd=32, n_layer=2,
                                                                n_head=4, tie_word_embeddings=False))
_ref_untied = sum(p.numel() for p in _untied.parameters())        # transformers, untied, with biases
_ref_tied = sum(p.numel() for p in GPT(GPTConfig(V, 64, 2, 4, 32, bias=False)).parameters())
_forbidden = ("course_lib.gpt.count_parameters", "course_lib.gpt.GPT.num_parameters", "torch.nn.Module.parameters",
              "torch.nn.Module.named_parameters", "torch.nn.Module.state_dict")
with forbid(*_forbidden, what="the parameter count"):
    _got_untied, _got_tied = gpt_parameters(V, 64, 2, 32, True, tied=False), gpt_parameters(V, 64, 2, 32, False)
expect(_got_untied, _ref_untied, name="untied, with biases = transformers GPT2LMHeadModel(tie_word_embeddings=False)")
expect(_got_tied, _ref_tied, name="tied, without biases = course_lib GPT")
### BEGIN HIDDEN TESTS
_ref_small = sum(p.numel() for p in transformers.GPT2LMHeadModel(transformers.GPT2Config()).parameters())
with forbid(*_forbidden, what="the parameter count"):
    _got_small = gpt_parameters(50257, 1024, 12, 768, True)
    _got_big = gpt_parameters(50257, 1024, 48, 1600, True, tied=False)
expect(_got_small, _ref_small, name="GPT-2 small = transformers' default GPT2Config")
expect(_got_big, 1_557_611_200 + 50257 * 1600, name="GPT-2 XL untied")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: warm-up, hold, then cosine
#
# Some recent runs keep the peak learning rate for a while before decaying it ("warm-up, stable, decay").
# Write `wsd_lr(step, warmup, hold, total, lr, min_lr)`: linear warm-up `lr * (step + 1) / warmup` for
# `step < warmup`; then `lr` for `hold` steps; then a cosine from `lr` down to `min_lr`, reached at step `total`;
# `min_lr` afterwards. With `hold=0` it is the chapter's schedule.

# %% nbgrader={"grade": false, "grade_id": "ex-08-wsd", "locked": false, "schema_version": 3, "solution": true, "task": false}
def wsd_lr(step, warmup, hold, total, lr, min_lr):
    """Warm-up, hold at lr, then cosine decay to min_lr at step total."""
    ### BEGIN SOLUTION
    if step < warmup:
        return lr * (step + 1) / warmup
    if step < warmup + hold:
        return lr
    if step >= total:
        return min_lr
    progress = (step - warmup - hold) / (total - warmup - hold)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-08-wsd-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_steps = (0, 49, 50, 120, 149, 150, 200, 325, 499, 500, 600)
# references first: the cosine part is lr_at's cosine (warm-up 50, decay over 350 steps) shifted by the hold
_cfg = TrainConfig(max_iters=400, lr=1e-3, min_lr=1e-4, warmup_iters=50)
_ref = [lr_at(s, _cfg) if s < 50 else 1e-3 if s < 150 else lr_at(s - 100, _cfg) for s in _steps]
_forbidden = ("course_lib.training.lr_at", "torch.optim.lr_scheduler.LambdaLR", "torch.optim.lr_scheduler.CosineAnnealingLR",
              "torch.optim.lr_scheduler.SequentialLR")
with forbid(*_forbidden, what="the schedule"):
    _got = [wsd_lr(s, 50, 100, 500, 1e-3, 1e-4) for s in _steps]
expect(_got, _ref, name="warm-up 50, hold 100, cosine to step 500")
### BEGIN HIDDEN TESTS
_cfg0 = TrainConfig(max_iters=100, lr=3.0, min_lr=0.5, warmup_iters=10)
_ref0 = [lr_at(s, _cfg0) for s in range(0, 120, 7)]
with forbid(*_forbidden, what="the schedule"):
    _got0 = [wsd_lr(s, 10, 0, 100, 3.0, 0.5) for s in range(0, 120, 7)]
expect(_got0, _ref0, name="hold 0 is the chapter's schedule")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | piece | in `course_lib` |
# |---|---|
# | configuration, the four GPT-2 sizes | `course_lib.gpt.GPTConfig`, `GPT2_CONFIGS` |
# | the model: embeddings, pre-norm blocks, tanh-GELU MLP, weight tying | `course_lib.gpt.GPT`, `Block`, `CausalSelfAttention`, `MLP` |
# | attention inside each block | `course_lib.attention.scaled_dot_product_attention` |
# | parameter count without allocating | `course_lib.gpt.count_parameters` |
# | sampling with temperature, top-k, top-p; stop tokens; KV-cache (any causal LM) | `course_lib.generation.generate` (= `GPT.generate`), `sample_next`, `filter_logits`, `KVCache` |
# | attention maps, views straight from the model | `GPT.attention_maps`; `course_lib.widgets.model_view`, `head_view`, `neuron_view` |
# | to and from transformers | `course_lib.gpt.to_hf`, `from_hf` |
# | training loop, schedule, curves, checkpoints | `course_lib.training.train`, `lr_at`, `plot_losses`, `save_checkpoint`, `load_checkpoint` |
#
# `tests/test_gpt.py` proves the model equal to `transformers`' GPT2LMHeadModel (logits within
# $10^{-5}$, both directions), the KV-cache equal to the uncached path, and the parameter formula
# equal to instantiated models; `tests/test_generation.py` proves one `generate` right for a model that is not a
# GPT (with a cache of fewer key/value heads) and its filters equal to transformers' top-k/top-p warpers;
# `tests/test_training.py` proves that resuming from a checkpoint gives exactly the losses of an uninterrupted
# run. `python -m course_lib.gpt --smoke` trains briefly with the course loop on whatever device
# `course_lib.pick_device()` finds (cuda, mps or cpu) and reports its speed. To train this chapter's model on a
# GPU, replace `pick_device("cpu")` in the imports cell by `pick_device()`: the model moves with `.to(device)` and
# the rest of the code is the same (the numbers then differ slightly from the ones printed here).
