"""tools/labs.py: a student release that gives nothing away, and a grader that cannot be fooled or stopped.

The grader runs on a small fixture notebook; the release on the real chapters.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from _needs import needs_module
from tools import labs

FIXTURE = Path(__file__).parent / "fixtures" / "lab_fixture.ipynb"
ROOT = Path(__file__).resolve().parent.parent
LABS = [sys.executable, str(ROOT / "tools" / "labs.py")]


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


@pytest.mark.slow
def test_release_cli_writes_student_notebooks(tmp_path):
    out = tmp_path / "student"
    r = subprocess.run([*LABS, "release", str(FIXTURE), "--out", str(out), "--notebooks-only"],
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


@pytest.mark.slow
def test_stub_scores_zero_with_the_reason(class_reports):
    r = class_reports[0]["stub"]
    assert _points(r) == {"ex-fx-double-test": 0, "ex-fx-mean-test": 0}
    assert all("NotImplementedError" in e.message for e in r.exercises)


@pytest.mark.slow
def test_solution_scores_full_marks(class_reports):
    r = class_reports[0]["solved"]
    assert (r.score, r.max_score) == (3, 3) and not r.problems


@pytest.mark.slow
def test_each_exercise_is_scored_on_its_own(class_reports):
    assert _points(class_reports[0]["half"]) == {"ex-fx-double-test": 1, "ex-fx-mean-test": 0}


@pytest.mark.slow
def test_hidden_tests_count_and_report_the_failing_check(class_reports):
    r = class_reports[0]["hidden_fail"]
    assert _points(r) == {"ex-fx-double-test": 0, "ex-fx-mean-test": 2}
    msg = r.exercises[0].message
    assert msg.startswith("AssertionError") and "double(-3)" in msg


@pytest.mark.slow
def test_edited_or_renamed_test_cells_gain_nothing(class_reports):
    r = class_reports[0]["cheat"]
    assert r.score == 0 and r.max_score == 3


@pytest.mark.slow
def test_endless_loop_gets_zero_and_grading_carries_on(class_reports):
    r = class_reports[0]["endless"]
    e = {x.grade_id: x for x in r.exercises}
    assert e["ex-fx-double-test"].points == 0 and e["ex-fx-double-test"].status == "timeout"
    assert e["ex-fx-mean-test"].points == 2  # the kernel was restarted and the rest replayed
    assert any("timed out" in p for p in r.problems)


@pytest.mark.slow
def test_crash_gets_zero_for_that_exercise_only(class_reports):
    r = class_reports[0]["crash"]
    e = {x.grade_id: x for x in r.exercises}
    assert e["ex-fx-double-test"].points == 0  # double was never defined
    assert e["ex-fx-mean-test"].points == 2
    assert any("kernel died" in p for p in r.problems)


@pytest.mark.slow
def test_unreadable_submission_scores_zero(class_reports):
    r = class_reports[0]["garbage"]
    assert r.score == 0 and r.max_score == 3 and r.problems


@pytest.mark.slow
def test_gradebook_has_one_row_per_student_with_a_total_and_a_column_per_exercise(class_reports, tmp_path):
    reports, d = class_reports
    written = labs.write_reports(list(reports.values()), tmp_path)
    assert [p.name for p in written] == ["lab_fixture.csv", "lab_fixture-feedback.csv", "lab_fixture.json"]
    with open(tmp_path / "lab_fixture.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = {r["student"]: r for r in reader}
        assert reader.fieldnames == ["student", "total", "max_total", "ex-fx-double-test", "ex-fx-mean-test"]
    assert sorted(rows) == sorted(reports)
    assert rows["solved"] == {"student": "solved", "total": "3", "max_total": "3",
                              "ex-fx-double-test": "1", "ex-fx-mean-test": "2"}
    assert (rows["half"]["total"], rows["half"]["ex-fx-double-test"], rows["half"]["ex-fx-mean-test"]) == ("1", "1", "0")
    data = json.loads((tmp_path / "lab_fixture.json").read_text(encoding="utf-8"))
    assert {d_["student"]: d_["score"] for d_ in data}["half"] == 1
    assert (d / "feedback" / "lab_fixture" / "solved" / "solved.ipynb").is_file()


@pytest.mark.slow
def test_feedback_names_the_failing_check_and_the_points(class_reports, tmp_path):
    labs.write_reports(list(class_reports[0].values()), tmp_path)
    with open(tmp_path / "lab_fixture-feedback.csv", newline="", encoding="utf-8") as f:
        rows = {(r["student"], r["exercise"]): r for r in csv.DictReader(f)}
    hidden = rows[("hidden_fail", "ex-fx-double-test")]
    assert (hidden["points"], hidden["max_points"], hidden["status"]) == ("0", "1", "failed")
    assert "double(-3)" in hidden["message"] and "expected -6" in hidden["message"]
    assert rows[("endless", "ex-fx-double-test")]["status"] == "timeout"
    assert rows[("hidden_fail", "ex-fx-mean-test")]["status"] == "passed"


@pytest.mark.slow
def test_grading_another_lab_or_a_late_student_keeps_the_other_gradebooks(class_reports, tmp_path):
    reports = class_reports[0]
    first = copy.deepcopy(reports["solved"])
    first.lab = "lab01"
    labs.write_reports([first, copy.deepcopy(reports["half"])], tmp_path)  # half goes to lab_fixture
    late = copy.deepcopy(reports["stub"])
    late.lab = "lab01"
    labs.write_reports([late], tmp_path)  # a late student of lab01: solved's row stays
    with open(tmp_path / "lab01.csv", newline="", encoding="utf-8") as f:
        assert {r["student"]: r["total"] for r in csv.DictReader(f)} == {"solved": "3", "stub": "0"}
    with open(tmp_path / "lab_fixture.csv", newline="", encoding="utf-8") as f:
        assert [r["student"] for r in csv.DictReader(f)] == ["half"]
    regraded = copy.deepcopy(reports["half"])
    regraded.lab = "lab01"
    regraded.student = "solved"  # solved hands in again and now scores 1
    labs.write_reports([regraded], tmp_path)
    with open(tmp_path / "lab01.csv", newline="", encoding="utf-8") as f:
        assert {r["student"]: r["total"] for r in csv.DictReader(f)} == {"solved": "1", "stub": "0"}


def test_student_and_lab_names_follow_nbgrader_folders(tmp_path):
    paths = [tmp_path / "submitted" / s / "ps1" / "lab.ipynb" for s in ("alice", "bob")]
    assert [labs._student_name(p, paths) for p in paths] == ["alice", "bob"]
    assert labs._student_name(paths[0], paths[:1]) == "alice"  # one submission: still the folder, not "lab"
    assert labs._lab_name(paths[0], FIXTURE, None) == "ps1"
    assert labs._lab_name(paths[0], FIXTURE, "week3") == "week3"
    flat = [tmp_path / "alice.ipynb", tmp_path / "bob.ipynb"]
    assert [labs._student_name(p, flat) for p in flat] == ["alice", "bob"]
    assert labs._lab_name(flat[0], FIXTURE, None) == "lab_fixture"  # the chapter's name


def test_grade_rejects_missing_files_and_unknown_notebooks(tmp_path, student):
    with pytest.raises(ValueError, match="not found"):
        labs.grade_submissions([tmp_path / "nope.ipynb"], sources=[FIXTURE])
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    p = _write(tmp_path, "other.ipynb", other)
    with pytest.raises(ValueError, match="--source"):
        labs.grade_submissions([p], sources=[FIXTURE])


@pytest.mark.slow
def test_grade_cli_prints_scores_and_writes_files(tmp_path):
    out = tmp_path / "grades"
    r = subprocess.run([*LABS, "grade", str(FIXTURE), "--source", str(FIXTURE), "--lab", "lab01",
                        "--out", str(out), "--no-feedback"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3/3" in r.stdout
    assert sorted(f.name for f in out.iterdir()) == ["lab01-feedback.csv", "lab01.csv", "lab01.json"]


# ----------------------------------------------------------------------------- partial credit

_CREDIT_TEST = textwrap.dedent("""\
    from course_lib.checks import Credit
    credit = Credit(2)
    with credit.part("a short list", 1):
        expect(mean([1, 2, 3]), 2.0, name="mean([1, 2, 3])")
    ### BEGIN HIDDEN TESTS
    with credit.part("one number", 1):
        expect(mean([4.0]), 4.0, name="mean([4.0])")
    ### END HIDDEN TESTS
    credit.total()""")


@pytest.fixture(scope="module")
def credit_source(source):
    """The fixture with partial credit on its second exercise (2 points: 1 visible, 1 hidden)."""
    nb = copy.deepcopy(source)
    _cell(nb, "ex-fx-mean-test").source = _CREDIT_TEST
    return nb


def _wrong_mean(student):
    sub = copy.deepcopy(student)
    _solve(sub, "ex-fx-double", "def double(x):\n    return 2 * x")
    _solve(sub, "ex-fx-mean", "def mean(xs):\n    return sum(xs) / 3  # right for three numbers only")
    return sub


@pytest.mark.slow
def test_partial_credit_scores_the_parts_that_pass(tmp_path, credit_source):
    src = _write(tmp_path, "lab_fixture.ipynb", credit_source)
    student = labs.student_version(credit_source)
    subs = {"partial": _wrong_mean(student), "stub": student, "solved": credit_source}
    paths = [_write(tmp_path / name, "lab_fixture.ipynb", nb) for name, nb in subs.items() if
             (tmp_path / name).mkdir() is None]
    reports = {r.student: r for r in labs.grade_submissions(paths, sources=[src], cell_timeout=60, time_limit=300)}
    mean = {r: next(e for e in reports[r].exercises if e.grade_id == "ex-fx-mean-test") for r in reports}
    assert (mean["partial"].points, mean["partial"].status) == (1.0, "partial")
    assert "one number" in mean["partial"].message and "mean([4.0])" in mean["partial"].message
    assert (mean["stub"].points, mean["stub"].status) == (0.0, "failed")
    assert "every part failed" in mean["stub"].message
    assert (mean["solved"].points, mean["solved"].status) == (2.0, "passed")
    labs.write_reports(list(reports.values()), tmp_path / "grades")
    with open(tmp_path / "grades" / "lab_fixture.csv", newline="", encoding="utf-8") as f:
        assert {r["student"]: r["total"] for r in csv.DictReader(f)} == {"partial": "2", "solved": "3", "stub": "0"}


@pytest.mark.parametrize("edit, words", [
    (lambda src: src.replace("credit.total()", "print('done')"), "last line"),
    (lambda src: src.replace("Credit(2)", "Credit(3)"), "metadata gives it 2"),
    (lambda src: src.replace('credit.part("one number", 1)', 'credit.part("one number", 2)'), "add up to 3"),
])
def test_partial_credit_that_could_give_full_marks_by_mistake_is_refused(credit_source, edit, words):
    nb = copy.deepcopy(credit_source)
    _cell(nb, "ex-fx-mean-test").source = edit(_CREDIT_TEST)
    with pytest.raises(ValueError, match=words):
        labs.student_version(nb)


# ----------------------------------------------------------------------------- the student tree


def _outside_blocks(source: str) -> set[str]:
    """The stripped lines of ``source`` that are outside every solution and hidden-test block."""
    out, inside = set(), False
    for line in source.splitlines():
        if line.strip() in (labs.BEGIN_SOLUTION, labs.BEGIN_HIDDEN):
            inside = True
        elif line.strip() in (labs.END_SOLUTION, labs.END_HIDDEN):
            inside = False
        elif not inside:
            out.add(line.strip())
    return out


def _blocks(source: str, begin: str, end: str) -> list[str]:
    """The text between each begin/end marker pair, dedented."""
    out, current = [], None
    for line in source.splitlines():
        if line.strip() == begin:
            current = []
        elif line.strip() == end:
            out.append(textwrap.dedent("\n".join(current)).strip())
            current = None
        elif current is not None:
            current.append(line)
    return [b for b in out if b]


def _texts(tree: Path) -> dict[Path, list[str]]:
    """Every file of the tree as the texts to search: a notebook's cell sources, else the file's text."""
    out = {}
    for path in sorted(tree.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes().decode("utf-8", errors="replace")
        texts = [raw]
        if path.suffix == ".ipynb":
            texts += [c.source for c in nbformat.reads(raw, as_version=4).cells]
        out[path.relative_to(tree)] = texts
    return out


def _secrets() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(chapter, block) for every solution and hidden-test block of every chapter, and
    (chapter, line) for each of their lines that is not also written somewhere students may see
    (a visible cell of a chapter, or a file the tree copies from the repository)."""
    blocks, public = [], set()
    for path in labs.find_chapters():
        for cell in nbformat.read(path, as_version=4).cells:
            found = _blocks(cell.source, labs.BEGIN_SOLUTION, labs.END_SOLUTION) + \
                _blocks(cell.source, labs.BEGIN_HIDDEN, labs.END_HIDDEN)
            blocks += [(path.name, b) for b in found]
            public |= _outside_blocks(cell.source)
    for f in labs._tree_files(ROOT):
        public |= {ln.strip() for ln in (ROOT / f).read_text(encoding="utf-8", errors="replace").splitlines()}
    lines = sorted({(ch, ln.strip()) for ch, b in blocks for ln in b.splitlines()
                    if ln.strip() and ln.strip() not in public})
    return blocks, lines


