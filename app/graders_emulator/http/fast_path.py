"""Serve run and validate straight from ASGI, with the handlers FastAPI documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from graders_emulator.errors import ApiError, send_error
from graders_emulator.http.answer import Handler
from graders_emulator.http.body import read_body
from graders_emulator.http.disconnect import RECEIVE_KEY

if TYPE_CHECKING:
    from graders_emulator.service import Runtime


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
            body = await read_body(receive)
            scope[RECEIVE_KEY] = receive  # a slow grading stops if its client leaves (disconnect.py)
            answer = await handler(scope, body, self.runtime)
        except ApiError as exc:
            await send_error(send, exc)
            return
        finally:
            # receive -> the server's request cycle -> scope: kept, the key makes every request a
            # reference cycle that only the garbage collector frees, and its collections scanning the
            # whole heap (WordNet included) cost a third of a string_check's server time.
            scope.pop(RECEIVE_KEY, None)
        await answer.send(send)
