"""Pre-train, then fine-tune: classification heads, LoRA and batches of labelled text (chapter 11).

    tok   = Tokenizer.train(texts, 3000, level="char")          # characters + BERT's special tokens
    data  = LabelledText.from_texts(texts, labels, tok, max_len=64)   # [CLS] ... [SEP], unpadded
    for batch in data.batches(32, generator=g):                 # right-padded, similar lengths together
        out = model(batch.ids, batch.attention_mask, labels=batch.labels)   # out.logits (B, K), out.loss
    clf   = BertClassifier(pretrained.bert, n_classes=2)         # a linear layer on BERT's pooled [CLS]
    gclf  = GPTClassifier(gpt, n_classes=2)                      # a linear layer on the LAST REAL token
    add_lora(clf, r=8, alpha=16, targets=("q_proj", "v_proj"))  # frozen base + trainable B A, then
    merge_lora(clf)                                             # W <- W + (alpha / r) B A: plain Linears again
    to_hf_classifier(clf)                                       # transformers.BertForSequenceClassification

The ideas:

* **A head on a sentence vector.** A classifier reads one vector per text and maps it to K
  scores: ``logits = W h + b``. BERT's vector is its pooled [CLS] state,
  ``h = tanh(W_p h_L[CLS] + b_p)`` (``course_lib.bert.BertModel``). A causal GPT's only state
  that has seen every token is the one at the LAST real token; with right padding that is position
  ``length - 1``, not ``-1``: position -1 holds a [PAD] whose state also attended to the padding,
  so the same text would get different logits in batches padded to different lengths.
* **LoRA** (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): freeze
  ``W`` (out, in) and learn a low-rank change,

      h = W x + (alpha / r) B A dropout(x),      A (r, in) random,  B (out, r) = 0 at the start,

  so training starts exactly at the pre-trained model and changes ``r (in + out)`` numbers per
  matrix instead of ``in * out``. After training ``W + (alpha / r) B A`` is one matrix again.
* **Batches of labelled text**: texts have different lengths, so a batch is padded on the right
  to its longest text with an ``attention_mask`` (True at real tokens); batching texts of similar
  length together wastes little compute on padding.
"""
from __future__ import annotations

import copy
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Iterable, Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _validate as V
from .bert import SPECIAL_TOKENS, BertForPreTraining, BertModel, backbone_to_hf_state, hf_config
from .bert import mask_tokens, parse_speeches
from .gpt import GPT
from .text import word_tokenize

__all__ = ["Tokenizer", "LabelledBatch", "LabelledText", "pad_batch", "length_batches",
           "ClassifierOutput", "BertClassifier", "GPTClassifier", "last_real_index", "gather_last",
           "gpt_hidden_states", "to_hf_classifier", "to_hf_gpt_classifier",
           "LoRALinear", "add_lora", "merge_lora", "trainable_parameters", "lora_parameter_count",
           "FineTuneConfig", "fine_tune", "predict", "accuracy", "confusion_matrix",
           "mlm_batches", "pretrain_mlm", "mlm_loss_on", "pretrain_causal",
           "FOLIO_GENRES", "GENRES", "GENRE_SPLITS", "genre_speeches"]


# ----------------------------------------------------------------------------- tokens for Chinese text

