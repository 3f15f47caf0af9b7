"""BERT: a bidirectional encoder pre-trained by masked language modelling and next-sentence prediction (chapter 10).

    config = BertConfig(vocab_size=len(tok), n_layers=4, n_heads=4, d_model=128, d_ff=512)
    model  = BertForPreTraining(config)
    inputs, labels = mask_tokens(ids, special_mask, vocab_size=V, mask_id=tok.mask_id, generator=g)
    out = model(inputs, segment_ids, attention_mask, mlm_labels=labels, nsp_labels=is_random)
    out.mlm_logits (B, T, V), out.nsp_logits (B, 2), out.loss = out.mlm_loss + out.nsp_loss
    hf = to_hf(model); back = from_hf(hf)               # transformers.BertForPreTraining, same numbers
    count_parameters(BERT_CONFIGS["bert-base"])         # 109,482,240 without allocating anything

The architecture (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding"):

    h_0 = LN(E_tok[x] + E_pos[0..T-1] + E_seg[s])                  # three embeddings, summed, normalised
    h_l = EncoderLayer(h_{l-1})                                     # post-norm, exact GELU, no causal mask
    pooled     = tanh(W_p h_L[CLS] + b_p)                           # the [CLS] vector, for sentence tasks
    mlm_logits = LN(GELU(W_t h_L + b_t)) E_tok^T + b_v              # the decoder is the token embedding
    nsp_logits = W_n pooled + b_n                                   # 0 = "B follows A", 1 = "B is random"

The encoder layers are ``course_lib.transformer.EncoderLayer`` (chapter 06), with
``course_lib.attention.MultiHeadAttention`` inside: BERT is the Transformer's encoder and
nothing else. The backbone (``BertModel``) is separate from the pre-training heads so that
other heads (sentence classification on ``pooled``, span extraction on ``hidden``) reuse it.

Masks: ``attention_mask`` (B, T) is boolean and True at REAL tokens (as
``course_lib.attention.padding_mask`` returns); labels of -100 are ignored by the losses.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _validate as V
from .transformer import Encoder, LayerNorm, gelu

__all__ = ["BertConfig", "BERT_CONFIGS", "count_parameters", "parameter_breakdown", "BertEmbeddings",
           "BertModel", "MLMHead", "BertForPreTraining", "PreTrainingOutput", "mlm_loss", "mask_tokens",
           "masking_outcomes", "SPECIAL_TOKENS", "BertTokenizer", "Speech", "parse_speeches", "split_plays",
           "pair_example", "NSPCorpus", "PairBatch", "pretraining_loss", "attention_maps", "fill_mask",
           "to_hf", "from_hf", "hf_config", "backbone_to_hf_state", "backbone_from_hf_state",
           "PRETRAINED_DIR", "pretrained_recipe", "build_pretrained", "load_pretrained"]


# ----------------------------------------------------------------------------- configuration

@dataclass
class BertConfig:
    """The shape of a BERT. ``max_len`` is the number of learned positions; ``n_segments`` the
    number of segment (token-type) embeddings, 2 for sentence pairs A / B."""

    vocab_size: int
    max_len: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 128
    d_ff: int = 512
    n_segments: int = 2
    dropout: float = 0.1          # embeddings, attention weights and both residual branches (as BERT)
    eps: float = 1e-12            # every LayerNorm's epsilon (BERT's value)
    pad_id: int = 0

    def __post_init__(self) -> None:
        for f in ("vocab_size", "max_len", "n_layers", "n_heads", "d_model", "d_ff", "n_segments"):
            V.positive_int(getattr(self, f), f, "BertConfig")
        V.non_negative_int(self.pad_id, "pad_id", "BertConfig")
        if self.pad_id >= self.vocab_size:
            raise ValueError(f"BertConfig expected pad_id in [0, vocab_size={self.vocab_size}), got {self.pad_id}")
        if self.d_model % self.n_heads:
            raise ValueError(f"BertConfig expected d_model divisible by n_heads, got d_model={self.d_model}, "
                             f"n_heads={self.n_heads}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"BertConfig expected dropout in [0, 1), got {self.dropout}")
        if not float(self.eps) > 0:
            raise ValueError(f"BertConfig expected eps > 0, got {self.eps}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"BertConfig.from_dict got unknown fields {sorted(unknown)}; expected {sorted(names)}")
        return cls(**d)


#: The two published sizes (Devlin et al. 2019, section 3), with the released WordPiece vocabulary
#: of 30,522 tokens, 512 positions and 2 segments.
BERT_CONFIGS: dict[str, BertConfig] = {
    "bert-base": BertConfig(30522, 512, n_layers=12, n_heads=12, d_model=768, d_ff=3072),
    "bert-large": BertConfig(30522, 512, n_layers=24, n_heads=16, d_model=1024, d_ff=4096),
}


def parameter_breakdown(config: BertConfig) -> dict[str, int]:
    """The parameters of each part, by pen and paper (C = d_model, F = d_ff, L = n_layers):

        embeddings   V C + T C + S C + 2 C                   (tokens, positions, segments, LayerNorm)
        encoder      L (4 C^2 + 4 C  +  2 C F + F + C  +  4 C)  (Q, K, V, O; FFN; two LayerNorms)
        pooler       C^2 + C
        mlm_head     C^2 + C + 2 C + V                      (transform, LayerNorm, output bias;
                                                             the decoder matrix IS the token embedding)
        nsp_head     2 C + 2
    """
    if not isinstance(config, BertConfig):
        raise ValueError(f"parameter_breakdown expected a BertConfig, got {type(config).__name__}")
    C, Fd, L, Vs = config.d_model, config.d_ff, config.n_layers, config.vocab_size
    layer = (4 * C * C + 4 * C) + (C * Fd + Fd + Fd * C + C) + 2 * (2 * C)
    return {
        "embeddings": Vs * C + config.max_len * C + config.n_segments * C + 2 * C,
        "encoder": L * layer,
        "pooler": C * C + C,
        "mlm_head": C * C + C + 2 * C + Vs,
        "nsp_head": 2 * C + 2,
    }


def count_parameters(config: BertConfig, *, heads: bool = False) -> int:
    """Parameters of ``BertModel(config)`` (embeddings + encoder + pooler), the figure the BERT paper
    reports; ``heads=True`` adds the MLM and NSP heads of ``BertForPreTraining``."""
    parts = parameter_breakdown(config)
    total = parts["embeddings"] + parts["encoder"] + parts["pooler"]
    return total + parts["mlm_head"] + parts["nsp_head"] if heads else total


# ----------------------------------------------------------------------------- the model

class BertEmbeddings(nn.Module):
    """h_0 = Dropout(LN(E_tok[x] + E_pos[0..T-1] + E_seg[s])): one vector per token, position and segment."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        C = config.d_model
        self.word = nn.Embedding(config.vocab_size, C, padding_idx=config.pad_id)   # (V, C)
        self.position = nn.Embedding(config.max_len, C)                              # (T_max, C)
        self.segment = nn.Embedding(config.n_segments, C)                            # (S, C)
        self.norm = LayerNorm(C, config.eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)                           # (T,)
        x = self.word(ids) + self.position(pos) + self.segment(segment_ids)           # (B, T, C)
        return self.dropout(self.norm(x))


