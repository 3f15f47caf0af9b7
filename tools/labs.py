"""Classroom labs: a student release that gives nothing away, and an autograder.

This is instructor tooling, kept out of the reference library ``course_lib`` on purpose:
it works on the repository (the instructor notebooks in ``chapters/``, the files a student
copy needs), and students never need it. ``course_lib.checks`` keeps what runs *inside* a
graded notebook (``expect``, ``forbid``, ``Credit``).

Our chapter notebooks are *instructor* notebooks in nbgrader's format:

* a **solution cell** (metadata ``nbgrader.solution: true``) holds the answer between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
* a **test cell** right after it (``nbgrader.grade: true``, ``points: N``, locked) holds
  visible ``expect(...)`` checks, and maybe more between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS``.

Two commands turn that into a lab::

    python tools/labs.py release [--out DIR]            # = make labs [OUT=DIR]: the student tree
    python tools/labs.py grade submitted/*/lab01/*.ipynb   # -> labs/grades/lab01.csv, feedback

``release`` writes a self-contained **student tree** (default ``labs/student``): the
student version of every chapter in ``chapters/`` (every solution replaced by
``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests removed, outputs
cleared, nbgrader metadata kept so nbgrader's own tools accept the notebooks),
``course_lib``, ``datasets/``, a README for students and the files ``make lab`` needs.
No chapter source, no git history, no tests, no instructor tools.

``grade`` never trusts a submission's test cells. It rebuilds the notebook from the
student's cells plus the *instructor's* test cells (matched by nbgrader ``grade_id``,
hidden tests restored), runs it in a fresh kernel with a time limit, and scores each
test cell on its own: full points when it runs without an error, zero otherwise with the
failing check's message, or the number the cell evaluates to when it grants partial
credit (``course_lib.checks.Credit``, nbgrader's own rule). A submission that loops
forever or kills its kernel gets zero for the exercise concerned; the grader restarts
the kernel, replays the cells before it and carries on. Results: one gradebook per lab
(a row per student, a column per exercise, a total), feedback per exercise.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import nbformat
from nbformat import NotebookNode

__all__ = [
    "BEGIN_SOLUTION", "END_SOLUTION", "BEGIN_HIDDEN", "END_HIDDEN",
    "find_chapters", "exercises", "strip_solution", "strip_hidden_tests",
    "student_version", "release", "release_tree", "TREE_PATHS",
    "ExerciseScore", "SubmissionReport", "assemble_for_grading", "grade_notebook",
    "grade_submissions", "write_reports", "main",
]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)

REPO_ROOT = Path(__file__).resolve().parent.parent
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"  # the one definition of "a chapter notebook" (book/build.py uses it)
STUDENT_TEMPLATES = Path(__file__).resolve().parent / "student"  # Makefile, README.md, gitignore of the tree
# What the student tree takes from the repository unchanged (only files git tracks, when it can tell).
TREE_PATHS = ("course_lib", "datasets", "weights", "pyproject.toml", "constraints.txt", "lab.mk", "environment.yml",
              "binder", "LICENSE")
# Never copied: byte code and editor leftovers.
TREE_SKIPPED = ("__pycache__", "*.pyc", ".ipynb_checkpoints")
RELEASE_STAMP = ".student-release"  # marks a folder written by release_tree (safe to replace)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- notebooks


def find_chapters(directory: str | os.PathLike = REPO_ROOT / "chapters") -> list[Path]:
    """The chapter notebooks ``NN_name.ipynb`` in ``directory``, in course order."""
    return sorted(Path(directory).glob(CHAPTER_GLOB))


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_solution(cell: NotebookNode) -> bool:
    return bool(_meta(cell).get("solution"))


def _is_test(cell: NotebookNode) -> bool:
    """A graded test cell: ``grade: true`` on a code cell that is not also a solution cell."""
    m = _meta(cell)
    return cell.cell_type == "code" and bool(m.get("grade")) and not m.get("solution")


def _grade_id(cell: NotebookNode) -> str | None:
    return _meta(cell).get("grade_id")


def exercises(nb: NotebookNode) -> list[dict]:
    """One dict per graded test cell: ``grade_id``, ``points``, ``index`` and the solution it follows.

    Raises ValueError when two cells share a grade_id or a graded cell has none,
    because the grader matches cells by that id.
    """
    seen: set[str] = set()
    out, last_solution = [], None
    for i, cell in enumerate(nb.cells):
        m = _meta(cell)
        if not m:
            continue
        gid = m.get("grade_id")
        if not gid:
            raise ValueError(f"cell {i} has nbgrader metadata but no grade_id; every exercise cell needs one")
        if gid in seen:
            raise ValueError(f"grade_id {gid!r} is used by more than one cell (second at cell {i})")
        seen.add(gid)
        if _is_solution(cell):
            last_solution = gid
        if _is_test(cell):
            points = m.get("points", 0)
            if not isinstance(points, (int, float)) or points < 0:
                raise ValueError(f"test cell {gid!r} should have points >= 0, got {points!r}")
            _check_credit(cell.source, float(points), gid)
            out.append({"grade_id": gid, "points": float(points), "index": i, "solution": last_solution})
    return out


_CREDIT = re.compile(r"\bCredit\(\s*(?:points\s*=\s*)?([0-9.]+)?")
_PART = re.compile(r"""\.part\(\s*(?:"[^"]*"|'[^']*')\s*,\s*(?:points\s*=\s*)?([0-9.]+)\s*\)""")
_TOTAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.total\(\)\s*(#.*)?$")


def _check_credit(source: str, points: float, gid: str) -> None:
    """A test cell that grants partial credit must end with ``credit.total()`` and split its own points.

    Without that last line the cell's value is not the score, and a cell with failed parts
    would get full marks; so this is refused when the notebook is released or graded.
    """
    m = _CREDIT.search(source)
    if m is None:
        return
    code = [ln for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not code or not _TOTAL.match(code[-1].strip()):
        raise ValueError(f"test cell {gid!r} uses Credit (partial credit) but its last line is "
                         f"{code[-1].strip() if code else 'empty'!r}; end the cell with `credit.total()` "
                         "so that the cell's value is the points earned")
    if m.group(1) is not None and float(m.group(1)) != points:
        raise ValueError(f"test cell {gid!r}: Credit({m.group(1)}) splits {float(m.group(1)):g} points but "
                         f"the cell's nbgrader metadata gives it {points:g}")
    split = sum(float(p) for p in _PART.findall(source))
    # the instructor's cell (with its hidden parts) must add up; a student version may hold less
    if split > points or (BEGIN_HIDDEN in source and split and split != points):
        raise ValueError(f"test cell {gid!r}: its credit.part(...) points add up to {split:g}, "
                         f"not to the cell's {points:g}")


def _replace_regions(source: str, begin: str, end: str, stub: Sequence[str] | None, where: str) -> str:
    """Replace every ``begin ... end`` block of lines by ``stub`` (indented like ``begin``), or drop it."""
    lines, out, inside, indent = source.splitlines(), [], False, ""
    for n, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == begin:
            if inside:
                raise ValueError(f"{where}: line {n} opens {begin!r} again before {end!r}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            if stub is not None:
                out.extend(indent + s for s in stub)
        elif marker == end:
            if not inside:
                raise ValueError(f"{where}: line {n} has {end!r} without a matching {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {begin!r} is never closed by {end!r}")
    return "\n".join(out)


def strip_solution(source: str, cell_type: str = "code", *, where: str = "cell") -> str:
    """The student's view of a solution cell: each solution block becomes a stub.

    Code cells get ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` at the
    indentation of the ``### BEGIN SOLUTION`` line; markdown cells get ``YOUR ANSWER HERE``.
    A solution cell without markers is replaced entirely (nbgrader does the same).
    """
    stub = CODE_STUB if cell_type == "code" else MARKDOWN_STUB
    if BEGIN_SOLUTION not in source and END_SOLUTION not in source:
        return "\n".join(stub)
    return _replace_regions(source, BEGIN_SOLUTION, END_SOLUTION, stub, where)


def strip_hidden_tests(source: str, *, where: str = "cell") -> str:
    """Remove every ``### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS`` block."""
    if BEGIN_HIDDEN not in source and END_HIDDEN not in source:
        return source
    return _replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, None, where).rstrip("\n")


def _clear_outputs(nb: NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("widgets", None)


def student_version(nb: NotebookNode, *, name: str = "notebook") -> NotebookNode:
    """A copy of an instructor notebook with solutions stubbed, hidden tests removed, outputs cleared."""
    exercises(nb)  # validates grade_ids
    student = copy.deepcopy(nb)
    for i, cell in enumerate(student.cells):
        where = f"{name}, cell {i}"
        if _is_solution(cell):
            cell.source = strip_solution(cell.source, cell.cell_type, where=where)
        elif any(line.strip() in (BEGIN_SOLUTION, END_SOLUTION) for line in cell.source.splitlines()):
            raise ValueError(f"{where} has {BEGIN_SOLUTION!r} but no nbgrader metadata "
                             "`solution: true`; the answer would leak into the student version")
        if any(line.strip() in (BEGIN_HIDDEN, END_HIDDEN) for line in cell.source.splitlines()):
            if not _is_test(cell):
                raise ValueError(f"{where} has hidden tests but is not a graded test cell (grade: true)")
            cell.source = strip_hidden_tests(cell.source, where=where)
    _clear_outputs(student)
    return student


def release(sources: Iterable[str | os.PathLike] | None = None,
            out_dir: str | os.PathLike = REPO_ROOT / "labs" / "student") -> list[Path]:
    """Write the student version of each chapter (default: every ``chapters/NN_*.ipynb``) into ``out_dir``."""
    paths = [Path(p) for p in sources] if sources is not None else find_chapters()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        nbformat.write(student_version(nb, name=path.name), target)
        written.append(target)
    return written


def _tracked_files(root: Path, paths: Sequence[str]) -> list[Path] | None:
    """The files git tracks under ``paths`` (relative to ``root``), or None outside a git checkout."""
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    r = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", *paths], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return [Path(f) for f in r.stdout.split("\0") if f]


def _tree_files(root: Path) -> list[Path]:
    """Every file (relative to ``root``) of TREE_PATHS that goes into the student tree."""
    from fnmatch import fnmatch

    files = _tracked_files(root, TREE_PATHS)
    if files is None:  # a tarball or a copy without .git: walk the folders instead
        files = []
        for name in TREE_PATHS:
            top = root / name
            files += [top.relative_to(root)] if top.is_file() else \
                [f.relative_to(root) for f in sorted(top.rglob("*")) if f.is_file()]
    missing = [n for n in TREE_PATHS if not any(f.parts[0] == n for f in files)]
    if missing:
        raise ValueError(f"release: the student tree needs {', '.join(missing)} from {root}, which has none")

    def skipped(f: Path) -> bool:
        return any(fnmatch(part, pat) for part in f.parts for pat in TREE_SKIPPED) or \
            any(f.as_posix() == pat for pat in TREE_SKIPPED)

    return [f for f in files if not skipped(f) and (root / f).is_file()]


def _fresh_output(out: Path, root: Path) -> None:
    """Empty ``out`` for a new release; refuse a folder that is not an earlier release."""
    out_r, root_r = out.resolve(), root.resolve()
    if out_r == root_r or out_r in root_r.parents:
        raise ValueError(f"release: --out {out} would overwrite the course repository; choose a new folder")
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"release: --out {out} is a file, expected a folder")
        if any(out.iterdir()) and not (out / RELEASE_STAMP).is_file():
            raise ValueError(f"release: {out} is not empty and was not written by `make labs`; "
                             "choose an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def release_tree(out_dir: str | os.PathLike = REPO_ROOT / "labs" / "student",
                 chapters: Iterable[str | os.PathLike] | None = None, *,
                 root: str | os.PathLike = REPO_ROOT) -> Path:
    """Write the self-contained student tree into ``out_dir`` (replacing an earlier release there).

    It holds ``chapters/NN_name.ipynb`` (student versions, default: every chapter), the
    repository's TREE_PATHS (``course_lib``, ``datasets/``, the
    install files ``make lab`` reads) and, from ``tools/student/``, the student Makefile,
    README.md and .gitignore. Nothing else: no ``chapters/src``, no ``.git``, no
    ``tests/``, no ``tools/``, no ``jupytext.toml`` (which would recreate chapter sources
    when a notebook is saved).
    """
    root, out = Path(root), Path(out_dir)
    paths = [Path(p) for p in chapters] if chapters is not None else find_chapters(root / "chapters")
    if not paths:
        raise ValueError(f"release: no chapter notebooks ({CHAPTER_GLOB}) in {root / 'chapters'}")
    students = [(p.name, student_version(nbformat.read(p, as_version=4), name=p.name)) for p in paths]
    files = _tree_files(root)  # everything is checked before the old release is removed
    _fresh_output(out, root)
    for f in files:
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, out / f)
    for template, name in (("Makefile", "Makefile"), ("README.md", "README.md"), ("gitignore", ".gitignore")):
        shutil.copy2(STUDENT_TEMPLATES / template, out / name)
    (out / "chapters").mkdir(exist_ok=True)
    for name, nb in students:
        nbformat.write(nb, out / "chapters" / name)
    (out / RELEASE_STAMP).write_text("Written by `make labs` (tools/labs.py release); replaced by the next release.\n"
                                     + "".join(f"{name}\n" for name, _ in students), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- grading


@dataclass
class ExerciseScore:
    """The score of one graded test cell."""

    grade_id: str
    points: float
    max_points: float
    status: str  # passed | partial | failed | timeout | crashed | not run
    message: str = ""  # the failing check(s), or why the cell did not run


@dataclass
class SubmissionReport:
    """Every exercise of one submission, plus what went wrong with the run as a whole."""

    student: str
    submission: str
    chapter: str
    lab: str = ""  # the gradebook this submission goes into (nbgrader's assignment name)
    exercises: list[ExerciseScore] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)


def assemble_for_grading(submission: NotebookNode, source: NotebookNode) -> NotebookNode:
    """The notebook the grader runs: the student's cells with the instructor's test cells.

    * a cell whose grade_id is a test (or other locked) cell of ``source`` gets the
      instructor's source and metadata back, hidden tests included;
    * a solution cell keeps the student's code but the instructor's metadata;
    * a cell that claims to be graded with an id the instructor never wrote loses its
      nbgrader metadata (it runs, it does not score);
    * an instructor test cell the student deleted is put back after the cell it followed.
    """
    source_cells = {_grade_id(c): c for c in source.cells if _grade_id(c)}
    order = [_grade_id(c) for c in source.cells if _grade_id(c)]
    nb = copy.deepcopy(submission)
    cells, placed = [], set()
    for cell in nb.cells:
        gid = _grade_id(cell)
        ref = source_cells.get(gid) if gid else None
        if gid in placed:
            continue  # a duplicated exercise cell: only the first copy counts
        if ref is None:
            if _meta(cell):
                cell.metadata.pop("nbgrader")
            cells.append(cell)
            continue
        if _is_solution(ref):
            cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata["nbgrader"])
            cell.cell_type = ref.cell_type
        else:
            cell = copy.deepcopy(ref)
        placed.add(gid)
        cells.append(cell)
    for k, gid in enumerate(order):  # restore what the student deleted
        ref = source_cells[gid]
        if gid in placed or _is_solution(ref):
            continue
        before = [g for g in order[:k] if g in placed]
        pos = len(cells)
        if before:
            pos = next(i for i, c in enumerate(cells) if _grade_id(c) == before[-1]) + 1
        cells.insert(pos, copy.deepcopy(ref))
        placed.add(gid)
    nb.cells = cells
    _clear_outputs(nb)
    return nb


