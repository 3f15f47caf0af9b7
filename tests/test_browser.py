"""Real-browser tests of the attention views: headless Chromium driven by Playwright.

The fixture notebook (built here with nbformat) shows one of each view on hand-made weights
and a tiny GPT: attention_view, head_view, model_view, neuron_view and compare_view. It is executed
once by nbconvert, as chapters are committed. ``check_views`` drives every view in a page where
they are live: switches heads and layers, turns a head off in the head view, hovers a key, clicks a
thumbnail of the model view, picks a key and a query in the neuron view, and checks that the
two sides of the compare view follow one another.

1. JupyterLab 4 and Notebook 7 (the same test, one server of each): open the executed notebook.
   Not trusted, it shows the static PNG of every view (small multiples); Run All Cells, wait
   for the live views, then ``check_views``.
2. A static page: export the executed notebook (widget state stored) to HTML, open it with
   every network request blocked, and ``check_views`` with no kernel (what the book relies on;
   tests/test_book.py does the same in a page of the built book).

Chromium is Debian's (``make browser`` installs it); Playwright's own download does not
work offline. Without it the tests skip, except under CI=true where they fail.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from _needs import NPM_CACHE, book_assets, unavailable

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]
HTML_MANAGER = NPM_CACHE / "node_modules" / "@jupyter-widgets" / "html-manager" / "dist" / "embed.js"
SERVER_START_S = 180          # a loaded 2-core machine can take a while to start JupyterLab
UI_TIMEOUT_MS = 120_000


def _require_chromium(chromium: str = CHROMIUM) -> None:
    reason = None
    if not Path(chromium).exists():
        reason = f"Chromium not found at {chromium} (install Debian's 'chromium': make browser)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the Python package 'playwright' is not installed (pip install playwright)"
    if reason is not None:
        unavailable("browser test", reason)


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch, tmp_path):
    missing = str(tmp_path / "no-chromium-here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the browser test cannot run"):
        _require_chromium(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="Chromium not found"):
        _require_chromium(missing)


# The notebook the browser opens: two layers, three heads with clearly different patterns, and a tiny
# GPT for the neuron view. One cell per view, in the order of VIEWS.
FIXTURE_SOURCE = '''\
import numpy as np
import torch
from course_lib.gpt import GPT, GPTConfig
from course_lib.widgets import attention_view, compare_view, head_view, model_view, neuron_view

tokens = "the cat sat on the mat".split()
T = len(tokens)
previous = np.eye(T, k=-1); previous[0, 0] = 1.0                  # head 0: the previous token
first = np.zeros((T, T)); first[:, 0] = 1.0                        # head 1: the first token
causal = np.tril(np.ones((T, T))); causal /= causal.sum(1, keepdims=True)  # head 2: uniform past
layer0 = np.stack([previous, first, causal])                       # (H, T, T)
layer1 = np.stack([np.eye(T), causal, previous])
weights = np.stack([layer0, layer1])                               # (L, H, T, T)
names = ["layer 0", "layer 1"]
torch.manual_seed(0)
gpt = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=16))
ids = torch.tensor([1, 2, 3, 4, 1, 5])
view = attention_view(weights, tokens, layer_names=names, title="browser fixture")
view'''

VIEW_SOURCES = {
    "head": "head_view(weights, tokens, layer_names=names)",
    "model": "model_view(weights, tokens, layer_names=names)",
    "neuron": "neuron_view(gpt, tokens, ids=ids, layer=1, head=0)",
    "compare": "compare_view(weights, weights[::-1], tokens, layer_names=names, names=('A', 'B'))",
}
VIEWS = ["attention", *VIEW_SOURCES]       # one output each, in this order

def write_fixture_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Attention views\n\nOne of each view (a title: the book lists pages by it)."),
                nbformat.v4.new_code_cell(FIXTURE_SOURCE)]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in VIEW_SOURCES.values()]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory) -> nbformat.NotebookNode:
    """The fixture notebook as a chapter is committed: executed top to bottom by nbconvert,
    outputs and widget state stored, never trusted (signed) by anyone."""
    _require_chromium()
    from nbconvert.preprocessors import ExecutePreprocessor

    path = write_fixture_notebook(tmp_path_factory.mktemp("executed") / "attention.ipynb")
    nb = nbformat.read(path, as_version=4)
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(REPO)}})
    assert "application/vnd.jupyter.widget-state+json" in nb.metadata["widgets"]
    return nb


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started (kernels included), politely then firmly."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)                     # jupyter shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for child in family:                                    # anything that outlived the server
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"processes left behind by jupyter lab: {alive}"


@pytest.fixture(params=["lab", "notebook"])
def jupyter_server(request, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """JupyterLab 4 or Notebook 7 on a free loopback port, rooted in a temporary folder, no token;
    yields (base URL, root folder, the URL path of a notebook under it)."""
    _require_chromium()
    app = request.param
    root = tmp_path / "root"
    root.mkdir()
    home = tmp_path / "home"                                 # fresh settings: no dialogs, no workspace
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"),
               IPYTHONDIR=str(home / "ipython"), PYTHONPATH=str(REPO))
    port = _free_port()
    log = open(tmp_path / "jupyter.log", "wb")
    cmd = [sys.executable, "-m", "jupyter", app, "--no-browser", "--ServerApp.token=",
           "--ServerApp.password=", f"--port={port}", "--ServerApp.port_retries=0",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
    if app == "lab":
        cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:        # containers and CI often run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited with {proc.returncode}:\n"
                                   + (tmp_path / "jupyter.log").read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter {app} did not answer on {base} within {SERVER_START_S} s")
            time.sleep(0.5)
        yield base, root, ("lab/tree/{}?reset" if app == "lab" else "notebooks/{}")
    finally:
        _stop(proc)
        log.close()


def _launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _select(view, label: str, nth: int = 0):
    """The <select> of the Dropdown labelled ``label`` inside one view."""
    return view.locator(".widget-dropdown", has=view.page.locator("label", has_text=label)).nth(nth).locator("select")


def _caption(view, css_class: str, caption: str, timeout: int = UI_TIMEOUT_MS) -> None:
    view.locator(f"svg.{css_class}:visible text.clw-caption", has_text=caption).first.wait_for(
        state="visible", timeout=timeout)


def _shot(view, css_class: str) -> str:
    svg = view.locator(f"svg.{css_class}:visible").first
    svg.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    return hashlib.sha256(svg.screenshot()).hexdigest()


SHOWN_PATHS = """(svg, cls) => Array.from(svg.querySelectorAll('path.' + cls))
    .filter(p => getComputedStyle(p).display !== 'none').length"""
OPACITY = "(svg, cls) => getComputedStyle(svg.querySelector('path.' + cls)).opacity"


def check_views(page) -> None:
    """Drive every view of the fixture notebook in a page where they are live (a kernel, or a static
    page that renders the stored widget state) and check that each reacts as it should."""
    # attention_view: the head and layer selectors switch the heatmap
    view = page.locator(".clw-view-attention").first
    _caption(view, "clw-heatmap", "layer 0, head 0")
    assert view.locator("svg.clw-heatmap:visible rect.clw-cell").count() == 36        # 6 x 6 tokens
    shot0 = _shot(view, "clw-heatmap")
    _select(view, "head").select_option(label="head 1")
    _caption(view, "clw-heatmap", "layer 0, head 1")
    first_col = view.locator('svg.clw-heatmap:visible rect.clw-cell[data-k="0"]')
    assert {first_col.nth(i).get_attribute("data-w") for i in range(6)} == {"1.0000"}  # head 1 reads the first token
    assert _shot(view, "clw-heatmap") != shot0, "the heatmap looks the same after switching to another head"
    _select(view, "layer").select_option(label="layer 1")
    _caption(view, "clw-heatmap", "layer 1, head 1")
    row = view.locator("svg.clw-heatmap:visible g.clw-row").nth(2)
    hl = row.locator("rect.clw-hl")
    assert hl.evaluate("e => getComputedStyle(e).stroke") == "none"
    row.locator("text").hover()
    page.wait_for_function("e => getComputedStyle(e).stroke !== 'none'", arg=hl.element_handle())

    # head_view: every head overlaid; a head's button hides its lines, hovering a key keeps its lines
    view = page.locator(".clw-view-head").first
    svg = view.locator("svg.clw-overlay:visible").first
    svg.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    counts = [svg.evaluate(SHOWN_PATHS, f"clw-h{h}") for h in range(3)]
    assert counts == [6, 6, 21], counts                      # previous, first token, uniform past (1+2+...+6)
    before = _shot(view, "clw-overlay")
    view.locator(".clw-toggle", has_text="head 1").click()
    page.wait_for_function(f"svg => ({SHOWN_PATHS})(svg, 'clw-h1') === 0", arg=svg.element_handle())
    assert [svg.evaluate(SHOWN_PATHS, f"clw-h{h}") for h in (0, 2)] == [6, 21]
    assert _shot(view, "clw-overlay") != before, "switching a head off did not change the picture"
    view.locator(".clw-toggle", has_text="head 1").click()
    page.wait_for_function(f"svg => ({SHOWN_PATHS})(svg, 'clw-h1') === 6", arg=svg.element_handle())
    assert svg.evaluate(OPACITY, "clw-k3") == "1"
    svg.locator('g.clw-kl[data-k="0"] text').hover()         # who reads 'the' (key 0)?
    page.wait_for_function(f"svg => ({OPACITY})(svg, 'clw-k3') === '0.05'", arg=svg.element_handle())
    assert svg.evaluate(OPACITY, "clw-k0") == "1"
    _select(view, "layer").select_option(label="layer 1")
    _caption(view, "clw-overlay", "layer 1")

    # model_view: a grid of painted thumbnails; clicking one opens it large
    view = page.locator(".clw-view-model").first
    _caption(view, "clw-heatmap", "layer 0, head 0")
    buttons = view.locator("button.widget-toggle-button")
    assert buttons.count() == 6
    assert buttons.nth(4).evaluate("b => getComputedStyle(b).backgroundImage").startswith('url("data:image/png')
    buttons.nth(4).click()
    _caption(view, "clw-heatmap", "layer 1, head 1")
    assert "mod-active" in buttons.nth(4).get_attribute("class")

    # neuron_view: the chosen key's arithmetic is written out; the query selector switches the picture
    view = page.locator(".clw-view-neuron").first
    _caption(view, "clw-neuron", "query 5: mat")
    shown = """v => Array.from(v.querySelectorAll('svg.clw-neuron g.clw-nd'))
        .filter(g => getComputedStyle(g).display !== 'none').map(g => g.dataset.k)"""
    _select(view, "key").select_option(index=2)
    page.wait_for_function(f"v => ({shown})(v).join(',') === '2'", arg=view.element_handle())
    assert "key 2 (sat)" in view.locator('svg.clw-neuron:visible g.clw-nd[data-k="2"]').text_content()
    _select(view, "query").select_option(index=3)
    _caption(view, "clw-neuron", "query 3: on")
    page.wait_for_function(f"v => ({shown})(v).join(',') === '2'", arg=view.element_handle())

    # compare_view: the two sides follow one another
    view = page.locator(".clw-view-compare").first
    _select(view, "head", 0).select_option(label="head 2")
    for side in (0, 1):
        view.locator("svg.clw-heatmap:visible").nth(side).locator("text.clw-caption", has_text="layer 0, head 2") \
            .wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    _select(view, "layer", 1).select_option(label="layer 1")
    for side in (0, 1):
        view.locator("svg.clw-heatmap:visible").nth(side).locator("text.clw-caption", has_text="layer 1, head 2") \
            .wait_for(state="visible", timeout=UI_TIMEOUT_MS)


def _render_every_cell(page) -> None:
    """Scroll every cell into view once: Notebook 7 (and JupyterLab, depending on its windowing
    setting) renders the outputs of cells far below the viewport only when they come near it."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    for i in range(cells.count()):
        cells.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(300)


