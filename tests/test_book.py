"""The book builds offline, and its pages work in a real browser with the network blocked.

One build (module fixture) of every chapter plus a fixture notebook that shows an
attention widget on toy weights (executed here, so its widget state is stored). Then
headless Chromium opens the pages from disk with every non-file request refused:
MathJax typesets the formulas, the widget renders from its embedded state, and picking
another head or layer changes the picture, all client-side with no kernel.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "book_widget.ipynb"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

from book import build as book_build  # noqa: E402
from _needs import book_assets, needs_module, unavailable  # noqa: E402
from test_browser import check_views, write_fixture_notebook  # noqa: E402  (every attention view, driven)

VIEWS_PAGE = "98_attention_views"        # the browser tests' fixture notebook, one cell per attention view


def test_npm_lockfile_pins_exactly_what_package_json_asks_for():
    """`npm ci` installs book/package-lock.json; it must agree with package.json (npm ci refuses otherwise)."""
    package = json.loads((ROOT / "book" / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "book" / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["lockfileVersion"] >= 2 and lock["packages"][""]["dependencies"] == package["dependencies"]
    for name, version in package["dependencies"].items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version and entry["integrity"].startswith("sha512-"), name
    assert all("integrity" in e for k, e in lock["packages"].items() if k), "a locked package has no checksum"
    assert '[npm, "ci",' in (ROOT / "book" / "build.py").read_text(encoding="utf-8"), "the book installs with npm ci"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    book_assets("book test")
    work = tmp_path_factory.mktemp("book")
    nb = nbformat.read(FIXTURE, as_version=4)
    from nbclient import NotebookClient
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(work)}}).execute()
    assert nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"], "no widget state stored"
    fixture = work / "99_widget_fixture.ipynb"
    nbformat.write(nb, fixture)
    views = nbformat.read(write_fixture_notebook(work / f"{VIEWS_PAGE}.ipynb"), as_version=4)
    NotebookClient(views, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(ROOT)}}).execute()
    nbformat.write(views, work / f"{VIEWS_PAGE}.ipynb")
    chapters = [str(p) for p in book_build.find_chapters()] + [str(work / f"{VIEWS_PAGE}.ipynb"), str(fixture)]
    out = work / "html"
    r = subprocess.run([sys.executable, "-m", "book.build", "--chapters", *chapters, "--out", str(out),
                        "--work", str(work / "build"), "--quiet"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


@pytest.mark.slow  # builds the whole book (minutes)
def test_every_chapter_has_a_page_and_the_landing_page_links_them(site):
    index = (site / "intro.html").read_text(encoding="utf-8")
    for nb in book_build.find_chapters() + [Path(f"{VIEWS_PAGE}.ipynb"), Path("99_widget_fixture.ipynb")]:
        page = site / "chapters" / (nb.stem + ".html")
        assert page.is_file(), f"no page for {nb.name}"
        assert f"chapters/{nb.stem}.html" in index, f"the landing page does not link {nb.name}"
    assert (site / "index.html").is_file()


@pytest.mark.slow  # builds the whole book (minutes)
def test_pages_load_nothing_from_the_network_and_assets_live_outside_static(site):
    assert book_build.external_references(site) == []
    for name in ("require.js", "widgets/embed-amd.js", "mathjax/tex-mml-chtml.js"):
        assert (site / "_assets" / name).is_file(), name
    static = {p.name for p in (site / "_static").rglob("*")}
    assert not {"require.js", "embed-amd.js", "tex-mml-chtml.js"} & static
    page = (site / "chapters" / "99_widget_fixture.html").read_text(encoding="utf-8")
    for src in re.findall(r'<script[^>]*src="([^"]+)"', page):
        assert not src.startswith(("http:", "https:", "//")), src
    assert page.count('src="../_assets/require.js') == 1 and page.count("embed-amd.js") == 1
    state = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', page, re.S)
    assert state and json.loads(state.group(1))["state"], "the widget state is not embedded in the page"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        unavailable("book test", f"Chromium not found at {CHROMIUM} (install Debian's 'chromium': make browser)")
    playwright = needs_module("playwright.sync_api", what="book test")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path: Path):
    """Open ``path`` from disk with the network blocked; return the page and what went wrong."""
    page = browser.new_page()
    trouble: list[str] = []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "blob:")):
            r.continue_()
        else:
            trouble.append(f"blocked {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda r: trouble.append(f"failed {r.url}"))
    page.on("pageerror", lambda e: trouble.append(f"page error {e}"))
    page.goto(path.as_uri())
    return page, trouble


VISIBLE_CAPTIONS = """() => Array.from(document.querySelectorAll('svg.clw-heatmap'))
    .filter(s => s.getClientRects().length > 0)
    .map(s => [s.querySelector('.clw-caption').textContent,
               Array.from(s.querySelectorAll('rect')).map(r => r.getAttribute('fill')).join(',')])"""


@pytest.mark.slow  # builds the whole book (minutes)
def test_widget_renders_and_switching_head_and_layer_changes_it(site, browser):
    page, trouble = _open(browser, site / "chapters" / "99_widget_fixture.html")
    try:
        page.wait_for_selector("svg.clw-heatmap", state="visible", timeout=30000)
        page.wait_for_function("document.querySelectorAll('mjx-container').length >= 2", timeout=30000)
        assert page.locator("mjx-container[display='true']").count() >= 1  # the display formula
        selects = page.locator(".widget-dropdown select")
        assert selects.count() == 2
        layer, head = selects.nth(0), selects.nth(1)
        [(caption, fills0)] = page.evaluate(VISIBLE_CAPTIONS)
        assert caption == "layer 0, head 0"
        head.select_option(label="head 1")
        page.wait_for_function("() => { const c = (%s)(); return c.length === 1 && c[0][0] === 'layer 0, head 1'; }"
                               % VISIBLE_CAPTIONS, timeout=10000)
        [(_, fills1)] = page.evaluate(VISIBLE_CAPTIONS)
        assert fills1 != fills0, "the picture did not change with the head"
        layer.select_option(label="layer 1")
        page.wait_for_function("() => (%s)()[0][0] === 'layer 1, head 1'" % VISIBLE_CAPTIONS, timeout=10000)
        head.select_option(index=head.locator("option").count() - 1)  # the mean of the heads
        page.wait_for_function("() => (%s)()[0][0].startsWith('layer 1, mean')" % VISIBLE_CAPTIONS, timeout=10000)
        assert trouble == []
    finally:
        page.close()


@pytest.mark.slow  # builds the whole book (minutes)
def test_every_attention_view_works_in_its_book_page_with_the_network_blocked(site, browser):
    """attention, head (toggles, key hover), model (thumbnail click), neuron (key choice) and compare
    views, from the widget state stored in the page, with no kernel and no network."""
    page, trouble = _open(browser, site / "chapters" / f"{VIEWS_PAGE}.html")
    try:
        page.set_viewport_size({"width": 1500, "height": 1100})
        page.set_default_timeout(60000)
        check_views(page)
        assert trouble == []
    finally:
        page.close()


@pytest.mark.slow  # builds the whole book (minutes)
def test_chapter_pages_typeset_maths_offline(site, browser):
    chapters = book_build.find_chapters()
    with_maths = [p for p in chapters if "$" in "".join(
        c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown")]
    if not with_maths:
        pytest.skip("no chapter with maths yet")
    page, trouble = _open(browser, site / "chapters" / (with_maths[0].stem + ".html"))
    try:
        page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=30000)
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a formula error"
        assert trouble == []
    finally:
        page.close()


@pytest.mark.slow  # builds the whole book (minutes)
def test_widgets_in_chapter_pages_switch_client_side(site, browser):
    """In the first real chapter whose page embeds widget state, changing a selector changes what is shown."""
    pages = [site / "chapters" / (p.stem + ".html") for p in book_build.find_chapters()
             if nbformat.read(p, as_version=4).metadata.get("widgets")]
    if not pages:
        pytest.skip("no chapter with stored widget state yet")
    page, trouble = _open(browser, pages[0])
    try:
        page.wait_for_selector(".widget-dropdown select", timeout=30000)
        visible = """() => Array.from(document.querySelectorAll('.widget-html-content'))
            .filter(s => s.getClientRects().length > 0).map(s => s.innerHTML).join('|')"""
        selects = page.locator(".widget-dropdown select")
        choices = [selects.nth(i) for i in range(selects.count()) if selects.nth(i).locator("option").count() > 1]
        assert choices, "no selector with more than one choice"
        select = choices[0]
        before = page.evaluate(visible)
        assert before, "no visible picture in the widget"
        select.select_option(index=1)
        page.wait_for_function(f"() => ({visible})() !== {json.dumps(before)}", timeout=10000)
        assert trouble == []
    finally:
        page.close()
