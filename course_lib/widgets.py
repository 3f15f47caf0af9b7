"""Attention views in core ipywidgets: heatmaps, bertviz's head, model and neuron views, and more (chapters 04-10).

    from course_lib.widgets import attention_view, head_view, model_view, neuron_view, compare_view
    attention_view(weights, tokens)            # weights (Tq, Tk) or (H, Tq, Tk): one layer, a heatmap per head
    attention_view(stack, tokens, layer_names=["layer 1", "layer 2"])   # (L, H, Tq, Tk): layers, said so
    head_view(weights, tokens)                 # every head of a layer overlaid, one colour each, heads toggled
    model_view(gpt, tokens, ids=ids)           # a course model, run with need_weights: L x H thumbnails
    neuron_view(gpt, tokens, ids=ids, layer=1, head=0)   # q, k, q*k, q.k, / sqrt(d), softmax for a query/key
    compare_view(before, after, tokens, ids=ids, kind="model")   # two models side by side, linked controls
    plot_attention(weights, tokens, head="mean")   # a plain matplotlib Figure
    view.save("attention.png")                 # the current selection as .png or .svg

Models (``model_attention``): ``course_lib.gpt.GPT``, ``course_lib.bert.BertModel`` and
``BertForPreTraining``, the encoder-decoder ``course_lib.transformer.Transformer`` (part "encoder",
"decoder" or "cross"), and one ``course_lib.attention.MultiHeadAttention`` module run on vectors ``x``.
They run on ONE sequence: ids (T,) or (1, T); a batch (B, T) is refused.

Four axes are ambiguous: ``MultiHeadAttention`` returns (B, H, Tq, Tk) for a batch, a stack of
layers is (L, H, Tq, Tk), and the shape cannot tell them apart. So 4-D weights are accepted
only with the layers named (``layer_names=`` for the views, ``layer=`` for the plots); a batch
goes in one item at a time, ``weights[b]``. Five axes (L, B, H, Tq, Tk), as
``Decoder.cross_weights()`` and ``GPT.attention_maps()`` return them, go in as ``weights[:, b]``.

Colour scales: ``scale="map"`` colours each map by its own maximum, ``scale="shared"`` by the
maximum over every head and layer (and over both sides of a compare_view), so that a diffuse head
looks pale next to a sharp one; a colour bar under every heatmap says which scale it uses.

How the widgets work, and why they work everywhere
---------------------------------------------------
An attention map is small and known in advance, so nothing needs to be computed when a
learner clicks. Every picture is drawn once in Python (SVG strings, PNG thumbnails) and put
in core ``ipywidgets.HTML`` widgets inside ``widgets.Stack``s; selectors are linked to the Stacks
with ``widgets.jslink``, a link that lives in the browser. Where a choice cannot be a Stack index
(heads switched on and off, the key of the neuron view, the thumbnails' pictures) a <style> in
an HTML widget reads the state the core widgets already put in the page: a ToggleButton's
``mod-active`` class, a Dropdown's ``option:checked``, a ToggleButtons button's ``value``
attribute (CSS ``:has()``). Hence:

* no custom JavaScript, no CDN, no build step: only core ipywidgets 8 models, so the views
  work in JupyterLab 4, Notebook 7, VS Code, Colab, and in a static HTML page (``nbconvert --to html``,
  Jupyter Book) with no kernel at all, where every control still works;
* hovering (or clicking) a token highlights what it reads (or who reads it): plain CSS in the SVG;
* without a widget front end (GitHub, nbviewer, plain nbconvert output, an untrusted notebook)
  the mime bundle also carries a PNG of every head as small multiples, drawn with matplotlib.

Long sequences: at most ``max_tokens`` (default 64; 16 for the neuron view) query and key tokens are
drawn, the first ones; the view then prints a note saying so. Large heatmaps are embedded as a small
PNG (one pixel per cell) inside the SVG; the head view drops lines lighter than ``MIN_LINE_WEIGHT``
and keeps the ``MAX_LINES_PER_QUERY`` heaviest per query token and head.

What a view costs: all its pictures travel to the browser and are stored in the notebook with
the widget state, plus the static PNG in the output. benchmarks/widgets.py measures each view
(bytes stored, seconds to build); pass a smaller ``max_tokens`` to keep a chapter light.
"""
from __future__ import annotations

import base64
import html
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ipywidgets as widgets
import numpy as np

from ._validate import to_numpy

__all__ = ["attention_view", "head_view", "model_view", "neuron_view", "compare_view", "model_attention",
           "plot_attention", "plot_head_view", "AttentionWidget", "HeadView", "ModelView", "NeuronView",
           "CompareView", "ModelAttention", "as_attention_array"]

MEAN = "mean"                 # the head selector's "average of heads" choice
RECT_CELLS_MAX = 144          # up to 12 x 12 cells: one <rect> per cell, each with a tooltip
MIN_LINE_WEIGHT = 0.02        # the head view draws no line lighter than this
MAX_LINES_PER_QUERY = 10      # ... and at most this many lines per query token
CMAP = "Blues"
HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
MEAN_COLOUR = "#333333"


# --------------------------------------------------------------------------------------------
# input checking: every learner mistake becomes one sentence
# --------------------------------------------------------------------------------------------

def as_attention_array(weights: Any, *, layers: bool = False, atol: float | None = None) -> np.ndarray:
    """Check attention weights and return them as a float64 array of shape (L, H, Tq, Tk).

    Accepted: numpy arrays or torch tensors of shape (Tq, Tk), (H, Tq, Tk), or (L, H, Tq, Tk)
    with ``layers=True`` (four axes may just as well be a batch (B, H, Tq, Tk): the caller must
    say that the first one is layers), finite, non-negative, each row a probability
    distribution: sum_k w[q, k] = 1 within
    ``atol`` (default 1e-3, or 2e-2 for float16/bfloat16 inputs, whose rounding is coarse).
    A row of zeros (a query that was fully masked) is accepted and drawn blank.
    """
    if atol is None:
        half = str(getattr(weights, "dtype", "")) in ("torch.float16", "torch.bfloat16", "float16")
        atol = 2e-2 if half else 1e-3
    try:
        w = to_numpy(weights)
    except Exception as exc:  # e.g. a ragged list
        raise ValueError(f"attention weights should be an array or tensor, got {type(weights).__name__} "
                         f"that numpy cannot read ({exc})") from None
    if w.dtype == object or not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)
                                 or w.dtype == bool):
        raise ValueError(f"attention weights should be real numbers, got dtype {w.dtype}")
    shape = w.shape
    if w.ndim not in (2, 3, 4):
        hint = (" (index the batch dimension away first: weights[:, b] for the (L, B, H, Tq, Tk) maps of "
                "Decoder.cross_weights() or GPT.attention_maps())" if w.ndim == 5 else "")
        raise ValueError(f"attention weights should have shape (Tq, Tk), (H, Tq, Tk) or (L, H, Tq, Tk), "
                         f"got {w.ndim} dimensions with shape {shape}{hint}")
    if w.ndim == 4 and not layers:
        raise ValueError(
            f"attention weights of shape {shape} have four axes, and the shape cannot tell a batch from "
            f"layers: MultiHeadAttention and scaled_dot_product_attention return (B, H, Tq, Tk) for a batch, "
            f"a stack of layers is (L, H, Tq, Tk). For batch item b pass weights[b] (H, Tq, Tk); for "
            f"layers, say so: layer_names=[...] (one name per layer) in attention_view/head_view, "
            f"layer=... in plot_attention/plot_head_view")
    if 0 in shape:
        raise ValueError(f"attention weights should not be empty, got shape {shape}")
    w = w.astype(np.float64).reshape((1,) * (4 - w.ndim) + shape)  # (L, H, Tq, Tk)
    if not np.isfinite(w).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(w))[0])
        raise ValueError(f"attention weights should be finite, found {w[idx]} at (layer, head, query, key) = {idx}")
    if (w < 0).any():
        idx = tuple(int(i) for i in np.argwhere(w < 0)[0])
        raise ValueError(f"attention weights should be >= 0 (they come out of a softmax), found {w[idx]:.4g} "
                         f"at (layer, head, query, key) = {idx}")
    sums = w.sum(axis=-1)                                      # (L, H, Tq)
    bad = (np.abs(sums - 1.0) > atol) & (sums != 0.0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"each row of attention weights should sum to 1 over the keys (last axis), row "
                         f"(layer, head, query) = {idx} sums to {sums[idx]:.6g}; did you pass scores "
                         f"before the softmax, softmax over the wrong axis, or cut off some keys? (to show "
                         f"only the first tokens, pass all the weights and set max_tokens)")
    return w


def _check_tokens(tokens: Any, n: int, what: str, axis_name: str) -> list[str]:
    if isinstance(tokens, str):
        raise ValueError(f"{what} should be a list of {n} strings, got one string {tokens[:30]!r} "
                         f"(for characters use list(text))")
    if hasattr(tokens, "tolist") and not isinstance(tokens, (list, tuple)):
        tokens = tokens.tolist()
    if not isinstance(tokens, Sequence):
        raise ValueError(f"{what} should be a list of {n} strings, got {type(tokens).__name__}")
    tokens = [str(t) for t in tokens]
    if len(tokens) != n:
        raise ValueError(f"{what} has {len(tokens)} entries but the weights have {n} {axis_name}")
    return tokens


@dataclass
class _Prepared:
    """Checked, capped inputs shared by every view."""
    weights: np.ndarray          # (L, H, Tq, Tk), capped
    tokens: list[str]            # Tk key tokens
    query_tokens: list[str]      # Tq query tokens
    layer_names: list[str]       # "" when the input had no layer axis
    note: str | None             # what was left out, or None
    has_heads: bool = True       # False for one (Tq, Tk) map: no head to name


def _prepare(weights: Any, tokens: Any, query_tokens: Any, layer_names: Any, max_tokens: int,
             *, layers: bool = False) -> _Prepared:
    w = as_attention_array(weights, layers=layers or layer_names is not None)
    in_ndim = len(weights.shape) if hasattr(weights, "shape") else np.ndim(weights)
    L, H, Tq, Tk = w.shape
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
        raise ValueError(f"max_tokens should be a positive integer, got {max_tokens!r}")
    keys = _check_tokens(tokens, Tk, "tokens", "keys (Tk, last axis)")
    if query_tokens is None:
        if Tq != Tk:
            raise ValueError(f"the weights have Tq={Tq} queries and Tk={Tk} keys: for cross-attention pass "
                             f"query_tokens (the {Tq} query tokens) as well as tokens (the {Tk} key tokens)")
        queries = keys
    else:
        queries = _check_tokens(query_tokens, Tq, "query_tokens", "queries (Tq, second-to-last axis)")
    if layer_names is None:
        names = [f"layer {i}" for i in range(L)] if in_ndim == 4 else [""]   # no layer axis: no layer label
    else:
        names = _check_tokens(layer_names, L, "layer_names", "layers (L, first axis of (L, H, Tq, Tk))")
    note = None
    if Tq > max_tokens or Tk > max_tokens:
        w = w[:, :, :max_tokens, :max_tokens]
        parts = [f"the first {min(Tq, max_tokens)} of {Tq} query tokens" if Tq > max_tokens else None,
                 f"the first {min(Tk, max_tokens)} of {Tk} key tokens" if Tk > max_tokens else None]
        note = (f"Note: showing {' and '.join(p for p in parts if p)} (max_tokens={max_tokens})"
                + ("; the rows are cut, so they no longer sum to 1." if Tk > max_tokens else "."))
        keys, queries = keys[:max_tokens], queries[:max_tokens]
    return _Prepared(w, keys, queries, names, note, has_heads=in_ndim >= 3)


