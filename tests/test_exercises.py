"""Exercise honesty, for every chapter that exists (chapters/NN_*.ipynb, found by glob).

* the student version (``tools.labs.student_version``) executes top to bottom in a fresh
  kernel, and every graded test cell in it fails: no check passes on a stub;
* the solutions pasted back into the student version score full marks with the grader
  (hidden tests included);
* cheap static rules: at least two exercises, a test cell right after each solution
  cell, no solution text left in the student version.

Each chapter is executed once per version, in fast mode, in a subprocess kernel.
"""
from __future__ import annotations

import copy

import nbformat
import pytest

from tools import labs

CHAPTERS = labs.find_chapters()
ids = [p.stem for p in CHAPTERS]
# Safety valves, not speed checks: chapter 08 trains for a few minutes in fast mode on a
# busy 2-core machine, and a stuck kernel must still end the test.
CELL_TIMEOUT, TIME_LIMIT = 900, 2400

if not CHAPTERS:  # pragma: no cover - early in the project's life
    pytestmark = pytest.mark.skip(reason="no chapters/NN_*.ipynb yet")


def _by_id(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")}


@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_exercise_structure(path):
    nb = nbformat.read(path, as_version=4)
    ex = labs.exercises(nb)
    assert len(ex) >= 2, f"{path.name} has {len(ex)} graded exercises; a chapter needs at least two"
    for e in ex:
        assert e["points"] > 0, f"{e['grade_id']} is worth no points"
        prev = nb.cells[e["index"] - 1]
        assert prev.metadata.get("nbgrader", {}).get("solution"), \
            f"{e['grade_id']} should come right after its solution cell"
        assert "### BEGIN SOLUTION" in prev.source, f"the solution cell before {e['grade_id']} has no markers"
    student = labs.student_version(nb, name=path.name)
    lines = {line.strip() for c in student.cells for line in c.source.splitlines()}
    for marker in (labs.BEGIN_SOLUTION, labs.END_SOLUTION, labs.BEGIN_HIDDEN, labs.END_HIDDEN):
        assert marker not in lines, f"a {marker!r} line survived into the student version"
    for gid, cell in _by_id(nb).items():
        if cell.metadata["nbgrader"].get("solution"):
            body = labs.strip_solution(cell.source)
            assert _by_id(student)[gid].source == body


@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_nbgrader_can_read_the_markers(path):
    """nbgrader finds markers by substring ("BEGIN SOLUTION" anywhere in a line), so prose that
    quotes a marker outside an exercise cell makes `nbgrader generate_assignment` fail."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        for marker, allowed in (("BEGIN SOLUTION", meta.get("solution")), ("END SOLUTION", meta.get("solution")),
                                ("BEGIN HIDDEN TESTS", meta.get("grade")), ("END HIDDEN TESTS", meta.get("grade"))):
            for line in cell.source.splitlines():
                assert allowed or marker not in line, (
                    f"{path.name}, cell {i} ({cell.cell_type}) mentions {marker!r} in the line {line.strip()!r}; "
                    "nbgrader would take it for a marker. Reword it (e.g. 'the BEGIN/END markers').")
                if allowed and marker in line:
                    assert line.strip() == "### " + marker, (
                        f"{path.name}, cell {i}: a marker line should be exactly '### {marker}', got {line!r}")


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_student_version_fails_every_check(path):
    nb = nbformat.read(path, as_version=4)
    student = labs.student_version(nb, name=path.name)
    executed, bad, problems = labs.grade_notebook(student, cell_timeout=CELL_TIMEOUT, time_limit=TIME_LIMIT)
    assert not problems, f"the student version of {path.name} did not run through: {problems}"
    for e in labs.exercises(executed):
        cell = executed.cells[e["index"]]
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert cell.execution_count is not None, f"{e['grade_id']} never ran"
        assert errors, f"{path.name}: {e['grade_id']} PASSES on the unsolved stub; its checks prove nothing"


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_solutions_pasted_back_score_full_marks(path, tmp_path):
    source = nbformat.read(path, as_version=4)
    student = labs.student_version(source, name=path.name)
    solved = copy.deepcopy(student)
    originals = _by_id(source)
    for gid, cell in _by_id(solved).items():
        if cell.metadata["nbgrader"].get("solution"):
            cell.source = originals[gid].source
    submission = tmp_path / path.name
    nbformat.write(solved, submission)
    [report] = labs.grade_submissions([submission], sources=[path], cell_timeout=CELL_TIMEOUT,
                                      time_limit=TIME_LIMIT)
    failing = [f"{e.grade_id}: {e.message}" for e in report.exercises if e.status != "passed"]
    assert not failing, f"{path.name}: the solutions do not pass their own tests: {failing}"
    assert report.score == report.max_score > 0


# --------------------------------------------------------------------------------------------
# Built, not called: a cheat per exercise (tests/cheats/chNN.py) scores zero, and the same
# cheat passes once the switch (course_lib.checks.forbid) is neutralised.

from cheats import cheats_for  # noqa: E402

# Put in front of a submission, this cell makes forbid() a no-op for the whole kernel.
_NEUTRALISE_FORBID = """\
import course_lib.checks as _checks
_checks.forbid.__enter__ = lambda self: self
_checks.forbid.__exit__ = lambda self, *exc: False
"""


def _with_cheats(path, tmp_path, *, neutralise: bool):
    source = nbformat.read(path, as_version=4)
    cheats = cheats_for(path)
    if cheats is None:
        pytest.fail(f"{path.name} has no tests/cheats/ch{path.name[:2]}.py: every exercise needs a cheat "
                    "that calls the function its test forbids")
    solution_ids = {e["grade_id"].removesuffix("-test") for e in labs.exercises(source)}
    assert set(cheats) == solution_ids, (
        f"{path.name}: cheats for {sorted(cheats)} but exercises {sorted(solution_ids)}")
    student = labs.student_version(source, name=path.name)
    for gid, cell in _by_id(student).items():
        if cell.metadata["nbgrader"].get("solution"):
            cell.source = cheats[gid]
    if neutralise:
        student.cells.insert(0, nbformat.v4.new_code_cell(_NEUTRALISE_FORBID))
    submission = tmp_path / path.name
    nbformat.write(student, submission)
    [report] = labs.grade_submissions([submission], sources=[path], cell_timeout=CELL_TIMEOUT,
                                      time_limit=TIME_LIMIT)
    return report


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_cheats_score_zero(path, tmp_path):
    report = _with_cheats(path, tmp_path, neutralise=False)
    passing = [e.grade_id for e in report.exercises if e.status == "passed"]
    assert not passing, f"{path.name}: a cheat that calls the forbidden function passes {passing}"
    forbidden = [e for e in report.exercises if "ForbiddenCall" in e.message]
    assert len(forbidden) == len(report.exercises), (
        f"{path.name}: every cheat should be stopped by forbid(), got "
        f"{[(e.grade_id, e.message[:80]) for e in report.exercises if e not in forbidden]}")


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_cheats_are_real_shortcuts(path, tmp_path):
    report = _with_cheats(path, tmp_path, neutralise=True)
    failing = [f"{e.grade_id}: {e.message}" for e in report.exercises if e.status != "passed"]
    assert not failing, f"{path.name}: with forbid() off these cheats fail, so they prove nothing: {failing}"
