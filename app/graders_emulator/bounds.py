"""Request bounds checked before any grading work starts: JSON depth, counts, rendered size (400s).

Each bound is a setting (README, "Bounds"); `RequestBounds()` holds the documented defaults, which
`Settings` repeats. Every check here is linear in the request and runs before pydantic, rendering or
grading: a request over a bound costs what parsing it cost, and answers a 400 in OpenAI's envelope.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import compress
from typing import Any

import orjson

from graders_emulator import templating
from graders_emulator.errors import BadRequest

_CONTAINERS = (dict, list)
_IS_CONTAINER = frozenset(_CONTAINERS).__contains__


@dataclass(frozen=True)
class RequestBounds:
    """The per-request bounds of one server (or library call)."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_json_depth: int = 64
    max_rendered_ratio: float = 2.0
    max_model_messages: int = 1000
    max_sub_graders: int = 64

    @property
    def max_rendered_chars(self) -> int:
        return int(self.max_rendered_ratio * self.max_body_bytes)


def deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than `limit` containers deep.

    Level by level, without recursion; the scalars of each container are skipped in C
    (`compress` over `type` membership), so the cost is one step per object or array.
    """
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            below.extend(compress(children, map(_IS_CONTAINER, map(type, children))))
        level = below
    return False


def check_depth(
    value: Any, bounds: RequestBounds, what: str = "The JSON body", param: str | None = None
) -> None:
    if deeper_than(value, bounds.max_json_depth):
        raise BadRequest(
            f"{what} is nested more than {bounds.max_json_depth} levels deep; "
            f"the limit is {bounds.max_json_depth} (setting max_json_depth).",
            param=param,
            code="invalid_value",
        )


def openers_at_most(text: bytes, limit: int) -> bool:
    """Whether the JSON `text` has at most `limit` `{` and `[` in all: then it cannot nest deeper.

    Every object and array of the parsed value opens with a bracket of its own (brackets inside
    strings only add to the count), and counting bytes runs in C: for a body of a few hundred bytes
    this costs a tenth of walking the parsed value.
    """
    objects = text.count(b"{")
    return objects <= limit and objects + text.count(b"[") <= limit


def check_body(data: Any, bounds: RequestBounds, raw: bytes | None = None) -> None:
    """Bounds of a parsed run/validate body, before the schema: sub-graders, model messages, depth.

    `raw` is the JSON text `data` was parsed from, when there is one: the depth walk is skipped
    when the text proves that it cannot find too deep a nesting (`openers_at_most`).
    """
    if isinstance(data, dict):
        _check_grader(data.get("grader"), "grader", bounds)  # counts first: they cost nothing
    if raw is None or not openers_at_most(raw, bounds.max_json_depth):
        check_depth(data, bounds)


def _check_grader(grader: Any, path: str, bounds: RequestBounds) -> None:
    if not isinstance(grader, dict):
        return
    kind = grader.get("type")
    if kind == "multi":
        subs = grader.get("graders")
        if isinstance(subs, dict):
            if len(subs) > bounds.max_sub_graders:
                raise BadRequest(
                    f"Invalid value for '{path}.graders': {len(subs)} sub-graders; the limit is "
                    f"{bounds.max_sub_graders} (setting max_sub_graders).",
                    param=f"{path}.graders",
                    code="invalid_value",
                )
            for key, sub in subs.items():
                _check_grader(sub, f"{path}.graders.{key}", bounds)
    elif kind in ("score_model", "label_model"):
        messages = grader.get("input")
        if isinstance(messages, list):
            count = sum(_parts(message) for message in messages)
            if count > bounds.max_model_messages:
                raise BadRequest(
                    f"Invalid value for '{path}.input': {count} messages and content parts; the limit "
                    f"is {bounds.max_model_messages} (setting max_model_messages).",
                    param=f"{path}.input",
                    code="invalid_value",
                )


def _parts(message: Any) -> int:
    content = message.get("content") if isinstance(message, dict) else None
    return max(1, len(content)) if isinstance(content, list) else 1


def check_rendered(
    templates: Iterator[tuple[str, str]], namespaces: Mapping[str, Any], bounds: RequestBounds
) -> None:
    """400 when rendering every template of a grader would exceed the rendered-size bound.

    The size is computed from the values without rendering anything: a template repeating
    `{{sample.output_text}}` 2000 times over a 1 MB sample is refused before 2 GB are built.
    A missing variable counts 0 (grading reports it as `invalid_variable_error`).
    """
    limit = bounds.max_rendered_chars
    sizes: dict[str, int] = {}
    total = 0
    largest = ("", -1)
    for param, template in templates:
        size = 0
        for piece in templating.parse(template):
            if isinstance(piece, str):
                size += len(piece)
                continue
            found = sizes.get(piece.expression)
            if found is None:
                found = sizes[piece.expression] = _value_size(piece, namespaces)
            size += found
        total += size
        if size > largest[1]:
            largest = (param, size)
        if total > limit:
            raise BadRequest(
                f"Rendering the templates of this grader would produce more than {limit} characters "
                f"(the largest, '{largest[0]}', alone {largest[1]}); the limit is max_rendered_ratio "
                f"({bounds.max_rendered_ratio:g}) x max_body_bytes ({bounds.max_body_bytes}).",
                param=largest[0],
                code="invalid_value",
            )


def _value_size(variable: templating.Variable, namespaces: Mapping[str, Any]) -> int:
    if variable.namespace not in namespaces:
        return 0
    try:
        value = templating.lookup(namespaces[variable.namespace], variable.path)
    except templating.PathMissing:
        return 0
    if isinstance(value, str):
        return len(value)
    try:  # orjson's UTF-8 bytes: an upper bound of json.dumps's characters, computed in C
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        return len(templating.to_text(value))
