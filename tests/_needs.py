"""What a test needs from outside (Chromium, npm, an optional package): skip when missing, but fail under CI=true.

CI must run every test, so a missing tool there is an error in the project's set-up, not a reason to skip.
"""
from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
NPM_CACHE = ROOT / "book" / "_build" / "npm"  # the book's npm packages, fetched once, shared with `make book`


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip the test (locally) or fail it (under CI=true), saying what is missing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the {what} cannot run: {reason}")
    pytest.skip(reason)


def needs_module(name: str, *, what: str | None = None) -> ModuleType:
    """Import ``name`` for a test module, or skip the whole module (locally) / fail it (under CI=true).

    Use at the top of a test module, like ``pytest.importorskip``::

        transformers = needs_module("transformers")

    ``importorskip`` would silently skip every test of the module on a CI machine where the
    package is missing; this makes that an error there.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        reason = f"the package {name!r} is not importable ({exc}); install the test extras: pip install -e '.[test]'"
        if os.environ.get("CI", "").lower() == "true":
            # at import time pytest.fail must be allowed to abort the module's collection
            pytest.fail(f"CI=true and the {what or 'tests that need ' + name} cannot run: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def book_assets(what: str) -> Path:
    """The book's pinned npm packages in NPM_CACHE, installed once with npm; returns NPM_CACHE."""
    if shutil.which("npm") is None and not (NPM_CACHE / "assets.stamp").is_file():
        unavailable(what, "npm is not installed and the book's npm packages are not cached yet (apt-get install npm)")
    from book import build as book_build  # the repository root is on sys.path (tests/conftest.py)

    book_build.vendor_assets(NPM_CACHE)
    return NPM_CACHE
