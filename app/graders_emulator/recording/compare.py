"""Parity of one case: the fields a recorded answer and the emulator's answer must agree on."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from graders_emulator.recording.cassette import Cassette

ABSENT = "<absent>"
GENERATED_NAME = re.compile(r"^grader-[A-Za-z0-9]{12}$")  # what a request without a name is given
ERROR_FIELDS = ("type", "code", "param", "message")


@dataclass(frozen=True)
class Difference:
    """One field on which the emulator does not answer what was recorded."""

    cassette: str
    grader: str
    field: str
    recorded: Any
    emulated: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "cassette": self.cassette,
            "grader": self.grader,
            "field": self.field,
            "recorded": self.recorded,
            "emulated": self.emulated,
        }


def grader_label(cassette: Cassette) -> str:
    """The request's grader name, else its type (unnamed), else `-`."""
    body = cassette.request_json
    grader = body.get("grader") if isinstance(body, Mapping) else None
    if not isinstance(grader, Mapping):
        return "-"
    name, type_ = grader.get("name"), grader.get("type")
    if isinstance(name, str) and name:
        return name
    return f"{type_} (unnamed)" if isinstance(type_, str) else "-"


def skip_reason(cassette: Cassette) -> str | None:
    """Why a recording says nothing about grading (so parity does not compare it), or None."""
    if cassette.upstream_failure:
        return f"upstream {cassette.upstream_failure.get('kind', 'failure')}: not a grading answer"
    if cassette.status == 429 or cassette.status >= 500:
        return f"upstream answered HTTP {cassette.status}: rate limit or server failure, not a grading answer"
    if cassette.status in (401, 403):
        return f"upstream answered HTTP {cassette.status}: about the credential, not the grader"
    return None


def compare(cassette: Cassette, status: int, body: bytes, tolerance: float = 1e-9) -> list[Difference]:
    """Every difference between the recording and the emulator's (status, body) for its request."""
    found = _Comparison(cassette, tolerance)
    if status != cassette.status:
        found.add("status", cassette.status, status)
        return found.differences
    found.differences = _compared(cassette, _body_differences(found, cassette, status, body))
    return found.differences


def _compared(cassette: Cassette, differences: list[Difference]) -> list[Difference]:
    """Only the fields a reconstructed cassette really knows (`provenance.compared_fields`), if it says."""
    known = cassette.provenance.get("compared_fields")
    if not known:
        return differences
    return [
        d
        for d in differences
        if any(d.field == f or d.field.startswith(f + ".") or d.field.startswith(f + " ") for f in known)
    ]


def _body_differences(found: _Comparison, cassette: Cassette, status: int, body: bytes) -> list[Difference]:
    recorded = cassette.response_json
    try:
        emulated = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        emulated = body.decode("utf-8", "replace")
    if status >= 400:
        found.error(recorded, emulated)
    elif cassette.endpoint == "run":
        found.run(recorded, emulated)
    elif cassette.endpoint == "validate":
        found.deep(
            "grader", _get(recorded, "grader"), _get(emulated, "grader"), _get(_request(cassette), "grader")
        )
    else:
        found.deep("body", recorded, emulated, None)
    return found.differences


def _request(cassette: Cassette) -> Any:
    return cassette.request_json


def _get(value: Any, key: str) -> Any:
    return value.get(key, ABSENT) if isinstance(value, Mapping) else ABSENT