class Tokenizer:
    """A fixed vocabulary of characters or of words, after BERT's special tokens [PAD] [UNK] [CLS]
    [SEP] [MASK] (ids 0-4). ``Tokenizer.train(texts, size, level="char")``: one token per character
    (Chinese has no spaces between words; Google's Chinese BERT also reads single characters),
    whitespace dropped. ``level="word"``: lower-cased words and punctuation
    (``course_lib.text.word_tokenize``), for English. Anything outside the vocabulary is [UNK];
    "[MASK]" written in a text is the mask token."""

    def __init__(self, tokens: Sequence[str], level: str = "char") -> None:
        tokens = list(tokens)
        if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"Tokenizer expected a token list starting with {SPECIAL_TOKENS}, got {tokens[:5]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("Tokenizer expected distinct tokens")
        if level not in ("char", "word"):
            raise ValueError(f"Tokenizer expected level 'char' or 'word', got {level!r}")
        self.itos, self.level = tokens, level
        self.stoi = {w: i for i, w in enumerate(tokens)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(len(SPECIAL_TOKENS))
        self.special_ids = tuple(range(len(SPECIAL_TOKENS)))

    @classmethod
    def train(cls, texts: Iterable[str], size: int, *, level: str = "char") -> "Tokenizer":
        """The ``size`` - 5 most frequent tokens of ``texts`` (ties: first seen) after the special tokens."""
        V.positive_int(size, "size", "Tokenizer.train")
        if size <= len(SPECIAL_TOKENS):
            raise ValueError(f"Tokenizer.train expected size > {len(SPECIAL_TOKENS)}, got {size}")
        probe = cls(list(SPECIAL_TOKENS), level)
        counts: Counter = Counter()
        for t in texts:
            counts.update(probe.tokenize(t))
        kept = [w for w, _ in counts.most_common() if w not in SPECIAL_TOKENS][: size - len(SPECIAL_TOKENS)]
        return cls(list(SPECIAL_TOKENS) + kept, level)

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Tokenizer(level={self.level!r}, size={len(self)}, most frequent={self.itos[5:10]})"

    def tokenize(self, text: str) -> list[str]:
        text = V.text(text, "Tokenizer.tokenize")
        if self.level == "word":
            return word_tokenize(text)
        return [c for c in text if not c.isspace()]

    def encode(self, text: str) -> list[int]:
        """text -> ids (no [CLS] / [SEP] added)."""
        ids: list[int] = []
        for part in re.split(r"(\[MASK\])", V.text(text, "Tokenizer.encode")):
            if part == "[MASK]":
                ids.append(self.mask_id)
            elif part:
                ids.extend(self.stoi.get(t, self.unk_id) for t in self.tokenize(part))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"Tokenizer.decode expected ids in [0, {len(self.itos)}), got {i}")
            out.append(self.itos[i])
        return ("" if self.level == "char" else " ").join(out)


# ----------------------------------------------------------------------------- batches of labelled text

@dataclass
class LabelledBatch:
    """A right-padded batch: ``ids`` (B, T) long, ``attention_mask`` (B, T) bool (True = real token),
    ``labels`` (B,) long, ``index`` (B,) the rows of the data set the batch holds."""

    ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor

    def to(self, device) -> "LabelledBatch":
        return LabelledBatch(*(getattr(self, f.name).to(device) for f in fields(self)))


def pad_batch(seqs: Sequence[Sequence[int]], labels: Sequence[int], pad_id: int,
              index: Sequence[int] | None = None) -> LabelledBatch:
    """Pad every sequence on the RIGHT to the longest one: ids (B, T), mask (B, T) True at real tokens."""
    if len(seqs) == 0:
        raise ValueError("pad_batch expected at least one sequence, got none")
    if len(labels) != len(seqs):
        raise ValueError(f"pad_batch expected one label per sequence, got {len(seqs)} sequences and "
                         f"{len(labels)} labels")
    if any(len(s) == 0 for s in seqs):
        raise ValueError("pad_batch expected non-empty sequences (each text needs at least one token)")
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)               # (B, T)
    mask = torch.zeros(len(seqs), T, dtype=torch.bool)                         # (B, T)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        mask[b, :len(s)] = True
    index = torch.arange(len(seqs)) if index is None else torch.as_tensor(list(index), dtype=torch.long)
    return LabelledBatch(ids, mask, torch.as_tensor(list(labels), dtype=torch.long), index)


