"""``check()``: compare a learner's result with the reference and say what differs.

Every check cell in the course prints one short, stable line::

    ✓ softmax rows
    ✗ softmax rows: shape (3, 4) != expected (4, 3)
    ✗ softmax rows: 2 of 12 values differ; first at index (1, 2): 0.3 vs expected 0.25 (rtol=1e-05, atol=1e-08)

``check`` returns True/False; ``expect`` (used by exercise tests) raises an
AssertionError carrying the same sentence, so an autograder can report it. In a test
cell, ``forbid`` switches off the function an exercise asks the learner to build, and
``Credit`` splits the cell's points over parts that pass or fail on their own.
"""
from __future__ import annotations

from contextlib import contextmanager
from numbers import Number
from typing import Any, Iterator, Sequence

import numpy as np

from ._validate import to_numpy

__all__ = ["check", "expect", "compare", "Credit", "forbid", "call_without", "ForbiddenCall", "numerical_gradient"]


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return repr(v.item() if isinstance(v, np.generic) else v)


def _is_shape(x: Any) -> bool:
    return type(x).__name__ == "Size" or (isinstance(x, tuple) and all(isinstance(i, int) for i in x))


def compare(actual: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> str | None:
    """Return None when ``actual`` matches ``expected``, else a sentence naming the first mismatch.

    Numbers and arrays match when ``|a - e| <= atol + rtol * |e|`` elementwise
    (NaNs match NaNs). Strings, booleans, shapes and other objects match on ``==``.
    """
    if actual is None and expected is not None:
        return "got None (did the function forget to `return`?)"
    if isinstance(expected, str) or isinstance(actual, str):
        if actual == expected:
            return None
        if not isinstance(actual, str):
            return f"expected the string {expected!r}, got {type(actual).__name__} {actual!r}"
        i = next((i for i, (a, e) in enumerate(zip(actual, expected)) if a != e), min(len(actual), len(expected)))
        return f"strings differ at character {i}: {actual[i:i + 20]!r} vs expected {expected[i:i + 20]!r}"
    if _is_shape(expected) and _is_shape(actual):
        if tuple(actual) == tuple(expected):
            return None
        return f"shape {tuple(actual)} != expected {tuple(expected)}"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"expected a dict, got {type(actual).__name__}"
        if set(actual) != set(expected):
            missing, extra = set(expected) - set(actual), set(actual) - set(expected)
            return f"keys differ: missing {sorted(map(str, missing))[:5]}, unexpected {sorted(map(str, extra))[:5]}"
        for k in expected:
            msg = compare(actual[k], expected[k], rtol=rtol, atol=atol)
            if msg:
                return f"[{k!r}]: {msg}"
        return None
    if isinstance(expected, (list, tuple)) and any(isinstance(e, (str, list, tuple, dict)) for e in expected):
        if not isinstance(actual, (list, tuple)):
            return f"expected a {type(expected).__name__}, got {type(actual).__name__}"
        if len(actual) != len(expected):
            return f"length {len(actual)} != expected {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            msg = compare(a, e, rtol=rtol, atol=atol)
            if msg:
                return f"item {i}: {msg}"
        return None
    if isinstance(expected, (bool, np.bool_)) and not isinstance(actual, (np.ndarray,)) and not _is_tensor(actual):
        return None if bool(actual) == bool(expected) and isinstance(actual, (bool, np.bool_)) else \
            f"got {actual!r}, expected {expected!r}"
    try:
        a, e = to_numpy(actual), to_numpy(expected)
    except Exception:
        return None if actual == expected else f"got {actual!r}, expected {expected!r}"
    if a.dtype == object or e.dtype == object:
        return None if actual == expected else f"got {actual!r}, expected {expected!r}"
    if a.shape != e.shape:
        return f"shape {a.shape} != expected {e.shape}"
    # integer results compared with float references are fine numerically; the reverse is not
    if a.dtype.kind in "fc" and e.dtype.kind in "biu" and not isinstance(expected, Number):
        return f"dtype {a.dtype} != expected {e.dtype} (expected integers)"
    if a.dtype.kind == "b" or e.dtype.kind == "b" or a.dtype.kind in "US" or e.dtype.kind in "US":
        bad = a != e
    else:
        a64, e64 = a.astype(np.complex128 if "c" in a.dtype.kind + e.dtype.kind else np.float64), \
            e.astype(np.complex128 if "c" in a.dtype.kind + e.dtype.kind else np.float64)
        close = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
        bad = ~close
    if not np.any(bad):
        return None
    n_bad, n = int(np.count_nonzero(bad)), bad.size
    if a.ndim == 0:
        return f"got {_fmt(a[()])}, expected {_fmt(e[()])} (rtol={rtol:g}, atol={atol:g})"
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"{n_bad} of {n} values differ; first at index {idx if len(idx) > 1 else idx[0]}: "
            f"{_fmt(a[idx])} vs expected {_fmt(e[idx])} (rtol={rtol:g}, atol={atol:g})")


