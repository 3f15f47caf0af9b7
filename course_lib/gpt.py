"""A tiny GPT with exactly GPT-2's architecture, a KV-cache and sampling (chapter 08).

    config = GPTConfig(vocab_size=77, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False)
    model  = GPT(config).to(pick_device())                # built on the CPU, moved like any nn.Module
    logits, loss = model(x, y)                             # x, y: (B, T) token ids
    out = model.generate(prompt, 200, temperature=0.8, top_k=20, seed=0)   # = generation.generate(model, ...)
    count_parameters(GPT2_CONFIGS["gpt2"])                 # 124,439,808 without allocating anything
    hf = to_hf(model); back = from_hf(hf)                  # transformers.GPT2LMHeadModel, same logits

The architecture (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"):

    x = wte[idx] + wpe[pos]                                # learned token and position embeddings
    for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))      # pre-norm residual blocks
    logits = ln_f(x) @ wte.T                               # the output layer shares the token embedding

with causal multi-head self-attention (``course_lib.attention``) and an MLP of width 4 C using
GELU in its tanh approximation. Sampling and the KV-cache are model-agnostic and live in
``course_lib.generation``. Run ``python -m course_lib.gpt --smoke`` to train a few hundred steps
with the course loop on whatever device is present and print tokens/s.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import class_ids, token_ids
from .attention import scaled_dot_product_attention
from .generation import KVCache, filter_logits, generate, sample_next

__all__ = ["GPTConfig", "GPT", "GPT2_CONFIGS", "count_parameters", "KVCache", "to_hf", "from_hf",
           "sample_next", "filter_logits", "generate"]


# ----------------------------------------------------------------------------- configuration

_GELU_APPROXIMATE = {"tanh": "tanh", "exact": "none"}         # our name -> torch's ``approximate``
_HF_ACTIVATION = {"tanh": "gelu_new", "exact": "gelu"}        # our name -> transformers' activation_function

@dataclass
class GPTConfig:
    """The shape of a GPT. ``bias=False`` drops the biases of every Linear and LayerNorm.

    ``gelu="tanh"`` is GPT-2's GELU, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); ``"exact"`` is
    x Phi(x) with the normal CDF (BERT's, and nanoGPT's): the curves differ by less than 0.001, and
    the exact one is about 3x cheaper on a CPU, whose tanh is slow.
    """

    vocab_size: int
    block_size: int          # the longest context the model can see (number of learned positions)
    n_layer: int
    n_head: int
    n_embd: int              # C, the width of the residual stream
    dropout: float = 0.0
    bias: bool = True
    gelu: str = "tanh"       # "tanh" (GPT-2) or "exact"

    def __post_init__(self) -> None:
        for f in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"GPTConfig expected {f} to be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig expected n_embd divisible by n_head, got n_embd={self.n_embd}, "
                             f"n_head={self.n_head} (head size would be {self.n_embd / self.n_head:g})")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"GPTConfig expected dropout in [0, 1), got {self.dropout}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"GPTConfig expected bias to be True or False, got {self.bias!r}")
        if self.gelu not in _GELU_APPROXIMATE:
            raise ValueError(f"GPTConfig expected gelu to be one of {sorted(_GELU_APPROXIMATE)}, got {self.gelu!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"GPTConfig.from_dict got unknown fields {sorted(unknown)}; expected {sorted(names)}")
        return cls(**d)


#: The four published GPT-2 sizes (vocabulary 50,257, context 1,024).
GPT2_CONFIGS: dict[str, GPTConfig] = {
    "gpt2": GPTConfig(50257, 1024, n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": GPTConfig(50257, 1024, n_layer=24, n_head=16, n_embd=1024),
    "gpt2-large": GPTConfig(50257, 1024, n_layer=36, n_head=20, n_embd=1280),
    "gpt2-xl": GPTConfig(50257, 1024, n_layer=48, n_head=25, n_embd=1600),
}


def count_parameters(config: GPTConfig, *, non_embedding: bool = False) -> int:
    """Count the parameters of ``GPT(config)`` with pen and paper (nothing is allocated).

    Per block (b = 1 with biases, 0 without):
        2 LayerNorms            2 (C + bC)
        attention c_attn        C * 3C + 3bC        (query, key and value projections, fused)
        attention c_proj        C * C + bC
        MLP c_fc, c_proj        C * 4C + 4bC + 4C * C + bC
    plus token embeddings V C, position embeddings T C and a final LayerNorm C + bC.
    The output layer reuses the token embeddings (weight tying) so it adds nothing.
    ``non_embedding=True`` leaves out the position embeddings (as nanoGPT reports).
    """
    if not isinstance(config, GPTConfig):
        raise ValueError(f"count_parameters expected a GPTConfig, got {type(config).__name__}")
    C, b = config.n_embd, int(config.bias)
    layer_norm = C + b * C
    attention = (C * 3 * C + b * 3 * C) + (C * C + b * C)
    mlp = (C * 4 * C + b * 4 * C) + (4 * C * C + b * C)
    block = 2 * layer_norm + attention + mlp
    total = config.vocab_size * C + config.block_size * C + config.n_layer * block + layer_norm
    return total - config.block_size * C if non_embedding else total


# ----------------------------------------------------------------------------- the model, block by block

class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which token t sees tokens 0..t only.

    q, k, v = x W_qkv (one fused Linear, as GPT-2), split into H heads of size hs = C / H:
        head_h = softmax(q_h k_h^T / sqrt(hs) + causal mask) v_h
        out    = concat(head_1, ..., head_H) W_o
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, *, cache: KVCache | None = None, layer: int = 0,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)                 # 3 x (B, T, C)
        q = q.view(B, T, H, C // H).transpose(1, 2)              # (B, H, T, hs)
        k = k.view(B, T, H, C // H).transpose(1, 2)              # (B, H, T, hs)
        v = v.view(B, T, H, C // H).transpose(1, 2)              # (B, H, T, hs)
        past = 0                                                 # tokens already in the cache
        if cache is not None:
            past = cache.length(layer)
            k, v = cache.update(layer, k, v)                     # (B, H, past + T, hs)
        mask, is_causal = None, False
        if past == 0:
            is_causal = True                                     # square causal mask
        elif T > 1:                                              # new queries see all the past and their own prefix
            allowed = torch.ones(T, past + T, dtype=torch.bool, device=x.device)
            mask = torch.tril(allowed, diagonal=past)            # (T, past + T), True = allowed
        dropout_p = self.attn_dropout if self.training else 0.0
        y, weights = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal, dropout_p=dropout_p,
                                                  need_weights=need_weights)  # (B, H, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)          # (B, T, C) heads side by side again
        return self.resid_dropout(self.c_proj(y)), weights


class MLP(nn.Module):
    """The position-wise feed-forward network: GELU(x W_fc + b_fc) W_proj + b_proj, width 4 C."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate=_GELU_APPROXIMATE[config.gelu])   # "tanh": GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))   # (B, T, C)


