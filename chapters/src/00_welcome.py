# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# <!-- Source of truth: chapters/src/00_welcome.py; `make notebooks CHAPTERS=00` rebuilds and runs this notebook. -->
# # 00 · Welcome: how this course works
#
# **What you will do in this chapter**
#
# * see the map of the course, from raw text to a tiny GPT;
# * check that your computer is ready with `course_lib.doctor()`;
# * learn the four habits every later chapter relies on: **check cells**, **exercises**,
#   **fast mode** and **widgets**;
# * solve three warm-up exercises: two on real Shakespeare text, one that rebuilds the rule
#   every check cell uses to compare numbers.
#
# **Prerequisites:** Python (functions, lists, dictionaries) and a first contact with NumPy.
# No machine-learning background is assumed.
#
# **Time:** about 30 minutes of reading and exercises. Running the whole notebook takes 4 to 13
# seconds (measured top to bottom in full mode on a 2-core machine, quiet and busy).

# %% [markdown]
# ## The map
#
# Each chapter builds one piece of a language model from scratch, runs it on real text, and
# then *proves* the piece correct against a reference. The reference is `course_lib`, a small
# library that ships with the course, and `course_lib` itself is tested (in the course
# repository's `tests/`) against independent implementations: PyTorch, SciPy, gensim,
# Hugging Face `transformers`, or, where no library has the piece, a plain loop and a
# finite-difference check of every derived gradient. The last column says which.
#
# | # | chapter | you build | proven against |
# |---|---------|-----------|----------------|
# | 00 | Welcome | this tour | |
# | 01 | From text to numbers | tokenizers, a vocabulary, one-hot vectors, embedding lookup | PyTorch, SciPy |
# | 02 | Word2Vec | skip-gram and CBOW with negative sampling, word similarity scores | gensim's `Word2Vec` and its evaluation |
# | 03 | GloVe | co-occurrence counts and weighted least squares | a plain counting loop, finite differences and PyTorch autograd for the gradients (gensim has no GloVe trainer) |
# | 04 | Scaled dot-product attention | queries, keys, values, masks | `torch` attention |
# | 05 | Multi-head attention | heads, projections, a head-view widget | `torch.nn.MultiheadAttention` |
# | 06 | The Transformer | positions, LayerNorm, residual blocks, encoder and decoder | `torch.nn.LayerNorm`, `torch.nn.Transformer*Layer` |
# | 07 | The loss | softmax, cross-entropy, perplexity | `torch.nn.functional.cross_entropy` and autograd |
# | 08 | A tiny GPT | a character-level GPT trained on Shakespeare, sampling, KV-cache | `transformers` GPT-2 |
# | 09 | Tokens: byte-pair encoding | UTF-8 bytes, merges, GPT-2's own tokenizer | `tiktoken`, `transformers`' GPT-2 tokenizer, `tokenizers`' BPE trainer |
# | 10 | BERT | masked language modelling, next-sentence prediction, a mini-BERT pre-trained on Shakespeare | `transformers` BertForPreTraining and its masking collator |
# | 11 | Pre-train, then fine-tune | classification heads on [CLS] and on a GPT's last real token, linear probe, LoRA | `transformers` sequence classifiers, `peft` LoRA, scikit-learn |
# | 13 | From GPT-2 to today's models | RMSNorm, RoPE, SwiGLU, grouped-query attention | `transformers` Llama |
#
# Chapter 12 (instruction tuning and question answering) is planned and not part of this
# version yet; the numbers leave room for it.
#
# Read them in order: each chapter uses what the previous ones built, but always through
# `course_lib`, so you can also jump straight to a chapter that interests you: no chapter
# needs another one to have been run.

# %% [markdown]
# ## Running the notebooks
#
# From the repository root, one command installs everything into a private virtual
# environment (`.venv`) and opens JupyterLab on the `chapters/` folder:
#
# ```bash
# make lab
# ```
#
# Then open a chapter and use **Run ▸ Run All Cells**, or step through with
# <kbd>Shift</kbd>+<kbd>Enter</kbd>.
#
# Every chapter starts with the same two cells. The first (set-up) does nothing after
# `make lab`; in Colab, or in a Jupyter kernel where the course is not installed, it installs
# the course from the folder around the notebook, or tells you in one sentence what to run.
# The second imports `course_lib` and calls `set_seed(0)`, which seeds Python's `random`,
# NumPy and PyTorch, so a fresh kernel prints the same numbers every time: the numbers you
# see in the committed notebook are the numbers you should get.

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
import course_lib
from course_lib import set_seed, pick, fast_mode
from course_lib.checks import check, expect

