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
# * training with the course loop (AdamW, warm-up + cosine, clipping) and train/val curves;
# * sampling with **temperature**, **top-k** and **top-p**; the **KV-cache** and its speed-up;
# * the **attention widget** on the trained model; saving and reloading a checkpoint.
#
# **Prerequisites:** chapters 04-07.
#
# **Time:** about an hour to read; the full training run takes under 10 minutes on two CPU cores
# (with `COURSE_FAST=1` a smaller model trains for a few hundred steps in about a minute).

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
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn as nn

import course_lib
from course_lib import set_seed, pick
from course_lib.checks import check, expect
from course_lib.datasets import load_text
from course_lib.text import random_batches
from course_lib.attention import scaled_dot_product_attention, causal_mask
from course_lib import pick_device
from course_lib.gpt import GPT, GPTConfig, GPT2_CONFIGS, count_parameters, to_hf
from course_lib.training import TrainConfig, train, plot_losses, lr_at, save_checkpoint, load_checkpoint
from course_lib.widgets import attention_view, plot_attention

set_seed(0)
plt.rcParams["figure.dpi"] = 80
torch.set_printoptions(precision=4, sci_mode=False)
device = pick_device("cpu")          # pick_device() alone would choose cuda or mps when present
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
# The first 90 % of the text trains the model; the last 10 % (plays it never sees) measures how well
# it generalises.

# %%
data = torch.tensor(encode(text), dtype=torch.long)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
print("train", tuple(train_data.shape), " val", tuple(val_data.shape))

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
# > evaluate it for the four published GPT-2 sizes (vocabulary 50,257, context 1,024, biases on):

# %%
published = {"gpt2": "124M", "gpt2-medium": "355M", "gpt2-large": "774M", "gpt2-xl": "1.5B (1558M)"}
for name, config in GPT2_CONFIGS.items():
    print(f"{name:12} L={config.n_layer:2} H={config.n_head:2} C={config.n_embd:4}: "
          f"{count_parameters(config):>13,}   published: {published[name]}")
small = count_parameters(GPT2_CONFIGS["gpt2"])
print(f"\nthe smallest GPT-2 has {small / 1e6:.1f} million parameters; '150 million' is off by "
      f"{(150e6 - small) / small:.0%}")
check(round(small / 1e6), 124, name="GPT-2 small has 124M parameters, not 150M")

# %% [markdown]
# Of GPT-2 small's 124M, 38.6M are the token embeddings ($50{,}257 \times 768$); without weight tying
# the output layer would add another 38.6M.
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
    seed=0)
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
fig = plot_losses(history, title=f"tiny GPT, {model.num_parameters():,} parameters")
fig.axes[0].axhline(math.log(V), color="grey", ls=":", label="ln V")
fig.axes[0].legend()
plt.show()

# %% [markdown]
# The training and validation curves stay close: with under a million parameters and a million
# characters the model is far too small to memorise the plays, so held-out loss follows training
# loss. For comparison, the character bigram model of chapter 07 scored 2.52 nats on the same held-out text.
#
# ## 5. Make it write: temperature, top-k, top-p
#
# To sample, feed a prompt, take the logits of the last position, turn them into probabilities and
# draw one character; append it and repeat.
#
# * **temperature** $\tau$: $p = \operatorname{softmax}(z/\tau)$. $\tau < 1$ sharpens the distribution (safer,
#   more repetitive), $\tau > 1$ flattens it (more surprising, more mistakes), $\tau \to 0$ is greedy.
# * **top-k**: keep only the $k$ most likely characters.
# * **top-p** (nucleus): keep the most likely characters until their probability reaches $p$, so the number
#   kept adapts to how sure the model is.

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
sample = decode(model.generate(prompt, 200, temperature=0.8, seed=0)[0])
check(len(sample), len("ROMEO.\n") + 200, name="200 new characters")
check(set(sample) <= set(chars), True, name="only characters from the vocabulary")

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

# %%
# NBVAL_IGNORE_OUTPUT
print(decode(greedy_cached[0]))

# %%
# NBVAL_IGNORE_OUTPUT
n_new = config.block_size - prompt.shape[1]          # fill the context window once
timings = {}
for use_cache in (False, True, False, True):        # alternate, to be fair to a busy machine
    t0 = time.perf_counter()
    model.generate(prompt, n_new, temperature=0, use_cache=use_cache)
    timings.setdefault(use_cache, []).append(time.perf_counter() - t0)
plain, cached = min(timings[False]), min(timings[True])
print(f"{n_new} tokens: without cache {plain * 1e3:.0f} ms, with cache {cached * 1e3:.0f} ms, "
      f"speed-up {plain / cached:.1f}x")

# %% [markdown]
# The speed-up grows with the length of the context; for a model with a 1,024-token window it is
# what makes chat-style generation affordable.
#
# ## 7. Looking inside: attention of the trained model
#
# `model.attention_maps(idx)` returns the attention weights of every layer and head, shape
# (L, B, H, T, T). The widget shows them token by token: pick a layer and a head (or their mean),
# hover a character to see where it looks. Outside JupyterLab a static picture is shown.

