"""`calculate_output` of multi graders: a hardened, float-only arithmetic evaluator (never `eval`)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, cast

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


# The binary operations on two floats; OPERATORS coerces their operands to floats first.
ON_FLOATS: dict[type[ast.AST], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: math.pow,
}
OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {
    **{node: _floats(op) for node, op in ON_FLOATS.items()},
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


# --- compiled: `evaluate` for one formula applied to many rows -------------------------------------

Compiled = Callable[[Mapping[str, float]], float | None]
_Node = Callable[[Mapping[str, float]], float]


@lru_cache(maxsize=1024)
def compiled(formula: str) -> Compiled | None:
    """`evaluate` of a checked formula as one plain function of float values (sub-grader rewards).

    It answers `evaluate`'s value, or None where `evaluate` raises FormulaEvaluationError (the caller
    then asks `evaluate` for the failure's text). The syntax tree is turned into closures once, each
    applying the same functions as `evaluate` to floats (constants converted up front, every node's
    value a float), so a row costs a few calls instead of a SimpleEval and its walk of the tree; no
    text is ever evaluated. None when a constant is no float (an integer literal past the float range:
    `evaluate` reports its OverflowError per row).
    """
    try:
        body = _compile(parse(formula).body)
    except OverflowError:
        return None
    isfinite = math.isfinite

    def value(values: Mapping[str, float]) -> float | None:
        try:
            result = body(values)
        except (ArithmeticError, ValueError, TypeError):  # what `evaluate` turns into its error
            return None
        return result if isfinite(result) else None

    return value


def _compile(node: ast.AST) -> _Node:
    compiled_node = _compiled(node)
    if isinstance(compiled_node, float):
        constant = compiled_node
        return lambda values: constant
    return compiled_node


def _compiled(node: ast.AST) -> _Node | float:
    """A node of a checked tree as a closure, or as its float when it is a constant (or its sign)."""
    if isinstance(node, ast.Constant):
        return float(cast(float, node.value))  # parse() admits ints and floats; ops coerce them so
    if isinstance(node, ast.Name):
        return operator.itemgetter(node.id)  # a float: see `compiled`
    if isinstance(node, ast.UnaryOp):
        return _unary(node.op, _compiled(node.operand))
    if isinstance(node, ast.BinOp):
        return _binary(ON_FLOATS[type(node.op)], _compiled(node.left), _compiled(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(FUNCTIONS[node.func.id], [_compile(argument) for argument in node.args])
    raise AssertionError(f"not a checked formula node: {ast.dump(node)}")  # parse() refuses the others


def _unary(op: ast.unaryop, operand: _Node | float) -> _Node | float:
    if isinstance(op, ast.UAdd):
        return operand  # float(x) of a float
    if isinstance(operand, float):
        return -operand
    return lambda values: -operand(values)


def _binary(op: Callable[[float, float], float], left: _Node | float, right: _Node | float) -> _Node:
    # One closure per shape, so that a constant operand costs no call (`0.5 * a` is one call and a lookup).
    if isinstance(left, float):
        if isinstance(right, float):
            return lambda values: op(left, right)
        return lambda values: op(left, right(values))
    if isinstance(right, float):
        return lambda values: op(left(values), right)
    return lambda values: op(left(values), right(values))


def _call(function: Callable[..., float], arguments: list[_Node]) -> _Node:
    if len(arguments) == 1:
        (only,) = arguments
        return lambda values: function(only(values))
    if len(arguments) == 2:
        first, second = arguments
        return lambda values: function(first(values), second(values))
    return lambda values: function(*[argument(values) for argument in arguments])
