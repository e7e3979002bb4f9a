"""Sessions: `x-emulator-session` or the base URL `/_emulator/sessions/{id}/v1` scope a request.

The session base URL is rewritten to `/v1/...` before routing, so a client changes only `base_url`;
the session id is kept in the ASGI scope's state for the faults, the route and the journal.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.emulation.envelopes import invalid_request, send_json
from app.emulation.headers import SESSION

SESSION_KEY = "emulator_session"
ORIGINAL_PATH_KEY = "emulator_original_path"
RAW_RECEIVE_KEY = "emulator_raw_receive"
REQUEST_KEY = "emulation"  # the request's RequestEmulationState (set by the fault middleware)
SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_SESSION_URL = re.compile(r"^/_emulator/sessions/([A-Za-z0-9._-]{1,128})(/v1(?:/.*)?)$")


def scope_state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict that `request.state` also reads and writes."""
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def session_of(scope: Scope) -> str | None:
    session = scope_state(scope).get(SESSION_KEY)
    return session if isinstance(session, str) else None


class SessionMiddleware:
    """Finds the request's session; rewrites session base URLs to `/v1/...`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope_state(scope)
        state[RAW_RECEIVE_KEY] = receive  # the server's own receive, to reach its transport for drops
        state[ORIGINAL_PATH_KEY] = scope["path"]
        session = _from_path(scope) or _header(scope)
        if session is not None and not SESSION_ID.match(session):
            message = (
                f"Invalid value for header '{SESSION}': session ids are 1-128 characters of [A-Za-z0-9._-]."
            )
            await send_json(send, 400, invalid_request(message))
            return
        state[SESSION_KEY] = session
        await self.app(scope, receive, send)


def _from_path(scope: Scope) -> str | None:
    found = _SESSION_URL.match(scope["path"])
    if found is None:
        return None
    session, rest = found.groups()
    scope["path"] = rest
    scope["raw_path"] = rest.encode()
    return session


def _header(scope: Scope) -> str | None:
    wanted = SESSION.encode()
    for name, value in scope["headers"]:
        if name.lower() == wanted:
            return bytes(value).decode("latin-1").strip()
    return None