# %%
snippet = "ROMEO.\nBut soft, what light"
ids = torch.tensor([encode(snippet)], device=device)
maps = model.attention_maps(ids)                     # (L, B, H, T, T)
check(maps.shape, (config.n_layer, 1, config.n_head, len(snippet), len(snippet)), name="maps of shape (L, B, H, T, T)")
check(maps.sum(-1), torch.ones(maps.shape[:-1]), name="every row is a probability distribution", atol=1e-5)
check(bool((maps.triu(diagonal=1) == 0).all()), True, name="no attention to the future")

# %%
# NBVAL_IGNORE_OUTPUT
attention_view(maps[:, 0].cpu(), list(snippet), layer_names=[f"layer {l}" for l in range(config.n_layer)],
               title="tiny GPT after training")

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
# refuses a checkpoint made for another configuration. (`checkpoints/` is ignored by git.)

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
# ### Exercise 1: top-k filtering
#
# Write `top_k_filter(logits, k)` for logits of shape (V,): keep the `k` largest values and set all
# others to `-inf`, so that `softmax` gives them probability 0.

# %% nbgrader={"grade": false, "grade_id": "ex-08-top-k", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_k_filter(logits, k):
    """logits (V,) -> (V,) with everything below the k-th largest value set to -inf."""
    ### BEGIN SOLUTION
    kth = torch.topk(logits, k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-08-top-k-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_z = torch.tensor([1.0, 3.0, -2.0, 2.0, 0.5])
expect(top_k_filter(_z, 2), torch.tensor([float("-inf"), 3.0, float("-inf"), 2.0, float("-inf")]), name="k=2")
expect(top_k_filter(_z, 5), _z, name="k=V keeps everything")
### BEGIN HIDDEN TESTS
with torch.no_grad():
    _last = model(prompt)[0][0, -1].cpu()
expect(int(torch.isfinite(top_k_filter(_last, 7)).sum()), 7, name="7 survivors on real logits")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: parameters of one block
#
# Write `block_parameters(C, bias)`: the number of parameters in one GPT block of width `C`
# (two LayerNorms, attention `c_attn` and `c_proj`, MLP `c_fc` and `c_proj`), with or without biases.

# %% nbgrader={"grade": false, "grade_id": "ex-08-block-params", "locked": false, "schema_version": 3, "solution": true, "task": false}
def block_parameters(C, bias):
    """Parameters in one pre-norm GPT block of width C."""
    ### BEGIN SOLUTION
    b = int(bias)
    return 2 * (C + b * C) + (3 * C * C + b * 3 * C) + (C * C + b * C) + (4 * C * C + b * 4 * C) + (4 * C * C + b * C)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-08-block-params-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.gpt import Block
_count = lambda C, bias: sum(p.numel() for p in Block(GPTConfig(V, 8, 1, 4, C, bias=bias)).parameters())
expect(block_parameters(128, False), _count(128, False), name="C=128 without biases")
expect(block_parameters(64, True), _count(64, True), name="C=64 with biases")
### BEGIN HIDDEN TESTS
expect(12 * block_parameters(768, True) + 50257 * 768 + 1024 * 768 + 2 * 768,
       count_parameters(GPT2_CONFIGS["gpt2"]), name="GPT-2 small from the block count")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: the learning-rate schedule
#
# Write `my_lr(step, warmup, total, lr, min_lr)`: linear warm-up to `lr` over `warmup` steps
# (`lr * (step + 1) / warmup`), then a cosine from `lr` down to `min_lr` at step `total`, and
# `min_lr` afterwards. It must agree with `course_lib.training.lr_at`.

# %% nbgrader={"grade": false, "grade_id": "ex-08-lr", "locked": false, "schema_version": 3, "solution": true, "task": false}
def my_lr(step, warmup, total, lr, min_lr):
    """Warm-up then cosine decay."""
    ### BEGIN SOLUTION
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / (total - warmup)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-08-lr-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_cfg = TrainConfig(max_iters=500, lr=1e-3, min_lr=1e-4, warmup_iters=50)
expect([my_lr(s, 50, 500, 1e-3, 1e-4) for s in (0, 49, 50, 275, 499, 600)],
       [lr_at(s, _cfg) for s in (0, 49, 50, 275, 499, 600)], name="schedule = course_lib.training.lr_at")
### BEGIN HIDDEN TESTS
expect([my_lr(s, 10, 100, 3.0, 0.5) for s in range(0, 120, 7)],
       [lr_at(s, TrainConfig(max_iters=100, lr=3.0, min_lr=0.5, warmup_iters=10)) for s in range(0, 120, 7)],
       name="another schedule")
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
# | sampling with temperature, top-k, top-p; KV-cache | `GPT.generate`, `course_lib.gpt.sample_next`, `KVCache` |
# | attention maps for the widget | `GPT.attention_maps`, `course_lib.widgets.attention_view` |
# | to and from transformers | `course_lib.gpt.to_hf`, `from_hf` |
# | training loop, schedule, curves, checkpoints | `course_lib.training.train`, `lr_at`, `plot_losses`, `save_checkpoint`, `load_checkpoint` |
#
# `tests/test_gpt.py` proves the model equal to `transformers`' GPT2LMHeadModel (logits within
# $10^{-5}$, both directions), the KV-cache equal to the uncached path, and the parameter formula
# equal to instantiated models; `tests/test_training.py` proves that resuming from a checkpoint
# gives exactly the losses of an uninterrupted run. `python -m course_lib.gpt --smoke` trains briefly
# on whatever device is present (cuda, mps or cpu) and reports its speed.
