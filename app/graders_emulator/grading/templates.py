"""Which fields of a grader are templates: the one answer that validation, rendering and rules share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graders_emulator.schemas.graders import (
    EvalMessage,
    Grader,
    InputAudioContent,
    InputImageContent,
    InputTextContent,
    LabelModelGrader,
    MultiGrader,
    OutputTextContent,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)

Part = InputTextContent | OutputTextContent | InputImageContent | InputAudioContent
FieldPath = tuple[str, ...]

# The one template-bearing field of each content-part type, as a path inside the part. A message's
# string content, and a bare string part, are templates themselves.
TEMPLATE_FIELD: Mapping[str, FieldPath] = {
    "input_text": ("text",),
    "output_text": ("text",),
    "input_image": ("image_url",),
    "input_audio": ("input_audio", "data"),
}
# Where a rendered part's text is looked for, in this order (the fields above, without the type).
_TEXT_FIELDS: tuple[FieldPath, ...] = tuple(dict.fromkeys(TEMPLATE_FIELD.values()))


def part_template(part: Part) -> tuple[FieldPath, str]:
    """(the path of the part's template field, its template)."""
    field = TEMPLATE_FIELD[part.type]
    value: Any = part
    for name in field:
        value = getattr(value, name)
    return field, value


def message_templates(messages: list[EvalMessage], path: str) -> Iterator[tuple[str, str]]:
    """Every (param path, template) of a model grader's messages."""
    for i, message in enumerate(messages):
        content = message.content
        if isinstance(content, str):
            yield f"{path}.{i}.content", content
            continue
        parts = content if isinstance(content, list) else [content]
        for j, part in enumerate(parts):
            where = f"{path}.{i}.content.{j}" if isinstance(content, list) else f"{path}.{i}.content"
            if isinstance(part, str):
                yield where, part
            else:
                field, template = part_template(part)
                yield f"{where}.{'.'.join(field)}", template


def grader_templates(grader: Grader, path: str) -> Iterator[tuple[str, str]]:
    """Every (param path, template) of a grader and its sub-graders. Python sources are never templates."""
    if isinstance(grader, StringCheckGrader | TextSimilarityGrader):
        yield f"{path}.input", grader.input
        yield f"{path}.reference", grader.reference
    elif isinstance(grader, ScoreModelGrader | LabelModelGrader):
        yield from message_templates(grader.input, f"{path}.input")
    elif isinstance(grader, MultiGrader):
        for key, sub in grader.graders.items():
            yield from grader_templates(sub, f"{path}.graders.{key}")


def put(target: dict[str, Any], field: FieldPath, value: Any) -> None:
    """Set `value` at `field` inside `target`, making the objects on the way."""
    for name in field[:-1]:
        target = target.setdefault(name, {})
    target[field[-1]] = value


def rendered_text(part: Mapping[str, Any]) -> str:
    """The text of a rendered content part: its template field's value ("" when it has none)."""
    for field in _TEXT_FIELDS:
        value: Any = part
        for name in field:
            value = value.get(name) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            return value
    return ""
