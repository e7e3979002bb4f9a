"""OpenAI's error envelope: the one place where failures become HTTP answers.

Every error the emulator answers is an `ApiError` (injected fault statuses included, as
`InjectedError`), serialised here only: `error_response` for FastAPI's handlers, `send_error` for
pure-ASGI layers. `schemas/errors.py` declares the same envelope for the OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send

JSON_PARSE_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username. You can obtain an API "
    "key from https://platform.openai.com/account/api-keys."
)


class ApiError(Exception):
    """An HTTP error in OpenAI's envelope. The class sets the defaults (status, type, code);
    subclasses change only what differs, and an instance only what its constructor is given."""

    status: int = 400
    type: str = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return orjson.dumps(self.envelope())


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    status = 401


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class PayloadTooLarge(ApiError):
    status = 413
    code = "request_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class ServerError(ApiError):
    status = 500
    type = "server_error"


# --- injected statuses (fault injection) ----------------------------------------------------------

# Status -> (type, code, message) as OpenAI words them; statuses not listed fall back by class.
_INJECTED: dict[int, tuple[str, str | None, str]] = {
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
_INJECTED_SERVER_ERROR = ("server_error", None, "Injected server error.")
_INJECTED_CLIENT_ERROR = ("invalid_request_error", None, "Injected error.")

# The statuses the official SDKs retry unless `x-should-retry` says otherwise.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable(status: int) -> bool:
    """Whether the official SDKs retry this status by default."""
    return status in RETRYABLE_STATUSES or status >= 500


class InjectedError(ApiError):
    """An HTTP status that fault injection asked for, typed and worded the way OpenAI sends it."""

    def __init__(
        self,
        status: int,
        *,
        retry_after_ms: int | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        fallback = _INJECTED_SERVER_ERROR if status >= 500 else _INJECTED_CLIENT_ERROR
        type_, code, text = _INJECTED.get(status, fallback)
        retry = f"{retry_after_ms}ms" if retry_after_ms is not None else "a moment"
        super().__init__(message or text.format(retry=retry), code=code, headers=headers)
        self.status = status
        self.type = type_


# --- serialising ----------------------------------------------------------------------------------


def error_response(error: ApiError, extra_headers: Mapping[str, str] | None = None) -> Response:
    """The error as a Starlette response (for FastAPI's exception handlers)."""
    headers = {**error.headers, **(extra_headers or {})}
    return Response(error.body(), error.status, headers, media_type="application/json")


async def send_error(send: Send, error: ApiError) -> None:
    """Answer the error from a pure-ASGI layer: the same status, headers and bytes as `error_response`."""
    body = error.body()
    headers = [
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()),
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- pydantic ValidationError -> OpenAI's 400 ------------------------------------------------------

_JSON_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}
_EXPECTED_BY_ERROR = {
    "string_type": "string",
    "string_sub_type": "string",
    "float_type": "number",
    "float_parsing": "number",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
    "tuple_type": "array",
}


_JSON_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type_name(value: Any) -> str:
    """The JSON name of a Python value's type, as OpenAI's messages use it."""
    return _JSON_NAMES.get(type(value), "object")


def _found_path(body: Any, loc: Sequence[str | int]) -> list[str]:
    path = body_path(body, loc)
    return path.split(".") if path else []


def body_path(body: Any, loc: Sequence[str | int]) -> str | None:
    """Dotted path inside the body for a pydantic `loc`, dropping union tags and member names.

    A loc element is kept only when it really indexes the body at that point, which removes the
    discriminator tags (`grader.string_check.operation`) and union member names (`str`, `list[...]`)
    that pydantic inserts, whatever their spelling.
    """
    parts: list[str] = []
    node = body
    for element in loc:
        child = _child(node, element)
        if child is not _ABSENT:
            node = child
            parts.append(str(element))
    return ".".join(parts) or None


_ABSENT = object()


def _child(node: Any, element: str | int) -> Any:
    if isinstance(node, dict) and isinstance(element, str):
        return node.get(element, _ABSENT)
    if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
        return node[element]
    return _ABSENT


def _missing_path(body: Any, loc: Sequence[str | int]) -> str:
    """For a missing field the last loc element is not in the body: append it to the found path."""
    found = body_path(body, loc[:-1]) if len(loc) > 1 else None
    name = str(loc[-1]) if loc else "body"
    return f"{found}.{name}" if found else name


def _supported(expected: str) -> str:
    values = re.findall(r"'([^']*)'", expected)
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def validation_error(body: Any, errors: Sequence[Mapping[str, Any]]) -> BadRequest:
    """Turn the first pydantic error into OpenAI's 400 (message, param as dotted path, code)."""
    if not errors:
        return BadRequest("Invalid request.")
    # A union (e.g. message content: string | part | list of parts) reports one error per member;
    # the one that reaches deepest into the body is the one that explains the mistake.
    # A discriminator error points at the `type` inside the object, one level deeper.
    error = max(errors, key=lambda e: len(_found_path(body, e["loc"])) + e["type"].startswith("union_tag"))
    kind: str = error["type"]
    loc: Sequence[str | int] = error.get("loc", ())
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    if kind in ("missing", "union_tag_not_found"):
        missing = _missing_path(body, loc) if kind == "missing" else f"{body_path(body, loc)}.type"
        return BadRequest(
            f"Missing required parameter: '{missing}'.", param=missing, code="missing_required_parameter"
        )
    path = body_path(body, loc)
    if kind in _EXPECTED_BY_ERROR:
        expected = _JSON_TYPE_NAMES[_EXPECTED_BY_ERROR[kind]]
        got = _JSON_TYPE_NAMES.get(json_type_name(value), json_type_name(value))
        target = f"'{path}'" if path else "body"
        return BadRequest(
            f"Invalid type for {target}: expected {expected}, but got {got} instead.",
            param=path,
            code="invalid_type",
        )
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        expected = str(ctx.get("expected") or ctx.get("expected_tags") or "")
        shown = value if kind != "union_tag_invalid" else ctx.get("tag", value)
        if kind == "union_tag_invalid" and path:
            path = f"{path}.type"
        return BadRequest(
            f"Invalid value: '{shown}'. Supported values are: {_supported(expected)}.",
            param=path,
            code="invalid_value",
        )
    if kind == "extra_forbidden":
        return BadRequest(
            f"Unrecognized request argument supplied: {path}", param=path, code="unknown_parameter"
        )
    message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
    target = f" for '{path}'" if path else ""
    return BadRequest(f"Invalid value{target}: {message}", param=path, code="invalid_value")
