"""tests/_needs.py: a missing package or tool skips locally and fails under CI=true."""
from __future__ import annotations

import pytest

from _needs import needs_module, unavailable


def test_needs_module_returns_the_module():
    import json

    assert needs_module("json") is json


def test_needs_module_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no_such_package_xyz"):
        needs_module("no_such_package_xyz")


def test_needs_module_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true.*no_such_package_xyz"):
        needs_module("no_such_package_xyz")


def test_unavailable_fails_under_ci_and_skips_locally(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the browser"):
        unavailable("browser", "no chromium")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        unavailable("browser", "no chromium")
