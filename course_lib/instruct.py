"""From text generator to assistant: a chat template, a loss on the answer only, exact match, and
extractive question answering with BERT (chapter 12).

    tok = train_chat_tokenizer(text, 1024)                 # chapter 09's BPE + <|pad|> <|user|> <|assistant|> <|end|>
    chat = ChatTemplate(tok)
    ids, n_prompt = chat.encode("Write 4,071 in words.", "four thousand seventy one")
    batch = collate([(ids, n_prompt), ...], chat.pad_id, loss_on="answer")   # labels -100 on prompt and padding
    loss = lm_loss(gpt, batch.input_ids, batch.labels)     # = transformers.GPT2LMHeadModel(..., labels=...).loss
    answers = answer(gpt, chat, prompts, temperature=0)    # greedy, stops at <|end|>
    exact_match("Four thousand", "four thousand")          # 0.0: the answers here are exact strings

    qa = BertForQA(bert)                                   # start / end logits over the tokens
    out = qa(ids, segment_ids, attention_mask, start_positions=s, end_positions=e)
    starts, ends = best_span(out.start_logits, out.end_logits, context_mask)
    squad_f1("the Prince", "Prince")                       # token overlap F1, SQuAD's normalisation

The ideas:

* **A template.** An instruction-tuned model reads one string per exchange,

      <|user|> prompt <|assistant|> response <|end|>

  with special tokens that ordinary text can never produce (``bpe.Tokenizer.encode`` refuses them
  in user text), so the model can tell who speaks and when the answer is over. At inference the
  prompt ends with <|assistant|>; the model writes the response and says <|end|>, where
  generation stops.
* **The loss on the answer only.** Supervised fine-tuning minimises the next-token cross-entropy of
  the response, not of the prompt: the label of every prompt and padding position is -100, which
  the cross-entropy ignores,

      L = -(1 / |A|) sum_{t in A} log p(x_{t+1} | x_{<=t}),   A = positions whose next token is the response.

  ``labels`` are aligned with ``input_ids`` (transformers' convention); the shift by one happens
  inside ``lm_loss`` exactly as in ``GPT2LMHeadModel``.
* **Extractive QA** (Devlin et al. 2019, section 4.2): BERT reads ``[CLS] question [SEP] context
  [SEP]``; one linear layer gives each token a start score s_i and an end score e_j; the answer is
  the span i <= j inside the context maximising s_i + e_j; the loss is the mean of the two
  cross-entropies over positions.
"""
from __future__ import annotations

import random
import re
import string
from collections import Counter
from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import _validate as V
from .bert import BertModel, BertTokenizer, Speech, backbone_to_hf_state, hf_config
from .generation import generate

__all__ = ["CHAT_TOKENS", "CHAT_PATTERN", "train_chat_tokenizer", "ChatTemplate", "SFTBatch", "answer_labels", "collate",
           "lm_loss", "sft_batches", "answer", "normalize_answer", "exact_match", "squad_f1",
           "QAOutput", "BertForQA", "to_hf_qa", "best_span", "QAExample", "qa_examples", "QABatch",
           "qa_collate", "qa_loss", "qa_predict"]

#: The template's special tokens: padding, who speaks, and the end of an answer.
CHAT_TOKENS = ("<|pad|>", "<|user|>", "<|assistant|>", "<|end|>")
#: GPT-2's pre-tokenizer with every digit a pre-token of its own (" 4", ",", "0", "7", "1"), as LLaMA's
#: tokenizer splits numbers into digits (Touvron et al. 2023, section 2.1): then no merge makes a
#: token of several digits, and "4,071" and "4,072" differ in one token, not in an arbitrary chunking.
CHAT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


# ----------------------------------------------------------------------------- the chat template

def train_chat_tokenizer(text: str, vocab_size: int, *, pattern: str = CHAT_PATTERN):
    """Chapter 09's byte-level BPE (``course_lib.bpe.train``) with the template's four special tokens
    (they take the last ids), digits split one by one (``CHAT_PATTERN``)."""
    from .bpe import train

    return train(text, vocab_size, pattern=pattern, special_tokens=CHAT_TOKENS)


