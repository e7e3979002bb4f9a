"""413 for request bodies over the size limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graders_emulator.errors import PayloadTooLarge, send_error


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
                await send_error(send, self._too_large())
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
                raise self._too_large()  # answered by the ApiError handler (or the fast path) as a 413
            return message

        await self.app(scope, counting_receive, send)
