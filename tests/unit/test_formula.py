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


# --- compiled: evaluate's value, or None where evaluate raises ------------------------------------


def _evaluated(expression: str, values: dict[str, float]) -> float | None:
    try:
        return formula.evaluate(expression, values)
    except formula.FormulaEvaluationError:
        return None


@pytest.mark.parametrize(
    "expression",
    [
        "a",
        "1",
        "7",
        "+a",
        "-a",
        "-(-b)",
        "0.5 * a + 0.5 * b",
        "a * 0.5 + b * 0.5",
        "a + b ^ 2",
        "2 ^ 3 ^ 2",
        "-b ^ 2",
        "a / b",
        "a / zero",
        "1 / 0",
        "log(zero)",
        "sqrt(zero - 1)",
        "exp(710)",
        "9 ^ 9 ^ 9",
        "(-8) ^ (1/3)",
        "10 ^ 400",
        "1" + "0" * 400,  # an int literal past the float range: no compiled form, evaluate fails per row
        "1e308 * 10",  # inf without an exception: not finite
        "1e308 * 10 - 1e308 * 10",  # nan
        "min(a, b, c)",
        "max(a, b)",
        "min(a, 0.5, b, c, zero)",
        "abs(b - a)",
        "floor(2.7) + ceil(0.1)",
        "floor(a * 10) / 10",
        "exp(1)",
        "log(exp(2))",
        "2 * a + 1",
        "a - 2",
    ],
    ids=str,
)
def test_compiled_gives_evaluate_values(expression: str) -> None:
    compute = formula.compiled(expression)
    for values in (
        VALUES,
        {"a": 0.0, "b": 0.0, "c": 0.0, "zero": 0.0},
        {"a": 1.0, "b": 0.25, "c": -3.5, "zero": 0.0},
    ):
        want = _evaluated(expression, values)
        got = None if compute is None else compute(values)
        assert got == want or (got is not None and want is not None and math.isnan(got) and math.isnan(want))
        assert got is None or type(got) is float


def test_compiled_on_random_formulas() -> None:
    """Random formulas of every operator, function and constant: the same value as evaluate, bit for bit."""
    import random

    rng = random.Random(13)
    names = ["a", "b", "c", "zero"]
    binary = ["+", "-", "*", "/", "^"]

    def expression(depth: int) -> str:
        roll = rng.random()
        if depth == 0 or roll < 0.25:
            choice = rng.random()
            if choice < 0.5:
                return rng.choice(names)
            if choice < 0.75:
                return str(rng.randint(0, 5))
            return repr(round(rng.uniform(-3, 3), 3))
        if roll < 0.65:
            return f"({expression(depth - 1)} {rng.choice(binary)} {expression(depth - 1)})"
        if roll < 0.75:
            return f"-{expression(depth - 1)}"
        function = rng.choice(sorted(formula.FUNCTIONS))
        if function in ("min", "max"):
            arguments = [expression(depth - 1) for _ in range(rng.randint(2, 4))]
        else:
            arguments = [expression(depth - 1)]
        return f"{function}({', '.join(arguments)})"

    compared = failed = 0
    for _ in range(600):
        text = expression(rng.randint(1, 5))
        formula.check(text, names)
        compute = formula.compiled(text)
        assert compute is not None
        for _ in range(3):
            values = {name: rng.choice([0.0, 1.0, 0.5, rng.random(), -rng.random()]) for name in names}
            want = _evaluated(text, values)
            assert compute(values) == want, (text, values)
            compared += 1
            failed += want is None
    assert failed > 50 and compared - failed > 800  # both outcomes were exercised
