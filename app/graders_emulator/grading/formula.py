"""`calculate_output` of multi graders: a hardened, float-only arithmetic evaluator (never `eval`)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from simpleeval import SimpleEval

MAX_FORMULA_LENGTH = 4096
# Syntax-tree depth: `a+a+...` of 100 terms is 100 deep. Evaluation recurses once per level, so this
# bound keeps it far from Python's recursion limit (README, "Bounds").
MAX_FORMULA_DEPTH = 100


class FormulaError(ValueError):
    """The formula does not parse, or names an unknown variable or function: a 400."""


class FormulaEvaluationError(ArithmeticError):
    """The formula parsed but failed on these values (e.g. division by zero): `formula_parse_error`."""


def _floats(op: Callable[[float, float], float]) -> Callable[[Any, Any], float]:
    # Coercing to float first stops integer growth: `9 ** 9 ** 9` is an OverflowError in microseconds.
    return lambda x, y: op(float(x), float(y))


OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _floats(operator.add),
    ast.Sub: _floats(operator.sub),
    ast.Mult: _floats(operator.mul),
    ast.Div: _floats(operator.truediv),
    ast.Pow: _floats(math.pow),
    ast.USub: lambda x: -float(x),
    ast.UAdd: float,
}
FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": lambda *xs: float(min(float(x) for x in xs)),
    "max": lambda *xs: float(max(float(x) for x in xs)),
    "abs": lambda x: abs(float(x)),
    "floor": lambda x: float(math.floor(float(x))),
    "ceil": lambda x: float(math.ceil(float(x))),
    "exp": lambda x: math.exp(float(x)),
    "sqrt": lambda x: math.sqrt(float(x)),
    "log": lambda x: math.log(float(x)),  # natural log, one argument (arity checked)
}
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    *OPERATORS,
)


def _to_python(formula: str) -> str:
    # `^` is power with mathematical precedence and right associativity (CONTRACT §5): exactly `**`.
    return formula.replace("^", "**")


@lru_cache(maxsize=1024)
def parse(formula: str) -> ast.Expression:
    """Parse and check a formula once; raises FormulaError with a reason a user can act on."""
    if not formula.strip():
        raise FormulaError("calculate_output is empty.")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"calculate_output is longer than {MAX_FORMULA_LENGTH} characters.")
    try:
        tree = ast.parse(_to_python(formula).strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"Invalid calculate_output {formula!r}: {exc.msg}.") from None
    except (RecursionError, MemoryError):  # CPython's parser gives up on `-----...a` this way
        raise FormulaError(_too_deep(formula)) from None
    if _depth(tree) > MAX_FORMULA_DEPTH:
        raise FormulaError(_too_deep(formula))
    for node in ast.walk(tree):
        reason = _refusal(node)
        if reason:
            raise FormulaError(f"Invalid calculate_output {formula!r}: {reason}.")
    return tree


def _too_deep(formula: str) -> str:
    shown = formula if len(formula) <= 80 else formula[:80] + "..."
    return f"Invalid calculate_output {shown!r}: nested more than {MAX_FORMULA_DEPTH} levels deep."


def _depth(tree: ast.AST) -> int:
    """The depth of a syntax tree, without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _refusal(node: ast.AST) -> str | None:
    """Why a syntax node may not appear in a formula, or None when it may."""
    if not isinstance(node, _ALLOWED_NODES):
        return f"{type(node).__name__} is not allowed"
    if isinstance(node, ast.Constant) and (type(node.value) not in (int, float)):
        return "only numbers are allowed"
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            return f"unknown function {ast.unparse(node.func)!r}"
        if not _arity_ok(node.func.id, len(node.args)):
            wanted = "two or more arguments" if node.func.id in _VARIADIC else "one argument"
            return f"{node.func.id}() takes {wanted}"
    return None


_VARIADIC = ("min", "max")


def _arity_ok(function: str, count: int) -> bool:
    return count >= 2 if function in _VARIADIC else count == 1


def names(formula: str) -> set[str]:
    """The variables a formula reads (function names excluded)."""
    tree = parse(formula)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def check(formula: str, variables: Iterable[str]) -> None:
    """Raise FormulaError when the formula is invalid or reads a variable that is not a sub-grader."""
    unknown = sorted(names(formula) - set(variables))
    if unknown:
        raise FormulaError(
            f"Invalid calculate_output {formula!r}: unknown variable {unknown[0]!r}; "
            f"the sub-graders are {', '.join(repr(v) for v in sorted(variables)) or 'none'}."
        )


def evaluate(formula: str, values: Mapping[str, float]) -> float:
    """Evaluate a checked formula; raises FormulaEvaluationError on a math failure or non-finite result."""
    tree = parse(formula)
    evaluator = SimpleEval(operators=OPERATORS, functions=FUNCTIONS, names=dict(values))
    try:
        result = float(evaluator.eval(formula, previously_parsed=tree.body))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise FormulaEvaluationError(f"{type(exc).__name__}: {exc}") from None
    if not math.isfinite(result):
        raise FormulaEvaluationError(f"the result is not a finite number ({result})")
    return result
