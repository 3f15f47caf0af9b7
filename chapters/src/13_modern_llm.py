# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/13_modern_llm.py; `make notebooks CHAPTERS=13` rebuilds and runs this notebook. -->
# # 13 · From GPT-2 to today's models
#
# GPT-2 is from 2019. Open the configuration of a model from 2023 or 2024, Llama 2 or Llama 3,
# and most of it is familiar: token embeddings, a stack of pre-norm residual blocks, causal
# self-attention, an MLP, a softmax over the vocabulary. Four pieces changed:
#
# | | GPT-2 (chapter 08) | Llama 2 / Llama 3 |
# |---|---|---|
# | normalisation | LayerNorm | **RMSNorm** |
# | positions | a learned vector added to each token | **rotary embeddings (RoPE)** inside attention |
# | MLP | GELU, width $4C$ | **SwiGLU**, width about $\tfrac{8}{3}C$ |
# | attention heads | one key/value head per query head | **grouped-query attention** (Llama 3 8B: 8 KV heads for 32 query heads) |
#
# and the biases are gone. This chapter builds each piece, checks it, measures what it does, then
# swaps them into chapter 08's GPT **one at a time** and trains every variant for the same number of
# seconds on Shakespeare.
#
# **What you will build**
#
# * RMSNorm, checked against `torch` and compared with LayerNorm;
# * rotary position embeddings, checked against `transformers`, and their defining property
#   (attention scores depend only on the offset between two tokens) checked numerically;
# * the SwiGLU MLP at the same parameter count as GELU's;
# * grouped-query attention, and the KV-cache memory per token it saves, measured;
# * the whole model (`course_lib.llama.Llama`) **proven equal to `transformers`' `LlamaForCausalLM`**,
#   and a parameter formula that reproduces Llama 2 7B and Llama 3 8B without allocating anything;
# * an **ablation ladder** at equal training time, with the spread over seeds, and a measurement of
#   what happens at context lengths never trained.
#
# **Prerequisites:** chapters 04-08.
#
# **Time:** about an hour to read. In full mode the notebook trains 15 small models (5 rungs x 3 seeds, each
# for the time of 180 GPT-2 steps); the full run stored here took about 5 minutes on two CPU cores (280 s
# measured, while other jobs used the same cores; each rung's step count comes from timing the rungs in
# turns, so such work slows them alike).

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

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib
from course_lib import set_seed, pick
from course_lib.checks import check, expect, forbid
from course_lib.datasets import load_text
from course_lib.text import random_batches
from course_lib.gpt import GPT, GPTConfig, GPT2_CONFIGS, count_parameters as gpt_parameters
from course_lib.generation import generate
from course_lib.training import TrainConfig, train, make_optimizer
from course_lib.llama import (Llama, LlamaConfig, LLAMA_CONFIGS, RMSNorm, SwiGLU, apply_rope, count_parameters,
                              from_gpt, kv_cache_bytes_per_token, llama_hidden_dim, repeat_kv, rms_norm,
                              rope_tables, rotate_half, to_hf)

set_seed(0)
plt.rcParams["figure.dpi"] = 80
torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## 1. The task: chapter 08's characters of Shakespeare
#
# Same data, same split as chapter 08: characters are the tokens, the first 90 % of the plays
# train, the last 10 % measure.

# %%
text = load_text("shakespeare")
chars = sorted(set(text))
V = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]


def decode(ids) -> str:
    return "".join(chars[int(i)] for i in ids)


print(f"{len(text):,} characters, V = {V}; train {len(train_data):,}, validation {len(val_data):,}")

# %% [markdown]
# ## 2. RMSNorm
#
# LayerNorm (chapter 06) centres each token's vector and scales it to unit variance, then applies a
# gain $g$ and a bias $b$:
#
# $$\mathrm{LN}(x) = g \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + b, \qquad
#   \mu = \tfrac1C \textstyle\sum_j x_j,\quad \sigma^2 = \tfrac1C \sum_j (x_j - \mu)^2 .$$
#
# RMSNorm (Zhang & Sennrich, 2019, "Root Mean Square Layer Normalization") drops the centring and the
# bias and divides by the root mean square:
#
# $$\mathrm{RMSNorm}(x) = g \odot \frac{x}{\mathrm{rms}(x)}, \qquad \mathrm{rms}(x) = \sqrt{\tfrac1C \textstyle\sum_j x_j^2 + \epsilon}.$$
#
# One statistic instead of two, and no bias. For a vector whose mean is already 0 the two are the same thing:

# %%
def my_rms_norm(x, g, eps=1e-5):
    return g * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)     # (..., C)


set_seed(1)
x = torch.randn(4, 10, 96) * 2 + 0.5          # token vectors with a mean of about 0.5
g = torch.rand(96) + 0.5
check(my_rms_norm(x, g), rms_norm(x, g), name="our RMSNorm = course_lib.llama.rms_norm", atol=1e-6)
check(my_rms_norm(x, g), F.rms_norm(x, (96,), g, eps=1e-5), name="our RMSNorm = torch.nn.functional.rms_norm", atol=1e-6)
layer_norm = F.layer_norm(x, (96,), g, None, eps=1e-5)
centred = x - x.mean(-1, keepdim=True)
check(my_rms_norm(centred, g), layer_norm, name="RMSNorm of the centred vector = LayerNorm (no bias)", atol=1e-5)
gap = (my_rms_norm(x, g) - layer_norm).abs().max().item()
print(f"on the uncentred vectors they differ by up to {gap:.2f}")
check(gap > 0.1, True, name="without centring, RMSNorm is not LayerNorm")

# %% [markdown]
# What does dropping the mean buy? The paper's argument is cost: fewer reductions over the $C$
# features. On a CPU in eager PyTorch the answer depends more on whether the operation is one fused
# kernel than on the maths; here is one (16, 128, 96) batch, forward only:

# %%
# NBVAL_IGNORE_OUTPUT
xb = torch.randn(16, 128, 96)
g96 = torch.ones(96)


def us_per_call(fn, repeats=200):
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1e6


timings = {"LayerNorm (torch, fused)": us_per_call(lambda: F.layer_norm(xb, (96,), g96)),
           "RMSNorm (torch, fused)": us_per_call(lambda: F.rms_norm(xb, (96,), g96)),
           "RMSNorm (course_lib, 5 ops)": us_per_call(lambda: rms_norm(xb, g96))}
for name, us in timings.items():
    print(f"{name:30} {us:7.1f} µs")