def _head_weights(w: np.ndarray, layer: int, head: int | str) -> np.ndarray:
    """The (Tq, Tk) map for one layer and one head, or the mean over heads."""
    L, H = w.shape[:2]
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < L:
        raise ValueError(f"layer should be an integer in [0, {L}), got {layer!r}")
    if isinstance(head, str):
        if head != MEAN:
            raise ValueError(f"head should be an integer in [0, {H}) or 'mean', got {head!r}")
        return w[layer].mean(axis=0)                           # (Tq, Tk)
    if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < H:
        raise ValueError(f"head should be an integer in [0, {H}) or 'mean', got {head!r}")
    return w[layer, head]


# --------------------------------------------------------------------------------------------
# SVG pictures (what the widget shows)
# --------------------------------------------------------------------------------------------

def _display_token(tok: str, width: int = 12) -> str:
    """Make whitespace visible and cut long tokens: ' ' -> '␣', '\\n' -> '↵'."""
    tok = tok.replace("\n", "↵").replace("\t", "⇥").replace(" ", "␣") if tok.strip() == "" else tok
    tok = tok.replace("\n", "↵")
    return tok if len(tok) <= width else tok[: width - 1] + "…"


def _text_width(text: str, font_px: float) -> float:
    """Rough rendered width: wide (CJK) characters count double."""
    units = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return units * font_px * 0.62


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _hex_colours(values: np.ndarray, vmax: float) -> np.ndarray:
    """Map weights in [0, vmax] to '#rrggbb' strings of the CMAP colour map (darker = heavier)."""
    from matplotlib import colormaps

    rgba = colormaps[CMAP](np.clip(values / vmax, 0.0, 1.0))
    rgb = np.round(rgba[..., :3] * 255).astype(int)
    return np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.reshape(-1, 3)]).reshape(values.shape)


def _png_data_uri(values: np.ndarray, vmax: float) -> str:
    """A (Tq, Tk) map as a PNG with one pixel per cell, base64-encoded for an <image> tag."""
    from matplotlib import colormaps
    from matplotlib.image import imsave

    rgba = colormaps[CMAP](np.clip(values / vmax, 0.0, 1.0))
    buf = io.BytesIO()
    imsave(buf, rgba, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_HEATMAP_CSS = (
    ".clw-row .clw-hl{fill:none;stroke:none;pointer-events:none}"
    ".clw-row:hover .clw-hl,.clw-row:focus .clw-hl{stroke:#e65c00;stroke-width:2;fill:rgba(255,140,0,.12)}"
    ".clw-row:hover text,.clw-row:focus text{fill:#e65c00;font-weight:bold}"
    ".clw-row:focus{outline:none}"
    ".clw-hit{fill:transparent}"
)


def _top_keys(row: np.ndarray, keys: list[str], k: int = 3) -> str:
    order = np.argsort(-row, kind="stable")[:k]
    return ", ".join(f"{_display_token(keys[j])} {row[j]:.2f}" for j in order if row[j] > 0)


def heatmap_svg(w: np.ndarray, keys: list[str], queries: list[str], *, caption: str = "",
                vmax: float | None = None, scale_label: str = "this map's own scale") -> str:
    """An SVG heatmap of one (Tq, Tk) attention map: rows = queries, columns = keys.

    Cell (q, k) is coloured by w[q, k] / vmax on the 'Blues' map, vmax = max(w) (this map's
    own scale) unless a shared one is given; a colour bar says which. Small maps get one
    <rect> per cell with a tooltip; large ones one PNG pixel per cell (a light page).
    Hovering or clicking a row (a query token) highlights it with CSS only.
    """
    Tq, Tk = w.shape                                           # (Tq, Tk)
    vmax = (float(w.max()) or 1.0) if vmax is None else float(vmax)
    cell = int(np.clip(560 // max(Tq, Tk), 9, 30))           # whole pixels: crisp, short SVG
    font = float(min(12.0, max(8.0, cell * 0.85)))
    angle = -60 if cell >= 14 else -90                         # steep key labels when cells are narrow
    qlabels = [_display_token(t) for t in queries]
    klabels = [_display_token(t) for t in keys]
    left = round(max(_text_width(t, font) for t in qlabels) + 8)
    top = 26 + max(_text_width(t, font) for t in klabels) * (0.87 if angle == -60 else 1.0) + 6  # title, keys
    foot = "hover a query token to highlight its row"
    bar_label = f"{scale_label}: 0 to {vmax:.3g}"
    width = max(left + Tk * cell + 10, _text_width(caption, 13) + 10, _text_width(foot, 11) + 10,
                _colour_bar_width(bar_label) + 10)
    top, height = round(top), round(top + Tq * cell + 24 + _BAR_HEIGHT)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="clw-heatmap" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'font-family="sans-serif" font-size="{font:.0f}">',
           f"<style>{_HEATMAP_CSS}</style>",
           f'<text class="clw-caption" x="4" y="16" font-size="13" font-weight="bold">{_esc(caption)}</text>']
    for j, lab in enumerate(klabels):                          # key labels along the top
        x, y = left + (j + 0.5) * cell, top - 4
        out.append(f'<text transform="translate({x:.1f},{y:.1f}) rotate({angle})" dominant-baseline="central">{_esc(lab)}</text>')
    as_rects = Tq * Tk <= RECT_CELLS_MAX
    if not as_rects:                                           # one pixel per cell, scaled up
        out.append(f'<image class="clw-cells" x="{left:.1f}" y="{top:.1f}" width="{Tk * cell:.1f}" '
                   f'height="{Tq * cell:.1f}" preserveAspectRatio="none" style="image-rendering:pixelated" '
                   f'href="{_png_data_uri(w, vmax)}"/>')
    colours = _hex_colours(w, vmax) if as_rects else None
    for i, lab in enumerate(qlabels):
        y = top + i * cell
        out.append(f'<g class="clw-row" data-query="{i}" tabindex="0">'
                   f"<title>query {_esc(lab)} reads: {_esc(_top_keys(w[i], keys))}</title>"
                   f'<text x="{left - 4:.1f}" y="{y + cell / 2:.1f}" text-anchor="end" '
                   f'dominant-baseline="central">{_esc(lab)}</text>')
        if as_rects:
            for j in range(Tk):
                out.append(f'<rect class="clw-cell" data-k="{j}" data-w="{w[i, j]:.4f}" x="{left + j * cell:.0f}" '
                           f'y="{y:.0f}" width="{cell}" height="{cell}" fill="{colours[i, j]}">'
                           f"<title>{_esc(lab)} → {_esc(klabels[j])}: {w[i, j]:.3f}</title></rect>")
        else:
            out.append(f'<rect class="clw-hit" x="{left:.1f}" y="{y:.1f}" width="{Tk * cell:.1f}" '
                       f'height="{cell:.1f}"/>')
        out.append(f'<rect class="clw-hl" x="1" y="{y:.1f}" width="{left + Tk * cell - 1:.1f}" '
                   f'height="{cell:.1f}"/></g>')
    out.append(_colour_bar_svg(4, top + Tq * cell + 8, vmax, bar_label))
    out.append(f'<text x="4" y="{height - 8:.1f}" font-size="11" fill="#555">{_esc(foot)}</text></svg>')
    return "".join(out)


_BAR_HEIGHT = 26              # the colour bar under a heatmap: 12 px of colour, a label line
_BAR_STEPS = 10


def _colour_bar_width(label: str) -> float:
    return 20 * _BAR_STEPS + 8 + _text_width(label, 11)


def _colour_bar_svg(x: float, y: float, vmax: float, label: str) -> str:
    """A colour bar of _BAR_STEPS rects from 0 to vmax, the same map as the cells, and what its ends mean."""
    levels = np.linspace(0.0, vmax, _BAR_STEPS)
    fills = _hex_colours(levels, vmax)
    out = [f'<g class="clw-bar" data-vmax="{vmax:.6g}">']
    out += [f'<rect x="{x + 20 * i:.0f}" y="{y:.0f}" width="20" height="12" fill="{f}"/>' for i, f in enumerate(fills)]
    out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{20 * _BAR_STEPS}" height="12" fill="none" stroke="#999"/>')
    out.append(f'<text x="{x + 20 * _BAR_STEPS + 6:.0f}" y="{y + 10:.0f}" font-size="11" fill="#333">'
               f"{_esc(label)}</text></g>")
    return "".join(out)


_LINES_CSS = (
    ".clw-q text,.clw-k{cursor:default}"
    ".clw-q:hover text,.clw-q:focus text{fill:#e65c00;font-weight:bold}"
    ".clw-q:hover path,.clw-q:focus path{stroke-width:3.5}"
    ".clw-lines:has(.clw-q:hover) .clw-q:not(:hover) path{opacity:.12}"
    ".clw-q:focus{outline:none}"
)


def lines_svg(w: np.ndarray, keys: list[str], queries: list[str], *, colour: str = HEAD_COLOURS[0],
              caption: str = "") -> str:
    """A bertviz-style SVG: query tokens on the left, key tokens on the right, one line per
    (query, key) pair whose opacity is the weight w[q, k]. Lines lighter than MIN_LINE_WEIGHT
    are dropped and at most MAX_LINES_PER_QUERY are drawn per query (the heaviest)."""
    Tq, Tk = w.shape                                           # (Tq, Tk)
    row, font, qlabels, klabels, left = _lines_layout(Tq, Tk, keys, queries)
    gap = 180.0
    right_w = max(_text_width(t, font) for t in klabels) + 12
    xq, xk = left - 4, left + gap + 4                          # line ends
    y0 = 30.0                                                  # below the title
    kept = [_kept_lines(w[i]) for i in range(Tq)]
    dropped = int((w > 0).sum()) - sum(len(k) for k in kept)
    foot = ["line opacity = weight; hover a query token (left) to see where it looks"]
    if dropped:
        foot.append(f"{dropped} faint lines not drawn (weight < {MIN_LINE_WEIGHT} "
                    f"or beyond the {MAX_LINES_PER_QUERY} heaviest per query)")
    width = max(left + gap + right_w, _text_width(caption, 13) + 10, *(_text_width(f, 11) + 10 for f in foot))
    height = y0 + max(Tq, Tk) * row + 8 + 15 * len(foot)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="clw-lines" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'font-family="sans-serif" font-size="{font:.0f}">',
           f"<style>{_LINES_CSS}</style>",
           f'<text class="clw-caption" x="4" y="16" font-size="13" font-weight="bold">{_esc(caption)}</text>']
    for j, lab in enumerate(klabels):
        y = y0 + (j + 0.5) * row
        out.append(f'<text class="clw-k" x="{xk + 4:.1f}" y="{y:.1f}" dominant-baseline="central">'
                   f"{_esc(lab)}</text>")
    for i, lab in enumerate(qlabels):
        y = y0 + (i + 0.5) * row
        out.append(f'<g class="clw-q" data-query="{i}" tabindex="0" stroke="{colour}" stroke-width="2">'
                   f"<title>query {_esc(lab)} reads: {_esc(_top_keys(w[i], keys))}</title>"
                   f'<text x="{xq - 4:.1f}" y="{y:.1f}" text-anchor="end" dominant-baseline="central" '
                   f'stroke="none">{_esc(lab)}</text>')
        for j in kept[i]:
            yk = y0 + (j + 0.5) * row
            opacity = f"{w[i, j]:.2f}".lstrip("0")
            out.append(f'<path d="M{xq:.0f} {y:.1f}L{xk:.0f} {yk:.1f}" stroke-opacity="{opacity}"/>')
        out.append("</g>")
    for n, line in enumerate(foot):
        out.append(f'<text x="4" y="{height - 8 - 15 * (len(foot) - 1 - n):.1f}" font-size="11" fill="#555">'
                   f"{_esc(line)}</text>")
    out.append("</svg>")
    return "".join(out)


def _lines_layout(Tq: int, Tk: int, keys: list[str], queries: list[str]) -> tuple[float, float, list[str], list[str], float]:
    """Row height, font size, shown labels and left margin of a picture with queries left and keys right."""
    row = float(np.clip(640 / max(Tq, Tk), 11, 20))
    font = float(min(13.0, row * 0.75))
    qlabels = [_display_token(t) for t in queries]
    klabels = [_display_token(t) for t in keys]
    return row, font, qlabels, klabels, max(_text_width(t, font) for t in qlabels) + 12


def _kept_lines(row: np.ndarray) -> list[int]:
    """Keys whose line is drawn for one query row: the MAX_LINES_PER_QUERY heaviest >= MIN_LINE_WEIGHT."""
    order = np.argsort(-row, kind="stable")[:MAX_LINES_PER_QUERY]
    return sorted(int(j) for j in order if row[j] >= MIN_LINE_WEIGHT)


# --------------------------------------------------------------------------------------------
# matplotlib pictures (static fallback, save(), and plots in the chapters)
# --------------------------------------------------------------------------------------------

def _new_figure(width: float, height: float, *, pyplot: bool):
    """A Figure at dpi 80. With pyplot=True it is registered with pyplot like plt.subplots
    (shown at the end of a notebook cell, or by plt.show()); otherwise it is a detached
    Figure that never pops up (used for the widget's static picture and for save())."""
    if pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=(width, height), dpi=80, layout="constrained")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout="constrained")


