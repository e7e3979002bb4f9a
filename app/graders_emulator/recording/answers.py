"""Turning an upstream's or a cassette's status, headers and body into the answer a caller gets."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.types import Scope

from graders_emulator.http.answer import Answer
from graders_emulator.http.answer_source import mark
from graders_emulator.recording.cassette import kept_headers

# The local server stamps its own x-request-id and openai-processing-ms on every answer; the
# upstream's values are passed on under these names rather than sent twice.
RENAMED = {"x-request-id": "x-upstream-request-id", "openai-processing-ms": "x-upstream-processing-ms"}


def answer_of(scope: Scope, source: str, status: int, headers: Mapping[str, str], body: bytes) -> Answer:
    """The caller's answer: status and body unchanged, the headers that matter, `x-emulator-source`."""
    kept = kept_headers(headers)
    media_type = kept.pop("content-type", "application/json")
    passed = tuple(
        (RENAMED.get(name, name).encode("latin-1"), value.encode("latin-1")) for name, value in kept.items()
    )
    return Answer(body, (*passed, mark(scope, source)), status, media_type.encode("latin-1"))


def error_body(message: str, type_: str, code: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})
