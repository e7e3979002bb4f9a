"""A SandboxRunner that coalesces the python jobs started in the same event-loop tick into batches.

`Grader.grade_many` grades its rows as concurrent tasks; each python (sub-)grader of each row calls
`run(job)`. Instead of one sandbox child per call, the calls made while the loop works through those
tasks are grouped by grader (source and image_tag) and sent as one `run_batch` per grader. One
instance serves one `grade_many` call, so a batch only ever holds one caller's samples (CONTRACT §6).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from graders_emulator.grading.context import PythonJob, PythonOutcome, SandboxRunner

_Key = tuple[str, str | None]


class BatchSandboxRunner(SandboxRunner, Protocol):
    """A runner that can also grade many samples of one grader at once."""

    async def run_batch(self, jobs: Sequence[PythonJob]) -> list[PythonOutcome]: ...


async def run_batch(runner: SandboxRunner, jobs: Sequence[PythonJob]) -> list[PythonOutcome]:
    """`runner.run_batch` when it has one, else each job on its own (e.g. the disabled sandbox)."""
    batch = getattr(runner, "run_batch", None)
    if batch is not None:
        return list(await batch(jobs))
    return list(await asyncio.gather(*(runner.run(job) for job in jobs)))


class BatchingRunner:
    """Collects `run()` calls until the loop has run every task that was ready, then batches them."""

    def __init__(self, inner: SandboxRunner, *, owns_inner: bool = False) -> None:
        self.inner = inner
        self.owns_inner = owns_inner  # close() closes the inner runner only when this wrapper owns it
        self._pending: dict[_Key, list[tuple[PythonJob, asyncio.Future[PythonOutcome]]]] = {}
        self._flush_scheduled = False
        self._sending: set[asyncio.Task[None]] = set()
        self.batches_sent = 0  # for tests and benchmarks: how many run_batch calls were made

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        if self.owns_inner:
            await self.inner.close()

    def protections(self) -> dict[str, object]:
        return self.inner.protections()

    async def run(self, job: PythonJob) -> PythonOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PythonOutcome] = loop.create_future()
        self._pending.setdefault((job.source, job.image_tag), []).append((job, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Two hops: the tasks made ready together with this one run first and add their jobs.
            loop.call_soon(loop.call_soon, self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending, self._flush_scheduled = self._pending, {}, False
        for entries in pending.values():
            self.batches_sent += 1
            task = asyncio.ensure_future(self._send(entries))
            self._sending.add(task)  # a strong reference until it is done
            task.add_done_callback(self._sending.discard)

    async def _send(self, entries: list[tuple[PythonJob, asyncio.Future[PythonOutcome]]]) -> None:
        try:
            outcomes = await run_batch(self.inner, [job for job, _ in entries])
        except BaseException as exc:  # never leave a caller waiting: every future gets the failure
            for _, future in entries:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(entries, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