# %% [markdown]
# Either way the normalisation is a small part of a training step (the matrix products dominate);
# whether RMSNorm changes the *loss* is for the ladder in section 7 to measure. `course_lib.llama.rms_norm`
# keeps the five explicit operations because they are what transformers computes (in float32, whatever
# the model's dtype), which lets section 6 demand equal logits to $10^{-10}$.
#
# ## 3. Rotary position embeddings (RoPE)
#
# GPT-2 adds a learned vector $p_m$ to the token at position $m$; attention then compares
# $q = W_q(x_m + p_m)$ with $k = W_k(x_n + p_n)$, and the score mixes content and *absolute* positions.
# RoPE (Su et al., 2021, "RoFormer: Enhanced Transformer with Rotary Position Embedding") leaves the
# token vectors alone and instead **rotates** the query and the key inside each head: pair up the
# features, and turn pair $i$ of a vector at position $m$ by the angle $m\,\theta_i$, with frequencies
#
# $$\theta_i = \theta^{-2i/d}, \qquad i = 0, \dots, d/2 - 1, \qquad \theta = 10\,000 \text{ (Llama 2; Llama 3 uses } 500\,000).$$
#
# For one pair, with $R(\alpha)$ the $2\times2$ rotation by $\alpha$:
#
# $$\langle R(m\theta_i)\,q,\; R(n\theta_i)\,k \rangle = q^\top R(m\theta_i)^\top R(n\theta_i)\, k = q^\top R\big((n - m)\,\theta_i\big)\, k ,$$
#
# so **the score depends on the content and on the offset $n - m$ only**: shifting both tokens by the
# same amount changes nothing. `transformers` (and `course_lib`) pair feature $j$ with feature $j + d/2$
# ("rotate half"):
#
# $$\mathrm{RoPE}(x)_m = x_m \odot \cos(m\theta) + \mathrm{rotate\_half}(x_m) \odot \sin(m\theta), \qquad
#   \mathrm{rotate\_half}(x_1, x_2) = (-x_2, x_1).$$

# %%
def my_rope(x, positions, theta=10000.0):
    """x (..., T, d) rotated pair by pair (j, j + d/2) by the angles positions * theta_i."""
    d = x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2).float() / d)     # (d/2,) theta_i, fastest first
    angles = positions[:, None].float() * inv_freq                   # (T, d/2)
    angles = torch.cat([angles, angles], dim=-1)                     # (T, d): feature j and j + d/2 share an angle
    x1, x2 = x.chunk(2, dim=-1)
    return x * angles.cos() + torch.cat([-x2, x1], dim=-1) * angles.sin()


set_seed(2)
q = torch.randn(2, 4, 12, 24)                                        # (B, H, T, hs)
positions = torch.arange(12)
cos, sin = rope_tables(positions, 24, 10000.0)                       # 2 x (T, hs)
check(my_rope(q, positions), apply_rope(q, cos, sin), name="our RoPE = course_lib.llama.apply_rope", atol=1e-6)

from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
q_hf, _ = apply_rotary_pos_emb(q, q, cos[None], sin[None])
check(my_rope(q, positions), q_hf, name="our RoPE = transformers' apply_rotary_pos_emb", atol=1e-6)
check(my_rope(q, positions).norm(dim=-1), q.norm(dim=-1), name="a rotation keeps every vector's length", atol=1e-5)

# %% [markdown]
# **The defining property, checked.** Take one query and one key, put them at positions $(m, n)$, then
# shift both by $s$. With RoPE the score is unchanged; with GPT-2's additive positions (here
# chapter 06's sinusoids, added before the projections) it is not.

# %%
set_seed(3)
hs, C_demo = 24, 96
Wq, Wk = torch.randn(C_demo, hs, dtype=torch.float64) / C_demo ** 0.5, torch.randn(C_demo, hs, dtype=torch.float64) / C_demo ** 0.5
x_q, x_k = torch.randn(C_demo, dtype=torch.float64), torch.randn(C_demo, dtype=torch.float64)


def rope_score(m, n):
    rotated = my_rope(torch.stack([x_q @ Wq, x_k @ Wk]), torch.tensor([m, n])).double()  # row 0: q at m, row 1: k at n
    return float(rotated[0] @ rotated[1])


def sinusoid(m):
    i = torch.arange(0, C_demo, 2, dtype=torch.float64)
    angle = m / 10000 ** (i / C_demo)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten()   # (C,)


def additive_score(m, n):
    return float(((x_q + sinusoid(m)) @ Wq) @ ((x_k + sinusoid(n)) @ Wk))


print(" (m, n)        RoPE score   additive-position score")
rope_scores, additive_scores = [], []
for m, n in ((5, 2), (105, 102), (1005, 1002)):
    rope_scores.append(rope_score(m, n))
    additive_scores.append(additive_score(m, n))
    print(f"({m:4}, {n:4})   {rope_scores[-1]:+10.4f}   {additive_scores[-1]:+10.4f}")
check(max(rope_scores) - min(rope_scores) < 1e-3, True, name="RoPE: same offset, same score")
check(max(additive_scores) - min(additive_scores) > 0.1, True, name="additive positions: the score moves with the absolute position")
check(abs(rope_score(5, 2) - rope_score(6, 2)) > 1e-3, True, name="RoPE: another offset, another score")

# %% [markdown]
# (The tables are computed in float32, as `transformers` does, so at position 1,000 the angles carry
# errors of about $10^{-4}$ radians: the scores above agree to about that, not to float64 precision.)
#
# **What happens at lengths never trained?** A learned position table simply has no vector for position
# `block_size`; the model cannot even be run. RoPE has an angle for every position, but a model trained on
# windows of $T$ tokens has only seen offsets below $T$. Pair $i$ turns by $\theta_i$ per token: the fast
# pairs wrap around many times inside the window, so every angle they can take was seen in training;
# the slow pairs never complete a turn, and at offsets beyond $T$ they reach angles the model has never met.

