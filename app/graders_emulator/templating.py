"""`{{ namespace.path }}` templates: parsing, static checks and rendering (CONTRACT §4)."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

NAMESPACES = ("item", "sample")

# `{{` ... `}}` on one template; an opening without a closing pair stays literal text.
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_HEAD = re.compile(r"[^.\[\]]*")


class TemplateSyntaxError(ValueError):
    """A template names a namespace other than `item`/`sample`, or is not a path: a 400."""


class MissingVariable(LookupError):
    """A template names a variable that the request does not have: `invalid_variable_error`."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"Variable '{expression}' could not be resolved: {reason}")
        self.expression = expression


@dataclass(frozen=True)
class Variable:
    """One `{{ ... }}`: its namespace and the keys/indexes under it."""

    expression: str
    namespace: str
    path: tuple[str | int, ...]


Piece = str | Variable


def _parse_variable(expression: str) -> Variable:
    head = _HEAD.match(expression)
    namespace = head.group(0) if head else ""
    if namespace not in NAMESPACES:
        raise TemplateSyntaxError(
            f"Invalid template '{{{{{expression}}}}}': variables must start with one of "
            f"{', '.join(repr(n) for n in NAMESPACES)}, got {namespace!r}."
        )
    path: list[str | int] = []
    position = len(namespace)
    for match in _SEGMENT.finditer(expression, position):
        if match.start() != position:
            break
        key, index = match.groups()
        path.append(int(index) if index is not None else key)
        position = match.end()
    if position != len(expression):
        raise TemplateSyntaxError(f"Invalid template '{{{{{expression}}}}}': not a variable path.")
    return Variable(expression, namespace, tuple(path))


@lru_cache(maxsize=4096)
def parse(template: str) -> tuple[Piece, ...]:
    """Split a template into literal text and variables (cached: graders repeat across requests)."""
    pieces: list[Piece] = []
    position = 0
    for match in _TEMPLATE.finditer(template):
        if match.start() > position:
            pieces.append(template[position : match.start()])
        pieces.append(_parse_variable(match.group(1).strip()))
        position = match.end()
    if position < len(template):
        pieces.append(template[position:])
    return tuple(pieces)


def check(template: str) -> None:
    """Raise TemplateSyntaxError when the template cannot be valid for any request."""
    parse(template)


# --- dotted paths: the one lookup that templates and rules (`match.item`) share ----------------------

_DOTTED_STEP = re.compile(r"[^.\[\]]+")


class PathMissing(LookupError):
    """A path step that the value does not have (`step` in `value`)."""

    def __init__(self, step: str | int, value: Any) -> None:
        super().__init__(step)
        self.step = step
        self.value = value


def dotted_steps(path: str) -> tuple[str, ...]:
    """`a.b[0].c` or `a.b.0.c` -> ('a', 'b', '0', 'c'): keys, and indexes as digit strings."""
    return tuple(_DOTTED_STEP.findall(path))


def lookup(value: Any, steps: Sequence[str | int]) -> Any:
    """Follow keys and indexes; a digit step also indexes a list (`tools.0`). PathMissing when absent."""
    for step in steps:
        if isinstance(value, Mapping) and isinstance(step, str) and step in value:
            value = value[step]
            continue
        index = int(step) if isinstance(step, int) or step.isdigit() else None
        if not (isinstance(value, list) and index is not None and index < len(value)):
            raise PathMissing(step, value)
        value = value[index]  # `[n]`, or a numeric key on a list (`tools.0`)
    return value


def _lookup(value: Any, variable: Variable) -> Any:
    try:
        return lookup(value, variable.path)
    except PathMissing as missing:
        raise MissingVariable(
            variable.expression, f"no {missing.step!r} in {_describe(missing.value)}"
        ) from None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object" if value else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "null" if value is None else f"a {type(value).__name__}"


