"""Attention widgets: what each view costs in a notebook (bytes stored, seconds to build), and the peer.

    python benchmarks/widgets.py            # the full table (a few minutes on 2 cores: the peer is slow)
    python benchmarks/widgets.py --quick    # two sizes, a smoke run

Every view pre-renders its pictures up front (SVG strings, PNG thumbnails, CSS) so that the
browser switches between them with no kernel; all of it is stored in the notebook with the
widget state, and each output also carries a static PNG of every head (small multiples) for
front ends without widgets. Columns:

* build s: seconds to build the widget; png s: seconds to draw its static PNG (at display time);
* state kB: the view's widget state as the notebook stores it (JSON of every model of the view);
  png kB: the static picture, base64 as stored; total kB: both;
* peer s / peer kB / ratio: the obvious alternative for the heatmap-based views, one matplotlib
  PNG per (layer, head) picture (dpi 80), e.g. for an ``ipywidgets.Image`` swapped by a Python
  callback (which needs a kernel); ratio = our total / the peer's bytes.

Sequences longer than max_tokens=64 are capped (the first 64 tokens), as the views do. The neuron
view runs a course GPT of the size given (d = n_embd / n_head = 16) and shows max_tokens=16 tokens.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import ipywidgets
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib import widgets as W  # noqa: E402
from course_lib.gpt import GPT, GPTConfig  # noqa: E402


def causal_weights(L: int, H: int, T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(L, H, T, T)) * 2.0               # (L, H, T, T)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cost(make) -> tuple[float, float, int, int]:
    """(build s, png s, state bytes, png bytes) of the view ``make()`` builds."""
    ipywidgets.Widget.close_all()                             # the state then holds this view only
    with contextlib.redirect_stdout(io.StringIO()):           # the capping note would clutter the table
        t0 = time.perf_counter()
        view = make()
        build = time.perf_counter() - t0
    state = ipywidgets.Widget.get_manager_state(widgets=None)
    state_bytes = len(json.dumps(state, separators=(",", ":")).encode())
    t0 = time.perf_counter()
    png = view._repr_mimebundle_()["image/png"]
    png_s = time.perf_counter() - t0
    ipywidgets.Widget.close_all()
    return build, png_s, state_bytes, len(png)


def peer(weights: np.ndarray, tokens: list[str]) -> tuple[float, int]:
    """One PNG per (layer, head) and per layer mean, with the same matplotlib drawing code."""
    w = W.as_attention_array(weights, layers=True)[:, :, :64, :64]          # (L, H, Tq, Tk), capped like ours
    toks = tokens[:64]
    t0 = time.perf_counter()
    size = 0
    for layer in range(w.shape[0]):
        for head in [*range(w.shape[1]), W.MEAN]:
            fig = W._draw_heatmap(W._head_weights(w, layer, head), toks, toks)
            size += len(base64.b64encode(W._figure_bytes(fig, "png")))
    return time.perf_counter() - t0, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two sizes, one repeat")
    args = parser.parse_args()
    sizes = [(1, 4, 8), (2, 4, 24), (4, 4, 32), (4, 4, 64), (6, 8, 64), (4, 4, 256)]
    if args.quick:
        sizes = sizes[:2]
    repeat = 1 if args.quick else 2
    print(f"{'view':<15}{'L x H x T':>12}{'build s':>9}{'png s':>8}{'state kB':>10}{'png kB':>8}{'total kB':>10}"
          f"{'peer s':>8}{'peer kB':>9}{'ratio':>7}")
    names = lambda L: [f"layer {i}" for i in range(L)]  # noqa: E731
    makers = {
        "attention_view": lambda w, t: W.attention_view(w, t, layer_names=names(len(w))),
        "head_view": lambda w, t: W.head_view(w, t, layer_names=names(len(w))),
        "model_view": lambda w, t: W.model_view(w, t, layer_names=names(len(w))),
        "compare_view": lambda w, t: W.compare_view(w, w[::-1], t, layer_names=names(len(w))),
    }
    for name, make in makers.items():
        for L, H, T in sizes:
            weights, tokens = causal_weights(L, H, T), [f"t{i}" for i in range(T)]
            runs = [cost(lambda: make(weights, tokens)) for _ in range(repeat)]
            build, png_s = min(r[0] for r in runs), min(r[1] for r in runs)
            state, png = runs[0][2], runs[0][3]
            line = (f"{name:<15}{f'{L}x{H}x{T}':>12}{build:>9.3f}{png_s:>8.3f}{state / 1024:>10.1f}{png / 1024:>8.1f}"
                    f"{(state + png) / 1024:>10.1f}")
            if name in ("attention_view", "model_view") and not args.quick or (name == "attention_view"):
                peer_s, peer_b = min(peer(weights, tokens) for _ in range(repeat))
                line += f"{peer_s:>8.3f}{peer_b / 1024:>9.1f}{(state + png) / peer_b:>7.2f}"
            print(line, flush=True)
    for L, H, T in sizes[:4]:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=64, block_size=max(T, 8), n_layer=L, n_head=H, n_embd=16 * H)).eval()
        ids = torch.randint(0, 64, (T,), generator=torch.Generator().manual_seed(0))
        runs = [cost(lambda: W.neuron_view(model, ids=ids, layer=L - 1, head=0)) for _ in range(repeat)]
        build, png_s, state, png = min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2], runs[0][3]
        print(f"{'neuron_view':<15}{f'{L}x{H}x{T}':>12}{build:>9.3f}{png_s:>8.3f}{state / 1024:>10.1f}"
              f"{png / 1024:>8.1f}{(state + png) / 1024:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
