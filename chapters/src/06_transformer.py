# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/06_transformer.py; `make notebooks CHAPTERS=06` rebuilds and runs this notebook. -->
# # 06 · The Transformer
#
# Attention alone is not a model. It does not know word order, its outputs drift in scale layer after layer,
# and it only mixes information between positions without transforming it. The Transformer of
# *Attention Is All You Need* (Vaswani et al., 2017) adds four ingredients around it, and stacks the result:
#
# $$\text{block}(x) = \text{LN}\big(x + \text{FFN}(\text{LN}(x + \text{MultiHead}(x)))\big) \qquad \text{(post-norm)}$$
#
# **What you will build**
#
# * **positional encodings**, fixed (sinusoids, plotted) and learnt;
# * **LayerNorm** and the position-wise **feed-forward network**;
# * **residual paths**, and the difference between **post-norm** and **pre-norm**, measured;
# * **encoder** and **decoder** blocks, checked against `torch.nn.TransformerEncoderLayer`/`DecoderLayer` with copied weights;
# * a complete **encoder-decoder** trained to write numbers in words ("407" → "four hundred seven"),
#   ≥ 95 % exact on numbers it never saw, in about a minute on a laptop CPU;
# * its **cross-attention**, shown in the attention widget.
#
# **Prerequisites:** chapters 04 and 05 (attention, multi-head attention); chapter 07's cross-entropy is used
# as a black box (`F.cross_entropy`).
#
# **Time:** about 60 minutes; the notebook runs in about two minutes (the training takes most of it).

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
from course_lib.checks import check, expect
from course_lib.attention import causal_mask, padding_mask
from course_lib import transformer as tf
from course_lib.widgets import attention_view

set_seed(0)
torch.set_num_threads(1)   # the models here are tiny: one thread is as fast, and steady on a busy machine
torch.set_printoptions(precision=3, sci_mode=False)
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Where am I? Positional encodings
#
# Attention is a weighted **sum**, and a sum does not care about order: shuffle the words of a sentence
# and every word gets the same output as before (just shuffled). Let us check this on real-sized tensors.

# %%
from course_lib.attention import MultiHeadAttention

mha = MultiHeadAttention(16, 2).eval()
x = torch.randn(1, 6, 16)
perm = torch.tensor([3, 0, 5, 1, 4, 2])
with torch.no_grad():
    out, _ = mha(x)
    out_shuffled, _ = mha(x[:, perm])
_ = check(out_shuffled, out[:, perm], name="attention is permutation-equivariant", atol=1e-6)

# %% [markdown]
# So "dog bites man" and "man bites dog" would look alike. The fix is to **add** to each token's vector a
# vector that depends on its position. The original paper uses fixed sinusoids of geometrically spaced
# wavelengths:
#
# $$PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right), \qquad PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right).$$
#
# Each pair of columns is a clock hand turning at its own speed: the first ones spin fast and tell
# neighbours apart, the last ones barely move and tell far-apart positions apart.

