"""The journal middleware: records every `/v1` request, its answer and what emulation did to it."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.emulation.journal import BODY_CAP, JournalEntry
from app.emulation.sessions import ORIGINAL_PATH_KEY, REQUEST_KEY, scope_state, session_of
from app.emulation.state import EmulationState, RequestEmulationState


class _Body:
    """Up to BODY_CAP bytes of a body, and whether more was cut off."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = BODY_CAP - self.size
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[:room]
        if chunk:
            self.parts.append(chunk)
            self.size += len(chunk)

    def value(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


class JournalMiddleware:
    """Wraps receive/send to keep the request and response bodies; commits the entry at the end."""

    def __init__(self, app: ASGIApp, state: EmulationState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        journal = self.state.journal
        if scope["type"] != "http" or not journal.enabled or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        entry = journal.start(
            session=session_of(scope),
            method=scope["method"],
            path=scope["path"],
            original_path=scope_state(scope).get(ORIGINAL_PATH_KEY, scope["path"]),
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            raw_headers=scope["headers"],
        )
        request_body, response_body = _Body(), _Body()

        async def journal_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.add(message.get("body", b""))
            return message

        async def journal_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            elif message["type"] == "http.response.body":
                response_body.add(message.get("body", b""))
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, journal_receive, journal_send)
        finally:
            entry.duration_ms = (time.perf_counter() - started) * 1000
            entry.body, entry.body_truncated = request_body.value(), request_body.truncated
            entry.response_body, entry.response_truncated = response_body.value(), response_body.truncated
            _fill(entry, scope_state(scope))
            journal.commit(entry)


def _fill(entry: JournalEntry, state: dict[str, Any]) -> None:
    """What emulation and grading left in the request state."""
    emulation = state.get(REQUEST_KEY)
    if isinstance(emulation, RequestEmulationState):
        entry.fault = emulation.decision.describe()
        entry.forced_errors = [{"flag": f.flag, "details": f.details} for f in emulation.decision.errors]
        if emulation.client is not None:
            entry.model_calls = emulation.client.calls
    entry.result = state.get("grade_result")
