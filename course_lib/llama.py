"""From GPT-2 to today's models: RMSNorm, rotary positions, SwiGLU and grouped-query attention (chapter 13).

    config = LlamaConfig(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128, n_kv_head=2)
    model  = Llama(config).to(device)
    logits, loss = model(x, y)                                  # x, y: (B, T) token ids
    out = generate(model, prompt, 200, temperature=0.8)         # course_lib.generation; caches 2 KV heads
    count_parameters(LLAMA_CONFIGS["llama-3-8b"])               # 8,030,261,248 without allocating anything
    hf = to_hf(model); back = from_hf(hf)                       # transformers.LlamaForCausalLM, same logits

The block of the Llama family (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language
Models", and "Llama 2"), next to GPT-2's:

    GPT-2                                          Llama
    x = wte[idx] + wpe[pos]                        x = wte[idx]                 (positions enter attention)
    x = x + attn(LayerNorm(x))                     x = x + attn(RMSNorm(x))     (q, k rotated by RoPE;
                                                                                 n_kv_head <= n_head)
    x = x + W2 GELU(W1 x)                          x = x + W2 (SiLU(Wg x) * (Wu x))      (SwiGLU)
    logits = LayerNorm(x) wte^T                    logits = RMSNorm(x) W_out^T  (tied or not)

``LlamaConfig(norm=..., positions=..., mlp=...)`` switches each piece back to GPT-2's one at a time:
``norm="layernorm"``, ``positions="learned"``, ``mlp="gelu"``, ``n_kv_head=n_head``. With all four
the model *is* chapter 08's bias-free GPT (``from_gpt`` copies its weights; same logits). Nothing
here has biases.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn

from ._validate import float_tensor, positive_int, token_ids
from .attention import scaled_dot_product_attention
from .generation import KVCache
from .gpt import GPT, MLP, GPTConfig, next_token_loss

__all__ = ["LlamaConfig", "Llama", "LLAMA_CONFIGS", "RMSNorm", "rms_norm", "rope_tables", "rotate_half",
           "apply_rope", "SwiGLU", "repeat_kv", "Attention", "Block", "llama_hidden_dim", "count_parameters",
           "kv_cache_bytes_per_token", "to_hf", "from_hf", "from_gpt"]

_NORMS = ("rmsnorm", "layernorm")
_POSITIONS = ("rope", "learned")
_MLPS = ("swiglu", "gelu")


# ----------------------------------------------------------------------------- configuration

def llama_hidden_dim(n_embd: int, *, multiple_of: int = 8, ffn_dim_multiplier: float | None = None) -> int:
    """The width of a SwiGLU MLP by Meta's rule: two thirds of 4 C (so that its three matrices hold as
    many numbers as GELU's two of width 4 C), times ``ffn_dim_multiplier``, rounded up to ``multiple_of``.

        h = multiple_of * ceil(int(m * int(2 * 4C / 3)) / multiple_of)
    Llama 2 7B: C = 4096, multiple_of = 256 -> 11,008.  Llama 3 8B: m = 1.3, multiple_of = 1024 -> 14,336.
    """
    C = positive_int(n_embd, "n_embd", "llama_hidden_dim")
    multiple_of = positive_int(multiple_of, "multiple_of", "llama_hidden_dim")
    h = int(2 * 4 * C / 3)
    if ffn_dim_multiplier is not None:
        if not isinstance(ffn_dim_multiplier, (int, float)) or not ffn_dim_multiplier > 0:
            raise ValueError(f"llama_hidden_dim expected ffn_dim_multiplier > 0 or None, got {ffn_dim_multiplier!r}")
        h = int(ffn_dim_multiplier * h)
    return multiple_of * math.ceil(h / multiple_of)


@dataclass
class LlamaConfig:
    """The shape of a Llama-style model, and which of GPT-2's pieces it keeps.

    ``n_kv_head`` (default ``n_head``) key/value heads are shared by groups of n_head / n_kv_head query
    heads: n_head is multi-head attention, 1 is multi-query, in between grouped-query.
    ``hidden_dim`` is the MLP width: ``llama_hidden_dim(n_embd)`` for SwiGLU, 4 n_embd (and only that) for GELU.
    ``block_size`` is the context the model is trained on (and the number of learned positions, if any);
    with RoPE the model accepts longer inputs.
    """

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    n_kv_head: int | None = None
    hidden_dim: int | None = None
    norm: str = "rmsnorm"          # or "layernorm" (GPT-2's, without bias)
    positions: str = "rope"        # or "learned" (GPT-2's table of block_size vectors)
    mlp: str = "swiglu"            # or "gelu" (GPT-2's tanh GELU, width 4 C)
    rope_theta: float = 10000.0    # the base of RoPE's frequencies, theta^(-2i/d)
    norm_eps: float = 1e-5
    tie_embeddings: bool = False   # the output layer reuses the token embeddings (GPT-2: yes, Llama 2/3 7-8B: no)

    def __post_init__(self) -> None:
        for f in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            positive_int(getattr(self, f), f, "LlamaConfig")
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        positive_int(self.n_kv_head, "n_kv_head", "LlamaConfig")
        for name, value, allowed in (("norm", self.norm, _NORMS), ("positions", self.positions, _POSITIONS),
                                     ("mlp", self.mlp, _MLPS)):
            if value not in allowed:
                raise ValueError(f"LlamaConfig expected {name} to be one of {allowed}, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"LlamaConfig expected n_embd divisible by n_head, got n_embd={self.n_embd}, "
                             f"n_head={self.n_head} (head size would be {self.n_embd / self.n_head:g})")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"LlamaConfig expected n_kv_head to divide n_head (each key/value head serves an equal "
                             f"group of query heads), got n_head={self.n_head}, n_kv_head={self.n_kv_head}")
        if self.positions == "rope" and self.head_dim % 2:
            raise ValueError(f"LlamaConfig: RoPE rotates pairs of features, so the head size n_embd / n_head must be "
                             f"even; got {self.n_embd} / {self.n_head} = {self.head_dim}")
        if isinstance(self.rope_theta, bool) or not isinstance(self.rope_theta, (int, float)) \
                or not self.rope_theta > 1:
            raise ValueError(f"LlamaConfig expected rope_theta > 1 (10000 in Llama 2, 500000 in Llama 3), "
                             f"got {self.rope_theta!r}")
        if isinstance(self.norm_eps, bool) or not isinstance(self.norm_eps, (int, float)) or not self.norm_eps > 0:
            raise ValueError(f"LlamaConfig expected norm_eps > 0, got {self.norm_eps!r}")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"LlamaConfig expected tie_embeddings to be True or False, got {self.tie_embeddings!r}")
        if self.hidden_dim is None:
            self.hidden_dim = 4 * self.n_embd if self.mlp == "gelu" else llama_hidden_dim(self.n_embd)
        positive_int(self.hidden_dim, "hidden_dim", "LlamaConfig")
        if self.mlp == "gelu" and self.hidden_dim != 4 * self.n_embd:
            raise ValueError(f"LlamaConfig: the GELU MLP is GPT-2's, of width 4 * n_embd = {4 * self.n_embd}; "
                             f"got hidden_dim={self.hidden_dim}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LlamaConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"LlamaConfig.from_dict got unknown fields {sorted(unknown)}; expected {sorted(names)}")
        return cls(**d)


#: Published shapes (Meta's model cards and configuration files). RoPE scaling (Llama 3.1+) is not modelled.
LLAMA_CONFIGS: dict[str, LlamaConfig] = {
    "llama-2-7b": LlamaConfig(32000, 4096, n_layer=32, n_head=32, n_embd=4096, n_kv_head=32, hidden_dim=11008),
    "llama-3-8b": LlamaConfig(128256, 8192, n_layer=32, n_head=32, n_embd=4096, n_kv_head=8, hidden_dim=14336,
                              rope_theta=500000.0),
    "llama-3.2-1b": LlamaConfig(128256, 131072, n_layer=16, n_head=32, n_embd=2048, n_kv_head=8, hidden_dim=8192,
                                rope_theta=500000.0, tie_embeddings=True),
}


def count_parameters(config: LlamaConfig, *, non_embedding: bool = False) -> int:
    """Count the parameters of ``Llama(config)`` with pen and paper (nothing is allocated).

    With C = n_embd, hs = C / n_head, h = hidden_dim, per block:
        2 norms                       2 C                         (gains only, no biases)
        attention q, k, v, o          C (n_head hs) + 2 C (n_kv_head hs) + (n_head hs) C
        MLP                           3 C h  (SwiGLU: gate, up, down)   or   2 C h  (GELU, h = 4 C)
    plus token embeddings V C, learned positions block_size C (GPT-2's only), a final norm C,
    and an output layer V C unless it is tied to the token embeddings.
    ``non_embedding=True`` leaves out the token and position embeddings (and a tied output layer).
    """
    if not isinstance(config, LlamaConfig):
        raise ValueError(f"count_parameters expected a course_lib.llama.LlamaConfig, got {type(config).__name__}")
    C, hs, h = config.n_embd, config.head_dim, config.hidden_dim
    attention = C * config.n_head * hs + 2 * C * config.n_kv_head * hs + config.n_head * hs * C
    mlp = (3 if config.mlp == "swiglu" else 2) * C * h
    block = 2 * C + attention + mlp
    embeddings = config.vocab_size * C + (config.block_size * C if config.positions == "learned" else 0)
    output = 0 if config.tie_embeddings else config.vocab_size * C
    total = embeddings + config.n_layer * block + C + output
    return total - embeddings if non_embedding else total


def kv_cache_bytes_per_token(config: LlamaConfig, dtype: torch.dtype = torch.float16) -> int:
    """Bytes the KV-cache holds per token: 2 (k and v) x n_layer x n_kv_head x head_dim x bytes per number."""
    if not isinstance(config, LlamaConfig):
        raise ValueError(f"kv_cache_bytes_per_token expected a LlamaConfig, got {type(config).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"kv_cache_bytes_per_token expected a floating-point torch.dtype, got {dtype!r}")
    return 2 * config.n_layer * config.n_kv_head * config.head_dim * dtype.itemsize


# ----------------------------------------------------------------------------- RMSNorm

def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm(x) = g * x / sqrt(mean(x^2) + eps) over the last axis (Zhang & Sennrich 2019).

    LayerNorm without the mean: no centring, no bias, one statistic instead of two. As in Meta's
    reference code and in transformers, the statistic is computed in float32 whatever the dtype
    (bfloat16 would lose it), the result is cast back, then scaled by the gains g.
    x (..., C), weight (C,) -> (..., C).
    """
    x = float_tensor(x, "x", "rms_norm", min_ndim=1)
    if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != (x.shape[-1],):
        raise ValueError(f"rms_norm expected a weight of shape ({x.shape[-1]},) (one gain per feature of x "
                         f"{tuple(x.shape)}), got {tuple(weight.shape) if isinstance(weight, torch.Tensor) else weight!r}")
    x32 = x.to(torch.float32)
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)    # (..., C), root mean square 1
    return weight * normed.to(x.dtype)


