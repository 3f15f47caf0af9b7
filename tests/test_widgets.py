"""Tests of course_lib.widgets: input checking, the pre-rendered pictures, export, fallbacks.

The pictures are checked against an independent computation: the colour of every heatmap
cell is recomputed here from the weights with matplotlib's colour map, and the PNG cells
are decoded pixel by pixel. The real-browser checks live in tests/test_browser.py.
"""
from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET

import ipywidgets as widgets
import matplotlib
import nbformat
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import colormaps
from matplotlib.figure import Figure

from course_lib import widgets as W
from course_lib.widgets import attention_view, head_view, model_view, plot_attention, plot_head_view

SVG_NS = "{http://www.w3.org/2000/svg}"
TOKENS = "the cat sat on the mat".split()


def softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def random_weights(*shape: int, seed: int = 0, sharp: float = 2.0) -> np.ndarray:
    return softmax_rows(np.random.default_rng(seed).normal(size=shape) * sharp)


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == SVG_NS + "svg"
    return root


def inner_pages(view: W.AttentionWidget) -> list[list[widgets.HTML]]:
    return [list(layer.children) for layer in view.stack.children]


# --------------------------------------------------------------------------- shapes accepted

@pytest.mark.parametrize("shape, L, H", [((6, 6), 1, 1), ((3, 6, 6), 1, 3), ((2, 4, 6, 6), 2, 4)])
@pytest.mark.parametrize("kind", ["numpy", "torch32", "torch64"])
def test_shapes_and_array_kinds_accepted(shape, L, H, kind):
    w = random_weights(*shape)
    if kind == "torch32":
        w = torch.tensor(w, dtype=torch.float32)
    elif kind == "torch64":
        w = torch.tensor(w, dtype=torch.float64, requires_grad=True)  # .detach() must be handled
    four = {"layer_names": [f"layer {i}" for i in range(L)]} if len(shape) == 4 else {}
    view = attention_view(w, TOKENS, **four)
    assert view.weights.shape == (L, H, 6, 6)
    assert len(view.stack.children) == L                    # one inner Stack per layer
    assert [len(p) for p in inner_pages(view)] == [H + 1] * L   # every head + the mean
    assert all(isinstance(p, widgets.HTML) for pages in inner_pages(view) for p in pages)
    hv = head_view(w, TOKENS, **four)
    assert len(hv.stack.children) == L and len(hv.toggles) == H   # one overlay per layer, one switch per head