def length_batches(lengths: Sequence[int], batch_size: int, *, generator: torch.Generator | None = None,
                   bucket: int = 50) -> list[list[int]]:
    """Group row indices into batches of similar length (every index exactly once).

    Without a generator (evaluation): all rows sorted by length, cut into batches. With one
    (training): shuffle, cut into chunks of ``bucket * batch_size`` rows, sort each chunk by length,
    cut into batches and shuffle the batches: little padding, and still a different order each epoch.
    """
    V.positive_int(batch_size, "batch_size", "length_batches")
    V.positive_int(bucket, "bucket", "length_batches")
    n = len(lengths)
    if n == 0:
        raise ValueError("length_batches expected at least one length, got none")
    lengths = [int(x) for x in lengths]
    if generator is None:
        order = sorted(range(n), key=lambda i: lengths[i])
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    perm = torch.randperm(n, generator=generator).tolist()
    batches = []
    for start in range(0, n, bucket * batch_size):
        chunk = sorted(perm[start:start + bucket * batch_size], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


class LabelledText:
    """Token sequences and their labels, served as right-padded batches of similar length."""

    def __init__(self, seqs: Sequence[Sequence[int]], labels: Sequence[int], pad_id: int, n_classes: int) -> None:
        if len(seqs) != len(labels):
            raise ValueError(f"LabelledText expected one label per sequence, got {len(seqs)} and {len(labels)}")
        if len(seqs) == 0:
            raise ValueError("LabelledText expected at least one example")
        self.n_classes = V.positive_int(n_classes, "n_classes", "LabelledText")
        bad = [y for y in labels if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < n_classes]
        if bad:
            raise ValueError(f"LabelledText expected integer labels in [0, {n_classes}), got {bad[0]!r}")
        self.seqs, self.labels, self.pad_id = [list(s) for s in seqs], list(labels), pad_id

    @classmethod
    def from_texts(cls, texts: Sequence[str], labels: Sequence[int], tokenizer: Tokenizer, *, max_len: int,
                   n_classes: int = 2, cls_token: bool = True) -> "LabelledText":
        """Encode each text as [CLS] t_1 ... t_k [SEP] (``cls_token=False``: t_1 ... t_k [SEP], for a GPT),
        keeping the first tokens when a text is longer than ``max_len`` (k = max_len - 2 or - 1)."""
        V.positive_int(max_len, "max_len", "LabelledText.from_texts")
        keep = max_len - (2 if cls_token else 1)
        if keep < 1:
            raise ValueError(f"LabelledText.from_texts expected max_len >= {3 if cls_token else 2}, got {max_len}")
        head = [tokenizer.cls_id] if cls_token else []
        seqs = [head + tokenizer.encode(t)[:keep] + [tokenizer.sep_id] for t in texts]
        return cls(seqs, labels, tokenizer.pad_id, n_classes)

    def __len__(self) -> int:
        return len(self.seqs)

    def subset(self, rows: Sequence[int]) -> "LabelledText":
        return LabelledText([self.seqs[i] for i in rows], [self.labels[i] for i in rows], self.pad_id, self.n_classes)

    def sample(self, n: int, generator: torch.Generator) -> "LabelledText":
        """``n`` examples drawn without replacement (a seeded draw: the learning curve's small data sets)."""
        V.positive_int(n, "n", "LabelledText.sample")
        if n > len(self):
            raise ValueError(f"LabelledText.sample expected n <= {len(self)} examples, got {n}")
        return self.subset(torch.randperm(len(self), generator=generator)[:n].tolist())

    def batches(self, batch_size: int, *, generator: torch.Generator | None = None) -> Iterator[LabelledBatch]:
        for rows in length_batches([len(s) for s in self.seqs], batch_size, generator=generator):
            yield pad_batch([self.seqs[i] for i in rows], [self.labels[i] for i in rows], self.pad_id, rows)


# ----------------------------------------------------------------------------- classification heads

@dataclass
class ClassifierOutput:
    logits: torch.Tensor                 # (B, K)
    loss: torch.Tensor | None = None     # mean cross-entropy when labels are given


def _head_loss(logits: torch.Tensor, labels: torch.Tensor | None, fn: str) -> torch.Tensor | None:
    if labels is None:
        return None
    V.class_ids(labels, logits, -100, fn)
    return F.cross_entropy(logits, labels.long())


class BertClassifier(nn.Module):
    """logits = W dropout(pooled) + b on BERT's pooled [CLS] vector (as BertForSequenceClassification)."""

    def __init__(self, bert: BertModel, n_classes: int, *, dropout: float | None = None) -> None:
        super().__init__()
        if not isinstance(bert, BertModel):
            raise ValueError(f"BertClassifier expected a course_lib.bert.BertModel, got {type(bert).__name__}")
        self.n_classes = V.positive_int(n_classes, "n_classes", "BertClassifier")
        self.bert = bert
        p = bert.config.dropout if dropout is None else dropout
        self.dropout = nn.Dropout(V.probability(p, "dropout", "BertClassifier"))
        self.classifier = nn.Linear(bert.config.d_model, n_classes)              # (K, C)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    @classmethod
    def from_pretraining(cls, model: BertForPreTraining, n_classes: int, **kwargs) -> "BertClassifier":
        """A classifier on a COPY of a pre-trained backbone (the pre-trained model is left as it was)."""
        if not isinstance(model, BertForPreTraining):
            raise ValueError(f"from_pretraining expected a BertForPreTraining, got {type(model).__name__}")
        return cls(copy.deepcopy(model.bert), n_classes, **kwargs)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                segment_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> ClassifierOutput:
        _, pooled = self.bert(ids, segment_ids, attention_mask)                  # (B, C)
        logits = self.classifier(self.dropout(pooled))                           # (B, K)
        return ClassifierOutput(logits, _head_loss(logits, labels, "BertClassifier"))


def last_real_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) right-padded mask -> (B,) the position of each row's last real token: length - 1."""
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.dtype != torch.bool or attention_mask.ndim != 2:
        got = (f"{attention_mask.dtype} of shape {tuple(attention_mask.shape)}"
               if isinstance(attention_mask, torch.Tensor) else type(attention_mask).__name__)
        raise ValueError(f"last_real_index expected a bool attention_mask of shape (B, T), True at real tokens, got {got}")
    lengths = attention_mask.sum(dim=1)                                           # (B,)
    if bool((lengths == 0).any()):
        raise ValueError("last_real_index expected at least one real token in every row")
    T = attention_mask.shape[1]
    right_padded = torch.arange(T, device=attention_mask.device)[None, :] < lengths[:, None]   # (B, T)
    if not torch.equal(right_padded, attention_mask):
        row = int((right_padded != attention_mask).any(dim=1).nonzero()[0])
        raise ValueError(f"last_real_index expected RIGHT padding (real tokens first, then padding); row {row} "
                         f"is {attention_mask[row].int().tolist()}")
    return lengths - 1


