"""The one reader of request bodies: the bytes from ASGI, then JSON under OpenAI's media-type rules."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from graders_emulator.errors import JSON_PARSE_MESSAGE, BadRequest, UnsupportedMediaType


async def read_body(receive: Receive) -> bytes:
    """The whole request body; ClientDisconnect when the client leaves first (as Starlette does)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """JSON, or OpenAI's 400 for a body that is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(JSON_PARSE_MESSAGE) from None


def json_body(scope: Scope, raw: bytes) -> Any:
    """The body as JSON. A declared non-JSON media type is refused; an absent one is given the benefit."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
    if content_type is not None:
        media = content_type.split(b";", 1)[0].strip().lower()
        if media != b"application/json" and not media.endswith(b"+json"):
            raise UnsupportedMediaType(
                f"Invalid Content-Type header ({content_type.decode('latin-1')}): the body must be JSON, "
                "sent as 'Content-Type: application/json'."
            )
    return parse_json(raw)
