"""Batch grading of a JSONL dataset on every core: the engine of `graders-emulator grade`.

Every line is graded through the library face (`batch.grading`: one bound `Grader` per distinct
grader, `agrade_many` over many lines). Lines whose grader is deterministic (string_check,
text_similarity, multi of those) go in chunks to a process pool of `jobs` workers, each grading its
chunk through the face. Lines that wait on the python sandbox or a (canned) model are grouped here by
grader: a group is sent to `agrade_many` when it holds `GROUP_LINES_PER_JOB * jobs` lines, when its
oldest line is `HOLD_GROUPS` groups behind the reading (so that the ordered output never holds back
much), or at the end of the file. The face sends a python group's samples to the sandbox as one
batch, which the pool splits into one chunk per worker: one child compiles the grader once per chunk.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from graders_emulator.batch.grading import LineGrader, LineResult, PreparedLine
from graders_emulator.batch.input import LineSource, count_lines, read_lines, route
from graders_emulator.batch.output import OrderedWriter
from graders_emulator.batch.summary import Summary
from graders_emulator.batch.worker import build_grader, grade_chunk, init_worker
from graders_emulator.grading.context import PythonJob, SandboxRunner
from graders_emulator.runtime import build_sandbox
from graders_emulator.settings import Settings

WARM_UP_SOURCE = "def grade(sample, item):\n    return 0.0\n"
WARM_UP_TIMEOUT_S = 60.0
CHUNK_LINES = 256  # per task sent to a pool worker: amortises the pickling round trip
CHUNKS_PER_JOB = 2  # outstanding chunks per worker: one running, one queued
# Sandbox and model lines: a group of one grader holds up to this many lines per job, so that a python
# group gives each sandbox worker one chunk of this size (one fork and one compile per chunk). A line's
# `seconds` is its own time in the sandbox, so queueing behind a group is not charged to it.
GROUP_LINES_PER_JOB = 256
GROUPS_PER_JOB = 2  # groups in flight per job: one grading, one queued, while the file is read on
HOLD_GROUPS = 4  # a pending line is sent, whatever its group's size, once this many groups' worth
# of lines were read after it: a grader with few lines does not hold back the ordered output


@dataclass(frozen=True)
class BatchOptions:
    """One `grade` run."""

    data: Path
    source: LineSource
    settings: Settings
    jobs: int
    out: BinaryIO | None = None
    progress: bool = False
    slowest: int = 5
    engine: str = "local"  # "ray": every line goes to Ray actors (graders_emulator.ray)
    address: str | None = None  # the Ray cluster to join (None: start or reuse a local one)


def run_batch(options: BatchOptions) -> Summary:
    return asyncio.run(grade_file(options))


async def grade_file(options: BatchOptions) -> Summary:
    settings = replace_workers(options.settings, options.jobs)
    summary = Summary(slowest_kept=options.slowest)
    writer = OrderedWriter(options.out) if options.out is not None else None
    sandbox = build_sandbox(settings)  # the server's own: the same limits
    grader = build_grader(settings, options.source, keep_bodies=writer is not None, sandbox=sandbox)
    total = count_lines(options.data) if options.progress else None
    bar = tqdm(total=total, disable=not options.progress, file=sys.stderr, unit="sample", dynamic_ncols=True)

    def finish(result: LineResult) -> None:
        summary.add(result)
        if writer is not None:
            writer.add(result)
        bar.update(1)

    pool = _process_pool(settings, options, keep_bodies=writer is not None)
    started = time.perf_counter()
    try:
        # The sandbox starts on the first line that needs it: a dataset without python graders never
        # pays for its workers.
        driver = _Driver(grader, pool, finish, options.jobs, sandbox, remote_all=options.engine == "ray")
        for line, raw in read_lines(options.data):
            if writer is not None:
                writer.expect(line)
            await driver.submit(line, raw)
        await driver.drain()
        # Grading time only: the sandbox's start-up (seconds of imports) and the shutdown below are not
        # the dataset's.
        summary.seconds = time.perf_counter() - started - driver.warm_up_s
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        await sandbox.close()
        bar.close()
    return summary


def replace_workers(settings: Settings, jobs: int) -> Settings:
    """The sandbox pool gets as many python workers as there are jobs."""
    return settings.model_copy(update={"python_workers": max(1, jobs)})


def _process_pool(settings: Settings, options: BatchOptions, *, keep_bodies: bool) -> Executor | None:
    if options.engine == "ray":
        from graders_emulator.batch.ray_engine import RayLineExecutor

        return RayLineExecutor(settings, options.source, keep_bodies, options.jobs, options.address)
    if options.jobs <= 1:
        return None  # one core: grade in this process, no pickling at all
    # forkserver, not fork: this process already runs threads (tqdm, asyncio's child watcher).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["graders_emulator.batch.worker", "graders_emulator.main"]
    )  # workers fork warm
    return ProcessPoolExecutor(
        options.jobs,
        mp_context=context,
        initializer=init_worker,
        initargs=(settings, options.source, keep_bodies),
    )


class _Driver:
    """Routes lines to the pool or to groups graded here, with bounded work in flight."""

    def __init__(
        self,
        grader: LineGrader,
        pool: Executor | None,
        finish: Callable[[LineResult], None],
        jobs: int,
        sandbox: SandboxRunner,
        *,
        remote_all: bool = False,
    ) -> None:
        self.remote_all = remote_all  # Ray actors grade sandbox and model lines too
        self.grader = grader
        self.sandbox = sandbox
        self.jobs = max(1, jobs)
        self.warm = False
        self.warm_up_s = 0.0
        self.pool = pool
        self.finish = finish
        self.group_lines = GROUP_LINES_PER_JOB * self.jobs
        self.groups = asyncio.Semaphore(GROUPS_PER_JOB * self.jobs)
        self.pending: dict[bytes, list[PreparedLine]] = {}  # by grader JSON, in reading order
        self.oldest_pending = 0  # the line number of the oldest pending line (0: none)
        self.chunks = asyncio.Semaphore(CHUNKS_PER_JOB * self.jobs)
        self.chunk: list[tuple[int, bytes]] = []
        self.tasks: set[asyncio.Future[None]] = set()

    async def submit(self, line: int, raw: bytes) -> None:
        where = route(raw, self.grader.source.grader)
        if where != "cpu" and not self.remote_all:
            if where == "sandbox":
                await self._warm_up()
            prepared = self.grader.prepare(line, raw)
            if isinstance(prepared, LineResult):
                self.finish(prepared)
            else:
                await self._hold(prepared)
        else:
            self.chunk.append((line, raw))
            if len(self.chunk) >= CHUNK_LINES:
                await self._send_chunk()
        if self.oldest_pending and line - self.oldest_pending >= HOLD_GROUPS * self.group_lines:
            await self._send_pending()

    async def _hold(self, prepared: PreparedLine) -> None:
        group = self.pending.setdefault(prepared.key, [])
        group.append(prepared)
        if not self.oldest_pending:
            self.oldest_pending = prepared.line
        if len(group) >= self.group_lines:
            del self.pending[prepared.key]
            self.oldest_pending = min((g[0].line for g in self.pending.values()), default=0)
            await self._send_group(group)

    async def _send_pending(self) -> None:
        pending, self.pending, self.oldest_pending = self.pending, {}, 0
        for group in pending.values():
            await self._send_group(group)

    async def _send_group(self, group: list[PreparedLine]) -> None:
        await self.groups.acquire()
        self._track(asyncio.ensure_future(self._grade_group(group)), self.groups)

    async def _grade_group(self, group: list[PreparedLine]) -> None:
        for result in await self.grader.grade_group(group):
            self.finish(result)

    async def _warm_up(self) -> None:
        """Before the first sandbox line, untimed: start the sandbox and wait for all its workers, so
        that start-up (seconds of imports) is charged to no line."""
        if self.warm:
            return
        self.warm = True
        started = time.perf_counter()
        await self.sandbox.run(PythonJob(WARM_UP_SOURCE, {"output_text": ""}, None))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WARM_UP_TIMEOUT_S
        while _warm(self.sandbox.protections()) < self.jobs and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self.warm_up_s = time.perf_counter() - started

    async def drain(self) -> None:
        await self._send_pending()
        if self.chunk:
            await self._send_chunk()
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def _send_chunk(self) -> None:
        chunk, self.chunk = self.chunk, []
        if self.pool is None:  # one core: this loop grades the chunk, between the groups' replies
            for result in await self.grader.grade_lines(chunk):
                self.finish(result)
            await asyncio.sleep(0)
            return
        await self.chunks.acquire()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, grade_chunk, chunk)
        self._track(asyncio.ensure_future(self._collect(future)), self.chunks)

    async def _collect(self, future: asyncio.Future[list[LineResult]]) -> None:
        for result in await future:
            self.finish(result)

    def _track(self, task: asyncio.Future[None], slot: asyncio.Semaphore) -> None:
        self.tasks.add(task)

        def done(finished: asyncio.Future[None]) -> None:
            self.tasks.discard(finished)
            slot.release()

        task.add_done_callback(done)


def _warm(protections: object) -> int:
    warm = protections.get("warm", 0) if isinstance(protections, dict) else 0
    return warm if isinstance(warm, int) else 0