def gather_last(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, T, C), right-padded mask (B, T) -> (B, C): the state at each row's last real token."""
    V.float_tensor(hidden, "hidden", "gather_last")
    if hidden.ndim != 3 or tuple(hidden.shape[:2]) != tuple(attention_mask.shape):
        raise ValueError(f"gather_last expected hidden of shape (B, T, C) with (B, T) = the mask's "
                         f"{tuple(attention_mask.shape)}, got {tuple(hidden.shape)}")
    last = last_real_index(attention_mask)                                        # (B,)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]     # (B, C)


def gpt_hidden_states(gpt: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The GPT's final hidden states ln_f(blocks(wte[idx] + wpe[pos])) (B, T, C): its forward pass without
    the output layer (``gpt(idx)[0] == gpt_hidden_states(gpt, idx) @ wte.T``)."""
    if not isinstance(gpt, GPT):
        raise ValueError(f"gpt_hidden_states expected a course_lib.gpt.GPT, got {type(gpt).__name__}")
    idx = V.token_ids(idx, gpt.config.vocab_size, "gpt_hidden_states")
    T = idx.shape[1]
    if T > gpt.config.block_size:
        raise ValueError(f"gpt_hidden_states got {T} positions but the GPT has block_size={gpt.config.block_size}")
    t = gpt.transformer
    x = t.drop(t.wte(idx) + t.wpe(torch.arange(T, device=idx.device)))         # (B, T, C)
    for block in t.h:
        x, _ = block(x)                                                          # (B, T, C)
    return t.ln_f(x)                                                             # (B, T, C)


class GPTClassifier(nn.Module):
    """logits = W h[last real token] (no bias, as transformers' GPT2ForSequenceClassification)."""

    def __init__(self, gpt: GPT, n_classes: int) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise ValueError(f"GPTClassifier expected a course_lib.gpt.GPT, got {type(gpt).__name__}")
        self.n_classes = V.positive_int(n_classes, "n_classes", "GPTClassifier")
        self.gpt = gpt
        self.score = nn.Linear(gpt.config.n_embd, n_classes, bias=False)        # (K, C)
        nn.init.normal_(self.score.weight, std=0.02)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                labels: torch.Tensor | None = None) -> ClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(ids, dtype=torch.bool)
        hidden = gpt_hidden_states(self.gpt, ids)                                # (B, T, C)
        logits = self.score(gather_last(hidden, attention_mask))                 # (B, K)
        return ClassifierOutput(logits, _head_loss(logits, labels, "GPTClassifier"))


def to_hf_classifier(model: BertClassifier):
    """A ``transformers.BertForSequenceClassification`` with our weights (built from a config, nothing downloaded)."""
    from transformers import BertForSequenceClassification

    if not isinstance(model, BertClassifier):
        raise ValueError(f"to_hf_classifier expected a BertClassifier, got {type(model).__name__}")
    if isinstance(model.classifier, LoRALinear) or any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("to_hf_classifier expected plain Linear layers: call merge_lora(model) first")
    cfg = hf_config(model.bert.config)
    cfg.num_labels = model.n_classes
    cfg.classifier_dropout = model.dropout.p
    ref = model.classifier.weight
    hf = BertForSequenceClassification(cfg).to(device=ref.device, dtype=ref.dtype)
    state = {"bert." + k: v for k, v in backbone_to_hf_state(model.bert).items()}
    state["classifier.weight"], state["classifier.bias"] = model.classifier.weight, model.classifier.bias
    hf.load_state_dict(state, strict=True)
    return hf.eval()


def to_hf_gpt_classifier(model: GPTClassifier, pad_id: int):
    """A ``transformers.GPT2ForSequenceClassification`` with our weights; it finds the last token that is
    not ``pad_id`` (the same position as ours with right padding)."""
    from transformers import GPT2ForSequenceClassification

    from .gpt import to_hf as gpt_to_hf

    if not isinstance(model, GPTClassifier):
        raise ValueError(f"to_hf_gpt_classifier expected a GPTClassifier, got {type(model).__name__}")
    lm = gpt_to_hf(model.gpt)
    cfg = copy.deepcopy(lm.config)
    cfg.num_labels, cfg.pad_token_id = model.n_classes, int(pad_id)
    hf = GPT2ForSequenceClassification(cfg).to(device=model.score.weight.device, dtype=model.score.weight.dtype)
    state = {k: v for k, v in lm.state_dict().items() if k.startswith("transformer.")}
    state["score.weight"] = model.score.weight
    hf.load_state_dict(state, strict=True)
    return hf.eval()


# ----------------------------------------------------------------------------- LoRA

class LoRALinear(nn.Module):
    """h = W x + b + (alpha / r) B A dropout(x): a frozen Linear plus a trainable rank-r change.

    A (r, in) starts random (Kaiming-uniform, as nn.Linear and peft), B (out, r) starts at zero, so
    the wrapped layer first computes exactly what the base layer did. ``merge()`` folds the change
    into W (inference costs nothing extra); ``unmerge()`` takes it out again.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"LoRALinear expected an nn.Linear to wrap, got {type(base).__name__}")
        self.r = V.positive_int(r, "r", "LoRALinear")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"LoRALinear expected alpha > 0, got {alpha!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRALinear expected dropout in [0, 1), got {dropout!r}")
        self.alpha, self.scaling = float(alpha), float(alpha) / self.r
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features, device=w.device, dtype=w.dtype))   # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, device=w.device, dtype=w.dtype))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """(alpha / r) B A: the (out, in) change LoRA makes to W."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)                                                        # (..., out)
        if self.merged:
            return y
        return y + self.scaling * (self.dropout(x) @ self.lora_A.t() @ self.lora_B.t())   # (..., r) -> (..., out)

    @torch.no_grad()
    def merge(self) -> "LoRALinear":
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True
        return self

    @torch.no_grad()
    def unmerge(self) -> "LoRALinear":
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False
        return self


def add_lora(model: nn.Module, *, r: int = 8, alpha: float = 16, dropout: float = 0.0,
             targets: Sequence[str] = ("q_proj", "v_proj"), trainable: Sequence[str] = ("classifier", "score")
             ) -> list[str]:
    """Freeze ``model``, wrap every nn.Linear whose own name is in ``targets`` in a LoRALinear, and leave
    trainable only the LoRA matrices and the modules named in ``trainable`` (the new head). Returns the
    names of the wrapped layers. (peft: ``LoraConfig(r, lora_alpha, target_modules, lora_dropout,
    modules_to_save)``.)"""
    if isinstance(targets, str) or not targets:
        raise ValueError(f"add_lora expected a non-empty list of layer names as targets, got {targets!r}")
    found = [(name, module) for name, module in model.named_modules()
             if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in targets]
    if not found:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"add_lora found no nn.Linear named {list(targets)}; the model's Linear layers are "
                         f"named {linears}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r, alpha, dropout))
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in trainable:
            for p in module.parameters():
                p.requires_grad_(True)
    return [name for name, _ in found]


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its base Linear with W <- W + (alpha / r) B A (in place; returns the model)."""
    wrapped = [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name, module in wrapped:
        module.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.base)
    return model


def trainable_parameters(model: nn.Module) -> int:
    """How many numbers the optimizer changes: parameters with requires_grad (shared ones counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_parameter_count(model: nn.Module, targets: Sequence[str], r: int) -> int:
    """By pen and paper: r (in + out) for every nn.Linear named in ``targets`` (before add_lora)."""
    V.positive_int(r, "r", "lora_parameter_count")
    return sum(r * (m.in_features + m.out_features) for n, m in model.named_modules()
               if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in targets)


# ----------------------------------------------------------------------------- fine-tuning

@dataclass
class FineTuneConfig:
    """How a classifier is trained: AdamW, linear warm-up over ``warmup`` of the steps, then linear
    decay to 0 (BERT's schedule), gradients clipped to ``grad_clip``."""

    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup: float = 0.1
    grad_clip: float | None = 1.0
    seed: int = 0
    min_steps: int = 0         # tiny data sets: repeat epochs until at least this many steps

    def __post_init__(self) -> None:
        V.positive_int(self.epochs, "epochs", "FineTuneConfig")
        V.positive_int(self.batch_size, "batch_size", "FineTuneConfig")
        V.non_negative_int(self.min_steps, "min_steps", "FineTuneConfig")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ValueError(f"FineTuneConfig expected a learning rate in (0, 1), got {self.lr!r}")
        V.probability(self.warmup, "warmup", "FineTuneConfig")


@dataclass
class FineTuneHistory:
    losses: list[float] = field(default_factory=list)     # one per step
    val_accuracy: list[float] = field(default_factory=list)   # one per epoch (when val data is given)
    steps: int = 0
    seconds: float = 0.0


def _lr_factor(step: int, total: int, warmup_steps: int) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total - step) / max(1, total - warmup_steps))


