# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/05_multi_head_attention.py; `make notebooks CHAPTERS=05` rebuilds and runs this notebook. -->
# # 05 · Multi-head attention
#
# In chapter 04 every word attended with its raw vector: $Q = K = V = X$. Real attention learns
# **what to ask** ($W^Q$), **what to advertise** ($W^K$) and **what to hand over** ($W^V$), and it does so
# several times in parallel, in **heads** that each look for something different:
#
# $$\operatorname{MultiHead}(X) = \operatorname{Concat}(\text{head}_1, \dots, \text{head}_h)\, W^O,\qquad
# \text{head}_i = \operatorname{Attention}(X W^Q_i,\; X W^K_i,\; X W^V_i).$$
#
# **What you will build**
#
# * the **projections**, the **split** into heads and the **merge** back, and the output matrix $W^O$, with every shape printed;
# * the **parameter count** $4 d_{model}^2 + 4 d_{model}$, checked against PyTorch;
# * a check against `torch.nn.MultiheadAttention` **with the same weights**;
# * **self-attention vs cross-attention** (queries from one sequence, keys and values from another);
# * a tiny model on Shakespeare whose two heads learn **different jobs**, seen in the head view (both heads
#   overlaid) and opened up in the neuron view (the $q \cdot k$ arithmetic behind one weight);
# * **chunked attention**: the online-softmax idea behind FlashAttention, exact, with memory that grows
#   linearly with the sequence length instead of quadratically, measured.
#
# **Prerequisites:** chapter 04 (scaled dot-product attention, masks); `torch.nn.Linear`, `view`, `transpose`.
#
# **Time:** about 50 minutes; the notebook runs in about 30 seconds (30 s measured, full mode, two CPU cores).

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
import torch.nn.functional as F

import course_lib
from course_lib import set_seed, pick
from course_lib.checks import check, expect, forbid
from course_lib.profiling import peak_memory
from course_lib.datasets import load_text
from course_lib import attention
from course_lib.attention import MultiHeadAttention
from course_lib.widgets import attention_view, head_view, neuron_view, plot_attention, plot_head_view

set_seed(0)
torch.set_num_threads(1)   # the models here are tiny: one thread is as fast, and steady on a busy machine
torch.set_printoptions(precision=3, sci_mode=False)
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Real input: a line of Shakespeare, character by character
#
# We work at the character level (the level of the GPT in chapter 08). A line becomes ids, the ids
# become vectors through an embedding table, and a batch of two lines gives the usual (B, T, C) tensor.

# %%
text = load_text("shakespeare")
lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 24][:2000]
chars = sorted(set("\n".join(lines)))
stoi = {c: i for i, c in enumerate(chars)}
batch_lines = [lines[10][:24], lines[11][:24]]
ids = torch.tensor([[stoi[c] for c in line] for line in batch_lines])     # (B, T)
print(batch_lines)
print("ids", tuple(ids.shape), " vocabulary of", len(chars), "characters")

d_model, n_heads = 32, 4
d_head = d_model // n_heads
embed = torch.nn.Embedding(len(chars), d_model)
with torch.no_grad():
    x = embed(ids)                                            # (B, T, d_model)
B, T, _ = x.shape
print("x", tuple(x.shape), f" d_model = {d_model}, {n_heads} heads of d_head = {d_head}")

# %% [markdown]
# ## 2. Projections, split, attend, merge, $W^O$
#
# All heads' $W^Q_i$ sit side by side in one $d_{model} \times d_{model}$ matrix (one `nn.Linear`), so one
# matrix product projects for every head at once. **Splitting** into heads is then only a reshape:
# the $d_{model}$ features are cut into $h$ slices of $d_{head} = d_{model}/h$, and the head axis moves in
# front of the time axis so that chapter 04's batched attention runs every head in one call.

# %%
torch.manual_seed(0)
W_q = torch.nn.Linear(d_model, d_model)                       # all heads' W^Q_i side by side
W_k = torch.nn.Linear(d_model, d_model)
W_v = torch.nn.Linear(d_model, d_model)
W_o = torch.nn.Linear(d_model, d_model)                       # W^O mixes the heads' outputs

