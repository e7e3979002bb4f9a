"""The fault middleware: validates emulation headers, picks fault rules, injects latency, HTTP and
transport faults on `/v1` requests, and leaves forced error flags for the route (via `for_request`)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.emulation import transport
from app.emulation.envelopes import invalid_request, is_retryable, send_json, status_envelope
from app.emulation.headers import HeaderError, parse
from app.emulation.rules import RequestView
from app.emulation.sessions import RAW_RECEIVE_KEY, REQUEST_KEY, scope_state, session_of
from app.emulation.state import EmulationState, FaultDecision, RequestEmulationState


def request_headers(scope: Scope) -> dict[str, str]:
    return {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the body for matching, and a receive that replays it; None when over `limit`."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more and size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            chunks.append(b"")
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": more}]

    async def replaying() -> Message:
        return replay.pop() if replay else await receive()

    return (None if more else replay[0]["body"]), replaying


def grader_of(body: bytes | None) -> tuple[str | None, str | None]:
    """(name, type) of the request's grader, when the body has one."""
    try:
        grader = orjson.loads(body or b"").get("grader")
    except (orjson.JSONDecodeError, AttributeError):
        return None, None
    if not isinstance(grader, dict):
        return None, None
    name, type_ = grader.get("name"), grader.get("type")
    return (name if isinstance(name, str) else None), (type_ if isinstance(type_, str) else None)


def status_headers(decision: FaultDecision, status: int) -> list[tuple[str, str]]:
    """retry-after(-ms) on retryable statuses; x-should-retry when asked, else true when retryable."""
    headers = []
    if is_retryable(status):
        ms = decision.retry_after_ms
        headers += [("retry-after-ms", str(ms)), ("retry-after", str(math.ceil(ms / 1000)))]
    should = (
        decision.should_retry
        if decision.should_retry is not None
        else (True if is_retryable(status) else None)
    )
    if should is not None:
        headers.append(("x-should-retry", "true" if should else "false"))
    return headers


class FaultMiddleware:
    """Applies what the headers and the fault rules ask for, then lets the request through (or not)."""

    def __init__(self, app: ASGIApp, state: EmulationState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        try:
            headers = parse(request_headers(scope))
        except HeaderError as exc:
            await send_json(send, 400, invalid_request(str(exc)))
            return
        session = session_of(scope)
        grader: tuple[str | None, str | None] = (None, None)
        if self.state.needs_body(session):
            body, receive = await read_body(receive, self.state.settings.max_body_bytes)
            grader = grader_of(body)
        view = RequestView(scope["method"], scope["path"], grader[0], grader[1], headers.retry_count)
        decision = self.state.decide(session, view, headers)
        scope_state(scope)[REQUEST_KEY] = RequestEmulationState(session, headers, decision)
        await self._apply(decision, scope, receive, send)

    async def _apply(self, decision: FaultDecision, scope: Scope, receive: Receive, send: Send) -> None:
        if decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000)
        raw_receive: Any = scope_state(scope).get(RAW_RECEIVE_KEY)
        if decision.fault == "hang":
            await transport.hang(receive, send, raw_receive, decision.hang_ms / 1000)
        elif decision.fault == "drop":
            await transport.drop(receive, send, raw_receive)
        elif decision.status:
            body = status_envelope(decision.status, decision.retry_after_ms, decision.message)
            await send_json(send, decision.status, body, status_headers(decision, decision.status))
        elif decision.fault == "truncate":
            await transport.truncate(self.app, scope, receive, send, raw_receive)
        elif decision.fault == "malformed":
            await transport.malformed(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)