def test_bfloat16_tensor_within_tolerance_is_accepted():
    w = torch.softmax(torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    view = attention_view(w.to(torch.bfloat16), list("abcdefgh"))
    assert view.weights.shape == (1, 2, 8, 8)


def test_cross_attention_needs_and_uses_query_tokens():
    w = random_weights(2, 3, 5)                              # (H, Tq=3, Tk=5)
    keys = "le chat est sur tapis".split()
    with pytest.raises(ValueError, match=r"Tq=3 queries and Tk=5 keys.*query_tokens"):
        attention_view(w, keys)
    view = attention_view(w, keys, ["the", "cat", "sat"])
    svg = view.svg(0, 1)
    assert "chat" in svg and "cat" in svg
    root = parse_svg(svg)
    assert len(root.findall(f".//{SVG_NS}g[@class='clw-row']")) == 3   # one row per query
    one_query = head_view(random_weights(4, 1, 5), keys, ["cat"])    # (H, 1, Tk): a decoding step
    assert len(parse_svg(one_query.svg(0)).findall(f".//{SVG_NS}g[@class='clw-q']")) == 1


def test_only_core_widget_models_are_used():
    """The static book can only render core ipywidgets models (no custom JS modules)."""
    view = attention_view(random_weights(2, 2, 6, 6), TOKENS, layer_names=["a", "b"])
    state = widgets.Widget.get_manager_state(widgets=None)["state"]
    ours = {view.model_id, view.layer_select.model_id, view.head_select.model_id, view.stack.model_id}
    ours |= {link.model_id for link in view.links}
    for model_id in ours:
        assert state[model_id]["model_module"] in ("@jupyter-widgets/controls", "@jupyter-widgets/base")


def test_selectors_are_linked_client_side_to_every_stack():
    L, H = 3, 2
    view = attention_view(random_weights(L, H, 6, 6), TOKENS, layer_names=["a", "b", "c"])
    pairs = {(link.source[0].model_id, link.source[1], link.target[0].model_id, link.target[1])
             for link in view.links}
    assert all(isinstance(link, widgets.widget_link.Link) for link in view.links)  # jslink, not a Python callback
    for inner in view.stack.children:
        assert (view.head_select.model_id, "index", inner.model_id, "selected_index") in pairs
    assert (view.layer_select.model_id, "index", view.stack.model_id, "selected_index") in pairs
    assert [v for _, v in view.head_select.options] == list(range(H + 1))
    assert view.head_select.options[-1][0] == "mean of heads"


def test_selection_follows_the_selectors():
    view = attention_view(random_weights(2, 3, 6, 6), TOKENS, layer_names=["a", "b"])
    assert view.selection == (0, 0)
    view.layer_select.index, view.head_select.index = 1, 3
    assert view.selection == (1, "mean")


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("weights, tokens, pattern", [
    (np.full(6, 1 / 6), TOKENS, r"shape \(Tq, Tk\), \(H, Tq, Tk\) or \(L, H, Tq, Tk\), got 1 dimensions"),
    (np.full((1, 1, 1, 6, 6), 1 / 6), TOKENS, r"index the batch dimension away first: weights\[:, b\]"),
    (np.zeros((0, 6)), TOKENS, r"should not be empty"),
    (np.full((6, 6), 1 / 6), TOKENS[:5], r"tokens has 5 entries but the weights have 6 keys"),
    (np.full((6, 6), 1 / 6), "the cat", r"got one string"),
    (np.array([["a"] * 6] * 6), TOKENS, r"real numbers, got dtype"),
])
def test_bad_shapes_and_tokens_are_explained(weights, tokens, pattern):
    with pytest.raises(ValueError, match=pattern):
        attention_view(weights, tokens)


def test_bad_values_are_explained():
    w = np.full((2, 6, 6), 1 / 6)
    neg = w.copy()
    neg[1, 2, 3], neg[1, 2, 4] = -0.1, 1 / 6 + 0.1           # row still sums to 1
    with pytest.raises(ValueError, match=r">= 0.*\(0, 1, 2, 3\)"):
        attention_view(neg, TOKENS)
    nan = w.copy()
    nan[0, 4, 1] = np.nan
    with pytest.raises(ValueError, match=r"finite, found nan at .*\(0, 0, 4, 1\)"):
        head_view(nan, TOKENS)
    with pytest.raises(ValueError, match=r"finite, found inf"):
        attention_view(np.where(w > 0, np.inf, 0), TOKENS)
    with pytest.raises(ValueError, match=r"sum to 1 .*\(0, 1, 0\) sums to 2.*before the softmax"):
        attention_view(np.concatenate([w[:1], 2 * w[1:]]), TOKENS)
    with pytest.raises(ValueError, match=r"layer_names has 1 entries but the weights have 2 layers"):
        attention_view(np.full((2, 1, 6, 6), 1 / 6), TOKENS, layer_names=["only one"])
    with pytest.raises(ValueError, match=r"max_tokens should be a positive integer, got 0"):
        attention_view(w, TOKENS, max_tokens=0)


def test_fully_masked_rows_of_zeros_are_accepted():
    w = np.tril(np.ones((6, 6)))
    w /= w.sum(axis=1, keepdims=True)
    w[5] = 0.0                                              # a padding query: nothing allowed
    view = attention_view(w, TOKENS)
    assert view.weights[0, 0, 5].sum() == 0


@settings(max_examples=25, deadline=None)
@given(L=st.integers(1, 2), H=st.integers(1, 3), T=st.integers(1, 7), scale=st.floats(0.0, 3.0),
       seed=st.integers(0, 1000))
def test_rows_are_accepted_exactly_when_they_sum_to_one(L, H, T, scale, seed):
    w = random_weights(L, H, T, T, seed=seed) * scale       # rows now sum to `scale`
    tokens = [f"t{i}" for i in range(T)]
    if scale == 0.0 or abs(scale - 1.0) <= 1e-3:
        assert W.as_attention_array(w, layers=True).shape == (L, H, T, T)
    else:
        with pytest.raises(ValueError, match=r"should sum to 1"):
            attention_view(w, tokens, layer_names=[str(i) for i in range(L)])


def test_four_axes_need_the_layers_named_because_a_batch_looks_the_same():
    """MultiHeadAttention returns (B, H, Tq, Tk); read as (L, H, Tq, Tk) its batch items would be
    labelled 'layer 0', 'layer 1'. Four axes are refused unless the layers are named."""
    from course_lib.attention import MultiHeadAttention

    x = torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(0))
    _, batch = MultiHeadAttention(8, 2)(x)                         # (B=2, H=2, T, T)
    for call in (lambda: attention_view(batch, TOKENS), lambda: head_view(batch, TOKENS),
                 lambda: plot_attention(batch, TOKENS), lambda: plot_head_view(batch, TOKENS),
                 lambda: W.as_attention_array(batch)):
        with pytest.raises(ValueError, match=r"cannot tell a batch from layers.*weights\[b\].*layer_names"):
            call()
    one = attention_view(batch[1], TOKENS)                        # one batch item: (H, T, T)
    assert one.weights.shape == (1, 2, 6, 6) and one.layer_select.options[0][0] == "one layer"
    np.testing.assert_allclose(one.weights[0], batch[1].detach().double().numpy())
    assert "layer" not in one.svg(0, 1).split("clw-caption")[1][:40]      # caption 'head 1', no layer
    named = attention_view(batch, TOKENS, layer_names=["enc 1", "enc 2"])  # said so: accepted
    assert [o[0] for o in named.layer_select.options] == ["enc 1", "enc 2"]
    assert "enc 2, head 1" in named.svg(1, 1)