def _view_title(layer_names: list[str], layer: int, head: int | str, has_heads: bool = True) -> str:
    """'layer 1, head 0' for a stack of layers, 'head 0' for one layer, 'attention weights' for one map."""
    parts = [layer_names[layer]] if layer_names[layer] else []
    if has_heads:
        parts.append("mean of heads" if head == MEAN else f"head {head}")
    return ", ".join(parts) or "attention weights"


def _head_colour(head: int | str) -> str:
    return MEAN_COLOUR if head == MEAN else HEAD_COLOURS[int(head) % len(HEAD_COLOURS)]


def plot_attention(weights: Any, tokens: Any, query_tokens: Any = None, *, layer: int | None = None,
                   head: int | str = 0, ax: Any = None, max_tokens: int = 64):
    """Draw one attention map as a matplotlib heatmap and return the Figure.

    weights: (Tq, Tk), (H, Tq, Tk), or (L, H, Tq, Tk) with ``layer`` given (which says that the
    first axis is layers, not a batch); rows are query tokens, columns key tokens, and cell
    (q, k) is how much query q reads key k (softmax over k, rows sum to 1).
    head may be 'mean' for the average over heads. Give ``ax`` to draw into your own axes;
    otherwise a new pyplot figure is made (shown by plt.show() or at the end of the cell, so
    write ``fig = plot_attention(...)`` rather than ending the cell with the call: that would
    show it twice).
    """
    p = _prepare(weights, tokens, query_tokens, None, max_tokens, layers=layer is not None)
    layer = 0 if layer is None else layer
    w = _head_weights(p.weights, layer, head)                  # (Tq, Tk)
    if p.note:
        print(p.note)
    return _draw_heatmap(w, p.tokens, p.query_tokens, ax=ax, pyplot=True,
                         title=_view_title(p.layer_names, layer, head, p.has_heads))


def _draw_heatmap(w: np.ndarray, keys: list[str], queries: list[str], *, ax: Any = None,
                  pyplot: bool = False, title: str = "", vmax: float | None = None):
    Tq, Tk = w.shape                                           # (Tq, Tk)
    if ax is None:
        size = float(np.clip(0.28 * max(Tq, Tk) + 2, 3.5, 10))
        ax = _new_figure(size * 1.1, size, pyplot=pyplot).add_subplot()
    fig = ax.figure
    vmax = (float(w.max()) or 1.0) if vmax is None else vmax
    im = ax.imshow(w, cmap=CMAP, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    fs = 9 if max(Tq, Tk) <= 32 else 6
    ax.set_xticks(range(Tk), [_display_token(t) for t in keys], rotation=60, ha="right", fontsize=fs)
    ax.set_yticks(range(Tq), [_display_token(t) for t in queries], fontsize=fs)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
    return fig


def plot_head_view(weights: Any, tokens: Any, query_tokens: Any = None, *, layer: int | None = None,
                   head: int | str = 0, ax: Any = None, max_tokens: int = 64):
    """Draw the head view (query tokens left, key tokens right, line opacity = weight) and
    return the Figure; the same lines as the widget's (see MIN_LINE_WEIGHT)."""
    p = _prepare(weights, tokens, query_tokens, None, max_tokens, layers=layer is not None)
    layer = 0 if layer is None else layer
    w = _head_weights(p.weights, layer, head)                  # (Tq, Tk)
    if p.note:
        print(p.note)
    return _draw_lines(w, p.tokens, p.query_tokens, colour=_head_colour(head), ax=ax, pyplot=True,
                       title=_view_title(p.layer_names, layer, head, p.has_heads))


def _draw_lines(w: np.ndarray, keys: list[str], queries: list[str], *, colour: str, ax: Any = None,
                pyplot: bool = False, title: str = ""):
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    Tq, Tk = w.shape                                           # (Tq, Tk)
    n = max(Tq, Tk)
    if ax is None:
        ax = _new_figure(4.5, float(np.clip(0.25 * n + 1, 3, 14)), pyplot=pyplot).add_subplot()
    fig = ax.figure
    fs = 9 if n <= 32 else 6
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(n - 0.5, -0.5)
    ax.axis("off")
    for i, t in enumerate(queries):
        ax.text(-0.02, i, _display_token(t), ha="right", va="center", fontsize=fs)
    for j, t in enumerate(keys):
        ax.text(1.02, j, _display_token(t), ha="left", va="center", fontsize=fs)
    pairs = [(i, j) for i in range(Tq) for j in _kept_lines(w[i])]
    segments = [[(0.0, i), (1.0, j)] for i, j in pairs]
    colours = [to_rgba(colour, float(min(w[i, j], 1.0))) for i, j in pairs]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=1.5))
    if title:
        ax.set_title(title)
    return fig


def _figure_bytes(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=80)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# the widget
# --------------------------------------------------------------------------------------------

