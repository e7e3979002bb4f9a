"""calculate_output: precedence, functions, hardening, and which failures are 400s vs flags."""

from __future__ import annotations

import math

import pytest

from graders_emulator.grading import formula

VALUES = {"a": 0.8, "b": 0.5, "c": 0.9, "zero": 0.0}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a", 0.8),
        ("0.5 * a + 0.5 * b", 0.65),
        ("a + b ^ 2", 0.8 + 0.5**2),  # ^ binds tighter than + (CONTRACT §5)
        ("2 ^ 3 ^ 2", 2 ** (3**2)),  # right associative, like **
        ("-b ^ 2", -(0.5**2)),  # unary minus binds looser than power, like Python
        ("(a + b) ^ 2", (0.8 + 0.5) ** 2),
        ("0.5 * a + max(b, c) ^ 2", 0.4 + 0.81),
        ("a ** 2", 0.64),
        ("min(a, b, c)", 0.5),
        ("max(a, b)", 0.8),
        ("abs(b - a)", abs(0.5 - 0.8)),
        ("floor(2.7) + ceil(0.1)", 3.0),
        ("exp(1)", math.e),
        ("sqrt(4)", 2.0),
        ("log(exp(2))", 2.0),
        ("a / b", 1.6),
        ("1", 1.0),
        ("+a", 0.8),
    ],
    ids=str,
)
def test_evaluate(expression: str, expected: float) -> None:
    result = formula.evaluate(expression, VALUES)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    "expression",
    ["a / zero", "log(zero)", "sqrt(zero - 1)", "exp(710)", "9 ^ 9 ^ 9", "(-8) ^ (1/3)", "10 ^ 400"],
    ids=["div-zero", "log-zero", "sqrt-negative", "exp-overflow", "power-tower", "complex-root", "huge"],
)
def test_math_failures_are_evaluation_errors(expression: str) -> None:
    formula.check(expression, VALUES)
    with pytest.raises(formula.FormulaEvaluationError):
        formula.evaluate(expression, VALUES)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "a +",
        "a b",
        "__import__('os')",
        "a.__class__",
        "().__class__.__bases__",
        "lambda: 1",
        "[1, 2]",
        "max(*a)",
        "'x' * 10",
        "True",
        "d + 1",
        "foo(a)",
        "log(a, 10)",
        "min(a)",
        "abs(a, b)",
        "a if b else c",
        "a < b",
        "a // b",
        "a % b",
        "a & b",
        "x" * 5000,
        "max(a=1, b=2)",
    ],
    ids=lambda value: repr(value)[:30],
)
def test_invalid_formulas_are_400s(expression: str) -> None:
    with pytest.raises(formula.FormulaError):
        formula.check(expression, VALUES)


def test_names_exclude_functions() -> None:
    assert formula.names("max(a, b) + log(c)") == {"a", "b", "c"}


def test_long_products_of_huge_powers_fail_fast() -> None:
    # simpleeval's own defaults take >30 s on this (reference/sandbox.md §6.1); floats overflow at once.
    expression = " * ".join(["(2 ^ 4000000 - 1)"] * 40)
    with pytest.raises(formula.FormulaEvaluationError):
        formula.evaluate(expression, {})
