"""Shared test set-up: the repository root (``book``, ``course_lib``) and ``tests/`` (``_needs``,
``cheats``) are importable from every test module, however pytest was started."""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

for _path in (ROOT, TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