class RMSNorm(nn.Module):
    """``rms_norm`` with learned gains g (C,), initialised to 1."""

    def __init__(self, n_embd: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(positive_int(n_embd, "n_embd", "RMSNorm")))
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


# ----------------------------------------------------------------------------- rotary position embeddings

def rope_tables(positions: torch.Tensor | int, head_dim: int, theta: float = 10000.0, *,
                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles m * theta_i, each (T, head_dim), for positions m.

        theta_i = theta^(-2i / d),  i = 0 .. d/2 - 1          (d = head_dim; fast pairs first)
        angles  = [m theta_0, ..., m theta_{d/2-1}, m theta_0, ..., m theta_{d/2-1}]
    Feature j is paired with feature j + d/2 (the "rotate-half" layout of transformers), so each
    half of the table repeats the d/2 frequencies. ``positions`` is a (T,) tensor or an int T
    (positions 0..T-1). Computed in float32, as transformers does.
    """
    d = positive_int(head_dim, "head_dim", "rope_tables")
    if d % 2:
        raise ValueError(f"rope_tables expected an even head_dim (RoPE rotates pairs of features), got {d}")
    if isinstance(positions, bool):
        raise ValueError("rope_tables expected positions as an int T or a (T,) tensor of integers, got a bool")
    if isinstance(positions, int):
        positions = torch.arange(positive_int(positions, "positions", "rope_tables"), device=device)
    if not isinstance(positions, torch.Tensor) or positions.ndim != 1 or positions.is_floating_point():
        raise ValueError(f"rope_tables expected positions as an int T or a (T,) tensor of integers, got "
                         f"{tuple(positions.shape) if isinstance(positions, torch.Tensor) else type(positions).__name__}")
    inv_freq = 1.0 / (float(theta) ** (torch.arange(0, d, 2, dtype=torch.float32, device=positions.device) / d))
    freqs = positions[:, None].float() * inv_freq[None, :]                # (T, d/2) angles m theta_i
    angles = torch.cat([freqs, freqs], dim=-1)                           # (T, d)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x_1, x_2) -> (-x_2, x_1) for the two halves of the last axis: a 90 degree turn of every pair (j, j + d/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_j, x_{j+d/2}) of each position m by the angle m theta_j (Su et al. 2021, RoFormer).

        RoPE(x)_m = x_m * cos(m theta) + rotate_half(x_m) * sin(m theta)
    so that <RoPE(q)_m, RoPE(k)_n> depends on q, k and the offset m - n only.
    x (..., T, d), cos and sin (T, d) from ``rope_tables`` -> (..., T, d).
    """
    x = float_tensor(x, "x", "apply_rope", min_ndim=2)
    T, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"apply_rope expected an even last dimension (pairs of features), got x {tuple(x.shape)}")
    for name, table in (("cos", cos), ("sin", sin)):
        if not isinstance(table, torch.Tensor) or tuple(table.shape) != (T, d):
            raise ValueError(f"apply_rope expected {name} of shape (T, d) = {(T, d)} for x {tuple(x.shape)}, got "
                             f"{tuple(table.shape) if isinstance(table, torch.Tensor) else type(table).__name__}")
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin                                # (..., T, d)