def _leaks(tree: Path, blocks, lines) -> list[str]:
    found = []
    texts = _texts(tree)
    for rel, parts in texts.items():
        file_lines = {ln.strip() for t in parts for ln in t.splitlines()}
        found += [f"{rel}: line of {ch}: {ln!r}" for ch, ln in lines if ln in file_lines]
        if rel.parts[0] == "chapters" or not rel.parts[0] == "course_lib":
            # a one-line block such as `return pairs` may be in course_lib legitimately;
            # whole blocks of several lines, and any block in a notebook, may not
            found += [f"{rel}: block of {ch}" for ch, b in blocks if any(b in t for t in parts)]
        else:
            found += [f"{rel}: block of {ch}" for ch, b in blocks if "\n" in b and any(b in t for t in parts)]
        found += [f"{rel}: marker {m}" for m in (labs.BEGIN_SOLUTION, labs.BEGIN_HIDDEN, "END SOLUTION",
                                                 "END HIDDEN TESTS") if any(m in t for t in parts)]
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """`make labs OUT=...` on the real chapters (with this interpreter, and never installing: -o the stamp)."""
    out = tmp_path_factory.mktemp("release") / "student"
    venv = Path(sys.prefix)
    r = subprocess.run(["make", "--no-print-directory", "-s", "-o", str(venv / ".stamp-install"), "labs",
                        f"OUT={out}", f"VENV={venv}"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.mark.slow
def test_student_tree_holds_exactly_what_students_need(tree):
    assert sorted(p.name for p in tree.iterdir()) == sorted([
        ".gitignore", labs.RELEASE_STAMP, "LICENSE", "Makefile", "README.md", "binder", "chapters",
        "constraints.txt", "course_lib", "datasets", "environment.yml", "lab.mk", "pyproject.toml", "weights"])
    assert sorted(p.name for p in (tree / "chapters").iterdir()) == [p.name for p in labs.find_chapters()]
    assert not (tree / "course_lib" / "labs.py").exists()  # the alias of the instructor tools
    assert not list(tree.rglob("__pycache__")) and not list(tree.rglob(".git"))
    assert (tree / "README.md").read_text(encoding="utf-8") == (ROOT / "tools" / "student" / "README.md").read_text(
        encoding="utf-8")
    assert (tree / "datasets" / "shakespeare.txt").read_bytes() == (ROOT / "datasets" / "shakespeare.txt").read_bytes()
    # the shipped pre-trained mini-BERT (chapters 10-12 load it), checksums and all
    assert (tree / "weights" / "mini_bert" / "SHA256SUMS").read_bytes() == (
        ROOT / "weights" / "mini_bert" / "SHA256SUMS").read_bytes()


@pytest.mark.slow
def test_no_solution_or_hidden_test_anywhere_in_the_student_tree(tree):
    blocks, lines = _secrets()
    assert len(blocks) >= 2 * len(labs.find_chapters()) and len(lines) > 50  # the search has something to find
    assert _leaks(tree, blocks, lines) == []


@pytest.mark.slow
def test_the_leak_search_finds_a_leak(tree, tmp_path):
    """The search above can fail: a chapter source, or one hidden line pasted into a README, is found."""
    blocks, lines = _secrets()
    leaky = tmp_path / "leaky"
    shutil.copytree(tree, leaky)
    shutil.copy2(ROOT / "chapters" / "src" / "00_welcome.py", leaky / "course_lib" / "notes.py")
    assert any(f.startswith("course_lib/notes.py: block of 00_welcome") for f in _leaks(leaky, blocks, lines))
    (leaky / "course_lib" / "notes.py").unlink()
    ch, line = next((ch, ln) for ch, ln in lines if ch.startswith("03"))
    with open(leaky / "datasets" / "README.md", "a", encoding="utf-8") as f:
        f.write("\n" + line + "\n")
    assert _leaks(leaky, blocks, lines) == [f"datasets/README.md: line of {ch}: {line!r}"]


@pytest.mark.slow
def test_a_second_release_replaces_the_first_and_a_foreign_folder_is_refused(tree, tmp_path):
    (tree / "chapters" / "99_stale.ipynb").write_text("{}")
    labs.release_tree(tree, [ROOT / "chapters" / "00_welcome.ipynb"])
    assert sorted(p.name for p in (tree / "chapters").iterdir()) == ["00_welcome.ipynb"]
    labs.release_tree(tree)  # back to every chapter, for the other tests
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("do not delete")
    with pytest.raises(ValueError, match="not empty and was not written by `make labs`"):
        labs.release_tree(tmp_path / "mine")
    with pytest.raises(ValueError, match="overwrite the course repository"):
        labs.release_tree(ROOT)
    assert (tmp_path / "mine" / "thesis.tex").is_file()


@pytest.mark.slow
def test_student_tree_installs_and_loads_its_data(tree):
    """What `make lab` needs there: pip accepts the tree's pyproject.toml, course_lib and its data come
    from the tree (not from this checkout), and the Makefile runs the install with the torch pin."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("COURSE_DATA_DIR", None)
    code = ("import course_lib, course_lib.datasets as d; print(course_lib.__file__); print(d.data_dir()); "
            "print(len(d.load_text('shakespeare'))); import course_lib.bert as b; b.load_pretrained()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    module, data, n = r.stdout.split()
    assert Path(module) == tree / "course_lib" / "__init__.py" and Path(data) == tree / "datasets"
    assert int(n) > 1_000_000
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation",
                        "--no-index", "-e", str(tree)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Would install course-lib" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["make", "-n", "lab"], capture_output=True, text=True, cwd=tree, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "pip install -c constraints.txt torch" in r.stdout and 'pip install -c constraints.txt -e ".[test]"' in r.stdout
    assert "jupyter lab --notebook-dir=chapters" in r.stdout


@pytest.mark.slow
def test_chapter_00_runs_in_the_student_tree_with_only_its_exercise_tests_failing(tree, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tree))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    nb = nbformat.read(tree / "chapters" / "00_welcome.ipynb", as_version=4)
    executed, bad, problems = labs.grade_notebook(nb, cell_timeout=120, time_limit=600)
    assert not bad and not problems
    errors = {i: labs._error_message(c) for i, c in enumerate(executed.cells) if labs._error_message(c)}
    tests = {i for i, c in enumerate(executed.cells) if labs._is_test(c)}
    first_exercise = min(i for i, c in enumerate(executed.cells) if labs._is_solution(c))
    # every test fails on its stub; nothing fails before the first exercise (set-up, data, checks);
    # later cells may fail only because they use an unsolved exercise
    assert tests <= set(errors) and len(tests) >= 3 and min(errors) > first_exercise, errors
    assert all("NotImplementedError" in errors[i] for i in tests), errors
    assert all(m.startswith(("NotImplementedError", "NameError")) for i, m in errors.items() if i not in tests), errors
    imported = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert not any(str(ROOT / "course_lib") in t for t in imported)


# ----------------------------------------------------------------------------- nbgrader itself


def _documented_nbgrader_config() -> str:
    """The nbgrader_config.py that docs/instructors.md gives (the code block after its marker comment)."""
    doc = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- nbgrader_config.py:.*?-->\s*```python\n(.*?)```", doc, re.S)
    assert m, "docs/instructors.md lost its nbgrader_config.py block"
    return m.group(1)




@pytest.mark.slow
def test_nbgrader_agrees_with_our_release_and_grades_our_notebooks(tmp_path, credit_source):
    """nbgrader 0.9, configured with the documented nbgrader_config.py (no warning about it), writes
    the same student cells as ours, and its autograde gives the stub 0, the solution full marks and a
    half-right answer the same partial credit as our grader."""
    nbgrader_module = needs_module("nbgrader", what="nbgrader comparison")
    assert nbgrader_module.__version__.startswith("0.9")
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))  # nbgrader runs `alembic`
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    nbformat.write(credit_source, course / "source" / "ps1" / FIXTURE.name)
    (course / "nbgrader_config.py").write_text(_documented_nbgrader_config())

    def nbgrader(*args):
        r = subprocess.run([os.path.join(bindir, "nbgrader"), *args], cwd=course, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "not recognized" not in r.stdout + r.stderr, r.stdout + r.stderr
        return r.stdout + r.stderr

    nbgrader("generate_assignment", "ps1", "--force")
    theirs = nbformat.read(course / "release" / "ps1" / FIXTURE.name, as_version=4)
    ours = labs.student_version(credit_source)
    assert [c.source for c in theirs.cells] == [c.source for c in ours.cells]
    subs = {"alice": ours, "bob": credit_source, "carol": _wrong_mean(ours)}
    for student, nb in subs.items():
        (course / "submitted" / student / "ps1").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "ps1" / FIXTURE.name)
    nbgrader("autograde", "ps1", "--force")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission("ps1", s).score for s in subs}
    assert scores == {"alice": 0.0, "bob": 3.0, "carol": 2.0}
    paths = sorted((course / "submitted").glob("*/ps1/*.ipynb"))
    source = _write(tmp_path, FIXTURE.name, credit_source)
    ours_scores = {r.student: r.score for r in labs.grade_submissions(paths, sources=[source], cell_timeout=60)}
    assert ours_scores == scores