def _error_message(cell: NotebookNode) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), _ANSI.sub("", str(out.get("evalue", "")))
            if ename == "NotImplementedError" and not evalue:
                return "NotImplementedError: the exercise is not done yet (the stub raises)"
            return f"{ename}: {evalue}".strip()
    return None


def _partial_points(cell: NotebookNode, max_points: float) -> float | None:
    """The number a test cell evaluates to (nbgrader's partial-credit rule), clipped to [0, max]; else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "execute_result":
            text = str(out.get("data", {}).get("text/plain", "")).strip()
            try:
                value = float(text)
            except ValueError:
                return None
            return min(max(value, 0.0), max_points)
    return None


def _failed_checks(cell: NotebookNode) -> str:
    """The ``✗ ...`` lines a cell printed (the parts that failed under partial credit)."""
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            lines += [ln.strip() for ln in _ANSI.sub("", str(out.get("text", ""))).splitlines()
                      if ln.strip().startswith("✗")]
    return "; ".join(lines)


def _start_kernel(client, cwd: str, env: dict) -> None:
    client.km = client.create_kernel_manager()
    # the kernel's own stderr (connection warnings, tracebacks of a killed cell) is noise here:
    # what matters is in the cell outputs
    client.start_new_kernel(cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client.start_new_kernel_client()


def _stop_kernel(client) -> None:
    try:
        if client.km is not None:
            client._cleanup_kernel()
    except Exception:  # a dead kernel may refuse a clean shutdown; nothing left to save
        client.km = client.kc = None


def grade_notebook(nb: NotebookNode, *, cell_timeout: float = 300, time_limit: float = 1800,
                   fast: bool = True, max_restarts: int = 3,
                   kernel_name: str = "python3") -> tuple[NotebookNode, dict[int, str], list[str]]:
    """Execute ``nb`` cell by cell in a fresh kernel and survive what a submission can do.

    Returns the executed notebook, ``{cell index: problem}`` for cells that timed out,
    killed the kernel or never ran, and a list of run-level problems. Errors inside
    cells are kept in the outputs (``allow_errors``), as in nbgrader.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    env = dict(os.environ, COURSE_FAST="1" if fast else "0", PYTHONUNBUFFERED="1")
    env.pop("JPY_PARENT_PID", None)
    client = NotebookClient(nb, kernel_name=kernel_name, allow_errors=True, timeout=int(cell_timeout),
                            store_widget_state=False, record_timing=False)
    bad: dict[int, str] = {}
    problems: list[str] = []
    deadline = time.monotonic() + time_limit
    restarts = 0
    with tempfile.TemporaryDirectory(prefix="grade-") as cwd:
        _start_kernel(client, cwd, env)
        try:
            i = 0
            while i < len(nb.cells):
                cell = nb.cells[i]
                left = deadline - time.monotonic()
                if left <= 0 and cell.cell_type == "code":
                    for j in range(i, len(nb.cells)):
                        if nb.cells[j].cell_type == "code":
                            bad[j] = f"not run: the submission used up its time limit of {time_limit:g} s"
                    problems.append(f"time limit of {time_limit:g} s reached at cell {i}")
                    break
                client.timeout = max(1, int(min(cell_timeout, left)))
                try:
                    client.execute_cell(cell, i)
                    i += 1
                    continue
                except CellTimeoutError:
                    bad[i] = f"timed out after {client.timeout} s (an endless loop?)"
                except DeadKernelError:
                    bad[i] = "the kernel died while running this cell (a crash, or too much memory)"
                problems.append(f"cell {i}: {bad[i]}")
                _stop_kernel(client)
                restarts += 1
                if restarts > max_restarts:
                    for j in range(i + 1, len(nb.cells)):
                        if nb.cells[j].cell_type == "code":
                            bad[j] = f"not run: the kernel was restarted {max_restarts} times already"
                    break
                _start_kernel(client, cwd, env)
                for j in range(i):  # replay what came before, skipping the cells that failed
                    if j not in bad and nb.cells[j].cell_type == "code":
                        replay = copy.deepcopy(nb.cells[j])
                        try:
                            client.execute_cell(replay, j)
                        except (CellTimeoutError, DeadKernelError):
                            break
                i += 1
        finally:
            _stop_kernel(client)
    return nb, bad, problems


