"""Checks a parsed grader beyond its schema (the 400s of CONTRACT §3) and normalises it."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from graders_emulator import templating
from graders_emulator.errors import BadRequest
from graders_emulator.grading import formula
from graders_emulator.grading.templates import grader_templates
from graders_emulator.schemas.base import WireModel
from graders_emulator.schemas.graders import (
    Grader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
)

_NAME_ALPHABET = string.ascii_letters + string.digits


class NameGenerator:
    """`grader-` + 12 characters of [A-Za-z0-9], anew on every call; reproducible when seeded."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()

    def __call__(self) -> str:
        return "grader-" + "".join(self._random.choices(_NAME_ALPHABET, k=12))


def multi_graders_shape_error(raw_grader: Any) -> BadRequest | None:
    """`multi.graders` sent as one grader object (as the SDK types describe): the live API's 400."""
    if not isinstance(raw_grader, dict) or raw_grader.get("type") != "multi":
        return None
    graders = raw_grader.get("graders")
    if not (isinstance(graders, dict) and isinstance(graders.get("type"), str)):
        return None
    strings = [k for k, v in graders.items() if isinstance(v, str) and k not in ("type", "name")]
    key = "input" if "input" in graders else (strings[0] if strings else "type")
    return BadRequest(
        f"Invalid type for 'graders.{key}': expected an object, but got a string instead.",
        param=f"grader.graders.{key}",
        code="invalid_type",
    )


# --- per-type checks -------------------------------------------------------------------------------


def _check_range(grader: ScoreModelGrader, path: str) -> None:
    bounds = grader.range
    if bounds is not None and (len(bounds) != 2 or not bounds[0] < bounds[1]):
        raise BadRequest(
            f"Invalid value for '{path}.range': expected [low, high] with low < high, got {bounds}.",
            param=f"{path}.range",
            code="invalid_value",
        )


def _check_labels(grader: LabelModelGrader, path: str) -> None:
    if not grader.labels:
        raise BadRequest(f"'{path}.labels' must not be empty.", param=f"{path}.labels", code="invalid_value")
    stray = [label for label in grader.passing_labels if label not in grader.labels]
    if stray:
        raise BadRequest(
            f"Invalid value for '{path}.passing_labels': {stray[0]!r} is not one of the labels.",
            param=f"{path}.passing_labels",
            code="invalid_value",
        )


def _check_one(grader: Grader, path: str, max_source_bytes: int) -> None:
    if isinstance(grader, PythonGrader) and len(grader.source.encode()) > max_source_bytes:
        raise BadRequest(
            f"Invalid value for '{path}.source': the source is {len(grader.source.encode())} bytes; "
            f"the limit is {max_source_bytes} bytes.",
            param=f"{path}.source",
            code="invalid_value",
        )
    if isinstance(grader, ScoreModelGrader):
        _check_range(grader, path)
    elif isinstance(grader, LabelModelGrader):
        _check_labels(grader, path)
    elif isinstance(grader, MultiGrader):
        if not grader.graders:
            raise BadRequest(
                f"'{path}.graders' must not be empty.", param=f"{path}.graders", code="invalid_value"
            )
        for key, sub in grader.graders.items():
            _check_one(sub, f"{path}.graders.{key}", max_source_bytes)
        try:
            formula.check(grader.calculate_output, grader.graders)
        except formula.FormulaError as exc:
            raise BadRequest(str(exc), param=f"{path}.calculate_output", code="invalid_value") from None


def _extra_keys(model: BaseModel, path: str) -> Iterator[str]:
    for key in model.model_extra or {}:
        yield f"{path}.{key}" if path else key
    for name in model.model_fields_set:
        yield from _extras_in(getattr(model, name), f"{path}.{name}" if path else name)


def _extras_in(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, BaseModel):
        yield from _extra_keys(value, path)
    elif isinstance(value, list):
        for i, element in enumerate(value):
            yield from _extras_in(element, f"{path}.{i}")
    elif isinstance(value, dict):
        for key, element in value.items():
            yield from _extras_in(element, f"{path}.{key}")


def check_grader(grader: Grader, *, max_source_bytes: int, top_level: bool = True) -> None:
    """Raise the 400 that OpenAI answers for a grader that parses but cannot be run."""
    if top_level and isinstance(grader, LabelModelGrader):
        raise BadRequest(
            "Invalid value: 'label_model'. label_model graders are only supported inside a multi grader; "
            "supported values at the top level are: 'string_check', 'text_similarity', 'python', "
            "'score_model', and 'multi'.",
            param="grader.type",
            code="invalid_value",
        )
    _check_one(grader, "grader", max_source_bytes)
    for param, template in grader_templates(grader, "grader"):
        try:
            templating.check(template)
        except templating.TemplateSyntaxError as exc:
            raise BadRequest(str(exc), param=param, code="invalid_value") from None


def check_no_extras(request: WireModel) -> None:
    """Strict mode: any key the schema does not know is a 400 naming it."""
    for path in _extra_keys(request, ""):
        raise BadRequest(
            f"Unrecognized request argument supplied: {path}", param=path, code="unknown_parameter"
        )


# --- normalisation ---------------------------------------------------------------------------------


def with_names(grader: Grader, new_name: NameGenerator) -> Grader:
    """A copy with every missing name generated (sub-graders included); the input is not mutated."""
    update: dict[str, Any] = {}
    if not grader.name:
        update["name"] = new_name()
    if isinstance(grader, MultiGrader):
        update["graders"] = {key: with_names(sub, new_name) for key, sub in grader.graders.items()}
    return grader.model_copy(update=update) if update else grader


def to_wire(model: BaseModel) -> dict[str, Any]:
    """A grader as `validate` returns it: `type` first, fields as received, no nulls, no extras."""
    out: dict[str, Any] = {}
    fields = type(model).model_fields
    order = sorted(fields, key=lambda name: name != "type")  # stable: declaration order after `type`
    for name in order:
        if name not in model.model_fields_set and name != "name":
            continue
        value = getattr(model, name)
        if value is not None:
            out[name] = _wire_value(value)
    return out


def _wire_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return to_wire(value)
    if isinstance(value, list):
        return [_wire_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire_value(v) for k, v in value.items()}
    return value