def to_text(value: Any) -> str:
    """Strings render as themselves; anything else as compact JSON, non-ASCII kept."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(template: str, namespaces: Mapping[str, Any]) -> str:
    """Fill every variable; raises MissingVariable naming the first one that is absent."""
    pieces = parse(template)
    if len(pieces) == 1 and isinstance(pieces[0], str):
        return pieces[0]
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        out.append(_render_variable(piece, namespaces))
    return "".join(out)


def _render_variable(variable: Variable, namespaces: Mapping[str, Any]) -> str:
    if variable.namespace not in namespaces:
        raise MissingVariable(variable.expression, f"the request has no {variable.namespace!r}")
    return to_text(_lookup(namespaces[variable.namespace], variable))


# --- renderers: a template compiled once into a function, for graders applied to many samples -------

Renderer = Callable[[Mapping[str, Any]], str]
_ABSENT = object()


@lru_cache(maxsize=4096)
def renderer(template: str) -> Renderer:
    """A function rendering this template exactly as `render` does (same text, same MissingVariable).

    Plain dicts keyed by strings, the usual namespaces, are looked up directly; anything else (a
    list index, another Mapping, a missing key) takes `render`'s own path, so a renderer only ever
    answers faster, never differently. A lone `{{ sample.output_text }}` is then one dict lookup.
    """
    pieces = parse(template)
    if not any(isinstance(piece, Variable) for piece in pieces):
        text = "".join(str(piece) for piece in pieces)
        return lambda namespaces: text
    parts: list[str | Renderer] = [
        _variable_text(piece) if isinstance(piece, Variable) else piece for piece in pieces
    ]
    if len(parts) == 1 and not isinstance(parts[0], str):
        return parts[0]

    def render_pieces(namespaces: Mapping[str, Any]) -> str:
        # Variables render in order, so the first missing one is the one reported, as in `render`.
        return "".join([part if isinstance(part, str) else part(namespaces) for part in parts])

    return render_pieces


def _variable_text(variable: Variable) -> Renderer:
    """One variable's text; a path of string keys through plain dicts is followed inline."""
    namespace, path = variable.namespace, variable.path

    def general(namespaces: Mapping[str, Any]) -> str:
        return _render_variable(variable, namespaces)

    if not path or not all(isinstance(step, str) for step in path):
        return general
    if len(path) == 1:
        key = path[0]

        def one_key(namespaces: Mapping[str, Any]) -> str:
            # Subscripts in a `try` (free in CPython 3.11 unless raised) rather than two `.get` calls:
            # this runs twice per sample of an inline grader, where the metric may cost 2 us.
            try:
                scope = namespaces[namespace]
                if type(scope) is dict:
                    value = scope[key]
                    return value if type(value) is str else to_text(value)
            except KeyError:
                pass
            return general(namespaces)

        return one_key

    def keys(namespaces: Mapping[str, Any]) -> str:
        value = namespaces.get(namespace)
        for step in path:
            if type(value) is not dict or step not in value:
                return general(namespaces)
            value = value[step]
        return value if type(value) is str else to_text(value)

    return keys


PairRenderer = Callable[[Mapping[str, Any]], tuple[str, str]]


@lru_cache(maxsize=1024)
def pair_renderer(first: str, second: str) -> PairRenderer:
    """`(renderer(first)(namespaces), renderer(second)(namespaces))` as one function.

    A grader's input and reference are each a lone `{{ namespace.key }}` more often than not: both
    strings are then looked up in one call (a sample of an inline grader costs a few calls in all,
    around a metric of 2 us); anything else takes the two renderers, in order.
    """
    first_of, second_of = renderer(first), renderer(second)

    def general(namespaces: Mapping[str, Any]) -> tuple[str, str]:
        return first_of(namespaces), second_of(namespaces)

    first_lone, second_lone = lone_key(first), lone_key(second)
    if first_lone is None or second_lone is None:
        return general
    (first_namespace, first_key), (second_namespace, second_key) = first_lone, second_lone

    def lone_keys(namespaces: Mapping[str, Any]) -> tuple[str, str]:
        try:
            first_scope, second_scope = namespaces[first_namespace], namespaces[second_namespace]
            if type(first_scope) is dict and type(second_scope) is dict:
                first_text, second_text = first_scope[first_key], second_scope[second_key]
                if type(first_text) is str and type(second_text) is str:
                    return first_text, second_text
        except KeyError:
            pass
        return general(namespaces)

    return lone_keys


def lone_key(template: str) -> tuple[str, str] | None:
    """(namespace, key) of a template that is exactly one `{{ namespace.key }}`, else None.

    Such a template renders as `namespaces[namespace][key]` whenever that scope is a plain dict and the
    value a str (any other case: its renderer), which is what lets a caller look it up itself.
    """
    pieces = parse(template)
    if len(pieces) != 1 or not isinstance(pieces[0], Variable):
        return None
    variable = pieces[0]
    if len(variable.path) != 1 or not isinstance(variable.path[0], str):
        return None
    return variable.namespace, variable.path[0]


def variables(template: str) -> Iterator[Variable]:
    for piece in parse(template):
        if isinstance(piece, Variable):
            yield piece


_JSON_SPACE = " \t\n\r"
_JSON_STARTS = frozenset('{["-0123456789')  # the first character of every JSON value but the literals
_JSON_LITERALS = frozenset({"true", "false", "null"})


def sample_namespace(model_sample: str) -> dict[str, Any]:
    """The `sample` namespace: output_json only when the sample is valid JSON (any JSON value)."""
    sample: dict[str, Any] = {"output_text": model_sample}
    # Plain text fails fast, without raising: a failed parse builds a costly JSONDecodeError, and a
    # text starting with t/f/n is JSON only when it is exactly one of the three literals.
    start = model_sample.lstrip(_JSON_SPACE)[:1]
    if start in _JSON_STARTS or (
        start in "tfn" and start and model_sample.strip(_JSON_SPACE) in _JSON_LITERALS
    ):
        with contextlib.suppress(orjson.JSONDecodeError):
            sample["output_json"] = orjson.loads(model_sample)
    sample["output_tools"] = []
    sample["choices"] = []
    return sample


def reads_only_output_text(templates: Iterable[str]) -> bool:
    """Whether these templates read nothing of the `sample` namespace but (paths under) `output_text`.

    For such templates `{"output_text": model_sample}` renders exactly as `sample_namespace` does,
    without parsing the sample as JSON.
    """
    return all(
        variable.namespace != "sample" or variable.path[:1] == ("output_text",)
        for template in templates
        for variable in variables(template)
    )


def namespaces(item: Any, model_sample: str) -> dict[str, Any]:
    """Both namespaces of one request. A missing item is an empty object, as on the live API."""
    return {"item": {} if item is None else item, "sample": sample_namespace(model_sample)}
