"""The Makefile: `make test` is its parts, test-quick leaves slow tests out, torch is pinned once."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)

if shutil.which("make") is None:  # pragma: no cover - every supported set-up has make
    pytest.skip("make is not installed", allow_module_level=True)


def _dry_run(target: str) -> list[str]:
    """The commands `make -n target` would run (never installing: -o the install stamp)."""
    r = subprocess.run(["make", "-n", "--no-print-directory", "-o", str(VENV / ".stamp-install"), target,
                        f"VENV={VENV}"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_make_test_is_browser_then_unit_then_notebooks():
    lines = _dry_run("test")
    unit = [i for i, ln in enumerate(lines) if re.search(r"pytest tests -q$", ln)]
    notebooks = [i for i, ln in enumerate(lines) if "--nbval" in ln and ln.rstrip().endswith("chapters -q")]
    browser = [i for i, ln in enumerate(lines) if "/usr/bin/chromium" in ln]
    assert len(unit) == len(notebooks) == 1 and browser, lines
    assert browser[0] < unit[0] < notebooks[0]
    assert all("COURSE_FAST=1" in lines[i] for i in unit + notebooks)
    assert lines[unit[0]] == _dry_run("test-unit")[-1] and lines[notebooks[0]] == _dry_run("test-notebooks")[-1]


def test_make_test_quick_leaves_the_slow_tests_out():
    assert _dry_run("test-quick")[-1].endswith('pytest tests -q -m "not slow"')


def test_make_labs_writes_where_out_says():
    assert _dry_run("labs")[-1].endswith("tools/labs.py release --out labs/student")
    r = subprocess.run(["make", "-n", "--no-print-directory", "-o", str(VENV / ".stamp-install"), "labs",
                        f"VENV={VENV}", "OUT=/tmp/x y"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip().endswith("--out /tmp/x y")


def test_torch_version_is_written_only_in_constraints_txt():
    pins = [ln for ln in (ROOT / "constraints.txt").read_text().splitlines() if ln.startswith("torch")]
    assert len(pins) == 1 and re.fullmatch(r"torch==\d+\.\d+\.\d+", pins[0])
    for name in ("Makefile", "lab.mk", "environment.yml", "binder/environment.yml", "binder/postBuild"):
        text = (ROOT / name).read_text()
        assert not re.search(r"torch\s*[=<>~]=", text), f"{name} writes a torch version; constraints.txt is the one place"
    for name in ("lab.mk", "environment.yml", "binder/postBuild"):  # and every install reads it
        assert "-c constraints.txt" in (ROOT / name).read_text(), name
