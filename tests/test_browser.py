"""Real-browser tests of the attention widgets: headless Chromium driven by Playwright.

The fixture notebook (built here with nbformat) shows ``attention_view`` and ``head_view``
on hand-made weights; it is executed once by nbconvert, as chapters are committed.

1. JupyterLab: start ``jupyter lab`` on a free loopback port with no token and open the
   executed notebook. Not trusted, it shows the static PNG fallback; run the cell, wait for
   the live heatmap, switch head and layer and check that the picture changed; hover a row.
2. A static page: export the executed notebook (widget state stored) to HTML, open it with
   every network request blocked, and check that switching the head still changes the
   heatmap and the head view with no kernel (what the book relies on).

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


# The notebook the browser opens: two layers, three heads with clearly different patterns.
FIXTURE_SOURCE = '''\
import numpy as np
from course_lib.widgets import attention_view, head_view

tokens = "the cat sat on the mat".split()
T = len(tokens)
previous = np.eye(T, k=-1); previous[0, 0] = 1.0                  # head 0: the previous token
first = np.zeros((T, T)); first[:, 0] = 1.0                        # head 1: the first token
causal = np.tril(np.ones((T, T))); causal /= causal.sum(1, keepdims=True)  # head 2: uniform past
layer0 = np.stack([previous, first, causal])                       # (H, T, T)
layer1 = np.stack([np.eye(T), causal, previous])
weights = np.stack([layer0, layer1])                               # (L, H, T, T)
view = attention_view(weights, tokens, layer_names=["layer 0", "layer 1"], title="browser fixture")
view'''

HEAD_VIEW_SOURCE = 'head_view(weights, tokens, layer_names=["layer 0", "layer 1"])'


def write_fixture_notebook(path: Path, *, with_head_view: bool = False) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(FIXTURE_SOURCE)]
    if with_head_view:
        nb.cells.append(nbformat.v4.new_code_cell(HEAD_VIEW_SOURCE))
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory) -> nbformat.NotebookNode:
    """The fixture notebook as a chapter is committed: executed top to bottom by nbconvert,
    outputs and widget state stored, never trusted (signed) by anyone."""
    _require_chromium()
    from nbconvert.preprocessors import ExecutePreprocessor

    path = write_fixture_notebook(tmp_path_factory.mktemp("executed") / "attention.ipynb", with_head_view=True)
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


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab on a free loopback port, rooted in a temporary folder, no token."""
    _require_chromium()
    root = tmp_path / "root"
    root.mkdir()
    home = tmp_path / "home"                                 # fresh settings: no dialogs, no workspace
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"),
               IPYTHONDIR=str(home / "ipython"), PYTHONPATH=str(REPO))
    port = _free_port()
    log = open(tmp_path / "jupyter.log", "wb")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.token=",
           "--ServerApp.password=", f"--port={port}", "--ServerApp.port_retries=0",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:        # containers and CI often run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n"
                                   + (tmp_path / "jupyter.log").read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer on {base} within {SERVER_START_S} s")
            time.sleep(0.5)
        yield base, root
    finally:
        _stop(proc)
        log.close()


def _visible_svg(page, css_class: str):
    return page.locator(f"svg.{css_class}:visible")


def _head_select(page):
    return page.locator(".widget-dropdown", has=page.locator("label", has_text="head")).locator("select")


def _layer_select(page):
    return page.locator(".widget-dropdown", has=page.locator("label", has_text="layer")).locator("select")


def _picture(page, css_class: str) -> tuple[str, str]:
    """The visible SVG's caption, and a hash of a screenshot of it."""
    svg = _visible_svg(page, css_class)
    svg.first.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    caption = svg.first.locator("text.clw-caption").text_content()
    return caption, hashlib.sha256(svg.first.screenshot()).hexdigest()


def _wait_for_caption(page, css_class: str, caption: str, timeout: int = UI_TIMEOUT_MS) -> None:
    page.locator(f"svg.{css_class}:visible text.clw-caption", has_text=caption).first.wait_for(
        state="visible", timeout=timeout)