def check(actual: Any, expected: Any, *, name: str, rtol: float = 1e-5, atol: float = 1e-8,
          quiet: bool = False) -> bool:
    """Compare ``actual`` with ``expected``, print ``✓ name`` or ``✗ name: <first mismatch>``.

    Returns True when they match. ``rtol``/``atol`` apply to numbers, arrays and tensors.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"check() expected a non-empty string name, got {name!r}")
    msg = compare(actual, expected, rtol=rtol, atol=atol)
    if not quiet:
        print(f"✓ {name}" if msg is None else f"✗ {name}: {msg}")
    return msg is None


def expect(actual: Any, expected: Any, *, name: str, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Like :func:`check` but raise ``AssertionError`` on a mismatch (for exercise tests)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"expect() expected a non-empty string name, got {name!r}")
    msg = compare(actual, expected, rtol=rtol, atol=atol)
    if msg is not None:
        raise AssertionError(f"✗ {name}: {msg}")
    print(f"✓ {name}")


# ---------------------------------------------------------------------------------------
# Partial credit: a test cell's points split over parts that pass or fail on their own.
# ---------------------------------------------------------------------------------------

class Credit:
    """Split a test cell's points over named parts; the cell's value is the points earned::

        credit = Credit(3)                          # the cell's nbgrader points
        with credit.part("a small example", 1):
            expect(count_word("a b a", "a"), 2, name="count_word('a b a', 'a')")
        with credit.part("the whole play", 2):
            expect(count_word(play, "love"), reference, name="count_word(play, 'love')")
        credit.total()                              # the last line of the cell

    A part whose body raises (a failed ``expect``, the stub's ``NotImplementedError``, a
    :class:`ForbiddenCall`) earns nothing and prints ``✗ part: reason``; the cell carries on.
    ``total()`` raises an AssertionError naming every failed part when no part passed (a
    stub still fails its test), and otherwise returns the points earned. A test cell whose
    value is a number is scored with that number, by nbgrader (its partial-credit rule) and
    by the course's grader alike. Partial credit is opt-in: a test cell without ``Credit``
    scores all or nothing.
    """

    def __init__(self, points: float):
        if isinstance(points, bool) or not isinstance(points, Number) or not points > 0:
            raise ValueError(f"Credit() expected the cell's points, a number > 0, got {points!r}")
        self.points = float(points)
        self.parts: list[tuple[str, float, str | None]] = []  # (name, points, None or why it failed)

    @contextmanager
    def part(self, name: str, points: float) -> Iterator[None]:
        """A block of checks worth ``points``: all of them, or nothing if the block raises."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"Credit.part() expected a non-empty string name, got {name!r}")
        if isinstance(points, bool) or not isinstance(points, Number) or not points > 0:
            raise ValueError(f"Credit.part({name!r}) expected points > 0, got {points!r}")
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - any failure of the learner's code costs this part only
            why = str(exc) or type(exc).__name__
            why = why.removeprefix("✗ ")
            self.parts.append((name, float(points), f"{type(exc).__name__}: {why}"))
            print(f"✗ {name} (0/{points:g} points): {type(exc).__name__}: {why}")
        else:
            self.parts.append((name, float(points), None))

    def total(self) -> float:
        """The points earned; AssertionError when every part that ran failed.

        In a student version the hidden parts are gone, so the parts that ran may be worth less
        than the cell (that is said, not an error); worth more is an error. The release checks
        that the instructor's parts add up to the cell's points.
        """
        split = sum(p for _, p, _ in self.parts)
        if not self.parts or split > self.points + 1e-9:
            raise ValueError(f"Credit({self.points:g}): the parts that ran are worth {split:g} points; they "
                             f"must add up to the cell's {self.points:g}")
        earned = sum(p for _, p, why in self.parts if why is None)
        failed = [f"{name}: {why}" for name, _, why in self.parts if why is not None]
        if earned == 0:
            raise AssertionError("✗ every part failed: " + "; ".join(failed))
        if failed:
            print(f"{earned:g} of {self.points:g} points; failed: " + "; ".join(failed))
        if split < self.points - 1e-9:
            print(f"{split:g} of the {self.points:g} points are tested here; hidden tests check the other "
                  f"{self.points - split:g} when the notebook is graded")
        return earned