def _nbgrader_layout(path: Path) -> tuple[str, str] | None:
    """``(student, lab)`` for nbgrader's ``.../submitted/<student>/<lab>/<notebook>.ipynb``, else None."""
    parts = path.resolve().parts
    if len(parts) >= 4 and parts[-4] == "submitted":
        return parts[-3], parts[-2]
    return None


def _student_name(path: Path, all_paths: Sequence[Path]) -> str:
    """Who handed ``path`` in.

    nbgrader's layout ``submitted/<student>/<lab>/<nb>.ipynb`` names the student; else the
    file stem when the stems differ (``alice.ipynb``, ``bob.ipynb``); else the nearest folder
    name that tells the submissions apart.
    """
    layout = _nbgrader_layout(path)
    if layout is not None:
        return layout[0]
    paths = [p.resolve() for p in all_paths]
    if len({p.stem for p in paths}) == len(paths):
        return path.stem
    me = path.resolve()
    for depth in range(1, max(len(p.parts) for p in paths)):
        names = [p.parts[-1 - depth] if len(p.parts) > depth else "" for p in paths]
        if len(set(names)) == len(names):
            return me.parts[-1 - depth]
    return str(path)


def _lab_name(path: Path, source: Path, lab: str | None) -> str:
    """The gradebook a submission goes into: ``lab`` if given, nbgrader's ``<lab>`` folder, else the chapter."""
    if lab:
        return lab
    layout = _nbgrader_layout(path)
    return layout[1] if layout is not None else Path(source).stem


