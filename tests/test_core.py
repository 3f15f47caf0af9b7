"""course_lib.core: set_seed, fast_mode/pick and doctor()."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import course_lib
from course_lib import core


def _draw() -> tuple[float, np.ndarray, torch.Tensor]:
    return random.random(), np.random.rand(5), torch.rand(5)


# --- set_seed ------------------------------------------------------------------------------------

def test_set_seed_repeats_python_numpy_and_torch():
    course_lib.set_seed(123)
    first = _draw()
    course_lib.set_seed(123)
    second = _draw()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2])


def test_set_seed_different_seeds_differ():
    course_lib.set_seed(1)
    a = _draw()
    course_lib.set_seed(2)
    b = _draw()
    assert a[0] != b[0]
    assert not np.array_equal(a[1], b[1])
    assert not torch.equal(a[2], b[2])


def test_set_seed_accepts_numpy_integers():
    course_lib.set_seed(np.int64(7))
    x = torch.rand(3)
    course_lib.set_seed(7)
    assert torch.equal(x, torch.rand(3))


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.floats(), st.text(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2)))
def test_set_seed_rejects_non_integers(seed):
    with pytest.raises(ValueError, match="integer seed"):
        course_lib.set_seed(seed)


@pytest.mark.parametrize("seed", [-1, 2**32, 10**20])
def test_set_seed_rejects_out_of_range(seed):
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        course_lib.set_seed(seed)


# --- fast mode -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "on"])
def test_fast_mode_on(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert course_lib.fast_mode() is True
    assert course_lib.pick(100, 3) == 3


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_fast_mode_off(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert course_lib.fast_mode() is False
    assert course_lib.pick(100, 3) == 100


def test_fast_mode_unset(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert course_lib.fast_mode() is False
    assert course_lib.pick("full", "fast") == "full"


@pytest.mark.parametrize("value", ["2", "fast", "maybe"])
def test_fast_mode_rejects_unclear_values(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    with pytest.raises(ValueError, match="COURSE_FAST should be 1 or 0"):
        course_lib.fast_mode()


# --- doctor --------------------------------------------------------------------------------------

def _doctor_lines() -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = course_lib.doctor(print_fn=lines.append)
    return ok, lines


def test_doctor_prints_one_status_line_per_requirement(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    ok, lines = _doctor_lines()
    *status, verdict = lines
    names = [line[7:].split()[0] for line in status]
    for required in ["python", "numpy", "torch", "matplotlib", "widgets", "datasets", "fast"]:
        assert required in names, f"doctor() printed no line for {required}: {lines}"
    assert all(line.startswith(("OK      ", "PROBLEM  ")) for line in status), lines
    widgets_line = next(line for line in status if line[7:].split()[0] == "widgets")
    assert widgets_line.startswith("OK") and "ipywidgets 8" in widgets_line
    assert any("fast mode" in line and "off" in line for line in status)
    # the verdict agrees with the lines and with the return value
    assert ok == all(line.startswith("OK") for line in status)
    assert verdict == ("All good: you are ready to start." if ok else
                       "Fix the PROBLEM lines above, then run doctor() again.")


def test_doctor_reports_fast_mode(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    _, lines = _doctor_lines()
    assert any("fast mode" in line and "on (COURSE_FAST=1)" in line for line in lines)


def test_doctor_flags_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    ok, lines = _doctor_lines()
    assert ok is False
    data_line = next(line for line in lines if " datasets " in line)
    assert data_line.startswith("PROBLEM") and "shakespeare.txt" in data_line and "datasets/build.py" in data_line
    assert lines[-1].startswith("Fix the PROBLEM lines")


@pytest.mark.parametrize("module,expected", [("ipywidgets", "ipywidgets is not installed"),
                                             ("gensim", "missing (needed for")])
def test_doctor_flags_a_missing_package(monkeypatch, module, expected):
    real = core._version
    monkeypatch.setattr(core, "_version", lambda m: None if m == module else real(m))
    ok, lines = _doctor_lines()
    assert ok is False
    name = "widgets" if module == "ipywidgets" else module
    line = next(line for line in lines if f" {name} " in line)
    assert line.startswith("PROBLEM") and expected in line


def test_the_version_is_written_once_and_pip_metadata_reads_it():
    import importlib.metadata
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "course_lib.__version__"}
    # the installed metadata came from course_lib.__version__ (re-install after a version change)
    assert importlib.metadata.version("course-lib") == course_lib.__version__