def test_captions_name_only_the_axes_the_input_had():
    assert ">attention weights<" in attention_view(random_weights(6, 6), TOKENS).svg(0, 0)   # one map
    assert ">head 1<" in attention_view(random_weights(2, 6, 6), TOKENS).svg(0, 1)          # one layer
    assert ">layer 1, mean of heads<" in attention_view(random_weights(2, 2, 6, 6), TOKENS,
                                                      layer_names=["layer 0", "layer 1"]).svg(1, "mean")
    fig = plot_attention(random_weights(6, 6), TOKENS)
    assert fig.axes[0].get_title() == "attention weights"
    fig = plot_attention(random_weights(2, 2, 6, 6), TOKENS, layer=1, head=0)
    assert fig.axes[0].get_title() == "layer 1, head 0"
    import matplotlib.pyplot as plt
    plt.close("all")


# --------------------------------------------------------------------------- the pictures

def expected_hex(weights: np.ndarray) -> np.ndarray:
    """Recompute the cell colours independently: Blues colour map of w / max(w)."""
    rgba = colormaps["Blues"](weights / weights.max())
    rgb = np.round(rgba[..., :3] * 255).astype(int)
    return np.array([["#%02x%02x%02x" % tuple(c) for c in row] for row in rgb])


def cell_fills(svg: str, Tq: int, Tk: int) -> tuple[np.ndarray, np.ndarray]:
    root = parse_svg(svg)
    fills, values = np.empty((Tq, Tk), dtype=object), np.full((Tq, Tk), np.nan)
    for row in root.iter(SVG_NS + "g"):
        for rect in row.iter(SVG_NS + "rect"):
            if rect.get("class") == "clw-cell":
                q, k = int(row.get("data-query")), int(rect.get("data-k"))
                fills[q, k], values[q, k] = rect.get("fill"), float(rect.get("data-w"))
    assert not np.isnan(values).any(), "every (query, key) cell should be drawn once"
    return fills, values


def luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("head", [0, 1, 2, "mean"])
def test_svg_cells_follow_the_weights_of_the_selected_head(head):
    w = random_weights(2, 3, 6, 6, seed=1)
    view = attention_view(w, TOKENS, layer_names=["layer 0", "layer 1"])
    target = w[1].mean(axis=0) if head == "mean" else w[1, head]   # (Tq, Tk)
    page = inner_pages(view)[1][3 if head == "mean" else head]
    assert page.value == view.svg(1, head)
    fills, values = cell_fills(page.value, 6, 6)
    np.testing.assert_allclose(values, target, atol=5e-5)
    assert (fills == expected_hex(target)).all()
    # heavier weight, darker cell: luminance decreases along the sorted weights
    order = np.argsort(target, axis=None)
    lum = np.array([luminance(c) for c in fills.ravel()[order]])
    assert (np.diff(lum) <= 1e-9).all()


def test_large_maps_embed_one_png_pixel_per_cell():
    T = 40                                                   # 1600 cells > RECT_CELLS_MAX
    assert T * T > W.RECT_CELLS_MAX
    w = random_weights(2, 40, 40, seed=3)
    view = attention_view(w, [f"w{i}" for i in range(T)])
    root = parse_svg(view.svg(0, 1))
    assert not [r for r in root.iter(SVG_NS + "rect") if r.get("class") == "clw-cell"]
    image = root.find(f".//{SVG_NS}image")
    uri = image.get("href")
    assert uri.startswith("data:image/png;base64,")
    pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")
    assert pixels.shape[:2] == (T, T)
    expected = colormaps["Blues"](w[1] / w[1].max())
    np.testing.assert_allclose(pixels[..., :3], expected[..., :3], atol=1 / 255 + 1e-6)
    assert len(root.findall(f".//{SVG_NS}g[@class='clw-row']")) == T   # rows still hoverable


def test_hover_highlight_is_pure_css():
    svg = attention_view(random_weights(6, 6), TOKENS).svg(0, 0)
    assert re.search(r"\.clw-row:hover \.clw-hl[^{]*\{[^}]*stroke:", svg)
    assert "<script" not in svg and "onmouse" not in svg
    rows = parse_svg(svg).findall(f".//{SVG_NS}g[@class='clw-row']")
    assert [r.get("tabindex") for r in rows] == ["0"] * 6    # clickable (focus) as well


def test_lines_svg_draws_one_line_per_visible_weight():
    w = random_weights(6, 6, seed=4, sharp=3.0)
    root = parse_svg(W.lines_svg(w, TOKENS, TOKENS))
    groups = root.findall(f".//{SVG_NS}g[@class='clw-q']")
    assert len(groups) == 6
    for i, g in enumerate(groups):
        opacities = [float(p.get("stroke-opacity")) for p in g.iter(SVG_NS + "path")]
        visible = np.sort(w[i][w[i] >= W.MIN_LINE_WEIGHT])
        np.testing.assert_allclose(np.sort(opacities), visible, atol=5e-3)