def _match_source(submission: NotebookNode, path: Path, sources: Sequence[Path]) -> Path:
    ids = {_grade_id(c) for c in submission.cells if _grade_id(c)}
    best, best_n = None, 0
    for src in sources:
        src_ids = {_grade_id(c) for c in nbformat.read(src, as_version=4).cells if _grade_id(c)}
        n = len(ids & src_ids)
        if n > best_n:
            best, best_n = src, n
    if best is None:
        same = [s for s in sources if s.name == path.name]
        if not same:
            raise ValueError(f"{path}: no exercise cell (nbgrader grade_id) matches a chapter and no chapter "
                             f"is called {path.name}; pass the instructor notebook with --source")
        best = same[0]
    return best


def _score(e: dict, i: int, cell: NotebookNode, bad: dict[int, str]) -> ExerciseScore:
    """The score of one executed test cell: zero with the reason, partial credit, or full points."""
    gid, max_points = e["grade_id"], e["points"]
    if i in bad:
        status = "not run" if bad[i].startswith("not run") else ("timeout" if "timed out" in bad[i] else "crashed")
        return ExerciseScore(gid, 0.0, max_points, status, bad[i])
    msg = _error_message(cell)
    if msg is None and cell.get("execution_count") is None:
        msg = "not run"
    if msg:
        return ExerciseScore(gid, 0.0, max_points, "failed", msg)
    partial = _partial_points(cell, max_points)
    if partial is not None and partial < max_points:
        return ExerciseScore(gid, partial, max_points, "partial", _failed_checks(cell))
    return ExerciseScore(gid, max_points, max_points, "passed")


