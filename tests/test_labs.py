"""course_lib.labs on a small fixture: release, and a grader that cannot be fooled or stopped."""
from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import labs

FIXTURE = Path(__file__).parent / "fixtures" / "lab_fixture.ipynb"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source():
    return nbformat.read(FIXTURE, as_version=4)


@pytest.fixture(scope="module")
def student(source):
    return labs.student_version(source, name="fixture")


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _write(tmp_path, name, nb):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------- release


def test_student_version_stubs_solutions_and_drops_hidden_tests(source, student):
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and "return 2 * x" not in text
    assert "HIDDEN TESTS" not in text and "double(-3)" not in text
    stub = _cell(student, "ex-fx-double").source
    assert stub.splitlines()[-2:] == ["    # YOUR CODE HERE", "    raise NotImplementedError()"]
    assert stub.startswith("def double(x):")  # the signature and docstring stay
    assert _cell(student, "ex-fx-double-test").source == 'expect(double(2), 4, name="double(2)")'
    # nbgrader metadata kept cell by cell, so nbgrader's tools accept the notebook
    for a, b in zip(source.cells, student.cells):
        assert a.metadata.get("nbgrader") == b.metadata.get("nbgrader")
    assert len(source.cells) == len(student.cells)


def test_student_version_clears_outputs_and_leaves_the_source_alone(source):
    executed = copy.deepcopy(source)
    executed.cells[5].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "10"})]
    executed.cells[5].execution_count = 3
    executed.metadata["widgets"] = {"state": {}}
    before = copy.deepcopy(executed)
    s = labs.student_version(executed)
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in s.cells if c.cell_type == "code")
    assert "widgets" not in s.metadata
    assert executed == before


def test_markdown_solution_and_solution_without_markers():
    assert labs.strip_solution("my answer", "markdown") == "YOUR ANSWER HERE"
    assert labs.strip_solution("x = 1", "code") == "# YOUR CODE HERE\nraise NotImplementedError()"
    src = "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3"
    assert labs.strip_solution(src) == "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nc = 3"


@pytest.mark.parametrize("bad, words", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "again before"),
])
def test_unbalanced_markers_raise_a_clear_error(bad, words):
    with pytest.raises(ValueError, match=words):
        labs.strip_solution(bad, where="ch 99, cell 4")


def test_solution_markers_without_metadata_would_leak_and_are_refused(source):
    nb = copy.deepcopy(source)
    nb.cells[5].source = "### BEGIN SOLUTION\nsecret = 42\n### END SOLUTION"
    with pytest.raises(ValueError, match="leak"):
        labs.student_version(nb, name="leaky")


def test_duplicate_grade_ids_are_refused(source):
    nb = copy.deepcopy(source)
    _cell(nb, "ex-fx-mean-test").metadata["nbgrader"]["grade_id"] = "ex-fx-double-test"
    with pytest.raises(ValueError, match="more than one cell"):
        labs.exercises(nb)