class ChatTemplate:
    """``<|user|>{prompt}<|assistant|>{response}<|end|>`` on a BPE tokenizer that has CHAT_TOKENS.

    ``encode(prompt, response)`` -> (ids, n_prompt): the first ``n_prompt`` ids are the prompt up to
    and including <|assistant|>; the rest is the response and <|end|>. ``encode(prompt)`` (no
    response) gives what a model is asked at inference: the prompt ending with <|assistant|>.
    Prompts and responses are encoded as ordinary text: a special token written in them is refused.
    """

    def __init__(self, tokenizer) -> None:
        from .bpe import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise ValueError(f"ChatTemplate expected a course_lib.bpe.Tokenizer, got {type(tokenizer).__name__}")
        missing = [t for t in CHAT_TOKENS if t not in tokenizer.special_tokens]
        if missing:
            raise ValueError(f"ChatTemplate expected the special tokens {CHAT_TOKENS} in the tokenizer, missing "
                             f"{missing} (use train_chat_tokenizer)")
        self.tokenizer = tokenizer
        self.pad_id, self.user_id, self.assistant_id, self.end_id = (tokenizer.special_tokens[t] for t in CHAT_TOKENS)

    def __len__(self) -> int:
        return len(self.tokenizer)

    def _text_ids(self, text: str, what: str) -> list[int]:
        text = V.text(text, "ChatTemplate.encode", what)
        for t in CHAT_TOKENS:
            if t in text:
                raise ValueError(f"ChatTemplate.encode: the {what} contains the special token {t!r}; a {what} is "
                                 f"plain text, and only the template places special tokens")
        return self.tokenizer.encode_ordinary(text)

    def encode(self, prompt: str, response: str | None = None) -> tuple[list[int], int]:
        ids = [self.user_id] + self._text_ids(prompt, "prompt") + [self.assistant_id]
        n_prompt = len(ids)
        if response is not None:
            ids += self._text_ids(response, "response") + [self.end_id]
        return ids, n_prompt

    def render(self, prompt: str, response: str | None = None) -> str:
        """The template as a string (what ``encode`` encodes)."""
        return f"<|user|>{prompt}<|assistant|>" + ("" if response is None else f"{response}<|end|>")

    def decode_answer(self, ids: Iterable[int]) -> str:
        """The text of generated ids up to (not including) the first <|end|>; other special tokens dropped."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i not in (self.pad_id, self.user_id, self.assistant_id):
                out.append(i)
        return self.tokenizer.decode(out)


# ----------------------------------------------------------------------------- batches with a label mask

@dataclass
class SFTBatch:
    """A right-padded batch: ``input_ids`` (B, T), ``attention_mask`` (B, T) bool (True = real token),
    ``labels`` (B, T): the token itself where it is learned, -100 elsewhere (not shifted)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device) -> "SFTBatch":
        return SFTBatch(*(getattr(self, f.name).to(device) for f in fields(self)))