class _Comparison:
    def __init__(self, cassette: Cassette, tolerance: float) -> None:
        self.cassette = cassette
        self.tolerance = tolerance
        self.grader = grader_label(cassette)
        self.differences: list[Difference] = []

    def add(self, field: str, recorded: Any, emulated: Any) -> None:
        self.differences.append(Difference(self.cassette.name, self.grader, field, recorded, emulated))

    def scalar(self, field: str, recorded: Any, emulated: Any) -> None:
        if not _same(recorded, emulated, self.tolerance):
            self.add(field, recorded, emulated)

    def error(self, recorded: Any, emulated: Any) -> None:
        recorded_error, emulated_error = _get(recorded, "error"), _get(emulated, "error")
        for key in ERROR_FIELDS:
            self.scalar(f"error.{key}", _get(recorded_error, key), _get(emulated_error, key))

    def run(self, recorded: Any, emulated: Any) -> None:
        self.scalar("reward", _get(recorded, "reward"), _get(emulated, "reward"))
        self.mapping("sub_rewards", _get(recorded, "sub_rewards"), _get(emulated, "sub_rewards"))
        recorded_meta, emulated_meta = _get(recorded, "metadata"), _get(emulated, "metadata")
        request_grader = _get(_request(self.cassette), "grader")
        self.name("metadata.name", _get(recorded_meta, "name"), _get(emulated_meta, "name"), request_grader)
        self.scalar("metadata.type", _get(recorded_meta, "type"), _get(emulated_meta, "type"))
        recorded_errors, emulated_errors = _get(recorded_meta, "errors"), _get(emulated_meta, "errors")
        self.mapping("metadata.errors", recorded_errors, emulated_errors)
        if (
            isinstance(recorded_errors, Mapping)
            and isinstance(emulated_errors, Mapping)
            and set(recorded_errors) == set(emulated_errors)
            and list(recorded_errors) != list(emulated_errors)
        ):
            self.add("metadata.errors (key order)", list(recorded_errors), list(emulated_errors))
        self.scalar(
            "metadata.token_usage (shape)",
            usage_shape(_get(recorded_meta, "token_usage")),
            usage_shape(_get(emulated_meta, "token_usage")),
        )

    def mapping(self, field: str, recorded: Any, emulated: Any) -> None:
        if not (isinstance(recorded, Mapping) and isinstance(emulated, Mapping)):
            self.scalar(field, recorded, emulated)
            return
        for key in [*recorded, *(k for k in emulated if k not in recorded)]:
            self.scalar(f"{field}.{key}", recorded.get(key, ABSENT), emulated.get(key, ABSENT))

    def name(self, field: str, recorded: Any, emulated: Any, request_grader: Any) -> None:
        """Generated names (the request had none) agree whatever their random characters."""
        unnamed = isinstance(request_grader, Mapping) and not request_grader.get("name")
        if unnamed and _generated(recorded) and _generated(emulated):
            return
        self.scalar(field, recorded, emulated)

    def deep(self, field: str, recorded: Any, emulated: Any, request: Any) -> None:
        if isinstance(recorded, Mapping) and isinstance(emulated, Mapping):
            for key in [*recorded, *(k for k in emulated if k not in recorded)]:
                inner = f"{field}.{key}"
                left, right = recorded.get(key, ABSENT), emulated.get(key, ABSENT)
                if key == "name":
                    self.name(inner, left, right, request)
                else:
                    self.deep(inner, left, right, _get(request, key))
        elif isinstance(recorded, list) and isinstance(emulated, list) and len(recorded) == len(emulated):
            request_items = request if isinstance(request, list) and len(request) == len(recorded) else None
            for i, (left, right) in enumerate(zip(recorded, emulated, strict=True)):
                self.deep(f"{field}.{i}", left, right, request_items[i] if request_items else None)
        else:
            self.scalar(field, recorded, emulated)


def _generated(value: Any) -> bool:
    return isinstance(value, str) and GENERATED_NAME.match(value) is not None


def _same(recorded: Any, emulated: Any, tolerance: float) -> bool:
    numbers = (int, float)
    if isinstance(recorded, bool) or isinstance(emulated, bool):
        return recorded is emulated
    if isinstance(recorded, numbers) and isinstance(emulated, numbers):
        if math.isnan(recorded) or math.isnan(emulated):
            return math.isnan(recorded) and math.isnan(emulated)
        return abs(recorded - emulated) <= tolerance
    return bool(recorded == emulated) and type(recorded) is type(emulated)


def usage_shape(usage: Any) -> str:
    """`null`, `integer`, `object{keys}`: what parity compares of token usage (the counts vary)."""
    if usage is None:
        return "null"
    if usage == ABSENT:
        return ABSENT
    if isinstance(usage, bool):
        return "boolean"
    if isinstance(usage, int):
        return "integer"
    if isinstance(usage, Mapping):
        return "object{" + ",".join(sorted(usage)) + "}"
    return type(usage).__name__