def test_release_cli_writes_student_notebooks(tmp_path):
    out = tmp_path / "student"
    r = subprocess.run([sys.executable, "-m", "course_lib.labs", "release", str(FIXTURE), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    written = nbformat.read(out / FIXTURE.name, as_version=4)
    assert "return 2 * x" not in "\n".join(c.source for c in written.cells)


# ----------------------------------------------------------------------------- assembling


def test_assembly_restores_instructor_tests_and_ignores_fake_ones(source, student):
    sub = copy.deepcopy(student)
    _cell(sub, "ex-fx-double-test").source = "pass  # I trust myself"
    sub.cells = [c for c in sub.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ex-fx-mean-test"]
    fake = nbformat.v4.new_code_cell("print('free points')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "points": 100, "solution": False, "locked": True}})
    sub.cells.append(fake)
    graded = labs.assemble_for_grading(sub, source)
    assert _cell(graded, "ex-fx-double-test").source == _cell(source, "ex-fx-double-test").source
    restored = [i for i, c in enumerate(graded.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ex-fx-mean-test"]
    sol = [i for i, c in enumerate(graded.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ex-fx-mean"]
    assert restored == [sol[0] + 1]  # put back right after its solution
    assert "double(-3)" in _cell(graded, "ex-fx-double-test").source  # hidden tests are back
    assert [e["grade_id"] for e in labs.exercises(graded)] == ["ex-fx-double-test", "ex-fx-mean-test"]
    assert "nbgrader" not in graded.cells[-1].metadata  # the fake graded cell scores nothing


# ----------------------------------------------------------------------------- grading


def _solve(nb, grade_id, code):
    _cell(nb, grade_id).source = code


@pytest.fixture(scope="module")
def class_reports(tmp_path_factory, source, student):
    """One grading run over a small class with every kind of submission."""
    d = tmp_path_factory.mktemp("class")
    subs = {}
    subs["stub"] = student
    subs["solved"] = source
    half = copy.deepcopy(student)
    _solve(half, "ex-fx-double", "def double(x):\n    return x + x")
    subs["half"] = half
    wrong = copy.deepcopy(student)
    _solve(wrong, "ex-fx-double", "def double(x):\n    return 2 * x if x > 0 else 0")  # fails only hidden test
    _solve(wrong, "ex-fx-mean", "def mean(xs):\n    return sum(xs) / len(xs)")
    subs["hidden_fail"] = wrong
    cheat = copy.deepcopy(student)
    _cell(cheat, "ex-fx-double-test").source = "pass"
    _cell(cheat, "ex-fx-mean-test").source = "pass"
    _cell(cheat, "ex-fx-mean-test").metadata["nbgrader"]["grade_id"] = "renamed"
    subs["cheat"] = cheat
    loop = copy.deepcopy(source)
    _solve(loop, "ex-fx-double", "def double(x):\n    while True:\n        pass")
    subs["endless"] = loop
    crash = copy.deepcopy(source)
    _solve(crash, "ex-fx-double", "import os\nos._exit(3)")
    subs["crash"] = crash
    paths = [_write(d, f"{name}.ipynb", nb) for name, nb in subs.items()]
    (d / "garbage.ipynb").write_text("this is not json")
    paths.append(d / "garbage.ipynb")
    reports = labs.grade_submissions(paths, sources=[FIXTURE], cell_timeout=5, time_limit=120, jobs=2,
                                     feedback_dir=d / "feedback")
    return {r.student: r for r in reports}, d


def _points(report):
    return {e.grade_id: e.points for e in report.exercises}


def test_stub_scores_zero_with_the_reason(class_reports):
    r = class_reports[0]["stub"]
    assert _points(r) == {"ex-fx-double-test": 0, "ex-fx-mean-test": 0}
    assert all("NotImplementedError" in e.message for e in r.exercises)


def test_solution_scores_full_marks(class_reports):
    r = class_reports[0]["solved"]
    assert (r.score, r.max_score) == (3, 3) and not r.problems


def test_each_exercise_is_scored_on_its_own(class_reports):
    assert _points(class_reports[0]["half"]) == {"ex-fx-double-test": 1, "ex-fx-mean-test": 0}


def test_hidden_tests_count_and_report_the_failing_check(class_reports):
    r = class_reports[0]["hidden_fail"]
    assert _points(r) == {"ex-fx-double-test": 0, "ex-fx-mean-test": 2}
    msg = r.exercises[0].message
    assert msg.startswith("AssertionError") and "double(-3)" in msg


def test_edited_or_renamed_test_cells_gain_nothing(class_reports):
    r = class_reports[0]["cheat"]
    assert r.score == 0 and r.max_score == 3


def test_endless_loop_gets_zero_and_grading_carries_on(class_reports):
    r = class_reports[0]["endless"]
    e = {x.grade_id: x for x in r.exercises}
    assert e["ex-fx-double-test"].points == 0 and e["ex-fx-double-test"].status == "timeout"
    assert e["ex-fx-mean-test"].points == 2  # the kernel was restarted and the rest replayed
    assert any("timed out" in p for p in r.problems)


def test_crash_gets_zero_for_that_exercise_only(class_reports):
    r = class_reports[0]["crash"]
    e = {x.grade_id: x for x in r.exercises}
    assert e["ex-fx-double-test"].points == 0  # double was never defined
    assert e["ex-fx-mean-test"].points == 2
    assert any("kernel died" in p for p in r.problems)


def test_unreadable_submission_scores_zero(class_reports):
    r = class_reports[0]["garbage"]
    assert r.score == 0 and r.max_score == 3 and r.problems


def test_reports_are_written_as_csv_and_json(class_reports, tmp_path):
    reports, d = class_reports
    csv_path, json_path = labs.write_reports(list(reports.values()), tmp_path)
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert len(rows) == 2 * len(reports)
    solved = [r for r in rows if r["student"] == "solved"]
    assert [(r["exercise"], r["points"], r["status"]) for r in solved] == [
        ("ex-fx-double-test", "1", "passed"), ("ex-fx-mean-test", "2", "passed")]
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert {d_["student"]: d_["score"] for d_ in data}["half"] == 1
    assert (d / "feedback" / "solved" / "solved.ipynb").is_file()


def test_student_names_follow_nbgrader_folders(tmp_path):
    paths = [tmp_path / s / "ps1" / "lab.ipynb" for s in ("alice", "bob")]
    assert [labs._student_name(p, paths) for p in paths] == ["alice", "bob"]
    flat = [tmp_path / "alice.ipynb", tmp_path / "bob.ipynb"]
    assert [labs._student_name(p, flat) for p in flat] == ["alice", "bob"]


def test_grade_rejects_missing_files_and_unknown_notebooks(tmp_path, student):
    with pytest.raises(ValueError, match="not found"):
        labs.grade_submissions([tmp_path / "nope.ipynb"], sources=[FIXTURE])
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    p = _write(tmp_path, "other.ipynb", other)
    with pytest.raises(ValueError, match="--source"):
        labs.grade_submissions([p], sources=[FIXTURE])


def test_grade_cli_prints_scores_and_writes_files(tmp_path):
    out = tmp_path / "grades"
    r = subprocess.run([sys.executable, "-m", "course_lib.labs", "grade", str(FIXTURE), "--source", str(FIXTURE),
                        "--out", str(out), "--no-feedback"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3/3" in r.stdout
    assert (out / "grades.csv").is_file() and (out / "grades.json").is_file()


# ----------------------------------------------------------------------------- nbgrader itself


def test_nbgrader_agrees_with_our_release_and_grades_our_notebooks(tmp_path):
    """nbgrader's generate_assignment writes the same student cells as ours, and its autograde
    gives the stub 0 and the solution full marks (skipped where nbgrader is not installed)."""
    pytest.importorskip("nbgrader")
    import os
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))  # nbgrader runs `alembic`
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(nbformat.read(FIXTURE, as_version=4), course / "source" / "ps1" / FIXTURE.name)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "llm"\n'
        'c.CourseDirectory.db_assignments = [dict(name="ps1")]\n'
        'c.CourseDirectory.db_students = [dict(id="alice"), dict(id="bob")]\n')

    def nbgrader(*args):
        r = subprocess.run([os.path.join(bindir, "nbgrader"), *args], cwd=course, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr

    nbgrader("generate_assignment", "ps1", "--force")
    theirs = nbformat.read(course / "release" / "ps1" / FIXTURE.name, as_version=4)
    ours = labs.student_version(nbformat.read(FIXTURE, as_version=4))
    assert [c.source for c in theirs.cells] == [c.source for c in ours.cells]
    for student, nb in (("alice", ours), ("bob", nbformat.read(FIXTURE, as_version=4))):
        (course / "submitted" / student / "ps1").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "ps1" / FIXTURE.name)
    nbgrader("autograde", "ps1", "--force")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission("ps1", s).score for s in ("alice", "bob")}
    assert scores == {"alice": 0.0, "bob": 3.0}
