"""The emulator in-process, over ASGI: what parity asks for the local answer to a recorded request."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import httpx

from graders_emulator.recording.cassette import Cassette
from graders_emulator.settings import Settings

# Parity grades locally whatever the environment says about record/replay, and needs no key.
LOCAL_OVERRIDES: dict[str, Any] = {
    "upstream_url": None,
    "record_dir": None,
    "replay_dir": None,
    "replay_only": False,
    "auth": False,
    "journal_size": 0,
}


class LocalEmulator:
    """`async with LocalEmulator(settings) as local: status, body = await local.answer(cassette)`.

    The whole app (middleware, fast path, error envelopes, the python sandbox) as the server runs it,
    with its lifespan, answered through httpx's ASGI transport: no socket, no port.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or Settings()).model_copy(update=LOCAL_OVERRIDES)
        self._lifespan: AbstractAsyncContextManager[Any] | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> LocalEmulator:
        from graders_emulator.main import create_app

        app = create_app(self.settings)
        self._lifespan = app.router.lifespan_context(app)
        await self._lifespan.__aenter__()
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://emulator.local", timeout=None)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._lifespan is not None:
            await self._lifespan.__aexit__(kind, exc, tb)

    async def answer(self, cassette: Cassette) -> tuple[int, bytes]:
        """The emulator's status and body for the cassette's request."""
        assert self._client is not None, "use LocalEmulator as an async context manager"
        headers = {"content-type": str(cassette.request.get("content_type", "application/json"))}
        response = await self._client.request(
            cassette.method, cassette.path, content=cassette.request_bytes, headers=headers
        )
        return response.status_code, response.content
