"""Transport-level faults under a real server: hang, drop, truncated body, malformed body.

A dropped connection must carry no response at all: an ASGI app that raises before
`http.response.start` gets a 500 from uvicorn, so the connection is closed through the server's
transport, found on uvicorn's request cycle: the owner of the server's receive method, or of the task
running the request (other middleware may wrap receive).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _transport(raw_receive: Any) -> Any:
    for cycle in (getattr(raw_receive, "__self__", None), _task_owner()):
        transport = getattr(cycle, "transport", None)
        # Duck-typed: uvloop's transports are not asyncio.BaseTransport subclasses.
        if callable(getattr(transport, "close", None)) and callable(getattr(transport, "is_closing", None)):
            return transport
    return None


def _task_owner() -> Any:
    # uvicorn runs each request as a task of `cycle.run_asgi(app)`: the coroutine's `self` is the cycle.
    task = asyncio.current_task()
    frame = getattr(task.get_coro() if task else None, "cr_frame", None)
    return frame.f_locals.get("self") if frame is not None else None


async def until_disconnect(receive: Receive) -> None:
    """Read (and discard) the request until the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def drop(receive: Receive, send: Send, raw_receive: Any, *, started: bool = False) -> None:
    """Close the connection without sending a(nother) byte."""
    transport = _transport(raw_receive)
    if transport is None:
        # Without the transport, an unfinished response makes the server close the connection.
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        return
    transport.close()
    # Wait until the server has seen the close, so it does not answer a 500 for the unanswered request.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until_disconnect(receive), 5)


async def hang(receive: Receive, send: Send, raw_receive: Any, max_s: float) -> None:
    """Answer nothing until the client gives up; drop the connection after `max_s`."""
    try:
        await asyncio.wait_for(until_disconnect(receive), max_s)
    except TimeoutError:
        await drop(receive, send, raw_receive)


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    start: Message = {}
    body = bytearray()

    async def capture_send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, capture_send)
    return start, bytes(body)


async def truncate(app: ASGIApp, scope: Scope, receive: Receive, send: Send, raw_receive: Any) -> None:
    """Send the real response's headers (full Content-Length) and half its body, then close."""
    start, body = await _capture(app, scope, receive)
    await send(start)
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await drop(receive, send, raw_receive, started=True)


async def malformed(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Send the real response's status with a JSON body cut in half (well-formed HTTP, invalid JSON)."""
    start, body = await _capture(app, scope, receive)
    broken = body[: len(body) // 2] or b"{"
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(broken)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": broken})