def fine_tune(model: nn.Module, data: LabelledText, cfg: FineTuneConfig | None = None, *,
              val: LabelledText | None = None) -> FineTuneHistory:
    """Train the parameters of ``model`` that require a gradient on ``data`` (cross-entropy of its logits)."""
    cfg = FineTuneConfig() if cfg is None else cfg
    if not isinstance(data, LabelledText):
        raise ValueError(f"fine_tune expected the data as a LabelledText, got {type(data).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("fine_tune found no parameter with requires_grad=True: nothing to train")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    per_epoch = math.ceil(len(data) / cfg.batch_size)
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / per_epoch))
    total = epochs * per_epoch
    warmup_steps = max(1, int(cfg.warmup * total))
    g = torch.Generator().manual_seed(cfg.seed)
    device = next(model.parameters()).device
    history, t0, step = FineTuneHistory(), time.perf_counter(), 0
    with _rng_seeded(cfg.seed):
        for _ in range(epochs):
            model.train()
            for batch in data.batches(cfg.batch_size, generator=g):
                batch = batch.to(device)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * _lr_factor(step, total, warmup_steps)
                loss = model(batch.ids, batch.attention_mask, labels=batch.labels).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                history.losses.append(loss.item())
                step += 1
            if val is not None:
                history.val_accuracy.append(accuracy(predict(model, val)[0], val.labels))
    model.eval()
    history.steps, history.seconds = step, time.perf_counter() - t0
    return history