class Block(nn.Module):
    """A pre-norm Transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, *, cache: KVCache | None = None, layer: int = 0,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, weights = self.attn(self.ln_1(x), cache=cache, layer=layer, need_weights=need_weights)
        x = x + a                                   # (B, T, C)
        x = x + self.mlp(self.ln_2(x))              # (B, T, C)
        return x, weights


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy  -(1/N) sum_n log softmax(logits_n)[y_n]  over the N positions whose target is not -100.

    The same numbers as ``course_lib.losses.cross_entropy`` (chapter 07 builds it and its tests prove the two
    equal), with the same input checks (any integer dtype, as there), computed by torch's fused kernel: one
    pass instead of seven small ops. The kernel takes only int64 ids, hence ``.long()``.
    """
    targets = class_ids(targets, logits, -100, "GPT.forward")
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten().long())   # (B*T, V) against (B*T,)


class GPT(nn.Module):
    """GPT-2: token + position embeddings, ``n_layer`` pre-norm blocks, final LayerNorm, tied output layer.

    Built on the CPU like any ``nn.Module``; move it with ``.to(device)`` (see ``course_lib.pick_device``).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"GPT expected a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),     # token embeddings   (V, C)
            wpe=nn.Embedding(config.block_size, config.n_embd),     # position embeddings (T, C)
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight            # weight tying: one (V, C) matrix
        self.apply(self._init_weights)
        # GPT-2 scales the residual projections by 1/sqrt(2 n_layer): two of them add to x per block
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def device(self) -> torch.device:
        return self.transformer.wte.weight.device

    def num_parameters(self) -> int:
        """Parameters actually allocated (the tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> logits (B, T, V), and the mean cross-entropy if ``targets`` (B, T) are given.

        With a ``cache`` the tokens continue the ones already cached (positions start at len(cache)).
        """
        logits, loss, _ = self._run(idx, targets, cache=cache, need_weights=False)
        return logits, loss

    def _run(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, cache: KVCache | None = None,
             need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, list]:
        """The forward pass; also returns each layer's attention weights (B, H, T, T_seen) if asked."""
        idx = token_ids(idx, self.config.vocab_size, "GPT.forward")
        B, T = idx.shape
        start = len(cache) if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"GPT.forward got {start + T} positions ({start} cached + {T} new) but the model "
                             f"has block_size={self.config.block_size} learned positions; crop the context")
        pos = torch.arange(start, start + T, device=idx.device)             # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        maps = []
        for layer, block in enumerate(self.transformer.h):
            x, w = block(x, cache=cache, layer=layer, need_weights=need_weights)
            maps.append(w)
        x = self.transformer.ln_f(x)                                         # (B, T, C)
        logits = self.lm_head(x)                                             # (B, T, V)
        loss = None if targets is None else next_token_loss(logits, targets)
        return logits, loss, maps

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """The attention weights of every layer and head: idx (B, T) -> (L, B, H, T, T), rows sum to 1."""
        was_training = self.training
        self.eval()
        try:
            _, _, maps = self._run(idx, need_weights=True)
        finally:
            self.train(was_training)
        return torch.stack(maps)                                             # (L, B, H, T, T)

    def generate(self, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                 seed: int | None = None, stop_tokens: int | list[int] | None = None) -> torch.Tensor:
        """Continue ``idx`` (B, T) (or (T,)) by ``max_new_tokens`` sampled tokens; returns (B, T + new).

        The loop is ``course_lib.generation.generate`` (see there): temperature (0 = greedy), top_k,
        top_p, a KV-cache with ``use_cache``, a seeded generator on the model's device, stop tokens.
        """
        return generate(self, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                        seed=seed, use_cache=use_cache, stop_tokens=stop_tokens)