def _grade_one(args: tuple) -> SubmissionReport:
    path, student, lab, source_path, cell_timeout, time_limit, fast, feedback_dir = args
    start = time.monotonic()
    source = nbformat.read(source_path, as_version=4)
    ex = exercises(source)
    report = SubmissionReport(student=student, submission=str(path), chapter=Path(source_path).name, lab=lab)
    try:
        submission = nbformat.read(path, as_version=4)
    except Exception as exc:  # not a notebook at all: zero everywhere, keep going
        report.problems.append(f"could not read the notebook: {exc}")
        report.exercises = [ExerciseScore(e["grade_id"], 0.0, e["points"], "not run", "unreadable notebook")
                            for e in ex]
        return report
    nb = assemble_for_grading(submission, source)
    try:
        nb, bad, problems = grade_notebook(nb, cell_timeout=cell_timeout, time_limit=time_limit, fast=fast)
        report.problems.extend(problems)
    except Exception as exc:  # the kernel would not even start: report, do not stop the class
        bad, report.problems = {i: f"not run: {exc}" for i in range(len(nb.cells))}, [f"grading failed: {exc}"]
    by_id = {_grade_id(c): (i, c) for i, c in enumerate(nb.cells) if _grade_id(c)}
    report.exercises = [_score(e, *by_id[e["grade_id"]], bad) for e in ex]
    if feedback_dir:
        target = Path(feedback_dir) / _safe(lab) / _safe(student) / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
    report.seconds = round(time.monotonic() - start, 2)
    return report