with torch.no_grad():
    q = W_q(x)                                                # (B, T, d_model)
    print("q after projection  ", tuple(q.shape))
    q = q.view(B, T, n_heads, d_head)                         # (B, T, H, d_head): cut the features
    print("q cut into heads    ", tuple(q.shape))
    q = q.transpose(1, 2)                                     # (B, H, T, d_head): heads act like batch
    print("q heads first       ", tuple(q.shape))
    k = W_k(x).view(B, T, n_heads, d_head).transpose(1, 2)    # (B, H, T, d_head)
    v = W_v(x).view(B, T, n_heads, d_head).transpose(1, 2)    # (B, H, T, d_head)
    heads, w = attention.scaled_dot_product_attention(q, k, v, is_causal=True)
    print("per-head output     ", tuple(heads.shape), "  weights", tuple(w.shape))
    merged = heads.transpose(1, 2).reshape(B, T, d_model)     # (B, T, H * d_head): concatenate heads
    print("merged              ", tuple(merged.shape))
    out = W_o(merged)                                         # (B, T, d_model)
    print("after W^O           ", tuple(out.shape))

# %% [markdown]
# Two details are worth a second look:
#
# * `transpose` makes the tensor non-contiguous, so merging uses `reshape` (which copies when it must), not `view`.
# * $W^O$ is not decoration. Without it, head $i$'s output would only ever land in feature slice $i$;
#   $W^O$ lets every output feature combine what all heads found.
#
# `course_lib.attention.MultiHeadAttention` is these lines in a module. Given the same four linear
# layers, it computes the same numbers:

# %%
mha = MultiHeadAttention(d_model, n_heads)
with torch.no_grad():
    for ours, mine in [(mha.q_proj, W_q), (mha.k_proj, W_k), (mha.v_proj, W_v), (mha.out_proj, W_o)]:
        ours.load_state_dict(mine.state_dict())
    out_lib, w_lib = mha(x, is_causal=True)
check(out, out_lib, name="step by step = course_lib MultiHeadAttention", atol=1e-6)
_ = check(w, w_lib, name="per-head weights", atol=1e-6)

# %% [markdown]
# ### Against PyTorch, with the same weights
#
# `torch.nn.MultiheadAttention` stores $W^Q, W^K, W^V$ stacked in one `in_proj_weight` of shape
# $(3 d_{model}, d_{model})$; `load_torch_weights` copies them across. PyTorch returns the weights
# averaged over heads by default, so we compare with the mean of ours. Note one convention difference:
# for `attn_mask`, PyTorch's module says True = **forbidden**, ours (like `F.scaled_dot_product_attention`)
# True = **allowed**.

# %%
torch_mha = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True)
ours = MultiHeadAttention(d_model, n_heads).load_torch_weights(torch_mha)
with torch.no_grad():
    ref_out, ref_w = torch_mha(x, x, x, attn_mask=~attention.causal_mask(T))   # torch: True = forbidden
    our_out, our_w = ours(x, attn_mask=attention.causal_mask(T))               # ours: True = allowed
print("torch weights", tuple(ref_w.shape), " ours", tuple(our_w.shape))
check(our_out, ref_out, name="output = torch.nn.MultiheadAttention", atol=1e-6)
_ = check(our_w.mean(1), ref_w, name="weights averaged over heads = torch", atol=1e-6)

# %% [markdown]
# Mixing up the two conventions is easy, and with torch's module it goes unnoticed. `course_lib` catches it: the
# last row of torch's mask `~causal_mask(T)` is all False (the last query may see everything), which under our
# convention means "no key allowed", and a query with no allowed key is refused:

# %%
try:
    ours(x, attn_mask=~attention.causal_mask(T))               # torch's convention passed to ours
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 3. How many parameters?
#
# Four $d_{model} \times d_{model}$ matrices and four bias vectors of length $d_{model}$:
#
# $$N = 4\,d_{model}^2 + 4\,d_{model}$$
#
# **independent of the number of heads**: more heads means thinner heads, not more weights.

# %%
for d, h in [(32, 4), (32, 8), (512, 8), (768, 12)]:
    ours_n = sum(p.numel() for p in MultiHeadAttention(d, h).parameters())
    torch_n = sum(p.numel() for p in torch.nn.MultiheadAttention(d, h).parameters())
    print(f"d_model={d:>3}, heads={h:>2}: formula {4 * d * d + 4 * d:>9,}  ours {ours_n:>9,}  torch {torch_n:>9,}")
gpt2_layer = sum(p.numel() for p in torch.nn.MultiheadAttention(768, 12).parameters())
print(f"GPT-2 small: {gpt2_layer / 1e6:.2f} M per attention layer, {12 * gpt2_layer / 1e6:.1f} M in 12 layers")
check(sum(p.numel() for p in MultiHeadAttention(768, 12).parameters()), 4 * 768**2 + 4 * 768, name="4 d^2 + 4 d")
_ = check((round(gpt2_layer / 1e6, 2), round(12 * gpt2_layer / 1e6)), (2.36, 28), name="2.36 M per layer, 28 M in 12")