class _SavesPictures:
    """save(path): the current selection as a .png or .svg picture (figure() draws it); the mime bundle
    carries, beside the widget, a PNG of static_figure() for front ends that cannot show widgets."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _bundle_with_png(self, super()._repr_mimebundle_(**kwargs))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise ValueError(f"save() writes .png or .svg files, got the suffix {path.suffix!r} in {path.name!r}")
        path.write_bytes(_figure_bytes(self.figure(), fmt))
        return path


class AttentionWidget(_SavesPictures, widgets.VBox):
    """A VBox of core ipywidgets: [title], selectors, Stack of layers (each a Stack of heads + mean), [note].

    Useful attributes: ``layer_select`` and ``head_select`` (Dropdowns), ``stack`` (the outer
    Stack, one child per layer), ``weights`` (L, H, Tq, Tk) as drawn, ``note`` (capping note or
    None), ``selection`` (the (layer, head) shown now; head H is the mean of heads).
    """

    def __init__(self, prepared: _Prepared, kind: Literal["heatmap", "lines"], title: str | None,
                 scale: str = "map", vmax: float | None = None):
        self.weights = prepared.weights                        # (L, H, Tq, Tk)
        self.scale = _check_scale(scale)
        self.vmax = _shared_vmax(self.weights) if vmax is None else float(vmax)   # used when scale="shared"
        self.tokens, self.query_tokens = prepared.tokens, prepared.query_tokens
        self.layer_names, self.note, self.kind, self.title = prepared.layer_names, prepared.note, kind, title
        self.has_heads = prepared.has_heads
        L, H = self.weights.shape[:2]
        head_options = [(f"head {h}", h) for h in range(H)] + [("mean of heads", H)]
        self.layer_select = widgets.Dropdown(options=[(n or "one layer", i) for i, n in enumerate(self.layer_names)],
                                             value=0, description="layer", layout=widgets.Layout(width="220px"),
                                             disabled=L == 1)
        self.head_select = widgets.Dropdown(options=head_options, value=0, description="head",
                                            layout=widgets.Layout(width="220px"))
        layer_stacks, self.links = [], []                      # links: the client-side jslinks
        for layer in range(L):
            pages = [widgets.HTML(self.svg(layer, h)) for h in range(H)] + [widgets.HTML(self.svg(layer, MEAN))]
            inner = widgets.Stack(pages, selected_index=0)
            self.links.append(widgets.jslink((self.head_select, "index"), (inner, "selected_index")))
            layer_stacks.append(inner)
        self.stack = widgets.Stack(layer_stacks, selected_index=0)
        self.links.append(widgets.jslink((self.layer_select, "index"), (self.stack, "selected_index")))
        children: list[Any] = []
        if title:
            children.append(widgets.HTML(f"<b>{_esc(title)}</b>"))
        children.append(widgets.HBox([self.layer_select, self.head_select]))
        children.append(self.stack)
        if self.note:
            children.append(widgets.HTML(f'<span style="color:#8a4b00">{_esc(self.note)}</span>'))
        super().__init__(children)
        self.add_class("clw-view-attention")                   # what a page (or a browser test) finds it by

    # what is shown -----------------------------------------------------------------------
    @property
    def selection(self) -> tuple[int, int | str]:
        """(layer, head) currently selected; head is 'mean' for the average of heads."""
        H = self.weights.shape[1]
        layer = self.layer_select.index or 0
        head = self.head_select.index or 0
        return layer, (MEAN if head == H else head)

    def svg(self, layer: int, head: int | str) -> str:
        """The pre-rendered SVG for one layer and head (or 'mean')."""
        w = _head_weights(self.weights, layer, head)           # (Tq, Tk)
        caption = _view_title(self.layer_names, layer, head, self.has_heads)
        if self.kind == "heatmap":
            vmax, label = _scale_of(w, self.scale, self.vmax)
            return heatmap_svg(w, self.tokens, self.query_tokens, caption=caption, vmax=vmax, scale_label=label)
        return lines_svg(w, self.tokens, self.query_tokens, colour=_head_colour(head), caption=caption)

    def figure(self, layer: int | None = None, head: int | str | None = None):
        """A matplotlib Figure of the selection (or of the layer/head given)."""
        cur_layer, cur_head = self.selection
        layer = cur_layer if layer is None else layer
        head = cur_head if head is None else head
        w = _head_weights(self.weights, layer, head)
        title = _view_title(self.layer_names, layer, head, self.has_heads)
        if self.title:
            title = f"{self.title}\n{title}"
        if self.kind == "heatmap":
            return _draw_heatmap(w, self.tokens, self.query_tokens, title=title,
                                 vmax=_scale_of(w, self.scale, self.vmax)[0])
        return _draw_lines(w, self.tokens, self.query_tokens, colour=_head_colour(head), title=title)

    # how it is shown ---------------------------------------------------------------------
    def __repr__(self) -> str:
        L, H, Tq, Tk = self.weights.shape
        name = "attention_view" if self.kind == "heatmap" else "head_view"
        return f"<{name}: {L} layer(s) x {H} head(s), {Tq} query x {Tk} key tokens>"

    def controls(self) -> list[tuple[widgets.Widget, str]]:
        """The (widget, trait) pairs that choose what is shown (compare_view links them)."""
        return [(self.layer_select, "index"), (self.head_select, "index")]

    def static_figure(self):
        """Every layer and head at once, as small multiples: the picture for front ends without widgets."""
        if self.kind == "heatmap":
            return _small_multiples([self.weights], [self.title or ""], self.tokens, self.query_tokens,
                                    self.layer_names, self.scale, self.vmax)
        return _small_multiples_lines(self.weights, self.tokens, self.query_tokens, self.layer_names, self.title)



def attention_view(weights: Any, tokens: Any = None, query_tokens: Any = None, *, layer_names: Any = None,
                   title: str | None = None, max_tokens: int = 64, scale: str = "map", ids: Any = None,
                   src_ids: Any = None, src_tokens: Any = None, part: str | None = None) -> AttentionWidget:
    """An interactive token-by-token heatmap of attention weights.

    weights: (Tq, Tk), (H, Tq, Tk), or (L, H, Tq, Tk) with ``layer_names`` (one per layer: four
    axes could be a batch, so the layers must be named), numpy or torch; a batch goes in one item
    at a time (``weights[b]``). Row q shows how query token q spreads its attention over the keys:
    w[q, k] = softmax_k(q . k / sqrt(d_k)), so every row sums to 1. tokens are the Tk key
    tokens; query_tokens the Tq query tokens (default: tokens, i.e. self-attention).
    Or a course model instead of weights: ``attention_view(model, tokens, ids=ids)`` runs it with
    need_weights (see :func:`model_attention`). ``scale``: "map" colours each map by its own
    maximum, "shared" by the maximum over every head and layer (a diffuse head then looks pale).
    Pick a layer and a head (or the mean of heads); hover a query token to highlight its row.
    """
    p, auto_title = _prepare_input(weights, tokens, query_tokens, layer_names, max_tokens, ids=ids,
                                   src_ids=src_ids, src_tokens=src_tokens, part=part, say_note=True)
    return AttentionWidget(p, "heatmap", title or auto_title, scale=scale)


# --------------------------------------------------------------------------------------------
# straight from a course model: run it with need_weights, one sequence, never a batch
# --------------------------------------------------------------------------------------------

@dataclass
class ModelAttention:
    """What one forward pass of a course model attended to, with the queries and keys behind it.

    weights (L, H, Tq, Tk) as the model returned them; q (L, H, Tq, d) and k (L, H, Tk, d) the
    per-head queries and keys the attention modules computed; allowed (L, Tq, Tk) bool, False
    where a mask forbade the key; scale = 1/sqrt(d).
    """
    weights: np.ndarray
    q: np.ndarray
    k: np.ndarray
    allowed: np.ndarray
    scale: float
    tokens: list[str]             # the Tk key tokens
    query_tokens: list[str]       # the Tq query tokens
    layer_names: list[str]
    part: str
    model_name: str


def model_attention(model: Any, tokens: Any = None, *, ids: Any = None, src_ids: Any = None,
                    src_tokens: Any = None, part: str | None = None, x: Any = None) -> ModelAttention:
    """Run a course model on ONE sequence with need_weights=True and collect every layer's attention.

    Models: ``course_lib.gpt.GPT`` (part "self"), ``course_lib.bert.BertModel`` /
    ``BertForPreTraining`` ("self"), and the encoder-decoder ``course_lib.transformer.Transformer``
    ("encoder", "decoder" self-attention, or "cross", the default: decoder queries reading the
    source). ``ids`` (T,) or (1, T) token ids (the decoder's input for the Transformer, whose
    source goes in ``src_ids``); ``tokens`` their labels (default: the ids as text; token ids
    may also be passed as ``tokens`` alone). A batch (B, T) with B > 1 is refused: its axis would be
    read as layers. The model runs in eval mode (no dropout) and is put back as it was.
    A single ``course_lib.attention.MultiHeadAttention`` (self-attention, no mask) runs on the
    vectors ``x`` (T, C) or (1, T, C) instead of ids: one "layer".
    """
    import torch

    from .attention import MultiHeadAttention

    if isinstance(model, MultiHeadAttention):
        return _module_attention(model, tokens, x)
    if x is not None:
        raise ValueError("x (input vectors) is for a single MultiHeadAttention module; a model takes ids")

    from .bert import BertForPreTraining, BertModel
    from .bert import attention_maps as bert_attention_maps
    from .gpt import GPT
    from .transformer import Transformer

    kinds = {GPT: ("self",), BertModel: ("self",), BertForPreTraining: ("self",),
             Transformer: ("cross", "encoder", "decoder")}
    kind = next((k for k in kinds if isinstance(model, k)), None)
    if kind is None:
        raise ValueError(f"attention views run course_lib.gpt.GPT, course_lib.bert.BertModel/BertForPreTraining or "
                         f"course_lib.transformer.Transformer, got {type(model).__name__}; for other models pass "
                         f"the weights (L, H, Tq, Tk) with layer_names")
    part = kinds[kind][0] if part is None else part
    if part not in kinds[kind]:
        raise ValueError(f"part should be one of {kinds[kind]} for a {kind.__name__}, got {part!r}")
    if ids is None and tokens is not None and not _looks_like_labels(tokens):
        ids, tokens = tokens, None                             # attention_view(model, ids)
    if ids is None:
        raise ValueError("attention views of a model need the token ids: ids=... (one sequence, shape (T,) or (1, T))")
    device = next(model.parameters()).device
    ids = _one_sequence(ids, "ids", device)                    # (1, T)
    labels = _labels(tokens, ids, "tokens")
    if kind is Transformer:
        if src_ids is None:
            raise ValueError("the encoder-decoder Transformer needs the source ids too: src_ids=... (shape (S,) or (1, S))")
        src = _one_sequence(src_ids, "src_ids", device)        # (1, S)
        src_labels = _labels(src_tokens, src, "src_tokens")
        attn = {"encoder": [layer.self_attn for layer in model.encoder.layers],
                "decoder": [layer.self_attn for layer in model.decoder.layers],
                "cross": [layer.cross_attn for layer in model.decoder.layers]}[part]
    else:
        src = src_labels = None
        if src_ids is not None or src_tokens is not None:
            raise ValueError(f"src_ids/src_tokens are for the encoder-decoder Transformer, not a {kind.__name__}")
        attn = ([block.attn for block in model.transformer.h] if kind is GPT else
                [layer.self_attn for layer in (model.bert if kind is BertForPreTraining else model).encoder.layers])
    captured: list[tuple] = []
    hooks = [m.register_forward_pre_hook(_capture_qk(captured), with_kwargs=True) for m in attn]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if kind is GPT:
                maps = model.attention_maps(ids)[:, 0]                                   # (L, H, T, T)
            elif kind is Transformer:
                memory, pad = model.encode(src, need_weights=True)
                model.decode(ids, memory, pad, need_weights=True)
                layers = {"encoder": model.encoder.layers, "decoder": model.decoder.layers}.get(part)
                maps = (torch.stack([layer.attn_weights for layer in layers])[:, 0] if part == "encoder" else
                        torch.stack([layer.self_weights for layer in layers])[:, 0] if part == "decoder" else
                        model.decoder.cross_weights()[:, 0])                           # (L, H, Tq, Tk)
            else:
                maps = bert_attention_maps(model, ids)[:, 0]                             # (L, H, T, T)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if part == "encoder":
        captured = captured[:len(attn)]                        # decode() does not run the encoder again
    q = np.stack([to_numpy(c[0]).astype(np.float64) for c in captured])          # (L, H, Tq, d)
    k = np.stack([to_numpy(c[1]).astype(np.float64) for c in captured])          # (L, H, Tk, d)
    allowed = np.stack([c[2] for c in captured])                                 # (L, Tq, Tk)
    queries, keys = {"encoder": (src_labels, src_labels), "cross": (labels, src_labels)}.get(part, (labels, labels))
    L = maps.shape[0]
    names = [f"{'encoder ' if part == 'encoder' else 'decoder ' if kind is Transformer else ''}layer {i}"
             for i in range(L)]
    return ModelAttention(to_numpy(maps).astype(np.float64), q, k, allowed, 1.0 / np.sqrt(q.shape[-1]),
                          keys, queries, names, part, type(model).__name__)


def _module_attention(module: Any, tokens: Any, x: Any) -> ModelAttention:
    """One MultiHeadAttention module run on x (T, C) or (1, T, C) with need_weights: L = 1."""
    import torch

    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim not in (2, 3) or \
            (x.ndim == 3 and x.shape[0] != 1):
        got = f"shape {tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"a MultiHeadAttention module needs its input vectors x, a float tensor (T, C) or (1, T, C) "
                         f"(one sequence; a batch would be read as layers), got {got}")
    x = x.reshape(1, *x.shape[-2:]).to(next(module.parameters()).device)
    captured: list[tuple] = []
    hook = module.register_forward_pre_hook(_capture_qk(captured), with_kwargs=True)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            _, w = module(x, need_weights=True)                                  # (1, H, T, T)
    finally:
        hook.remove()
        module.train(was_training)
    labels = [str(i) for i in range(x.shape[1])] if tokens is None else _check_tokens(tokens, x.shape[1], "tokens",
                                                                                       "positions of x")
    q, k, allowed = captured[0]
    return ModelAttention(to_numpy(w).astype(np.float64), to_numpy(q)[None].astype(np.float64),
                          to_numpy(k)[None].astype(np.float64), allowed[None], 1.0 / np.sqrt(q.shape[-1]),
                          labels, labels, [""], "self", "MultiHeadAttention")


def _capture_qk(store: list):
    """A forward pre-hook that recomputes, from the module's own inputs and projections, the per-head
    queries and keys of one attention call (batch item 0) and which keys its masks allow."""
    import torch

    def hook(module, args, kwargs):
        x = args[0]
        if hasattr(module, "c_attn"):                          # course_lib.gpt.CausalSelfAttention
            B, T, C = x.shape
            H = module.n_head
            q, k, _ = module.c_attn(x).split(C, dim=2)
            q = q.view(B, T, H, C // H).transpose(1, 2)        # (B, H, T, hs)
            k = k.view(B, T, H, C // H).transpose(1, 2)
            allowed = np.tril(np.ones((T, T), dtype=bool))
        else:                                                  # course_lib.attention.MultiHeadAttention
            key = args[1] if len(args) > 1 else kwargs.get("key")
            key = x if key is None else key
            q = module.split_heads(module.q_proj(x))           # (B, H, Tq, d)
            k = module.split_heads(module.k_proj(key))         # (B, H, Tk, d)
            Tq, Tk = q.shape[-2], k.shape[-2]
            allowed = np.ones((Tq, Tk), dtype=bool)
            if kwargs.get("is_causal"):
                allowed &= np.tril(np.ones((Tq, Tk), dtype=bool))
            pad = kwargs.get("key_padding_mask")
            if pad is not None:                                # (B, Tk), True = padding
                allowed &= ~to_numpy(pad)[0][None, :]
            mask = kwargs.get("attn_mask")
            if mask is not None:                               # True = allowed, or additive (-inf = forbidden)
                m = to_numpy(torch.broadcast_to(mask, (1, 1, Tq, Tk)) if mask.ndim == 4 else mask)
                m = m.reshape(-1, Tq, Tk)[0]
                allowed &= m if m.dtype == bool else np.isfinite(m)
        store.append((q[0].detach(), k[0].detach(), allowed))
    return hook


def _looks_like_labels(tokens: Any) -> bool:
    if isinstance(tokens, str):
        return True
    if hasattr(tokens, "dtype") and not isinstance(tokens, (list, tuple)):
        return False                                           # a tensor or array: ids
    return isinstance(tokens, Sequence) and any(isinstance(t, str) for t in tokens)


def _one_sequence(ids: Any, name: str, device: Any):
    """ids (T,) or (1, T) as a (1, T) long tensor on ``device``; a batch is refused."""
    import torch

    t = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(np.asarray(ids))
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"{name} should be integer token ids, got dtype {t.dtype}")
    if t.ndim == 2 and t.shape[0] > 1:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: a batch of {t.shape[0]} sequences. The views show the "
                         f"layers and heads of ONE sequence, and a batch axis must never be read as layers: "
                         f"pass {name}[b] for sequence b")
    if t.ndim not in (1, 2) or t.numel() == 0:
        raise ValueError(f"{name} should have shape (T,) or (1, T) with T >= 1, got {tuple(t.shape)}")
    return t.reshape(1, -1).long().to(device)


def _labels(tokens: Any, ids: Any, name: str) -> list[str]:
    T = ids.shape[-1]
    if tokens is None:
        return [str(int(i)) for i in ids[0]]
    return _check_tokens(tokens, T, name, "ids")


def _prepare_input(weights: Any, tokens: Any, query_tokens: Any, layer_names: Any, max_tokens: int, *,
                   ids: Any = None, src_ids: Any = None, src_tokens: Any = None, part: str | None = None,
                   say_note: bool = False) -> tuple[_Prepared, str | None]:
    """_prepare for weights, or for a model (run once with need_weights); returns a title for a model.
    With say_note, prints what max_tokens left out."""
    p, title = _prepare_any(weights, tokens, query_tokens, layer_names, max_tokens, ids, src_ids, src_tokens, part)
    if say_note and p.note:
        print(p.note)
    return p, title


def _prepare_any(weights, tokens, query_tokens, layer_names, max_tokens, ids, src_ids, src_tokens, part):
    if not _is_model(weights):
        if ids is not None or src_ids is not None or src_tokens is not None or part is not None:
            raise ValueError("ids, src_ids, src_tokens and part are for a model; with attention weights pass tokens "
                             "(and query_tokens for cross-attention)")
        if tokens is None:
            raise ValueError("attention views need the tokens (one label per key)")
        return _prepare(weights, tokens, query_tokens, layer_names, max_tokens), None
    if query_tokens is not None:
        raise ValueError("for a model the query tokens follow from part: pass tokens (and src_tokens for the "
                         "Transformer), not query_tokens")
    run = model_attention(weights, tokens, ids=ids, src_ids=src_ids, src_tokens=src_tokens, part=part)
    names = run.layer_names if layer_names is None else layer_names
    p = _prepare(run.weights, run.tokens, run.query_tokens, names, max_tokens, layers=True)
    return p, f"{run.model_name}, {run.part}-attention"


def _is_model(x: Any) -> bool:
    return hasattr(x, "named_modules") and hasattr(x, "parameters") and callable(getattr(x, "forward", None))


# --------------------------------------------------------------------------------------------
# colour scales: each map by its own maximum, or one scale for every head and layer
# --------------------------------------------------------------------------------------------

SCALES = ("map", "shared")


def _check_scale(scale: Any) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale should be 'map' (each map by its own maximum) or 'shared' (one scale for every "
                         f"head and layer), got {scale!r}")
    return scale


def _shared_vmax(*weights: np.ndarray) -> float:
    return float(max(float(w.max()) for w in weights)) or 1.0


def _scale_of(w: np.ndarray, scale: str, shared: float) -> tuple[float, str]:
    """(vmax, colour-bar label) for one map."""
    if scale == "shared":
        return shared, "shared scale (every head and layer)"
    return (float(w.max()) or 1.0), "this map's own scale"


# --------------------------------------------------------------------------------------------
# static fallback: every head at once, small multiples
# --------------------------------------------------------------------------------------------

def _small_multiples(sets: list[np.ndarray], names: list[str], keys: list[str], queries: list[str],
                     layer_names: list[str], scale: str, vmax: float):
    """L rows x H columns of small heatmaps per weight set (sets side by side), one colour bar if shared."""
    L, H, Tq, Tk = sets[0].shape
    cols = H * len(sets)
    panel = 1.55 if max(Tq, Tk) <= 32 else 2.0
    fig = _new_figure(panel * cols + 1.2, panel * L + 0.7, pyplot=False)
    fig.set_layout_engine(None)
    axes = fig.subplots(L, cols, squeeze=False)
    fig.subplots_adjust(left=0.6 / (panel * cols + 1.2), right=1 - 1.0 / (panel * cols + 1.2), bottom=0.04,
                        top=1 - 0.55 / (panel * L + 0.7), wspace=0.08, hspace=0.25)
    label_ticks = max(Tq, Tk) <= 12
    im = None
    for s, w in enumerate(sets):
        for layer in range(L):
            for head in range(H):
                ax = axes[layer, s * H + head]
                m = w[layer, head]
                im = ax.imshow(m, cmap=CMAP, vmin=0.0, vmax=vmax if scale == "shared" else (float(m.max()) or 1.0),
                               interpolation="nearest", aspect="auto")
                ax.set_xticks([]), ax.set_yticks([])
                if label_ticks:
                    ax.set_xticks(range(Tk), [_display_token(t, 5) for t in keys], fontsize=5, rotation=90)
                    ax.set_yticks(range(Tq), [_display_token(t, 5) for t in queries], fontsize=5)
                top = f"{names[s]}: " if names[s] and head == 0 else ""
                ax.set_title(f"{top}head {head}", fontsize=8)
                if head == 0 and layer_names[layer]:
                    ax.set_ylabel(layer_names[layer], fontsize=8)
    if scale == "shared" and im is not None:
        cax = fig.add_axes([1 - 0.85 / (panel * cols + 1.2), 0.15, 0.12 / (panel * cols + 1.2), 0.7])
        fig.colorbar(im, cax=cax).ax.tick_params(labelsize=7)
    fig.suptitle("every head, " + ("one shared colour scale" if scale == "shared" else "each map on its own scale")
                 + " (static picture; the interactive view needs a widget front end)", fontsize=9)
    return fig


def _small_multiples_lines(w: np.ndarray, keys: list[str], queries: list[str], layer_names: list[str],
                           title: str | None):
    """L rows x H columns of small line pictures, one colour per head."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba

    L, H, Tq, Tk = w.shape
    n = max(Tq, Tk)
    fig = _new_figure(1.6 * H + 0.4, float(np.clip(0.09 * n + 0.6, 1.4, 4.5)) * L + 0.5, pyplot=False)
    axes = fig.subplots(L, H, squeeze=False)
    for layer in range(L):
        for head in range(H):
            ax = axes[layer, head]
            ax.set_xlim(-0.55, 1.55), ax.set_ylim(n - 0.5, -0.5), ax.axis("off")
            if n <= 24:
                for i, t in enumerate(queries):
                    ax.text(-0.03, i, _display_token(t, 6), ha="right", va="center", fontsize=5)
                for j, t in enumerate(keys):
                    ax.text(1.03, j, _display_token(t, 6), ha="left", va="center", fontsize=5)
            pairs = [(i, j) for i in range(Tq) for j in _kept_lines(w[layer, head, i])]
            colour = _head_colour(head)
            ax.add_collection(LineCollection([[(0.0, i), (1.0, j)] for i, j in pairs], linewidths=1.0,
                                             colors=[to_rgba(colour, float(min(w[layer, head, i, j], 1.0)))
                                                     for i, j in pairs], antialiaseds=False))  # fewer bytes
            name = f"{layer_names[layer]}, " if layer_names[layer] else ""
            ax.set_title(f"{name}head {head}", fontsize=8, color=colour)
    fig.suptitle((f"{title}: " if title else "") + "every head (static picture; the interactive view needs a "
                 "widget front end)", fontsize=9)
    return fig


