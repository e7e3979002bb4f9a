"""Stop the work done for a request whose client went away (`http.disconnect` while grading).

Without this a client that gives up (a timeout, Ctrl-C) leaves its grading running: a 2 MB
fuzzy_match abandoned after 2 s still burned a core 30 s later (issue 10, finding 12). Cancelling the
grading task reaches whatever it awaits: the metric pool kills its worker, a model call's HTTP
request is closed, an injected delay ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect
from starlette.types import Receive

T = TypeVar("T")
RECEIVE_KEY = "receive"  # scope state: the request's ASGI receive, left there by the fast path


async def _disconnected(receive: Receive) -> None:
    # After the whole body was read, the server's receive blocks until the client disconnects.
    while (await receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(work: Coroutine[Any, Any, T], receive: Receive) -> T:
    """`await work`, cancelled (and ClientDisconnect raised) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request was cancelled itself (server shutdown): take the work along
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientDisconnect()