# %% [markdown]
# GPT-2 small ($d_{model} = 768$) spends 2.36 M parameters per attention layer, 28 M in its 12 layers.
#
# ## 4. Self-attention and cross-attention
#
# In **self-attention** queries, keys and values all come from the same sequence. In **cross-attention**
# the queries come from one sequence (say, a translation being written) and keys and values from another
# (the sentence being translated): the output has one row per **query**, and the weights are
# $T_q \times T_k$, not square. The key/value features may even have another width (`kdim`, `vdim`).

# %%
source = torch.randn(B, 9, 20)                               # another sequence: 9 positions, 20 features
cross = MultiHeadAttention(d_model, n_heads, kdim=20, vdim=20)
with torch.no_grad():
    out_x, w_x = cross(x, source, source)                     # queries from x, keys/values from source
print("queries", tuple(x.shape), " keys/values", tuple(source.shape))
print("output ", tuple(out_x.shape), " weights", tuple(w_x.shape), "(B, H, Tq, Tk)")
torch_cross = torch.nn.MultiheadAttention(d_model, n_heads, kdim=20, vdim=20, batch_first=True)
cross.load_torch_weights(torch_cross)
with torch.no_grad():
    _ = check(cross(x, source, source)[0], torch_cross(x, source, source)[0], name="cross-attention = torch", atol=1e-6)

# %% [markdown]
# Padding works as in chapter 04, but `MultiHeadAttention` follows `torch.nn.MultiheadAttention` for
# `key_padding_mask`: there, **True marks padding**. `~padding_mask(lengths, T)` converts.

# %%
kpm = ~attention.padding_mask(torch.tensor([9, 4]), 9)       # second source has 4 real positions
with torch.no_grad():
    _, w_pad = cross(x, source, source, key_padding_mask=kpm)
print("weight on padded keys of sequence 2:", w_pad[1, :, :, 4:].abs().max().item())
_ = check(w_pad[1, :, :, 4:], torch.zeros(n_heads, T, 5), name="padding receives no attention")

# %% [markdown]
# ## 5. What do different heads attend to?
#
# Untrained heads attend to noise. To see heads specialise, we train a one-layer, two-head model on
# Shakespeare with a task that needs two different look-ups: at every position, **name the previous
# character and the next one**. The model sees characters plus a learnt position vector; one linear
# read-out predicts both neighbours from the attention output.

# %%
class NeighbourModel(torch.nn.Module):
    def __init__(self, vocab_size, d_model=32, n_heads=2, block=24):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab_size, d_model)
        self.pos = torch.nn.Parameter(torch.randn(block, d_model) * 0.1)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.head = torch.nn.Linear(d_model, 2 * vocab_size)  # logits for (previous, next)

    def forward(self, ids):
        h = self.tok(ids) + self.pos[: ids.shape[1]]          # (B, T, C)
        a, w = self.attn(h)                                   # (B, T, C), (B, H, T, T)
        logits = self.head(a).unflatten(-1, (2, -1))          # (B, T, 2, V)
        return logits, w

stream = torch.tensor([stoi[c] for c in "\n".join(lines)])
block, steps = 24, 400                                        # the same in fast mode: a few seconds
set_seed(0)
model = NeighbourModel(len(chars), block=block)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
gen = torch.Generator().manual_seed(0)
t0 = time.time()
for step in range(steps):
    starts = torch.randint(len(stream) - block, (64,), generator=gen)
    batch = torch.stack([stream[s:s + block] for s in starts])           # (64, T)
    logits, _ = model(batch)
    prev_loss = F.cross_entropy(logits[:, 1:, 0].flatten(0, 1), batch[:, :-1].flatten())   # position t names t-1
    next_loss = F.cross_entropy(logits[:, :-1, 1].flatten(0, 1), batch[:, 1:].flatten())   # position t names t+1
    loss = prev_loss + next_loss
    opt.zero_grad()
    loss.backward()
    opt.step()
train_seconds = time.time() - t0

# %%
# NBVAL_IGNORE_OUTPUT
# (the loss depends on the number of steps, which fast mode shortens)
print(f"{steps} steps in {train_seconds:.1f} s; final loss {loss.item():.3f} (2 ln V = {2 * math.log(len(chars)):.2f} at chance)")

# %% [markdown]
# For every head we measure where its attention goes, as an average over many positions: how much of
# each row lands on the **previous** character (offset −1), on **itself** (0) and on the **next** (+1).

# %%
model.eval()
with torch.no_grad():
    sample = torch.stack([stream[s:s + block] for s in range(0, 64 * block, block)])   # (64, T) fixed lines
    _, w_trained = model(sample)                               # (64, H, T, T)