def test_lines_svg_thins_long_rows_and_says_so():
    T = 40
    w = np.full((T, T), 1 / T)                               # uniform: 40 lines per query
    svg = W.lines_svg(w, [f"t{i}" for i in range(T)], [f"t{i}" for i in range(T)])
    root = parse_svg(svg)
    assert all(len(list(g.iter(SVG_NS + "path"))) == W.MAX_LINES_PER_QUERY
               for g in root.findall(f".//{SVG_NS}g[@class='clw-q']"))
    assert f"{T * (T - W.MAX_LINES_PER_QUERY)} faint lines not drawn" in svg


def test_long_sequences_are_capped_with_a_note(capsys):
    T = 100
    w = random_weights(2, T, T, seed=5)
    view = attention_view(w, [f"t{i}" for i in range(T)], max_tokens=20)
    out = capsys.readouterr().out
    assert "showing the first 20 of 100 query tokens and the first 20 of 100 key tokens" in out
    assert view.note and "max_tokens=20" in view.note
    assert view.weights.shape == (1, 2, 20, 20)
    np.testing.assert_allclose(view.weights[0], w[:, :20, :20])
    assert any(isinstance(c, widgets.HTML) and "max_tokens=20" in c.value for c in view.children)
    root = parse_svg(view.svg(0, 0))
    assert len(root.findall(f".//{SVG_NS}g[@class='clw-row']")) == 20
    # nothing is capped, nothing is said
    attention_view(random_weights(6, 6), TOKENS)
    assert capsys.readouterr().out == ""


def test_whitespace_tokens_are_visible_and_text_is_escaped():
    tokens = [" ", "\n", "<b>", "a&b", "x" * 30, "中文"]
    svg = attention_view(random_weights(6, 6), tokens).svg(0, 0)
    root = parse_svg(svg)                                    # escaping keeps the XML valid
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    assert "␣" in texts and "↵" in texts and "<b>" in texts and "a&b" in texts
    assert "x" * 11 + "…" in texts


# --------------------------------------------------------------------------- export and fallbacks

@pytest.mark.parametrize("make", [attention_view, head_view])
def test_save_png_and_svg(tmp_path, make):
    view = make(random_weights(2, 3, 6, 6), TOKENS, layer_names=["layer 0", "layer 1"])
    if make is attention_view:
        view.head_select.index, shown = 3, "mean of heads"   # the mean of heads
    else:
        view.toggles[1].value, shown = False, "heads [0, 2]"
    png = view.save(tmp_path / "view.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    svg = view.save(tmp_path / "view.svg")
    assert shown in svg.read_text()
    with pytest.raises(ValueError, match=r"\.png or \.svg.*'\.jpg'"):
        view.save(tmp_path / "view.jpg")


def test_mime_bundle_carries_widget_and_static_picture():
    view = attention_view(random_weights(3, 6, 6), TOKENS)
    bundle = view._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert bundle["text/plain"] == "<attention_view: 1 layer(s) x 3 head(s), 6 query x 6 key tokens>"


def _notebook_with_view_output(view, with_state: bool) -> nbformat.NotebookNode:
    """A notebook as nbconvert's ExecutePreprocessor stores it, built without a kernel."""
    nb = nbformat.v4.new_notebook()
    bundle = view._repr_mimebundle_()
    cell = nbformat.v4.new_code_cell("view", outputs=[nbformat.v4.new_output("display_data", data=bundle)])
    nb.cells.append(cell)
    if with_state:
        state = widgets.Widget.get_manager_state(widgets=None)
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    return nb


def test_html_export_uses_widget_state_or_falls_back_to_the_png():
    from nbconvert import HTMLExporter

    view = attention_view(random_weights(2, 6, 6), TOKENS)
    html_live, _ = HTMLExporter().from_notebook_node(_notebook_with_view_output(view, with_state=True))
    assert 'type="application/vnd.jupyter.widget-view+json"' in html_live
    assert view.stack.model_id in html_live                 # the pre-rendered pages are embedded
    html_static, _ = HTMLExporter().from_notebook_node(_notebook_with_view_output(view, with_state=False))
    assert 'type="application/vnd.jupyter.widget-view+json"' not in html_static
    assert "data:image/png;base64," in html_static           # the static fallback picture


# --------------------------------------------------------------------------- matplotlib plots

def test_plot_attention_draws_the_selected_head():
    import matplotlib.pyplot as plt

    w = random_weights(2, 3, 6, 6, seed=7)
    fig = plot_attention(w, TOKENS, layer=1, head=2)
    assert isinstance(fig, Figure)
    assert plt.fignum_exists(fig.number)                     # a pyplot figure: plt.show() shows it
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), w[1, 2])
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    fig_mean = plot_attention(w, TOKENS, layer=0, head="mean")
    np.testing.assert_allclose(fig_mean.axes[0].images[0].get_array(), w[0].mean(axis=0))
    own = Figure()
    ax_own = own.add_subplot()
    assert plot_attention(w[0, 0], TOKENS, ax=ax_own) is own
    with pytest.raises(ValueError, match=r"head should be an integer in \[0, 3\) or 'mean', got 3"):
        plot_attention(w, TOKENS, layer=0, head=3)
    with pytest.raises(ValueError, match=r"layer should be an integer in \[0, 2\), got 5"):
        plot_attention(w, TOKENS, layer=5)
    fig_lines = plot_head_view(w, TOKENS, layer=1, head="mean")
    segments = fig_lines.axes[0].collections[0].get_segments()
    assert len(segments) == int((w[1].mean(axis=0) >= W.MIN_LINE_WEIGHT).sum())
    plt.close("all")