class BertModel(nn.Module):
    """The backbone: embeddings, ``n_layers`` post-norm encoder layers with the exact GELU, a tanh pooler.

    forward(ids, segment_ids=None, attention_mask=None) -> (hidden (B, T, C), pooled (B, C))
    ``segment_ids`` default to 0 (one segment); ``attention_mask`` (B, T) bool, True at real tokens,
    defaults to every position being real. ``pooled = tanh(W h[:, 0] + b)`` reads the [CLS] position.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise ValueError(f"BertModel expected a BertConfig, got {type(config).__name__}")
        self.config = c = config
        self.embeddings = BertEmbeddings(c)
        self.encoder = Encoder(c.n_layers, c.d_model, c.n_heads, c.d_ff, dropout=c.dropout, activation="gelu",
                               norm_first=False, eps=c.eps)
        for layer in self.encoder.layers:
            layer.ffn.dropout = nn.Identity()       # BERT has no dropout between the two FFN matrices
        self.pooler = nn.Linear(c.d_model, c.d_model)
        self.apply(_init_weights)

    def forward(self, ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, *,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        ids, segment_ids, attention_mask = _check_inputs(ids, segment_ids, attention_mask, self.config,
                                                         "BertModel")
        x = self.embeddings(ids, segment_ids)                                        # (B, T, C)
        pad = None if attention_mask is None else ~attention_mask                    # True at padding
        hidden = self.encoder(x, src_key_padding_mask=pad, need_weights=need_weights)  # (B, T, C)
        pooled = torch.tanh(self.pooler(hidden[:, 0]))                               # (B, C) from [CLS]
        return hidden, pooled


class MLMHead(nn.Module):
    """logits = LN(GELU(W h + b)) E^T + b_v: a transform, then the token embedding matrix as decoder."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.norm = LayerNorm(config.d_model, config.eps)
        self.decoder = word_embeddings                                   # tied: (V, C), not a copy
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))         # (V,)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm(gelu(self.dense(h)))                               # (..., C)
        return h @ self.decoder.weight.t() + self.bias                   # (..., V)


