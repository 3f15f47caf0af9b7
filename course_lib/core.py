"""Seeding, fast mode, the device choice and the environment doctor, shared by every chapter."""
from __future__ import annotations

import importlib
import os
import platform
import random
import sys
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

FAST_ENV = "COURSE_FAST"


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    Every chapter calls this once at the top so that a fresh kernel gives the
    same numbers every time it runs.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_seed expected an integer seed, got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"set_seed expected a seed in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # torch is a dependency, but set_seed should not need it
        return
    torch.manual_seed(seed)  # also seeds every CUDA device


def fast_mode() -> bool:
    """True when the environment variable ``COURSE_FAST`` is set to 1/true/yes.

    Fast mode shrinks corpora and iteration counts so the whole course executes
    in a few minutes under the tests; unset, chapters run the real thing.
    """
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{FAST_ENV} should be 1 or 0 (or true/false), got {value!r}")


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise: ``epochs = pick(15, 1)``."""
    return fast if fast_mode() else full


def pick_device(device: Any = None) -> Any:
    """The ``torch.device`` to use: ``device`` if given, else cuda, then Apple's mps, then cpu.

    The course's one device choice: ``GPT(config).to(pick_device())``.
    """
    import torch

    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"pick_device expected a device such as 'cpu', 'cuda' or 'cuda:1', got {device!r}") from exc
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "installed")


def _widgets_enabled() -> tuple[bool, str]:
    """Is the ipywidgets front end available to JupyterLab (jupyterlab_widgets)?"""
    ipyw = _version("ipywidgets")
    if ipyw is None:
        return False, "ipywidgets is not installed: run `make lab` (or pip install ipywidgets)"
    labext = _version("jupyterlab_widgets")
    if labext is None:
        return False, f"ipywidgets {ipyw} is installed but its JupyterLab extension is missing (pip install jupyterlab_widgets)"
    if not ipyw.startswith("8"):
        return False, f"ipywidgets {ipyw} found; the course widgets need ipywidgets 8"
    return True, f"ipywidgets {ipyw}, JupyterLab extension {labext}"


def doctor(print_fn: Any = print) -> bool:
    """Print one OK/problem line per requirement and return True when all is well."""
    lines: list[tuple[bool, str, str]] = []
    py_ok = sys.version_info >= (3, 10)
    lines.append((py_ok, "python", f"{platform.python_version()}" + ("" if py_ok else " (need 3.10 or newer)")))
    for module, needed_for in [
        ("numpy", "every chapter"),
        ("torch", "chapters 02 and 04-08"),
        ("matplotlib", "plots"),
        ("scipy", "sparse counts, statistics"),
        ("gensim", "chapters 02-03 (comparison)"),
        ("tqdm", "progress bars"),
    ]:
        v = _version(module)
        lines.append((v is not None, module, v or f"missing (needed for {needed_for})"))
    ok_w, msg_w = _widgets_enabled()
    lines.append((ok_w, "widgets", msg_w))
    try:
        import torch

        lines.append((True, "device", f"{pick_device().type} ({torch.get_num_threads()} CPU threads)"))
    except Exception:
        pass
    try:
        from . import datasets

        missing = datasets.missing_files()
        lines.append((not missing, "datasets", "all files present" if not missing
                      else "missing: " + ", ".join(missing) + " (run: python datasets/build.py)"))
    except Exception as exc:  # pragma: no cover - shown to the learner
        lines.append((False, "datasets", f"could not check: {exc}"))
    lines.append((True, "fast mode", "on (COURSE_FAST=1)" if fast_mode() else "off (full runs)"))
    width = max(len(name) for _, name, _ in lines)
    for ok, name, detail in lines:
        print_fn(f"{'OK     ' if ok else 'PROBLEM'}  {name:<{width}}  {detail}")
    all_ok = all(ok for ok, _, _ in lines)
    print_fn("All good: you are ready to start." if all_ok else "Fix the PROBLEM lines above, then run doctor() again.")
    return all_ok
