"""The Transformer of "Attention Is All You Need", piece by piece (chapter 06).

    sinusoidal_positions(T, d_model)           # (T, d_model) fixed sin/cos table
    SinusoidalPositionalEncoding / LearnedPositionalEncoding
    LayerNorm(d_model)                         # (x - mean) / sqrt(var + eps) * gamma + beta
    FeedForward(d_model, d_ff, activation)     # W2 act(W1 x + b1) + b2, the same at every position
    EncoderLayer / DecoderLayer                # post-norm (the paper) or pre-norm (GPT-2 and later)
    Encoder / Decoder                          # stacks of layers
    Transformer(TransformerConfig(...))        # embeddings + encoder + decoder + output layer,
                                               # with greedy_decode()

The toy task chapter 06 trains on ("407" -> "four hundred seven") is ``course_lib.tasks.NumberWords``.

Masks follow ``course_lib.attention``: a boolean attention mask is True where attention is
ALLOWED; ``*_key_padding_mask`` arguments are True at PADDING positions (torch's convention).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate
from .attention import MultiHeadAttention

__all__ = ["sinusoidal_positions", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding", "LayerNorm",
           "FeedForward", "EncoderLayer", "DecoderLayer", "Encoder", "Decoder", "TransformerConfig",
           "Transformer"]

ACTIVATIONS = ("relu", "gelu")


# ----------------------------------------------------------------------------- positions

def sinusoidal_positions(T: int, d_model: int) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).

    Each pair of columns is a clock ticking at its own speed: fast ones tell nearby
    positions apart, slow ones far ones. Returns (T, d_model) float32.
    """
    _validate.positive_int(T, "T", "sinusoidal_positions")
    _validate.positive_int(d_model, "d_model", "sinusoidal_positions")
    if d_model % 2:
        raise ValueError(f"sinusoidal_positions expected an even d_model (sin/cos pairs), got {d_model}")
    pos = torch.arange(T, dtype=torch.float64)[:, None]                        # (T, 1)
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d_model/2,)
    pe = torch.zeros(T, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe.float()


class SinusoidalPositionalEncoding(nn.Module):
    """x + PE[:T]: adds the fixed sinusoid table; nothing to learn, works for any T <= max_len."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_positions(max_len, d_model), persistent=False)  # (max_len, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        if x.ndim != 3 or x.shape[-1] != self.pe.shape[1] or T > self.pe.shape[0]:
            raise ValueError(f"SinusoidalPositionalEncoding expected x of shape (B, T <= {self.pe.shape[0]}, "
                             f"{self.pe.shape[1]}), got {tuple(x.shape)}")
        return x + self.pe[:T].to(x.dtype)                                    # (B, T, C)


class LearnedPositionalEncoding(nn.Module):
    """x + P[:T]: one trainable vector per position (GPT, BERT); knows nothing beyond max_len."""

    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)      # (max_len, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        if x.ndim != 3 or x.shape[-1] != self.weight.shape[1] or T > self.weight.shape[0]:
            raise ValueError(f"LearnedPositionalEncoding expected x of shape (B, T <= {self.weight.shape[0]}, "
                             f"{self.weight.shape[1]}), got {tuple(x.shape)}")
        return x + self.weight[:T]                                            # (B, T, C)


# ----------------------------------------------------------------------------- LayerNorm and FFN

class LayerNorm(nn.Module):
    """LayerNorm(x) = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta, over the last (feature) axis.

    var is the biased variance (divide by C, not C - 1), as in torch.nn.LayerNorm.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, *, bias: bool = True) -> None:
        super().__init__()
        self.d_model, self.eps = _validate.positive_int(d_model, "d_model", "LayerNorm"), eps
        self.weight = nn.Parameter(torch.ones(d_model))                      # gamma
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None     # beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[-1] != self.d_model:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"LayerNorm expected a tensor whose last axis has {self.d_model} features, got {got}")
        mean = x.mean(dim=-1, keepdim=True)                                   # (..., 1)
        var = (x - mean).pow(2).mean(dim=-1, keepdim=True)                    # (..., 1)
        y = (x - mean) / torch.sqrt(var + self.eps) * self.weight             # (..., C)
        return y if self.bias is None else y + self.bias


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)): a smooth ReLU."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class FeedForward(nn.Module):
    """FFN(x) = W2 act(W1 x + b1) + b2, applied to every position on its own (usually d_ff = 4 d_model)."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "relu", dropout: float = 0.0,
                 *, bias: bool = True) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForward expected activation in {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x)                                                   # (B, T, d_ff)
        h = torch.relu(h) if self.activation == "relu" else gelu(h)
        return self.linear2(self.dropout(h))                                  # (B, T, d_model)


# ----------------------------------------------------------------------------- encoder and decoder layers

class EncoderLayer(nn.Module):
    """Self-attention then a feed-forward network, each wrapped in a residual path and a LayerNorm.

    post-norm (norm_first=False, the 2017 paper):  x = LN(x + SelfAttn(x));  x = LN(x + FFN(x))
    pre-norm  (norm_first=True, GPT-2 onwards):    x = x + SelfAttn(LN(x));  x = x + FFN(LN(x))
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, dropout: float = 0.1, activation: str = "relu",
                 norm_first: bool = False, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, activation, dropout, bias=bias)
        self.norm1 = LayerNorm(d_model, eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps, bias=bias)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.attn_weights: torch.Tensor | None = None   # (B, H, T, T) of the last call with need_weights

    def _sa(self, x, key_padding_mask, attn_mask, is_causal, need_weights):
        out, self.attn_weights = self.self_attn(x, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                                                is_causal=is_causal, need_weights=need_weights)
        return self.dropout1(out)

    def forward(self, x: torch.Tensor, *, src_key_padding_mask: torch.Tensor | None = None,
                src_mask: torch.Tensor | None = None, is_causal: bool = False,
                need_weights: bool = False) -> torch.Tensor:
        """x (B, T, d_model) -> (B, T, d_model). With need_weights, keeps the attention in ``attn_weights``."""
        _check_features(x, self.d_model, "EncoderLayer")
        args = (src_key_padding_mask, src_mask, is_causal, need_weights)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), *args)
            return x + self.dropout2(self.ffn(self.norm2(x)))
        x = self.norm1(x + self._sa(x, *args))
        return self.norm2(x + self.dropout2(self.ffn(x)))

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerEncoderLayer) -> "EncoderLayer":
        """Copy the parameters of a ``torch.nn.TransformerEncoderLayer`` with the same sizes."""
        self.self_attn.load_torch_weights(layer.self_attn)
        _copy_ffn_and_norms(self, layer, n_norms=2)
        return self


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder's output ("memory"), then an FFN.

    post-norm: x = LN(x + SelfAttn(x)); x = LN(x + CrossAttn(x, memory)); x = LN(x + FFN(x))
    pre-norm:  x = x + SelfAttn(LN(x)); x = x + CrossAttn(LN(x), memory); x = x + FFN(LN(x))
    The queries of cross-attention come from the decoder, its keys and values from the encoder.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, *, dropout: float = 0.1, activation: str = "relu",
                 norm_first: bool = False, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.ffn = FeedForward(d_model, d_ff, activation, dropout, bias=bias)
        self.norm1 = LayerNorm(d_model, eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps, bias=bias)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.self_weights: torch.Tensor | None = None    # (B, H, Tq, Tq) of the last call with need_weights
        self.cross_weights: torch.Tensor | None = None   # (B, H, Tq, Tk)

    def _sa(self, x, tgt_key_padding_mask, tgt_mask, tgt_is_causal, need_weights):
        out, self.self_weights = self.self_attn(x, key_padding_mask=tgt_key_padding_mask, attn_mask=tgt_mask,
                                                is_causal=tgt_is_causal, need_weights=need_weights)
        return self.dropout1(out)

    def _ca(self, x, memory, memory_key_padding_mask, need_weights):
        out, self.cross_weights = self.cross_attn(x, memory, memory, key_padding_mask=memory_key_padding_mask,
                                                  need_weights=need_weights)
        return self.dropout2(out)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, *, tgt_mask: torch.Tensor | None = None,
                tgt_key_padding_mask: torch.Tensor | None = None, tgt_is_causal: bool = False,
                memory_key_padding_mask: torch.Tensor | None = None, need_weights: bool = False) -> torch.Tensor:
        """x (B, Tq, d_model), memory (B, Tk, d_model) -> (B, Tq, d_model)."""
        _check_features(x, self.d_model, "DecoderLayer")
        _check_features(memory, self.d_model, "DecoderLayer", "memory")
        sa_args = (tgt_key_padding_mask, tgt_mask, tgt_is_causal, need_weights)
        if self.norm_first:
            x = x + self._sa(self.norm1(x), *sa_args)
            x = x + self._ca(self.norm2(x), memory, memory_key_padding_mask, need_weights)
            return x + self.dropout3(self.ffn(self.norm3(x)))
        x = self.norm1(x + self._sa(x, *sa_args))
        x = self.norm2(x + self._ca(x, memory, memory_key_padding_mask, need_weights))
        return self.norm3(x + self.dropout3(self.ffn(x)))

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerDecoderLayer) -> "DecoderLayer":
        """Copy the parameters of a ``torch.nn.TransformerDecoderLayer`` with the same sizes."""
        self.self_attn.load_torch_weights(layer.self_attn)
        self.cross_attn.load_torch_weights(layer.multihead_attn)
        _copy_ffn_and_norms(self, layer, n_norms=3)
        return self