def _static_png(fig, colours: int = 256) -> bytes:
    """The figure as a PNG with a palette of at most ``colours`` colours: the same picture in 3-4x fewer
    bytes, which matters because every view stores it in the notebook."""
    from PIL import Image

    img = Image.open(io.BytesIO(_figure_bytes(fig, "png"))).convert("RGB").quantize(colors=colours)
    buf = io.BytesIO()
    img.save(buf, format="png", optimize=True)
    return buf.getvalue()


def _bundle_with_png(view: Any, data: dict[str, Any] | None) -> dict[str, Any]:
    data = data or {"text/plain": repr(view)}
    data["image/png"] = base64.b64encode(_static_png(view.static_figure(), getattr(view, "static_colours", 256))
                                         ).decode("ascii")
    data["text/plain"] = repr(view)
    return data


_UID = [0]


def _uid(*arrays: np.ndarray) -> str:
    """A short id for the CSS classes of one view (unique in a notebook, the same on a re-run)."""
    import hashlib

    _UID[0] += 1
    h = hashlib.sha1(str(_UID[0]).encode())
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:8]


# --------------------------------------------------------------------------------------------
# head view: all heads of a layer overlaid, one colour per head, toggled in the page
# --------------------------------------------------------------------------------------------

_OVERLAY_CSS = (
    ".clw-q text,.clw-kl text{cursor:default}"
    ".clw-q:hover>text,.clw-q:focus>text,.clw-kl:hover text,.clw-kl:focus text{fill:#e65c00;font-weight:bold}"
    ".clw-overlay:has(.clw-q:hover) .clw-q:not(:hover) path{opacity:.05}"
    ".clw-overlay:has(.clw-q:focus) .clw-q:not(:focus) path{opacity:.05}"
    ".clw-q:focus,.clw-kl:focus{outline:none}"
)


