"""Grading dataset lines through the library face: one bound `Grader` per distinct grader, many lines a call.

A line is parsed as the server parses a request (`service.parse_run`, then the per-sample bounds of
`service.check_namespaces`), so a bad line keeps the exact 400 envelope the server would answer. A good
line is graded by the `Grader` of its grader JSON, compiled once (`Grader.bound` on this process's
Runtime) and kept in a bounded cache; the lines of one grader are graded together with
`agrade_many`, so that the python lines of one grader share sandboxed children (the face coalesces
their jobs into batches that the sandbox pool spreads over its workers: the source is compiled once per
child, each sample keeps its own deadline and a sample that crashes ends only its own result).

What a line's `seconds` is (its results-file field, and what the summary's slowest lines rank):
- a line without python (sub-)graders: its own grading time (the Result's `execution_time`);
- a line with python (sub-)graders: the time its sample took in the sandbox, summed over its python
  sub-graders: in a batch, from the end of the previous sample in the same child to the end of its
  own (the first sample of a child also pays the fork and the compile). Time spent waiting for a
  worker or for the rest of the batch is not the line's: a sample that sleeps or times out still
  leads the slowest lines, and the sum over lines stays close to the sandbox's busy time.
The response body's `execution_time` is the face's (for a batched line it spans the wait).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from graders_emulator import service, templating
from graders_emulator.batch.input import LineSource, error_kind, run_body
from graders_emulator.emulation.headers import EmulationHeaders
from graders_emulator.emulation.state import EmulationState, RequestEmulationState
from graders_emulator.errors import ApiError, ServerError
from graders_emulator.grading.context import ModelClient, PythonJob, PythonOutcome, SandboxRunner
from graders_emulator.grading.templates import grader_templates
from graders_emulator.library import Grader, Result
from graders_emulator.sandbox.batching import run_batch
from graders_emulator.schemas.requests import RunGraderRequest
from graders_emulator.service import Runtime

log = logging.getLogger("graders_emulator.batch")

GRADERS_KEPT = 1024  # compiled graders cached per process: a dataset of per-line graders stays bounded


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


@dataclass(frozen=True, slots=True)
class PreparedLine:
    """A line that parsed: the compiled grader of its grader JSON (`key`), its sample and its item."""

    line: int
    key: bytes
    grader: Grader
    python_jobs: int  # python (sub-)graders in its grader: sandbox samples per line
    sample: str
    item: Any


def bad_line(line: int, error: ApiError, keep_body: bool) -> LineResult:
    envelope = orjson.dumps(error.envelope()) if keep_body else None
    return LineResult(line, None, body=envelope, error_kind=error_kind(error), message=error.message)


def _server_error(line: int, exc: BaseException, keep_body: bool) -> LineResult:
    """A bug becomes a bad line, as the server turns it into a 500."""
    log.error("unexpected error while grading line %d", line, exc_info=exc)
    error = ServerError(f"The emulator failed on this line: {type(exc).__name__}: {exc}")
    return bad_line(line, error, keep_body)


class SandboxTimer:
    """The Runtime's sandbox, noting how long each python sample took in its child (`PythonOutcome.elapsed_s`).

    The face's Result does not carry it; the samples are matched back to their lines by content (the
    sample text and the item's JSON), which is all a line is to a python grader.
    """

    def __init__(self, inner: SandboxRunner) -> None:
        self.inner = inner
        self._seconds: dict[tuple[str, bytes], list[float]] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        return None  # the engine that built the inner sandbox closes it

    def protections(self) -> dict[str, object]:
        return dict(self.inner.protections())

    async def run(self, job: PythonJob) -> PythonOutcome:
        outcome = await self.inner.run(job)
        self._note(job, outcome)
        return outcome

    async def run_batch(self, jobs: Sequence[PythonJob]) -> list[PythonOutcome]:
        outcomes = await run_batch(self.inner, jobs)
        for job, outcome in zip(jobs, outcomes, strict=True):
            self._note(job, outcome)
        return outcomes

    def _note(self, job: PythonJob, outcome: PythonOutcome) -> None:
        key = _key(str(job.sample.get("output_text", "")), job.item)
        if key is not None:
            self._seconds.setdefault(key, []).append(outcome.elapsed_s)

    def take(self, sample: str, item: Any, jobs: int) -> float | None:
        """The sandbox seconds of one line's `jobs` python samples (None when they were not seen)."""
        key = _key(sample, {} if item is None else item)
        noted = self._seconds.get(key) if key is not None else None
        if key is None or not noted:
            return None
        taken, noted[:jobs] = noted[:jobs], []
        if not noted:
            del self._seconds[key]
        return sum(taken)


def _key(sample: str, item: Any) -> tuple[str, bytes] | None:
    try:
        return sample, orjson.dumps(item)
    except TypeError:  # not JSON (not from a dataset line): timing only, never a reason to fail
        return None