offsets = {}
for h in range(2):
    wh = w_trained[:, h]
    offsets[h] = {off: wh.diagonal(offset=off, dim1=-2, dim2=-1).mean().item() for off in (-1, 0, 1)}
    print(f"head {h}: previous {offsets[h][-1]:.2f}   itself {offsets[h][0]:.2f}   next {offsets[h][1]:.2f}")

# %%
best = {h: max(offsets[h], key=offsets[h].get) for h in offsets}
check(sorted(best.values()), [-1, 1], name="one head looks back, the other ahead")
_ = check(min(max(o.values()) for o in offsets.values()) > pick(0.8, 0.3), True, name="each head is focused")

# %% [markdown]
# The head view draws a line from every query character (left) to the characters it reads (right). Here are
# both heads side by side, for the first line of the sample: the lines of the head that reads the previous
# character slope up, those of the other head slope down (the next character). Nobody told the heads to
# split the work; the loss did.

# %%
line_tokens = [repr(chars[i])[1:-1] for i in sample[0]]
fig, axes = plt.subplots(1, 2, figsize=(9, 7))
for h, ax in enumerate(axes):
    plot_head_view(w_trained[0], line_tokens, head=h, ax=ax)
    ax.set_title(f"head {h}: mostly reads offset {best[h]:+d}")
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# The interactive head view draws **both heads at once**, overlaid in their colours (head 0 blue, head 1 orange);
# the buttons switch a head off and on. Hover a character on the **left** (a query) to keep only what it reads:
# one line of each colour, to its two neighbours. Hover a character on the **right** (a key) to keep only **who
# reads it**: its two neighbours again. The pictures above show each head alone; the overlay shows how the two
# heads share the work: every character is read once by the character after it (through the head that looks back)
# and once by the character before it (through the head that looks ahead). The next cell measures that, over the
# 64 sample lines.

# %%
head_view(w_trained[0], line_tokens)                          # (H, T, T): both heads of the one layer, overlaid

# %%
back = next(h for h in best if best[h] == -1)                  # the head that reads the previous character
ahead = 1 - back
top_reader = w_trained.argmax(dim=-2)                          # (64, H, Tk): for each key, the query that reads it most
positions = torch.arange(block)
read_by_next = (top_reader[:, back, :-1] == positions[:-1] + 1).float().mean().item()   # key t <- query t+1
read_by_prev = (top_reader[:, ahead, 1:] == positions[1:] - 1).float().mean().item()    # key t <- query t-1
print(f"head {back} (looks back): key t is read most by query t+1 for {read_by_next:.0%} of the keys")
print(f"head {ahead} (looks ahead): key t is read most by query t-1 for {read_by_prev:.0%} of the keys")
check(min(read_by_next, read_by_prev) > 0.9, True, name="each character is read by its neighbour, one per head")
assert check((read_by_next == 1.0, 0.93 < read_by_prev < 0.99), (True, True), name="100% and 96%, as the text says")

# %% [markdown]
# In this run the head that looks back is read that way for every key, the head that looks ahead for 96% of them.

# %% [markdown]
# ### One weight, step by step: the neuron view
#
# Why does head `back` put its weight on the previous character? The **neuron view** opens one weight up. Pick
# a query character and a key character: it shows the query vector $q = x W^Q$ of that position (one head's
# $d_{head} = 16$ numbers, red positive, blue negative), the key vector $k = x W^K$ of **every** key, their
# element-wise product $q \circ k$, its sum $q \cdot k$, the division by $\sqrt{d_{head}} = 4$, and the softmax
# over the row; the arithmetic of the key you picked is written out underneath. The numbers are recomputed from
# the module's own inputs, and the view refuses to draw if they do not give the weights the module returned.
#
# What to look for: for a query, the row of the **previous** character has the largest score, and softmax
# turns a lead of a few units into most of the weight, since $e^{\Delta}$ grows fast. The next cell measures
# that lead over every position of the 64 sample lines, and how many of the 16 products of $q \circ k$ push the
# right way (positive), since a score is a sum: no single dimension has to decide.

# %%
attn = model.attn
with torch.no_grad():
    x_sample = model.tok(sample) + model.pos[:block]                           # (64, T, C) the inputs of the attention
    q_all = attn.split_heads(attn.q_proj(x_sample))[:, back]                   # (64, T, d_head)
    k_all = attn.split_heads(attn.k_proj(x_sample))[:, back]                   # (64, T, d_head)
