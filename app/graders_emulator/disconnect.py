"""Stop the work done for a request whose client went away (`http.disconnect` while grading).

Without this a client that gives up (a timeout, Ctrl-C) leaves its grading running: a 2 MB
fuzzy_match abandoned after 2 s still burned a core 30 s later (issue 10, finding 12). Cancelling the
grading task reaches whatever it awaits: the metric pool kills its worker, a model call's HTTP
request is closed, an injected delay ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect
from starlette.types import Receive

T = TypeVar("T")
RECEIVE_KEY = "graders_emulator.receive"  # scope key: the request's ASGI receive (the fast path's)


async def _disconnected(receive: Receive) -> None:
    # After the whole body was read, the server's receive blocks until the client disconnects.
    while (await receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(work: Coroutine[Any, Any, T], receive: Receive) -> T:
    """`await work`, cancelled (and ClientDisconnect raised) if the client disconnects first.

    The work runs in the calling task itself (wrapping it in a task of its own would cost every
    request extra event-loop turns under load); a watcher task cancels the caller on disconnect.
    """
    caller = asyncio.current_task()
    assert caller is not None
    left = False

    async def watch() -> None:
        nonlocal left
        await _disconnected(receive)
        left = True
        caller.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not left:
            raise  # cancelled for another reason (server shutdown): not ours to swallow
        caller.uncancel()
        raise ClientDisconnect() from None
    finally:
        watcher.cancel()
