"""One source of truth: every chapters/NN_name.ipynb equals its chapters/src/NN_name.py
(cells, types, sources, nbgrader metadata), and every chapter opens with the same set-up cell."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

PAIRS = notebooks.pairs()


@pytest.mark.parametrize("source,notebook", PAIRS, ids=[s.stem for s, _ in PAIRS])
def test_notebook_matches_its_source(source, notebook):
    problems = notebooks.differences(source, notebook)
    assert not problems, (f"{notebook.name} differs from {source.relative_to(ROOT)}: " + "; ".join(problems[:5])
                          + ". Edit the source, then `python tools/notebooks.py sync` (or `make notebooks`).")


def test_every_notebook_has_a_source():
    sources = {s.stem for s, _ in PAIRS}
    orphans = [p.name for p in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")) if p.stem not in sources]
    assert not orphans, f"notebooks without a chapters/src/*.py source: {orphans}"


def test_a_changed_source_is_detected(tmp_path, monkeypatch):
    source, notebook = PAIRS[0]
    nb = nbformat.read(notebook, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\nx = 1"
    changed = tmp_path / notebook.name
    nbformat.write(nb, changed)
    assert any("sources differ" in p for p in notebooks.differences(source, changed))
    nb = nbformat.read(notebook, as_version=4)
    graded = next((c for c in nb.cells if "nbgrader" in c.metadata), None)
    if graded is not None:
        graded.metadata["nbgrader"]["points"] = 99
        nbformat.write(nb, changed)
        assert any("nbgrader metadata" in p for p in notebooks.differences(source, changed))


def _setup_cell(path: Path) -> str:
    nb = jupytext.read(path)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def test_every_chapter_opens_with_the_same_setup_cell():
    cells = {s.name: _setup_cell(s) for s, _ in PAIRS}
    first = cells[PAIRS[0][0].name]
    assert "find_spec(\"course_lib\")" in first, "the first code cell should detect a kernel without the course"
    different = [name for name, cell in cells.items() if cell != first]
    assert not different, f"these chapters open with a different set-up cell: {different}"


def test_setup_cell_says_what_to_run_where_the_course_is_missing(tmp_path):
    """In a kernel without the course (Colab, another Python) and no checkout around, the cell
    stops with one sentence that says exactly what to run."""
    cell = _setup_cell(PAIRS[0][0])
    run = subprocess.run([sys.executable, "-S", "-c", cell], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode != 0
    assert "git clone" in run.stderr and "pip install" in run.stderr, run.stderr[-500:]


def test_setup_cell_installs_from_a_checkout_it_finds(tmp_path):
    """Started inside a checkout (e.g. chapters/) in a Python that lacks the course, the cell installs
    the checkout it finds; here pip is replaced by a recorder, so nothing is installed."""
    cell = _setup_cell(PAIRS[0][0])
    fake_root = tmp_path / "course"
    (fake_root / "course_lib").mkdir(parents=True)
    (fake_root / "chapters").mkdir()
    recorder = ("import subprocess, importlib.util\n"
                "calls = []\n"
                "subprocess.run = lambda cmd, **kw: calls.append(cmd)\n"
                "importlib.util.find_spec = lambda name, *a: None\n")
    run = subprocess.run([sys.executable, "-c", recorder + cell + "\nprint(calls)"],
                         cwd=fake_root / "chapters", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-800:]
    assert "'install'" in run.stdout and str(fake_root) in run.stdout, run.stdout
