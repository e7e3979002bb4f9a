"""A grader handler's answer, sent by either entry: the raw-ASGI fast path or FastAPI's route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Scope, Send

if TYPE_CHECKING:
    from graders_emulator.service import Runtime


@dataclass(frozen=True, slots=True)
class Answer:
    """A handler's answer: a JSON body and any extra headers (a status other than 200 when replayed)."""

    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    status: int = 200
    media_type: bytes = b"application/json"

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", self.media_type),
            *self.headers,
        ]

    async def send(self, send: Send) -> None:
        """Send the answer from a pure-ASGI layer."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body})

    def response(self) -> Response:
        """The same answer as a Starlette response (for FastAPI's routes)."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self.headers}
        return Response(self.body, self.status, headers, media_type=self.media_type.decode("latin-1"))


# One request's scope and whole body -> its answer; raises ApiError for a 4xx.
Handler = Callable[[Scope, bytes, "Runtime"], Awaitable[Answer]]
