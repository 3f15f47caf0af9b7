"""Time a whole class: release the chapters, then grade 30 generated submissions.

    .venv/bin/python benchmarks/labs_class.py [--chapter 01] [--students 30] [--cell-timeout 20]

The class is a realistic mix built from one chapter: full solutions, partial ones,
untouched stubs, wrong answers, a student who rewrote the test cells, one endless
loop and one kernel crash. Our grader (``tools/labs.py grade``) runs with 1 and 2
parallel jobs; the peer is nbgrader's ``autograde`` on the same submissions (when
nbgrader is installed), run in the same process, one after the other. The table
prints seconds and the ratio to nbgrader; the scores of both graders are compared
student by student.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import labs  # noqa: E402

KINDS = ["solved", "solved", "partial", "stub", "wrong", "solved", "partial", "tampered", "solved", "stub"]


def _solution_ids(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def make_submission(source, student, kind: str):
    """One student's notebook: ``kind`` says how much of the work is done, and how."""
    sub = copy.deepcopy(student)
    originals = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if c.metadata.get("nbgrader")}
    ids = _solution_ids(sub)
    for k, cell in enumerate(sub.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in ids:
            if kind == "tampered" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.source = "pass  # trust me"
            continue
        first = gid == ids[0]
        if kind == "solved" or (kind == "partial" and first):
            cell.source = originals[gid].source
        elif kind == "wrong":
            cell.source = cell.source.replace("raise NotImplementedError()", "return None")
        elif kind == "endless" and first:
            cell.source = cell.source + "\nwhile True:\n    pass"
        elif kind == "crash" and first:
            cell.source = "import os\nos._exit(1)"
    return sub


def nbgrader_autograde(course: Path, names: list[str], chapter: Path, cell_timeout: float) -> tuple[float, dict]:
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", COURSE_FAST="1")
    (course / "source" / "lab").mkdir(parents=True, exist_ok=True)
    shutil.copy(chapter, course / "source" / "lab" / chapter.name)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'llm'\n"
        "c.CourseDirectory.db_assignments = [dict(name='lab')]\n"
        f"c.CourseDirectory.db_students = [dict(id=s) for s in {names!r}]\n"
        f"c.ExecutePreprocessor.timeout = {int(cell_timeout)}\n")
    run = lambda *a: subprocess.run([str(bindir / "nbgrader"), *a], cwd=course, env=env,  # noqa: E731
                                    capture_output=True, text=True)
    r = run("generate_assignment", "lab", "--force")
    if r.returncode:
        raise RuntimeError(r.stdout[-2000:] + r.stderr[-2000:])
    start = time.perf_counter()
    run("autograde", "lab", "--force")
    seconds = time.perf_counter() - start
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in names:
            try:
                scores[s] = gb.find_submission("lab", s).score
            except Exception:
                scores[s] = None
    return seconds, scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="01", help="chapter number to hand out (default 01)")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--cell-timeout", type=float, default=20)
    parser.add_argument("--no-nbgrader", action="store_true")
    args = parser.parse_args()
    chapters = labs.find_chapters()
    chapter = next((c for c in chapters if c.name.startswith(args.chapter + "_")), None)
    if chapter is None:
        raise SystemExit(f"no chapter {args.chapter}_*.ipynb in chapters/ (have: {[c.name for c in chapters]})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="labs-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        labs.release(chapters, tmp / "student")
        rows.append((f"release {len(chapters)} chapters", time.perf_counter() - start))
        source = nbformat.read(chapter, as_version=4)
        student = nbformat.read(tmp / "student" / chapter.name, as_version=4)
        kinds = [KINDS[i % len(KINDS)] for i in range(args.students)]
        kinds[-1], kinds[-2] = "endless", "crash"
        names, paths = [], []
        for i, kind in enumerate(kinds):
            name = f"s{i:02d}-{kind}"
            p = tmp / "submitted" / name / "lab" / chapter.name
            p.parent.mkdir(parents=True)
            nbformat.write(make_submission(source, student, kind), p)
            names.append(name)
            paths.append(p)
        ours = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            reports = labs.grade_submissions(paths, sources=[chapter], cell_timeout=args.cell_timeout, jobs=jobs)
            rows.append((f"our grader, {args.students} submissions, jobs={jobs}", time.perf_counter() - start))
            ours = {r.student: r.score for r in reports}
            max_score = reports[0].max_score
        peer = None
        if not args.no_nbgrader:
            try:
                import nbgrader  # noqa: F401
                seconds, theirs = nbgrader_autograde(tmp, names, chapter, args.cell_timeout)
                peer = seconds
                rows.append((f"nbgrader autograde, {args.students} submissions", seconds))
            except ImportError:
                theirs = None
        print(f"chapter {chapter.name}, {args.students} students, cell timeout {args.cell_timeout:g} s, "
              f"max score {max_score:g}")
        print(f"{'step':<46} {'seconds':>8} {'/ nbgrader':>10}")
        for step, sec in rows:
            ratio = f"{sec / peer:.2f}" if peer and "release" not in step else "-"
            print(f"{step:<46} {sec:8.1f} {ratio:>10}")
        print("\nscores (ours | nbgrader):")
        agree = 0
        for n in names:
            t = theirs.get(n) if peer else None
            agree += t is not None and abs(t - ours[n]) < 1e-9
            print(f"  {n:<16} {ours[n]:>4g} | {t if t is not None else '-'}")
        if peer:
            print(f"graders agree on {agree} of {len(names)} students")
    return 0


if __name__ == "__main__":
    sys.exit(main())
