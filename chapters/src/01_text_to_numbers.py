# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/01_text_to_numbers.py; `make notebooks CHAPTERS=01` rebuilds and runs this notebook. -->
# # 01 · From text to numbers
#
# A neural network only ever sees numbers. This chapter builds the path every language model
# takes before any learning happens:
#
# $$\text{text} \;\longrightarrow\; \text{tokens} \;\longrightarrow\; \text{ids} \;\longrightarrow\; \text{vectors}$$
#
# **What you will build**
#
# * word and character **tokenizers**, for English and for Chinese (我 爱 吃 水果);
# * a **vocabulary** mapping tokens to ids, with an unknown token for words it never saw;
# * a measurement of **Zipf's law** on Shakespeare and on Wikipedia;
# * **one-hot vectors**, and the **embedding lookup** that replaces them, shown to be the same
#   numbers (and correcting a common mistake on the way);
# * **cosine similarity**, the yardstick for comparing word vectors in the chapters to come;
# * the **training examples of a language model**: ids shifted by one position, cut into
#   windows, with a special token between documents.
#
# **Prerequisites:** chapter 00; NumPy arrays, indexing and `@` (matrix product).
#
# **Time:** about 50 minutes to read and experiment; the notebook itself runs in about 20 seconds
# on a laptop CPU (measured in full mode).

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
import re
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch

import course_lib
from course_lib import set_seed, pick
from course_lib.checks import check, expect
from course_lib.datasets import load_text, load_sentences
from course_lib.text import (Vocab, word_tokenize, char_tokenize, chinese_tokenize, one_hot,
                             embedding_lookup, cosine_similarity, random_batches)

set_seed(0)
plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Tokens: cutting text into pieces
#
# A **token** is the unit a model reads: a word, a punctuation mark, a single character, or (in
# later chapters) a piece of a word. The choice matters: it fixes how many different tokens the
# model must know (the vocabulary size $V$) and how long every text becomes.
#
# Our first corpus is about 1.1 million characters of Shakespeare's plays.

# %%
shakespeare = load_text("shakespeare")
print(f"{len(shakespeare):,} characters")
sample = shakespeare[shakespeare.index("COUNTESS.\nHis sole child"):][:330]
print(sample)

# %% [markdown]
# ### Splitting on spaces is not enough
#
# Python's `str.split()` cuts at whitespace. Look at what it does to punctuation and capitals:

# %%
naive = sample.split()
print(naive[:12])
print("tokens glued to punctuation:", [w for w in naive if not w.isalpha()])

# %% [markdown]
# `"fairer;"`, `"fairer"` and `"Fairer"` would become three unrelated tokens. A better rule, written as a
# regular expression: lower-case the text, then a **word** is a run of letters or digits that may
# contain inner apostrophes or hyphens (`don't`, `well-known`), and **every other visible
# character** (`,` `!` `?` ...) is a token of its own.

# %%
WORD = r"[a-z0-9]+(?:['-][a-z0-9]+)*"   # letters/digits, inner ' or -
OTHER = r"[^\w\s]"                      # any single visible non-word character


def my_word_tokenize(text: str) -> list[str]:
    """Lower-case, then words (with inner ' or -) and single punctuation marks."""
    return re.findall(f"{WORD}|{OTHER}", text.lower())


print(my_word_tokenize(sample)[:20])

# %% [markdown]
# `course_lib.text.word_tokenize` follows the same rule (and also handles non-English letters).
# Check your tokenizer against it on **all** of Shakespeare:

# %%
tokens = my_word_tokenize(shakespeare)
print(f"{len(tokens):,} tokens")
assert check(tokens, word_tokenize(shakespeare), name="my_word_tokenize on all of Shakespeare")

# %% [markdown]
# ### Characters as tokens
#
# The other extreme is one token per character. The vocabulary becomes tiny, the sequences long.
# Chapter 08's GPT writes Shakespeare this way.

# %%
chars = char_tokenize(shakespeare)
char_set = sorted(set(chars))
print(f"{len(chars):,} character tokens, {len(char_set)} distinct characters")
print("".join(char_set).replace("\n", "\\n"))

# %% [markdown]
# ### Chinese: no spaces between words
#
# Chinese is written without spaces, so "split at spaces" finds no words at all. The sentence
# 我爱吃水果 ("I love eating fruit") is four words, 我 / 爱 / 吃 / 水果, but nothing in the text
# marks where they end. Deciding that 水果 (*fruit*) is one word and not 水 (*water*) + 果
# (*fruit, result*) needs a dictionary or a trained segmenter. The simple, robust choice is
# **one token per character**: there are only a few thousand common characters, and a model
# learns which ones go together. It is what `course_lib` does here, and what BERT's tokenizer
# (2018) did for Chinese (shown below with its own code).

