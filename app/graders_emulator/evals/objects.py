"""The wire objects of the Evals and Files APIs: ids, metadata limits, eval/run/item/list bodies."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Mapping
from typing import Any, Literal

from graders_emulator.errors import BadRequest
from graders_emulator.evals.store import Page

Profile = Literal["real", "spec"]

METADATA_PAIRS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512
_FILE_ID_ALPHABET = string.ascii_letters + string.digits

# What a completions run's samples look like (`include_sample_schema`), as OpenAI described them.
SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "message": {
                        "type": "object",
                        "properties": {
                            "role": {"type": "string", "enum": ["assistant"]},
                            "content": {"type": ["string", "null"]},
                        },
                        "required": ["role", "content"],
                    },
                    "finish_reason": {"type": "string"},
                },
                "required": ["index", "message", "finish_reason"],
            },
        },
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
        "output_tools": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["model", "choices"],
}


def now() -> int:
    return int(time.time())


def new_id(prefix: Literal["eval_", "evalrun_", "outputitem_"]) -> str:
    """OpenAI's shape: a prefix and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def new_file_id() -> str:
    """`file-` and 22 characters of [A-Za-z0-9], as OpenAI's file ids."""
    return "file-" + "".join(secrets.choice(_FILE_ID_ALPHABET) for _ in range(22))


def check_metadata(metadata: Mapping[str, str] | None) -> None:
    """OpenAI's limits: 16 pairs, keys up to 64 characters, values up to 512."""
    if metadata is None:
        return
    if len(metadata) > METADATA_PAIRS:
        raise BadRequest(
            f"Invalid 'metadata': too many properties. Expected an object with at most {METADATA_PAIRS} "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_CHARS:
            raise BadRequest(
                f"Invalid 'metadata': string too long. Expected a key with maximum length "
                f"{METADATA_KEY_CHARS}, but got a key with length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if len(value) > METADATA_VALUE_CHARS:
            raise BadRequest(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                f"{METADATA_VALUE_CHARS}, but got a string with length {len(value)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )


def custom_schema(item_schema: Mapping[str, Any], include_sample_schema: bool) -> dict[str, Any]:
    """The `schema` of a custom data source config: `item` (and `sample`) under one object."""
    properties: dict[str, Any] = {"item": dict(item_schema)}
    required = ["item"]
    if include_sample_schema:
        properties["sample"] = SAMPLE_SCHEMA
        required.append("sample")
    return {"type": "object", "properties": properties, "required": required}


def list_body(page: Page, profile: Profile) -> dict[str, Any]:
    """OpenAI's cursor page. An empty page has no first/last id: null live, "" in the spec profile."""
    empty: str | None = "" if profile == "spec" else None
    return {
        "object": "list",
        "data": page.data,
        "first_id": page.data[0]["id"] if page.data else empty,
        "last_id": page.data[-1]["id"] if page.data else empty,
        "has_more": page.has_more,
    }


def no_error(profile: Profile) -> dict[str, str] | None:
    """A run's `error` when nothing failed: null live; the spec (and strict SDKs) want an object."""
    return {"code": "", "message": ""} if profile == "spec" else None


def reported_purpose(purpose: str, profile: Profile) -> str:
    """The spec's (and SDK's) file-object enum has no `evals`: reported as `user_data` there."""
    return "user_data" if profile == "spec" and purpose == "evals" else purpose


def file_object(file_id: str, filename: str, purpose: str, size: int, created_at: int) -> dict[str, Any]:
    # `expires_at` and `status_details` are left out: never set here, and the spec types them non-null.
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": created_at,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def empty_counts() -> dict[str, int]:
    return {"total": 0, "errored": 0, "failed": 0, "passed": 0}
