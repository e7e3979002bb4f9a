"""Fault injection: reading the grader for rule matching, and applying a fault decision (latency,
HTTP statuses in OpenAI's envelope, transport faults). Forced error flags reach the route through
the request's record (`http/context.py`)."""

from __future__ import annotations

import asyncio
import math

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graders_emulator.emulation.state import FaultDecision
from graders_emulator.errors import InjectedError, is_retryable, send_error
from graders_emulator.http import transport


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


def status_headers(decision: FaultDecision, status: int) -> dict[str, str]:
    """retry-after(-ms) on retryable statuses; x-should-retry when asked, else true when retryable."""
    headers: dict[str, str] = {}
    if is_retryable(status):
        ms = decision.retry_after_ms
        headers |= {"retry-after-ms": str(ms), "retry-after": str(math.ceil(ms / 1000))}
    should = (
        decision.should_retry
        if decision.should_retry is not None
        else (True if is_retryable(status) else None)
    )
    if should is not None:
        headers["x-should-retry"] = "true" if should else "false"
    return headers


async def apply(
    app: ASGIApp, decision: FaultDecision, scope: Scope, receive: Receive, send: Send, *, raw_receive: Receive
) -> None:
    """Answer the request as `decision` says: delayed, failed, cut, or passed on to `app`.

    `raw_receive` is the server's own receive: transport faults reach the connection through it.
    """
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if decision.fault == "hang":
        await transport.hang(receive, send, raw_receive, decision.hang_ms / 1000)
    elif decision.fault == "drop":
        await transport.drop(receive, send, raw_receive)
    elif decision.status:
        headers = status_headers(decision, decision.status)
        error = InjectedError(
            decision.status, retry_after_ms=decision.retry_after_ms, message=decision.message, headers=headers
        )
        await send_error(send, error)
    elif decision.fault == "truncate":
        await transport.truncate(app, scope, receive, send, raw_receive)
    elif decision.fault == "malformed":
        await transport.malformed(app, scope, receive, send)
    else:
        await app(scope, receive, send)