def _launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _run_first_cell(page, tmp_path: Path, attempts: int = 4) -> None:
    """Run the first cell (Ctrl+Enter in command mode) once the kernel is idle, until the live
    heatmap shows: on a busy machine JupyterLab may swallow the keystroke while starting up."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(state="visible")
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    for attempt in range(attempts):
        prompt.click()                                       # select the cell
        page.keyboard.press("Escape")                        # command mode, not the editor
        page.keyboard.press("Control+Enter")                 # run it in place
        try:
            _wait_for_caption(page, "clw-heatmap", "layer 0, head 0", timeout=UI_TIMEOUT_MS // 2)
            return
        except PlaywrightTimeout:
            shot = tmp_path / f"run-attempt-{attempt}.png"
            page.screenshot(path=str(shot))
            print(f"the widget did not show after Ctrl+Enter (attempt {attempt + 1}); see {shot}")
    raise AssertionError(f"the widget never showed after {attempts} runs of the cell; screenshots in {tmp_path}")


@pytest.mark.slow  # starts JupyterLab / Chromium (tens of seconds)
def test_jupyterlab_renders_the_widget_and_reacts_to_the_head_selector(lab_server, executed_notebook, tmp_path):
    from playwright.sync_api import sync_playwright

    base, root = lab_server
    nbformat.write(executed_notebook, root / "attention.ipynb")
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{base}/lab/tree/attention.ipynb?reset", timeout=UI_TIMEOUT_MS)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible")
            # A committed notebook is not trusted, so JupyterLab may not run the widget view
            # from it: it shows the static PNG that the same mime bundle carries.
            page.locator(".jp-OutputArea-output img").first.wait_for(state="visible")
            assert page.locator(".jp-OutputArea-output img").count() == 2   # attention and head view
            assert _visible_svg(page, "clw-heatmap").count() == 0
            # Run the cell: now the live widget replaces the picture.
            _run_first_cell(page, tmp_path)
            out = page.locator(".jp-OutputArea-output").filter(has=page.locator("svg.clw-heatmap"))
            # JupyterLab shows the widget, not the PNG fallback that the same bundle carries
            assert out.locator("img").count() == 0
            assert _visible_svg(page, "clw-heatmap").count() == 1
            cells = _visible_svg(page, "clw-heatmap").first.locator("rect.clw-cell")
            assert cells.count() == 36                          # 6 x 6 tokens
            caption0, shot0 = _picture(page, "clw-heatmap")
            assert caption0 == "layer 0, head 0"

            _head_select(page).select_option(label="head 1")
            _wait_for_caption(page, "clw-heatmap", "layer 0, head 1")
            caption1, shot1 = _picture(page, "clw-heatmap")
            assert shot1 != shot0, "the heatmap looks the same after switching to another head"
            # head 1 attends to the first token only: the first column is dark, the rest light
            first_col = _visible_svg(page, "clw-heatmap").first.locator('rect.clw-cell[data-k="0"]')
            assert {first_col.nth(i).get_attribute("data-w") for i in range(6)} == {"1.0000"}

            _layer_select(page).select_option(label="layer 1")
            _wait_for_caption(page, "clw-heatmap", "layer 1, head 1")
            _head_select(page).select_option(label="mean of heads")
            _wait_for_caption(page, "clw-heatmap", "layer 1, mean of heads")
            assert _picture(page, "clw-heatmap")[1] not in (shot0, shot1)

            # hovering a query token highlights its row (CSS only)
            row = _visible_svg(page, "clw-heatmap").first.locator("g.clw-row").nth(2)
            hl = row.locator("rect.clw-hl")
            assert hl.evaluate("e => getComputedStyle(e).stroke") == "none"
            row.locator("text").hover()
            page.wait_for_function("e => getComputedStyle(e).stroke !== 'none'", arg=hl.element_handle())
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


@pytest.mark.slow  # starts JupyterLab / Chromium (tens of seconds)
def test_static_html_export_switches_heads_with_no_kernel_and_no_network(static_page):
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def offline(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.route("**/*", offline)
            page.goto(static_page.as_uri())
            _wait_for_caption(page, "clw-heatmap", "layer 0, head 0")
            caption0, shot0 = _picture(page, "clw-heatmap")
            _head_select(page).first.select_option(label="head 2")
            _wait_for_caption(page, "clw-heatmap", "layer 0, head 2")
            assert _picture(page, "clw-heatmap")[1] != shot0

            # the head view (second output) switches heads too
            _wait_for_caption(page, "clw-lines", "layer 0, head 0")
            lines0 = _picture(page, "clw-lines")[1]
            _head_select(page).nth(1).select_option(label="head 1")
            _wait_for_caption(page, "clw-lines", "layer 0, head 1")
            assert _picture(page, "clw-lines")[1] != lines0
            paths = _visible_svg(page, "clw-lines").first.locator("path")
            assert paths.count() == 6                           # every query looks at the first token
        finally:
            browser.close()