class _rng_seeded:
    """Seed torch's global generator (dropout) for a block, then restore its state."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self):
        self.state = torch.get_rng_state()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        torch.set_rng_state(self.state)


@torch.no_grad()
def predict(model: nn.Module, data: LabelledText, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes (N,), logits (N, K)) in the order of ``data``, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = torch.empty(len(data), data.n_classes)
    for batch in data.batches(batch_size):
        out = model(batch.ids.to(device), batch.attention_mask.to(device)).logits
        logits[batch.index] = out.float().cpu()
    model.train(was_training)
    return logits.argmax(dim=1), logits


def accuracy(preds: torch.Tensor | Sequence[int], labels: torch.Tensor | Sequence[int]) -> float:
    """The fraction of predictions equal to the labels."""
    p, y = torch.as_tensor(preds).flatten(), torch.as_tensor(labels).flatten()
    if p.shape != y.shape or p.numel() == 0:
        raise ValueError(f"accuracy expected as many predictions as labels (at least one), got {p.numel()} "
                         f"and {y.numel()}")
    return int((p == y).sum()) / p.numel()


def confusion_matrix(labels: torch.Tensor | Sequence[int], preds: torch.Tensor | Sequence[int],
                     n_classes: int) -> torch.Tensor:
    """(K, K) counts: row = true class, column = predicted class."""
    y, p = torch.as_tensor(labels).flatten().long(), torch.as_tensor(preds).flatten().long()
    V.positive_int(n_classes, "n_classes", "confusion_matrix")
    if y.shape != p.shape:
        raise ValueError(f"confusion_matrix expected as many predictions as labels, got {p.numel()} and {y.numel()}")
    if y.numel() and (int(torch.minimum(y, p).min()) < 0 or int(torch.maximum(y, p).max()) >= n_classes):
        raise ValueError(f"confusion_matrix expected classes in [0, {n_classes})")
    return torch.bincount(y * n_classes + p, minlength=n_classes * n_classes).view(n_classes, n_classes)


# ----------------------------------------------------------------------------- pre-training on unlabelled text

def mlm_batches(seqs: Sequence[Sequence[int]], tokenizer: Tokenizer, batch_size: int,
                generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Endless masked batches (inputs, attention_mask, mlm_labels) of randomly drawn sequences, BERT's
    15 % / 80-10-10 masking (``course_lib.bert.mask_tokens``); every batch has at least one label."""
    V.positive_int(batch_size, "batch_size", "mlm_batches")
    special = torch.tensor(tokenizer.special_ids)
    while True:
        rows = torch.randint(len(seqs), (batch_size,), generator=generator).tolist()
        b = pad_batch([seqs[i] for i in rows], [0] * batch_size, tokenizer.pad_id)
        inputs, labels = mask_tokens(b.ids, torch.isin(b.ids, special), vocab_size=len(tokenizer),
                                     mask_id=tokenizer.mask_id, generator=generator)
        if bool((labels != -100).any()):
            yield inputs, b.attention_mask, labels


