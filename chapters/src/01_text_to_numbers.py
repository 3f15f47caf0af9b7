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
# * **cosine similarity**, the yardstick for comparing word vectors in the chapters to come.
#
# **Prerequisites:** chapter 00; NumPy arrays, indexing and `@` (matrix product).
#
# **Time:** about 45 minutes to read and experiment; the notebook itself runs in a few seconds.

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
                             embedding_lookup, cosine_similarity)

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
# (*fruit, result*) needs a dictionary or a trained segmenter. The simple, robust choice used
# by most Chinese language models is **one token per character**: there are only a few thousand
# common characters, and a model learns which ones go together.

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

# %% [markdown]
# Even keeping every training word, about one word in twenty of new Shakespeare is unknown.
# That is the main reason modern models use sub-word tokens (a later chapter builds byte-pair
# encoding): pieces of words are never unknown.
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
# ## Exercises
#
# ### Exercise 1.1: a character codec
#
# Complete `encode_chars(text, alphabet)`: the id of every character of `text`, where the id
# of a character is its position in `alphabet` (a sorted list of distinct characters, as in
# chapter 08's GPT). Raise a `ValueError` naming the character if one is not in the alphabet.

# %% nbgrader={"grade": false, "grade_id": "ex-01-encode-chars", "locked": false, "schema_version": 3, "solution": true, "task": false}
def encode_chars(text: str, alphabet: list[str]) -> list[int]:
    """Character ids: ``alphabet.index(ch)`` for each character ``ch`` of ``text``."""
    ### BEGIN SOLUTION
    position = {ch: i for i, ch in enumerate(alphabet)}
    ids = []
    for ch in text:
        if ch not in position:
            raise ValueError(f"character {ch!r} is not in the alphabet")
        ids.append(position[ch])
    return ids
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-01-encode-chars-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect(encode_chars("abba", ["a", "b"]), [0, 1, 1, 0], name="encode_chars('abba')")
expect(encode_chars("", ["a"]), [], name="encode_chars of empty text")
try:
    encode_chars("abc", ["a", "b"])
    raise AssertionError("✗ encode_chars should raise a ValueError for 'c'")
except ValueError as err:
    expect("'c'" in str(err), True, name="the error names the missing character")
### BEGIN HIDDEN TESTS
text_1000 = shakespeare[:1000]
reference_ids = np.searchsorted(np.array(char_set), np.array(list(text_1000)))
expect(encode_chars(text_1000, char_set), reference_ids.tolist(), name="encode_chars on Shakespeare")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.2: the embedding lookup, the slow way
#
# Complete `lookup_by_one_hot(W, ids)` **without** `one_hot` or indexing `W[ids]`: build the
# $T \times V$ one-hot matrix yourself with `np.zeros`, then multiply by `W`.

# %% nbgrader={"grade": false, "grade_id": "ex-01-one-hot-lookup", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lookup_by_one_hot(W: np.ndarray, ids: list[int]) -> np.ndarray:
    """(V, d) matrix and T ids -> (T, d): one_hot(ids) @ W."""
    ### BEGIN SOLUTION
    X = np.zeros((len(ids), W.shape[0]), dtype=W.dtype)   # (T, V)
    for t, i in enumerate(ids):
        X[t, i] = 1
    return X @ W                                          # (T, V) @ (V, d) -> (T, d)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-01-one-hot-lookup-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
W_small = np.arange(12.0).reshape(4, 3)
expect(lookup_by_one_hot(W_small, [2, 0]).shape, (2, 3), name="lookup_by_one_hot shape")
expect(lookup_by_one_hot(W_small, [2, 0]), np.array([[6.0, 7.0, 8.0], [0.0, 1.0, 2.0]]), name="lookup_by_one_hot values")
### BEGIN HIDDEN TESTS
expect(lookup_by_one_hot(W, sentence_ids.tolist()), embedding_lookup(W, sentence_ids), name="lookup_by_one_hot on Shakespeare")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1.3: the unknown-word rate
#
# Complete `unknown_rate(vocab, tokens)`: the fraction of `tokens` that `vocab` encodes as its
# unknown token (a number between 0 and 1; use `vocab.encode` and `vocab.unk_id`).

# %% nbgrader={"grade": false, "grade_id": "ex-01-unknown-rate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def unknown_rate(vocab: Vocab, tokens: list[str]) -> float:
    """Fraction of tokens mapped to ``vocab.unk_id``."""
    ### BEGIN SOLUTION
    ids = vocab.encode(tokens)
    return sum(i == vocab.unk_id for i in ids) / len(ids)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-01-unknown-rate-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
toy = Vocab(["to", "be", "or", "not"])
expect(unknown_rate(toy, ["to", "be", "that", "is"]), 0.5, name="unknown_rate on a toy vocabulary")
expect(unknown_rate(toy, ["not", "to", "be"]), 0.0, name="no unknown words")
### BEGIN HIDDEN TESTS
known = set(Vocab(train_words, min_freq=2).itos)
expect(unknown_rate(Vocab(train_words, min_freq=2), test_words),
       sum(w not in known for w in test_words) / len(test_words), name="unknown_rate on held-out Shakespeare")
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
# | the corpora | `course_lib.datasets.load_text`, `course_lib.datasets.load_sentences` |
#
# What to remember:
#
# * tokenization decides the vocabulary size and the sequence length; characters suit Chinese
#   and tiny models, words leave unknown words behind;
# * word frequencies follow Zipf's law (slope near −1): a few words everywhere, most words rare;
# * an embedding lookup is the product of one-hot **rows** with $W$, computed as row indexing,
#   never "W times the ids";
# * one-hot and random vectors carry no similarity; it has to be learned from context.
#
# Next: **02 · Word2Vec**, which learns the rows of $W$ from the contexts you just counted.