# ----------------------------------------------------------------------------- to and from transformers

def _hf_config(config: GPTConfig):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                      n_layer=config.n_layer, n_head=config.n_head,
                      activation_function=_HF_ACTIVATION[config.gelu],
                      resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
                      layer_norm_epsilon=1e-5, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=None)


# our Linear stores (out, in); GPT-2's Conv1D stores (in, out): these weights are transposed on the way
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def to_hf(model: GPT):
    """A ``transformers.GPT2LMHeadModel`` computing the same logits as ``model`` (nothing is downloaded).

    GPT-2 always has biases: a ``bias=False`` model is exported with biases set to zero.
    """
    from transformers import GPT2LMHeadModel

    if not isinstance(model, GPT):
        raise ValueError(f"to_hf expected a course_lib.gpt.GPT, got {type(model).__name__}")
    hf = GPT2LMHeadModel(_hf_config(model.config)).to(model.device)
    ours = model.state_dict()
    new_state = {}
    for name, hf_param in hf.state_dict().items():
        if name == "lm_head.weight":
            new_state[name] = ours["transformer.wte.weight"]
            continue
        if name not in ours:
            if name.endswith(".bias") and not model.config.bias:
                new_state[name] = torch.zeros_like(hf_param)
                continue
            new_state[name] = hf_param            # a buffer of theirs (e.g. a mask) we do not use
            continue
        w = ours[name]
        new_state[name] = w.t() if name.endswith(_CONV1D) else w
    hf.load_state_dict(new_state, strict=True)
    hf.eval()
    return hf


def from_hf(hf_model) -> GPT:
    """Our ``GPT`` with the weights of a ``transformers.GPT2LMHeadModel`` (same logits), on the same device."""
    hc = hf_model.config
    activation = getattr(hc, "activation_function", "gelu_new")
    gelu = {**{hf: ours for ours, hf in _HF_ACTIVATION.items()}, "gelu_pytorch_tanh": "tanh"}.get(activation)
    if gelu is None:
        raise ValueError(f"from_hf expects a GELU (gelu_new, gelu_pytorch_tanh or gelu), got activation {activation!r}")
    if getattr(hc, "n_inner", None) not in (None, 4 * hc.n_embd):
        raise ValueError(f"from_hf expects an MLP of width 4 * n_embd = {4 * hc.n_embd}, got n_inner={hc.n_inner}")
    config = GPTConfig(hc.vocab_size, hc.n_positions, hc.n_layer, hc.n_head, hc.n_embd,
                       dropout=float(hc.resid_pdrop), bias=True, gelu=gelu)
    model = GPT(config).to(next(hf_model.parameters()).device)
    theirs = hf_model.state_dict()
    state = {}
    for name in model.state_dict():
        if name == "lm_head.weight":
            state[name] = theirs["transformer.wte.weight"]
            continue
        if name not in theirs:
            raise ValueError(f"from_hf: the transformers model has no parameter {name!r}")
        w = theirs[name]
        state[name] = w.t() if name.endswith(_CONV1D) else w
    model.load_state_dict(state, strict=True)
    return model


# ----------------------------------------------------------------------------- smoke run (any device)

def _smoke(argv: list[str] | None = None) -> None:
    """``python -m course_lib.gpt --smoke [--device cuda] [--iters 300]``: train briefly with the course loop."""
    import argparse

    from .core import pick_device
    from .datasets import load_text
    from .training import TrainConfig, train

    ap = argparse.ArgumentParser(description=_smoke.__doc__)
    ap.add_argument("--smoke", action="store_true", help="train a few hundred steps and report speed")
    ap.add_argument("--device", default=None)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--batch", type=int, default=12)
    args = ap.parse_args(argv)
    if not args.smoke:
        ap.print_help()
        return
    text = load_text("shakespeare")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    torch.manual_seed(0)
    model = GPT(GPTConfig(len(chars), 64, n_layer=4, n_head=4, n_embd=128, bias=False)).to(pick_device(args.device))
    cfg = TrainConfig(max_iters=args.iters, batch_size=args.batch, lr=1e-3, warmup_iters=min(100, args.iters),
                      eval_interval=args.iters, eval_iters=2, progress=False)
    history = train(model, data[:n], data[n:], cfg, print_fn=lambda line: None)
    print(f"device {model.device}, {model.num_parameters():,} parameters, {args.iters} iterations, "
          f"final train loss {history.train_loss[-1]:.3f}, val loss {history.final_val:.3f}, "
          f"{history.tokens_per_sec:,.0f} tokens/s (two evaluations included)")


if __name__ == "__main__":
    _smoke()
