"""Killable processes for text_similarity metrics on large inputs, each call under a deadline.

A metric's cost grows with its inputs (fuzzy_match on 1 MB x 1 MB: 28 s; rouge_l: 18 s) and a
thread cannot be stopped, so a request whose deadline passes or whose client leaves would keep a
core busy for the rest of the computation (issue 10, finding 12). Here each call runs in a worker
process (`graders_emulator.metric_worker`); at the deadline, or when the awaiting task is cancelled,
the worker is killed (SIGKILL) and a fresh one is started in the background. The deadline covers
the wait for a free worker too. Small inputs never come here: they cost microseconds in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from graders_emulator.metric_worker import read_frame, write_frame
from graders_emulator.metrics import MetricUnavailable


class MetricTimeout(TimeoutError):
    """The metric did not finish within the deadline; its worker was killed."""


class _Worker:
    """One worker process; `call` blocks (run it in a thread), `kill` may be called from any thread."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graders_emulator.metric_worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )

    def call(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The worker's answer, or None when it died (killed at a deadline, or crashed)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            write_frame(self.process.stdin, job)  # type: ignore[arg-type]
            frame = read_frame(self.process.stdout)  # type: ignore[arg-type]
        except (OSError, ValueError):  # a pipe closed under us by kill()
            return None
        return None if frame is None else orjson.loads(frame)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class _Call:
    """One call in flight: the worker it holds, and whether its awaiting task gave up."""

    __slots__ = ("abandoned", "worker")

    def __init__(self) -> None:
        self.worker: _Worker | None = None
        self.abandoned = False


class MetricPool:
    """`workers` metric processes; `score` runs one metric call with a deadline of `timeout_s`.

    Workers are started by one long-lived thread: PR_SET_PDEATHSIG ties a worker's life to the
    thread that started it, so a short-lived thread would take its worker down with it.
    """

    def __init__(self, workers: int, timeout_s: float) -> None:
        self.size = max(1, workers)
        self.timeout_s = timeout_s
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metric-pool")
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        self.killed = 0  # workers killed at a deadline or a cancellation (for /metrics and tests)

    @property
    def warm(self) -> int:
        return len(self._idle)

    def start(self) -> None:
        """Start the workers in the background (each takes ~0.1 s to come up)."""
        self._spawner.submit(self._fill)

    def _fill(self) -> None:
        while not self._closed and len(self._idle) + len(self._busy) < self.size:
            self._give_back(_Worker())

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if not self._closed and len(self._idle) + len(self._busy) < self.size:
                self._idle.append(worker)
                return
        worker.kill()

    def _run(self, call: _Call, job: dict[str, Any]) -> dict[str, Any] | None:
        """In a thread: take a worker (starting one if none is warm) and run the job on it."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            try:
                worker = self._spawner.submit(_Worker).result()
            except RuntimeError:  # the pool closed (the server is stopping)
                return None
        with self._lock:
            if call.abandoned or self._closed:
                worker_to_return = worker
            else:
                call.worker, worker_to_return = worker, None
                self._busy.add(worker)
        if worker_to_return is not None:
            self._give_back(worker_to_return)
            return None
        return worker.call(job)

    def _abandon(self, call: _Call) -> None:
        """In a thread: the awaiting task gave up; kill the call's worker and start a fresh one."""
        with self._lock:
            call.abandoned = True
            worker = call.worker
        if worker is not None:
            self.killed += 1
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._busy.discard(worker)
            closed = self._closed
        if not closed:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self._spawner.submit(self._fill)

    async def score(self, metric: str, text: str, reference: str) -> float:
        """The metric's value; MetricTimeout past the deadline, MetricUnavailable, or ValueError."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        loop = asyncio.get_running_loop()
        call = _Call()
        job = {"metric": metric, "input": text, "reference": reference}
        try:
            async with asyncio.timeout(self.timeout_s), self._slots:
                answer = await loop.run_in_executor(None, self._run, call, job)
        except TimeoutError:
            await loop.run_in_executor(None, self._abandon, call)
            raise MetricTimeout(f"{metric} did not finish within {self.timeout_s:g} s") from None
        except BaseException:  # cancelled: the request's client went away
            await asyncio.shield(loop.run_in_executor(None, self._abandon, call))
            raise
        worker = call.worker
        if answer is None or worker is None:
            if worker is not None:
                await loop.run_in_executor(None, self._discard, worker)
            raise ValueError(f"the {metric} worker died")
        self._give_back(worker)
        if "value" in answer:
            return float(answer["value"])
        if answer.get("unavailable"):
            raise MetricUnavailable(answer["error"])
        raise ValueError(answer["error"])

    def close(self) -> None:
        """Kill every worker, busy ones included (the server is stopping); later calls start none."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
        for worker in workers:
            worker.kill()
        self._spawner.shutdown(wait=True)