scores = q_all @ k_all.transpose(-2, -1) / math.sqrt(attn.d_head)              # (64, T, T)
t = torch.arange(1, block)
prev_score = scores[:, t, t - 1]                                               # (64, T-1): query t, key t-1
others = scores[:, t].clone()
others[:, torch.arange(block - 1), t - 1] = float("-inf")
lead = prev_score - others.max(dim=-1).values                                  # over the best other key
positive = (q_all[:, t] * k_all[:, t - 1] > 0).sum(-1).float()                 # (64, T-1) products > 0
print(f"score of the previous character minus the best other key: median {lead.median():.2f} "
      f"(positive for {(lead > 0).float().mean():.0%} of the positions)")
print(f"products q_i k_i > 0 for the previous character: {positive.mean():.1f} of {attn.d_head} on average")
assert check((2.6 < lead.median().item() < 2.9, 13.5 < positive.mean().item() < 14.5), (True, True),
          name="the previous character wins by a sum of many agreeing dimensions (2.75, about 14 of 16)")

# %% [markdown]
# The previous character leads the best other key by a median of 2.75 in scaled score, so it gets about
# $e^{2.75} \approx 16$ times the weight of the runner-up; and about 14 of the 16 products $q_i k_i$ are positive:
# the score is a vote of many dimensions, not one feature switched on.

# %% [markdown]
# Here it is for the first 12 characters of the sample line (the module run on those 12 positions; a query may
# only pick among keys that exist, so the rows are those of a 12-character input). The view opens on the last
# query and the key it reads most: pick other keys to compare their products and scores.

# %%
with torch.no_grad():
    x_line = model.tok(sample[:1, :12]) + model.pos[:12]                      # (1, 12, C)
neuron_view(attn, line_tokens[:12], x=x_line, head=back,
            title=f"head {back} (looks back) of the neighbour model, first 12 characters")

# %% [markdown]
# ## 6. Chunked attention: exact, with memory linear in $T$
#
# Plain attention builds the full $T \times T$ score matrix. At $T = 8192$ with 12 heads in float32 that
# is 3 GiB for one layer's scores alone ($12 \cdot 8192^2 \cdot 4$ bytes $= 3 \cdot 2^{30}$); memory grows
# **quadratically**. Yet each output row is only a
# weighted average. We can visit the keys in **chunks**, keeping per query row a running maximum $m$,
# a running denominator $\ell$ and a running, unnormalised output $o$. When a new chunk raises the
# maximum from $m$ to $m'$, everything accumulated so far is rescaled by $e^{m - m'}$:
#
# $$m' = \max(m, \max_j s_j), \quad \ell' = \ell\, e^{m - m'} + \sum_j e^{s_j - m'}, \quad
# o' = o\, e^{m - m'} + \sum_j e^{s_j - m'} v_j, \qquad \text{output} = o / \ell .$$
#
# This **online softmax** is the core idea of FlashAttention: the result is exact (not an approximation),
# and only a $T \times \text{chunk}$ block of scores ever exists. Here it is with two chunks, by hand:

# %%
g = torch.Generator().manual_seed(0)
qc, kc, vc = (torch.randn(6, 8, generator=g, dtype=torch.float64) for _ in range(3))
s = qc @ kc.T / math.sqrt(8)                                  # (6, 6) all scores, for reference only
s1, s2 = s[:, :3], s[:, 3:]                                   # two chunks of keys
m1 = s1.max(-1, keepdim=True).values
l1 = torch.exp(s1 - m1).sum(-1, keepdim=True)
o1 = torch.exp(s1 - m1) @ vc[:3]                              # state after chunk 1
m = torch.maximum(m1, s2.max(-1, keepdim=True).values)        # chunk 2 may raise the maximum
l = l1 * torch.exp(m1 - m) + torch.exp(s2 - m).sum(-1, keepdim=True)
o = o1 * torch.exp(m1 - m) + torch.exp(s2 - m) @ vc[3:]
check(o / l, torch.softmax(s, -1) @ vc, name="two chunks by hand = plain attention", rtol=1e-12)
_ = check(attention.chunked_attention(qc, kc, vc, chunk_size=2), torch.softmax(s, -1) @ vc,
      name="course_lib chunked_attention", rtol=1e-12)

# %% [markdown]
# ### Memory, measured
#
# `course_lib.profiling.peak_memory(fn)` reports how many bytes of memory `fn()` needed at its peak on top
# of what was already in use (it resets Linux's resident-memory high-water mark, runs `fn`, and reads the
# mark back). We run plain and chunked attention (2 heads, $d_k = 64$, float32, chunks of 256 keys) for
# growing $T$. One (H, T, T) matrix of float32 scores for the 2 heads takes $2 \cdot T^2 \cdot 4$ bytes; the
# plot draws that line, and twice it, for reasons we look at right after.

