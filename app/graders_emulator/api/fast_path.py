"""Serve run and validate straight from ASGI, with the handlers FastAPI documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from graders_emulator.errors import ApiError, error_response
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

    def response(self) -> Response:
        """The same answer as a Starlette response (for FastAPI's routes)."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self.headers}
        return Response(self.body, self.status, headers, media_type=self.media_type.decode("latin-1"))


Handler = Callable[[Scope, bytes, Runtime], Awaitable[Answer]]


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


class GraderFastPath:
    """Innermost layer: `POST` to a grader endpoint goes to its handler directly.

    FastAPI's per-request routing, dependency solving, Request/Response objects and exception
    middleware cost more than grading a string_check (measured by bench/bench_http.py). The routes stay
    registered with FastAPI for the OpenAPI document and for every other method (405 with `Allow`);
    errors are answered in the same envelope as the exception handlers would.
    """

    def __init__(self, app: ASGIApp, *, handlers: Mapping[str, Handler], runtime: Runtime) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            self.handlers.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            answer = await handler(scope, await read_body(receive), self.runtime)
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.raw_headers()})
        await send({"type": "http.response.body", "body": answer.body})
