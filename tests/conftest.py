"""Shared test set-up.

* The repository root (``book``, ``course_lib``, ``tools``) and ``tests/`` (``_needs``,
  ``cheats``) are importable from every test module, however pytest was started.
* The ``slow`` marker means something: ``make test-quick`` (``-m "not slow"``) leaves out every
  test marked slow, and any test that took longer than SLOW_SECONDS (its set-up included)
  without the marker is listed at the end of the run, so that the marker stays true.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SLOW_SECONDS = 5.0  # "a few seconds" on an idle 2-core machine

for _path in (ROOT, TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

_seconds: dict[str, float] = {}
_unmarked_slow: list[tuple[str, float]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    if call.when in ("setup", "call"):
        _seconds[item.nodeid] = _seconds.get(item.nodeid, 0.0) + call.duration
    elif call.when == "teardown":
        took = _seconds.pop(item.nodeid, 0.0)
        if took > SLOW_SECONDS and item.get_closest_marker("slow") is None:
            _unmarked_slow.append((item.nodeid, took))


def pytest_terminal_summary(terminalreporter):
    if not _unmarked_slow:
        return
    terminalreporter.section(f"tests over {SLOW_SECONDS:g} s without @pytest.mark.slow")
    for nodeid, took in sorted(_unmarked_slow, key=lambda x: -x[1]):
        terminalreporter.write_line(f"{took:6.1f} s  {nodeid}")
    terminalreporter.write_line("mark them slow (make test-quick leaves them out), or make them faster")