set_seed(0)

# %% [markdown]
# The map above lists the chapters that exist; this cell checks that each of them is a notebook
# next to this one (where the folder is there to look at: not in Colab, where you opened a
# single notebook).

# %%
import pathlib

map_chapters = ["00_welcome", "01_text_to_numbers", "02_word2vec", "03_glove", "04_attention",
                "05_multi_head_attention", "06_transformer", "07_loss", "08_tiny_gpt", "09_tokens_bpe",
                "10_bert", "11_fine_tuning", "13_modern_llm"]
beside = sorted(p.stem for p in pathlib.Path.cwd().glob("[0-9][0-9]_*.ipynb"))
if beside:
    assert check([c for c in map_chapters if c not in beside], [], name="every chapter of the map is here")
else:
    print("no chapter notebooks beside this one: nothing to compare the map with")

# %% [markdown]
# ## Is my computer ready?
#
# `course_lib.doctor()` prints one line per requirement: `OK` or `PROBLEM` followed by what
# was found. Fix any `PROBLEM` line (the line says how) before going on. Your version numbers
# may differ from the ones printed below; that is fine as long as every line says `OK`.

# %%
# NBVAL_IGNORE_OUTPUT
ready = course_lib.doctor()

# %%
assert check(ready, True, name="environment ready")

# %% [markdown]
# ## Check cells: ✓ or ✗, and why
#
# When you build something, you want to know at once whether it is right. A **check cell**
# compares your result with the reference and prints one line:
#
# * `✓ name` when they agree (numbers within a small tolerance: $|a - e| \le \text{atol} + \text{rtol}\,|e|$),
# * `✗ name: ...` naming the *first* thing that differs: the shape, the dtype, or the first
#   index whose value differs, with both values.
#
# `check` works on numbers, strings, lists, dictionaries, NumPy arrays and PyTorch tensors.
# Here is a correct result, then three deliberate mistakes, so you know what a failure looks like.

# %%
import numpy as np
import torch

reference = np.array([[0.1, 0.2, 0.7],
                      [0.3, 0.3, 0.4]])

verdicts = [
    check(reference.copy(), reference, name="a copy matches"),
    check(reference.T, reference, name="transposed by mistake"),
    check(torch.tensor([[0.1, 0.2, 0.7], [0.3, 0.35, 0.4]]), reference, name="one wrong value"),
    check("to be or not to be", "to be, or not to be", name="a missing comma"),
]
print("check returned:", verdicts)

# %% [markdown]
# `check` also *returns* `True` or `False`, so a cell can act on the verdict: many cells in
# the course write `assert check(...)`, which stops a "Run All" at the first wrong result. Its twin
# `expect` is used inside exercises: it prints the same `✓` line when all is well and raises an
# `AssertionError` carrying the same sentence when not, which is how an automatic grader
# notices a wrong answer.

# %%
try:
    expect(reference.T, reference, name="transposed by mistake")
except AssertionError as err:
    print("AssertionError:", err)

# %% [markdown]
# ## Exercises
#
# Each chapter ends with a few exercises. An exercise is a pair of cells:
#
# 1. a **solution cell** holding a function for you to complete. In the student version
#    the code between the two solution marker comments (lines starting with `###`) is
#    replaced by `# YOUR CODE HERE` and `raise NotImplementedError()`;
# 2. a **test cell** right after it, full of `expect(...)` lines. It fails until your function
#    is right. Instructors can add hidden tests between two hidden-test marker comments: they
#    are removed from the student version and used for grading.
#
# These are the conventions of [nbgrader](https://nbgrader.readthedocs.io), so an instructor
# can use nbgrader itself or `make labs` to produce student versions. In this repository the
# solutions are filled in, so the whole notebook runs; try deleting a solution and re-running
# its test cell to see it fail.
#
# An exercise asks you to *build* something, so its test switches off the function that would
# do it in one call: inside `with forbid("collections.Counter", ...)`, calling `Counter` raises
# a `ForbiddenCall` that says so, and the test fails. Some test cells give points part by part
# (`Credit`): each `with credit.part(...)` block that passes earns its points, and the cell's
# last line shows the total.
#
# The first two exercises use the first play of the course's Shakespeare text.

# %%
from course_lib.datasets import load_text

shakespeare = load_text("shakespeare")
play = shakespeare[: shakespeare.index("ANTONY AND CLEOPATRA")]  # the first play only
print(f"{len(shakespeare):,} characters in the whole text, {len(play):,} in the first play")
print(play[:300])