def _safe(name: str) -> str:
    """A student or lab name as one folder name."""
    return re.sub(r"[^\w.@+-]+", "_", name).strip("._") or "_"


def grade_submissions(submissions: Sequence[str | os.PathLike], *,
                      sources: Sequence[str | os.PathLike] | None = None,
                      cell_timeout: float = 300, time_limit: float = 1800, fast: bool = True,
                      jobs: int = 1, feedback_dir: str | os.PathLike | None = None,
                      lab: str | None = None) -> list[SubmissionReport]:
    """Grade each submission against its instructor notebook (found by grade_id among ``sources``).

    Each report names its student (see ``_student_name``) and its lab: ``lab`` when given,
    else the ``<lab>`` folder of nbgrader's ``submitted/<student>/<lab>/`` layout, else the
    chapter's name. Executed notebooks go to ``feedback_dir/<lab>/<student>/``.
    """
    paths = [Path(p) for p in submissions]
    if not paths:
        raise ValueError("grade expected at least one submission notebook, got none")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"submission files not found: {', '.join(missing)}")
    src = [Path(s) for s in sources] if sources else find_chapters()
    if not src:
        raise ValueError("no instructor notebooks to grade against: pass --source or add chapters/NN_*.ipynb")
    tasks = []
    for p in paths:
        try:
            sub = nbformat.read(p, as_version=4)
        except Exception:  # unreadable: graded against the chapter of the same name, scores zero
            sub = None
        if sub is not None:
            source = _match_source(sub, p, src)
        else:
            source = next((s for s in src if s.name == p.name), src[0])
        tasks.append((p, _student_name(p, paths), _lab_name(p, source, lab), source, cell_timeout, time_limit,
                      fast, str(feedback_dir) if feedback_dir else None))
    if jobs <= 1 or len(tasks) == 1:
        return [_grade_one(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_grade_one, tasks))