def test_static_pictures_do_not_leak_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    plt.close("all")
    view = head_view(random_weights(2, 6, 6), TOKENS)
    view._repr_mimebundle_()
    view.save(tmp_path / "v.png")
    assert plt.get_fignums() == []                           # nothing pops up, nothing accumulates


# --------------------------------------------------------------------------- head view: heads overlaid

def test_head_view_overlays_every_head_in_its_colour_with_the_weights_as_opacity():
    w = random_weights(2, 3, 6, 6, seed=11, sharp=3.0)
    view = head_view(w, TOKENS, layer_names=["layer 0", "layer 1"])
    root = parse_svg(view.stack.children[1].value)
    assert view.stack.children[1].value == view.svg(1)
    for h in range(3):
        paths = [p for p in root.iter(SVG_NS + "path") if f"clw-h{h}" in p.get("class").split()]
        assert {p.get("stroke") for p in paths} == {W.HEAD_COLOURS[h]}
        expected = np.sort(w[1, h][w[1, h] >= W.MIN_LINE_WEIGHT])
        np.testing.assert_allclose(np.sort([float(p.get("stroke-opacity")) for p in paths]), expected, atol=5e-3)


def test_toggling_a_head_changes_the_picture_and_the_page_hides_it_with_css():
    w = random_weights(2, 3, 6, 6, seed=12, sharp=3.0)
    view = head_view(w, TOKENS, layer_names=["layer 0", "layer 1"])
    segments = lambda fig: sum(len(c.get_segments()) for c in fig.axes[0].collections)   # noqa: E731
    all_on = segments(view.figure(layer=0))
    view.toggles[1].value = False
    assert view.visible_heads == [0, 2]
    n_head1 = sum(len(W._kept_lines(w[0, 1, i])) for i in range(6))
    assert segments(view.figure(layer=0)) == all_on - n_head1 > 0
    assert "clw-h1" not in view.svg(0, heads=view.visible_heads) and "clw-h1" in view.svg(0)
    # in the page: a rule hides head 1's lines when its button is not active (no JavaScript)
    css = view.css.value
    assert f".clw-hv-{view.uid}:has(.clw-tog-{view.uid}-1:not(.mod-active)) .clw-h1{{display:none}}" in css
    assert f"clw-tog-{view.uid}-1" in view.toggles[1]._dom_classes and f"clw-hv-{view.uid}" in view._dom_classes
    assert "<script" not in css + view.svg(0)


