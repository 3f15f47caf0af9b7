"""What a test needs from outside Python (Chromium, npm): skip when missing, but fail under CI=true.

CI must run every test, so a missing tool there is an error in the project's set-up, not a reason to skip.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
NPM_CACHE = ROOT / "book" / "_build" / "npm"  # the book's npm packages, fetched once, shared with `make book`


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip the test (locally) or fail it (under CI=true), saying what is missing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the {what} cannot run: {reason}")
    pytest.skip(reason)


def book_assets(what: str) -> Path:
    """The book's pinned npm packages in NPM_CACHE, installed once with npm; returns NPM_CACHE."""
    if shutil.which("npm") is None and not (NPM_CACHE / "assets.stamp").is_file():
        unavailable(what, "npm is not installed and the book's npm packages are not cached yet (apt-get install npm)")
    sys.path.insert(0, str(ROOT))
    from book import build as book_build

    book_build.vendor_assets(NPM_CACHE)
    return NPM_CACHE
