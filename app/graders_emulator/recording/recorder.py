"""Writing cassettes: one file per request, credentials redacted, re-recording replaces the file."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from graders_emulator import __version__
from graders_emulator.recording.cassette import (
    Cassette,
    encode_body,
    file_name,
    kept_headers,
    render,
    write_text,
)
from graders_emulator.recording.redaction import scrub

log = logging.getLogger("graders_emulator.recording")


@dataclass(frozen=True)
class Exchange:
    """One request and the upstream's answer, as the proxy saw them."""

    method: str
    path: str
    key: str  # the hash of the request as sent (before any redaction)
    request_body: bytes
    content_type: str | None
    status: int
    headers: Mapping[str, str]
    body: bytes
    failure: dict[str, str] | None = None
    request_secrets: tuple[str, ...] = ()


class Recorder:
    """Writes the cassettes of one directory; `secrets` are scrubbed from every file it writes."""

    def __init__(self, directory: Path, upstream: str, secrets: Iterable[str] = ()) -> None:
        self.directory = Path(directory)
        self.upstream = upstream
        self.secrets = tuple(secrets)

    def record(self, exchange: Exchange) -> Path:
        """Store one exchange under the name its request key gives."""
        request = encode_body(exchange.request_body)
        content_type = exchange.content_type
        if content_type is not None and content_type.split(";")[0].strip().lower() != "application/json":
            request["content_type"] = content_type
        cassette = Cassette(
            method=exchange.method,
            path=exchange.path,
            request=request,
            status=exchange.status,
            response={"headers": kept_headers(exchange.headers), **encode_body(exchange.body)},
            recorded_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            upstream=self.upstream,
            emulator_version=__version__,
            upstream_failure=exchange.failure,
            key=exchange.key,
        )
        text = scrub(render(cassette), (*self.secrets, *exchange.request_secrets))
        json.loads(text)  # scrubbing replaces whole JSON-escaped values: the file stays valid JSON
        target = write_text(self.directory, file_name(exchange.path, exchange.key), text)
        log.info("recorded %s %s -> %s (%s)", exchange.method, exchange.path, exchange.status, target.name)
        return target
