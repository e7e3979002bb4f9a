"""Grading one dataset line through `graders_emulator.service` (the server's own path), in any process."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson

from graders_emulator import service
from graders_emulator.batch.input import LineSource, error_kind, run_body
from graders_emulator.emulation.headers import EmulationHeaders
from graders_emulator.emulation.state import EmulationState, RequestEmulationState
from graders_emulator.errors import ApiError, ServerError
from graders_emulator.schemas.requests import RunGraderRequest
from graders_emulator.service import Runtime

log = logging.getLogger("graders_emulator.batch")


@dataclass(frozen=True)
class LineResult:
    """What one line produced: a graded response, or a bad line (`reward` None) with its 400."""

    line: int
    reward: float | None
    flags: tuple[str, ...] = ()
    seconds: float = 0.0
    grader_type: str | None = None
    body: bytes | None = None  # the run response, or the error envelope of a bad line
    error_kind: str | None = None
    message: str | None = None

    @property
    def bad(self) -> bool:
        return self.reward is None


def bad_line(line: int, error: ApiError, keep_body: bool) -> LineResult:
    envelope = orjson.dumps(error.envelope()) if keep_body else None
    return LineResult(line, None, body=envelope, error_kind=error_kind(error), message=error.message)


class LineGrader:
    """Parses and grades lines with one Runtime and one emulation state (canned model answers)."""

    def __init__(
        self, runtime: Runtime, emulation: EmulationState, source: LineSource, *, keep_bodies: bool
    ) -> None:
        self.runtime = runtime
        self.emulation = emulation
        self.source = source
        self.keep_bodies = keep_bodies

    def prepare(self, line: int, raw: bytes) -> RunGraderRequest | LineResult:
        """The parsed request of a line, or its bad-line result."""
        try:
            return service.parse_run(run_body(raw, self.source), self.runtime)
        except ApiError as exc:
            return bad_line(line, exc, self.keep_bodies)

    async def grade(self, line: int, request: RunGraderRequest) -> LineResult:
        started = time.perf_counter()
        # A fresh client per line, as per request in the server: it records its calls, and rule
        # counters (`times`) live in the shared emulation state.
        models = self.emulation.model_client(RequestEmulationState(None, EmulationHeaders()))
        outcome = await service.run(request, self.runtime, models)
        return LineResult(
            line,
            outcome.result.reward,
            tuple(dict.fromkeys(outcome.result.failed_flags)),
            time.perf_counter() - started,
            outcome.grader.type,
            outcome.body if self.keep_bodies else None,
        )

    async def grade_raw(self, line: int, raw: bytes) -> LineResult:
        """Parse and grade one line; never raises (a bug becomes a bad line, as the server's 500)."""
        try:
            prepared = self.prepare(line, raw)
            return prepared if isinstance(prepared, LineResult) else await self.grade(line, prepared)
        except Exception as exc:
            log.exception("unexpected error while grading line %d", line)
            error = ServerError(f"The emulator failed on this line: {type(exc).__name__}: {exc}")
            return bad_line(line, error, self.keep_bodies)
