"""Serve run and validate straight from ASGI, with the handlers FastAPI documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ApiError, error_response

Handler = Callable[[Request], Awaitable[Response]]


class GraderFastPath:
    """Innermost layer: `POST` to a grader endpoint goes to its handler directly.

    FastAPI's per-request routing, dependency solving and exception middleware cost about as much as
    grading a string_check (measured by bench/bench_http.py). The routes stay registered with FastAPI
    for the OpenAPI document and for every other method (405 with `Allow`); errors are answered in the
    same envelope as the exception handlers would.
    """

    def __init__(self, app: ASGIApp, *, handlers: Mapping[str, Handler]) -> None:
        self.app = app
        self.handlers = dict(handlers)

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
            response = await handler(Request(scope, receive))
        except ApiError as exc:
            response = error_response(exc)
        await response(scope, receive, send)