# %%
pe = tf.sinusoidal_positions(100, 64)                          # (positions, d_model)
print("PE", tuple(pe.shape))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
im = axes[0].imshow(pe.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set(xlabel="position", ylabel="feature", title="sinusoidal positional encoding")
fig.colorbar(im, ax=axes[0])
sim = pe @ pe[40]                                             # (100,) dot product with position 40
axes[1].plot(sim)
axes[1].axvline(40, color="grey", ls=":")
axes[1].set(xlabel="position j", ylabel="PE[40] · PE[j]", title="nearby positions look alike")
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# Two properties make the sinusoids useful, and both can be checked:
#
# * the dot product $PE_{i}\cdot PE_{j} = \sum_k \cos\big(\omega_k (i - j)\big)$ depends only on the **offset** $i-j$;
# * moving by a fixed offset is a **rotation** of each (sin, cos) pair, a linear map, so attention can learn
#   "look 3 positions back" with a matrix.

# %%
check(pe[10] @ pe[13], pe[50] @ pe[53], name="PE_i . PE_j depends on i - j only", rtol=1e-4)
omega = 10000.0 ** (-torch.arange(0, 64, 2) / 64)             # (32,) angular speed of each pair
k = 3
rot_sin = pe[:, 0::2] * torch.cos(k * omega) + pe[:, 1::2] * torch.sin(k * omega)   # sin(a + b) = ...
_ = check(rot_sin[:97], pe[3:, 0::2], name="PE[pos + 3] is a rotation of PE[pos]", atol=1e-4)

# %% [markdown]
# **Learnt** positions (GPT, BERT) are simply a trainable table of shape (max_len, $d_{model}$) — more flexible,
# but they know nothing about positions beyond `max_len`. `course_lib.transformer` has both:

# %%
x = torch.zeros(2, 5, 64)
check(tf.SinusoidalPositionalEncoding(64)(x)[0], pe[:5], name="SinusoidalPositionalEncoding adds PE")
learned = tf.LearnedPositionalEncoding(64, max_len=128)
print("learnt table", tuple(learned.weight.shape), " trainable:", learned.weight.requires_grad)

# %% [markdown]
# ## 2. LayerNorm
#
# For each token separately, LayerNorm removes the mean and divides by the standard deviation of its
# $C$ features, then applies a learnt scale $\gamma$ and shift $\beta$:
#
# $$\text{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta,\qquad
# \mu = \frac1C\sum_c x_c, \quad \sigma^2 = \frac1C \sum_c (x_c - \mu)^2 .$$
#
# Unlike BatchNorm it never mixes examples or positions, so it behaves the same in training and at
# generation time, one token at a time.

# %%
x = torch.randn(2, 5, 64) * 3 + 7                              # (B, T, C) far from mean 0, std 1
mu = x.mean(-1, keepdim=True)                                  # (B, T, 1)
var = ((x - mu) ** 2).mean(-1, keepdim=True)                   # (B, T, 1) biased: divide by C
x_hat = (x - mu) / torch.sqrt(var + 1e-5)                      # (B, T, C)
print("before: mean %.2f std %.2f | after: mean %.2f std %.2f" % (x.mean(), x.std(), x_hat.mean(), x_hat.std()))
check(x_hat, tf.LayerNorm(64)(x), name="by hand = course_lib LayerNorm", atol=1e-5)
_ = check(x_hat, torch.nn.LayerNorm(64)(x), name="by hand = torch.nn.LayerNorm", atol=1e-5)

# %% [markdown]
# ## 3. The position-wise feed-forward network
#
# Attention mixes information **between** positions; the FFN then transforms each position **on its own**,
# with the same two-layer network everywhere (usually $d_{ff} = 4 d_{model}$):
#
# $$\text{FFN}(x) = W_2\, \phi(W_1 x + b_1) + b_2, \qquad \phi = \text{ReLU (2017) or GELU (BERT, GPT)} .$$
#
# In large models most of the parameters live here: $2 \cdot d_{model} \cdot 4 d_{model} = 8 d_{model}^2$ weights,
# twice the attention's $4 d_{model}^2$.

# %%
ffn = tf.FeedForward(64, 256, activation="gelu")
y = ffn(x)
print("FFN", tuple(x.shape), "->", tuple(y.shape), " parameters:", sum(p.numel() for p in ffn.parameters()))
check(ffn(x[:, 2:3]), y[:, 2:3], name="each position transformed on its own", atol=1e-6)
z = torch.linspace(-4, 4, 9)
_ = check(tf.gelu(z), F.gelu(z), name="GELU = x Phi(x) = torch", atol=1e-6)

# %% [markdown]
# ## 4. Residual paths, post-norm and pre-norm
#
# Each sub-layer (attention, FFN) is wrapped in a **residual** connection, $x + f(x)$: the block only has to
# learn a *change* to $x$, and the gradient has a direct path to the early layers. Where LayerNorm goes
# has two conventions:
#
# | | formula | used by |
# |---|---|---|
# | post-norm | $x \leftarrow \text{LN}(x + f(x))$ | the 2017 paper, BERT |
# | pre-norm | $x \leftarrow x + f(\text{LN}(x))$ | GPT-2 and most models since |
#
# Post-norm normalises the residual stream after every sub-layer; pre-norm leaves the stream alone and
# normalises only what enters each sub-layer, so the stream grows with depth and a final LayerNorm is
# needed at the top. Measured on a 12-layer encoder at initialisation: the size of the residual stream
# after each layer, and the gradient reaching each layer's weights.

# %%
def depth_profile(norm_first, n_layers=12, d=64):
    set_seed(1)
    enc = tf.Encoder(n_layers, d, 4, 4 * d, dropout=0.0, norm_first=norm_first)
    x = torch.randn(8, 16, d)
    stds, h = [], x
    for layer in enc.layers:
        h = layer(h)
        stds.append(h.std().item())
    enc(x).pow(2).mean().backward()
    grads = [layer.ffn.linear1.weight.grad.norm().item() for layer in enc.layers]
    return stds, grads

profiles = {name: depth_profile(nf) for name, nf in [("post-norm", False), ("pre-norm", True)]}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
for name, (stds, grads) in profiles.items():
    axes[0].plot(range(1, 13), stds, "o-", label=name)
    axes[1].semilogy(range(1, 13), grads, "o-", label=name)
axes[0].set(xlabel="layer", ylabel="std of the residual stream", title="activations")
axes[1].set(xlabel="layer", ylabel="‖grad of W1‖", title="gradient reaching each layer")
for ax in axes:
    ax.legend()
fig.tight_layout()
plt.close(fig)
fig

# %%
post_std, pre_std = profiles["post-norm"][0], profiles["pre-norm"][0]
post_g, pre_g = profiles["post-norm"][1], profiles["pre-norm"][1]
print("stream std, layers 1 / 12:   post-norm %.2f / %.2f   pre-norm %.2f / %.2f" % (post_std[0], post_std[-1], pre_std[0], pre_std[-1]))
print("grad spread (max/min layer): post-norm %.1f   pre-norm %.1f" % (max(post_g) / min(post_g), max(pre_g) / min(pre_g)))
check(max(abs(s - 1) for s in post_std) < 0.05, True, name="post-norm: stream renormalised to std 1 after every layer")
check(pre_std[-1] > 1.25 * pre_std[0], True, name="pre-norm: the residual stream grows with depth")
_ = check(max(post_g) / min(post_g) > 3 * max(pre_g) / min(pre_g), True, name="post-norm: gradients far less even across layers")

# %% [markdown]
# Post-norm keeps the stream at unit scale, but its gradients reach the layers unevenly, one reason the
# original Transformer needed a learning-rate warm-up; pre-norm's direct residual path gives more even
# gradients and trains deep stacks more easily, which is why GPT-2 (chapter 08) uses it.
#
# ## 5. Encoder and decoder blocks
#
# An **encoder block** is self-attention + FFN. A **decoder block** has three sub-layers: **causal** self-attention
# over what has been generated so far, **cross-attention** whose queries come from the decoder and keys/values from
# the encoder's output (the *memory*), and an FFN. Each of our blocks is checked against PyTorch's with the same
# weights, in both norm placements.

# %%
for norm_first in (False, True):
    torch.manual_seed(0)
    ref_enc = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref_dec = torch.nn.TransformerDecoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=norm_first)
    enc = tf.EncoderLayer(32, 4, 64, dropout=0.0, norm_first=norm_first).load_torch_weights(ref_enc)
    dec = tf.DecoderLayer(32, 4, 64, dropout=0.0, norm_first=norm_first).load_torch_weights(ref_dec)
    src, tgt = torch.randn(2, 7, 32), torch.randn(2, 5, 32)
    src_pad = ~padding_mask(torch.tensor([7, 4]), 7)           # True = padding (torch's convention)
    with torch.no_grad():
        memory = enc(src, src_key_padding_mask=src_pad)
        check(memory, ref_enc(src, src_key_padding_mask=src_pad), name=f"encoder layer, norm_first={norm_first}", atol=1e-5)
        out = dec(tgt, memory, tgt_is_causal=True, memory_key_padding_mask=src_pad, need_weights=True)
        ref = ref_dec(tgt, memory, tgt_mask=~causal_mask(5), tgt_is_causal=True, memory_key_padding_mask=src_pad)
        check(out, ref, name=f"decoder layer, norm_first={norm_first}", atol=1e-5)