def test_head_view_hover_rules_for_queries_and_keys():
    view = head_view(random_weights(2, 6, 6, seed=13), TOKENS)
    svg = view.svg(0)
    root = parse_svg(svg)
    keys = root.findall(f".//{SVG_NS}g[@class='clw-kl']")
    assert [k.get("data-k") for k in keys] == [str(j) for j in range(6)]
    for j in range(6):                                      # hovering key j dims every line not into key j
        assert f'.clw-ov-{view.uid}:has(.clw-kl[data-k="{j}"]:hover) path:not(.clw-k{j})' in svg
    for p in root.iter(SVG_NS + "path"):                    # ... and each line names its key
        (kcls,) = [c for c in p.get("class").split() if c.startswith("clw-k")]
        y_end = float(p.get("d").split("L")[1].split()[1])
        assert int(kcls[5:]) == int((y_end - 30.0) // float(np.clip(640 / 6, 11, 20)))
    assert ".clw-overlay:has(.clw-q:hover) .clw-q:not(:hover) path" in svg


# --------------------------------------------------------------------------- colour scales

def test_shared_scale_differs_from_per_map_scale_for_a_diffuse_and_a_sharp_head():
    sharp = np.eye(6)                                       # head 0: each token reads itself, weight 1
    diffuse = np.full((6, 6), 1 / 6)                        # head 1: reads everything equally
    w = np.stack([sharp, diffuse])                          # (H, T, T)
    per_map = attention_view(w, TOKENS, scale="map")
    shared = attention_view(w, TOKENS, scale="shared")
    fills_map, _ = cell_fills(per_map.svg(0, 1), 6, 6)
    fills_shared, _ = cell_fills(shared.svg(0, 1), 6, 6)
    darkest = expected_hex(np.ones((1, 1)))[0, 0]
    assert (fills_map == darkest).all()                     # on its own scale the diffuse head looks as dark as it gets
    assert (fills_shared == expected_hex(np.array([[1 / 6, 1.0]]))[0, 0]).all()   # shared: pale, 1/6 of the way
    assert luminance(fills_shared[0, 0]) > luminance(fills_map[0, 0]) + 50
    assert cell_fills(shared.svg(0, 0), 6, 6)[0][0, 0] == darkest     # the sharp head is dark either way
    bar = lambda svg: float(parse_svg(svg).find(f".//{SVG_NS}g[@class='clw-bar']").get("data-vmax"))  # noqa: E731
    assert bar(per_map.svg(0, 1)) == pytest.approx(1 / 6, rel=1e-5) and bar(shared.svg(0, 1)) == 1.0
    assert "shared scale" in shared.svg(0, 1) and "own scale" in per_map.svg(0, 1)
    with pytest.raises(ValueError, match=r"scale should be 'map'.*or 'shared'.*got 'global'"):
        attention_view(w, TOKENS, scale="global")


def thumbnail_pixels(view: W.ModelView, index: int) -> np.ndarray:
    css = view.css.value
    uri = re.search(r'button\[value="%d"\]\{background-image:url\((data:image/png;base64,[^)]+)\)' % index, css).group(1)
    return matplotlib.image.imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")


def test_model_view_grid_of_thumbnails_opens_the_chosen_one_large():
    L, H = 2, 3
    w = random_weights(L, H, 6, 6, seed=14)
    w[1, 2] = 1 / 6                                         # one diffuse head
    view = model_view(w, TOKENS, layer_names=["layer 0", "layer 1"])
    assert len(view.picker.options) == L * H == len(view.stack.children)
    link = view.links[0]
    assert isinstance(link, widgets.widget_link.Link)
    assert (link.source[0], link.source[1], link.target[0], link.target[1]) == (view.picker, "index", view.stack,
                                                                                 "selected_index")
    for i, (layer, head) in enumerate(view.pairs):
        assert view.stack.children[i].value == view.svg(layer, head)
        expected = colormaps["Blues"](w[layer, head] / w.max())         # shared scale by default
        np.testing.assert_allclose(thumbnail_pixels(view, i)[..., :3], expected[..., :3], atol=1 / 255 + 1e-6)
    view.picker.index = 5
    assert view.selection == (1, 2)
    np.testing.assert_allclose(view.figure().axes[0].images[0].get_array(), w[1, 2])
    # on its own scale the diffuse thumbnail is uniformly the darkest colour; shared, it is pale
    own = model_view(w, TOKENS, layer_names=["layer 0", "layer 1"], scale="map")
    assert thumbnail_pixels(own, 5)[..., :3].mean() < thumbnail_pixels(view, 5)[..., :3].mean() - 0.3
    assert f".clw-mv-{view.uid}>div{{display:grid!important;grid-template-columns:repeat({H}," in view.css.value


# --------------------------------------------------------------------------- straight from a model

def _tiny_models():
    from course_lib.bert import BertConfig, BertForPreTraining
    from course_lib.gpt import GPT, GPTConfig
    from course_lib.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=4, n_embd=32))
    bert = BertForPreTraining(BertConfig(vocab_size=30, max_len=16, n_layers=2, n_heads=2, d_model=16, d_ff=32))
    t = Transformer(TransformerConfig(src_vocab_size=20, tgt_vocab_size=15, d_model=16, n_heads=2, d_ff=32))
    for m in (gpt, bert, t):                                # trained-looking: sharper than the initial weights
        with torch.no_grad():
            for name, p in m.named_parameters():
                if any(k in name for k in ("c_attn", "q_proj", "k_proj")) and p.ndim == 2:
                    p.mul_(10.0 if "q_proj" in name or "k_proj" in name else 4.0)
    return gpt, bert, t


def test_attention_view_from_a_model_equals_the_models_own_maps():
    from course_lib.bert import attention_maps

    gpt, bert, t = _tiny_models()
    ids = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    view = attention_view(gpt, list("abcdefgh"), ids=ids)
    np.testing.assert_allclose(view.weights, gpt.attention_maps(ids[None])[:, 0].double().numpy(), atol=1e-7)
    assert view.layer_names == ["layer 0", "layer 1"] and view.tokens == list("abcdefgh")
    assert attention_view(gpt, ids).tokens == [str(int(i)) for i in ids]          # the ids alone: labels are ids
    b_ids = torch.tensor([[2, 7, 8, 9, 3]])                                       # (1, T) is one sequence
    np.testing.assert_allclose(head_view(bert, ids=b_ids).weights, attention_maps(bert, b_ids)[:, 0].double().numpy(),
                               atol=1e-7)
    src, tgt = torch.tensor([3, 4, 5, 6, 0, 0]), torch.tensor([1, 5, 6])
    cross = model_view(t, list("xyz"), ids=tgt, src_ids=src, src_tokens=list("ABCD__"))
    t.eval()                                               # no dropout, as the view runs it
    with torch.no_grad():
        memory, pad = t.encode(src[None], need_weights=True)
        t.decode(tgt[None], memory, pad, need_weights=True)
    np.testing.assert_allclose(cross.weights, t.decoder.cross_weights()[:, 0].double().numpy(), atol=1e-6)
    assert cross.query_tokens == list("xyz") and cross.tokens == list("ABCD__")
    assert np.all(cross.weights[..., 4:] == 0)             # padding keys of the source get nothing
    enc = attention_view(t, list("xyz"), ids=tgt, src_ids=src, src_tokens=list("ABCD__"), part="encoder")
    assert enc.weights.shape == (2, 2, 6, 6) and enc.layer_names[0] == "encoder layer 0"