# %%
# NBVAL_IGNORE_OUTPUT
# (memory figures vary a little between machines and runs; the check below asserts the growth)
lengths = pick([1024, 2048, 4096, 8192], [1024, 2048, 4096])
mem = {"plain": [], "chunked": []}
warm = torch.randn(1, 2, 256, 64)                              # the first call of each starts thread pools: not counted
with torch.no_grad():
    peak_memory(lambda: attention.scaled_dot_product_attention(warm, warm, warm)[0])
    peak_memory(lambda: attention.chunked_attention(warm, warm, warm, chunk_size=256))
for T_mem in lengths:
    g = torch.Generator().manual_seed(T_mem)
    qm, km, vm = (torch.randn(1, 2, T_mem, 64, generator=g) for _ in range(3))
    with torch.no_grad():
        mem["plain"].append(peak_memory(lambda: attention.scaled_dot_product_attention(qm, km, vm)[0]))
        mem["chunked"].append(peak_memory(lambda: attention.chunked_attention(qm, km, vm, chunk_size=256)))
        check(attention.chunked_attention(qm, km, vm, chunk_size=256),
              attention.scaled_dot_product_attention(qm, km, vm)[0], name=f"T={T_mem}: chunked = plain", atol=1e-5)
    print(f"T={T_mem:>5}: plain {mem['plain'][-1] / 2**20:7.1f} MiB   chunked {mem['chunked'][-1] / 2**20:6.1f} MiB")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
for name, values in mem.items():
    ax.loglog(lengths, np.array(values) / 2**20, "o-", label=name)
one_matrix = np.array([2 * t * t * 4 for t in lengths])       # (H=2, T, T) float32, in bytes
ax.loglog(lengths, one_matrix / 2**20, "k:", label="one (H, T, T) matrix: 2·T²·4 bytes")
ax.loglog(lengths, 2 * one_matrix / 2**20, "k--", label="two of them: scores and weights")
print("plain / one (H, T, T) matrix:", [round(float(m / b), 2) for m, b in zip(mem["plain"], one_matrix)])
ax.set(xlabel="sequence length T", ylabel="peak extra memory (MiB)", title="attention memory: quadratic vs linear")
ax.legend()
fig.tight_layout()
plt.close(fig)
fig

# %%
growth = lengths[-1] / lengths[0]
plain_growth = mem["plain"][-1] / mem["plain"][0]
chunked_growth = mem["chunked"][-1] / mem["chunked"][0]
print(f"plain memory grew {'about quadratically' if plain_growth > 0.6 * growth**2 else 'LESS than quadratically'}, "
      f"chunked {'about linearly' if chunked_growth < 1.5 * growth else 'MORE than linearly'}")
check(plain_growth > 0.6 * growth**2 and chunked_growth < 1.5 * growth, True, name="quadratic vs linear memory")
_ = check(all(1.8 < m / b < 2.3 for m, b in zip(mem["plain"], one_matrix)), True,
          name="plain attention holds two (H, T, T) matrices at its peak")

# %% [markdown]
# Why two matrices? Plain attention computes `scores = (q @ k^T) * scale` and then `weights = softmax(scores)`:
# while the softmax writes the weights, the scores still exist, so at the peak both (H, T, T) matrices are alive
# (the product `q @ k^T` and its scaled copy also coexist for a moment, two matrices again). Chunked attention
# only ever holds (H, T, 256) blocks, plus the (H, T, d) running output.

# %% [markdown]
# The price is speed in pure PyTorch (a Python loop over chunks); FlashAttention fuses the loop into one GPU
# kernel and is then *faster* than plain attention, because it also avoids reading and writing the big matrix.
# `torch.nn.functional.scaled_dot_product_attention` uses such fused kernels, which is why the GPT of chapter 08
# calls it (through `need_weights=False`) when it does not need to show the weights.
#
# ## 7. Exercises
#
# Each test runs your function with the shortcut switched off (`forbid`): build the piece from the operations
# the chapter showed.
#
# ### Exercise 1: what each head adds to the output
#
# Section 2 said that $W^O$ lets every output feature combine what all heads found. Make that exact: split
# $W^O$ (a `torch.nn.Linear` of weight $(d_{model}, d_{model})$) into $h$ column blocks $W^O_i$ of width
# $d_{head}$, one per head, so that
#
# $$\operatorname{Concat}(\text{head}_1, \dots, \text{head}_h)\, W^{O\top} + b = \sum_i \text{head}_i\, W^{O\top}_i + b .$$
#
# Write `head_contributions(heads, out_proj)`: for per-head outputs `heads` (B, H, T, $d_{head}$) return the
# (B, H, T, $d_{model}$) tensor whose slice $i$ is $\text{head}_i W^{O\top}_i$ (no bias). Merging heads and calling
# the layer are switched off: slice the weight.

