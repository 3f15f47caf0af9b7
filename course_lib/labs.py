"""Moved: the labs tooling (student release, grader) is instructor tooling, not part of the
reference library, and lives in ``tools/labs.py`` of the course repository::

    python tools/labs.py release --out DIR     # or: make labs OUT=DIR
    python tools/labs.py grade submitted/*/lab01/*.ipynb

This alias keeps ``from course_lib import labs`` working inside a checkout while callers move
to ``from tools import labs``; it is left out of the student release.
"""
from __future__ import annotations

try:
    from tools.labs import *  # noqa: F401,F403
    from tools.labs import __all__  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - only outside a checkout
    raise ModuleNotFoundError(
        "course_lib.labs moved to tools/labs.py in the course repository; run `python tools/labs.py ...` "
        "from a checkout (the student release does not include the instructor tools)") from exc