# %%
T_TRAIN = 128                                   # the ladder's context (section 7)
inv_freq = 1.0 / 10000 ** (torch.arange(0, hs, 2).float() / hs)
turns = (T_TRAIN - 1) * inv_freq / (2 * math.pi)              # turns completed across the training window
never_wrapped = int((turns < 1).sum())
print("turns per pair across 128 positions:", [f"{t:.3g}" for t in turns.tolist()])
print(f"{never_wrapped} of the {hs // 2} pairs never complete a turn within {T_TRAIN} tokens")
check(never_wrapped, 8, name="8 of 12 pairs see only part of the circle in training")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
for length, style in ((T_TRAIN, "o-"), (4 * T_TRAIN, "s--")):
    ax.semilogy(range(hs // 2), ((length - 1) * inv_freq / (2 * math.pi)).numpy(), style,
                label=f"largest offset {length - 1}")
ax.axhline(1, color="grey", ls=":", label="one full turn")
ax.set_xlabel("pair i (frequency theta_i)"); ax.set_ylabel("turns")
ax.set_title("how far each RoPE pair turns: trained window vs 4x longer"); ax.legend(); fig.tight_layout()
plt.show()

# %% [markdown]
# Section 8 measures what this does to the loss.
#
# ## 4. SwiGLU
#
# GPT-2's MLP is $W_2\,\mathrm{GELU}(W_1 x)$ with a hidden width of $4C$: two matrices, $8C^2$ numbers.
# A gated linear unit multiplies two projections, one of them passed through a non-linearity that acts as
# a soft gate. SwiGLU (Shazeer, 2020, "GLU Variants Improve Transformer") uses the SiLU (or Swish),
# $\mathrm{SiLU}(z) = z\,\sigma(z)$:
#
# $$\mathrm{SwiGLU}(x) = W_{\text{down}}\big(\mathrm{SiLU}(W_{\text{gate}}\, x) \odot W_{\text{up}}\, x\big).$$
#
# Three matrices instead of two, so to keep the parameter count the hidden width shrinks from $4C$ to
# $\tfrac23 \cdot 4C = \tfrac83 C$; Meta rounds it up to a multiple of 256 (Llama 2 7B: $C = 4096 \to 11\,008$).
# At $C = 96$ the rule gives exactly 256, and the two MLPs have the same number of parameters:

# %%
C = 96
gelu_mlp = nn.Sequential(nn.Linear(C, 4 * C, bias=False), nn.GELU(approximate="tanh"), nn.Linear(4 * C, C, bias=False))
swiglu = SwiGLU(C, llama_hidden_dim(C))
n_gelu, n_swiglu = sum(p.numel() for p in gelu_mlp.parameters()), sum(p.numel() for p in swiglu.parameters())
print(f"GELU MLP, width {4 * C}: {n_gelu:,} parameters; SwiGLU, width {llama_hidden_dim(C)}: {n_swiglu:,}")
check(n_swiglu, n_gelu, name="SwiGLU at 8C/3 has GELU's parameter count")
check(llama_hidden_dim(4096, multiple_of=256), 11008, name="Meta's rule: Llama 2 7B's MLP width")
check(llama_hidden_dim(4096, multiple_of=1024, ffn_dim_multiplier=1.3), 14336, name="Llama 3 8B's (x 1.3, multiple of 1024)")

from transformers import LlamaConfig as HFLlamaConfig
from transformers.models.llama.modeling_llama import LlamaMLP
hf_mlp = LlamaMLP(HFLlamaConfig(hidden_size=C, num_attention_heads=4, intermediate_size=llama_hidden_dim(C)))
hf_mlp.load_state_dict(swiglu.state_dict())          # same names: gate_proj, up_proj, down_proj
x = torch.randn(2, 5, C)
with torch.no_grad():
    check(swiglu(x), hf_mlp(x), name="course_lib SwiGLU = transformers' LlamaMLP", atol=1e-6)

# %%
z = torch.linspace(-5, 5, 201)
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(z, F.gelu(z, approximate="tanh"), label="GELU (GPT-2)")
ax[0].plot(z, F.silu(z), "--", label="SiLU = z sigmoid(z)")
ax[0].set_title("the two non-linearities"); ax[0].legend(); ax[0].grid(alpha=0.3)
for up in (0.5, 1.0, -1.0):
    ax[1].plot(z, F.silu(z) * up, label=f"SiLU(gate) x up, up = {up:+.1f}")
ax[1].set_xlabel("gate pre-activation"); ax[1].set_title("a gated unit: the up projection scales and flips")
ax[1].legend(fontsize=8); ax[1].grid(alpha=0.3); fig.tight_layout()
plt.show()

# %% [markdown]
# The curves of GELU and SiLU are close; the difference is the product. A GELU unit's output has one sign
# pattern fixed by its curve; a SwiGLU unit multiplies the gate by a second, free linear function of $x$, so
# each hidden unit computes a product of two projections of the input (a quadratic form where the gate is
# open). Whether that helps at equal parameters is, again, for the ladder.
#
# ## 5. Grouped-query attention and the KV-cache
#
# Chapter 08's KV-cache stores, for every token generated so far, a key and a value in every head of every
# layer: $2 \cdot L \cdot H \cdot h_s$ numbers per token. For a big model serving long contexts this, not the
# weights, is what fills the memory. **Multi-query attention** (Shazeer, 2019, "Fast Transformer Decoding:
# One Write-Head is All You Need") keeps all $H$ query heads but only **one** key/value head, shared by all of
# them. **Grouped-query attention** (Ainslie et al., 2023, "GQA: Training Generalized Multi-Query Transformer
# Models from Multi-Head Checkpoints") sits between: $H_{kv}$ key/value heads, each shared by a group of
# $H / H_{kv}$ query heads:
#
# $$\text{head}_h = \mathrm{softmax}\!\Big(\frac{q_h\, k_{g(h)}^\top}{\sqrt{h_s}} + M\Big)\, v_{g(h)}, \qquad g(h) = \lfloor h / (H/H_{kv}) \rfloor .$$
#
# $H_{kv} = H$ is ordinary multi-head attention, $H_{kv} = 1$ is multi-query. The simplest way to compute it
# repeats each key/value head for its group (`repeat_kv`, a view plus one copy), then runs ordinary attention;
# the cache stores the $H_{kv}$ heads **before** the repeat.

# %%
set_seed(4)
k = torch.randn(1, 2, 5, 24)                          # (B, H_kv = 2, T, hs)
k_rep = repeat_kv(k, 3)                               # (B, H = 6, T, hs)
print("KV heads", tuple(k.shape), "-> per query head", tuple(k_rep.shape))
check([bool(torch.equal(k_rep[0, h], k[0, h // 3])) for h in range(6)], [True] * 6,
      name="query head h reads KV head h // (H / H_kv)")
check(k_rep, torch.repeat_interleave(k, 3, dim=1), name="repeat_kv = torch.repeat_interleave over heads")

# %% [markdown]
# **The cache, measured.** Feed 128 tokens through a 4-layer model of width 96 with 4 query heads and
# 4, 2 or 1 KV heads, and add up the bytes of every tensor the cache holds:

# %%
measured = {}
for n_kv in (4, 2, 1):
    config = LlamaConfig(V, 128, n_layer=4, n_head=4, n_embd=96, n_kv_head=n_kv, tie_embeddings=True)
    set_seed(0)
    model = Llama(config).eval()
    cache = model.new_cache()
    with torch.no_grad():
        model(data[None, :128], cache=cache)
    stored = sum(t.nbytes for layer in cache.layers for t in layer)
    measured[n_kv] = stored / 128
    print(f"H_kv = {n_kv}: cache holds {tuple(cache.layers[0][0].shape)} keys per layer, "
          f"{stored:,} bytes = {measured[n_kv]:,.0f} bytes per token; "
          f"formula 2 L H_kv hs x 4 bytes = {kv_cache_bytes_per_token(config, torch.float32):,}; "
          f"{count_parameters(config):,} parameters")
    check(measured[n_kv], kv_cache_bytes_per_token(config, torch.float32), name=f"measured = formula at H_kv = {n_kv}")
check(measured[4] / measured[1], 4.0, name="multi-query: a quarter of the cache of 4-head attention")

# %% [markdown]
# The same formula on the published configurations, in 16-bit numbers (2 bytes):

# %%
for name in ("llama-2-7b", "llama-3-8b"):
    cfg = LLAMA_CONFIGS[name]
    per_token = kv_cache_bytes_per_token(cfg, torch.float16)
    print(f"{name}: {cfg.n_head} query heads, {cfg.n_kv_head:2} KV heads: {per_token / 1024:.0f} KiB per token, "
          f"{per_token * cfg.block_size / 2**30:.1f} GiB for one sequence of {cfg.block_size:,} tokens")
check(kv_cache_bytes_per_token(LLAMA_CONFIGS["llama-2-7b"], torch.float16), 512 * 1024, name="Llama 2 7B: 512 KiB per token")
check(kv_cache_bytes_per_token(LLAMA_CONFIGS["llama-3-8b"], torch.float16), 128 * 1024, name="Llama 3 8B: 128 KiB per token")

# %% [markdown]
# Llama 3 8B holds twice the context of Llama 2 7B in half the cache memory, because 8 KV heads serve its
# 32 query heads. The price is fewer parameters in $W_k, W_v$ (and possibly quality); the ladder measures it
# on our task.
#
# ## 6. The whole model, proven equal to transformers' Llama
#
# `course_lib.llama.Llama` puts the pieces together: token embeddings, `n_layer` blocks
# $x \leftarrow x + \mathrm{Attn}(\mathrm{RMSNorm}(x))$, $x \leftarrow x + \mathrm{SwiGLU}(\mathrm{RMSNorm}(x))$
# with RoPE inside attention, a final RMSNorm, and the output layer, no biases anywhere. Its `LlamaConfig`
# can switch each piece back to GPT-2's (`norm="layernorm"`, `positions="learned"`, `mlp="gelu"`,
# `n_kv_head=n_head`), and with all four switched back it is exactly chapter 08's bias-free GPT:

# %%
set_seed(0)
gpt = GPT(GPTConfig(V, 64, n_layer=2, n_head=4, n_embd=64, bias=False)).eval()
as_llama = from_gpt(gpt)
print(as_llama.config)
xb = data[None, :64]
with torch.no_grad():
    check(as_llama(xb)[0], gpt(xb)[0], name="Llama with GPT-2's four pieces = course_lib.gpt.GPT", atol=1e-6)

# %% [markdown]
# With the modern pieces, `to_hf` copies the weights into a `transformers.LlamaForCausalLM` (built from a
# `LlamaConfig`, nothing downloaded). Same logits, in float64 to $10^{-10}$ and in float32 to $10^{-5}$, fed all
# at once or token by token through the two libraries' caches:

# %%
set_seed(0)
config = LlamaConfig(V, 128, n_layer=2, n_head=4, n_embd=96, n_kv_head=2)
model = Llama(config).eval()
with torch.no_grad():
    for p in model.parameters():
        p.add_(0.05 * torch.randn_like(p))          # so that the norm gains matter too
idx = data[None, 1000:1064]
for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
    ours = model.to(dtype)
    hf = to_hf(ours)
    with torch.no_grad():
        full = hf(input_ids=idx).logits
        cache = ours.new_cache()
        stepwise = torch.cat([ours(idx[:, :40], cache=cache)[0]] + [ours(idx[:, t:t + 1], cache=cache)[0]
                                                                    for t in range(40, 64)], dim=1)
        diff, diff_cached = (ours(idx)[0] - full).abs().max().item(), (stepwise - full).abs().max().item()
    print(f"{str(dtype):14} largest difference: {diff:.1e} all at once, {diff_cached:.1e} with our cache")
    check(diff <= tol and diff_cached <= tol, True, name=f"same logits as LlamaForCausalLM in {dtype}")
model = model.float()

# %% [markdown]
# **How many parameters?** With $h_s = C/H$ and MLP width $h$, a block holds two norms ($2C$), attention
# $C \cdot H h_s + 2\, C \cdot H_{kv} h_s + H h_s \cdot C$ and SwiGLU $3Ch$; add the token embeddings $VC$, a final
# norm $C$ and, unless it is tied to the embeddings, an output layer $VC$:
#
# $$N = VC\,(1 + [\text{untied}]) + L\,\big(2C + 2C^2 + 2C\,H_{kv} h_s + 3Ch\big) + C .$$
#
# `count_parameters` evaluates it from the configuration alone. `transformers` can count too without memory,
# by building the model on PyTorch's `meta` device (shapes, no numbers):

# %%
from transformers import LlamaForCausalLM


def transformers_count(cfg: LlamaConfig) -> int:
    """transformers' own count: LlamaForCausalLM built on the meta device, where tensors have shapes but no memory."""
    hc = HFLlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.n_embd, intermediate_size=cfg.hidden_dim,
                       num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head,
                       num_key_value_heads=cfg.n_kv_head, tie_word_embeddings=cfg.tie_embeddings)
    with torch.device("meta"):
        return sum(p.numel() for p in LlamaForCausalLM(hc).parameters())


published = {"llama-2-7b": "6.74B", "llama-3-8b": "8.03B", "llama-3.2-1b": "-, its embeddings are tied"}
for name, cfg in LLAMA_CONFIGS.items():
    ours, theirs = count_parameters(cfg), transformers_count(cfg)
    print(f"{name:13} L={cfg.n_layer} C={cfg.n_embd} H={cfg.n_head} H_kv={cfg.n_kv_head:2} h={cfg.hidden_dim:5}: "
          f"{ours:>13,} ({ours / 1e9:.2f}B; published {published[name]})")
    check(ours, theirs, name=f"{name}: formula = transformers' count on the meta device")
check(round(count_parameters(LLAMA_CONFIGS["llama-2-7b"]) / 1e9, 2), 6.74, name="Llama 2 7B: 6.74B")
check(round(count_parameters(LLAMA_CONFIGS["llama-3-8b"]) / 1e9, 2), 8.03, name="Llama 3 8B: 8.03B")
for name, cfg in GPT2_CONFIGS.items():
    print(f"{name:13} (course_lib.gpt.count_parameters, with biases): {gpt_parameters(cfg):>13,}")
check(round(gpt_parameters(GPT2_CONFIGS["gpt2"]) / 1e6), 124, name="GPT-2 small: 124M")

# %% [markdown]
# Where do Llama 3 8B's parameters go? Its 128,256-token vocabulary is four times Llama 2's 32,000, so
# embeddings and output layer are now a billion parameters; grouped-query attention took about 0.8 billion
# out of $W_k, W_v$ (8 KV heads instead of 32), and the MLPs hold most of the rest.

# %%
cfg8 = LLAMA_CONFIGS["llama-3-8b"]
C8, hs8 = cfg8.n_embd, cfg8.head_dim
parts = {"embeddings + output layer": 2 * cfg8.vocab_size * C8,
         "attention": cfg8.n_layer * (2 * C8 * cfg8.n_head * hs8 + 2 * C8 * cfg8.n_kv_head * hs8),
         "SwiGLU MLPs": cfg8.n_layer * 3 * C8 * cfg8.hidden_dim,
         "norms": (2 * cfg8.n_layer + 1) * C8}
for part, count in parts.items():
    print(f"{part:26} {count / 1e9:5.2f}B  {count / count_parameters(cfg8):6.1%}")
check(sum(parts.values()), count_parameters(cfg8), name="the parts add up to 8,030,261,248")
mha8 = LlamaConfig(**{**cfg8.to_dict(), "n_kv_head": cfg8.n_head})
saved = count_parameters(mha8) - count_parameters(cfg8)
print(f"with 32 KV heads it would have {saved / 1e9:.2f}B more parameters")
check(round(saved / 1e9, 2), 0.81, name="GQA saves 0.81B parameters in Llama 3 8B")

# %% [markdown]
# ## 7. The ablation ladder: one piece at a time, at equal training time
#
# Start from chapter 08's GPT-2 block and climb one rung at a time, keeping everything else fixed
# (4 layers, width 96, 4 heads, context 128, batch 16, tied embeddings, AdamW with warm-up and cosine,
# learning rate $3\cdot10^{-3}$):
#
# | rung | norm | positions | MLP | KV heads | parameters |
# |---|---|---|---|---|---|
# | GPT-2 | LayerNorm | learned | GELU $4C$ | 4 | |
# | + RMSNorm | **RMSNorm** | learned | GELU $4C$ | 4 | same |
# | + RoPE | RMSNorm | **RoPE** | GELU $4C$ | 4 | $-$ the position table |
# | + SwiGLU | RMSNorm | RoPE | **SwiGLU** $\tfrac83C$ | 4 | same |
# | + GQA = Llama | RMSNorm | RoPE | SwiGLU | **2** | $-$ half of $W_k, W_v$ |
#
# Every rung trains for **the same time**, not the same number of steps: a piece that makes a step slower
# must pay for it. The budget is what the GPT-2 rung needs for 180 steps. To share it out, the rungs first
# take turns at a few timed training steps, round after round; each rung's fastest round, relative to
# GPT-2's, says how many steps it gets (a ratio measured in turns is fair even on a machine shared with other
# work, where absolute seconds are not). Knowing the step count in advance lets the learning-rate schedule
# end where it should. Every rung is repeated with several seeds, which change the initial weights and the
# batches, and all are scored on the same held-out text: the first 16,384 characters of the validation plays,
# in windows of 128.

# %%
# NBVAL_IGNORE_OUTPUT
set_seed(0)
T_TRAIN = pick(128, 32)
BATCH = pick(16, 8)
GPT2_STEPS = pick(180, 20)            # the budget: the time of this many GPT-2 steps
SEEDS = pick([0, 1, 2], [0, 1])
base = dict(vocab_size=V, block_size=T_TRAIN, n_layer=pick(4, 1), n_head=4, n_embd=pick(96, 32), tie_embeddings=True)
RUNGS = {
    "GPT-2": dict(norm="layernorm", positions="learned", mlp="gelu"),
    "+ RMSNorm": dict(norm="rmsnorm", positions="learned", mlp="gelu"),
    "+ RoPE": dict(norm="rmsnorm", positions="rope", mlp="gelu"),
    "+ SwiGLU": dict(norm="rmsnorm", positions="rope", mlp="swiglu"),
    "+ GQA = Llama": dict(norm="rmsnorm", positions="rope", mlp="swiglu", n_kv_head=2),
}
configs = {name: LlamaConfig(**base, **kw) for name, kw in RUNGS.items()}
for name, cfg in configs.items():
    print(f"{name:15} {count_parameters(cfg):>8,} parameters")


def heldout_windows(T, n_tokens=pick(16_384, 2_048)):
    """The same held-out characters for every model, cut into windows of T: inputs and next-character targets."""
    stream = val_data[: (n_tokens // T) * T + 1]
    return stream[:-1].view(-1, T), stream[1:].view(-1, T)          # (N, T), (N, T)


@torch.no_grad()
def loss_per_position(model, T, batch=16):
    """Mean cross-entropy at each position 0..T-1 over the held-out windows: (T,)."""
    model.eval()
    x, y = heldout_windows(T)
    total = torch.zeros(T)
    for i in range(0, len(x), batch):
        logits, _ = model(x[i:i + batch])
        total += F.cross_entropy(logits.transpose(1, 2), y[i:i + batch], reduction="none").sum(0)
    return total / len(x)


def seconds_per_step(configs, rounds=pick(6, 3), steps=pick(3, 1)):
    """Each rung takes `steps` training steps in turn, round after round; each rung's fastest round, per step
    (as timeit does: a round slowed down by other work on the machine tells nothing about the model)."""
    runs = {}
    for name, cfg in configs.items():
        set_seed(0)
        model = Llama(cfg)
        runs[name] = (model, make_optimizer(model, TrainConfig()), torch.Generator().manual_seed(0))

    def step(name):
        model, opt, g = runs[name]
        x, y = random_batches(train_data, model.config.block_size, BATCH, generator=g)
        loss = model(x, y)[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    times = {name: [] for name in configs}
    for name in configs:
        for _ in range(3):
            step(name)                               # warm-up
    for r in range(rounds):
        for name in (list(configs) if r % 2 == 0 else reversed(list(configs))):
            t0 = time.perf_counter()
            for _ in range(steps):
                step(name)
            times[name].append((time.perf_counter() - t0) / steps)
    return {name: min(t) for name, t in times.items()}

# %%
# NBVAL_IGNORE_OUTPUT
step_time = seconds_per_step(configs)
budget = GPT2_STEPS * step_time["GPT-2"]
steps_for = {name: max(5, round(budget / t)) for name, t in step_time.items()}
for name in configs:
    print(f"{name:15} {step_time[name] * 1e3:6.1f} ms per step ({step_time[name] / step_time['GPT-2']:.2f}x GPT-2's)"
          f" -> {steps_for[name]:4} steps in the budget of {budget:.0f} s")

# %%
# NBVAL_IGNORE_OUTPUT
results = {name: [] for name in configs}            # held-out loss per seed
histories, models = {}, {}
for name, cfg in configs.items():
    for seed in SEEDS:
        set_seed(seed)
        model = Llama(cfg)
        steps = steps_for[name]
        tcfg = TrainConfig(max_iters=steps, batch_size=BATCH, lr=3e-3, min_lr=3e-4, warmup_iters=max(1, steps // 10),
                           eval_interval=steps, eval_iters=2, seed=seed, progress=False)
        history = train(model, train_data, val_data, tcfg, print_fn=lambda *a: None)
        results[name].append(loss_per_position(model, T_TRAIN).mean().item())
        histories[name, seed], models[name, seed] = history, model
        print(f"{name:15} seed {seed}: {steps} steps in {history.seconds:5.1f} s, held-out loss {results[name][-1]:.4f}")

# %%
# every rung got the same budget (to within one step), and every run learned something
planned = [steps_for[name] * step_time[name] / budget for name in configs]
check(all(abs(p - 1) <= max(step_time.values()) / budget + 1e-9 for p in planned), True,
      name="every rung's steps fill the same time budget, to within one step")
check(max(max(r) for r in results.values()) < pick(3.0, math.log(V)), True, name="every run ends well below the loss at initialisation, ln V")

# %%
# NBVAL_IGNORE_OUTPUT
names = list(configs)
mean = {k: float(np.mean(v)) for k, v in results.items()}
half_range = {k: (max(v) - min(v)) / 2 for k, v in results.items()}


def verdict(before, after):
    """'helps' / 'hurts' when the seeds of the two rungs do not overlap, else 'within the spread'."""
    if max(results[after]) < min(results[before]):
        return "helps"
    if min(results[after]) > max(results[before]):
        return "hurts"
    return "within the spread"


verdicts = {names[i]: verdict(names[i - 1], names[i]) for i in range(1, len(names))}
verdicts["Llama vs GPT-2"] = verdict(names[0], names[-1])
print(f"{'rung':15} {'held-out loss':>22}   change   verdict (seeds {SEEDS})")
for i, name in enumerate(names):
    change = "" if i == 0 else f"{mean[name] - mean[names[i - 1]]:+.3f}"
    print(f"{name:15} {mean[name]:.3f} +- {half_range[name]:.3f} (n={len(results[name])})   {change:>6}   "
          f"{verdicts.get(name, '')}")
print(f"{'Llama vs GPT-2':15} {mean[names[-1]] - mean[names[0]]:+.3f}: {verdicts['Llama vs GPT-2']}")

fig, ax = plt.subplots(figsize=(7.5, 3.2))
for i, name in enumerate(names):
    ax.scatter([i] * len(results[name]), results[name], color="tab:blue", alpha=0.5, s=18)
    ax.errorbar(i, mean[name], yerr=half_range[name], fmt="o", color="tab:red", capsize=4)
ax.plot(range(len(names)), [mean[k] for k in names], color="tab:red", alpha=0.4)
ax.set_xticks(range(len(names)), names)
ax.set_ylabel("held-out loss (nats/char)")
ax.set_title(f"the ladder: the time of {GPT2_STEPS} GPT-2 steps per run, mean +- half-range over {len(SEEDS)} seeds")
ax.grid(alpha=0.3); fig.tight_layout()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
# the claims the text below makes about the full run, asserted in full mode (fast mode trains too little)
claimed = {"Llama vs GPT-2": "helps", "+ RoPE": "helps", "+ RMSNorm": "within the spread"}
assert check(claimed if course_lib.fast_mode() else {k: verdicts[k] for k in claimed}, claimed,
             name="the Llama block beats the GPT-2 block at equal time; RoPE helps; RMSNorm is within the spread")
changes = {name: mean[name] - mean[names[i - 1]] for i, name in enumerate(names) if i}
rope_share = changes["+ RoPE"] / (mean[names[-1]] - mean[names[0]])
print(f"RoPE's change is {rope_share:.0%} of the whole ladder's")
if not course_lib.fast_mode():
    assert check(min(changes, key=changes.get) == "+ RoPE" and rope_share > 0.5, True,
                 name="RoPE's step is the largest of the ladder, more than half of the whole gain")

# %% [markdown]
# **Reading the ladder.** A rung "helps" or "hurts" only when the seeds of the two rungs do not overlap at
# all; otherwise the change is within what another seed would do. In this run, **RoPE** makes the largest
# step, more than half of the whole gain of the Llama block over the GPT-2 block (the share is printed
# above; it can pass 100 % when a later rung gives some of the gain back), and **RMSNorm** is within the
# spread; read the verdicts of SwiGLU and GQA in the table. What each piece can change here:
#
# * **RMSNorm** computes the same kind of normalisation with one statistic less; at this width the
#   normalisation is a small part of a step, so it can only matter through the loss it reaches, not the speed.
# * **RoPE** replaces a table of 128 position vectors that must be *learned* from scratch by a fixed rotation
#   that gives every head the offset between two characters for free; with a few hundred steps of training,
#   such a head start can matter, and it costs two element-wise products per head and layer.
# * **SwiGLU** has the same parameters as GELU's MLP here; the gate is a different function class, and its step
#   costs a third matrix product of a narrower width.
# * **GQA** removes half of $W_k, W_v$: fewer parameters and a smaller cache, which is what it is for; at
#   training time on a CPU it saves little.
#
# The check above asserts, for the full run, the claim this chapter is built on: the whole Llama block beats
# the GPT-2 block at equal time on this task. `benchmarks/modern.py` repeats the comparison of the two ends
# of the ladder with longer training.
#
# ## 8. Length generalisation: evaluating beyond the trained context
#
# Every model above saw windows of 128 characters. What happens when we hand it 256 or 512? For the GPT-2
# rung there is nothing to try: it has 128 position vectors and no vector for position 128.

# %%
# NBVAL_IGNORE_OUTPUT
gpt2_model = models["GPT-2", SEEDS[0]]
try:
    loss_per_position(gpt2_model, 2 * T_TRAIN)
    refused = None
except ValueError as e:
    refused = str(e)
print("ValueError:", refused)
assert check(refused is not None and "no vector for position" in refused, True, name="learned positions cannot go beyond block_size")

# %% [markdown]
# A RoPE model runs at any length. Score the held-out characters in windows of 128, 256 and 512 and look at
# the loss **position by position**: within the first 128 positions the model is on familiar ground; beyond
# them it meets offsets it never trained on.

# %%
# NBVAL_IGNORE_OUTPUT
lengths = [2 * T_TRAIN, 4 * T_TRAIN]
rope_rungs = ["+ RoPE", names[-1]]                  # RoPE alone, and the whole Llama block
curves = {(name, L): torch.stack([loss_per_position(models[name, s], L) for s in SEEDS]).mean(0)
          for name in rope_rungs for L in lengths}
inside = {name: curves[name, 4 * T_TRAIN][T_TRAIN // 2:T_TRAIN].mean().item() for name in rope_rungs}
beyond = {name: curves[name, 4 * T_TRAIN][T_TRAIN:].mean().item() for name in rope_rungs}
for name in rope_rungs:
    means = "  ".join([f"T={T_TRAIN}: {mean[name]:.3f}"] + [f"T={L}: {curves[name, L].mean():.3f}" for L in lengths])
    print(f"{name:15} mean loss {means};  positions {T_TRAIN // 2}-{T_TRAIN - 1}: {inside[name]:.3f}, "
          f"positions {T_TRAIN}-{4 * T_TRAIN - 1}: {beyond[name]:.3f}")

fig, ax = plt.subplots(figsize=(7.5, 3.2))
width = max(1, T_TRAIN // 16)
for name in rope_rungs:
    c = curves[name, 4 * T_TRAIN].numpy()
    smooth = c[: len(c) // width * width].reshape(-1, width).mean(1)
    ax.plot(np.arange(len(smooth)) * width + width / 2, smooth, label=name)
ax.axvline(T_TRAIN, color="grey", ls=":", label="trained context")
ax.set_xlabel("position in a window of 4x the trained length"); ax.set_ylabel("held-out loss")
ax.set_title("RoPE beyond the trained length (mean over seeds)"); ax.legend(); ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# full mode: asserted; fast mode's models have barely learned to use any context
assert check(all(beyond[name] > inside[name] for name in rope_rungs) or course_lib.fast_mode(), True,
      name="every RoPE model is worse beyond the trained length than inside it")

# %% [markdown]
# RoPE does not fail the way learned positions do: there is always an answer, and (by causality) the first 128
# positions of a long window see exactly the context they saw in training. But beyond the trained length the
# model does not turn the extra context into better predictions; its loss there is higher than inside the
# window. This is why long-context models *extend* RoPE after training instead of relying on it to extrapolate:
# Chen et al. (2023, "Extending Context Window of Large Language Models via Positional Interpolation") squeeze
# the positions of a long text into the trained range and fine-tune briefly, and `transformers` implements
# several such rescalings of RoPE (its `ROPE_INIT_FUNCTIONS`: `linear`, `dynamic`, `yarn`, `longrope`, `llama3`,
# ...). Without them, generation slides a window of the trained length over the text, as
# `course_lib.generation.generate` does.
#
# ## 9. Make it write
#
# `course_lib.generation.generate` is the same loop as chapter 08's: it asks the model for a fresh cache
# (`model.new_cache()`), which here stores 2 KV heads per layer.

# %%
best = models[names[-1], SEEDS[0]]
prompt = torch.tensor([[stoi[c] for c in "ROMEO.\n"]])
greedy_cached = generate(best, prompt, 100, temperature=0, use_cache=True)
greedy_plain = generate(best, prompt, 100, temperature=0, use_cache=False)
check(decode(greedy_cached[0]), decode(greedy_plain[0]), name="greedy text with and without the 2-head KV-cache")

# %%
# NBVAL_IGNORE_OUTPUT
print(decode(generate(best, prompt, pick(300, 80), temperature=0.8, top_k=20, seed=0)[0]))

# %% [markdown]
# ## 10. Exercises
#
# ### Exercise 1: RoPE with interleaved pairs
#
# `transformers` pairs feature $j$ with feature $j + d/2$. Meta's original Llama code pairs neighbours instead:
# $(x_0, x_1), (x_2, x_3), \dots$, pair $i$ turning by $m\,\theta_i$ with the same $\theta_i = \theta^{-2i/d}$:
#
# $$y_{2i} = x_{2i}\cos m\theta_i - x_{2i+1}\sin m\theta_i, \qquad y_{2i+1} = x_{2i}\sin m\theta_i + x_{2i+1}\cos m\theta_i .$$
#
# Write `rope_interleaved(x, positions, theta)` for x of shape (..., T, d) and positions (T,). The test checks
# that it is the rotate-half form applied to the features re-ordered as (evens, odds): the two layouts are
# the same model with the features of $W_q$ and $W_k$ listed in another order, which is how checkpoints are
# converted between them.

# %% nbgrader={"grade": false, "grade_id": "ex-13-rope-interleaved", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rope_interleaved(x, positions, theta=10000.0):
    """x (..., T, d): rotate each pair (x_2i, x_2i+1) at position m by the angle m * theta^(-2i/d)."""
    ### BEGIN SOLUTION
    d = x.shape[-1]
    inv_freq = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)      # (d/2,)
    angles = positions[:, None].double() * inv_freq                            # (T, d/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]                                     # (..., T, d/2)
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-13-rope-interleaved-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
set_seed(5)
_x = torch.randn(2, 3, 10, 16, dtype=torch.float64)
_pos = torch.arange(3, 13)
_order = torch.cat([torch.arange(0, 16, 2), torch.arange(1, 16, 2)])       # evens, then odds
_cos, _sin = rope_tables(_pos, 16, 500.0)
_ref = torch.empty_like(_x)
_ref[..., _order] = apply_rope(_x[..., _order], _cos, _sin)
_e0 = torch.zeros(1, 8, dtype=torch.float64); _e0[0, 0] = 1.0
with forbid("course_lib.llama.apply_rope", "course_lib.llama.rotate_half", what="the interleaved rotation"):
    _got = rope_interleaved(_x, _pos, 500.0)
    _first = rope_interleaved(_e0, torch.tensor([2]), 10000.0)
expect(_got, _ref, name="interleaved RoPE = rotate-half RoPE on (evens, odds)", rtol=1e-5, atol=1e-5)
expect(_first[0, :2], torch.tensor([math.cos(2.0), math.sin(2.0)], dtype=torch.float64),
       name="pair 0 at position 2 turns by 2 radians", atol=1e-6)
### BEGIN HIDDEN TESTS
_q, _k = torch.randn(1, 16, dtype=torch.float64), torch.randn(1, 16, dtype=torch.float64)
with forbid("course_lib.llama.apply_rope", "course_lib.llama.rotate_half", what="the interleaved rotation"):
    _s1 = float(rope_interleaved(_q, torch.tensor([7])) @ rope_interleaved(_k, torch.tensor([3])).T)
    _s2 = float(rope_interleaved(_q, torch.tensor([57])) @ rope_interleaved(_k, torch.tensor([53])).T)
expect(_s1, _s2, name="the score depends only on the offset", atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: grouped-query attention without copying the keys
#
# `repeat_kv` copies each key/value head $H/H_{kv}$ times before attention. Write
# `grouped_causal_attention(q, k, v)` for q of shape (B, H, T, hs) and k, v of shape (B, H_kv, T, hs) that
# never makes those copies: give the queries a group axis, (B, H_kv, H/H_kv, T, hs), and let broadcasting
# share each key/value head with its group. Causal, scaled by $1/\sqrt{h_s}$; returns (B, H, T, hs), where query
# head $h$ uses KV head $h // (H/H_{kv})$.

# %% nbgrader={"grade": false, "grade_id": "ex-13-gqa", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grouped_causal_attention(q, k, v):
    """q (B, H, T, hs), k and v (B, H_kv, T, hs) -> (B, H, T, hs), without repeating k or v."""
    ### BEGIN SOLUTION
    B, H, T, hs = q.shape
    Hkv = k.shape[1]
    groups = q.reshape(B, Hkv, H // Hkv, T, hs)                                # (B, H_kv, n_rep, T, hs)
    scores = groups @ k[:, :, None].transpose(-2, -1) / math.sqrt(hs)         # (B, H_kv, n_rep, T, T)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return (weights @ v[:, :, None]).reshape(B, H, T, hs)                    # (B, H, T, hs)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-13-gqa-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_no_copies = ("torch.repeat_interleave", "torch.Tensor.repeat_interleave", "torch.Tensor.repeat", "torch.tile",
              "torch.Tensor.tile", "torch.Tensor.expand", "torch.broadcast_to", "course_lib.llama.repeat_kv",
              "torch.nn.functional.scaled_dot_product_attention")
set_seed(6)
_q, _k, _v = torch.randn(2, 6, 9, 8), torch.randn(2, 2, 9, 8), torch.randn(2, 2, 9, 8)
_ref = F.scaled_dot_product_attention(_q, repeat_kv(_k, 3), repeat_kv(_v, 3), is_causal=True)
with forbid(*_no_copies, what="grouped-query attention without copies of the key/value heads"):
    _got = grouped_causal_attention(_q, _k, _v)
expect(tuple(_got.shape), (2, 6, 9, 8), name="shape (B, H, T, hs)")
expect(_got, _ref, name="6 query heads on 2 KV heads = attention on the repeated heads", atol=1e-5)
### BEGIN HIDDEN TESTS
for _hkv in (1, 6):
    _k, _v = torch.randn(1, _hkv, 7, 8), torch.randn(1, _hkv, 7, 8)
    _ref = F.scaled_dot_product_attention(_q[:1, :, :7], repeat_kv(_k, 6 // _hkv), repeat_kv(_v, 6 // _hkv),
                                          is_causal=True)
    with forbid(*_no_copies, what="grouped-query attention without copies of the key/value heads"):
        _got = grouped_causal_attention(_q[:1, :, :7].contiguous(), _k, _v)
    expect(_got, _ref, name=f"H_kv = {_hkv}", atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: RMSNorm's gradient, derived
#
# With $r = \sqrt{\tfrac1C\sum_j x_j^2 + \epsilon}$ and $y = g \odot x / r$, derive the gradients of a loss with
# respect to $x$ and to the gains $g$, given the upstream gradient $\partial L/\partial y$ (same shape as x).
# Hint: $r$ depends on every $x_j$, with $\partial r / \partial x_j = x_j / (C\,r)$. Write
# `rms_norm_backward(x, g, grad_out, eps)` returning `(grad_x, grad_g)`, with `grad_g` summed over all
# leading dimensions. The test compares it with autograd, which it switches off while your function runs.

# %% nbgrader={"grade": false, "grade_id": "ex-13-rmsnorm-backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rms_norm_backward(x, g, grad_out, eps=1e-5):
    """x, grad_out (..., C), g (C,) -> (dL/dx (..., C), dL/dg (C,)) for y = g * x / rms(x)."""
    ### BEGIN SOLUTION
    C = x.shape[-1]
    r = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)                      # (..., 1)
    gy = grad_out * g                                                          # (..., C)
    grad_x = gy / r - x * (gy * x).sum(-1, keepdim=True) / (C * r ** 3)
    grad_g = (grad_out * x / r).reshape(-1, C).sum(0)
    return grad_x, grad_g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-13-rmsnorm-backward-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_no_autograd = ("torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward", "torch.func.vjp",
                "torch.func.grad", "torch.func.jacrev", "torch.autograd.functional.vjp")
set_seed(7)
_x = (torch.randn(3, 5, 12, dtype=torch.float64) + 0.3).requires_grad_(True)
_g = (torch.rand(12, dtype=torch.float64) + 0.5).requires_grad_(True)
_dy = torch.randn(3, 5, 12, dtype=torch.float64)
_ref_x, _ref_g = torch.autograd.grad(F.rms_norm(_x, (12,), _g, eps=1e-5), (_x, _g), _dy)
with forbid(*_no_autograd, what="the backward pass of RMSNorm"):
    _gx, _gg = rms_norm_backward(_x.detach(), _g.detach(), _dy, 1e-5)
expect(_gx, _ref_x, name="dL/dx = autograd's", atol=1e-10)
expect(_gg, _ref_g, name="dL/dg = autograd's", atol=1e-10)
### BEGIN HIDDEN TESTS
_x2 = torch.randn(7, 32, dtype=torch.float64).requires_grad_(True)
_g2 = torch.ones(32, dtype=torch.float64).requires_grad_(True)
_dy2 = torch.randn(7, 32, dtype=torch.float64)
_r2 = torch.autograd.grad(F.rms_norm(_x2, (32,), _g2, eps=1e-3), (_x2, _g2), _dy2)
with forbid(*_no_autograd, what="the backward pass of RMSNorm"):
    _got2 = rms_norm_backward(_x2.detach(), _g2.detach(), _dy2, 1e-3)
expect(_got2[0], _r2[0], name="another shape and eps", atol=1e-10)
expect(_got2[1], _r2[1], name="the gains' gradient, another shape", atol=1e-10)
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | piece | what it changes | in `course_lib` |
# |---|---|---|
# | RMSNorm | divide by the root mean square; no centring, no bias | `course_lib.llama.rms_norm`, `RMSNorm` |
# | RoPE | rotate q and k by position; scores depend on offsets only | `rope_tables`, `rotate_half`, `apply_rope` |
# | SwiGLU | gated MLP, three matrices of width $\tfrac83C$ | `SwiGLU`, `llama_hidden_dim` |
# | grouped-query attention | $H_{kv}$ key/value heads shared by groups of query heads; a smaller KV-cache | `repeat_kv`, `Attention`, `kv_cache_bytes_per_token` |
# | the model, each piece switchable back to GPT-2's | `LlamaConfig(norm=, positions=, mlp=, n_kv_head=)` | `Llama`, `from_gpt`, `count_parameters`, `LLAMA_CONFIGS` |
# | to and from transformers | same logits as `LlamaForCausalLM` | `to_hf`, `from_hf` |
# | generation with a cache of KV heads | | `course_lib.generation.generate`, `KVCache` |
#
# `tests/test_llama.py` proves the model equal to `transformers`' LlamaForCausalLM (float64 to $10^{-10}$,
# float32 to $10^{-5}$, with and without both libraries' caches, for multi-head, grouped-query and multi-query
# configurations, tied and untied), each piece equal to its `torch` or `transformers` counterpart, the
# parameter formula equal to `transformers`' own count of Llama 2 7B, Llama 3 8B and Llama 3.2 1B on the meta
# device, and a clear `ValueError` for every configuration that cannot work. `benchmarks/modern.py` trains the
# modern block against chapter 08's GPT at equal time and times it against `LlamaForCausalLM`.