# %%
sentences = ["我 爱 吃 水果",          # hand-segmented: spaces between the words
             "我爱吃水果",             # as Chinese is normally written
             "今天天气很好。",          # "The weather is nice today."
             "床前明月光，疑是地上霜。"]  # Li Bai, "Quiet Night Thought"
for s in sentences:
    print(f"{s!r:>16}  split(): {s.split()}")
    print(f"{'':>16}  characters: {chinese_tokenize(s)}")

# %%
check(chinese_tokenize("我 爱 吃 水果"), ["我", "爱", "吃", "水", "果"], name="我 爱 吃 水果 as characters")
check(word_tokenize("我爱吃水果"), chinese_tokenize("我爱吃水果"), name="word_tokenize splits Chinese into characters")
assert check(word_tokenize("I love 水果!"), ["i", "love", "水", "果", "!"], name="mixed English and Chinese")

# %% [markdown]
# BERT's tokenizer, from the `tokenizers` library, puts a space around every Chinese character
# before it splits the text, so each character becomes a token of its own:

# %%
from tokenizers import normalizers

bert_normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=True)
print(repr(bert_normalizer.normalize_str("我爱吃水果, I love fruit")))
assert check(bert_normalizer.normalize_str("我爱吃水果").split(), chinese_tokenize("我爱吃水果"),
             name="BERT's normaliser cuts Chinese into characters, as chinese_tokenize does")

# %% [markdown]
# That is no longer what most recent models do. GPT-2 and its successors cut text into
# **byte-level BPE** tokens: the text is first written as UTF-8 bytes (a Chinese character
# takes 3 bytes), and the most frequent runs of bytes are merged into tokens, learned from data.
# Trained on enough Chinese, a token can hold a frequent run of several characters, while a
# rare character falls apart into pieces of its bytes. A small taste, with the `tokenizers`
# library trained on Tang poems for a 2,000-token vocabulary (the poems are written in traditional
# characters, and few of them speak of loving or eating, 爱 and 吃):

# %%
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

