"""Keep every chapter notebook in step with its source of truth, and execute it.

Each chapter is a pair (see ``jupytext.toml``): ``chapters/src/NN_name.py``, a jupytext
percent file that authors edit, and ``chapters/NN_name.ipynb``, what learners open, with
the outputs of a full-mode run.

    python tools/notebooks.py sync [NN ...]      source -> notebook (outputs and cell ids kept)
    python tools/notebooks.py check              exit 1 if a pair differs (cells, sources, nbgrader)
    python tools/notebooks.py execute [NN ...]   sync, then run top to bottom in a fresh kernel,
                                                 in full mode unless COURSE_FAST=1, and save outputs

``make notebooks`` runs ``execute`` on every chapter (``make notebooks CHAPTERS="08 09"`` on some).
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
SOURCES = CHAPTERS / "src"


def pairs(selection: list[str] | None = None) -> list[tuple[Path, Path]]:
    """(source, notebook) for every chapters/src/NN_*.py, or for the chapters whose number or name is given."""
    found = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if selection:
        wanted = [s.removesuffix(".py").removesuffix(".ipynb").rsplit("/", 1)[-1] for s in selection]
        chosen = [p for p in found if any(p.stem == w or p.stem[:2] == w for w in wanted)]
        unknown = [w for w in wanted if not any(p.stem == w or p.stem[:2] == w for p in found)]
        if unknown:
            raise SystemExit(f"no chapter source for {unknown}; the sources are {[p.stem for p in found]}")
        found = chosen
    return [(p, CHAPTERS / f"{p.stem}.ipynb") for p in found]


def _from_source(source: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    return nb


def sync(source: Path, notebook: Path) -> bool:
    """Write the notebook from its source, keeping the outputs and ids of unchanged cells. True if it changed."""
    new = _from_source(source)
    if notebook.exists():
        old = nbformat.read(notebook, as_version=4)
        new = combine_inputs_with_outputs(new, old)
        new.metadata.pop("jupytext", None)
        if differences(source, notebook) == [] and len(old.cells) == len(new.cells):
            return False
    nbformat.validate(new)
    nbformat.write(new, notebook)
    return True


def _nbgrader(cell) -> dict:
    return dict(cell.metadata.get("nbgrader", {}))


def differences(source: Path, notebook: Path) -> list[str]:
    """Every way the notebook differs from its source: cell count, types, sources, nbgrader metadata."""
    if not notebook.exists():
        return [f"{notebook.name} is missing (run `python tools/notebooks.py sync`)"]
    want, have = _from_source(source), nbformat.read(notebook, as_version=4)
    problems = []
    if len(want.cells) != len(have.cells):
        problems.append(f"{source.name} has {len(want.cells)} cells, {notebook.name} has {len(have.cells)}")
    for i, (w, h) in enumerate(zip(want.cells, have.cells)):
        if w.cell_type != h.cell_type:
            problems.append(f"cell {i}: {w.cell_type} in the source, {h.cell_type} in the notebook")
        elif w.source != h.source:
            first = next((k for k, (a, b) in enumerate(zip(w.source, h.source)) if a != b),
                         min(len(w.source), len(h.source)))
            line = w.source[:first].count("\n") + 1
            problems.append(f"cell {i}: the sources differ from line {line} of the cell "
                            f"({w.source.splitlines()[line - 1][:60] if w.source else ''!r})")
        elif _nbgrader(w) != _nbgrader(h):
            problems.append(f"cell {i}: nbgrader metadata {_nbgrader(w)} in the source, {_nbgrader(h)} in the notebook")
    return problems


def execute(source: Path, notebook: Path, *, timeout: int = 3600) -> float:
    """Sync, then execute the notebook in a fresh kernel inside chapters/ and store its outputs. Returns seconds."""
    from nbclient import NotebookClient

    sync(source, notebook)
    nb = nbformat.read(notebook, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(CHAPTERS)}}).execute()
    seconds = time.monotonic() - start
    nbformat.write(nb, notebook)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync", "check", "execute"])
    parser.add_argument("chapters", nargs="*", help="chapter numbers or names (default: all)")
    args = parser.parse_args(argv)
    chosen = pairs(args.chapters)
    if args.command == "check":
        bad = {nb.name: d for src, nb in chosen if (d := differences(src, nb))}
        for name, problems in bad.items():
            print(f"✗ {name}: " + "; ".join(problems[:3]))
        if not bad:
            print(f"✓ {len(chosen)} notebooks match their sources")
        return 1 if bad else 0
    for src, nb in chosen:
        if args.command == "sync":
            print(("synced " if sync(src, nb) else "unchanged ") + nb.name)
        else:
            mode = "fast" if os.environ.get("COURSE_FAST", "") not in ("", "0") else "full"
            print(f"executing {nb.name} in {mode} mode ...", flush=True)
            print(f"  {nb.name}: {execute(src, nb):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