def overlay_svg(w: np.ndarray, keys: list[str], queries: list[str], *, uid: str, caption: str = "",
                heads: Sequence[int] | None = None) -> str:
    """All heads of one layer in one SVG: a line from query i (left) to key j (right) per head,
    coloured by head, opacity = w[h, i, j] (lines under MIN_LINE_WEIGHT dropped, at most
    MAX_LINES_PER_QUERY per query and head). Paths carry the classes clw-h{h} and clw-k{j}, so CSS
    can hide a head (the toggles) or keep only the lines into a hovered key token."""
    H, Tq, Tk = w.shape                                        # (H, Tq, Tk)
    heads = list(range(H)) if heads is None else list(heads)
    row, font, qlabels, klabels, left = _lines_layout(Tq, Tk, keys, queries)
    gap = 200.0
    xq, xk = left - 4, left + gap + 4
    y0 = 30.0
    foot = ["one colour per head, line opacity = weight; hover a query (left) to see what it reads,",
            "a key (right) to see who reads it; the buttons above switch heads on and off"]
    width = max(left + gap + max(_text_width(t, font) for t in klabels) + 16, _text_width(caption, 13) + 10,
                *(_text_width(f, 11) + 10 for f in foot))
    height = y0 + max(Tq, Tk) * row + 8 + 15 * len(foot)
    key_css = "".join(f'.clw-ov-{uid}:has(.clw-kl[data-k="{j}"]:hover) path:not(.clw-k{j}),'
                      f'.clw-ov-{uid}:has(.clw-kl[data-k="{j}"]:focus) path:not(.clw-k{j}){{opacity:.05}}'
                      for j in range(Tk))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="clw-overlay clw-ov-{uid}" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" '
           f'font-size="{font:.0f}">', f"<style>{_OVERLAY_CSS}{key_css}</style>",
           f'<text class="clw-caption" x="4" y="16" font-size="13" font-weight="bold">{_esc(caption)}</text>']
    for j, lab in enumerate(klabels):
        y = y0 + (j + 0.5) * row
        readers = "; ".join(f"head {h}: {_top_keys(w[h, :, j], queries)}" for h in heads)
        out.append(f'<g class="clw-kl" data-k="{j}" tabindex="0"><title>key {_esc(lab)} is read by '
                   f'{_esc(readers)}</title><text x="{xk + 4:.1f}" y="{y:.1f}" dominant-baseline="central">'
                   f"{_esc(lab)}</text></g>")
    for i, lab in enumerate(qlabels):
        y = y0 + (i + 0.5) * row
        reads = "; ".join(f"head {h}: {_top_keys(w[h, i], keys)}" for h in heads)
        out.append(f'<g class="clw-q" data-query="{i}" tabindex="0" stroke-width="2">'
                   f"<title>query {_esc(lab)} reads {_esc(reads)}</title>"
                   f'<text x="{xq - 4:.1f}" y="{y:.1f}" text-anchor="end" dominant-baseline="central">{_esc(lab)}</text>')
        for h in heads:
            colour = _head_colour(h)
            for j in _kept_lines(w[h, i]):
                yk = y0 + (j + 0.5) * row
                opacity = f"{w[h, i, j]:.2f}".lstrip("0") or "0"
                out.append(f'<path class="clw-h{h} clw-k{j}" d="M{xq:.0f} {y:.1f}L{xk:.0f} {yk:.1f}" '
                           f'stroke="{colour}" stroke-opacity="{opacity}"/>')
        out.append("</g>")
    for n, line in enumerate(foot):
        out.append(f'<text x="4" y="{height - 8 - 15 * (len(foot) - 1 - n):.1f}" font-size="11" fill="#555">'
                   f"{_esc(line)}</text>")
    out.append("</svg>")
    return "".join(out)


class HeadView(_SavesPictures, widgets.VBox):
    """All heads of a layer overlaid (bertviz's head view) in core ipywidgets.

    Children: [title], a layer Dropdown jslinked to a Stack (one overlay SVG per layer), one
    ToggleButton per head, a <style> that hides the lines of every head whose button is off (CSS on the
    button's ``mod-active`` class: no JavaScript, works in a static page), [note].
    ``toggles[h].value`` is head h's switch; ``figure()`` draws the selected layer with the heads on.
    """

    static_colours = 64        # its static picture is lines of a few colours: a 64-colour palette is plenty

    def __init__(self, prepared: _Prepared, title: str | None):
        self.weights = prepared.weights                        # (L, H, Tq, Tk)
        self.tokens, self.query_tokens = prepared.tokens, prepared.query_tokens
        self.layer_names, self.note, self.title = prepared.layer_names, prepared.note, title
        L, H = self.weights.shape[:2]
        self.uid = _uid(self.weights)
        self.layer_select = widgets.Dropdown(options=[(n or "one layer", i) for i, n in enumerate(self.layer_names)],
                                             value=0, description="layer", layout=widgets.Layout(width="220px"),
                                             disabled=L == 1)
        self.toggles = []
        for h in range(H):
            t = widgets.ToggleButton(value=True, description=f"head {h}", tooltip=f"show or hide head {h}",
                                     layout=widgets.Layout(width="80px"))
            t.add_class("clw-toggle")
            t.add_class(f"clw-tog-{self.uid}-{h}")
            self.toggles.append(t)
        self.stack = widgets.Stack([widgets.HTML(self.svg(layer)) for layer in range(L)], selected_index=0)
        self.links = [widgets.jslink((self.layer_select, "index"), (self.stack, "selected_index"))]
        self.css = widgets.HTML(f"<style>{self._css()}</style>")
        children: list[Any] = [self.css]
        if title:
            children.append(widgets.HTML(f"<b>{_esc(title)}</b>"))
        children += [widgets.HBox([self.layer_select, *self.toggles]), self.stack]
        if self.note:
            children.append(widgets.HTML(f'<span style="color:#8a4b00">{_esc(self.note)}</span>'))
        super().__init__(children)
        self.add_class(f"clw-hv-{self.uid}")
        self.add_class("clw-view-head")

    def _css(self) -> str:
        rules = []
        for h in range(self.weights.shape[1]):
            c = _head_colour(h)
            tog = f".clw-tog-{self.uid}-{h}"
            rules.append(f"{tog}{{border-bottom:4px solid {c}!important}}"
                         f"{tog}.mod-active{{background:{c}!important;color:#fff!important}}"
                         f".clw-hv-{self.uid}:has({tog}:not(.mod-active)) .clw-h{h}{{display:none}}")
        return "".join(rules)

    @property
    def visible_heads(self) -> list[int]:
        return [h for h, t in enumerate(self.toggles) if t.value]

    def svg(self, layer: int, heads: Sequence[int] | None = None) -> str:
        """The overlay SVG of one layer (all heads, or those given)."""
        _head_weights(self.weights, layer, 0)                  # checks the layer
        return overlay_svg(self.weights[layer], self.tokens, self.query_tokens, uid=self.uid,
                           caption=_view_title(self.layer_names, layer, 0, False).replace("attention weights",
                                                                                           "all heads"),
                           heads=heads)

    def figure(self, layer: int | None = None):
        """The selected layer with the heads that are switched on, as a matplotlib Figure."""
        from matplotlib.collections import LineCollection
        from matplotlib.colors import to_rgba

        layer = (self.layer_select.index or 0) if layer is None else layer
        w = self.weights[layer]                                # (H, Tq, Tk)
        Tq, Tk = w.shape[1:]
        n = max(Tq, Tk)
        fig = _new_figure(5.0, float(np.clip(0.25 * n + 1, 3, 14)), pyplot=False)
        ax = fig.add_subplot()
        ax.set_xlim(-0.6, 1.6), ax.set_ylim(n - 0.5, -0.5), ax.axis("off")
        fs = 9 if n <= 32 else 6
        for i, t in enumerate(self.query_tokens):
            ax.text(-0.02, i, _display_token(t), ha="right", va="center", fontsize=fs)
        for j, t in enumerate(self.tokens):
            ax.text(1.02, j, _display_token(t), ha="left", va="center", fontsize=fs)
        for h in self.visible_heads:
            pairs = [(i, j) for i in range(Tq) for j in _kept_lines(w[h, i])]
            ax.add_collection(LineCollection([[(0.0, i), (1.0, j)] for i, j in pairs], linewidths=1.5,
                                             colors=[to_rgba(_head_colour(h), float(min(w[h, i, j], 1)))
                                                     for i, j in pairs], label=f"head {h}"))
        name = self.layer_names[layer] or "one layer"
        ax.set_title(f"{self.title + chr(10) if self.title else ''}{name}: heads {self.visible_heads}")
        return fig

    def controls(self) -> list[tuple[widgets.Widget, str]]:
        return [(self.layer_select, "index")] + [(t, "value") for t in self.toggles]

    def static_figure(self):
        return _small_multiples_lines(self.weights, self.tokens, self.query_tokens, self.layer_names, self.title)

    def __repr__(self) -> str:
        L, H, Tq, Tk = self.weights.shape
        return f"<head_view: {L} layer(s) x {H} head(s) overlaid, {Tq} query x {Tk} key tokens>"


def head_view(weights: Any, tokens: Any = None, query_tokens: Any = None, *, layer_names: Any = None,
              max_tokens: int = 64, title: str | None = None, ids: Any = None, src_ids: Any = None,
              src_tokens: Any = None, part: str | None = None) -> HeadView:
    """bertviz's head view in core ipywidgets: every head of a layer overlaid, one colour per head,
    a line from each query (left) to each key (right) whose opacity is the weight. Switch heads on
    and off with the buttons, pick the layer; hover (or click) a query token to keep only what it
    reads, a key token to keep only who reads it. Inputs as :func:`attention_view` (weights or a model)."""
    p, auto_title = _prepare_input(weights, tokens, query_tokens, layer_names, max_tokens, ids=ids,
                                   src_ids=src_ids, src_tokens=src_tokens, part=part, say_note=True)
    return HeadView(p, title or auto_title)


# --------------------------------------------------------------------------------------------
# model view: every layer x head as a thumbnail; choosing one opens it large
# --------------------------------------------------------------------------------------------

THUMB_PX = 72


