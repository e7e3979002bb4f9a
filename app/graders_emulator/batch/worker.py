"""The process-pool side of batch grading: each worker grades chunks of deterministic lines through the
library face (`LineGrader.grade_lines`: one `agrade_many` per grader of the chunk)."""

from __future__ import annotations

import asyncio

from graders_emulator.batch.grading import LineGrader, LineResult
from graders_emulator.batch.input import LineSource
from graders_emulator.emulation.state import EmulationState
from graders_emulator.grading.context import SandboxRunner
from graders_emulator.settings import Settings

# The one grader of this worker process (set by the pool initializer, read by every chunk).
_WORKER: list[tuple[asyncio.AbstractEventLoop, LineGrader]] = []


def build_grader(
    settings: Settings, source: LineSource, *, keep_bodies: bool, sandbox: SandboxRunner | None = None
) -> LineGrader:
    """A LineGrader wired as create_app wires the server (same Runtime factory)."""
    from graders_emulator.runtime import build_runtime
    from graders_emulator.sandbox import DisabledSandbox

    runtime = build_runtime(settings, sandbox if sandbox is not None else DisabledSandbox())
    return LineGrader(runtime, EmulationState(settings), source, keep_bodies=keep_bodies)


def init_worker(settings: Settings, source: LineSource, keep_bodies: bool) -> None:
    """Pool initializer: workers only get lines that never touch the sandbox or a model."""
    _WORKER[:] = [(asyncio.new_event_loop(), build_grader(settings, source, keep_bodies=keep_bodies))]


def grade_chunk(lines: list[tuple[int, bytes]]) -> list[LineResult]:
    loop, grader = _WORKER[0]
    return loop.run_until_complete(grader.grade_lines(lines))