# %%
assert check(play.splitlines()[0], "ALL'S WELL THAT ENDS WELL", name="the first play is All's Well That Ends Well")

# %% [markdown]
# ### Exercise 0.1: how often does a word appear?
#
# Complete `count_word(text, word)`: the number of times `word` appears in `text` as a whole
# word, ignoring case. "love" should count `Love` and `love,` but not `lover` or `glove`.
# Split the text on whitespace and strip punctuation from both ends of each piece with
# `str.strip(".,;:!?'\"-()[]")`; then count with a loop (the test switches `Counter` and the
# regular-expression search off).

# %% nbgrader={"grade": false, "grade_id": "ex-00-count-word", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_word(text: str, word: str) -> int:
    """Number of whole-word, case-insensitive occurrences of ``word`` in ``text``."""
    ### BEGIN SOLUTION
    word = word.lower()
    n = 0
    for piece in text.lower().split():
        if piece.strip(".,;:!?'\"-()[]") == word:
            n += 1
    return n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-00-count-word-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks import forbid

counting = ("collections.Counter", "re.findall", "re.finditer", "course_lib.text.word_tokenize")
with forbid(*counting, what="the word count"):
    small = count_word("Love, love! A lover's glove. LOVE", "love")
    comma = count_word("To be, or not to be", "be")
expect(small, 3, name="count_word on a small example")
expect(comma, 2, name="count_word with a comma")
### BEGIN HIDDEN TESTS
import re
punct = r"[.,;:!?'\"()\[\]-]*"  # the same definition, written as a regular expression
for w in ["love", "king", "honour"]:
    reference_count = len(re.findall(rf"(?:^|(?<=\s)){punct}{w}{punct}(?=\s|$)", play.lower()))
    with forbid(*counting, what="the word count"):
        got = count_word(play, w)
    expect(got, reference_count, name=f"count_word(play, {w!r})")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 0.2: which characters does Shakespeare use?
#
# Complete `character_counts(text)`: a dictionary mapping every character of `text` to the
# number of times it appears. Spaces and newlines are characters too. Build the dictionary
# yourself (the test switches `collections.Counter` off). Chapter 01 turns exactly this into a
# character vocabulary, and chapter 08's GPT writes Shakespeare one character at a time.

# %% nbgrader={"grade": false, "grade_id": "ex-00-char-counts", "locked": false, "schema_version": 3, "solution": true, "task": false}
def character_counts(text: str) -> dict[str, int]:
    """``{character: number of occurrences}`` for every character in ``text``."""
    ### BEGIN SOLUTION
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return counts
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-00-char-counts-test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks import forbid

with forbid("collections.Counter", what="the character count"):
    small = character_counts("to be")
    empty = character_counts("")
expect(small, {"t": 1, "o": 1, " ": 1, "b": 1, "e": 1}, name="character_counts('to be')")
expect(empty, {}, name="character_counts of empty text")
### BEGIN HIDDEN TESTS
from collections import Counter
reference_counts = dict(Counter(play))
with forbid("collections.Counter", what="the character count"):
    got = character_counts(play)
expect(got, reference_counts, name="character_counts(play)")
### END HIDDEN TESTS

# %%
counts = character_counts(play)
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
print(f"{len(counts)} distinct characters; the most common:", top)

# %%
assert check(sum(counts.values()), len(play), name="the counts add up to the length of the play")
assert check(top[0][0], " ", name="the space is the most common character")

# %% [markdown]
# ### Exercise 0.3: the rule behind every check
#
# `check` and `expect` call two numbers equal when $|a - e| \le \text{atol} + \text{rtol}\,|e|$,
# element by element, with `a` the actual value and `e` the expected one (NaN matches NaN).
# Complete `within_tolerance(actual, expected, rtol, atol)`: a boolean NumPy array, `True`
# where that holds. Use NumPy's elementwise operations (`np.abs`, `<=`, `np.isnan`, `|`,
# `&`); the test switches off `np.isclose`, `np.allclose`, `math.isclose`, their torch twins
# and `check` itself.
#
# Before you run the test, **predict**: with `rtol=0.095` and `atol=0`, is `1.0` within
# tolerance of the expected value `1.1`? Is `1.1` within tolerance of the expected value
# `1.0`? The second part of the test measures it.

