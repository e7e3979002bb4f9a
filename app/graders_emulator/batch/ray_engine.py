"""The batch CLI on Ray (`grade --engine ray`): an Executor whose chunks of lines run on Ray actors."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import ray


class _LineActor:
    """Grades chunks of dataset lines for the batch CLI, python and model lines included."""

    def __init__(self, settings: Any, source: Any, keep_bodies: bool) -> None:
        from graders_emulator.batch.worker import build_grader
        from graders_emulator.runtime import build_sandbox

        self.loop = asyncio.new_event_loop()
        # One actor serves one CLI run (one caller): the face batches a chunk's python lines of one
        # grader into sandbox batches, which only ever hold that grader's samples (CONTRACT §6).
        self.grader = build_grader(settings, source, keep_bodies=keep_bodies, sandbox=build_sandbox(settings))

    def grade_chunk(self, lines: list[tuple[int, bytes]]) -> list[Any]:
        """The chunk's results, in order: each grader's lines graded by one `agrade_many` call."""
        return self.loop.run_until_complete(self.grader.grade_lines(lines))


class RayLineExecutor(Executor):
    """An Executor whose `submit(grade_chunk, lines)` grades the lines on one of `workers` Ray actors."""

    def __init__(
        self, settings: Any, source: Any, keep_bodies: bool, workers: int, address: str | None = None
    ) -> None:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False)
        actor: Any = ray.remote(num_cpus=1)(_LineActor)
        self.actors: list[Any] = [actor.remote(settings, source, keep_bodies) for _ in range(max(1, workers))]
        self._next = itertools.cycle(self.actors)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        (lines,) = args
        ref = next(self._next).grade_chunk.remote(lines)
        future: Future[Any] = ref.future()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