# ----------------------------------------------------------------------------- SwiGLU

class SwiGLU(nn.Module):
    """SwiGLU(x) = W_down (SiLU(W_gate x) * (W_up x)), SiLU(z) = z sigmoid(z) (Shazeer 2020, "GLU Variants
    Improve Transformer"). Three matrices of C x h: at h = 8C/3 as many parameters as GELU's two of C x 4C."""

    def __init__(self, n_embd: int, hidden_dim: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(n_embd, hidden_dim, bias=False)
        self.up_proj = nn.Linear(n_embd, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = nn.functional.silu(self.gate_proj(x))               # (B, T, h)
        return self.down_proj(gate * self.up_proj(x))              # (B, T, h) -> (B, T, C)


# ----------------------------------------------------------------------------- grouped-query attention

def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, H_kv, T, hs) -> (B, H_kv n_rep, T, hs): key/value head g serves query heads g n_rep .. g n_rep + n_rep - 1."""
    x = float_tensor(x, "x", "repeat_kv")
    n_rep = positive_int(n_rep, "n_rep", "repeat_kv")
    if x.ndim != 4:
        raise ValueError(f"repeat_kv expected keys or values of shape (B, H_kv, T, hs), got {tuple(x.shape)}")
    if n_rep == 1:
        return x
    B, Hkv, T, hs = x.shape
    return x[:, :, None].expand(B, Hkv, n_rep, T, hs).reshape(B, Hkv * n_rep, T, hs)


class Attention(nn.Module):
    """Causal self-attention with n_head query heads and n_kv_head key/value heads (no biases).

        q = x W_q (n_head heads), k = x W_k, v = x W_v (n_kv_head heads), all of size hs = C / n_head
        with RoPE: q, k rotated by their positions (v is not)
        head_h = softmax(q_h k_g^T / sqrt(hs) + causal mask) v_g,   g = h // (n_head / n_kv_head)
        out    = concat(head_1, ..., head_H) W_o
    A KV-cache stores k (after the rotation) and v of the n_kv_head heads only.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        C, hs = config.n_embd, config.head_dim
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, hs
        self.q_proj = nn.Linear(C, config.n_head * hs, bias=False)
        self.k_proj = nn.Linear(C, config.n_kv_head * hs, bias=False)
        self.v_proj = nn.Linear(C, config.n_kv_head * hs, bias=False)
        self.o_proj = nn.Linear(config.n_head * hs, C, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        H, Hkv, hs = self.n_head, self.n_kv_head, self.head_dim
        q = self.q_proj(x).view(B, T, H, hs).transpose(1, 2)       # (B, H, T, hs)
        k = self.k_proj(x).view(B, T, Hkv, hs).transpose(1, 2)     # (B, H_kv, T, hs)
        v = self.v_proj(x).view(B, T, Hkv, hs).transpose(1, 2)     # (B, H_kv, T, hs)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        past = 0
        if cache is not None:
            past = cache.length(layer)
            k, v = cache.update(layer, k, v)                       # (B, H_kv, past + T, hs): only H_kv heads kept
        k, v = repeat_kv(k, H // Hkv), repeat_kv(v, H // Hkv)      # (B, H, past + T, hs)
        mask = None
        if past and T > 1:                                         # new queries see the past and their own prefix
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
        y, _ = scaled_dot_product_attention(q, k, v, mask, is_causal=past == 0, need_weights=False)  # (B, H, T, hs)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, H * hs))  # (B, T, C)


# ----------------------------------------------------------------------------- the block and the model

def _norm(config: LlamaConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, config.norm_eps)
    return nn.LayerNorm(config.n_embd, eps=config.norm_eps, bias=False)


def _gelu_mlp(config: LlamaConfig) -> nn.Module:
    """GPT-2's MLP (course_lib.gpt.MLP: tanh GELU, width 4 C), without biases."""
    return MLP(GPTConfig(vocab_size=config.vocab_size, block_size=config.block_size, n_layer=1,
                         n_head=1, n_embd=config.n_embd, bias=False))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.attn_norm = _norm(config)
        self.attn = Attention(config)
        self.mlp_norm = _norm(config)
        self.mlp = SwiGLU(config.n_embd, config.hidden_dim) if config.mlp == "swiglu" else _gelu_mlp(config)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), rope, cache=cache, layer=layer)    # (B, T, C)
        return x + self.mlp(self.mlp_norm(x))                                   # (B, T, C)


class Llama(nn.Module):
    """Token embeddings (plus learned positions if asked), ``n_layer`` blocks, a final norm, the output layer.

    ``forward(idx, targets=None, *, cache=None) -> (logits (B, T, V), mean cross-entropy or None)``;
    with a ``cache`` (``model.new_cache()``) the tokens continue the ``len(cache)`` already cached.
    Initialisation as GPT-2's: normal(0, 0.02), the two residual projections of each block scaled by
    1 / sqrt(2 n_layer).
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise ValueError(f"Llama expected a course_lib.llama.LlamaConfig, got {type(config).__name__}")
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.n_embd)            # (V, C)
        self.pos_embeddings = (nn.Embedding(config.block_size, config.n_embd)           # (T, C), GPT-2 only
                               if config.positions == "learned" else None)
        self.layers = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.norm = _norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_embeddings.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight", "c_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @property
    def device(self) -> torch.device:
        return self.tok_embeddings.weight.device

    def num_parameters(self) -> int:
        """Parameters actually allocated (a tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self) -> KVCache:
        """An empty KV-cache, one entry per layer (used by ``course_lib.generation.generate``)."""
        return KVCache(self.config.n_layer)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> logits (B, T, V), and the mean next-token cross-entropy if targets (B, T) are given."""
        idx = token_ids(idx, self.config.vocab_size, "Llama.forward")
        if cache is not None and not isinstance(cache, KVCache):
            raise ValueError(f"Llama.forward expected cache to be a course_lib.generation.KVCache "
                             f"(model.new_cache()), got {type(cache).__name__}")
        if cache is not None and len(cache.layers) != self.config.n_layer:
            raise ValueError(f"Llama.forward expected a KVCache of {self.config.n_layer} layers, got {len(cache.layers)}")
        B, T = idx.shape
        start = len(cache) if cache is not None else 0
        positions = torch.arange(start, start + T, device=idx.device)      # (T,)
        x = self.tok_embeddings(idx)                                       # (B, T, C)
        rope = None
        if self.pos_embeddings is not None:
            if start + T > self.config.block_size:
                raise ValueError(f"Llama.forward got {start + T} positions ({start} cached + {T} new) but a model "
                                 f"with learned positions has only block_size={self.config.block_size} of them: "
                                 f"there is no vector for position {self.config.block_size}; crop the context")
            x = x + self.pos_embeddings(positions)                         # (B, T, C) + (T, C)
        else:
            rope = rope_tables(positions, self.config.head_dim, self.config.rope_theta)   # 2 x (T, hs)
        for layer, block in enumerate(self.layers):
            x = block(x, rope, cache=cache, layer=layer)
        logits = self.lm_head(self.norm(x))                                # (B, T, V)
        loss = None if targets is None else next_token_loss(logits, targets)
        return logits, loss


# ----------------------------------------------------------------------------- from chapter 08's GPT

def from_gpt(model: GPT) -> Llama:
    """Chapter 08's bias-free GPT as a ``Llama`` with all four of GPT-2's pieces (same logits).

    GPT-2 makes q, k, v with one fused matrix ``c_attn`` (3C, C); here they are three.
    """
    if not isinstance(model, GPT):
        raise ValueError(f"from_gpt expected a course_lib.gpt.GPT, got {type(model).__name__}")
    gc = model.config
    if gc.bias or gc.gelu != "tanh":
        raise ValueError(f"from_gpt expects a GPT with bias=False and gelu='tanh' (this module has no biases), "
                         f"got bias={gc.bias}, gelu={gc.gelu!r}")
    config = LlamaConfig(gc.vocab_size, gc.block_size, gc.n_layer, gc.n_head, gc.n_embd, norm="layernorm",
                         positions="learned", mlp="gelu", tie_embeddings=True)
    ours = Llama(config).to(model.device)
    theirs = model.state_dict()
    state = {"tok_embeddings.weight": theirs["transformer.wte.weight"],
             "pos_embeddings.weight": theirs["transformer.wpe.weight"],
             "norm.weight": theirs["transformer.ln_f.weight"],
             "lm_head.weight": theirs["transformer.wte.weight"]}
    for i in range(gc.n_layer):
        p = f"transformer.h.{i}."
        q, k, v = theirs[p + "attn.c_attn.weight"].split(gc.n_embd, dim=0)
        state.update({f"layers.{i}.attn_norm.weight": theirs[p + "ln_1.weight"],
                      f"layers.{i}.mlp_norm.weight": theirs[p + "ln_2.weight"],
                      f"layers.{i}.attn.q_proj.weight": q, f"layers.{i}.attn.k_proj.weight": k,
                      f"layers.{i}.attn.v_proj.weight": v,
                      f"layers.{i}.attn.o_proj.weight": theirs[p + "attn.c_proj.weight"],
                      f"layers.{i}.mlp.c_fc.weight": theirs[p + "mlp.c_fc.weight"],
                      f"layers.{i}.mlp.c_proj.weight": theirs[p + "mlp.c_proj.weight"]})
    ours.load_state_dict(state, strict=True)
    return ours.train(model.training)


# ----------------------------------------------------------------------------- to and from transformers

# our name -> transformers' LlamaForCausalLM name, per layer
_HF_LAYER = {"attn_norm.weight": "input_layernorm.weight", "mlp_norm.weight": "post_attention_layernorm.weight",
             "attn.q_proj.weight": "self_attn.q_proj.weight", "attn.k_proj.weight": "self_attn.k_proj.weight",
             "attn.v_proj.weight": "self_attn.v_proj.weight", "attn.o_proj.weight": "self_attn.o_proj.weight",
             "mlp.gate_proj.weight": "mlp.gate_proj.weight", "mlp.up_proj.weight": "mlp.up_proj.weight",
             "mlp.down_proj.weight": "mlp.down_proj.weight"}


def _hf_name(name: str) -> str:
    if name.startswith("layers."):
        _, i, rest = name.split(".", 2)
        return f"model.layers.{i}.{_HF_LAYER[rest]}"
    return {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
            "lm_head.weight": "lm_head.weight"}[name]


def _hf_config(config: LlamaConfig):
    from transformers import LlamaConfig as HFLlamaConfig

    hc = HFLlamaConfig(vocab_size=config.vocab_size, hidden_size=config.n_embd, intermediate_size=config.hidden_dim,
                       num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
                       num_key_value_heads=config.n_kv_head, max_position_embeddings=config.block_size,
                       rms_norm_eps=config.norm_eps, hidden_act="silu", tie_word_embeddings=config.tie_embeddings,
                       rope_parameters={"rope_type": "default", "rope_theta": float(config.rope_theta)},
                       attention_bias=False, mlp_bias=False, bos_token_id=None, eos_token_id=None,
                       pad_token_id=None)
    hc._attn_implementation = "sdpa"     # the eager path computes softmax in float32 even for float64 inputs
    return hc


def to_hf(model: Llama):
    """A ``transformers.LlamaForCausalLM`` with our weights, computing the same logits (nothing is downloaded)."""
    from transformers import LlamaForCausalLM

    if not isinstance(model, Llama):
        raise ValueError(f"to_hf expected a course_lib.llama.Llama, got {type(model).__name__}")
    c = model.config
    if (c.norm, c.positions, c.mlp) != ("rmsnorm", "rope", "swiglu"):
        raise ValueError(f"to_hf: transformers' Llama has RMSNorm, RoPE and SwiGLU; this model has norm={c.norm!r}, "
                         f"positions={c.positions!r}, mlp={c.mlp!r}")
    dtype = model.tok_embeddings.weight.dtype
    hf = LlamaForCausalLM(_hf_config(c)).to(device=model.device, dtype=dtype)
    state = {_hf_name(name): w for name, w in model.state_dict().items()}
    hf.load_state_dict(state, strict=True)
    return hf.eval()


def from_hf(hf_model) -> Llama:
    """Our ``Llama`` with the weights of a ``transformers.LlamaForCausalLM`` (same logits, same device and dtype)."""
    hc = hf_model.config
    if getattr(hc, "hidden_act", "silu") != "silu" or getattr(hc, "attention_bias", False) \
            or getattr(hc, "mlp_bias", False):
        raise ValueError(f"from_hf expects SiLU and no biases, got hidden_act={hc.hidden_act!r}, "
                         f"attention_bias={hc.attention_bias}, mlp_bias={hc.mlp_bias}")
    rope = dict(getattr(hc, "rope_parameters", None) or {})
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"from_hf supports the original RoPE only, got rope_type={rope.get('rope_type')!r}")
    head_dim = getattr(hc, "head_dim", None) or hc.hidden_size // hc.num_attention_heads
    if head_dim * hc.num_attention_heads != hc.hidden_size:
        raise ValueError(f"from_hf expects head_dim * num_attention_heads == hidden_size, got {head_dim} * "
                         f"{hc.num_attention_heads} != {hc.hidden_size}")
    config = LlamaConfig(hc.vocab_size, hc.max_position_embeddings, hc.num_hidden_layers, hc.num_attention_heads,
                         hc.hidden_size, n_kv_head=hc.num_key_value_heads, hidden_dim=hc.intermediate_size,
                         rope_theta=float(rope.get("rope_theta", 10000.0)), norm_eps=float(hc.rms_norm_eps),
                         tie_embeddings=bool(hc.tie_word_embeddings))
    weight = hf_model.get_input_embeddings().weight
    model = Llama(config).to(device=weight.device, dtype=weight.dtype)
    theirs = hf_model.state_dict()
    state = {}
    for name in model.state_dict():
        hf_name = _hf_name(name)
        if hf_name not in theirs:
            raise ValueError(f"from_hf: the transformers model has no parameter {hf_name!r}")
        state[name] = theirs[hf_name]
    model.load_state_dict(state, strict=True)
    return model.eval()
