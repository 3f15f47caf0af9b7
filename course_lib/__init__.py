"""course_lib: the reference implementations behind *Build a Language Model, Step by Step*.

One module per idea (see the course design):

    datasets     shipped corpora and evaluation sets, checksum-verified
    text         tokenizers, Vocab, one-hot, embedding lookup          (ch 01)
    word2vec     skip-gram / CBOW with negative sampling                (ch 02)
    glove        co-occurrence counts and GloVe                         (ch 03)
    evaluation   similarity, analogies, nearest neighbours              (ch 02-03)
    attention    softmax, masks, scaled dot-product, multi-head         (ch 04-05)
    transformer  positions, LayerNorm, FFN, encoder/decoder blocks      (ch 06)
    losses       log-softmax, cross-entropy, perplexity                 (ch 07)
    gpt          GPTConfig, GPT, to and from transformers               (ch 08)
    generation   generate(), sampling filters, KVCache (any causal LM)  (ch 08-13)
    training     the one training loop: schedule, eval, checkpoints
    widgets      attention views and shared plots
    checks       check(), expect(), and what exercise tests use (forbid, Credit)
    bpe          byte-level BPE, GPT-2's tokenizer                      (ch 09)
    bert         BERT, masking, NSP pairs, MLM/NSP heads                (ch 10)
    finetune     classification heads, LoRA, labelled-text batches      (ch 11)
    llama        RMSNorm, RoPE, SwiGLU, grouped-query attention         (ch 13)
    tasks        small generated tasks (numbers to words)               (ch 06)
    profiling    peak memory of a computation                           (ch 05)

The student release and the grader are instructor tooling, outside the library: tools/labs.py.

The helpers in this file (``set_seed``, ``fast_mode``, ``pick``, ``pick_device``, ``doctor``) are used by every chapter.
"""
from __future__ import annotations

from .core import doctor, fast_mode, pick, pick_device, set_seed

__all__ = ["set_seed", "fast_mode", "pick", "pick_device", "doctor"]
__version__ = "0.1.0"  # the one place: pyproject.toml reads it (setuptools dynamic version)