# %% nbgrader={"grade": false, "grade_id": "ex-00-tolerance", "locked": false, "schema_version": 3, "solution": true, "task": false}
def within_tolerance(actual, expected, rtol: float = 1e-5, atol: float = 1e-8) -> np.ndarray:
    """``|actual - expected| <= atol + rtol * |expected|`` elementwise; NaN matches NaN."""
    ### BEGIN SOLUTION
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    both_nan = np.isnan(a) & np.isnan(e)
    return (np.abs(a - e) <= atol + rtol * np.abs(e)) | both_nan
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex-00-tolerance-test", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from course_lib.checks import Credit, forbid

shortcuts = ("numpy.isclose", "numpy.allclose", "math.isclose", "torch.isclose", "torch.allclose",
             "course_lib.checks.compare", "course_lib.checks.check")
rng = np.random.default_rng(0)
e = rng.normal(size=(4, 5))
a = e * (1 + rng.choice([0.0, 3e-6, 3e-5], size=(4, 5)))  # some within rtol = 1e-5, some not
a[1, 2] = e[1, 2] = np.nan                                  # NaN against NaN: a match
a[3, 1] = np.nan                                            # NaN against a number: not
reference = np.isclose(a, e, rtol=1e-5, atol=1e-8, equal_nan=True)  # computed before the switch-off

credit = Credit(3)
with credit.part("the rule on a (4, 5) array with NaNs", 1):
    with forbid(*shortcuts, what="the tolerance rule"):
        got = within_tolerance(a, e, rtol=1e-5, atol=1e-8)
    expect(got, reference, name="within_tolerance on a (4, 5) array")
with credit.part("the expected value sets the scale", 1):
    with forbid(*shortcuts, what="the tolerance rule"):
        one_way = within_tolerance(np.array([1.0]), np.array([1.1]), rtol=0.095, atol=0.0)
        other_way = within_tolerance(np.array([1.1]), np.array([1.0]), rtol=0.095, atol=0.0)
    expect([bool(one_way[0]), bool(other_way[0])], [True, False], name="1.0 vs 1.1, then 1.1 vs 1.0")
### BEGIN HIDDEN TESTS
with credit.part("atol matters near zero", 1):
    z = np.array([0.0, 1e-9, 2e-8, -5e-9, 1e-3])
    reference_z = np.isclose(z, np.zeros(5), rtol=1e-5, atol=1e-8)
    with forbid(*shortcuts, what="the tolerance rule"):
        got_z = within_tolerance(z, np.zeros(5), rtol=1e-5, atol=1e-8)
    expect(got_z, reference_z, name="within_tolerance near zero")
### END HIDDEN TESTS
credit.total()

# %% [markdown]
# The second part is why the order of the arguments of `check(actual, expected)` matters: the
# tolerance grows with the *expected* value. $|1.0 - 1.1| = 0.1 \le 0.095 \times 1.1 = 0.1045$,
# but $|1.1 - 1.0| = 0.1 > 0.095 \times 1.0 = 0.095$. The same `rtol` says "within 9.5 % of
# the reference", and the reference is the expected value. Near zero, `rtol` gives no room at
# all, and `atol` is what lets a result of $10^{-9}$ pass for an exact $0$.

# %%
gap = abs(1.0 - 1.1)
print(f"|1.0 - 1.1| = {gap:.4f}; room with expected 1.1: {0.095 * 1.1:.4f}; with expected 1.0: {0.095 * 1.0:.4f}")
assert check(bool(within_tolerance(1.0, 1.1, rtol=0.095, atol=0.0)), True, name="1.0 is within 9.5 % of 1.1")
assert check(bool(within_tolerance(1.1, 1.0, rtol=0.095, atol=0.0)), False, name="1.1 is not within 9.5 % of 1.0")
assert check(check(1.0, 1.1, name="check agrees", rtol=0.095, atol=0.0, quiet=True), True, name="check(1.0, 1.1) passes")
assert check(check(1.1, 1.0, name="check agrees", rtol=0.095, atol=0.0, quiet=True), False, name="check(1.1, 1.0) fails")

# %% [markdown]
# ## Fast mode
#
# Some chapters train models. A learner wants the real thing (a few minutes of training, good
# results); the automatic tests want the whole course to run in minutes. The environment
# variable `COURSE_FAST` chooses:
#
# ```bash
# make test                   # the tests set COURSE_FAST=1: small corpora, few training steps
# make lab                    # you: the full-size runs
# COURSE_FAST=1 make lab      # you, in a hurry: every chapter with the small sizes
# ```
#
# In a chapter, sizes that differ between the two modes are written
# `pick(full_value, fast_value)`. `fast_mode()` tells which mode is on. Cells whose output
# depends on the mode begin with the comment `# NBVAL_IGNORE_OUTPUT` (the notebook tests do
# not compare their output) and are followed by a check of what matters in either mode.

