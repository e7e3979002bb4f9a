"""What never reaches a cassette: credentials in headers, settings marked secret, and their literal values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic_settings import BaseSettings

REDACTED = "[REDACTED]"
# Request headers that carry credentials or account identity: never stored, and their values are
# scrubbed wherever they appear in a recorded body.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "openai-organization",
        "openai-project",
        "api-key",
        "x-api-key",
        "cookie",
    }
)
MIN_SECRET_LENGTH = 6  # shorter values ("sk", "x") would scrub ordinary text


def settings_secrets(settings: BaseSettings) -> list[str]:
    """The values of every settings field marked `json_schema_extra={"secret": True}`."""
    found: list[str] = []
    for name, info in type(settings).model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, Mapping) and extra.get("secret"):
            found.extend(_strings(getattr(settings, name)))
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [item for item in value if isinstance(item, str)]
    return []


def header_secrets(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Credential values of a request's headers: the whole value and, for `Bearer x`, the token alone."""
    found = []
    for raw_name, raw_value in headers:
        if raw_name.decode("latin-1").lower() in CREDENTIAL_HEADERS:
            value = raw_value.decode("latin-1").strip()
            found.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic", "token"):
                found.append(token.strip())
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by REDACTED, also in its JSON-escaped form (longest first)."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
        text = text.replace(secret, REDACTED)
        if escaped != secret:
            text = text.replace(escaped, REDACTED)
        ascii_escaped = json.dumps(secret)[1:-1]
        if ascii_escaped not in (secret, escaped):
            text = text.replace(ascii_escaped, REDACTED)
    return text
