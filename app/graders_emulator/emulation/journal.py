"""The journal: a bounded, queryable record of every /v1 request and what the emulator answered.

Entries keep references to what the request already produced (raw body bytes, scope headers, the
GradeResult); decoding and masking happen only when the journal is read, so recording is cheap.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from graders_emulator.emulation.journal_caps import ENTRY_OVERHEAD, capped_and_sized, capped_headers
from graders_emulator.grading.result import GradeResult

BODY_CAP = 1024 * 1024  # bytes of a request or response body kept per entry
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "openai-organization",
    }
)


def mask_secret(value: str) -> str:
    """`Bearer sk-test1234` -> `Bearer sk-...1234`; short secrets become `***`."""
    scheme, _, token = value.rpartition(" ")
    masked = f"{token[:3]}...{token[-4:]}" if len(token) >= 12 else "***"
    return f"{scheme} {masked}" if scheme else masked


def masked_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as a dict, secrets masked (a repeated header keeps its last value)."""
    headers = {}
    for name_b, value_b in raw:
        name, value = name_b.decode("latin-1").lower(), value_b.decode("latin-1")
        headers[name] = mask_secret(value) if name in SECRET_HEADERS else value
    return headers


def decode_body(body: bytes | None, truncated: bool = False) -> Any:
    """JSON when the body parses, else text; None when empty."""
    if not body:
        return None
    if not truncated:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", "replace") + (" ...[truncated]" if truncated else "")


def jsonable(value: Any) -> Any:
    """Anything (dataclasses, pydantic models, tuples) as plain JSON values."""
    return orjson.loads(orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS))


def _fallback(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


@dataclass(slots=True)
class JournalEntry:
    """One request as it was received and answered."""

    seq: int
    time: float
    session: str | None
    method: str
    path: str
    original_path: str
    query: str
    raw_headers: Sequence[tuple[bytes, bytes]]
    body: bytes = b""
    body_truncated: bool = False
    status: int | None = None
    response_body: bytes = b""
    response_truncated: bool = False
    duration_ms: float = 0.0
    fault: dict[str, Any] | None = None
    # Immutable defaults, no per-entry containers: an entry is recorded for every request.
    forced_errors: Sequence[dict[str, Any]] = ()
    model_calls: Sequence[dict[str, Any]] = ()
    result: GradeResult | None = None
    size: int = 0  # bytes counted against the journal's total, set by commit
    source: str | None = None  # recorded | upstream | missing when record/replay answered; None: emulated
    _decoded: dict[str, Any] | None = field(default=None, repr=False)  # bodies, decoded when read

    @property
    def request_json(self) -> Any:
        return self._decode("request", self.body, self.body_truncated)

    @property
    def response_json(self) -> Any:
        return self._decode("response", self.response_body, self.response_truncated)

    def _decode(self, key: str, body: bytes, truncated: bool) -> Any:
        if self._decoded is None:
            self._decoded = {}
        if key not in self._decoded:
            self._decoded[key] = decode_body(body, truncated)
        return self._decoded[key]

    @property
    def grader_name(self) -> str | None:
        """The name the response reported (generated names included), else the one sent."""
        return self._grader_field("name")

    @property
    def grader_type(self) -> str | None:
        return self._grader_field("type")

    def _grader_field(self, key: str) -> str | None:
        for source in (self.response_json, self.request_json):
            value = _grader_field(source, key)
            if value is not None:
                return value
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": f"req_{self.seq}",
            "seq": self.seq,
            "time": self.time,
            "session": self.session,
            "method": self.method,
            "path": self.path,
            "original_path": self.original_path,
            "query": self.query,
            "grader_name": self.grader_name,
            "grader_type": self.grader_type,
            "headers": masked_headers(self.raw_headers),
            "body": self.request_json,
            "status": self.status,
            "response": self.response_json,
            "duration_ms": round(self.duration_ms, 3),
            "fault": self.fault,
            "forced_errors": list(self.forced_errors),
            "model_calls": jsonable(self.model_calls),
            "grading": _grading(self.result),
            "source": self.source or "emulated",
        }


def _grader_field(body: Any, key: str) -> str | None:
    if not isinstance(body, Mapping):
        return None
    holder = body.get("metadata") if "metadata" in body else body.get("grader")
    value = holder.get(key) if isinstance(holder, Mapping) else None
    return value if isinstance(value, str) else None


def _grading(result: GradeResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "reward": result.reward,
        "sub_rewards": dict(result.sub_rewards),
        "failures": [{"flag": f.flag, "details": f.details} for f in result.failures],
        "token_usage": result.token_usage.as_wire() if result.token_usage else None,
        "sampled_model_name": result.sampled_model_name,
        "trace": jsonable(result.trace),
    }


@dataclass(frozen=True)
class JournalQuery:
    """Filters of a journal read; unset ones do not filter."""

    path: str | None = None
    grader_name: str | None = None
    session: str | None = None
    status: int | None = None
    limit: int | None = None
    scoped: bool = False  # True: `session` None means "requests without a session"

    def accepts(self, entry: JournalEntry) -> bool:
        if (self.scoped or self.session is not None) and entry.session != self.session:
            return False
        if self.path is not None and self.path not in (entry.path, entry.original_path):
            return False
        if self.status is not None and entry.status != self.status:
            return False
        return self.grader_name is None or entry.grader_name == self.grader_name


class Journal:
    """The last `size` entries (0 keeps nothing), at most `max_bytes` of them in total."""

    def __init__(self, size: int, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._entries: deque[JournalEntry] = deque()
        self._seq = itertools.count(1)
        self.enabled = size > 0
        self.size = max(size, 0)
        self.max_bytes = max_bytes
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, session: str | None, original_path: str, scope: Mapping[str, Any]) -> JournalEntry:
        """A new entry for the request of an ASGI scope, appended by `commit` once it is answered."""
        return JournalEntry(
            next(self._seq),
            time.time(),
            session,
            scope["method"],
            scope["path"],
            original_path,
            bytes(scope.get("query_string", b"")).decode("latin-1"),
            scope["headers"],
        )

    def commit(self, entry: JournalEntry) -> None:
        """Keep an answered entry, its texts and headers capped; drop the oldest past either bound."""
        if not self.enabled:
            return
        entry.raw_headers, header_bytes = capped_headers(entry.raw_headers)
        texts = 0
        if entry.result is not None and entry.result.trace:
            trace, size = capped_and_sized(entry.result.trace)
            if trace is not entry.result.trace:
                entry.result = replace(entry.result, trace=trace)
            texts += size
        if entry.model_calls:
            entry.model_calls, size = capped_and_sized(entry.model_calls)
            texts += size
        entry.size = ENTRY_OVERHEAD + len(entry.body) + len(entry.response_body) + header_bytes + texts
        self._entries.append(entry)
        self.bytes += entry.size
        while self._entries and (len(self._entries) > self.size or self.bytes > self.max_bytes):
            self.bytes -= self._entries.popleft().size

    def query(self, query: JournalQuery) -> list[JournalEntry]:
        found = [entry for entry in self._entries if query.accepts(entry)]
        return found[-query.limit :] if query.limit else found

    def clear(self, session: str | None = None, *, everything: bool = True) -> int:
        """Drop all entries, or only those of one session."""
        before = len(self._entries)
        if everything:
            self._entries.clear()
        else:
            self._entries = deque(entry for entry in self._entries if entry.session != session)
        self.bytes = sum(entry.size for entry in self._entries)
        return before - len(self._entries)