class ModelView(_SavesPictures, widgets.VBox):
    """A grid of L x H thumbnails (bertviz's model view); the chosen one is shown large.

    The grid is a core ``ToggleButtons`` with one button per (layer, head); CSS lays the buttons
    out in rows of H and paints each with its map (a PNG, one pixel per cell). Its ``index`` is
    jslinked to a Stack of the large heatmaps. ``scale="shared"`` (the default) colours every
    thumbnail and large map on one scale, so a diffuse head looks pale next to a sharp one.
    """

    def __init__(self, prepared: _Prepared, title: str | None, scale: str = "shared", vmax: float | None = None):
        self.weights = prepared.weights                        # (L, H, Tq, Tk)
        self.tokens, self.query_tokens = prepared.tokens, prepared.query_tokens
        self.layer_names, self.note, self.title = prepared.layer_names, prepared.note, title
        self.scale = _check_scale(scale)
        self.vmax = _shared_vmax(self.weights) if vmax is None else float(vmax)
        L, H = self.weights.shape[:2]
        self.uid = _uid(self.weights)
        names = [n or "one layer" for n in self.layer_names]
        self.pairs = [(layer, head) for layer in range(L) for head in range(H)]
        self.picker = widgets.ToggleButtons(options=[(f"{layer}.{head}", i) for i, (layer, head) in enumerate(self.pairs)],
                                            value=0, tooltips=[f"{names[layer]}, head {head}" for layer, head in self.pairs])
        self.picker.add_class(f"clw-mv-{self.uid}")
        self.stack = widgets.Stack([widgets.HTML(self.svg(layer, head)) for layer, head in self.pairs], selected_index=0)
        self.links = [widgets.jslink((self.picker, "index"), (self.stack, "selected_index"))]
        self.css = widgets.HTML(f"<style>{self._css()}</style>")
        legend = widgets.HTML(f'<span style="font-size:12px;color:#555">rows: {_esc(", ".join(names))}; columns: heads '
                              f"0 to {H - 1}; button l.h = layer l, head h; click one to open it large"
                              f"{' (one shared colour scale)' if self.scale == 'shared' else ' (each map on its own scale)'}"
                              "</span>")
        children: list[Any] = [self.css]
        if title:
            children.append(widgets.HTML(f"<b>{_esc(title)}</b>"))
        children += [legend, widgets.HBox([self.picker, self.stack])]
        if self.note:
            children.append(widgets.HTML(f'<span style="color:#8a4b00">{_esc(self.note)}</span>'))
        super().__init__(children)
        self.add_class("clw-view-model")

    def thumbnail(self, layer: int, head: int) -> str:
        """The (layer, head) map as a PNG data URI, one pixel per cell, on the view's colour scale."""
        w = _head_weights(self.weights, layer, head)
        return _png_data_uri(w, _scale_of(w, self.scale, self.vmax)[0])

    def _css(self) -> str:
        H = self.weights.shape[1]
        c = f".clw-mv-{self.uid}"
        rules = [f"{c}>div{{display:grid!important;grid-template-columns:repeat({H},{THUMB_PX + 6}px);gap:3px}}",
                 f"{c} button.widget-toggle-button{{width:{THUMB_PX + 6}px!important;height:{THUMB_PX + 18}px;"
                 f"margin:0!important;padding:0 0 1px 0;background-color:#fff;background-repeat:no-repeat;"
                 f"background-position:3px 3px;background-size:{THUMB_PX}px {THUMB_PX}px;image-rendering:pixelated;"
                 f"font-size:10px;line-height:12px;vertical-align:bottom;display:flex;align-items:flex-end;"
                 f"justify-content:center;border:1px solid #ccc;box-shadow:none}}",
                 f"{c} button.mod-active{{outline:3px solid #e65c00;outline-offset:-1px;font-weight:bold}}"]
        rules += [f'{c} button[value="{i}"]{{background-image:url({self.thumbnail(layer, head)})}}'
                  for i, (layer, head) in enumerate(self.pairs)]
        return "".join(rules)

    @property
    def selection(self) -> tuple[int, int]:
        return self.pairs[self.picker.index or 0]

    def svg(self, layer: int, head: int) -> str:
        w = _head_weights(self.weights, layer, head)
        vmax, label = _scale_of(w, self.scale, self.vmax)
        return heatmap_svg(w, self.tokens, self.query_tokens, caption=_view_title(self.layer_names, layer, head),
                           vmax=vmax, scale_label=label)

    def figure(self, layer: int | None = None, head: int | None = None):
        cur = self.selection
        layer, head = (cur[0] if layer is None else layer), (cur[1] if head is None else head)
        w = _head_weights(self.weights, layer, head)
        return _draw_heatmap(w, self.tokens, self.query_tokens, title=_view_title(self.layer_names, layer, head),
                             vmax=_scale_of(w, self.scale, self.vmax)[0])

    def controls(self) -> list[tuple[widgets.Widget, str]]:
        return [(self.picker, "index")]

    def static_figure(self):
        return _small_multiples([self.weights], [self.title or ""], self.tokens, self.query_tokens,
                                self.layer_names, self.scale, self.vmax)

    def __repr__(self) -> str:
        L, H, Tq, Tk = self.weights.shape
        return f"<model_view: {L} layer(s) x {H} head(s), {Tq} query x {Tk} key tokens, {self.scale} colour scale>"


def model_view(weights: Any, tokens: Any = None, query_tokens: Any = None, *, layer_names: Any = None,
               title: str | None = None, max_tokens: int = 64, scale: str = "shared", ids: Any = None,
               src_ids: Any = None, src_tokens: Any = None, part: str | None = None) -> ModelView:
    """bertviz's model view in core ipywidgets: every layer x head as a thumbnail heatmap; click one
    to see it large (with tooltips and hover). Inputs as :func:`attention_view` (weights or a model);
    ``scale`` "shared" (default: comparable across heads and layers) or "map"."""
    p, auto_title = _prepare_input(weights, tokens, query_tokens, layer_names, max_tokens, ids=ids,
                                   src_ids=src_ids, src_tokens=src_tokens, part=part, say_note=True)
    return ModelView(p, title or auto_title, scale=scale)


# --------------------------------------------------------------------------------------------
# neuron view: one query and one key, step by step, q . k -> / sqrt(d) -> softmax
# --------------------------------------------------------------------------------------------

VECTOR_CMAP = "RdBu_r"


@dataclass
class NeuronStep:
    """The arithmetic of one weight w[query, key] of one head."""
    q: np.ndarray                # (d,)
    k: np.ndarray                # (d,)
    product: np.ndarray          # (d,) q * k element-wise
    dot: float                   # sum(product) = q . k
    scaled: float                # dot / sqrt(d)
    weight: float                # softmax over the allowed keys of the query's scaled scores
    allowed: bool


def _vector_png(values: np.ndarray, vmax: float) -> str:
    from matplotlib import colormaps
    from matplotlib.image import imsave

    rgba = colormaps[VECTOR_CMAP](np.clip(0.5 + 0.5 * values / vmax, 0.0, 1.0))
    buf = io.BytesIO()
    imsave(buf, rgba, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class NeuronView(_SavesPictures, widgets.VBox):
    """bertviz's neuron view for one layer and head of a course model, in core ipywidgets.

    A query Dropdown jslinked to a Stack (one SVG per query token); in each SVG, one row per key:
    its vector k, the element-wise product q * k, the sum q . k, the scaled score q . k / sqrt(d)
    and the softmax weight. The key Dropdown picks the key whose arithmetic is written out (CSS on
    the chosen <option>: no JavaScript). ``step(query, key)`` returns the same numbers.
    """

    def __init__(self, run: ModelAttention, layer: int, head: int, max_tokens: int, title: str | None):
        L, H = run.weights.shape[:2]
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < L:
            raise ValueError(f"layer should be an integer in [0, {L}), got {layer!r}")
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)) or not 0 <= head < H:
            raise ValueError(f"head should be an integer in [0, {H}), got {head!r}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
            raise ValueError(f"max_tokens should be a positive integer, got {max_tokens!r}")
        self.layer, self.head, self.title, self.run = layer, head, title, run
        self.q, self.k = run.q[layer, head], run.k[layer, head]              # (Tq, d), (Tk, d)
        self.allowed = run.allowed[layer]                                     # (Tq, Tk)
        self.model_weights = run.weights[layer, head]                         # (Tq, Tk) as the model returned them
        self.scores = np.where(self.allowed, self.q @ self.k.T * run.scale, -np.inf)   # (Tq, Tk)
        m = self.scores.max(axis=-1, keepdims=True)
        e = np.exp(self.scores - m)
        self.weights = e / e.sum(axis=-1, keepdims=True)                      # (Tq, Tk) recomputed here
        if not np.allclose(self.weights, self.model_weights, atol=1e-4):
            bad = np.unravel_index(np.abs(self.weights - self.model_weights).argmax(), self.weights.shape)
            raise ValueError(f"neuron_view: softmax(q k^T / sqrt(d)) from the captured queries and keys does not "
                             f"give the model's attention weights (query, key) = {bad}: "
                             f"{self.weights[bad]:.5f} vs {self.model_weights[bad]:.5f}; does this model attend "
                             f"in another way (e.g. rotary positions or a different scale)?")
        Tq, Tk = self.weights.shape
        self.n_q, self.n_k = min(Tq, max_tokens), min(Tk, max_tokens)
        self.note = None
        if Tq > max_tokens or Tk > max_tokens:
            self.note = (f"Note: showing the first {self.n_q} of {Tq} query and {self.n_k} of {Tk} key tokens "
                         f"(max_tokens={max_tokens}); the softmax is over all {Tk} keys.")
        self.uid = _uid(self.q, self.k)
        qlab = [f"{i}: {_display_token(t)}" for i, t in enumerate(run.query_tokens[:self.n_q])]
        klab = [f"{j}: {_display_token(t)}" for j, t in enumerate(run.tokens[:self.n_k])]
        q0 = self.n_q - 1
        self.query_select = widgets.Dropdown(options=[(s, i) for i, s in enumerate(qlab)], value=q0,
                                             description="query", layout=widgets.Layout(width="240px"))
        k0 = int(np.argmax(self.weights[q0, :self.n_k]))
        self.key_select = widgets.Dropdown(options=[(s, j) for j, s in enumerate(klab)], value=k0,
                                           description="key", layout=widgets.Layout(width="240px"))
        self.key_select.add_class(f"clw-nk-{self.uid}")
        self.stack = widgets.Stack([widgets.HTML(self.svg(i)) for i in range(self.n_q)], selected_index=q0)
        self.links = [widgets.jslink((self.query_select, "index"), (self.stack, "selected_index"))]
        c = f".clw-nv-{self.uid}"
        css = "".join(f'{c}:has(.clw-nk-{self.uid} option:nth-child({j + 1}):checked) .clw-nr[data-k="{j}"] .clw-nhl'
                      f"{{stroke:#e65c00;stroke-width:2;fill:rgba(255,140,0,.15)}}"
                      f'{c}:has(.clw-nk-{self.uid} option:nth-child({j + 1}):checked) .clw-nd[data-k="{j}"]'
                      f"{{display:inline}}" for j in range(self.n_k))
        self.css = widgets.HTML(f"<style>.clw-nd{{display:none}}{css}</style>")
        name = run.layer_names[layer] or "one layer"
        children: list[Any] = [self.css, widgets.HTML(f"<b>{_esc(title or run.model_name)}</b>: {_esc(name)}, head {head}, "
                                                      f"{run.part}-attention")]
        children += [widgets.HBox([self.query_select, self.key_select]), self.stack]
        if self.note:
            children.append(widgets.HTML(f'<span style="color:#8a4b00">{_esc(self.note)}</span>'))
        super().__init__(children)
        self.add_class(f"clw-nv-{self.uid}")
        self.add_class("clw-view-neuron")

    def step(self, query: int, key: int) -> NeuronStep:
        """The numbers behind w[query, key]: q, k, q * k, q . k, q . k / sqrt(d), softmax."""
        q, k = self.q[query], self.k[key]
        prod = q * k
        return NeuronStep(q, k, prod, float(prod.sum()), float(prod.sum() * self.run.scale),
                          float(self.weights[query, key]), bool(self.allowed[query, key]))

    @property
    def selection(self) -> tuple[int, int]:
        return int(self.query_select.index or 0), int(self.key_select.index or 0)

    def svg(self, query: int) -> str:
        """One query: q on top; per key row: k, q * k, q . k, / sqrt(d), softmax weight (bar)."""
        d = self.q.shape[1]
        n_k = self.n_k
        cell = float(np.clip(200 / d, 4, 14))
        row = 16.0
        vw = d * cell                                          # width of one vector
        labels = [_display_token(t) for t in self.run.tokens[:n_k]]
        left = max(_text_width(t, 11) for t in labels) + 30
        x_k, x_p = left, left + vw + 16
        x_dot, x_sc, x_w = x_p + vw + 16, x_p + vw + 76, x_p + vw + 136
        top = 76.0
        bottom = top + n_k * row
        qv, kv = self.q[query], self.k[:n_k]
        prod = kv * qv[None, :]                                # (n_k, d)
        vlim = float(max(np.abs(qv).max(), np.abs(kv).max())) or 1.0
        plim = float(np.abs(prod).max()) or 1.0
        sqrt_d = 1.0 / self.run.scale
        qtok = _display_token(self.run.query_tokens[query])
        width = max(x_w + 150, 700)
        height = bottom + 92
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="clw-neuron" width="{width:.0f}" height="{height:.0f}" '
               f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">',
               "<style>.clw-nr .clw-nhl{fill:none;stroke:none}.clw-nr:hover .clw-nhl{stroke:#999;fill:rgba(0,0,0,.04)}"
               ".clw-nr:focus{outline:none}</style>",
               f'<text class="clw-caption" x="4" y="16" font-size="13" font-weight="bold">query {query}: '
               f'{_esc(qtok)} (d = {d})</text>',
               f'<text x="{x_k:.0f}" y="36">q (query {_esc(qtok)})</text>',
               f'<image x="{x_k:.0f}" y="40" width="{vw:.0f}" height="12" preserveAspectRatio="none" '
               f'style="image-rendering:pixelated" href="{_vector_png(qv[None, :], vlim)}"/>',
               f'<text x="{x_k:.0f}" y="{top - 6:.0f}" font-weight="bold">k (each key)</text>',
               f'<text x="{x_p:.0f}" y="{top - 6:.0f}" font-weight="bold">q ∘ k (element-wise)</text>',
               f'<text x="{x_dot:.0f}" y="{top - 6:.0f}" font-weight="bold">q·k</text>',
               f'<text x="{x_sc:.0f}" y="{top - 6:.0f}" font-weight="bold">÷√{d}</text>',
               f'<text x="{x_w:.0f}" y="{top - 6:.0f}" font-weight="bold">softmax</text>',
               f'<image x="{x_k:.0f}" y="{top:.0f}" width="{vw:.0f}" height="{n_k * row:.0f}" preserveAspectRatio="none" '
               f'style="image-rendering:pixelated" href="{_vector_png(kv, vlim)}"/>',
               f'<image x="{x_p:.0f}" y="{top:.0f}" width="{vw:.0f}" height="{n_k * row:.0f}" preserveAspectRatio="none" '
               f'style="image-rendering:pixelated" href="{_vector_png(prod, plim)}"/>']
        for j in range(n_k):
            s = self.step(query, j)
            y = top + j * row
            nums = (f'<text x="{x_dot:.0f}" y="{y + 12:.0f}">{s.dot:+.2f}</text>'
                    f'<text x="{x_sc:.0f}" y="{y + 12:.0f}">{s.scaled:+.2f}</text>'
                    f'<rect x="{x_w:.0f}" y="{y + 3:.0f}" width="{80 * s.weight:.1f}" height="10" '
                    f'fill="{_head_colour(self.head)}"/><text x="{x_w + 84:.0f}" y="{y + 12:.0f}">{s.weight:.3f}</text>'
                    if s.allowed else f'<text x="{x_dot:.0f}" y="{y + 12:.0f}" fill="#999">masked: not allowed to '
                                      f'attend (weight 0)</text>')
            out.append(f'<g class="clw-nr" data-k="{j}" tabindex="0"><title>{_esc(labels[j])}: q·k = {s.dot:.4f}, '
                       f"scaled {s.scaled:.4f}, weight {s.weight:.4f}</title>"
                       f'<rect class="clw-nhl" x="2" y="{y:.0f}" width="{width - 4:.0f}" height="{row:.0f}"/>'
                       f'<text x="{left - 6:.0f}" y="{y + 12:.0f}" text-anchor="end">{j}: {_esc(labels[j])}</text>{nums}</g>')
        allowed = self.allowed[query]
        z = float(np.exp(self.scores[query][allowed] - self.scores[query][allowed].max()).sum())
        for j in range(n_k):                                   # the chosen key, written out (shown by CSS)
            s = self.step(query, j)
            y = bottom + 18
            top3 = np.argsort(-np.abs(s.product), kind="stable")[:3]
            terms = ", ".join(f"dim {i}: {s.q[i]:+.2f}×{s.k[i]:+.2f} = {s.product[i]:+.2f}" for i in top3)
            if s.allowed:
                num = float(np.exp(s.scaled - self.scores[query][allowed].max()))
                lines = [f"key {j} ({labels[j]}): q·k = Σ_i q_i k_i = {s.dot:+.4f}", f"largest terms: {terms}",
                         f"scaled score s = q·k / √{d} = {s.dot:+.4f} / {sqrt_d:.3f} = {s.scaled:+.4f}",
                         f"softmax: exp(s − max_j s_j) / Σ_j exp(s_j − max_j s_j) = {num:.4f} / {z:.4f} = {s.weight:.4f}"]
            else:
                lines = [f"key {j} ({labels[j]}): masked, the score is set to −∞ before the softmax, so the weight is 0",
                         f"(q·k would be {s.dot:+.4f})"]
            out.append(f'<g class="clw-nd" data-k="{j}">' + "".join(
                f'<text x="4" y="{y + 16 * n:.0f}" font-size="12">{_esc(t)}</text>' for n, t in enumerate(lines)) + "</g>")
        out.append(f'<text x="4" y="{height - 4:.0f}" fill="#555">colours: red positive, blue negative (white 0); '
                   f"pick a key above to see its arithmetic, hover a row for its numbers</text></svg>")
        return "".join(out)

    def figure(self, query: int | None = None, key: int | None = None):
        """The selected query and key as a matplotlib Figure: q and k, q * k, the softmax over the keys."""
        cq, ck = self.selection
        query, key = (cq if query is None else query), (ck if key is None else key)
        s = self.step(query, key)
        fig = _new_figure(9, 5.5, pyplot=False)
        axes = fig.subplots(3, 1)
        d = np.arange(len(s.q))
        axes[0].bar(d - 0.2, s.q, 0.4, label="q"), axes[0].bar(d + 0.2, s.k, 0.4, label="k")
        axes[0].legend(fontsize=8), axes[0].set_title(f"query {query} ({self.run.query_tokens[query]!r}), "
                                                      f"key {key} ({self.run.tokens[key]!r})", fontsize=10)
        axes[1].bar(d, s.product, color="#8c564b")
        axes[1].set_title(f"q ∘ k: sums to q·k = {s.dot:.3f}, scaled {s.scaled:.3f}", fontsize=10)
        w = self.weights[query, :self.n_k]
        colours = ["#e65c00" if j == key else _head_colour(self.head) for j in range(len(w))]
        axes[2].bar(range(len(w)), w, color=colours)
        axes[2].set_xticks(range(len(w)), [_display_token(t, 6) for t in self.run.tokens[:self.n_k]], fontsize=7,
                           rotation=60)
        axes[2].set_title(f"softmax over the keys: w = {s.weight:.3f}", fontsize=10)
        return fig

    static_figure = figure

    def controls(self) -> list[tuple[widgets.Widget, str]]:
        return [(self.query_select, "index"), (self.key_select, "index")]

    def __repr__(self) -> str:
        return (f"<neuron_view: {self.run.model_name} {self.run.layer_names[self.layer] or 'one layer'}, head {self.head}, "
                f"{self.n_q} queries x {self.n_k} keys, d = {self.q.shape[1]}>")


