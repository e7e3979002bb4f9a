"""uvicorn's httptools protocol with bounded request heads, a head deadline and a connection cap.

uvicorn's httptools protocol (the one `uvicorn[standard]` picks) has no limit on the size or count of
request headers (a 300 MB header streams into memory), no deadline for a request head (a connection
that never finishes its head is kept forever), and `limit_concurrency` still accepts and holds every
connection. This subclass adds the three bounds at the protocol level, before any ASGI work starts:

- a head (request line + headers) over `max_header_bytes`, or with more than `max_header_count`
  headers: `431` in OpenAI's envelope, then the connection is closed;
- a head not complete `head_timeout_s` after the connection opened (or after its first byte on a
  keep-alive connection): the connection is closed (idle keep-alive connections are closed by
  uvicorn's own `timeout_keep_alive`);
- a connection beyond `max_connections`: `503` in the envelope, then closed at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


@dataclass(frozen=True)
class HeadLimits:
    """The bounds one server applies to every connection."""

    max_header_bytes: int
    max_header_count: int
    head_timeout_s: float
    max_connections: int


class _HeadRejected(Exception):
    """Raised inside a parser callback: the head is over a limit (the parser stops there)."""


def envelope_response(status: int, message: str, code: str) -> bytes:
    """A complete HTTP/1.1 answer with OpenAI's error envelope that closes the connection."""
    body = orjson.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    )
    head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    return STATUS_LINE[status] + head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus HeadLimits (set by `with_limits`, one subclass per server)."""

    limits: ClassVar[HeadLimits]

    @classmethod
    def with_limits(cls, limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
        return type("BoundedHttpToolsProtocol", (cls,), {"limits": limits})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_done = False
        self._in_head = False  # the parser has begun a head that is not complete yet
        self._heads = 0  # heads completed on this connection
        self._head_bytes = 0  # raw bytes received since the current head began
        self._header_count = 0
        self._header_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._rejection: bytes | None = None

    # --- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._reject(
                envelope_response(
                    503,
                    f"Too many open connections: the limit is {self.limits.max_connections}. "
                    "Retry shortly, or reuse connections.",
                    "too_many_connections",
                )
            )
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._head_done and not self.transport.is_closing():
            self.logger.info(
                "Closed a connection whose request head took over %s s.", self.limits.head_timeout_s
            )
            self.transport.close()

    def _reject(self, response: bytes) -> None:
        self._cancel_head_timer()
        self._rejection = response
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    # --- parsing

    def data_received(self, data: bytes) -> None:
        if self._rejection is not None:
            return
        waiting = not self._head_done  # for a head: these bytes begin or continue one
        if waiting:
            self._head_bytes += len(data)
        heads = self._heads
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._rejection is None:  # not one of ours: uvicorn's answer to a malformed request
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():  # as uvicorn does
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head or (waiting and heads == self._heads):
            # Armed once the data is parsed, and only when it left a head incomplete (or sent
            # bytes before one): a whole request in one read, the common case, costs no timer.
            self._arm_head_timer()
        if (
            not self._head_done
            and self._head_bytes > self.limits.max_header_bytes
            and self._rejection is None
        ):
            self._reject(self._too_large(f"the request head is over {self.limits.max_header_bytes} bytes"))

    def _too_large(self, why: str) -> bytes:
        return envelope_response(
            431,
            f"Request header fields too large: {why}. The limits are {self.limits.max_header_bytes} bytes "
            f"and {self.limits.max_header_count} headers.",
            "request_header_fields_too_large",
        )

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        if self._header_bytes > self.limits.max_header_bytes:
            self._reject(self._too_large(f"the request line is over {self.limits.max_header_bytes} bytes"))
            raise _HeadRejected
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_header_count:
            self._reject(self._too_large(f"more than {self.limits.max_header_count} headers"))
            raise _HeadRejected
        if self._header_bytes > self.limits.max_header_bytes:
            self._reject(self._too_large(f"the headers are over {self.limits.max_header_bytes} bytes"))
            raise _HeadRejected
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._in_head = False
        self._heads += 1
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_done = False  # what follows on this connection is the next request's head
        self._header_count = 0
        self._header_bytes = 0
