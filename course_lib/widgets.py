"""Attention views: a token-by-token heatmap and a bertviz-style head view (chapters 04-06, 08).

    from course_lib.widgets import attention_view, head_view, plot_attention
    attention_view(weights, tokens)            # weights (Tq, Tk) or (H, Tq, Tk): one layer
    attention_view(stack, tokens, layer_names=["layer 1", "layer 2"])   # (L, H, Tq, Tk): layers, said so
    head_view(weights, tokens)                 # lines from each query token to the keys it reads
    plot_attention(weights, tokens, head="mean")   # a plain matplotlib Figure
    view.save("attention.png")                 # the current layer/head as .png or .svg

Four axes are ambiguous: ``MultiHeadAttention`` returns (B, H, Tq, Tk) for a batch, a stack of
layers is (L, H, Tq, Tk), and the shape cannot tell them apart. So 4-D weights are accepted
only with the layers named (``layer_names=`` for the views, ``layer=`` for the plots); a batch
goes in one item at a time, ``weights[b]``. Five axes (L, B, H, Tq, Tk), as
``Decoder.cross_weights()`` and ``GPT.attention_maps()`` return them, go in as ``weights[:, b]``.

How the widgets work, and why they work everywhere
---------------------------------------------------
An attention map is small and known in advance, so nothing needs to be computed when a
learner clicks. Every (layer, head) picture, plus the mean over heads, is drawn once in
Python as an SVG string and put in a core ``ipywidgets.HTML``. The pictures of one layer
sit in a ``widgets.Stack`` (one child per head, the last one is the mean); the layers sit
in an outer ``Stack``. The head selector's ``index`` is linked to every inner Stack's
``selected_index`` and the layer selector to the outer one with ``widgets.jslink``, a link
that lives in the browser. Hence:

* no custom JavaScript, no CDN, no build step: only core ipywidgets 8 models, so the view
  works in JupyterLab 4, VS Code, Colab, and in a static HTML page (``nbconvert --to html``,
  Jupyter Book) with no kernel at all, where switching layer/head still works;
* hovering (or clicking) a query token highlights its row: plain CSS inside the SVG;
* without a widget front end (a terminal, GitHub, plain nbconvert output) the widget's
  mime bundle also carries a PNG of the current selection, drawn with matplotlib.

Long sequences: at most ``max_tokens`` (default 64) query and key tokens are drawn, the
first ones; the view then prints a note saying so. Large heatmaps are embedded as a small
PNG (one pixel per cell) inside the SVG, so the page stays light and responsive; the head
view drops lines lighter than ``MIN_LINE_WEIGHT`` and keeps the ``MAX_LINES_PER_QUERY``
heaviest per query token, and says how many it left out.

What a view costs: all L x (H + 1) pictures travel to the browser and are stored in the
notebook with the widget state. Measured (benchmarks/widgets.py): about 12 kB per picture
at 8 tokens, 32 kB (heatmap) or 45 kB (head view) at 64 tokens, so 4 layers x 4 heads at
64 tokens come to about 0.6 MB (heatmap) or 0.9 MB (head view); pass a smaller
``max_tokens`` to keep a chapter light. Drawing them all takes well under a second, about
1/100 of the time matplotlib needs for one PNG per picture.
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

__all__ = ["attention_view", "head_view", "plot_attention", "plot_head_view", "AttentionWidget",
           "as_attention_array"]

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


def heatmap_svg(w: np.ndarray, keys: list[str], queries: list[str], *, caption: str = "") -> str:
    """An SVG heatmap of one (Tq, Tk) attention map: rows = queries, columns = keys.

    Cell (q, k) is coloured by w[q, k] / max(w) on the 'Blues' map. Small maps get one
    <rect> per cell with a tooltip; large ones one PNG pixel per cell (a light page).
    Hovering or clicking a row (a query token) highlights it with CSS only.
    """
    Tq, Tk = w.shape                                           # (Tq, Tk)
    vmax = float(w.max()) or 1.0
    cell = int(np.clip(560 // max(Tq, Tk), 9, 30))           # whole pixels: crisp, short SVG
    font = float(min(12.0, max(8.0, cell * 0.85)))
    angle = -60 if cell >= 14 else -90                         # steep key labels when cells are narrow
    qlabels = [_display_token(t) for t in queries]
    klabels = [_display_token(t) for t in keys]
    left = round(max(_text_width(t, font) for t in qlabels) + 8)
    top = 26 + max(_text_width(t, font) for t in klabels) * (0.87 if angle == -60 else 1.0) + 6  # title, keys
    foot = f"colour: 0 (white) to {vmax:.3g} (dark blue); hover a query token to highlight its row"
    width = max(left + Tk * cell + 10, _text_width(caption, 13) + 10, _text_width(foot, 11) + 10)
    top, height = round(top), round(top + Tq * cell + 24)
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
    out.append(f'<text x="4" y="{height - 8:.1f}" font-size="11" fill="#555">{_esc(foot)}</text></svg>')
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
    row = float(np.clip(640 / max(Tq, Tk), 11, 20))
    font = float(min(13.0, row * 0.75))
    qlabels = [_display_token(t) for t in queries]
    klabels = [_display_token(t) for t in keys]
    left = max(_text_width(t, font) for t in qlabels) + 12
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
                  pyplot: bool = False, title: str = ""):
    Tq, Tk = w.shape                                           # (Tq, Tk)
    if ax is None:
        size = float(np.clip(0.28 * max(Tq, Tk) + 2, 3.5, 10))
        ax = _new_figure(size * 1.1, size, pyplot=pyplot).add_subplot()
    fig = ax.figure
    im = ax.imshow(w, cmap=CMAP, vmin=0.0, vmax=float(w.max()) or 1.0, aspect="auto", interpolation="nearest")
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

class AttentionWidget(widgets.VBox):
    """A VBox of core ipywidgets: [title], selectors, Stack of layers (each a Stack of heads + mean), [note].

    Useful attributes: ``layer_select`` and ``head_select`` (Dropdowns), ``stack`` (the outer
    Stack, one child per layer), ``weights`` (L, H, Tq, Tk) as drawn, ``note`` (capping note or
    None), ``selection`` (the (layer, head) shown now; head H is the mean of heads).
    """

    def __init__(self, prepared: _Prepared, kind: Literal["heatmap", "lines"], title: str | None):
        self.weights = prepared.weights                        # (L, H, Tq, Tk)
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
            return heatmap_svg(w, self.tokens, self.query_tokens, caption=caption)
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
            return _draw_heatmap(w, self.tokens, self.query_tokens, title=title)
        return _draw_lines(w, self.tokens, self.query_tokens, colour=_head_colour(head), title=title)

    def save(self, path: str | Path) -> Path:
        """Write the current selection as a picture; the format follows the suffix (.png or .svg)."""
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise ValueError(f"save() writes .png or .svg files, got the suffix {path.suffix!r} in {path.name!r}")
        path.write_bytes(_figure_bytes(self.figure(), fmt))
        return path

    # how it is shown ---------------------------------------------------------------------
    def __repr__(self) -> str:
        L, H, Tq, Tk = self.weights.shape
        name = "attention_view" if self.kind == "heatmap" else "head_view"
        return f"<{name}: {L} layer(s) x {H} head(s), {Tq} query x {Tk} key tokens>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget itself, plus a PNG for front ends that cannot show widgets."""
        data = super()._repr_mimebundle_(**kwargs) or {"text/plain": repr(self)}
        data["image/png"] = base64.b64encode(_figure_bytes(self.figure(), "png")).decode("ascii")
        return data


