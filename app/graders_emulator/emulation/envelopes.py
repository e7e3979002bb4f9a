"""OpenAI error envelopes for emulated HTTP errors, and a pure-ASGI way to send JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.types import Send

# Status -> (type, code, message) as OpenAI words them; statuses not listed fall back by class.
_STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request (injected by the emulator)."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided (injected by the emulator).",
    ),
    403: (
        "permission_error",
        None,
        "You are not allowed to perform this request (injected by the emulator).",
    ),
    404: ("invalid_request_error", None, "Not found (injected by the emulator)."),
    408: ("timeout_error", None, "Request timed out (injected by the emulator)."),
    409: ("conflict_error", None, "The request conflicted with another request (injected by the emulator)."),
    422: ("invalid_request_error", None, "Unprocessable request (injected by the emulator)."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests (injected by the emulator). Please try again in {retry}.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that! (injected by the emulator)",
    ),
    502: ("server_error", None, "Bad gateway (injected by the emulator)."),
    503: ("server_error", None, "The server is overloaded or not ready yet (injected by the emulator)."),
    504: ("server_error", None, "Gateway timeout (injected by the emulator)."),
}

# The statuses the official SDKs retry unless `x-should-retry` says otherwise.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable(status: int) -> bool:
    """Whether the official SDKs retry this status by default."""
    return status in RETRYABLE_STATUSES or status >= 500


def envelope(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The body OpenAI sends with every HTTP error."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """A 400-style envelope."""
    return envelope(message, "invalid_request_error", param, code)


def status_envelope(
    status: int, retry_after_ms: int | None = None, message: str | None = None
) -> dict[str, Any]:
    """The envelope of an injected HTTP status, typed the way OpenAI types that status."""
    default = ("server_error", None, "Injected server error.") if status >= 500 else None
    type_, code, text = (
        _STATUS_ERRORS.get(status) or default or ("invalid_request_error", None, "Injected error.")
    )
    retry = f"{retry_after_ms}ms" if retry_after_ms is not None else "a moment"
    return envelope(message or text.format(retry=retry), type_, None, code)


async def send_json(send: Send, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
    """Answer a whole JSON response from middleware (no Starlette Response needed)."""
    payload = orjson.dumps(body)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
