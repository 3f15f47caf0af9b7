"""Attention widgets: cost of pre-rendering every view, against one matplotlib PNG per view.

    python benchmarks/widgets.py            # the full table (several minutes on 2 cores: the peer is slow)
    python benchmarks/widgets.py --quick    # two sizes, a smoke run

``attention_view`` and ``head_view`` draw every (layer, head) picture, plus the mean of
heads, up front as SVG strings, so that switching happens in the browser with no kernel.
The peer is the obvious alternative: one matplotlib PNG per view (dpi 80), e.g. for an
``ipywidgets.Image`` swapped by a Python callback. Both are built in the same process,
alternating, best of the repeats. Columns:

* build s: seconds to build the widget (ours) / to render all PNGs (peer), and their ratio;
* page kB: what the browser receives and the notebook stores (the SVG strings; the PNG
  bytes base64-encoded as a widget would send them), and their ratio.

Sequences longer than max_tokens=64 are capped (the first 64 tokens), as the widget does.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import sys
import time
from pathlib import Path

import ipywidgets
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib import widgets as W  # noqa: E402


def causal_weights(L: int, H: int, T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(L, H, T, T)) * 2.0               # (L, H, T, T)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ours(make, weights: np.ndarray, tokens: list[str]) -> tuple[float, int]:
    with contextlib.redirect_stdout(io.StringIO()):           # the capping note would clutter the table
        t0 = time.perf_counter()
        view = make(weights, tokens, layer_names=[f"layer {i}" for i in range(len(weights))])
        seconds = time.perf_counter() - t0
    size = sum(len(page.value.encode()) for layer in view.stack.children for page in layer.children)
    ipywidgets.Widget.close_all()                             # free the widget registry between runs
    return seconds, size


def peer(kind: str, weights: np.ndarray, tokens: list[str]) -> tuple[float, int]:
    """One PNG per (layer, head) and per layer mean, with the same matplotlib drawing code."""
    w = W.as_attention_array(weights, layers=True)[:, :, :64, :64]          # (L, H, Tq, Tk), capped like ours
    toks = tokens[:64]
    t0 = time.perf_counter()
    size = 0
    for layer in range(w.shape[0]):
        for head in [*range(w.shape[1]), W.MEAN]:
            m = W._head_weights(w, layer, head)
            if kind == "heatmap":
                fig = W._draw_heatmap(m, toks, toks)
            else:
                fig = W._draw_lines(m, toks, toks, colour=W._head_colour(head))
            size += len(base64.b64encode(W._figure_bytes(fig, "png")))
    return time.perf_counter() - t0, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two sizes, one repeat")
    args = parser.parse_args()
    sizes = [(1, 4, 8), (2, 4, 24), (4, 4, 64), (6, 8, 64), (4, 4, 256)]
    if args.quick:
        sizes = sizes[:2]
    repeat = 1 if args.quick else 2
    print(f"{'view':<15}{'L x H x T':>13}{'build s ours':>14}{'peer':>9}{'ratio':>8}"
          f"{'page kB ours':>14}{'peer':>9}{'ratio':>8}")
    for name, make, kind in [("attention_view", W.attention_view, "heatmap"), ("head_view", W.head_view, "lines")]:
        for L, H, T in sizes:
            weights = causal_weights(L, H, T)
            tokens = [f"t{i}" for i in range(T)]
            best_ours = best_peer = float("inf")
            for _ in range(repeat):                            # alternate: both see the same load
                t_ours, kb_ours = ours(make, weights, tokens)
                t_peer, kb_peer = peer(kind, weights, tokens)
                best_ours, best_peer = min(best_ours, t_ours), min(best_peer, t_peer)
            print(f"{name:<15}{f'{L}x{H}x{T}':>13}{best_ours:>14.3f}{best_peer:>9.3f}{best_ours / best_peer:>8.2f}"
                  f"{kb_ours / 1024:>14.1f}{kb_peer / 1024:>9.1f}{kb_ours / kb_peer:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