def pretrain_mlm(model: BertForPreTraining, seqs: Sequence[Sequence[int]], tokenizer: Tokenizer, *,
                 steps: int, batch_size: int = 64, lr: float = 1e-3, warmup: int = 100, weight_decay: float = 0.01,
                 seed: int = 0) -> list[float]:
    """Masked-language-model pre-training (no NSP) on unlabelled sequences; returns the loss of every step."""
    V.positive_int(steps, "steps", "pretrain_mlm")
    g = torch.Generator().manual_seed(seed)
    batches = mlm_batches(seqs, tokenizer, batch_size, g)
    return _pretrain(model, steps, lr, warmup, weight_decay, seed,
                     lambda: _mlm_step_loss(model, next(batches)))


def _mlm_step_loss(model: BertForPreTraining, batch) -> torch.Tensor:
    inputs, mask, labels = batch
    return model(inputs, None, mask, mlm_labels=labels, masked_only=True).loss


@torch.no_grad()
def mlm_loss_on(model: BertForPreTraining | BertModel, mlm_head: BertForPreTraining | None = None, *,
                seqs: Sequence[Sequence[int]], tokenizer: Tokenizer, n_batches: int = 8, batch_size: int = 64,
                seed: int = 1234) -> float:
    """The MLM loss on fixed masked batches (the same positions for the same seed): measure a backbone
    before and after fine-tuning. ``model`` is a BertForPreTraining; or a fine-tuned BertModel whose
    MLM head is taken from ``mlm_head`` (the pre-trained model's head)."""
    if isinstance(model, BertModel):
        if not isinstance(mlm_head, BertForPreTraining):
            raise ValueError("mlm_loss_on expected the pre-trained BertForPreTraining as mlm_head for a BertModel")
        full = copy.deepcopy(mlm_head)
        full.bert = model
        full.mlm.decoder = model.embeddings.word                   # the head reads the backbone's embeddings
        model = full
    if not isinstance(model, BertForPreTraining):
        raise ValueError(f"mlm_loss_on expected a BertForPreTraining or a BertModel, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    batches = mlm_batches(seqs, tokenizer, batch_size, g)
    device = model.bert.pooler.weight.device
    losses = []
    for _ in range(V.positive_int(n_batches, "n_batches", "mlm_loss_on")):
        inputs, mask, labels = next(batches)
        losses.append(float(model(inputs.to(device), None, mask.to(device), mlm_labels=labels.to(device),
                                  masked_only=True).loss))
    model.train(was_training)
    return sum(losses) / len(losses)


def pretrain_causal(gpt: GPT, seqs: Sequence[Sequence[int]], pad_id: int, *, steps: int, batch_size: int = 64,
                    lr: float = 1e-3, warmup: int = 100, weight_decay: float = 0.01, seed: int = 0) -> list[float]:
    """Next-token pre-training of a GPT on unlabelled sequences (each ends with its [SEP]); padding is
    never a target (-100). Returns the loss of every step."""
    V.positive_int(steps, "steps", "pretrain_causal")
    g = torch.Generator().manual_seed(seed)
    device = gpt.device

    def step_loss() -> torch.Tensor:
        rows = torch.randint(len(seqs), (batch_size,), generator=g).tolist()
        b = pad_batch([seqs[i] for i in rows], [0] * batch_size, pad_id)
        x = b.ids[:, :-1]                                                       # (B, T-1)
        y = b.ids[:, 1:].masked_fill(~b.attention_mask[:, 1:], -100)            # (B, T-1)
        return gpt(x.to(device), y.to(device))[1]

    return _pretrain(gpt, steps, lr, warmup, weight_decay, seed, step_loss)


def _pretrain(model: nn.Module, steps: int, lr: float, warmup: int, weight_decay: float, seed: int,
              step_loss) -> list[float]:
    """AdamW, linear warm-up then cosine decay to lr / 10, clipping at 1."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=lr)
    losses = []
    model.train()
    with _rng_seeded(seed):
        for step in range(steps):
            if step < warmup:
                f = (step + 1) / warmup
            else:
                f = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
            for group in opt.param_groups:
                group["lr"] = lr * f
            loss = step_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
    model.eval()
    return losses


# ----------------------------------------------------------------------------- Shakespeare's genres

#: The three groups of the First Folio (1623), whose catalogue lists the plays as Comedies,
#: Histories and Tragedies; the plays of the shipped file (datasets/shakespeare.txt, cut at 1.1 M
#: characters, so the Second Part of Henry IV is only its first scenes). Cymbeline is printed
#: among the Tragedies in the Folio ("The Tragedie of Cymbeline"), whatever later editors call it.
GENRES = ("comedy", "history", "tragedy")
FOLIO_GENRES = {
    "ALL'S WELL THAT ENDS WELL": "comedy", "AS YOU LIKE IT": "comedy", "THE COMEDY OF ERRORS": "comedy",
    "KING HENRY IV, THE FIRST PART": "history", "KING HENRY IV, SECOND PART": "history",
    "ANTONY AND CLEOPATRA": "tragedy", "THE TRAGEDY OF CORIOLANUS": "tragedy", "CYMBELINE": "tragedy",
    "HAMLET, PRINCE OF DENMARK": "tragedy",
}
#: Whole plays per split, so no play (and none of its characters' names) is in two splits. Only two
#: history plays are shipped: one trains, one tests, and validation has none.
GENRE_SPLITS = {
    "train": ("ALL'S WELL THAT ENDS WELL", "ANTONY AND CLEOPATRA", "THE TRAGEDY OF CORIOLANUS",
              "KING HENRY IV, THE FIRST PART"),
    "val": ("THE COMEDY OF ERRORS", "CYMBELINE"),
    "test": ("AS YOU LIKE IT", "HAMLET, PRINCE OF DENMARK", "KING HENRY IV, SECOND PART"),
}


def genre_speeches(split: str | None = None, *, min_words: int = 8) -> list[tuple[str, int]]:
    """The speeches of the shipped plays (speaker names stripped: ``course_lib.bert.parse_speeches``) with
    the genre of their play, ``[(text, genre id), ...]`` (ids index GENRES); speeches shorter than
    ``min_words`` words are left out ("Ay, my lord." says nothing about the genre). ``split`` picks
    the plays of GENRE_SPLITS; None gives every play."""
    from .datasets import load_text

    if split is not None and split not in GENRE_SPLITS:
        raise ValueError(f"genre_speeches expected split in {list(GENRE_SPLITS)} or None, got {split!r}")
    V.positive_int(min_words, "min_words", "genre_speeches")
    plays = set(FOLIO_GENRES) if split is None else set(GENRE_SPLITS[split])
    speeches = parse_speeches(load_text("shakespeare"))
    unknown = {s.play for s in speeches} - set(FOLIO_GENRES)
    if unknown:
        raise ValueError(f"genre_speeches found plays without a genre: {sorted(unknown)}")
    return [(s.text, GENRES.index(FOLIO_GENRES[s.play])) for s in speeches
            if s.play in plays and len(s.text.split()) >= min_words]
