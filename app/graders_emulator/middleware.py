"""Pure-ASGI middleware of the core: request ids and timing, bearer auth, body size limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from random import getrandbits

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graders_emulator.errors import (
    NO_KEY_MESSAGE,
    ApiError,
    PayloadTooLarge,
    ServerError,
    Unauthorized,
    error_response,
)

log = logging.getLogger("graders_emulator.server")

Observer = Callable[[Scope, int | None, float], None]  # (scope, final status or None, seconds)


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
        # OpenAI's form. Ids need to be unique, not unguessable: uuid4() and os.urandom() cost 3-5x more.
        request_id = f"req_{getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed_ms = str(int((time.perf_counter() - started) * 1000)).encode()
                ours = ((b"x-request-id", request_id.encode()), (b"openai-processing-ms", elapsed_ms))
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
            log.exception("unhandled error in %s %s (request %s)", scope["method"], scope["path"], request_id)
            error = ServerError(
                "The server had an error while processing your request. Sorry about that! "
                f"You can retry your request, or contact us if the error persists. (request id {request_id})"
            )
            await error_response(error)(scope, receive, send_with_headers)
        finally:
            if self.observe is not None:
                self.observe(scope, status, time.perf_counter() - started)


def mask_key(key: str) -> str:
    """`sk-...abcd`, as OpenAI shows a key it refuses."""
    return f"{key[:3]}...{key[-4:]}" if len(key) > 8 else "***"


class BearerAuthMiddleware:
    """On /v1 only: a bearer token is required; when keys are configured, it must be one of them."""

    def __init__(self, app: ASGIApp, *, keys: Collection[str], prefix: str = "/v1/") -> None:
        self.app = app
        self.keys = frozenset(keys)
        self.prefix = prefix

    def _refusal(self, scope: Scope) -> ApiError | None:
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        scheme, _, raw_token = header.partition(b" ")
        token = raw_token.strip().decode("latin-1")
        if scheme.lower() != b"bearer" or not token:
            return Unauthorized(NO_KEY_MESSAGE)
        if self.keys and token not in self.keys:
            return Unauthorized(
                f"Incorrect API key provided: {mask_key(token)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            refusal = self._refusal(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over the limit: by Content-Length up front, else (chunked) while the body streams in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body too large: the limit is {self.max_bytes} bytes.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit():
            if int(length) > self.max_bytes:
                await error_response(self._too_large())(scope, receive, send)
            else:
                # The server's HTTP framing delivers exactly Content-Length bytes: nothing to count.
                await self.app(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()  # answered by the ApiError handler as a 413
            return message

        await self.app(scope, counting_receive, send)
