"""Sessions: `x-emulator-session` or the base URL `/_emulator/sessions/{id}/v1` scope a request.

The session base URL is rewritten to `/v1/...` before routing, so a client changes only `base_url`;
the session id is kept in the request's record for the faults, the route and the journal.
"""

from __future__ import annotations

import re

from starlette.types import Scope

from graders_emulator.emulation.headers import SESSION

SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SESSION_PREFIX = "/_emulator/sessions/"
_SESSION_URL = re.compile(r"^/_emulator/sessions/([A-Za-z0-9._-]{1,128})(/v1(?:/.*)?)$")
INVALID_SESSION = f"Invalid value for header '{SESSION}': session ids are 1-128 characters of [A-Za-z0-9._-]."


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


def session_of(headers: dict[str, str], scope: Scope) -> str | None:
    """The request's session: its session base URL (path rewritten), else the session header."""
    session = session_from_path(scope)
    if session is None and SESSION in headers:
        session = headers[SESSION].strip()
    return session
