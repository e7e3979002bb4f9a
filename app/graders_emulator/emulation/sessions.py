"""Sessions: `x-emulator-session` or the base URL `/_emulator/sessions/{id}/v1` scope a request.

The session base URL is rewritten to `/v1/...` before routing, so a client changes only `base_url`;
the session id is kept in the ASGI scope's state for the faults, the route and the journal.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.types import Scope

from graders_emulator.emulation.headers import SESSION

SESSION_KEY = "emulator_session"
ORIGINAL_PATH_KEY = "emulator_original_path"
REQUEST_KEY = "emulation"  # the request's RequestEmulationState (set by the emulation middleware)
SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SESSION_PREFIX = "/_emulator/sessions/"
_SESSION_URL = re.compile(r"^/_emulator/sessions/([A-Za-z0-9._-]{1,128})(/v1(?:/.*)?)$")
INVALID_SESSION = f"Invalid value for header '{SESSION}': session ids are 1-128 characters of [A-Za-z0-9._-]."


def scope_state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict that `request.state` also reads and writes."""
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def session_of(scope: Scope) -> str | None:
    session = scope_state(scope).get(SESSION_KEY)
    return session if isinstance(session, str) else None


def session_from_path(scope: Scope) -> str | None:
    """The session of a session base URL, rewriting the scope's path to the `/v1/...` it stands for."""
    if not scope["path"].startswith(SESSION_PREFIX):
        return None
    found = _SESSION_URL.match(scope["path"])
    if found is None:
        return None
    session, rest = found.groups()
    scope["path"] = rest
    scope["raw_path"] = rest.encode()
    return session