@torch.no_grad()
def _copy_ffn_and_norms(ours: nn.Module, theirs: nn.Module, n_norms: int) -> None:
    act = theirs.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        want = "relu"
    elif act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        want = "gelu"
    else:
        raise ValueError(f"load_torch_weights expected a torch layer with activation relu or gelu, got {act}")
    if ours.ffn.activation != want or ours.norm_first != theirs.norm_first:
        raise ValueError(f"load_torch_weights expected the same activation and norm_first on both layers, got "
                         f"ours ({ours.ffn.activation}, norm_first={ours.norm_first}) and torch's "
                         f"({want}, norm_first={theirs.norm_first})")
    pairs = [(ours.ffn.linear1, theirs.linear1), (ours.ffn.linear2, theirs.linear2)]
    pairs += [(getattr(ours, f"norm{i}"), getattr(theirs, f"norm{i}")) for i in range(1, n_norms + 1)]
    for a, b in pairs:
        a.weight.copy_(b.weight)
        if a.bias is not None:
            a.bias.copy_(b.bias)


# ----------------------------------------------------------------------------- stacks

class Encoder(nn.Module):
    """N encoder layers; a final LayerNorm for pre-norm stacks (their residual stream is never normalised)."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, **layer_kwargs) -> None:
        super().__init__()
        _validate.positive_int(n_layers, "n_layers", "Encoder")
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff, **layer_kwargs) for _ in range(n_layers))
        self.norm = LayerNorm(d_model) if layer_kwargs.get("norm_first", False) else nn.Identity()

    def forward(self, x: torch.Tensor, *, src_key_padding_mask: torch.Tensor | None = None,
                need_weights: bool = False) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=src_key_padding_mask, need_weights=need_weights)
        return self.norm(x)                                                   # (B, S, C)


class Decoder(nn.Module):
    """N decoder layers with causal self-attention and cross-attention to the memory."""

    def __init__(self, n_layers: int, d_model: int, n_heads: int, d_ff: int, **layer_kwargs) -> None:
        super().__init__()
        _validate.positive_int(n_layers, "n_layers", "Decoder")
        self.layers = nn.ModuleList(DecoderLayer(d_model, n_heads, d_ff, **layer_kwargs) for _ in range(n_layers))
        self.norm = LayerNorm(d_model) if layer_kwargs.get("norm_first", False) else nn.Identity()

    def forward(self, x: torch.Tensor, memory: torch.Tensor, *, tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None, need_weights: bool = False) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, tgt_is_causal=True, tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask, need_weights=need_weights)
        return self.norm(x)                                                   # (B, T, C)

    def cross_weights(self) -> torch.Tensor:
        """(L, B, H, Tq, Tk): the cross-attention of every layer in the last call with need_weights=True."""
        if any(layer.cross_weights is None for layer in self.layers):
            raise ValueError("Decoder.cross_weights expected a previous forward call with need_weights=True")
        return torch.stack([layer.cross_weights for layer in self.layers])


# ----------------------------------------------------------------------------- the full model

@dataclass
class TransformerConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    dropout: float = 0.1
    activation: str = "relu"
    norm_first: bool = False
    positions: str = "sinusoidal"     # or "learned"
    max_len: int = 128
    pad_id: int = 0                   # the same padding id in source and target vocabularies


class Transformer(nn.Module):
    """Encoder-decoder Transformer: logits = W_out Decoder(Embed(tgt) + P, Encoder(Embed(src) + P)).

    Token embeddings are multiplied by sqrt(d_model) (as in the paper) so they are not
    drowned by the positional encodings.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.positions not in ("sinusoidal", "learned"):
            raise ValueError(f"TransformerConfig.positions should be 'sinusoidal' or 'learned', got {config.positions!r}")
        self.config = c = config
        self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model, padding_idx=c.pad_id)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.d_model, padding_idx=c.pad_id)
        Pos = SinusoidalPositionalEncoding if c.positions == "sinusoidal" else LearnedPositionalEncoding
        self.src_pos, self.tgt_pos = Pos(c.d_model, c.max_len), Pos(c.d_model, c.max_len)
        self.dropout = nn.Dropout(c.dropout)
        kw = dict(dropout=c.dropout, activation=c.activation, norm_first=c.norm_first)
        self.encoder = Encoder(c.n_encoder_layers, c.d_model, c.n_heads, c.d_ff, **kw)
        self.decoder = Decoder(c.n_decoder_layers, c.d_model, c.n_heads, c.d_ff, **kw)
        self.lm_head = nn.Linear(c.d_model, c.tgt_vocab_size)

    def _embed(self, ids: torch.Tensor, embed: nn.Embedding, pos: nn.Module, name: str) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or ids.dtype != torch.long:
            got = f"{tuple(ids.shape)} {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ValueError(f"Transformer expected {name} token ids as a (B, T) torch.long tensor, got {got}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= embed.num_embeddings):
            raise ValueError(f"Transformer expected {name} ids in [0, {embed.num_embeddings}), got values in "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return self.dropout(pos(embed(ids) * math.sqrt(self.config.d_model)))  # (B, T, C)

    def encode(self, src: torch.Tensor, *, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) ids -> memory (B, S, C) and its padding mask (B, S), True at padding."""
        src_pad = src == self.config.pad_id
        memory = self.encoder(self._embed(src, self.src_embed, self.src_pos, "source"),
                              src_key_padding_mask=src_pad, need_weights=need_weights)
        return memory, src_pad

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_pad: torch.Tensor, *,
               need_weights: bool = False) -> torch.Tensor:
        """tgt (B, T) ids -> logits (B, T, V_tgt) for the next token at every position."""
        x = self.decoder(self._embed(tgt, self.tgt_embed, self.tgt_pos, "target"), memory,
                         memory_key_padding_mask=src_pad, need_weights=need_weights)
        return self.lm_head(x)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """(B, S) source ids, (B, T) target ids (starting with BOS) -> (B, T, V_tgt) logits."""
        memory, src_pad = self.encode(src)
        return self.decode(tgt, memory, src_pad)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, *, bos_id: int, eos_id: int, max_len: int = 32) -> torch.Tensor:
        """Generate target ids one at a time, always taking the most likely next token.

        Returns (B, <= max_len + 1) ids starting with BOS; after a row emits EOS it is padded.
        """
        was_training = self.training
        self.eval()
        memory, src_pad = self.encode(src)
        out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)   # (B, 1)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = self.decode(out, memory, src_pad)[:, -1]                # (B, V) for the last position
            nxt = logits.argmax(-1).masked_fill(done, self.config.pad_id)    # (B,)
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt == eos_id
            if done.all():
                break
        self.train(was_training)
        return out


# ----------------------------------------------------------------------------- checking the inputs

def _check_features(x: object, d_model: int, fn: str, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{fn} expected {name} to be a floating-point tensor, got {got}")
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{fn} expected {name} of shape (B, T, {d_model}), got {tuple(x.shape)}")
    return x