def attention_view(weights: Any, tokens: Any, query_tokens: Any = None, *, layer_names: Any = None,
                   title: str | None = None, max_tokens: int = 64) -> AttentionWidget:
    """An interactive token-by-token heatmap of attention weights.

    weights: (Tq, Tk), (H, Tq, Tk), or (L, H, Tq, Tk) with ``layer_names`` (one per layer: four
    axes could be a batch, so the layers must be named), numpy or torch; a batch goes in one item
    at a time (``weights[b]``). Row q shows how query token q spreads its attention over the keys:
    w[q, k] = softmax_k(q . k / sqrt(d_k)), so every row sums to 1. tokens are the Tk key
    tokens; query_tokens the Tq query tokens (default: tokens, i.e. self-attention).
    Pick a layer and a head (or the mean of heads); hover a query token to highlight its row.
    """
    p = _prepare(weights, tokens, query_tokens, layer_names, max_tokens)
    if p.note:
        print(p.note)
    return AttentionWidget(p, "heatmap", title)


def head_view(weights: Any, tokens: Any, query_tokens: Any = None, *, layer_names: Any = None,
              max_tokens: int = 64) -> AttentionWidget:
    """An interactive bertviz-style view: a line from each query (left) to each key (right),
    its opacity the attention weight. Same inputs and selectors as :func:`attention_view`."""
    p = _prepare(weights, tokens, query_tokens, layer_names, max_tokens)
    if p.note:
        print(p.note)
    return AttentionWidget(p, "lines", None)
