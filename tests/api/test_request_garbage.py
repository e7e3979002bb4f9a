"""A request leaves no reference cycle behind: what it allocated is freed by reference counting alone.

A cycle per request (the scope kept the server's receive, whose request object holds the scope) made
every request garbage that only the collector frees; its collections, scanning a heap that holds
WordNet, cost a third of a string_check's server time (bench/bench_http.py: 0.6x the bare endpoint).
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from example_graders import EXACT, FUZZY

from graders_emulator.main import create_app
from graders_emulator.settings import Settings

RUN = "/v1/fine_tuning/alpha/graders/run"
GRADED = json.dumps({"grader": EXACT, "model_sample": "a", "item": {"answer": "a"}}).encode()
REQUESTS = {
    "graded": (GRADED, [], 200),
    "fuzzy_match": (
        json.dumps({"grader": FUZZY, "model_sample": "a", "item": {"answer": "ab"}}).encode(),
        [],
        200,
    ),
    "not JSON": (b"{", [], 400),
    "invalid grader": (json.dumps({"grader": {"type": "string_check"}}).encode(), [], 400),
    "forced error flag": (
        GRADED,
        [(b"x-emulator-error", b"python_grader_runtime_error")],
        200,
    ),
}


class Connection:
    """What uvicorn keeps per request: an object that holds the scope and serves receive and send."""

    def __init__(self, body: bytes, extra_headers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.body_sent = False
        self.status: int | None = None
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": RUN,
            "raw_path": RUN.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"authorization", b"Bearer sk-test"),
                *extra_headers,
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }

    async def receive(self) -> dict[str, Any]:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("otel", [False, True], ids=["fast path", "FastAPI routes"])
@pytest.mark.parametrize("name", list(REQUESTS))
def test_a_request_is_freed_without_the_garbage_collector(name: str, otel: bool, collector_off: None) -> None:
    app = create_app(Settings(otel=otel))
    body, headers, status = REQUESTS[name]

    async def serve() -> weakref.ref[Connection]:
        connection = Connection(body, headers)
        await app(connection.scope, connection.receive, connection.send)  # type: ignore[arg-type]
        assert connection.status == status
        return weakref.ref(connection)

    asyncio.run(serve())  # warm: first-use imports and caches
    freed = asyncio.run(serve())
    assert freed() is None, [type(r).__name__ for r in gc.get_referrers(freed())]
