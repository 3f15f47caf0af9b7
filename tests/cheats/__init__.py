"""Cheats: for every exercise, a solution that takes the shortcut its test forbids.

One module per chapter, named after the notebook (``tests/cheats/ch07.py`` for
``07_loss.ipynb``), holding ``CHEATS = {grade_id: source of the solution cell}``. Each
cheat must be a *correct* answer that calls the library or torch function the exercise
asks the learner to build (``torch.logsumexp`` for a log-sum-exp exercise, the chapter's
own reference for a derivation). ``tests/test_exercises.py`` proves two things with them:

* pasted into the student version and graded, every cheat scores zero (the test switches
  the function off with ``course_lib.checks.forbid``);
* with ``forbid`` neutralised, the same cheats pass: they are real shortcuts, so the
  zero above comes from the switch and not from a wrong cheat.
"""
from __future__ import annotations

import importlib
from pathlib import Path


def cheats_for(notebook: Path) -> dict[str, str] | None:
    """The cheats of a chapter notebook, or None when the chapter has no cheats module."""
    name = "ch" + Path(notebook).name[:2]
    try:
        module = importlib.import_module(f"cheats.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"cheats.{name}",):
            return None
        raise
    return dict(module.CHEATS)