# %%
# NBVAL_IGNORE_OUTPUT
n_steps = pick(2000, 20)
print(f"fast mode: {fast_mode()}; this chapter would train for {n_steps} steps")

# %%
import os

asked_fast = os.environ.get("COURSE_FAST", "").strip().lower() in ("1", "true", "yes", "on")
assert check(n_steps, 20 if asked_fast else 2000, name="pick follows the COURSE_FAST variable")

# %% [markdown]
# ## A first widget
#
# Widgets are small interactive controls (sliders, menus, buttons) living in the notebook.
# Chapters 04, 05, 06 and 08 use them to explore attention weights head by head. Below, a slider (and
# a ▶ play button) flips through lines of the play, each shown with its word count.
#
# The links between the controls are made with `widgets.jslink`, which runs **in the
# browser**: the slider moves the page of a `Stack` without asking Python. That is why the
# widget also works in the static, kernel-less web version of the course, where there is no
# Python behind the page (the course's attention views are built the same way, and the book's
# test switches them in a browser with no kernel). A widget driven by a Python callback only
# works while a kernel runs.

# %%
import ipywidgets as widgets

speeches = [line for line in play.splitlines() if len(line.split()) >= 8][:12]
pages = [widgets.HTML(f"<p style='font-size:1.1em'><i>{line}</i></p>"
                      f"<p>line {i + 1} of {len(speeches)} · {len(line.split())} words</p>")
         for i, line in enumerate(speeches)]
stack = widgets.Stack(pages, selected_index=0)
slider = widgets.IntSlider(value=0, min=0, max=len(pages) - 1, description="line")
play_button = widgets.Play(value=0, min=0, max=len(pages) - 1, interval=1500)

links = [widgets.jslink((slider, "value"), (stack, "selected_index")),
         widgets.jslink((play_button, "value"), (slider, "value"))]
first_widget = widgets.VBox([widgets.HBox([play_button, slider]), stack])
first_widget

# %% [markdown]
# In a live notebook, drag the slider or press ▶. If you see the text
# `VBox(children=...)` instead of a slider, the widget front end is missing: `doctor()` above
# says how to fix it.

# %%
check(len(pages), 12, name="twelve pages in the stack")
check(stack.selected_index, slider.value, name="slider and stack start in step")
assert check([link.source[1] + " -> " + link.target[1] for link in links],
             ["value -> selected_index", "value -> value"], name="client-side links")

# %% [markdown]
# ### A preview: the attention view
#
# From chapter 04 on, a model's *attention* says, for every token, how much it looks at each
# earlier token: a table of weights where every row sums to 1. `course_lib.widgets.attention_view`
# draws such a table as a heatmap with a menu per layer and head. Here are two hand-made
# patterns on a line of the play, nothing learned yet: head 0 looks only at the previous
# token, head 1 spreads its attention evenly over everything before it. Pick a head in the
# menu (a static picture stands in where widgets cannot run).

# %%
# NBVAL_IGNORE_OUTPUT
from course_lib.widgets import attention_view

line_tokens = "Love all , trust a few , do wrong to none".split()
T = len(line_tokens)
previous_token = np.eye(T, k=-1)                                  # (T, T): row t has a 1 at t-1
previous_token[0, 0] = 1.0                                        # the first token can only look at itself
causal_average = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]   # (T, T): rows sum to 1
patterns = np.stack([previous_token, causal_average])             # (H=2, T, T)
attention_view(patterns, line_tokens, title="two hand-made attention heads")

# %%
assert check(patterns.sum(-1), np.ones((2, T)), name="every row of attention sums to 1")

# %% [markdown]
# ## Summary
#
# | you met | where it lives |
# |---|---|
# | seeding everything at once | `course_lib.set_seed` (`course_lib/core.py`) |
# | fast or full runs | `course_lib.fast_mode`, `course_lib.pick` (`course_lib/core.py`) |
# | the environment check | `course_lib.doctor` (`course_lib/core.py`) |
# | check cells and exercise tests | `course_lib.checks.check`, `course_lib.checks.expect` (`course_lib/checks.py`) |
# | the shipped texts | `course_lib.datasets.load_text` and friends (`course_lib/datasets.py`, files in `datasets/`) |
# | widgets | `ipywidgets`; the attention views `attention_view`, `head_view` in `course_lib/widgets.py` (chapters 04-08) |
#
# Next: **01 · From text to numbers**, where the characters you just counted become the
# first numbers a language model sees.