@dataclass
class PreTrainingOutput:
    mlm_logits: torch.Tensor             # (B, T, V), or (N, V) at the N labelled positions with masked_only
    nsp_logits: torch.Tensor             # (B, 2): 0 = B follows A, 1 = B is random
    loss: torch.Tensor | None = None     # mlm_loss + nsp_loss (or mlm_loss alone without nsp_labels)
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-(1/N) sum_{i: labels_i != -100} log softmax(logits_i)[labels_i]: the mean over the masked positions only."""
    V.class_ids(labels, logits, -100, "mlm_loss")
    if not bool((labels != -100).any()):
        raise ValueError("mlm_loss expected at least one label other than -100 (no position was masked)")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


class BertForPreTraining(nn.Module):
    """BertModel + MLM head + NSP head: loss = MLM cross-entropy (masked positions) + NSP cross-entropy."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm = MLMHead(config, self.bert.embeddings.word)
        self.nsp = nn.Linear(config.d_model, 2)
        self.mlm.apply(_init_weights)
        self.nsp.apply(_init_weights)

    def num_parameters(self) -> int:
        """Parameters actually allocated (the tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, *, mlm_labels: torch.Tensor | None = None,
                nsp_labels: torch.Tensor | None = None, masked_only: bool = False) -> PreTrainingOutput:
        """``masked_only`` runs the MLM head only where ``mlm_labels != -100`` (the same loss, 1/7 of the work)."""
        hidden, pooled = self.bert(ids, segment_ids, attention_mask)            # (B, T, C), (B, C)
        nsp_logits = self.nsp(pooled)                                           # (B, 2)
        if masked_only:
            if mlm_labels is None:
                raise ValueError("BertForPreTraining expected mlm_labels when masked_only=True")
            shape = (*hidden.shape[:2], self.config.vocab_size)   # the logits we do not compute
            V.class_ids(mlm_labels, torch.empty(shape, device="meta"), -100, "BertForPreTraining")
            keep = mlm_labels != -100                                           # (B, T)
            mlm_logits = self.mlm(hidden[keep])                                 # (N, V)
            labels = mlm_labels[keep]                                           # (N,)
        else:
            mlm_logits, labels = self.mlm(hidden), mlm_labels                   # (B, T, V)
        out = PreTrainingOutput(mlm_logits, nsp_logits)
        if labels is not None:
            out.mlm_loss = mlm_loss(mlm_logits, labels)
            out.loss = out.mlm_loss
        if nsp_labels is not None:
            V.class_ids(nsp_labels, nsp_logits, -100, "BertForPreTraining (nsp_labels)")
            out.nsp_loss = F.cross_entropy(nsp_logits, nsp_labels)
            out.loss = out.nsp_loss if out.loss is None else out.loss + out.nsp_loss
        return out


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) for matrices and embeddings, zero biases, LayerNorm at (1, 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()


# ----------------------------------------------------------------------------- masking (MLM)

def mask_tokens(ids: torch.Tensor, special_mask: torch.Tensor, *, vocab_size: int, mask_id: int,
                mlm_probability: float = 0.15, mask_prob: float = 0.8, random_prob: float = 0.1,
                word_ids: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption: choose each non-special token with probability 15 %; of the chosen,
    80 % become [MASK], 10 % a token drawn uniformly from the vocabulary, 10 % stay unchanged.

    ids, special_mask (B, T) -> (inputs, labels): ``labels`` is the original id at chosen
    positions and -100 elsewhere (the loss ignores them). ``word_ids`` (B, T) groups tokens into
    words (whole-word masking: a word is chosen or not as a whole; give special tokens any id).
    Nothing is modified in place.
    """
    fn = "mask_tokens"
    _check_id_matrix(ids, fn, "ids")
    _check_bool_like(special_mask, ids, fn, "special_mask", "(True = never mask)")
    V.positive_int(vocab_size, "vocab_size", fn)
    for name, p in (("mlm_probability", mlm_probability), ("mask_prob", mask_prob), ("random_prob", random_prob)):
        V.probability(p, name, fn)
    if mask_prob + random_prob > 1.0 + 1e-12:
        raise ValueError(f"{fn} expected mask_prob + random_prob <= 1, got {mask_prob} + {random_prob}")
    if not 0 <= mask_id < vocab_size:
        raise ValueError(f"{fn} expected mask_id in [0, {vocab_size}), got {mask_id}")
    draw = lambda: torch.rand(ids.shape, generator=generator, device=ids.device)  # noqa: E731  (B, T) uniforms
    if word_ids is None:
        chosen = (draw() < mlm_probability) & ~special_mask                       # (B, T)
    else:
        _check_id_matrix(word_ids, fn, "word_ids")
        if word_ids.shape != ids.shape:
            raise ValueError(f"{fn} expected word_ids of shape {tuple(ids.shape)}, got {tuple(word_ids.shape)}")
        word_u = draw()                                       # one uniform per row and word id
        first = _first_of_group(word_ids)                     # (B, T) index of each word's first token
        chosen = (word_u.gather(1, first) < mlm_probability) & ~special_mask
    labels = ids.masked_fill(~chosen, -100)
    u = draw()                                                # one uniform decides the fate of each chosen token
    to_mask = chosen & (u < mask_prob)
    to_random = chosen & (u >= mask_prob) & (u < mask_prob + random_prob)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, device=ids.device)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels


def _first_of_group(word_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B, T): for each position, the index of the first position in its row with the same id."""
    same = word_ids[:, :, None] == word_ids[:, None, :]       # (B, T, T)
    return same.float().argmax(dim=-1)                        # the first True along each row


def masking_outcomes(ids: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor, special_mask: torch.Tensor,
                     mask_id: int) -> dict[str, float]:
    """What happened, measured: the fraction of non-special tokens chosen, and of the chosen ones the
    fractions now [MASK], changed to another token, and left as they were."""
    chosen = labels != -100
    n = int(chosen.sum())
    eligible = int((~special_mask).sum())
    if n == 0 or eligible == 0:
        raise ValueError("masking_outcomes expected at least one chosen (labelled) position")
    masked = chosen & (inputs == mask_id)
    same = chosen & (inputs == ids)
    return {"chosen": n / eligible, "mask": int(masked.sum()) / n,
            "other": int((chosen & ~masked & ~same).sum()) / n, "unchanged": int((same & ~masked).sum()) / n,
            "n_chosen": n, "n_eligible": eligible}


# ----------------------------------------------------------------------------- the tokenizer (chapter 09's BPE)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class BertTokenizer:
    """Chapter 09's byte-level BPE (``course_lib.bpe``) with BERT's five special tokens.

    ``BertTokenizer.train(texts, 4096)``: 256 bytes + merges + [PAD] [UNK] [CLS] [SEP] [MASK] (the
    special tokens take the last ids). Byte-level BPE can spell any text, so [UNK] is never produced;
    it is kept for the format. ``encode`` turns "[MASK]" written in a text into the mask token.
    """

    def __init__(self, bpe_tokenizer) -> None:
        from .bpe import Tokenizer

        if not isinstance(bpe_tokenizer, Tokenizer):
            raise ValueError(f"BertTokenizer expected a course_lib.bpe.Tokenizer, got {type(bpe_tokenizer).__name__}")
        missing = [t for t in SPECIAL_TOKENS if t not in bpe_tokenizer.special_tokens]
        if missing:
            raise ValueError(f"BertTokenizer expected the special tokens {SPECIAL_TOKENS} in the BPE tokenizer, "
                             f"missing {missing}")
        self.bpe = bpe_tokenizer
        sp = bpe_tokenizer.special_tokens
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (sp[t] for t in SPECIAL_TOKENS)
        self.special_ids = tuple(sp[t] for t in SPECIAL_TOKENS)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> "BertTokenizer":
        """Learn ``vocab_size`` - 261 BPE merges on the texts (joined by newlines)."""
        from .bpe import train

        return cls(train("\n".join(texts), vocab_size, special_tokens=SPECIAL_TOKENS))

    def __len__(self) -> int:
        return self.bpe.vocab_size

    def __repr__(self) -> str:
        return f"BertTokenizer(vocab_size={len(self):,}, BPE merges={len(self.bpe.merges):,})"

    def encode(self, text: str) -> list[int]:
        """text -> ids (no [CLS]/[SEP] added); "[MASK]" in the text becomes the mask id. A space just
        before "[MASK]" is dropped: it belongs to the hidden token (BPE tokens carry their leading space)."""
        text = re.sub(r" (?=\[MASK\])", "", V.text(text, "BertTokenizer.encode"))
        return self.bpe.encode(text, allowed_special={"[MASK]"})

    def encode_words(self, text: str) -> tuple[list[int], list[int]]:
        """ids and, for each id, the index of the word (GPT-2 pre-token: a word with its leading
        space, a number, a punctuation run) it belongs to: what whole-word masking needs."""
        from .bpe import pre_tokenize

        ids, words = [], []
        for w, piece in enumerate(pre_tokenize(V.text(text, "BertTokenizer.encode_words"), self.bpe.pattern)):
            piece_ids = self.bpe.encode_ordinary(piece)
            ids += piece_ids
            words += [w] * len(piece_ids)
        return ids, words

    def decode(self, ids: Iterable[int]) -> str:
        return self.bpe.decode([int(i) for i in ids])

    def token_str(self, i: int) -> str:
        """One token as text ("[MASK]", " love", "ing")."""
        return self.bpe.decode([int(i)])

    def save(self, folder: str | Path) -> Path:
        self.bpe.save(folder)
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> "BertTokenizer":
        from .bpe import load

        return cls(load(folder))


# ----------------------------------------------------------------------------- speeches and NSP pairs

@dataclass(frozen=True)
class Speech:
    play: str
    speaker: str
    text: str


_SPEAKER_RE = re.compile(r"^[A-Z][A-Za-z'\-]*(?: [A-Za-z'\-]+){0,3}\.$")


def parse_speeches(text: str) -> list[Speech]:
    """The speeches of the shipped plays in order: a paragraph whose first line is a short name ending
    in '.' ("HELENA.", "FIRST LORD.", "Hor.") and whose other lines are the speech. Stage directions
    in [brackets] are dropped, and so is everything of a play before its first "ACT" line.
    """
    V.text(text, "parse_speeches")
    lines = text.split("\n")
    speeches: list[Speech] = []
    play, started, block = "", False, []

    def flush() -> None:
        if started and len(block) >= 2 and _SPEAKER_RE.match(block[0].strip()):
            body = re.sub(r"\[[^\]]*\]", " ", " ".join(s.strip() for s in block[1:]))
            body = re.sub(r"\s+", " ", body).strip()
            if body:
                speeches.append(Speech(play, block[0].strip()[:-1], body))

    for i, line in enumerate(lines):
        if line.strip() == "by William Shakespeare" and i >= 2:
            block = []
            play, started = lines[i - 2].strip(), False
            continue
        if re.match(r"^ACT\b", line.strip()):          # "ACT I.", "ACT FIRST.": the play begins
            started = True
        if line.strip():
            block.append(line)
        else:
            flush()
            block = []
    flush()
    return speeches


def split_plays(speeches: Sequence[Speech], held_out: int = 2) -> tuple[list[list[Speech]], list[list[Speech]]]:
    """Group speeches by play (in order) and hold out the last ``held_out`` plays: (train plays, held-out plays)."""
    V.positive_int(held_out, "held_out", "split_plays")
    plays: dict[str, list[Speech]] = {}
    for s in speeches:
        plays.setdefault(s.play, []).append(s)
    groups = list(plays.values())
    if len(groups) <= held_out:
        raise ValueError(f"split_plays expected more than {held_out} plays, got {len(groups)}")
    return groups[:-held_out], groups[-held_out:]


def pair_example(a: Sequence[int], b: Sequence[int] | None, *, max_len: int, cls_id: int,
                 sep_id: int) -> tuple[list[int], list[int]]:
    """[CLS] a [SEP] b [SEP] with segment ids 0...0 1...1, the longer side trimmed (at its end) until
    it fits in ``max_len``. With b None: [CLS] a [SEP]."""
    V.positive_int(max_len, "max_len", "pair_example")
    a, b = list(a), (None if b is None else list(b))
    budget = max_len - (3 if b is not None else 2)
    if budget < (2 if b is not None else 1):
        raise ValueError(f"pair_example expected max_len large enough for the special tokens, got {max_len}")
    while len(a) + (len(b) if b is not None else 0) > budget:
        if b is not None and len(b) > len(a):
            b.pop()
        else:
            a.pop()
    ids = [cls_id] + a + [sep_id]
    segments = [0] * len(ids)
    if b is not None:
        ids += b + [sep_id]
        segments += [1] * (len(b) + 1)
    return ids, segments


@dataclass
class PairBatch:
    """Everything but the input ids of a pre-training batch (``.to(device)`` moves it, for the training loop)."""

    segment_ids: torch.Tensor      # (B, T) long
    attention_mask: torch.Tensor   # (B, T) bool, True at real tokens
    mlm_labels: torch.Tensor       # (B, T) long, -100 where not chosen
    nsp_labels: torch.Tensor       # (B,) long, 0 = B follows A, 1 = B is random
    original_ids: torch.Tensor     # (B, T) the uncorrupted ids

    def to(self, device) -> "PairBatch":
        return PairBatch(*(getattr(self, f.name).to(device) for f in fields(self)))


class NSPCorpus:
    """Sentence pairs for pre-training: A is a speech, B the speech that follows it in the same scene
    of the same play (label 0, "IsNext") or, with probability 1/2, a speech drawn uniformly from the
    whole corpus (label 1, "NotNext"). Then BERT's masking on top.

    ``batch(B, generator)`` -> (inputs (B, T), PairBatch), padded to the longest pair of the batch.
    """

    def __init__(self, plays: Sequence[Sequence[Speech]], tokenizer: BertTokenizer, *, max_len: int = 128,
                 mlm_probability: float = 0.15, mask_prob: float = 0.8, random_prob: float = 0.1) -> None:
        self.tokenizer, self.max_len = tokenizer, V.positive_int(max_len, "max_len", "NSPCorpus")
        self.mlm_probability, self.mask_prob, self.random_prob = mlm_probability, mask_prob, random_prob
        self.speeches = [tokenizer.encode(s.text) for play in plays for s in play]
        ends, n = [], 0
        for play in plays:
            n += len(play)
            ends.append(n)
        # a speech may be an A when the next speech belongs to the same play
        last_of_play = set(e - 1 for e in ends)
        self.starts = torch.tensor([i for i in range(n) if i not in last_of_play])
        if len(self.starts) == 0:
            raise ValueError("NSPCorpus expected plays with at least two speeches")

    def __len__(self) -> int:
        return len(self.starts)

    def pairs(self, n: int, generator: torch.Generator) -> tuple[list[list[int]], list[list[int]], torch.Tensor]:
        """n (ids, segment ids) pairs and their NSP labels, without masking."""
        i = self.starts[torch.randint(len(self.starts), (n,), generator=generator)]
        is_random = torch.rand(n, generator=generator) < 0.5
        j = torch.randint(len(self.speeches) - 1, (n,), generator=generator)
        j = j + (j >= i + 1).long()                      # a random speech, never the true next one
        b_index = torch.where(is_random, j, i + 1)
        ids, segs = [], []
        for a, b in zip(i.tolist(), b_index.tolist()):
            x, s = pair_example(self.speeches[a], self.speeches[b], max_len=self.max_len,
                                cls_id=self.tokenizer.cls_id, sep_id=self.tokenizer.sep_id)
            ids.append(x)
            segs.append(s)
        return ids, segs, is_random.long()

    def batch(self, batch_size: int, generator: torch.Generator, *,
              nsp: bool = True) -> tuple[torch.Tensor, PairBatch]:
        ids, segs, nsp_labels = self.pairs(V.positive_int(batch_size, "batch_size", "NSPCorpus.batch"), generator)
        T = max(len(x) for x in ids)
        pad = self.tokenizer.pad_id
        original = torch.tensor([x + [pad] * (T - len(x)) for x in ids])             # (B, T)
        segments = torch.tensor([s + [0] * (T - len(s)) for s in segs])             # (B, T)
        real = torch.tensor([[True] * len(x) + [False] * (T - len(x)) for x in ids])  # (B, T)
        special = torch.isin(original, torch.tensor(self.tokenizer.special_ids))
        inputs, labels = mask_tokens(original, special, vocab_size=len(self.tokenizer),
                                     mask_id=self.tokenizer.mask_id, mlm_probability=self.mlm_probability,
                                     mask_prob=self.mask_prob, random_prob=self.random_prob, generator=generator)
        if not bool((labels != -100).any()):                # a batch with no chosen token: choose one
            k = int((~special).flatten().nonzero()[0])
            labels.view(-1)[k] = original.view(-1)[k]
        if not nsp:
            nsp_labels = torch.full_like(nsp_labels, -100)
        return inputs, PairBatch(segments, real, labels, nsp_labels, original)


def pretraining_loss(model: BertForPreTraining, inputs: torch.Tensor, batch: PairBatch) -> torch.Tensor:
    """The loss ``course_lib.training.train`` minimises: MLM (masked positions) + NSP (dropped when the
    batch's NSP labels are all -100, i.e. pre-training without NSP)."""
    use_nsp = bool((batch.nsp_labels != -100).any())
    out = model(inputs, batch.segment_ids, batch.attention_mask, mlm_labels=batch.mlm_labels,
                nsp_labels=batch.nsp_labels if use_nsp else None, masked_only=True)
    return out.loss


# ----------------------------------------------------------------------------- using a trained model

@torch.no_grad()
def attention_maps(model: BertModel | BertForPreTraining, ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                   attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The attention of every layer and head: ids (B, T) -> (L, B, H, T, T), rows sum to 1."""
    bert = model.bert if isinstance(model, BertForPreTraining) else model
    was_training = bert.training
    bert.eval()
    try:
        bert(ids, segment_ids, attention_mask, need_weights=True)
    finally:
        bert.train(was_training)
    return torch.stack([layer.attn_weights for layer in bert.encoder.layers])


@torch.no_grad()
def fill_mask(model: BertForPreTraining, tokenizer: BertTokenizer, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    """For each [MASK] in ``text``: the k most likely words and their probabilities (special tokens excluded)."""
    ids = [tokenizer.cls_id] + tokenizer.encode(text) + [tokenizer.sep_id]
    if tokenizer.mask_id not in ids:
        raise ValueError(f"fill_mask expected at least one [MASK] in the text, got {text!r}")
    if len(ids) > model.config.max_len:
        raise ValueError(f"fill_mask got {len(ids)} tokens but the model has {model.config.max_len} positions")
    was_training = model.training
    model.eval()
    x = torch.tensor([ids], device=model.bert.pooler.weight.device)
    logits = model(x).mlm_logits[0]                                   # (T, V)
    model.train(was_training)
    logits[:, list(tokenizer.special_ids)] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    out = []
    for t in (x[0] == tokenizer.mask_id).nonzero().flatten().tolist():
        p, idx = probs[t].topk(k)
        out.append([(tokenizer.token_str(int(i)), float(q)) for q, i in zip(p, idx)])
    return out


# ----------------------------------------------------------------------------- to and from transformers

def hf_config(config: BertConfig):
    """The ``transformers.BertConfig`` of the same shape (exact GELU, no dropout difference at eval)."""
    from transformers import BertConfig as HFBertConfig

    return HFBertConfig(vocab_size=config.vocab_size, hidden_size=config.d_model,
                        num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
                        intermediate_size=config.d_ff, hidden_act="gelu",
                        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
                        max_position_embeddings=config.max_len, type_vocab_size=config.n_segments,
                        layer_norm_eps=config.eps, pad_token_id=config.pad_id, tie_word_embeddings=True)


def _backbone_names(n_layers: int) -> list[tuple[str, str]]:
    """(our name in BertModel, transformers' name in BertModel) for every parameter."""
    pairs = [("embeddings.word.weight", "embeddings.word_embeddings.weight"),
             ("embeddings.position.weight", "embeddings.position_embeddings.weight"),
             ("embeddings.segment.weight", "embeddings.token_type_embeddings.weight"),
             ("embeddings.norm.weight", "embeddings.LayerNorm.weight"),
             ("embeddings.norm.bias", "embeddings.LayerNorm.bias"),
             ("pooler.weight", "pooler.dense.weight"), ("pooler.bias", "pooler.dense.bias")]
    per_layer = [("self_attn.q_proj", "attention.self.query"), ("self_attn.k_proj", "attention.self.key"),
                 ("self_attn.v_proj", "attention.self.value"), ("self_attn.out_proj", "attention.output.dense"),
                 ("norm1", "attention.output.LayerNorm"), ("ffn.linear1", "intermediate.dense"),
                 ("ffn.linear2", "output.dense"), ("norm2", "output.LayerNorm")]
    for l in range(n_layers):
        for ours, theirs in per_layer:
            for p in ("weight", "bias"):
                pairs.append((f"encoder.layers.{l}.{ours}.{p}", f"encoder.layer.{l}.{theirs}.{p}"))
    return pairs


def backbone_to_hf_state(backbone: BertModel) -> dict[str, torch.Tensor]:
    """Our backbone's parameters under transformers' ``BertModel`` names (for any head built on it)."""
    ours = backbone.state_dict()
    return {theirs: ours[mine] for mine, theirs in _backbone_names(backbone.config.n_layers)}


@torch.no_grad()
def backbone_from_hf_state(backbone: BertModel, state: dict[str, torch.Tensor], prefix: str = "") -> BertModel:
    """Load transformers' ``BertModel`` parameters (keys ``prefix + name``) into our backbone."""
    mine = {}
    for ours, theirs in _backbone_names(backbone.config.n_layers):
        if prefix + theirs not in state:
            raise ValueError(f"backbone_from_hf_state: the transformers state has no {prefix + theirs!r}")
        mine[ours] = state[prefix + theirs]
    backbone.load_state_dict(mine, strict=True)
    return backbone


def to_hf(model: BertForPreTraining):
    """A ``transformers.BertForPreTraining`` with our weights (built from a config; nothing is downloaded)."""
    from transformers import BertForPreTraining as HFBertForPreTraining

    if not isinstance(model, BertForPreTraining):
        raise ValueError(f"to_hf expected a course_lib.bert.BertForPreTraining, got {type(model).__name__}")
    ref = model.bert.pooler.weight
    hf = HFBertForPreTraining(hf_config(model.config)).to(device=ref.device, dtype=ref.dtype)
    state = {"bert." + k: v for k, v in backbone_to_hf_state(model.bert).items()}
    ours = model.state_dict()
    state.update({
        "cls.predictions.transform.dense.weight": ours["mlm.dense.weight"],
        "cls.predictions.transform.dense.bias": ours["mlm.dense.bias"],
        "cls.predictions.transform.LayerNorm.weight": ours["mlm.norm.weight"],
        "cls.predictions.transform.LayerNorm.bias": ours["mlm.norm.bias"],
        "cls.predictions.decoder.weight": ours["bert.embeddings.word.weight"],
        "cls.predictions.bias": ours["mlm.bias"],
        "cls.predictions.decoder.bias": ours["mlm.bias"],
        "cls.seq_relationship.weight": ours["nsp.weight"], "cls.seq_relationship.bias": ours["nsp.bias"],
    })
    theirs = hf.state_dict()
    missing = set(theirs) - set(state)
    if missing:
        raise ValueError(f"to_hf: no value for transformers parameters {sorted(missing)}")
    hf.load_state_dict({k: state[k] for k in theirs}, strict=True)
    hf.tie_weights()
    return hf.eval()


def from_hf(hf_model) -> BertForPreTraining:
    """Our ``BertForPreTraining`` with the weights of a ``transformers.BertForPreTraining``."""
    hc = hf_model.config
    if hc.hidden_act != "gelu":
        raise ValueError(f"from_hf expects the exact GELU (hidden_act='gelu'), got {hc.hidden_act!r}")
    if getattr(hc, "position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"from_hf expects absolute positions, got {hc.position_embedding_type!r}")
    config = BertConfig(hc.vocab_size, hc.max_position_embeddings, n_layers=hc.num_hidden_layers,
                        n_heads=hc.num_attention_heads, d_model=hc.hidden_size, d_ff=hc.intermediate_size,
                        n_segments=hc.type_vocab_size, dropout=float(hc.hidden_dropout_prob),
                        eps=float(hc.layer_norm_eps), pad_id=int(hc.pad_token_id or 0))
    theirs = hf_model.state_dict()
    ref = theirs["cls.seq_relationship.weight"]
    model = BertForPreTraining(config).to(device=ref.device, dtype=ref.dtype)
    backbone_from_hf_state(model.bert, theirs, prefix="bert.")
    if not torch.equal(theirs["cls.predictions.decoder.weight"], theirs["bert.embeddings.word_embeddings.weight"]):
        raise ValueError("from_hf expects the MLM decoder tied to the word embeddings (tie_word_embeddings=True)")
    with torch.no_grad():
        model.mlm.dense.weight.copy_(theirs["cls.predictions.transform.dense.weight"])
        model.mlm.dense.bias.copy_(theirs["cls.predictions.transform.dense.bias"])
        model.mlm.norm.weight.copy_(theirs["cls.predictions.transform.LayerNorm.weight"])
        model.mlm.norm.bias.copy_(theirs["cls.predictions.transform.LayerNorm.bias"])
        model.mlm.bias.copy_(theirs["cls.predictions.bias"])
        model.nsp.weight.copy_(theirs["cls.seq_relationship.weight"])
        model.nsp.bias.copy_(theirs["cls.seq_relationship.bias"])
    return model.eval()


# ----------------------------------------------------------------------------- the shipped pre-trained mini-BERT

#: Where the shipped weights live: <repo>/weights/mini_bert/ (model.pt, encoder.json, vocab.bpe, recipe.json, SHA256SUMS).
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "weights" / "mini_bert"


def pretrained_recipe() -> dict:
    """The fixed recipe of the shipped mini-BERT (``python -m course_lib.bert --build`` runs it)."""
    return {"vocab_size": 4096, "max_len": 128, "n_layers": 2, "n_heads": 4, "d_model": 128, "d_ff": 512,
            "dropout": 0.1, "held_out_plays": 2, "nsp": True, "steps": 3000, "batch_size": 32, "lr": 1e-3,
            "min_lr": 1e-4, "warmup": 100, "weight_decay": 0.01, "seed": 0}


def _corpus_and_tokenizer(recipe: dict):
    from .datasets import load_text

    train_plays, held_plays = split_plays(parse_speeches(load_text("shakespeare")), recipe["held_out_plays"])
    tok = BertTokenizer.train((s.text for p in train_plays for s in p), recipe["vocab_size"])
    return train_plays, held_plays, tok


def build_pretrained(out_dir: str | Path = PRETRAINED_DIR, recipe: dict | None = None, *,
                     progress: bool = True) -> Path:
    """Pre-train the mini-BERT with the recipe and write model.pt (float16), the tokenizer (encoder.json, vocab.bpe), recipe.json, SHA256SUMS."""
    from .core import set_seed
    from .training import TrainConfig, train

    recipe = dict(pretrained_recipe() if recipe is None else recipe)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(recipe["seed"])
    train_plays, held_plays, tok = _corpus_and_tokenizer(recipe)
    config = BertConfig(len(tok), recipe["max_len"], n_layers=recipe["n_layers"], n_heads=recipe["n_heads"],
                        d_model=recipe["d_model"], d_ff=recipe["d_ff"], dropout=recipe["dropout"],
                        pad_id=tok.pad_id)
    model = BertForPreTraining(config)
    data = {"train": NSPCorpus(train_plays, tok, max_len=config.max_len),
            "val": NSPCorpus(held_plays, tok, max_len=config.max_len)}
    cfg = TrainConfig(max_iters=recipe["steps"], batch_size=recipe["batch_size"], lr=recipe["lr"],
                      min_lr=recipe["min_lr"], warmup_iters=recipe["warmup"], weight_decay=recipe["weight_decay"],
                      eval_interval=max(1, recipe["steps"] // 5), eval_iters=10, seed=recipe["seed"],
                      progress=progress)
    history = train(model, cfg=cfg, loss_fn=pretraining_loss,
                    batch_fn=lambda split, g: data[split].batch(cfg.batch_size, g, nsp=recipe["nsp"]))
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()
             if k != "mlm.decoder.weight"}
    torch.save(state, out / "model.pt")
    tok.save(out)
    meta = {"recipe": recipe, "config": config.to_dict(), "final_val_loss": history.final_val,
            "seconds": history.seconds}
    (out / "recipe.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    sums = "".join(f"{_sha256(out / n)}  {n}\n" for n in ("model.pt", "encoder.json", "vocab.bpe"))
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    return out


def load_pretrained(path: str | Path = PRETRAINED_DIR, *, dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu") -> tuple[BertForPreTraining, BertTokenizer]:
    """The shipped mini-BERT pre-trained on Shakespeare (checksums verified) and its tokenizer."""
    path = Path(path)
    sums = path / "SHA256SUMS"
    if not sums.is_file():
        raise FileNotFoundError(f"no pre-trained mini-BERT in {path}: run `python -m course_lib.bert --build`")
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, name = line.split()
        got = _sha256(path / name)
        if got != digest:
            raise ValueError(f"{path / name} has been altered: expected sha256 {digest}, got {got}; "
                             f"rebuild it with `python -m course_lib.bert --build`")
    meta = json.loads((path / "recipe.json").read_text(encoding="utf-8"))
    tok = BertTokenizer.load(path)
    model = BertForPreTraining(BertConfig.from_dict(meta["config"]))
    state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    state["mlm.decoder.weight"] = state["bert.embeddings.word.weight"]
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.to(device=device, dtype=dtype).eval(), tok


def _sha256(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- validation (below the idea)

def _check_id_matrix(x: object, fn: str, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{fn} expected {name} as a torch.Tensor of token ids, got {type(x).__name__}")
    if x.is_floating_point() or x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"{fn} expected integer {name} (torch.long), got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{fn} expected {name} of shape (B, T), got shape {tuple(x.shape)}")
    return x


def _check_inputs(ids, segment_ids, attention_mask, config: BertConfig, fn: str):
    _check_id_matrix(ids, fn, "ids")
    B, T = ids.shape
    if T > config.max_len:
        raise ValueError(f"{fn} got {T} positions but the model has max_len={config.max_len} learned positions")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= config.vocab_size):
        raise ValueError(f"{fn} expected ids in [0, {config.vocab_size}) (the vocabulary), got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    if segment_ids is None:
        segment_ids = torch.zeros_like(ids)
    else:
        _check_id_matrix(segment_ids, fn, "segment_ids")
        if segment_ids.shape != ids.shape:
            raise ValueError(f"{fn} expected segment_ids of the shape of ids {tuple(ids.shape)}, "
                             f"got {tuple(segment_ids.shape)}")
        if segment_ids.numel() and (int(segment_ids.min()) < 0 or int(segment_ids.max()) >= config.n_segments):
            raise ValueError(f"{fn} expected segment ids in [0, {config.n_segments}), got values in "
                             f"[{int(segment_ids.min())}, {int(segment_ids.max())}]")
    if attention_mask is not None:
        _check_bool_like(attention_mask, ids, fn, "attention_mask", "with True at real tokens (e.g. ids != pad_id)")
        if B and not bool(attention_mask.any(dim=1).all()):
            raise ValueError(f"{fn} expected at least one real token in every row of attention_mask")
    return ids, segment_ids, attention_mask


def _check_bool_like(mask: object, ids: torch.Tensor, fn: str, name: str, meaning: str) -> None:
    """A bool tensor with the shape of ``ids``; the error names what True means for this argument."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != ids.shape:
        got = f"{tuple(mask.shape)} {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{fn} expected {name} as a bool tensor of shape {tuple(ids.shape)} {meaning}, got {got}")


def _main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the shipped pre-trained mini-BERT (course_lib.bert).")
    parser.add_argument("--build", action="store_true", help="pre-train with the fixed recipe and write the files")
    parser.add_argument("--out", default=str(PRETRAINED_DIR))
    args = parser.parse_args(argv)
    if not args.build:
        parser.print_help()
        return
    out = build_pretrained(args.out)
    print(f"wrote {out}: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in sorted(out.iterdir())))


if __name__ == "__main__":
    _main()