def test_a_batch_is_never_taken_for_layers():
    gpt, bert, t = _tiny_models()
    batch = torch.randint(0, 20, (2, 8))
    for make in (attention_view, head_view, model_view, W.neuron_view):
        with pytest.raises(ValueError, match=r"shape \(2, 8\): a batch of 2 sequences.*never be read as layers.*ids\[b\]"):
            make(gpt, ids=batch)
    maps = gpt.attention_maps(batch)[1]                    # (B, H, T, T) of one layer: four axes
    with pytest.raises(ValueError, match=r"cannot tell a batch from layers"):
        model_view(maps, [str(i) for i in range(8)])
    with pytest.raises(ValueError, match=r"part should be one of \('cross', 'encoder', 'decoder'\).*got 'self'"):
        attention_view(t, ids=[1, 2], src_ids=[3, 4], part="self")
    with pytest.raises(ValueError, match=r"needs the source ids too"):
        attention_view(t, ids=[1, 2])
    with pytest.raises(ValueError, match=r"got Linear"):
        attention_view(torch.nn.Linear(2, 2), ids=[1, 2])
    with pytest.raises(ValueError, match=r"integer token ids, got dtype torch.float32"):
        attention_view(gpt, ids=torch.zeros(4))


# --------------------------------------------------------------------------- neuron view

@pytest.mark.parametrize("which", ["gpt", "bert", "cross", "decoder", "mha"])
def test_neuron_view_numbers_equal_the_models_own_attention_weights(which):
    from course_lib.bert import attention_maps

    gpt, bert, t = _tiny_models()
    ids = torch.tensor([3, 1, 4, 1, 5, 9, 2])
    src = torch.tensor([3, 4, 5, 6, 7, 0])
    if which == "gpt":
        view, maps = W.neuron_view(gpt, ids=ids, layer=1, head=2), gpt.attention_maps(ids[None])[1, 0, 2]
    elif which == "bert":
        view, maps = W.neuron_view(bert, ids=ids, layer=1, head=1), attention_maps(bert, ids[None])[1, 0, 1]
    elif which == "mha":                                    # one MultiHeadAttention module on vectors (chapter 05)
        from course_lib.attention import MultiHeadAttention
        mha = MultiHeadAttention(16, 2)
        with torch.no_grad():
            mha.q_proj.weight.mul_(6.0)
        x = torch.randn(7, 16, generator=torch.Generator().manual_seed(3))
        view, maps = W.neuron_view(mha, list("abcdefg"), x=x, head=1), mha(x[None])[1][0, 1].detach()
        with pytest.raises(ValueError, match=r"one sequence; a batch would be read as layers"):
            W.neuron_view(mha, x=torch.randn(2, 7, 16))
    else:
        view = W.neuron_view(t, ids=ids[:4], src_ids=src, part=which, layer=1, head=1)
        t.eval()
        with torch.no_grad():
            memory, pad = t.encode(src[None])
            t.decode(ids[None, :4], memory, pad, need_weights=True)
        layer = t.decoder.layers[1]
        maps = (layer.cross_weights if which == "cross" else layer.self_weights)[0, 1]
    maps = maps.double().numpy()
    Tq, Tk = maps.shape
    got = np.array([[view.step(i, j).weight for j in range(Tk)] for i in range(Tq)])
    np.testing.assert_allclose(got, maps, atol=1e-6)
    assert maps.max() > 2 / Tk                              # not a uniform head: equality means something
    d = view.q.shape[1]
    s = view.step(Tq - 1, 0)
    assert s.dot == pytest.approx(float(np.dot(s.q, s.k))) == pytest.approx(float(s.product.sum()))
    assert s.scaled == pytest.approx(s.dot / np.sqrt(d))
    row = np.array([view.step(Tq - 1, j).scaled for j in range(Tk)])
    ok = np.array([view.step(Tq - 1, j).allowed for j in range(Tk)])
    e = np.exp(row[ok] - row[ok].max())
    np.testing.assert_allclose((e / e.sum()), maps[Tq - 1][ok], atol=1e-6)   # softmax of the scaled scores
    svg = view.svg(Tq - 1)
    parse_svg(svg)
    assert f"= {maps[Tq - 1, 0]:.4f}" in svg                 # the written-out arithmetic ends with the weight
    if which in ("gpt", "decoder"):
        assert not view.step(0, 1).allowed and view.step(0, 1).weight == 0.0 and "masked" in view.svg(0)