class LineGrader:
    """Parses and grades lines with one Runtime and one emulation state (canned model answers)."""

    def __init__(
        self, runtime: Runtime, emulation: EmulationState, source: LineSource, *, keep_bodies: bool
    ) -> None:
        self.timer = SandboxTimer(runtime.sandbox)
        self.runtime = replace(runtime, sandbox=self.timer)
        self.emulation = emulation
        self.source = source
        self.keep_bodies = keep_bodies
        self._graders: service.CompiledGraders[tuple[Grader, int]] = service.CompiledGraders(GRADERS_KEPT)
        self._default_key = orjson.dumps(source.grader) if source.grader is not None else b""

    def models(self) -> ModelClient:
        # A fresh client per sample, as per request in the server: it records its calls, and rule
        # counters (`times`) live in the shared emulation state.
        return self.emulation.model_client(RequestEmulationState(None, EmulationHeaders()))

    def prepare(self, line: int, raw: bytes) -> PreparedLine | LineResult:
        """The parsed line, or its bad-line result (never raises)."""
        try:
            return self.prepare_body(line, run_body(raw, self.source))
        except ApiError as exc:
            return bad_line(line, exc, self.keep_bodies)
        except Exception as exc:
            return _server_error(line, exc, self.keep_bodies)

    def prepare_body(self, line: int, body: Any) -> PreparedLine | LineResult:
        """A run body parsed as `POST /run` parses it: the 400s of the server, in its words."""
        try:
            request = service.parse_run(body, self.runtime)
            item = service.item_of(request)
            # The sample's bounds before grading, so that a line over them is its 400 (as in the server).
            service.check_namespaces(
                grader_templates(request.grader, "grader"),
                templating.namespaces(item, request.model_sample),
                self.runtime.bounds,
            )
        except ApiError as exc:
            return bad_line(line, exc, self.keep_bodies)
        grader = body["grader"]
        key = self._default_key if grader is self.source.grader else orjson.dumps(grader)
        compiled, python_jobs = self._compiled(key, request)
        return PreparedLine(line, key, compiled, python_jobs, request.model_sample, item)

    def _compiled(self, key: bytes, request: RunGraderRequest) -> tuple[Grader, int]:
        found = self._graders.get(key)
        if found is None:
            grader = Grader.bound(request.grader, self.runtime, self.models)
            found = (grader, _count_python(grader.wire))
            self._graders.put(key, found)
        return found

    async def grade_group(self, group: Sequence[PreparedLine]) -> list[LineResult]:
        """Lines of one grader, graded by one `agrade_many` call (never raises)."""
        grader = group[0].grader
        try:
            results = await grader.agrade_many([(p.sample, p.item) for p in group])
        except Exception as exc:
            if len(group) == 1:
                return [_server_error(group[0].line, exc, self.keep_bodies)]
            # One line's bug must not fail its neighbours: grade them one by one.
            return [result for one in group for result in await self.grade_group([one])]
        return [self._line_result(p, r) for p, r in zip(group, results, strict=True)]

    async def grade_lines(self, lines: Iterable[tuple[int, bytes]]) -> list[LineResult]:
        """A chunk of raw lines, in order: each grader's lines as one group, the groups concurrently."""
        slots: list[LineResult | None] = []
        groups: dict[bytes, list[tuple[int, PreparedLine]]] = {}
        for line, raw in lines:
            prepared = self.prepare(line, raw)
            if isinstance(prepared, LineResult):
                slots.append(prepared)
            else:
                groups.setdefault(prepared.key, []).append((len(slots), prepared))
                slots.append(None)

        async def grade(members: list[tuple[int, PreparedLine]]) -> None:
            for (index, _), result in zip(
                members, await self.grade_group([p for _, p in members]), strict=True
            ):
                slots[index] = result

        await asyncio.gather(*(grade(members) for members in groups.values()))
        return [result for result in slots if result is not None]

    async def grade_raw(self, line: int, raw: bytes) -> LineResult:
        """Parse and grade one line (never raises)."""
        return (await self.grade_lines([(line, raw)]))[0]

    def _line_result(self, prepared: PreparedLine, result: Result) -> LineResult:
        seconds = result.execution_time
        if prepared.python_jobs:
            in_sandbox = self.timer.take(prepared.sample, prepared.item, prepared.python_jobs)
            seconds = in_sandbox if in_sandbox is not None else seconds
        return LineResult(
            prepared.line,
            result.reward,
            result.flags,
            seconds,
            result.type,
            orjson.dumps(result.to_wire()) if self.keep_bodies else None,
        )


def _count_python(wire: Mapping[str, Any]) -> int:
    """Python graders in a grader and its sub-graders: each line sends this many samples to the sandbox."""
    subs = wire.get("graders")
    nested = (
        sum(_count_python(sub) for sub in subs.values() if isinstance(sub, Mapping))
        if isinstance(subs, Mapping)
        else 0
    )
    return int(wire.get("type") == "python") + nested