tang = load_text("tang")
print(f"{len('我'.encode('utf-8'))} UTF-8 bytes in 我; {len(tang):,} characters of Tang poems")
bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
bpe.train_from_iterator([tang], trainers.BpeTrainer(vocab_size=2000, show_progress=False,
                                                    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
bpe_pieces = {}
for poem in ["床前明月光，疑是地上霜。", "我爱吃水果"]:
    bpe_pieces[poem] = [bpe.decoder.decode([t]) for t in bpe.encode(poem).tokens]   # "\ufffd": part of a character
    print(f"{poem}: {len(bpe_pieces[poem])} tokens {bpe_pieces[poem]}")

# %%
assert check("明月" in bpe_pieces["床前明月光，疑是地上霜。"], True, name="明月 (bright moon) is one BPE token")
assert check(len(bpe_pieces["我爱吃水果"]) > len("我爱吃水果"), True,
             name="characters rare in the poems (爱, 吃) fall apart into byte pieces")

# %% [markdown]
# *Bright moon* (明月), frequent in the poems, became one token; 爱吃 became four pieces of its six
# bytes, and 床 two.
# [Chapter 09](09_tokens_bpe.ipynb) builds byte-pair encoding from scratch and loads GPT-2's real
# tokenizer.

# %% [markdown]
# ## 2. A vocabulary: tokens ↔ ids
#
# A **vocabulary** numbers the distinct tokens: the list `itos` ("index to string") and the
# dictionary `stoi` ("string to index"). We give id 0 to a special **unknown token** `<unk>` and
# the other ids by decreasing frequency (ties in order of first appearance), so the most common
# words get the smallest ids.
#
# We keep only words (tokens starting with a letter or digit) for the rest of the chapter.

# %%
words = [t for t in tokens if t[0].isalnum()]
counts = Counter(words)
print(f"{len(words):,} words, {len(counts):,} distinct")
print(counts.most_common(10))

# %%
my_itos = ["<unk>"] + [w for w, _ in counts.most_common()]   # most_common keeps first-seen order for ties
my_stoi = {w: i for i, w in enumerate(my_itos)}

vocab = Vocab(words)          # the course_lib version
print(vocab)
assert check(my_itos, vocab.itos, name="my vocabulary matches course_lib.Vocab")

# %% [markdown]
# Encoding maps tokens to ids, decoding maps them back. A word the vocabulary never saw
# becomes `<unk>` (id 0): the round trip loses it.

# %%
line = "To be or not to be that is the transformer"
ids = vocab.encode(word_tokenize(line))
print(ids)
print(vocab.decode(ids))
assert check(vocab.decode(ids)[-1], "<unk>", name="'transformer' is unknown to Shakespeare")

# %% [markdown]
# Without an unknown token the vocabulary refuses unseen words with a clear error instead of
# silently mapping them somewhere:

# %%
strict = Vocab(words, unk=None)
try:
    strict.encode(["to", "be", "transformer"])
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ### How many words are unknown? The frequency cut-off
#
# Real vocabularies drop rare words (`min_freq`): the model cannot learn much from a word seen
# once, and every word costs a row of parameters. The price is more `<unk>` in new text. Build
# the vocabulary on the first 90% of the words and count the unknown words in the last 10%:

# %%
split = int(0.9 * len(words))
train_words, test_words = words[:split], words[split:]
print(f"{'min_freq':>8} {'V':>7} {'unknown in held-out text':>26}")
oov = {}
for min_freq in [1, 2, 5, 10]:
    v = Vocab(train_words, min_freq=min_freq)
    oov[min_freq] = float(np.mean(np.array(v.encode(test_words)) == v.unk_id))
    print(f"{min_freq:>8} {len(v):>7,} {oov[min_freq]:>25.1%}")

# %%
assert check(all(oov[a] < oov[b] for a, b in [(1, 2), (2, 5), (5, 10)]), True,
             name="a higher cut-off means more unknown words")
assert check(bool(0.04 < oov[1] < 0.06), True, name="about one held-out word in twenty is unknown")

# %% [markdown]
# Even keeping every training word, about one word in twenty of new Shakespeare is unknown.
# That is the main reason modern models use sub-word tokens ([chapter 09](09_tokens_bpe.ipynb)
# builds byte-pair encoding): pieces of words, down to single bytes, are never unknown.
#
# ## 3. Zipf's law, measured
#
# Sort the words by frequency and give the most common rank $r = 1$. Zipf observed that the
# frequency $f$ falls roughly as a power of the rank:
#
# $$ f(r) \approx \frac{C}{r^{\,s}}, \qquad s \approx 1
# \quad\Longleftrightarrow\quad \log f = \log C - s \log r .$$
#
# On a log-log plot that is a straight line of slope $-s$. We fit the slope by least squares
# on ranks 10 to 1000 (the very top and the long tail of words seen once bend away from the line).
# The second corpus is a sample of English Wikipedia articles, already tokenised.

# %%
wiki_articles = load_sentences("wiki")
wiki_words = [w for article in wiki_articles for w in article]
print(f"{len(wiki_articles)} articles, {len(wiki_words):,} words, {len(set(wiki_words)):,} distinct")
print(Counter(wiki_words).most_common(10))


# %%
def zipf_slope(counts: Counter, lo: int = 10, hi: int = 1000) -> tuple[float, float]:
    """Least-squares fit of log f = intercept + slope * log r over ranks lo..hi."""
    freqs = np.sort(np.fromiter(counts.values(), dtype=float))[::-1]   # (n_distinct,)
    ranks = np.arange(1, len(freqs) + 1)
    keep = (ranks >= lo) & (ranks <= hi)
    slope, intercept = np.polyfit(np.log(ranks[keep]), np.log(freqs[keep]), deg=1)
    return float(slope), float(intercept)


corpora = {"Shakespeare": counts, "Wikipedia": Counter(wiki_words)}
fits = {name: zipf_slope(c) for name, c in corpora.items()}
for name, (slope, _) in fits.items():
    print(f"{name:>12}: slope {slope:.2f}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for (name, c), color in zip(corpora.items(), ["tab:blue", "tab:orange"]):
    freqs = np.sort(np.fromiter(c.values(), dtype=float))[::-1]
    ranks = np.arange(1, len(freqs) + 1)
    slope, intercept = fits[name]
    ax.loglog(ranks, freqs, ".", ms=2, color=color, label=f"{name} ({len(freqs):,} distinct words)")
    r = np.array([10, 1000])
    ax.loglog(r, np.exp(intercept) * r ** slope, "-", color="black", lw=1)
    ax.annotate(f"slope {slope:.2f}", (1000, np.exp(intercept) * 1000 ** slope), xytext=(8, 0),
                textcoords="offset points", color=color)
ax.set_xlabel("rank r (1 = most frequent)")
ax.set_ylabel("frequency f(r)")
ax.set_title("Zipf's law: word frequency against rank")
ax.legend()
plt.show()

# %% [markdown]
# Both slopes are near $-1$, as Zipf predicted, though not exactly: the law is an empirical
# regularity, not a theorem. An independent check of our fit with SciPy's linear regression:

# %%
from scipy.stats import linregress

for name, c in corpora.items():
    f = np.sort(np.array(list(c.values()), dtype=float))[::-1][9:1000]   # ranks 10..1000
    ref = linregress(np.log(np.arange(10, 10 + len(f))), np.log(f))
    check(fits[name][0], ref.slope, name=f"Zipf slope of {name} matches scipy")
assert check(all(-1.3 < s < -0.7 for s, _ in fits.values()), True, name="both slopes are close to -1")

# %% [markdown]
# The practical lesson: a few words are everywhere and most words are rare. About two thirds
# of Shakespeare's distinct words appear only once or twice:

# %%
rare = sum(1 for c in counts.values() if c <= 2) / len(counts)
top100 = sum(c for _, c in counts.most_common(100)) / len(words)
print(f"words seen at most twice: {rare:.0%} of the vocabulary")
print(f"the 100 most common words: {top100:.0%} of all the text")
assert check(bool(0.6 < rare < 0.7 and 0.5 < top100 < 0.56), True, name="two thirds rare; 100 words, half the text")

# %% [markdown]
# ## 4. One-hot vectors
#
# The simplest way to turn id $i$ into a vector: a vector of length $V$ with a single 1 at
# position $i$,
#
# $$ \mathbf{e}_i = (0, \dots, 0, \underbrace{1}_{i}, 0, \dots, 0) \in \mathbb{R}^V. $$
#
# A sentence of $T$ tokens becomes a $T \times V$ matrix, one row per token.

# %%
phrase = word_tokenize("to be or not to be")
small = Vocab(phrase, unk=None)
phrase_ids = small.encode(phrase)
print("vocabulary:", small.itos, " ids:", phrase_ids)


def my_one_hot(ids: list[int], vocab_size: int) -> np.ndarray:
    """(T,) ids -> (T, V) matrix with a 1 in column ids[t] of row t."""
    out = np.zeros((len(ids), vocab_size), dtype=np.float32)   # (T, V)
    out[np.arange(len(ids)), ids] = 1.0
    return out


X = my_one_hot(phrase_ids, len(small))
print(X.shape)
print(X)
assert check(X, one_hot(phrase_ids, len(small)), name="my_one_hot matches course_lib.one_hot")

# %%
fig, ax = plt.subplots(figsize=(4, 3))
ax.imshow(X, cmap="Greys")
ax.set_xticks(range(len(small)), small.itos)
ax.set_yticks(range(len(phrase)), phrase)
ax.set_xlabel("vocabulary")
ax.set_title("one-hot rows of 'to be or not to be'")
plt.show()

# %% [markdown]
# One-hot vectors are honest but wasteful. With Shakespeare's vocabulary every token costs
# $V$ numbers, all but one of them zero:

# %%
V = len(vocab)
print(f"V = {V:,}: one token is a vector of {V:,} numbers")
print(f"all {len(words):,} words as float32 one-hot rows: {len(words) * V * 4 / 1e9:.1f} GB")

# %% [markdown]
# ## 5. Embedding lookup = one-hot × matrix = row indexing
#
# An **embedding matrix** $W \in \mathbb{R}^{V \times d}$ stores a short, dense vector of
# $d$ numbers (say 64) for every token; training (chapters 02 and 03) will make similar words
# get similar rows. Multiplying a one-hot **row** vector by $W$ picks out one row:
#
# $$ \mathbf{e}_i^{\top} W = W_{i,:}, \qquad\text{and for a whole sentence}\qquad
# \underbrace{X}_{T \times V}\;\underbrace{W}_{V \times d} = \underbrace{W[\text{ids}]}_{T \times d}. $$
#
# So the "multiplication" is just row indexing, and that is how every library implements it
# (`torch.nn.Embedding`, `course_lib.text.embedding_lookup`).

# %%
d = 64
rng = np.random.default_rng(0)
W = rng.standard_normal((V, d)).astype(np.float32)    # (V, d), untrained
sentence_ids = np.array(vocab.encode(word_tokenize("to be or not to be that is the question")))
print("ids:", sentence_ids, " W:", W.shape)

by_matmul = one_hot(sentence_ids, V) @ W     # (T, V) @ (V, d) -> (T, d)
by_index = W[sentence_ids]                   # (T, d)
print(by_matmul.shape, by_index.shape)
check(by_matmul, by_index, name="one-hot @ W equals W[ids]")
check(embedding_lookup(W, sentence_ids), by_index, name="course_lib.embedding_lookup")

emb = torch.nn.Embedding(V, d)
with torch.no_grad():
    emb.weight.copy_(torch.from_numpy(W))
assert check(emb(torch.from_numpy(sentence_ids)), by_index, name="torch.nn.Embedding with the same W")

# %% [markdown]
# > **Myth, measured: "the embedding is W times the index vector".**
# >
# > Some tutorials write the lookup as $W \cdot \text{ids}$, the matrix times the vector of
# > token ids. Let us try it.

# %%
try:
    W @ sentence_ids          # (V, d) @ (T,): the inner sizes d=64 and T=10 do not match
except ValueError:            # numpy's own wording varies between versions, so we print ours
    print(f"ValueError: (V, d) = {W.shape} @ (T,) = {sentence_ids.shape}: "
          f"the inner sizes {W.shape[1]} and {len(sentence_ids)} differ")

# %% [markdown]
# It fails whenever $T \ne d$. Worse, when the sizes happen to agree it runs and returns
# nonsense: a single vector of length $V$ (one number per vocabulary entry, a weighted sum of
# the *columns* of $W$) instead of $T$ rows of length $d$.

# %%
W4 = W[:, :4]                          # an embedding with d = 4 ...
four_ids = sentence_ids[:4]            # ... and a 4-token sentence: now the shapes "fit"
wrong = W4 @ four_ids                  # (V, 4) @ (4,) -> (V,)
right = one_hot(four_ids, V) @ W4      # (4, V) @ (V, 4) -> (4, 4)
print("W @ ids:", wrong.shape, "  one_hot(ids) @ W:", right.shape)
check(wrong.shape, right.shape, name="'W times ids' has the shape of an embedding")  # a deliberate ✗
assert check(right, W4[four_ids], name="one-hot rows times W are the rows of W")

# %% [markdown]
# The correct statement: the **one-hot row vector** times $W$ (or, with column vectors,
# $W^{\top}\mathbf{e}_i$) is row $i$ of $W$. Never the raw ids.
#
# And since the product equals indexing, nobody multiplies: building $T \times V$ one-hot rows
# and doing $T \cdot V \cdot d$ multiply-adds (almost all by zero) only to copy $T$ rows is
# wasteful. Measured on a 200-word passage:

# %%
# NBVAL_IGNORE_OUTPUT
passage = np.array(vocab.encode(words[:200]))
repeats = pick(20, 3)


def best_time(fn, repeats: int) -> float:
    """The fastest of `repeats` runs, in seconds (the least disturbed by other programs)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


t_matmul = best_time(lambda: one_hot(passage, V) @ W, repeats)
t_index = best_time(lambda: W[passage], repeats)
print(f"one-hot @ W : {t_matmul * 1e3:8.3f} ms")
print(f"W[ids]      : {t_index * 1e3:8.3f} ms")
print(f"indexing is {t_matmul / t_index:,.0f}x faster")

# %%
assert check(t_index < t_matmul, True, name="indexing is faster than the one-hot product")

# %% [markdown]
# ## 6. Cosine similarity
#
# To compare two word vectors we use the cosine of the angle between them:
#
# $$ \cos(\mathbf{a}, \mathbf{b}) = \frac{\mathbf{a}\cdot\mathbf{b}}{\lVert\mathbf{a}\rVert\,\lVert\mathbf{b}\rVert} \in [-1, 1]. $$
#
# It ignores length (a frequent word's vector may be longer) and keeps direction: 1 for the
# same direction, 0 for perpendicular, −1 for opposite.

# %%
def my_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """a·b / (|a| |b|) for two 1-D vectors."""
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


a, b = np.array([1.0, 2.0, 0.0]), np.array([2.0, 4.0, 1.0])
print(f"cos = {my_cosine(a, b):.4f}")
assert check(my_cosine(a, b), cosine_similarity(a, b), name="my_cosine matches course_lib")

# %% [markdown]
# **One-hot vectors know no similarity.** Two different one-hot vectors are always
# perpendicular: "king" is as far from "queen" as from "cheese".

# %%
onehots = one_hot(vocab.encode(["king", "queen", "cheese"]), V)
print("king/queen:", cosine_similarity(onehots[0], onehots[1]),
      " king/cheese:", cosine_similarity(onehots[0], onehots[2]))

# %% [markdown]
# Random embeddings are no better: in $d$ dimensions two random directions have a cosine of
# about $0 \pm 1/\sqrt{d}$.

# %%
random_cos = cosine_similarity(W[vocab.encode(["king"] * 200)], W[rng.integers(1, V, size=200)])
print(f"mean {random_cos.mean():+.3f}, spread {random_cos.std():.3f}, 1/sqrt(d) = {1 / np.sqrt(d):.3f}")
assert check(bool(abs(random_cos.mean()) < 0.03 and abs(random_cos.std() - 1 / np.sqrt(d)) < 0.02), True,
             name="random cosines: mean near 0, spread near 1/sqrt(d)")

# %% [markdown]
# Similarity must come from the data. A first taste of chapters 02 and 03: describe each word
# by **the words around it** (counts of neighbours within 4 positions in the Wikipedia sample,
# ignoring the 100 most common words, which appear next to everything). Words used in similar
# contexts get similar count vectors.

# %%
wiki_vocab = Vocab(wiki_words, min_freq=5)
wiki_ids = np.array(wiki_vocab.encode(wiki_words))             # (N,)
targets = ["three", "four", "war", "red", "blue", "army", "january", "march", "france",
           "germany", "music", "film"]
target_ids = np.array(wiki_vocab.encode(targets))
row_of = np.full(len(wiki_vocab), -1)
row_of[target_ids] = np.arange(len(targets))

context_counts = np.zeros((len(targets), len(wiki_vocab)))      # (n_targets, V_wiki)
for offset in [-4, -3, -2, -1, 1, 2, 3, 4]:
    centre = wiki_ids[max(0, -offset): len(wiki_ids) - max(0, offset)]
    context = wiki_ids[max(0, offset): len(wiki_ids) - max(0, -offset)]
    hit = row_of[centre] >= 0
    np.add.at(context_counts, (row_of[centre[hit]], context[hit]), 1)
context_counts[:, :101] = 0            # <unk> and the 100 most common words
print(context_counts.shape)


def similarity(w1: str, w2: str) -> float:
    return cosine_similarity(context_counts[targets.index(w1)], context_counts[targets.index(w2)])


pairs = [("three", "four"), ("three", "war"), ("red", "blue"), ("red", "army"),
         ("january", "march"), ("january", "music"), ("france", "germany"), ("france", "film")]
for w1, w2 in pairs:
    print(f"{w1:>8} / {w2:<8} {similarity(w1, w2):.2f}")

# %%
assert check([similarity(*pairs[i]) > similarity(*pairs[i + 1]) for i in range(0, len(pairs), 2)],
             [True, True, True, True], name="related words have closer context vectors")

# %% [markdown]
# These count vectors are long ($V$ numbers) and noisy. Chapter 02 (Word2Vec) and chapter 03
# (GloVe) learn short, dense rows of $W$ that capture the same idea much better.
#
# ## 7. From ids to training examples
#
# A language model (chapter 08 onwards) learns one thing: to predict the next token. Its
# training examples need no labels written by anyone, they are the ids of the text itself. Take
# a window of $T$ ids as the input $x$; the target $y$ is the same window moved one place to the
# right:
#
# $$ x = (t_i, t_{i+1}, \dots, t_{i+T-1}), \qquad y = (t_{i+1}, t_{i+2}, \dots, t_{i+T}). $$
#
# One window holds $T$ predictions at once: from the first token guess the second, from the
# first two guess the third, and so on.

# %%
stream = np.array(vocab.encode(word_tokenize("to be or not to be that is the question")))
T = 6
x, y = stream[:T], stream[1:T + 1]
print("x:", x, "\ny:", y)
for t in range(T):
    print(f"{' '.join(vocab.decode(x[:t + 1])):>22}  ->  {vocab.decode([y[t]])[0]}")
assert check(y[:-1], x[1:], name="the target is the input shifted by one")

# %% [markdown]
# Every start $i$ gives a window, so a text of $N$ tokens holds $N - T$ overlapping windows.
# Training does not walk through them in order: each step draws a **batch** of random starts,
# which is what `course_lib.text.random_batches` does for chapter 08's GPT (inputs and targets as
# torch tensors of shape $(B, T)$):

# %%
shakespeare_ids = torch.tensor(vocab.encode(words))          # the word ids of all of Shakespeare
xb, yb = random_batches(shakespeare_ids, block_size=8, batch_size=4, generator=torch.Generator().manual_seed(0))
print(f"{len(shakespeare_ids) - 8:,} windows of 8 words; a batch:", tuple(xb.shape), tuple(yb.shape))
print("x[0]:", " ".join(vocab.decode(xb[0])))
print("y[0]:", " ".join(vocab.decode(yb[0])))
assert check(yb[:, :-1], xb[:, 1:], name="random_batches: every target row is its input row shifted by one")

# %% [markdown]
# ### Special tokens between documents
#
# Our Wikipedia sample is 106 separate articles. Glued end to end, the last words of one article
# would "predict" the first words of the next, a connection that is not in any text. The usual fix
# is a **special token**, a vocabulary entry that is not a word: put `<eos>` ("end of sequence")
# after every document. The model then learns that after `<eos>` anything may begin, and when it
# generates text, producing `<eos>` means "I am done". GPT-2 does exactly this with a single token
# `<|endoftext|>` between documents, the last of its 50,257 ids (read from the GPT-2 files the
# course ships):

# %%
import json

from course_lib.datasets import gpt2_files

gpt2_vocab = json.loads(gpt2_files()[0].read_text(encoding="utf-8"))
print(f"GPT-2: {len(gpt2_vocab):,} tokens, <|endoftext|> has id {gpt2_vocab['<|endoftext|>']}")

wiki_lm_vocab = Vocab(wiki_words, min_freq=5, specials=["<eos>"])      # <unk> = 0, <eos> = 1
eos = wiki_lm_vocab.stoi["<eos>"]
wiki_stream = np.array([i for article in wiki_articles for i in wiki_lm_vocab.encode(article) + [eos]])
boundary = int(np.flatnonzero(wiki_stream == eos)[0])
print(wiki_lm_vocab)
print(f"{len(wiki_stream):,} ids, {np.sum(wiki_stream == eos)} of them <eos>")
print("around the first boundary:", " ".join(wiki_lm_vocab.decode(wiki_stream[boundary - 6:boundary + 6])))
assert check(int(np.sum(wiki_stream == eos)), len(wiki_articles), name="one <eos> per article")
assert check(len(gpt2_vocab) - 1, gpt2_vocab["<|endoftext|>"], name="<|endoftext|> is GPT-2's last id")

# %% [markdown]
# Other special tokens you will meet: `<pad>` fills the end of short sequences so that a batch is
# a rectangle (chapter 04 masks it out of attention), `[CLS]`, `[SEP]` and `[MASK]` are BERT's
# (chapter 10), and chat models mark who is speaking (chapter 12). Each is one more row of the
# embedding matrix, learned like any word.
#
# ## Exercises
#
# Each test switches off the library functions that would do the work for you, so build it from
# the operations this chapter showed (NumPy indexing, `np.zeros`, `@`, loops).
#
# ### Exercise 1.1: every window, with a stride
#
# `random_batches` draws random windows. To *evaluate* a model on a text we want every window in
# order instead, possibly with a **stride**: windows start at $0, s, 2s, \dots$ (with $s = T$ they
# do not overlap, every target token is predicted once). Complete `lm_windows(ids, block_size,
# stride)`: NumPy arrays `x` and `y` of shape (number of windows, `block_size`), `y` shifted by one,
# for every start $i = 0, s, 2s, \dots$ with $i + T + 1 \le N$ (a window needs its last target).

# %% nbgrader={"grade": false, "grade_id": "ex-01-lm-windows", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lm_windows(ids: np.ndarray, block_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs x (n, T) and next-token targets y (n, T) for windows starting at 0, stride, 2*stride, ..."""
    ### BEGIN SOLUTION
    ids = np.asarray(ids)
    starts = np.arange(0, len(ids) - block_size, stride)        # i + T + 1 <= N
    cols = starts[:, None] + np.arange(block_size)[None, :]     # (n, T) positions of the inputs
    return ids[cols], ids[cols + 1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-01-lm-windows-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks import forbid

ids_10 = np.arange(100, 110)
ref_x = torch.from_numpy(ids_10).unfold(0, 4, 3)[:, :3].numpy()     # windows of T + 1 = 4, stride 3
ref_y = torch.from_numpy(ids_10).unfold(0, 4, 3)[:, 1:].numpy()
with forbid("numpy.lib.stride_tricks.sliding_window_view", "torch.Tensor.unfold", "course_lib.text.random_batches",
            what="the windows"):
    got_x, got_y = lm_windows(ids_10, block_size=3, stride=3)
    got_overlap = lm_windows(ids_10, block_size=8, stride=1)
expect(got_x, ref_x, name="inputs of 100..109, T = 3, stride 3")
expect(got_y, ref_y, name="targets of 100..109, T = 3, stride 3")
expect(got_overlap[0].shape, (2, 8), name="T = 8, stride 1: two windows fit in 10 ids")
### BEGIN HIDDEN TESTS
sh = np.array(vocab.encode(words[:5000]))
big = torch.from_numpy(sh).unfold(0, 65, 64)
with forbid("numpy.lib.stride_tricks.sliding_window_view", "torch.Tensor.unfold", "course_lib.text.random_batches",
            what="the windows"):
    hx, hy = lm_windows(sh, 64, 64)
expect(hx, big[:, :-1].numpy(), name="Shakespeare, T = 64, stride 64: inputs")
expect(hy, big[:, 1:].numpy(), name="Shakespeare, T = 64, stride 64: targets")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.2: the gradient of an embedding lookup
#
# In training, the loss $L$ sends back a gradient $G = \partial L / \partial E$ for the looked-up
# rows $E = W[\text{ids}]$ (shape $T \times d$). Since $E = XW$ with the one-hot rows $X$, the
# gradient for the whole matrix is $\partial L / \partial W = X^{\top} G$, a $V \times d$ matrix.
# Work out what $X^\top G$ is row by row (what happens to a row of $W$ whose token is not in the
# sentence? to a token that appears twice?), then complete `embedding_grad(ids, G, V)` without
# building $X$.

# %% nbgrader={"grade": false, "grade_id": "ex-01-embedding-grad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def embedding_grad(ids: np.ndarray, G: np.ndarray, V: int) -> np.ndarray:
    """dL/dW (V, d) of the lookup E = W[ids], given G = dL/dE (T, d)."""
    ### BEGIN SOLUTION
    out = np.zeros((V, G.shape[1]), dtype=G.dtype)
    for t, i in enumerate(ids):
        out[i] += G[t]          # row i collects the gradient of every position that used token i
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-01-embedding-grad-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks import forbid

toy_ids = np.array([2, 0, 2])
toy_G = np.arange(6.0).reshape(3, 2)
emb_toy = torch.nn.Embedding(4, 2)
emb_toy(torch.from_numpy(toy_ids)).backward(torch.from_numpy(toy_G).float())   # autograd's answer
ref_grad = emb_toy.weight.grad.double().numpy()
with forbid("course_lib.text.one_hot", "torch.nn.functional.one_hot", "torch.nn.functional.embedding",
            "torch.Tensor.backward", "torch.autograd.grad", what="the embedding gradient"):
    got_grad = embedding_grad(toy_ids, toy_G, 4)
expect(got_grad, ref_grad, name="ids [2, 0, 2]: row 2 adds two gradients, rows 1 and 3 get none")
### BEGIN HIDDEN TESTS
G_big = np.random.default_rng(5).standard_normal((len(sentence_ids), d))
emb_big = torch.nn.Embedding(V, d)
emb_big(torch.from_numpy(sentence_ids)).backward(torch.from_numpy(G_big).float())
ref_big = emb_big.weight.grad.double().numpy()
with forbid("course_lib.text.one_hot", "torch.nn.functional.one_hot", "torch.nn.functional.embedding",
            "torch.Tensor.backward", "torch.autograd.grad", what="the embedding gradient"):
    got_big = embedding_grad(sentence_ids, G_big, V)
expect(got_big, ref_big, name="the Shakespeare sentence of section 5", rtol=1e-5, atol=1e-6)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.3: Zipf's slope from the normal equations
#
# Section 3 fitted $\log f = a + b \log r$ with `np.polyfit`. Derive the least-squares line
# yourself: minimise $\sum_n (y_n - a - b x_n)^2$ by setting both partial derivatives to zero, and
# solve the two equations for $b$ and $a$ (the answer uses the means $\bar x$, $\bar y$). Complete
# `fit_line(x, y)`, returning `(slope, intercept)`.

# %% nbgrader={"grade": false, "grade_id": "ex-01-zipf-fit", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares (slope b, intercept a) of y = a + b x."""
    ### BEGIN SOLUTION
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx, dy = x - x.mean(), y - y.mean()
    slope = (dx * dy).sum() / (dx * dx).sum()      # b = sum (x - x̄)(y - ȳ) / sum (x - x̄)^2
    return float(slope), float(y.mean() - slope * x.mean())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-01-zipf-fit-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks import forbid

line_x, line_y = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.2, 4.8, 7.1])
ref_line = np.polyfit(line_x, line_y, 1)
shakespeare_freqs = np.sort(np.fromiter(counts.values(), dtype=float))[::-1][9:1000]    # ranks 10..1000
log_r, log_f = np.log(np.arange(10, 10 + len(shakespeare_freqs))), np.log(shakespeare_freqs)
with forbid("numpy.polyfit", "numpy.linalg.lstsq", "numpy.linalg.solve", "numpy.linalg.pinv",
            "numpy.polynomial.polynomial.polyfit", "scipy.stats.linregress", what="the least-squares line"):
    got_line = fit_line(line_x, line_y)
    got_zipf = fit_line(log_r, log_f)
expect(np.array(got_line), ref_line, name="a line through four points")
expect(got_zipf[0], fits["Shakespeare"][0], name="Zipf slope of Shakespeare, as section 3 found")
### BEGIN HIDDEN TESTS
wf = np.sort(np.fromiter(Counter(wiki_words).values(), dtype=float))[::-1][9:1000]
with forbid("numpy.polyfit", "numpy.linalg.lstsq", "numpy.linalg.solve", "numpy.linalg.pinv",
            "numpy.polynomial.polynomial.polyfit", "scipy.stats.linregress", what="the least-squares line"):
    got_wiki = fit_line(np.log(np.arange(10, 10 + len(wf))), np.log(wf))
expect(np.array(got_wiki), np.array(fits["Wikipedia"]), name="Zipf line of Wikipedia")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# | you built | where it lives in `course_lib` |
# |---|---|
# | word tokenizer (English, Chinese characters) | `course_lib.text.word_tokenize` |
# | character tokenizers | `course_lib.text.char_tokenize`, `course_lib.text.chinese_tokenize` |
# | vocabulary with `<unk>`, `min_freq`, encode/decode | `course_lib.text.Vocab` |
# | one-hot vectors | `course_lib.text.one_hot` |
# | embedding lookup = one-hot × W = `W[ids]` | `course_lib.text.embedding_lookup` (and `torch.nn.Embedding`) |
# | cosine similarity | `course_lib.text.cosine_similarity` |
# | next-token examples: shift by one, windows, `<eos>` between documents | `course_lib.text.random_batches` |
# | the corpora | `course_lib.datasets.load_text`, `course_lib.datasets.load_sentences` |
#
# What to remember:
#
# * tokenization decides the vocabulary size and the sequence length; characters suit tiny
#   models, words leave unknown words behind, byte-level BPE (chapter 09) has neither problem;
# * word frequencies follow Zipf's law (slope near −1): a few words everywhere, most words rare;
# * an embedding lookup is the product of one-hot **rows** with $W$, computed as row indexing,
#   never "W times the ids";
# * one-hot and random vectors carry no similarity; it has to be learned from context;
# * a language model's examples are the ids themselves: the target is the input shifted by one.
#
# Next: **02 · Word2Vec**, which learns the rows of $W$ from the contexts you just counted.
