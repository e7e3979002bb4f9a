"""Dataset lines for batch grading: reading a JSONL file and turning each row into a run request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from graders_emulator.errors import JSON_PARSE_MESSAGE, ApiError, BadRequest
from graders_emulator.http.body import parse_json
from graders_emulator.schemas.graders import MODEL_GRADER_TYPES

Route = Literal["cpu", "model", "sandbox"]


@dataclass(frozen=True)
class LineSource:
    """How rows become run requests: a default grader, and where the sample is read from.

    - `sample_field` None: a row is a run request body, `{"model_sample", "item"?, "grader"?}`.
    - `sample_field` set: a row of an OpenAI RFT dataset; the whole row is the `item` and the
      sample is `row[sample_field]` (non-strings are sent as their compact JSON).
    A row's own `grader` replaces the default one, so one file may mix graders.
    """

    grader: Any = None
    sample_field: str | None = None


def count_lines(path: Path) -> int:
    """Non-blank lines, for the progress bar's total (a fast binary scan)."""
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes) of every non-blank line; blank lines are allowed in JSONL."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, raw


def run_body(raw: bytes, source: LineSource) -> Any:
    """The run request body of one line; raises ApiError (the API's own 400) for a bad line."""
    row = parse_json(raw)  # the server's own reader: the same 400 for a line that is not JSON
    if not isinstance(row, dict):
        return row  # service.parse_run answers it as the API does: "expected an object"
    grader = row.get("grader", source.grader)
    if grader is None:
        raise BadRequest(
            "Missing required parameter: 'grader'.", param="grader", code="missing_required_parameter"
        )
    if source.sample_field is not None:
        return {"grader": grader, "model_sample": _sample_of(row, source.sample_field), "item": row}
    body = {key: row[key] for key in ("model_sample", "item", "reference_answer") if key in row}
    return {"grader": grader, **body}


def _sample_of(row: dict[str, Any], field: str) -> str:
    if field not in row:
        raise BadRequest(
            f"Missing required parameter: '{field}' (the --sample-field of this dataset).",
            param=field,
            code="missing_required_parameter",
        )
    value = row[field]
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def route(raw: bytes, default_grader: Any) -> Route:
    """Where a line is graded: `sandbox` (a python grader somewhere), `model` (a model grader), or
    `cpu` (deterministic: any process). Decided on the raw JSON, cheaply; a line that does not parse
    goes anywhere and fails there."""
    try:
        row = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "cpu"
    types = _types(row.get("grader", default_grader) if isinstance(row, dict) else None)
    return "sandbox" if "python" in types else ("model" if types & MODEL_GRADER_TYPES else "cpu")


def _types(grader: Any) -> set[str]:
    if not isinstance(grader, dict):
        return set()
    subs = grader.get("graders") if grader.get("type") == "multi" else None
    found = {str(grader.get("type"))}
    if isinstance(subs, dict):
        found.update(*(_types(sub) for sub in subs.values()))
    return found


def error_kind(error: ApiError) -> str:
    """A bad line's kind for the summary: `invalid_json`, else the 400's code (e.g. `invalid_type`)."""
    if error.message == JSON_PARSE_MESSAGE:
        return "invalid_json"
    if error.status >= 500:
        return "server_error"
    return error.code or "invalid_request"