def answer_labels(input_ids: torch.Tensor, prompt_lengths: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """labels[b, t] = input_ids[b, t] if prompt_lengths[b] <= t < lengths[b] else -100: (B, T) -> (B, T).

    The prompt (its first ``prompt_lengths[b]`` tokens) and the padding (from ``lengths[b]`` on) are
    never targets. With ``prompt_lengths = 0`` every real token is learned ("loss on everything").
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2 or input_ids.is_floating_point():
        raise ValueError(f"answer_labels expected integer input_ids of shape (B, T), got {_describe(input_ids)}")
    B, T = input_ids.shape
    p, n = torch.as_tensor(prompt_lengths), torch.as_tensor(lengths)
    for name, x in (("prompt_lengths", p), ("lengths", n)):
        if x.shape != (B,) or x.is_floating_point():
            raise ValueError(f"answer_labels expected integer {name} of shape ({B},), got {_describe(x)}")
    if bool((n > T).any()) or bool((p < 0).any()) or bool((p >= n).any()):
        raise ValueError(f"answer_labels expected 0 <= prompt_lengths < lengths <= T={T} (at least one learned "
                         f"token per row), got prompt_lengths {p.tolist()} and lengths {n.tolist()}")
    t = torch.arange(T, device=input_ids.device)[None, :]                         # (1, T)
    learned = (t >= p.to(input_ids.device)[:, None]) & (t < n.to(input_ids.device)[:, None])   # (B, T)
    return input_ids.masked_fill(~learned, -100)


def collate(examples: Sequence[tuple[Sequence[int], int]], pad_id: int, *, loss_on: str = "answer") -> SFTBatch:
    """(ids, n_prompt) pairs -> a right-padded SFTBatch. ``loss_on="answer"``: labels -100 on the prompt
    and the padding; ``"all"``: on the padding only (the prompt is learned too)."""
    if loss_on not in ("answer", "all"):
        raise ValueError(f"collate expected loss_on 'answer' or 'all', got {loss_on!r}")
    if len(examples) == 0:
        raise ValueError("collate expected at least one example, got none")
    lengths = torch.tensor([len(ids) for ids, _ in examples])
    prompts = torch.tensor([int(n) for _, n in examples]) if loss_on == "answer" else torch.zeros(len(examples), dtype=torch.long)
    T = int(lengths.max())
    input_ids = torch.full((len(examples), T), int(pad_id), dtype=torch.long)     # (B, T)
    for b, (ids, _) in enumerate(examples):
        input_ids[b, :len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
    mask = torch.arange(T)[None, :] < lengths[:, None]                             # (B, T)
    return SFTBatch(input_ids, mask, answer_labels(input_ids, prompts, lengths))


def lm_loss(model: nn.Module, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The next-token loss of a causal LM with unshifted labels, as ``GPT2LMHeadModel``: position t predicts
    labels[t + 1]; mean over the targets that are not -100.

    Right padding needs no attention mask here: causal attention never lets a real token see the
    padding after it, and padding positions are not targets."""
    if not isinstance(labels, torch.Tensor) or labels.shape != getattr(input_ids, "shape", None):
        raise ValueError(f"lm_loss expected labels of the shape of input_ids {_describe(input_ids)}, got "
                         f"{_describe(labels)}")
    if not bool((labels[:, 1:] != -100).any()):
        raise ValueError("lm_loss expected at least one label other than -100 after the first position")
    out = model(input_ids[:, :-1], labels[:, 1:])                                  # (B, T-1, V), loss
    return out[1]


def sft_batches(examples: Sequence[tuple[Sequence[int], int]], pad_id: int, batch_size: int, *,
                loss_on: str = "answer"):
    """A ``batch_fn(generator) -> (input_ids, labels)`` drawing ``batch_size`` random examples each call
    (for ``course_lib.training.train``)."""
    V.positive_int(batch_size, "batch_size", "sft_batches")
    if len(examples) == 0:
        raise ValueError("sft_batches expected at least one example")

    def draw(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randint(len(examples), (batch_size,), generator=generator).tolist()
        b = collate([examples[i] for i in rows], pad_id, loss_on=loss_on)
        return b.input_ids, b.labels
    return draw


# ----------------------------------------------------------------------------- answering

@torch.no_grad()
def answer(model: nn.Module, chat: ChatTemplate, prompts: Sequence[str], *, max_new_tokens: int = 24,
           temperature: float = 0.0, top_k: int | None = None, seed: int | None = None,
           stop: bool = True) -> list[str]:
    """The model's answer to each prompt: generate after <|user|>prompt<|assistant|> and cut at <|end|>.

    ``temperature=0`` is greedy. ``stop=False`` generates all ``max_new_tokens`` (the answer is still cut
    at the first <|end|>, if any). Prompts of equal token length are generated together (no padding,
    so the same result as one by one)."""
    V.positive_int(max_new_tokens, "max_new_tokens", "answer")
    encoded = [chat.encode(p)[0] for p in prompts]
    out: list[str | None] = [None] * len(prompts)
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        groups.setdefault(len(ids), []).append(i)
    for k, (n, rows) in enumerate(sorted(groups.items())):
        x = torch.tensor([encoded[i] for i in rows])
        y = generate(model, x, max_new_tokens, temperature=temperature, top_k=top_k,
                     seed=None if seed is None else seed + k, stop_tokens=[chat.end_id] if stop else None)
        for i, row in zip(rows, y[:, n:].tolist()):
            out[i] = chat.decode_answer(row)
    return out  # type: ignore[return-value]


def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    s = V.text(s, "normalize_answer").lower()
    s = "".join(c for c in s if c not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, truth: str, *, normalize: bool = False) -> float:
    """1.0 if the strings are equal (after ``strip``, or after SQuAD's normalisation), else 0.0."""
    p, t = V.text(prediction, "exact_match", "prediction"), V.text(truth, "exact_match", "truth")
    if normalize:
        return float(normalize_answer(p) == normalize_answer(t))
    return float(p.strip() == t.strip())


def squad_f1(prediction: str, truth: str) -> float:
    """Token overlap after normalisation: F1 = 2 P R / (P + R), P = common / |pred|, R = common / |truth|."""
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if not p or not t:
        return float(p == t)
    common = sum((Counter(p) & Counter(t)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


# ----------------------------------------------------------------------------- extractive QA with BERT

@dataclass
class QAOutput:
    start_logits: torch.Tensor            # (B, T)
    end_logits: torch.Tensor              # (B, T)
    loss: torch.Tensor | None = None      # (CE(start) + CE(end)) / 2 when positions are given


class BertForQA(nn.Module):
    """start_logits, end_logits = split(W h_L + b): one Linear (C -> 2) on every token's final state,
    as ``transformers.BertForQuestionAnswering`` (whose BERT has no pooler)."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        if not isinstance(bert, BertModel):
            raise ValueError(f"BertForQA expected a course_lib.bert.BertModel, got {type(bert).__name__}")
        self.bert = bert
        self.qa_outputs = nn.Linear(bert.config.d_model, 2)                         # (2, C)
        nn.init.normal_(self.qa_outputs.weight, std=0.02)
        nn.init.zeros_(self.qa_outputs.bias)

    def forward(self, ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, *, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None) -> QAOutput:
        hidden, _ = self.bert(ids, segment_ids, attention_mask)                    # (B, T, C)
        start, end = self.qa_outputs(hidden).unbind(dim=-1)                         # 2 x (B, T)
        out = QAOutput(start, end)
        if (start_positions is None) != (end_positions is None):
            raise ValueError("BertForQA expected both start_positions and end_positions, or neither")
        if start_positions is not None:
            out.loss = qa_loss(start, end, start_positions, end_positions)
        return out


def qa_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
            end_positions: torch.Tensor) -> torch.Tensor:
    """(CE(start_logits, start) + CE(end_logits, end)) / 2, each a softmax over the T positions."""
    B, T = start_logits.shape
    for name, x in (("start_positions", start_positions), ("end_positions", end_positions)):
        if not isinstance(x, torch.Tensor) or x.shape != (B,) or x.is_floating_point():
            raise ValueError(f"qa_loss expected integer {name} of shape ({B},), got {_describe(x)}")
        if bool((x < 0).any()) or bool((x >= T).any()):
            raise ValueError(f"qa_loss expected {name} in [0, {T}) (token positions), got {x.tolist()}")
    return (F.cross_entropy(start_logits, start_positions) + F.cross_entropy(end_logits, end_positions)) / 2


def to_hf_qa(model: BertForQA):
    """A ``transformers.BertForQuestionAnswering`` with our weights (built from a config, nothing downloaded)."""
    from transformers import BertForQuestionAnswering

    if not isinstance(model, BertForQA):
        raise ValueError(f"to_hf_qa expected a BertForQA, got {type(model).__name__}")
    cfg = hf_config(model.bert.config)
    cfg.num_labels = 2
    ref = model.qa_outputs.weight
    hf = BertForQuestionAnswering(cfg).to(device=ref.device, dtype=ref.dtype)
    state = {"bert." + k: v for k, v in backbone_to_hf_state(model.bert).items() if not k.startswith("pooler.")}
    state["qa_outputs.weight"], state["qa_outputs.bias"] = model.qa_outputs.weight, model.qa_outputs.bias
    hf.load_state_dict(state, strict=True)
    return hf.eval()


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, allowed: torch.Tensor, *,
              max_answer_len: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The span (i, j) maximising s_i + e_j with i <= j < i + max_answer_len, both allowed: (B,), (B,).

    ``allowed`` (B, T) bool marks the context tokens (never the question, [CLS], [SEP] or padding)."""
    V.float_tensor(start_logits, "start_logits", "best_span")
    if start_logits.ndim != 2 or end_logits.shape != start_logits.shape or allowed.shape != start_logits.shape \
            or allowed.dtype != torch.bool:
        raise ValueError(f"best_span expected start and end logits (B, T) and a bool mask (B, T), got "
                         f"{_describe(start_logits)}, {_describe(end_logits)}, {_describe(allowed)}")
    V.positive_int(max_answer_len, "max_answer_len", "best_span")
    if not bool(allowed.any(dim=1).all()):
        raise ValueError("best_span expected at least one allowed (context) token in every row")
    T = start_logits.shape[1]
    scores = start_logits[:, :, None] + end_logits[:, None, :]                      # (B, T_i, T_j)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    ok = (j >= i) & (j < i + max_answer_len)                                         # (T, T)
    ok = ok[None].to(allowed.device) & allowed[:, :, None] & allowed[:, None, :]     # (B, T, T)
    flat = scores.masked_fill(~ok, float("-inf")).flatten(1).argmax(dim=1)          # (B,)
    return flat // T, flat % T


@dataclass
class QAExample:
    """One extractive question: the token ids [CLS] question [SEP] context [SEP], their segments, and the
    answer's first and last token positions (inclusive); ``context_start``/``context_end`` bound the
    context tokens (end exclusive); ``names`` are the speakers of the context, in order."""

    question: str
    context: str
    answer: str
    kind: str
    ids: list[int]
    segment_ids: list[int]
    start: int
    end: int
    context_start: int
    context_end: int
    names: tuple[str, ...] = ()


def _qa_windows(plays: Sequence[Sequence[Speech]], size: int) -> list[list[Speech]]:
    return [list(play[k:k + size]) for play in plays for k in range(0, len(play) - size + 1, size)]


def qa_examples(plays: Sequence[Sequence[Speech]], tokenizer: BertTokenizer, *, speeches: int = 3,
                max_words: int = 16, max_len: int = 128, seed: int = 0) -> list[QAExample]:
    """Questions with known answer spans, from consecutive speeches of the plays (``bert.split_plays``).

    The context is ``speeches`` consecutive speeches, each written ``NAME: its first max_words words``.
    Two questions per window: **who** ("Who says "<first 5 words of a speech>"?": the speaker's
    name) and **next** ("Who speaks after NAME?", asked when NAME speaks once in the window and someone
    else speaks next: the next speaker's name). The answer span is the tokens of the name in the
    context; an example longer than ``max_len`` tokens is dropped. Seeded: ``random.Random(seed)``
    picks the speeches asked about."""
    if not isinstance(tokenizer, BertTokenizer):
        raise ValueError(f"qa_examples expected a course_lib.bert.BertTokenizer, got {type(tokenizer).__name__}")
    V.positive_int(max_words, "max_words", "qa_examples")
    if isinstance(speeches, bool) or not isinstance(speeches, int) or speeches < 2:
        raise ValueError(f"qa_examples expected speeches >= 2 per context, got {speeches!r}")
    rng = random.Random(seed)
    out: list[QAExample] = []
    for window in _qa_windows(plays, speeches):
        names = [s.speaker for s in window]
        pieces, spans, k = [], [], 0                  # token pieces of the context, the span of each name
        for s in window:
            name_ids = tokenizer.encode(" " + s.speaker)
            spans.append((k, k + len(name_ids) - 1))
            body = tokenizer.encode(": " + " ".join(s.text.split()[:max_words]))
            pieces += name_ids + body
            k += len(name_ids) + len(body)
        context = " ".join(f"{s.speaker}: {' '.join(s.text.split()[:max_words])}" for s in window)
        who = rng.randrange(len(window))
        questions = [("who", f'Who says "{" ".join(window[who].text.split()[:5])}"?', who)]
        after = [i for i in range(len(window) - 1) if names.count(names[i]) == 1 and names[i + 1] != names[i]]
        if after:
            i = rng.choice(after)
            questions.append(("next", f"Who speaks after {names[i]}?", i + 1))
        for kind, question, target in questions:
            q = tokenizer.encode(question)
            ids = [tokenizer.cls_id] + q + [tokenizer.sep_id] + pieces + [tokenizer.sep_id]
            if len(ids) > max_len:
                continue
            offset = len(q) + 2
            segs = [0] * offset + [1] * (len(pieces) + 1)
            a, b = spans[target]
            out.append(QAExample(question, context, names[target], kind, ids, segs, offset + a, offset + b,
                                 offset, offset + len(pieces), tuple(names)))
    return out


@dataclass
class QABatch:
    ids: torch.Tensor               # (B, T)
    segment_ids: torch.Tensor       # (B, T)
    attention_mask: torch.Tensor    # (B, T) bool
    context_mask: torch.Tensor      # (B, T) bool, True at context tokens
    start: torch.Tensor             # (B,)
    end: torch.Tensor               # (B,)


def qa_collate(examples: Sequence[QAExample], pad_id: int) -> QABatch:
    """Right-pad QA examples to the longest one."""
    if len(examples) == 0:
        raise ValueError("qa_collate expected at least one example")
    B, T = len(examples), max(len(e.ids) for e in examples)
    ids = torch.full((B, T), int(pad_id), dtype=torch.long)
    segs = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.bool)
    ctx = torch.zeros(B, T, dtype=torch.bool)
    for b, e in enumerate(examples):
        n = len(e.ids)
        ids[b, :n], segs[b, :n], mask[b, :n] = torch.tensor(e.ids), torch.tensor(e.segment_ids), True
        ctx[b, e.context_start:e.context_end] = True
    return QABatch(ids, segs, mask, ctx, torch.tensor([e.start for e in examples]),
                   torch.tensor([e.end for e in examples]))


@torch.no_grad()
def qa_predict(model: BertForQA, examples: Sequence[QAExample], tokenizer: BertTokenizer, *,
               batch_size: int = 64, max_answer_len: int = 16) -> list[str]:
    """The predicted answer text of each example: the best span of the context, decoded."""
    was_training = model.training
    model.eval()
    device = model.qa_outputs.weight.device
    out = []
    for k in range(0, len(examples), batch_size):
        chunk = examples[k:k + batch_size]
        b = qa_collate(chunk, tokenizer.pad_id)
        o = model(b.ids.to(device), b.segment_ids.to(device), b.attention_mask.to(device))
        s, e = best_span(o.start_logits.cpu(), o.end_logits.cpu(), b.context_mask, max_answer_len=max_answer_len)
        out += [tokenizer.decode(ex.ids[i:j + 1]).strip() for ex, i, j in zip(chunk, s.tolist(), e.tolist())]
    model.train(was_training)
    return out


# ----------------------------------------------------------------------------- validation (below the idea)

def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} of shape {tuple(x.shape)}"
    return type(x).__name__