def _gradebook_rows(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def write_reports(reports: Sequence[SubmissionReport], out_dir: str | os.PathLike) -> list[Path]:
    """Write one gradebook per lab into ``out_dir``; return the files written.

    For each lab (see :func:`grade_submissions`):

    * ``<lab>.csv``, the gradebook an LMS imports: one row per student, ``student, total,
      max_total`` and a column of points per exercise (test cell ``grade_id``);
    * ``<lab>-feedback.csv``: one row per student and exercise: points, status (passed,
      partial, failed, timeout, crashed, not run) and the failing check's message;
    * ``<lab>.json``: the same, grouped by submission, with run problems.

    Grading another lab writes other files. Grading some students of a lab again replaces
    their rows and keeps everyone else's, so a late submission can be graded on its own.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_lab: dict[str, list[SubmissionReport]] = {}
    for r in reports:
        by_lab.setdefault(r.lab or Path(r.chapter).stem, []).append(r)
    written = []
    for lab, group in by_lab.items():
        stem = _safe(lab)
        book, feedback, details = out / f"{stem}.csv", out / f"{stem}-feedback.csv", out / f"{stem}.json"
        old_rows = _gradebook_rows(book)
        old_feedback = []
        if feedback.is_file():
            with open(feedback, newline="", encoding="utf-8") as f:
                old_feedback = list(csv.DictReader(f))
        old_details = json.loads(details.read_text(encoding="utf-8")) if details.is_file() else []
        graded = {r.student for r in group}
        rows = {name: row for name, row in old_rows.items() if name not in graded}
        columns = [c for row in old_rows.values() for c in row if c not in ("student", "total", "max_total")]
        for r in group:  # a student may hand in several notebooks of one lab: one row for all of them
            row = rows.setdefault(r.student, {"student": r.student, "total": 0.0, "max_total": 0.0})
            for e in r.exercises:
                row[e.grade_id] = f"{e.points:g}"
                columns.append(e.grade_id)
            row["total"] = float(row["total"]) + r.score
            row["max_total"] = float(row["max_total"]) + r.max_score
        columns = list(dict.fromkeys(columns))
        with open(book, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["student", "total", "max_total", *columns], restval="")
            w.writeheader()
            for name in sorted(rows):
                row = dict(rows[name])
                row["total"], row["max_total"] = f"{float(row['total']):g}", f"{float(row['max_total']):g}"
                w.writerow(row)
        fields = ["student", "chapter", "exercise", "points", "max_points", "status", "message"]
        with open(feedback, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(row for row in old_feedback if row["student"] not in graded)
            for r in group:
                for e in r.exercises:
                    w.writerow(dict(student=r.student, chapter=r.chapter, exercise=e.grade_id, points=f"{e.points:g}",
                                    max_points=f"{e.max_points:g}", status=e.status, message=e.message))
        data = [d for d in old_details if d.get("student") not in graded]
        data += [dict(asdict(r), score=r.score, max_score=r.max_score) for r in group]
        details.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written += [book, feedback, details]
    return written


def _print_reports(reports: Sequence[SubmissionReport]) -> None:
    for r in reports:
        print(f"{r.student}  {r.lab}  {r.chapter}  {r.score:g}/{r.max_score:g}  ({r.seconds:.1f} s)")
        for e in r.exercises:
            mark = {"passed": "✓", "partial": "½"}.get(e.status, "✗")
            line = f"  {mark} {e.grade_id}: {e.points:g}/{e.max_points:g}"
            print(line + (f"  {e.status}: {e.message[:200]}" if e.message else ""))
        for p in r.problems:
            print(f"  ! {p}")


# --------------------------------------------------------------------------- command line


def _show(path: Path) -> str:
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/labs.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write the student tree (or, with --notebooks-only, just the notebooks)")
    rel.add_argument("notebooks", nargs="*", help="instructor notebooks (default: chapters/NN_*.ipynb)")
    rel.add_argument("--out", default=str(REPO_ROOT / "labs" / "student"), help="output folder (default labs/student)")
    rel.add_argument("--notebooks-only", action="store_true",
                     help="write only the student notebooks into --out, for a learning platform that has the course")
    gr = sub.add_parser("grade", help="grade submitted notebooks")
    gr.add_argument("submissions", nargs="+", help="submitted notebooks")
    gr.add_argument("--source", action="append", help="instructor notebook(s) (default: chapters/NN_*.ipynb)")
    gr.add_argument("--lab", help="gradebook name (default: nbgrader's submitted/STUDENT/LAB folder, else the chapter)")
    gr.add_argument("--out", default=str(REPO_ROOT / "labs" / "grades"), help="where LAB.csv, LAB-feedback.csv go")
    gr.add_argument("--cell-timeout", type=float, default=300, help="seconds one cell may run (default 300)")
    gr.add_argument("--time-limit", type=float, default=1800, help="seconds a whole submission may run")
    gr.add_argument("--full", action="store_true", help="run in full mode (default: COURSE_FAST=1)")
    gr.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    gr.add_argument("--no-feedback", action="store_true", help="do not write the executed notebooks")
    args = parser.parse_args(argv)
    if args.command == "release":
        try:
            if args.notebooks_only:
                for p in release(args.notebooks or None, args.out):
                    print(f"wrote {_show(p)}")
                return 0
            tree = release_tree(args.out, args.notebooks or None)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        n = len(list((tree / "chapters").glob(CHAPTER_GLOB)))
        print(f"wrote the student tree {_show(tree)}: {n} chapters, course_lib, datasets, README.md, Makefile "
              f"(students run `make lab` there)")
        return 0
    reports = grade_submissions(args.submissions, sources=args.source, cell_timeout=args.cell_timeout,
                                time_limit=args.time_limit, fast=not args.full, jobs=args.jobs, lab=args.lab,
                                feedback_dir=None if args.no_feedback else Path(args.out) / "feedback")
    _print_reports(reports)
    for path in write_reports(reports, args.out):
        print(f"wrote {_show(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