def _run_all_cells(page, tmp_path: Path, attempts: int = 4) -> None:
    """Run > Run All Cells (the same menu in JupyterLab and Notebook 7), until the last view is live:
    on a busy machine the front end may not have its kernel yet when the menu is first used."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.locator(".clw-view-compare svg.clw-heatmap").first.wait_for(state="visible",
                                                                             timeout=UI_TIMEOUT_MS // 2)
            return
        except PlaywrightTimeout:
            shot = tmp_path / f"run-attempt-{attempt}.png"
            page.screenshot(path=str(shot))
            print(f"the views did not show after Run All Cells (attempt {attempt + 1}); see {shot}")
    raise AssertionError(f"the views never showed after {attempts} runs; screenshots in {tmp_path}")


@pytest.mark.slow  # starts JupyterLab or Notebook 7 and Chromium (tens of seconds)
def test_jupyterlab_and_notebook7_show_the_static_pictures_then_every_live_view(jupyter_server, executed_notebook,
                                                                                 tmp_path):
    from playwright.sync_api import sync_playwright

    base, root, url = jupyter_server
    nbformat.write(executed_notebook, root / "attention.ipynb")
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{base}/{url.format('attention.ipynb')}", timeout=UI_TIMEOUT_MS)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible")
            # A committed notebook is not trusted, so the front end does not run the widget views from
            # it: it shows the static picture (every head, small multiples) that each mime bundle carries.
            page.locator(".jp-OutputArea-output img").first.wait_for(state="visible")
            _render_every_cell(page)
            assert page.locator(".jp-OutputArea-output img").count() == len(VIEWS)
            assert page.locator("svg.clw-heatmap").count() == 0
            _run_all_cells(page, tmp_path)
            _render_every_cell(page)
            for name in VIEWS:                               # live views replace the pictures
                out = page.locator(".jp-OutputArea-output").filter(has=page.locator(f".clw-view-{name}"))
                out.first.wait_for(state="attached")
                assert out.first.locator("img").count() == 0, name
            page.locator(".jp-Cell").first.scroll_into_view_if_needed()
            check_views(page)
        finally:
            browser.close()


@pytest.fixture
def static_page(executed_notebook, tmp_path: Path) -> Path:
    """The executed notebook exported to HTML that loads a local copy of the HTML manager, not a CDN.

    ``embed.js`` comes from the npm package the book pins (book/package.json), installed once
    into book/_build/npm by the book's own build code; it needs no RequireJS.
    """
    from nbconvert import HTMLExporter

    book_assets("static-page test")
    shutil.copy(HTML_MANAGER, tmp_path / "embed.js")
    html, _ = HTMLExporter(widget_renderer_url="embed.js").from_notebook_node(executed_notebook)
    page = tmp_path / "attention.html"
    page.write_text(html, encoding="utf-8")
    return page


def open_offline(browser, path: Path):
    """Open ``path`` from disk with every request that is not a file, data or blob URL refused;
    returns the page and the list of what was blocked or failed."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(UI_TIMEOUT_MS)
    trouble: list[str] = []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "blob:")):
            r.continue_()
        else:
            trouble.append(f"blocked {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: trouble.append(f"page error {e}"))
    page.goto(path.as_uri())
    return page, trouble


@pytest.mark.slow  # starts Chromium
def test_static_html_export_drives_every_view_with_no_kernel_and_no_network(static_page):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page, trouble = open_offline(browser, static_page)
            check_views(page)
            # nbconvert's template still points at a CDN for RequireJS and MathJax; both are refused here and
            # neither is needed: the widgets come from the local embed.js
            assert [t for t in trouble if not t.startswith("blocked")] == []
            assert all("require" in t or "mathjax" in t.lower() for t in trouble), trouble
        finally:
            browser.close()