print("decoder self-attention", tuple(dec.self_weights.shape), " cross-attention", tuple(dec.cross_weights.shape))

# %% [markdown]
# ### Myth, measured: "BERT has an encoder and a decoder"
#
# A sentence that appears in many introductions. BERT is **encoder-only**: a stack of the blocks above with no
# causal mask and no cross-attention; GPT is **decoder-only** (causal self-attention, no cross-attention either);
# only sequence-to-sequence models such as the original Transformer or T5 have both. We can ask the
# `transformers` library directly, building a small randomly initialised BERT (nothing is downloaded):

# %%
import transformers

bert = transformers.BertModel(transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                                      intermediate_size=128, vocab_size=100))
print("top-level parts of BertModel:", [name for name, _ in bert.named_children()])
cross_modules = [n for n, _ in bert.named_modules() if "crossattention" in n]
print("is_decoder:", bert.config.is_decoder, " add_cross_attention:", bert.config.add_cross_attention,
      " cross-attention modules:", len(cross_modules))
_ = check("decoder" in dict(bert.named_children()) or len(cross_modules) > 0, False, name="BERT has no decoder")

# %% [markdown]
# ## 6. A complete encoder-decoder: numbers to words
#
# Time to train one. The task is small but a real sequence-to-sequence problem: read a number's digits and
# write it in English words. Output length differs from input length, and the right word depends on a
# digit's **position** ("4" is "four", "forty" or "four hundred"), so the decoder must learn where to look
# in the source: cross-attention. `course_lib.transformer.NumberWords` generates the data; the numbers we
# test on are never seen in training.