def neuron_view(model: Any, tokens: Any = None, *, ids: Any = None, layer: int = 0, head: int = 0,
                src_ids: Any = None, src_tokens: Any = None, part: str | None = None, max_tokens: int = 16,
                title: str | None = None, x: Any = None) -> NeuronView:
    """bertviz's neuron view for a course model: pick a query and a key and follow one attention
    weight step by step, w = softmax_j(q . k_j / sqrt(d))[key]: the query vector q, each key
    vector k, their element-wise product, its sum q . k, the scaling by 1/sqrt(d), the softmax.
    q and k are recomputed from the inputs of the model's own attention modules, and the view
    refuses to draw if softmax(q k^T / sqrt(d)) differs from the weights the model returned."""
    if not _is_model(model):
        raise ValueError(f"neuron_view needs a course model (GPT, BertModel, Transformer, MultiHeadAttention), got "
                         f"{type(model).__name__}: "
                         f"the weights alone do not hold the queries and keys")
    run = model_attention(model, tokens, ids=ids, src_ids=src_ids, src_tokens=src_tokens, part=part, x=x)
    view = NeuronView(run, layer, head, max_tokens, title)
    if view.note:
        print(view.note)
    return view


# --------------------------------------------------------------------------------------------
# two models (or checkpoints) side by side, same layout, one set of controls
# --------------------------------------------------------------------------------------------

class CompareView(_SavesPictures, widgets.VBox):
    """Two views of the same kind side by side; every control of the left one is jslinked to its
    twin on the right, so choosing a layer/head (or switching a head off) changes both."""

    def __init__(self, left: Any, right: Any, names: tuple[str, str], title: str | None):
        self.left, self.right, self.names, self.title = left, right, names, title
        self.links = [widgets.jslink(a, b) for a, b in zip(left.controls(), right.controls())]
        header = [widgets.HTML(f"<b>{_esc(title)}</b>")] if title else []
        panes = [widgets.VBox([widgets.HTML(f"<b>{_esc(n)}</b>"), v]) for n, v in zip(names, (left, right))]
        super().__init__(header + [widgets.HBox(panes)])
        self.add_class("clw-view-compare")

    def static_figure(self):
        if isinstance(self.left, HeadView):
            return _small_multiples_lines(np.concatenate([self.left.weights, self.right.weights]), self.left.tokens,
                                          self.left.query_tokens, [f"{n}: {l}" for n in self.names
                                                                   for l in self.left.layer_names], self.title)
        return _small_multiples([self.left.weights, self.right.weights], list(self.names), self.left.tokens,
                                self.left.query_tokens, self.left.layer_names, self.left.scale, self.left.vmax)

    figure = static_figure

    def __repr__(self) -> str:
        return f"<compare_view: {self.names[0]} | {self.names[1]}, {self.left!r}>"


def compare_view(a: Any, b: Any, tokens: Any = None, query_tokens: Any = None, *, kind: str = "attention",
                 names: tuple[str, str] = ("before", "after"), layer_names: Any = None, title: str | None = None,
                 max_tokens: int = 64, scale: str = "shared", ids: Any = None, src_ids: Any = None,
                 src_tokens: Any = None, part: str | None = None) -> CompareView:
    """Two models, checkpoints or weight sets side by side with the same layout and linked controls
    (e.g. before and after training). ``kind``: "attention" (heatmaps), "head" (overlaid heads) or
    "model" (thumbnail grid). a and b must give the same shape (L, H, Tq, Tk); with scale="shared"
    one colour scale covers both, so the two sides can be compared by eye."""
    makers = {"attention": AttentionWidget, "head": HeadView, "model": ModelView}
    if kind not in makers:
        raise ValueError(f"kind should be one of {sorted(makers)}, got {kind!r}")
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise ValueError(f"names should be two strings (left, right), got {names!r}")
    _check_scale(scale)
    preps = []
    for x in (a, b):
        p, _ = _prepare_input(x, tokens, query_tokens, layer_names, max_tokens, ids=ids, src_ids=src_ids,
                              src_tokens=src_tokens, part=part)
        preps.append(p)
    if preps[0].weights.shape != preps[1].weights.shape:
        raise ValueError(f"compare_view needs the same layout on both sides, got (L, H, Tq, Tk) = "
                         f"{preps[0].weights.shape} and {preps[1].weights.shape}")
    if preps[0].note:
        print(preps[0].note)
    vmax = _shared_vmax(preps[0].weights, preps[1].weights)
    if kind == "attention":
        views = [AttentionWidget(p, "heatmap", None, scale=scale, vmax=vmax) for p in preps]
    elif kind == "model":
        views = [ModelView(p, None, scale=scale, vmax=vmax) for p in preps]
    else:
        views = [HeadView(p, None) for p in preps]
    return CompareView(views[0], views[1], tuple(names), title)
