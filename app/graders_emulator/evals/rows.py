"""The rows of a run: read from inline content or a JSONL file, checked against the item schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson
from jsonschema.exceptions import best_match


@dataclass(frozen=True)
class Row:
    """One data source row; `error` set when the row cannot be graded (bad line, schema mismatch)."""

    index: int
    item: dict[str, Any]
    sample: dict[str, Any] | None = None
    error: str | None = None


def from_content(content: list[Mapping[str, Any]]) -> list[Row]:
    return [_row(index, entry) for index, entry in enumerate(content)]


def from_jsonl(data: bytes) -> list[Row]:
    """Rows of a JSONL file `{"item": ..., "sample": ...}` per line; a bad line becomes an errored row."""
    rows: list[Row] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            rows.append(Row(len(rows), {}, error=f"line {number} is not valid JSON: {exc}"))
            continue
        rows.append(_row(len(rows), entry, f"line {number}"))
    return rows


def _row(index: int, entry: Any, where: str | None = None) -> Row:
    where = where or f"row {index}"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("item"), Mapping):
        return Row(index, {}, error=f"{where} must be an object with an 'item' object")
    sample = entry.get("sample")
    if sample is not None and not isinstance(sample, Mapping):
        return Row(index, dict(entry["item"]), error=f"{where}: 'sample' must be an object")
    return Row(index, dict(entry["item"]), dict(sample) if sample is not None else None)


def item_validator(item_schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A validator of the schema's own draft (2020-12 when it names none)."""
    cls = jsonschema.validators.validator_for(item_schema, default=jsonschema.Draft202012Validator)
    return cls(item_schema)


def check_schema(item_schema: Mapping[str, Any]) -> str | None:
    """Why `item_schema` is not a valid JSON schema, or None."""
    cls = jsonschema.validators.validator_for(item_schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(item_schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return None


def mismatch(validator: jsonschema.protocols.Validator, item: Any) -> str | None:
    """The validation message of an item that does not match the schema, or None."""
    error = best_match(validator.iter_errors(item))
    if error is None:
        return None
    at = "/".join(str(part) for part in error.absolute_path)
    return f"item does not match item_schema: {error.message}" + (f" (at '{at}')" if at else "")