# %% nbgrader={"grade": false, "grade_id": "ex-05-head-contributions", "locked": false, "schema_version": 3, "solution": true, "task": false}
def head_contributions(heads, out_proj):
    """(B, H, T, d_head), Linear(d_model, d_model) -> (B, H, T, d_model): head i times its block of W^O."""
    ### BEGIN SOLUTION
    H, d_head = heads.shape[1], heads.shape[-1]
    blocks = out_proj.weight.view(out_proj.weight.shape[0], H, d_head)   # (d_model, H, d_head)
    return torch.einsum("bhtd,ehd->bhte", heads, blocks)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-05-head-contributions-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_no_merge = ("course_lib.attention.MultiHeadAttention.merge_heads", "torch.nn.functional.linear")
with torch.no_grad():
    _ref_out = out - W_o.bias                                 # section 2's output, without the bias
    with forbid(*_no_merge, what="the per-head split of W^O"):
        _parts = head_contributions(heads, W_o)
expect(_parts.shape, (B, n_heads, T, d_model), name="one contribution per head")
expect(_parts.sum(1), _ref_out, name="the contributions add up to the output", atol=1e-5)
### BEGIN HIDDEN TESTS
with torch.no_grad():
    _only0 = heads.clone()
    _only0[:, 1:] = 0.0                                       # every head but head 0 silenced
    _ref0 = W_o(_only0.transpose(1, 2).reshape(B, T, d_model)) - W_o.bias
    with forbid(*_no_merge, what="the per-head split of W^O"):
        _parts = head_contributions(heads, W_o)
expect(_parts[:, 0], _ref0, name="head 0's contribution alone", atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: count the parameters
#
# Write `mha_param_count(d_model, kdim=None, vdim=None, bias=True)`: the number of parameters of a
# multi-head attention layer whose keys have `kdim` features and values `vdim` (default `d_model`), from the
# shapes of $W^Q, W^K, W^V, W^O$ and their biases. Building a module and counting its parameters is switched off.

# %% nbgrader={"grade": false, "grade_id": "ex-05-params", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mha_param_count(d_model, kdim=None, vdim=None, bias=True):
    """Weights of W^Q, W^K, W^V, W^O plus their biases."""
    ### BEGIN SOLUTION
    kdim, vdim = kdim or d_model, vdim or d_model
    weights = d_model * d_model + d_model * kdim + d_model * vdim + d_model * d_model
    return weights + (4 * d_model if bias else 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-05-params-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_refs = [sum(p.numel() for p in m.parameters()) for m in (MultiHeadAttention(32, 4), cross)]
_no_modules = ("torch.nn.Module.parameters", "torch.nn.Module.named_parameters", "torch.nn.Module.state_dict",
               "torch.nn.Module.__init__")
with forbid(*_no_modules, what="the parameter count"):
    _got = [mha_param_count(32), mha_param_count(32, 20, 20)]
expect(_got[0], _refs[0], name="d_model=32")
expect(_got[1], _refs[1], name="cross-attention with kdim=vdim=20")
### BEGIN HIDDEN TESTS
_refs = [sum(p.numel() for p in m.parameters()) for m in
         (MultiHeadAttention(64, 2, kdim=8, vdim=16, bias=False), torch.nn.MultiheadAttention(768, 12))]
with forbid(*_no_modules, what="the parameter count"):
    _got = [mha_param_count(64, 8, 16, bias=False), mha_param_count(768)]
expect(_got[0], _refs[0], name="no bias, kdim != vdim")
expect(_got[1], _refs[1], name="GPT-2 small layer = torch")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: merge many partial results, some of them empty
#
# $K$ workers each attended to one block of keys and returned their state `(m, l, o)` (row maximum,
# denominator, unnormalised output, as in section 6). Some blocks were entirely masked for some queries: their
# state is $m = -\infty$, $\ell = 0$, $o = 0$. Write `merge_states(states)`, taking a list of `(m, l, o)` with
# m, l (Tq, 1) and o (Tq, $d_v$), and returning the merged `(m, l, o)`, so that `o / l` is attention over all
# the keys, with no NaN. The softmax and log-sum-exp functions are switched off.

# %% nbgrader={"grade": false, "grade_id": "ex-05-online-softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def merge_states(states):
    """Combine online-softmax states [(m (Tq, 1), l (Tq, 1), o (Tq, d_v)), ...] into one."""
    ### BEGIN SOLUTION
    m = states[0][0]
    for m_i, _, _ in states[1:]:
        m = torch.maximum(m, m_i)
    m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))   # rows no worker saw: avoid -inf - -inf
    l = torch.zeros_like(states[0][1])
    o = torch.zeros_like(states[0][2])
    for m_i, l_i, o_i in states:
        a = torch.exp(m_i - m_safe)                          # exp(-inf) = 0 for empty states
        l, o = l + l_i * a, o + o_i * a
    return m, l, o
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-05-online-softmax-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_gs = torch.Generator().manual_seed(5)
_s = torch.randn(6, 9, generator=_gs, dtype=torch.float64) * 20   # large scores: no overflow allowed
_v = torch.randn(9, 4, generator=_gs, dtype=torch.float64)
_allowed = torch.ones(6, 9, dtype=torch.bool)
_allowed[:3, 3:6] = False                                    # block 2 is fully masked for queries 0-2
_ref = torch.softmax(_s.masked_fill(~_allowed, float("-inf")), -1) @ _v   # reference, before the switch-off
_ref_m = _s.masked_fill(~_allowed, float("-inf")).max(-1, keepdim=True).values
_states = []
for _b in range(3):                                          # three workers, three keys each
    _sb = _s[:, 3 * _b:3 * _b + 3].masked_fill(~_allowed[:, 3 * _b:3 * _b + 3], float("-inf"))
    _mb = _sb.max(-1, keepdim=True).values
    _eb = torch.exp(_sb - torch.where(torch.isfinite(_mb), _mb, torch.zeros_like(_mb)))
    _states.append((_mb, _eb.sum(-1, keepdim=True), _eb @ _v[3 * _b:3 * _b + 3]))
