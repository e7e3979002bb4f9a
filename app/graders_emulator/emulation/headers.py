"""Per-request emulation headers: their names, and parsing them into one validated value.

Headers (all optional; a bad value is a 400 in OpenAI's envelope):

- `x-emulator-session: <id>` scopes rules, faults, seed and journal to a session.
- `x-emulator-score: <float>` answers every score_model call of the request with this score.
- `x-emulator-label: <label>` answers every label_model call of the request with this label.
- `x-emulator-errors: <flag>[,<flag>...]` forces grading error flags (reward 0.0, flag true).
- `x-emulator-error-details: <text>` the details text of the forced flags.
- `x-emulator-status: <400..599>` answers that HTTP status in OpenAI's error envelope.
- `x-emulator-retry-after-ms: <0..60000>` the `retry-after-ms` / `retry-after` sent with the status.
- `x-emulator-should-retry: true|false` sends `x-should-retry` with the status.
- `x-emulator-fail-attempts: <N>` injects status/fault/errors only while the SDK's
  `x-stainless-retry-count` is below N ("fail twice, then succeed": N = 2).
- `x-emulator-latency-ms: <ms>` delays the response.
- `x-emulator-fault: hang|drop|truncate|malformed` a transport fault.
- `x-emulator-hang-ms: <ms>` how long a hang lasts at most before the connection is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from graders_emulator.grading.result import FLAGS, ErrorFlag, is_flag

PREFIX = "x-emulator-"
SESSION = "x-emulator-session"
SCORE = "x-emulator-score"
LABEL = "x-emulator-label"
ERRORS = "x-emulator-errors"
ERROR_DETAILS = "x-emulator-error-details"
STATUS = "x-emulator-status"
RETRY_AFTER_MS = "x-emulator-retry-after-ms"
SHOULD_RETRY = "x-emulator-should-retry"
FAIL_ATTEMPTS = "x-emulator-fail-attempts"
LATENCY_MS = "x-emulator-latency-ms"
FAULT = "x-emulator-fault"
HANG_MS = "x-emulator-hang-ms"
RETRY_COUNT = "x-stainless-retry-count"

KNOWN = frozenset(
    {SESSION, SCORE, LABEL, ERRORS, ERROR_DETAILS, STATUS, RETRY_AFTER_MS, SHOULD_RETRY}
    | {FAIL_ATTEMPTS, LATENCY_MS, FAULT, HANG_MS}
)

Fault = Literal["hang", "drop", "truncate", "malformed"]
FAULTS: tuple[Fault, ...] = ("hang", "drop", "truncate", "malformed")
MAX_RETRY_AFTER_MS = 60_000  # Node SDK 6.x obeys any value literally; keep retries fast and bounded
MAX_LATENCY_MS = 600_000


class HeaderError(ValueError):
    """A header the emulator reads has a value it cannot use."""

    def __init__(self, header: str, message: str) -> None:
        super().__init__(f"Invalid value for header '{header}': {message}")
        self.header = header


@dataclass(frozen=True)
class EmulationHeaders:
    """What the emulation headers of one request ask for."""

    score: float | None = None
    label: str | None = None
    errors: tuple[ErrorFlag, ...] = ()
    error_details: str | None = None
    status: int | None = None
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    fail_attempts: int | None = None
    latency_ms: float = 0.0
    fault: Fault | None = None
    hang_ms: float | None = None
    retry_count: int = 0

    @property
    def asks_for_fault(self) -> bool:
        """Whether these headers inject anything into the request (its answer or its grading)."""
        return bool(self.status or self.fault or self.latency_ms or self.errors)

    @property
    def faults_active(self) -> bool:
        """False once the SDK's retry count reached `x-emulator-fail-attempts`."""
        return self.fail_attempts is None or self.retry_count < self.fail_attempts


NO_HEADERS = EmulationHeaders()  # what most requests ask for: nothing


def collect(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers this module reads, by lower-case name, from an ASGI scope's raw headers."""
    found = {}
    for raw_name, value in raw:
        name = raw_name.lower()
        if name.startswith(b"x-emulator-") or name == b"x-stainless-retry-count":
            found[name.decode("latin-1")] = bytes(value).decode("latin-1")
    return found


def parse(headers: Mapping[str, str]) -> EmulationHeaders:
    """Read and validate every emulation header; raises HeaderError on the first bad one."""
    if not headers.keys() - {SESSION, RETRY_COUNT}:
        # The common case (the SDKs always send their retry count): skip a dozen lookups.
        retry_count = _retry_count(headers.get(RETRY_COUNT))
        return NO_HEADERS if retry_count == 0 else EmulationHeaders(retry_count=retry_count)
    return EmulationHeaders(
        score=_opt(headers, SCORE, _finite_float),
        label=headers.get(LABEL),
        errors=_flags(headers.get(ERRORS)),
        error_details=headers.get(ERROR_DETAILS),
        status=_opt(headers, STATUS, _status),
        retry_after_ms=_opt(headers, RETRY_AFTER_MS, _bounded_int(0, MAX_RETRY_AFTER_MS)),
        should_retry=_opt(headers, SHOULD_RETRY, _bool),
        fail_attempts=_opt(headers, FAIL_ATTEMPTS, _bounded_int(0, 1_000_000)),
        latency_ms=_opt(headers, LATENCY_MS, _bounded_float(0, MAX_LATENCY_MS)) or 0.0,
        fault=_opt(headers, FAULT, _fault),
        hang_ms=_opt(headers, HANG_MS, _bounded_float(0, MAX_LATENCY_MS)),
        retry_count=_retry_count(headers.get(RETRY_COUNT)),
    )


_T = TypeVar("_T")


def _opt(headers: Mapping[str, str], name: str, convert: Callable[[str], _T]) -> _T | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return convert(raw.strip())
    except ValueError as exc:
        raise HeaderError(name, str(exc)) from None


def _finite_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {raw!r}")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is outside [{low}, {high}]")
        return value

    return convert


def _bounded_float(low: float, high: float) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"{raw} is outside [{low:g}, {high:g}]")
        return value

    return convert


def _status(raw: str) -> int:
    return _bounded_int(400, 599)(raw)


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"expected 'true' or 'false', got {raw!r}")
    return lowered == "true"


def _fault(raw: str) -> Fault:
    if raw not in FAULTS:
        raise ValueError(f"unknown fault {raw!r}. Supported values are: {_quoted(FAULTS)}")
    return raw


def _flags(raw: str | None) -> tuple[ErrorFlag, ...]:
    if raw is None:
        return ()
    flags: list[ErrorFlag] = []
    for flag in (part.strip() for part in raw.split(",") if part.strip()):
        if not is_flag(flag):
            raise HeaderError(ERRORS, f"unknown error flag {flag!r}. Supported values are: {_quoted(FLAGS)}")
        flags.append(flag)
    return tuple(flags)


def _retry_count(raw: str | None) -> int:
    # A missing or garbled count is the first attempt: the header is the SDK's, not the user's.
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)