def test_neuron_view_key_choice_is_css_on_the_chosen_option_and_refuses_wrong_maths():
    gpt, _, _ = _tiny_models()
    view = W.neuron_view(gpt, ids=[3, 1, 4, 1, 5], layer=0, head=1)
    assert view.selection == (4, int(np.argmax(view.weights[4])))
    link = view.links[0]
    assert (link.source[0], link.target[0], link.target[1]) == (view.query_select, view.stack, "selected_index")
    for j in range(5):
        assert (f'.clw-nv-{view.uid}:has(.clw-nk-{view.uid} option:nth-child({j + 1}):checked) '
                f'.clw-nd[data-k="{j}"]{{display:inline}}') in view.css.value
    assert len(parse_svg(view.svg(2)).findall(f".//{SVG_NS}g[@class='clw-nd']")) == 5
    run = W.model_attention(gpt, ids=[3, 1, 4, 1, 5])
    run.weights[0, 1] = np.roll(run.weights[0, 1], 1, axis=-1)     # weights that q and k cannot produce
    with pytest.raises(ValueError, match=r"does not give the model's attention weights"):
        W.NeuronView(run, 0, 1, 16, None)
    with pytest.raises(ValueError, match=r"head should be an integer in \[0, 4\), got 4"):
        W.neuron_view(gpt, ids=[1, 2], head=4)
    with pytest.raises(ValueError, match=r"needs a course model"):
        W.neuron_view(random_weights(2, 6, 6), TOKENS)


# --------------------------------------------------------------------------- side by side, and the static fallback

def test_compare_view_links_both_sides_and_shares_one_colour_scale():
    gpt, _, _ = _tiny_models()
    from course_lib.gpt import GPT, GPTConfig
    torch.manual_seed(1)
    fresh = GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=4, n_embd=32))
    ids = torch.tensor([3, 1, 4, 1, 5, 9])
    for kind in ("attention", "head", "model"):
        view = W.compare_view(fresh, gpt, ids=ids, kind=kind, names=("init", "sharpened"))
        pairs = {(l.source[0].model_id, l.source[1], l.target[0].model_id, l.target[1]) for l in view.links}
        for (a, ta), (b, tb) in zip(view.left.controls(), view.right.controls()):
            assert (a.model_id, ta, b.model_id, tb) in pairs
        assert len(view.links) == len(view.left.controls()) > 0
    view = W.compare_view(random_weights(2, 3, 6, 6, sharp=0.5), random_weights(2, 3, 6, 6, seed=2, sharp=4.0),
                          TOKENS, kind="attention", layer_names=["a", "b"])
    both = max(view.left.weights.max(), view.right.weights.max())
    assert view.left.vmax == view.right.vmax == pytest.approx(both)
    peaks = view.left.weights.max(axis=(2, 3))                          # (L, H): each map's own maximum
    layer, head = np.unravel_index(peaks.argmin(), peaks.shape)
    left_bar = float(parse_svg(view.left.svg(int(layer), int(head))).find(f".//{SVG_NS}g[@class='clw-bar']")
                     .get("data-vmax"))
    assert left_bar == pytest.approx(both, rel=1e-5) and peaks.min() < both
    with pytest.raises(ValueError, match=r"same layout on both sides"):
        W.compare_view(random_weights(2, 6, 6), random_weights(3, 6, 6), TOKENS)
    with pytest.raises(ValueError, match=r"kind should be one of"):
        W.compare_view(fresh, gpt, ids=ids, kind="neuron")


@pytest.mark.parametrize("make", ["attention", "head", "model", "compare"])
def test_static_fallback_shows_every_head_as_small_multiples(make):
    L, H = 2, 3
    w = random_weights(L, H, 6, 6, seed=15)
    names = ["layer 0", "layer 1"]
    view = {"attention": lambda: attention_view(w, TOKENS, layer_names=names),
            "head": lambda: head_view(w, TOKENS, layer_names=names),
            "model": lambda: model_view(w, TOKENS, layer_names=names),
            "compare": lambda: W.compare_view(w, w[:, ::-1], TOKENS, layer_names=names)}[make]()
    fig = view.static_figure()
    panels = [ax for ax in fig.axes if ax.images or ax.collections]
    sides = 2 if make == "compare" else 1
    if make == "head":
        assert len(panels) == L * H
        assert sorted(ax.get_title() for ax in panels)[0] == "layer 0, head 0"
    else:
        heat = [ax for ax in fig.axes if ax.images and ax.get_title()]
        assert len(heat) == L * H * sides
        np.testing.assert_allclose(heat[sides * H + 1].images[0].get_array(), w[1, 1])  # row = layer, column = head
    png = base64.b64decode(view._repr_mimebundle_()["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 200_000


def test_new_views_use_only_core_widget_models():
    w = random_weights(2, 2, 6, 6)
    gpt, _, _ = _tiny_models()
    views = [head_view(w, TOKENS, layer_names=["a", "b"]), model_view(w, TOKENS, layer_names=["a", "b"]),
             W.neuron_view(gpt, ids=[1, 2, 3]), W.compare_view(w, w, TOKENS, layer_names=["a", "b"])]
    state = widgets.Widget.get_manager_state(widgets=None)["state"]
    for view in views:
        for model_id in [view.model_id] + [link.model_id for link in view.links]:
            assert state[model_id]["model_module"] in ("@jupyter-widgets/controls", "@jupyter-widgets/base")