_off = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.logsumexp",
        "torch.Tensor.logsumexp", "course_lib.attention.chunked_attention",
        "course_lib.attention.scaled_dot_product_attention", "course_lib.losses.softmax")
with forbid(*_off, what="the merge of online-softmax states"):
    _m, _l, _o = merge_states(_states)
expect(_o / _l, _ref, name="three blocks, one of them empty for some rows = full attention", rtol=1e-10)
### BEGIN HIDDEN TESTS
_ref2 = torch.softmax(torch.cat([_s[:, 3:6].masked_fill(~_allowed[:, 3:6], float("-inf")), _s[:, :3]], -1), -1) \
    @ torch.cat([_v[3:6], _v[:3]])
with forbid(*_off, what="the merge of online-softmax states"):
    _m2, _l2, _o2 = merge_states(_states[1:2] + _states[:1])     # starts with a state that is empty for rows 0-2
expect(_o2 / _l2, _ref2, name="an empty state first", rtol=1e-10)
expect(_m, _ref_m, name="merged maximum")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | idea | equation / shape | in `course_lib` |
# |---|---|---|
# | projections | $Q = XW^Q$, $K = XW^K$, $V = XW^V$, each (B, T, $d_{model}$) | `MultiHeadAttention.q_proj`, `k_proj`, `v_proj` |
# | split / merge heads | (B, T, C) ↔ (B, H, T, C/H) | `MultiHeadAttention.split_heads`, `merge_heads` |
# | output projection | $\operatorname{Concat}(\text{heads})\,W^O$ | `MultiHeadAttention.out_proj` |
# | parameters | $4d_{model}^2 + 4d_{model}$, any number of heads | — |
# | self / cross-attention | `mha(x)` / `mha(x, memory, memory)`, weights (B, H, $T_q$, $T_k$) | `course_lib.attention.MultiHeadAttention` |
# | online softmax | rescale by $e^{m - m'}$ when the maximum grows | `course_lib.attention.chunked_attention` |
# | memory measurement | peak resident bytes of a call (Linux) | `course_lib.attention.peak_memory` |
# | head view | every head of a layer overlaid, heads toggled, hover a query / a key | `course_lib.widgets.head_view` |
# | neuron view | $q$, $k$, $q \circ k$, $q \cdot k$, $/\sqrt{d}$, softmax for one weight | `course_lib.widgets.neuron_view` |
#
# `MultiHeadAttention` is tested against `torch.nn.MultiheadAttention` with copied weights (with and without bias,
# `kdim`/`vdim`, `key_padding_mask`; outputs, averaged weights and gradients) in `tests/test_attention.py`, and
# `benchmarks/attention.py` times it against PyTorch and measures the memory of plain and chunked attention.
#
# **Next:** chapter 06 wraps attention with positions, LayerNorm, feed-forward layers and residual paths into the
# Transformer, and trains one.
