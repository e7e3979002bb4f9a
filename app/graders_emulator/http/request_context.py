"""The outermost layer: request ids, `openai-processing-ms`, the 500 envelope and the metrics hook."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from random import getrandbits

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graders_emulator.errors import ServerError, send_error
from graders_emulator.http.context import RECORD_KEY, RequestRecord

log = logging.getLogger("graders_emulator.server")

# (scope, its record, final status or None, seconds): metrics and the request log
Observer = Callable[[Scope, RequestRecord, int | None, float], None]


def new_request_id() -> str:
    """OpenAI's form. Ids need to be unique, not unguessable: uuid4() and os.urandom() cost 3-5x more."""
    return f"req_{getrandbits(128):032x}"


def server_error(request_id: str) -> ServerError:
    return ServerError(
        "The server had an error while processing your request. Sorry about that! "
        f"You can retry your request, or contact us if the error persists. (request id {request_id})"
    )


class RequestContextMiddleware:
    """Outermost: gives every answer `x-request-id` and `openai-processing-ms`, turns an unexpected
    exception into a logged 500 envelope (the server stays up, no traceback is sent), and reports each
    finished request to `observe` (metrics and the request log) with its final status."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(new_request_id())
        scope[RECORD_KEY] = record
        started = time.perf_counter()
        status: int | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed_ms = str(int((time.perf_counter() - started) * 1000)).encode()
                ours = ((b"x-request-id", record.request_id.encode()), (b"openai-processing-ms", elapsed_ms))
                headers = message.get("headers")
                if isinstance(headers, list):  # the sender's own list: extend it, as Starlette does
                    headers.extend(ours)
                else:
                    message = {**message, "headers": [*(headers or ()), *ours]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            return  # the client left before sending its whole body: there is no one to answer
        except Exception:
            if status is not None:
                raise  # nothing sane can be sent any more: let the server close the connection
            log.exception(
                "unhandled error in %s %s (request %s)", scope["method"], scope["path"], record.request_id
            )
            await send_error(send_with_headers, server_error(record.request_id))
        finally:
            if self.observe is not None:
                self.observe(scope, record, status, time.perf_counter() - started)