# ---------------------------------------------------------------------------------------
# Exercises are built, not called: switch off the function that would solve them.
# ---------------------------------------------------------------------------------------

class ForbiddenCall(RuntimeError):
    """Raised when an exercise's solution calls a function that its test switched off."""


def _resolve(dotted: str) -> tuple[Any, str, Any]:
    """'torch.nn.functional.softmax' -> (the module or class that holds it, 'softmax', the object)."""
    import importlib

    if not isinstance(dotted, str) or "." not in dotted:
        raise ValueError(f"forbid() expected dotted names such as 'torch.logsumexp', got {dotted!r}")
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # longest importable module prefix, then attributes
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        if not hasattr(owner, parts[-1]):
            raise ValueError(f"forbid(): {'.'.join(parts[:-1])} has no attribute {parts[-1]!r} ({dotted!r})")
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"forbid(): cannot import any module of {dotted!r}")


def _blocker(dotted: str, what: str):
    def blocked(*args: Any, **kwargs: Any):
        raise ForbiddenCall(f"{dotted} is switched off in this test: this exercise asks you to build "
                            f"{what} yourself, from the operations the chapter showed.")
    blocked.__name__ = dotted.rsplit(".", 1)[-1]
    return blocked


class forbid:
    """Switch functions off while an exercise's test runs the learner's code::

        with forbid("torch.logsumexp", "torch.Tensor.logsumexp", what="log-sum-exp"):
            got = logsumexp(z)          # a solution that calls torch.logsumexp raises ForbiddenCall
        expect(got, reference, name="log-sum-exp")

    Each dotted name is replaced by a function that raises :class:`ForbiddenCall`, in its
    module (or class) and under every name in the caller's namespace (the notebook's
    globals) that is bound to the same object, so ``from torch import logsumexp as lse``
    is caught too. Everything is restored on exit, also when the block raises. Compute
    the reference values outside the block: they may need the switched-off functions.
    """

    def __init__(self, *names: str, what: str = "this piece", namespace: dict | None = None):
        if not names:
            raise ValueError("forbid() expected at least one dotted name, such as 'torch.softmax'")
        self.names, self.what, self.namespace = names, what, namespace
        self._undo: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> "forbid":
        import sys

        ns = self.namespace if self.namespace is not None else sys._getframe(1).f_globals
        targets = [(_resolve(n), n) for n in self.names]
        try:
            for (owner, attr, original), dotted in targets:
                block = _blocker(dotted, self.what)
                self._undo.append((owner, attr, owner.__dict__[attr] if attr in getattr(owner, "__dict__", {})
                                   else original))
                setattr(owner, attr, block)
                for key, value in list(ns.items()):
                    if value is original:
                        self._undo.append((ns, key, value))
                        ns[key] = block
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> bool:
        for owner, attr, original in reversed(self._undo):
            if isinstance(owner, dict):
                owner[attr] = original
            else:
                setattr(owner, attr, original)
        self._undo.clear()
        return False


def call_without(forbidden: Sequence[str], fn: Any, *args: Any, what: str = "this piece", **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with the dotted names in ``forbidden`` switched off (see :class:`forbid`)."""
    import sys

    if isinstance(forbidden, str):
        raise ValueError(f"call_without() expected a list of dotted names, got the string {forbidden!r}")
    with forbid(*forbidden, what=what, namespace=sys._getframe(1).f_globals):
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------
# Gradients checked by finite differences (chapters 02, 03 and every hand-derived gradient).
# ---------------------------------------------------------------------------------------

def numerical_gradient(f: Any, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences: :math:`\\partial f/\\partial x_i \\approx (f(x + \\epsilon e_i) - f(x - \\epsilon e_i)) / 2\\epsilon`.

    ``f`` maps the array to a float (it may read ``x`` itself, or its argument); ``x`` must be
    a float64 NumPy array: it is perturbed in place, one coordinate at a time, and restored.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError(f"numerical_gradient expected a float64 numpy array, got "
                         f"{type(x).__name__} {getattr(x, 'dtype', '')}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad
