"""course_lib.checks: check() prints one stable line, expect() raises with the same sentence."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib.checks import Credit, check, compare, expect


def _line(capsys, actual, expected, **kw) -> tuple[bool, str]:
    capsys.readouterr()  # forget what earlier checks printed
    ok = check(actual, expected, name="x", **kw)
    return ok, capsys.readouterr().out.rstrip("\n")


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_match_prints_tick(capsys, to):
    ok, out = _line(capsys, to([[1.0, 2.0], [3.0, 4.0]]), to([[1.0, 2.0], [3.0, 4.0]]))
    assert ok is True and out == "✓ x"


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_shape_mismatch(capsys, to):
    ok, out = _line(capsys, to(np.zeros((3, 4))), to(np.zeros((4, 3))))
    assert ok is False
    assert out == "✗ x: shape (3, 4) != expected (4, 3)"


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_dtype_mismatch_float_for_int(capsys, to):
    ok, out = _line(capsys, to(np.array([1.0, 2.0])), to(np.array([1, 2])))
    assert ok is False
    assert out.startswith("✗ x: dtype float") and "expected int64 (expected integers)" in out


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_value_mismatch_names_first_index_and_values(capsys, to):
    expected = np.arange(12, dtype=np.float64).reshape(3, 4)
    actual = expected.copy()
    actual[1, 2] = 60.5
    actual[2, 3] = -1.0
    ok, out = _line(capsys, to(actual), to(expected))
    assert ok is False
    assert out == ("✗ x: 2 of 12 values differ; first at index (1, 2): 60.5 vs expected 6 "
                   "(rtol=1e-05, atol=1e-08)")


def test_one_dimensional_index_is_a_number(capsys):
    _, out = _line(capsys, np.array([1.0, 2.0, 9.0]), np.array([1.0, 2.0, 3.0]))
    assert "first at index 2: 9 vs expected 3" in out


def test_scalars_and_tolerances(capsys):
    assert check(0.1 + 0.2, 0.3, name="sum") is True
    assert check(1.0, 1.1, name="loose", rtol=0.2) is True
    ok, out = _line(capsys, 1.0, 1.1)
    assert ok is False and out == "✗ x: got 1, expected 1.1 (rtol=1e-05, atol=1e-08)"


def test_torch_against_numpy_and_nan(capsys):
    assert check(torch.tensor([1.0, float("nan")]), np.array([1.0, np.nan]), name="nan") is True
    assert check(torch.ones(2, requires_grad=True) * 2, np.array([2.0, 2.0]), name="grad") is True
    assert check(torch.ones(3, dtype=torch.bfloat16), torch.ones(3), name="bf16") is True


def test_strings(capsys):
    ok, out = _line(capsys, "to be or not", "to be and not")
    assert ok is False and out == "✗ x: strings differ at character 6: 'or not' vs expected 'and not'"
    ok, out = _line(capsys, 3, "3")
    assert ok is False and out == "✗ x: expected the string '3', got int 3"


def test_shapes(capsys):
    assert check(torch.zeros(2, 3).shape, (2, 3), name="shape") is True
    ok, out = _line(capsys, torch.zeros(2, 3).shape, (3, 2))
    assert ok is False and out == "✗ x: shape (2, 3) != expected (3, 2)"


def test_lists_of_tokens_and_dicts(capsys):
    ok, out = _line(capsys, ["to", "be", "or"], ["to", "be", "and"])
    assert out == "✗ x: item 2: strings differ at character 0: 'or' vs expected 'and'"
    ok, out = _line(capsys, ["a"], ["a", "b"])
    assert out == "✗ x: length 1 != expected 2"
    ok, out = _line(capsys, {"a": 1, "b": 2.0}, {"a": 1, "b": 2.5})
    assert ok is False and out.startswith("✗ x: ['b']: got 2, expected 2.5")
    ok, out = _line(capsys, {"a": 1}, {"b": 1})
    assert out == "✗ x: keys differ: missing ['b'], unexpected ['a']"


def test_none_means_forgot_return(capsys):
    ok, out = _line(capsys, None, np.zeros(2))
    assert ok is False and "forget to `return`" in out


def test_booleans(capsys):
    assert check(True, True, name="b") is True
    ok, out = _line(capsys, 1, True)
    assert ok is False and out == "✗ x: got 1, expected True"


def test_quiet_prints_nothing(capsys):
    assert check(1, 2, name="q", quiet=True) is False
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("bad", ["", None, 3])
def test_name_is_required(bad):
    with pytest.raises(ValueError, match="non-empty string name"):
        check(1, 1, name=bad)
    with pytest.raises(ValueError, match="non-empty string name"):
        expect(1, 1, name=bad)


@pytest.mark.parametrize("actual,expected", [
    (np.zeros((2, 2)), np.zeros((2, 3))),
    (torch.tensor([1.0, 2.0]), torch.tensor([1, 2])),
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5])),
    ("abc", "abd"),
    (None, 1.0),
])
def test_expect_raises_the_sentence_check_prints(capsys, actual, expected):
    assert check(actual, expected, name="exercise") is False
    printed = capsys.readouterr().out.rstrip("\n")
    with pytest.raises(AssertionError) as info:
        expect(actual, expected, name="exercise")
    assert str(info.value) == printed


def test_expect_passes_quietly_with_a_tick(capsys):
    expect(np.eye(2), np.eye(2), name="eye")
    assert capsys.readouterr().out == "✓ eye\n"


# independent reference: the tolerance rule written out, and numpy's allclose

_floats = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=4), elements=_floats),
       st.floats(-1e-3, 1e-3), st.integers(0, 100))
def test_compare_agrees_with_numpy_allclose(expected, noise, where):
    actual = expected.copy()
    actual.flat[where % actual.size] += noise
    bad = np.abs(actual - expected) > 1e-8 + 1e-5 * np.abs(expected)   # the documented rule, written out
    agree = not bad.any()
    assert agree == np.allclose(actual, expected, rtol=1e-5, atol=1e-8)
    msg = compare(actual, expected)
    assert (msg is None) == agree, (msg, agree)
    if msg is not None:
        assert msg.startswith(f"{int(bad.sum())} of {actual.size} values differ") or actual.ndim == 0
    assert compare(torch.from_numpy(actual), torch.from_numpy(expected)) == msg


# ----------------------------------------------------------------------------- dtypes through _validate.to_numpy


def test_integer_results_against_float_references_match_but_not_the_reverse(capsys):
    assert check(np.array([1, 2]), np.array([1.0, 2.0]), name="ints vs floats")
    assert not check(np.array([1.0, 2.0]), np.array([1, 2]), name="floats vs ints")
    assert "expected integers" in capsys.readouterr().out


def test_bfloat16_tensors_compare_through_float32(capsys):
    x = torch.tensor([0.5, 1.5], dtype=torch.bfloat16)
    assert check(x, np.array([0.5, 1.5]), name="bf16")
    assert not check(x, np.array([0.5, 2.5]), name="bf16 wrong")


# ----------------------------------------------------------------------------- partial credit


def _credit_cell(first_ok: bool, second_ok: bool) -> Credit:
    credit = Credit(3)
    with credit.part("small", 1):
        expect(1 if first_ok else 0, 1, name="first")
    with credit.part("large", 2):
        if not second_ok:
            raise NotImplementedError()
        expect(2, 2, name="second")
    return credit


def test_credit_gives_the_points_of_the_parts_that_pass(capsys):
    assert _credit_cell(True, True).total() == 3
    assert _credit_cell(False, True).total() == 2
    out = capsys.readouterr().out
    assert "✗ small (0/1 points): AssertionError: first: got 0, expected 1" in out
    assert "2 of 3 points; failed: small" in out
    assert _credit_cell(True, False).total() == 1


def test_credit_with_every_part_failed_raises_so_a_stub_still_fails():
    with pytest.raises(AssertionError, match="every part failed: small: .*large: NotImplementedError"):
        _credit_cell(False, False).total()


def test_credit_parts_worth_less_than_the_cell_are_the_hidden_ones(capsys):
    credit = Credit(3)
    with credit.part("visible part", 1):
        pass
    assert credit.total() == 1  # the student version: the hidden parts are gone
    assert "hidden tests check the other 2 when the notebook is graded" in capsys.readouterr().out


def test_credit_parts_worth_more_than_the_cell_or_no_part_are_refused():
    credit = Credit(1)
    with credit.part("a", 1):
        pass
    with credit.part("b", 1):
        pass
    with pytest.raises(ValueError, match="worth 2 points; they must add up to the cell's 1"):
        credit.total()
    with pytest.raises(ValueError, match="worth 0 points"):
        Credit(1).total()


@pytest.mark.parametrize("bad", [0, -1, "3", True, None])
def test_credit_refuses_bad_points(bad):
    with pytest.raises(ValueError, match="Credit"):
        Credit(bad)
    with pytest.raises(ValueError, match="points > 0"):
        with Credit(1).part("p", bad):
            pass


def test_credit_lets_interrupts_through():
    credit = Credit(1)
    with pytest.raises(KeyboardInterrupt):
        with credit.part("p", 1):
            raise KeyboardInterrupt