# %%
task = tf.NumberWords()                                        # numbers 0 .. 999,999
train_numbers, test_numbers = task.split(n_train=20_000, n_test=pick(1000, 200), seed=0)
for n in [7, 40, 407, 12019, 700070]:
    print(f"{n:>7} -> {' '.join(tf.number_to_words(n))}")
src_train, tgt_train = task.encode_src(train_numbers), task.encode_tgt(train_numbers)
src_test = task.encode_src(test_numbers)
print("source", tuple(src_train.shape), "vocabulary", len(task.src_itos), "| target", tuple(tgt_train.shape),
      "vocabulary", len(task.tgt_itos))
print("first example:", src_train[0].tolist(), "->", tgt_train[0].tolist())

# %% [markdown]
# The model: 2 encoder and 2 decoder layers, $d_{model} = 64$, 4 heads, sinusoidal positions, post-norm as in the
# paper. Training is **teacher forcing**: the decoder receives the true words shifted right (starting with `<bos>`)
# and predicts, at every position at once, the next word; the causal mask stops it from peeking.

# %%
config = tf.TransformerConfig(src_vocab_size=len(task.src_itos), tgt_vocab_size=len(task.tgt_itos), d_model=64,
                              n_heads=4, d_ff=256, n_encoder_layers=2, n_decoder_layers=2, dropout=0.0,
                              max_len=16, pad_id=task.PAD)
set_seed(0)
model = tf.Transformer(config)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

steps, batch_size, lr = pick(800, 250), 64, 3e-3
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
gen = torch.Generator().manual_seed(0)
losses = []
t0 = time.time()
model.train()
for step in range(steps):
    idx = torch.randint(len(train_numbers), (batch_size,), generator=gen)
    src, tgt = src_train[idx], tgt_train[idx]                  # (B, S), (B, T)
    logits = model(src, tgt[:, :-1])                           # (B, T-1, V): predict tgt[:, 1:]
    loss = F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=task.PAD)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
train_seconds = time.time() - t0

# %%
# NBVAL_IGNORE_OUTPUT
# (time and loss curve depend on the machine and on fast mode)
print(f"{steps} steps in {train_seconds:.0f} s; loss {losses[0]:.2f} -> {np.mean(losses[-20:]):.4f}")
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.semilogy(losses)
ax.set(xlabel="step", ylabel="cross-entropy", title="training loss")
fig.tight_layout()
plt.close(fig)
fig

# %% [markdown]
# ### Greedy decoding and exact match on unseen numbers
#
# At test time there are no true words to feed in. **Greedy decoding** starts from `<bos>`, runs the decoder,
# appends the most likely word, and repeats until `<eos>`. An answer counts only if **every** word is right.

# %%
model.eval()
t0 = time.time()
predicted = model.greedy_decode(src_test, bos_id=task.BOS, eos_id=task.EOS, max_len=task.tgt_len)
decode_seconds = time.time() - t0
answers = [task.decode_tgt(row) for row in predicted]
truth = [" ".join(tf.number_to_words(n)) for n in test_numbers]
exact = np.mean([a == t for a, t in zip(answers, truth)])
with torch.no_grad():                                          # teacher-forced accuracy per word, for reference
    tgt_test = task.encode_tgt(test_numbers)
    pred_tokens = model(src_test, tgt_test[:, :-1]).argmax(-1)
    real = tgt_test[:, 1:] != task.PAD
    token_acc = (pred_tokens == tgt_test[:, 1:])[real].float().mean().item()

# %%
# NBVAL_IGNORE_OUTPUT
# (fast mode trains less; the check below holds each mode to its own bar)
print(f"held-out exact match: {exact:.1%} of {len(test_numbers)} numbers; per-word accuracy {token_acc:.1%}")
for n, a, t in list(zip(test_numbers, answers, truth))[:6]:
    print(f"{n:>7} -> {a:<60} {'✓' if a == t else '✗ ' + t}")
wrong = [(n, a, t) for n, a, t in zip(test_numbers, answers, truth) if a != t]
print(f"{len(wrong)} mistakes", "e.g." if wrong else "", wrong[:3])

# %%
_ = check(exact >= pick(0.95, 0.05) and token_acc >= pick(0.99, 0.75), True,
      name="held-out exact match and per-word accuracy reach this mode's bar (full: 95 % and 99 %)")

# %% [markdown]
# ## 7. Looking at cross-attention
#
# Which source digit does the decoder read while writing each word? We run the decoder on one test number
# with `need_weights=True` and show the cross-attention of both layers and every head. Rows are the decoder's
# input words (the word at row $i$ is used to predict word $i+1$), columns the digits.
# In the trained model (full mode) the last layer typically reads the digit that the next word spells:
# the hundreds digit before "hundred", the tens digit before "forty".

# %%
# NBVAL_IGNORE_OUTPUT
# (which words the model writes depends on how long it trained: fast mode trains less)
number = test_numbers[0]
with torch.no_grad():
    src_one = task.encode_src([number])
    memory, src_pad = model.encode(src_one)
    out_ids = model.greedy_decode(src_one, bos_id=task.BOS, eos_id=task.EOS, max_len=task.tgt_len)
    model.decode(out_ids[:, :-1], memory, src_pad, need_weights=True)
cross_w = model.decoder.cross_weights()[:, 0]                  # (L, H, Tq, Tk) for our one example
digits = list(str(number))
query_words = [task.tgt_itos[i] for i in out_ids[0, :-1].tolist()]
print(number, "->", task.decode_tgt(out_ids[0]), "| cross-attention", tuple(cross_w.shape))
attention_view(cross_w[:, :, :, :len(digits)], digits, query_words, layer_names=["decoder layer 1", "decoder layer 2"],
               title=f"cross-attention while writing {number}")

# %%
_ = check(cross_w.sum(-1), torch.ones(cross_w.shape[:-1]), name="2 layers x 4 heads of cross-attention, rows sum to 1", atol=1e-5)

# %% [markdown]
# ## 8. Exercises
#
# ### Exercise 1: sinusoidal positions from the formula
#
# Write `my_sinusoidal(T, d_model)` returning the (T, d_model) table of section 1 (even columns sin, odd columns cos).

# %% nbgrader={"grade": false, "grade_id": "ex-06-sinusoidal", "locked": false, "schema_version": 3, "solution": true, "task": false}
def my_sinusoidal(T, d_model):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    ### BEGIN SOLUTION
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    out = torch.zeros(T, d_model, dtype=torch.float64)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)
    return out.float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-06-sinusoidal-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(my_sinusoidal(100, 64), tf.sinusoidal_positions(100, 64), name="T=100, d=64", atol=1e-5)
### BEGIN HIDDEN TESTS
expect(my_sinusoidal(7, 6), tf.sinusoidal_positions(7, 6), name="T=7, d=6", atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2: LayerNorm as a function
#
# Write `layer_norm(x, gamma, beta, eps=1e-5)` normalising over the last axis (biased variance).

# %% nbgrader={"grade": false, "grade_id": "ex-06-layernorm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_norm(x, gamma, beta, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis."""
    ### BEGIN SOLUTION
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * gamma + beta
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-06-layernorm-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_g, _b = torch.linspace(0.5, 2.0, 64), torch.linspace(-1.0, 1.0, 64)
expect(layer_norm(x, _g, _b), F.layer_norm(x, (64,), _g, _b), name="layer_norm = torch", atol=1e-5)
### BEGIN HIDDEN TESTS
_x = torch.randn(3, 4, 8, dtype=torch.float64) * 100
expect(layer_norm(_x, torch.ones(8, dtype=torch.float64), torch.zeros(8, dtype=torch.float64), eps=1e-3),
       F.layer_norm(_x, (8,), eps=1e-3), name="large inputs, other eps", rtol=1e-9)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: exact match
#
# Write `exact_match(predicted_ids, numbers)`: the fraction of rows of `predicted_ids` (the output of
# `greedy_decode`) whose decoded words equal the words of the corresponding number. Use `task.decode_tgt` and
# `tf.number_to_words`.

# %% nbgrader={"grade": false, "grade_id": "ex-06-exact-match", "locked": false, "schema_version": 3, "solution": true, "task": false}
def exact_match(predicted_ids, numbers):
    """Fraction of rows decoded to exactly the right words."""
    ### BEGIN SOLUTION
    hits = [task.decode_tgt(row) == " ".join(tf.number_to_words(n)) for row, n in zip(predicted_ids, numbers)]
    return sum(hits) / len(hits)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-06-exact-match-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(exact_match(task.encode_tgt([5, 407]), [5, 407]), 1.0, name="true targets score 1")
expect(exact_match(task.encode_tgt([5, 407]), [5, 408]), 0.5, name="one of two wrong")
### BEGIN HIDDEN TESTS
expect(exact_match(predicted, test_numbers), float(exact), name="the trained model's score")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | idea | equation | in `course_lib.transformer` |
# |---|---|---|
# | sinusoidal positions | $\sin(pos/10000^{2i/d})$, $\cos(\cdot)$ | `sinusoidal_positions`, `SinusoidalPositionalEncoding` |
# | learnt positions | a trainable (max_len, d) table | `LearnedPositionalEncoding` |
# | LayerNorm | $(x-\mu)/\sqrt{\sigma^2+\epsilon}\,\gamma + \beta$ | `LayerNorm` |
# | feed-forward | $W_2\,\phi(W_1x + b_1) + b_2$, ReLU or GELU | `FeedForward`, `gelu` |
# | post-norm / pre-norm | $\text{LN}(x + f(x))$ / $x + f(\text{LN}(x))$ | `EncoderLayer(norm_first=...)`, `DecoderLayer(...)` |
# | stacks | N layers (+ final LN for pre-norm) | `Encoder`, `Decoder` |
# | encoder-decoder | embeddings·√d + positions → encoder → decoder → logits | `Transformer`, `TransformerConfig`, `greedy_decode` |
# | toy task | digits → English words | `NumberWords`, `number_to_words` |
#
# The blocks are tested against `torch.nn.LayerNorm`, `torch.nn.TransformerEncoderLayer` and
# `TransformerDecoderLayer` with copied weights, in both norm placements and with ReLU and GELU
# (`tests/test_transformer.py`).
#
# **Next:** chapter 07 looks closely at the loss we used here, and chapter 08 builds a decoder-only GPT from the
# same blocks.
