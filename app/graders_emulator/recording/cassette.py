"""Cassettes: one readable JSON file per recorded request, named by a stable hash of the request."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

FORMAT = "graders-emulator-cassette/1"
MISSING_FILE_SUFFIX = ".json"

# Response headers worth keeping: what a client or a person reading the cassette uses. Anything else
# (cookies, CDN and tracing headers) is dropped, so no credential-bearing header can slip in.
RECORDED_HEADERS = (
    "content-type",
    "x-request-id",
    "openai-processing-ms",
    "openai-version",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
)
RECORDED_HEADER_PREFIXES = ("x-ratelimit-",)

# How a JSON body is re-rendered from its parsed form; the first that gives back the exact bytes is
# noted, so that a readable cassette still replays byte-identically. Otherwise the text is kept as is.
_RENDERINGS: dict[str, Callable[[Any], bytes]] = {
    "compact": orjson.dumps,
    "indent2": lambda value: json.dumps(value, indent=2, ensure_ascii=False).encode(),
    "indent2+newline": lambda value: (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode(),
    "python": lambda value: json.dumps(value, ensure_ascii=False).encode(),
}


def canonical_request(method: str, path: str, body: bytes) -> bytes:
    """What a cassette's name hashes: method, path, and the body as sorted-key compact JSON.

    A body that is not JSON (or not representable: NaN, integers past 64 bits) is hashed as sent.
    """
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        canonical = body
    return method.upper().encode() + b" " + path.encode() + b"\n" + canonical


def request_key(method: str, path: str, body: bytes) -> str:
    """The sha256 (hex) of the canonical request."""
    return hashlib.sha256(canonical_request(method, path, body)).hexdigest()


def file_name(path: str, key: str) -> str:
    """`run-<first 20 hex of the key>.json`: the endpoint for people, the hash for machines."""
    endpoint = path.rstrip("/").rsplit("/", 1)[-1] or "request"
    return f"{endpoint}-{key[:20]}{MISSING_FILE_SUFFIX}"


def encode_body(raw: bytes) -> dict[str, Any]:
    """A body as cassette fields: `body` (parsed JSON, else None) and how to get the exact bytes back."""
    try:
        parsed = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        parsed = None
    else:
        for name, render in _RENDERINGS.items():
            if raw and _renders(render, parsed, raw):
                return {"body": parsed, "body_encoding": name}
    try:
        return {"body": parsed, "body_encoding": "text", "body_text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body": None, "body_encoding": "latin-1", "body_text": raw.decode("latin-1")}


def _renders(render: Callable[[Any], bytes], parsed: Any, raw: bytes) -> bool:
    try:
        return render(parsed) == raw
    except (TypeError, ValueError):
        return False


def decode_body(fields: Mapping[str, Any]) -> bytes:
    """The exact bytes of a body stored by `encode_body`."""
    encoding = fields.get("body_encoding", "compact")
    if encoding == "text":
        return str(fields["body_text"]).encode("utf-8")
    if encoding == "latin-1":
        return str(fields["body_text"]).encode("latin-1")
    return _RENDERINGS[encoding](fields.get("body"))


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The response headers a cassette keeps (lower-case names)."""
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in RECORDED_HEADERS or lower.startswith(RECORDED_HEADER_PREFIXES):
            kept[lower] = value
    return kept


@dataclass
class Cassette:
    """One recorded exchange, as stored on disk (see `to_json` for the file's layout)."""

    method: str
    path: str
    request: dict[str, Any]  # body fields (encode_body) plus an optional content-type
    status: int
    response: dict[str, Any]  # body fields plus `headers`
    recorded_at: str
    upstream: str
    emulator_version: str
    upstream_failure: dict[str, str] | None = None
    provenance: dict[str, Any] = field(default_factory=lambda: {"kind": "recorded"})
    key: str = ""
    file: Path | None = None

    def __post_init__(self) -> None:
        if not self.key:
            self.key = request_key(self.method, self.path, self.request_bytes)

    @property
    def name(self) -> str:
        return self.file.name if self.file is not None else file_name(self.path, self.key)

    @property
    def request_bytes(self) -> bytes:
        return decode_body(self.request)

    @property
    def request_json(self) -> Any:
        return self.request.get("body")

    @property
    def response_bytes(self) -> bytes:
        return decode_body(self.response)

    @property
    def response_json(self) -> Any:
        return self.response.get("body")

    @property
    def response_headers(self) -> dict[str, str]:
        headers: dict[str, str] = self.response.get("headers") or {}
        return headers

    @property
    def endpoint(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "key": self.key,
            "request": {"method": self.method, "path": self.path, **self.request},
            "response": {"status": self.status, **self.response},
            "upstream_failure": self.upstream_failure,
            "recorded_at": self.recorded_at,
            "upstream": self.upstream,
            "emulator_version": self.emulator_version,
            "provenance": self.provenance,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], file: Path | None = None) -> Cassette:
        if data.get("format") != FORMAT:
            raise ValueError(f"{file or 'cassette'}: not a {FORMAT} file (format {data.get('format')!r})")
        request = dict(data["request"])
        response = dict(data["response"])
        method, path, status = request.pop("method"), request.pop("path"), response.pop("status")
        return cls(
            method=method,
            path=path,
            request=request,
            status=int(status),
            response=response,
            recorded_at=str(data.get("recorded_at", "")),
            upstream=str(data.get("upstream", "")),
            emulator_version=str(data.get("emulator_version", "")),
            upstream_failure=data.get("upstream_failure"),
            provenance=dict(data.get("provenance") or {"kind": "recorded"}),
            key=str(data.get("key") or ""),
            file=file,
        )


def render(cassette: Cassette) -> str:
    """The file's text: indented JSON, keys in a fixed order, so that two recordings diff line by line."""
    return json.dumps(cassette.to_json(), indent=2, ensure_ascii=False) + "\n"


def write_text(directory: Path, name: str, text: str) -> Path:
    """Write atomically (a reader never sees half a cassette); re-recording replaces the file."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".recording-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def load(file: Path) -> Cassette:
    return Cassette.from_json(json.loads(file.read_text(encoding="utf-8")), file)


def load_dir(directory: Path) -> Iterator[Cassette]:
    """Every cassette of a directory (recursively), in file-name order."""
    for file in sorted(directory.rglob(f"*{MISSING_FILE_SUFFIX}")):
        yield load(file)
