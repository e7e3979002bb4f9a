"""Helpers for the sandbox tests: a background event loop, pool handles, a /proc scan for leftovers."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from graders_emulator.grading.context import PythonJob, PythonOutcome
from graders_emulator.sandbox import SandboxLimits, SandboxPool

T = TypeVar("T")
TEST_LIMITS = SandboxLimits(timeout_s=2.0, memory_mb=256, disk_mb=16, output_kb=64)
CANARY_ENV = "GRADERS_EMULATOR_SANDBOX_TEST_CANARY"
CANARY_SECRET = "sk-canary-" + secrets.token_hex(8)
MODES = ["root-namespaces", "unprivileged"]


class LoopThread:
    """An event loop in a thread, so a pool can outlive one test while tests stay synchronous."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class PoolHandle:
    """A started pool plus synchronous helpers for tests."""

    def __init__(self, loop: LoopThread, pool: SandboxPool) -> None:
        self.loop = loop
        self.pool = pool

    def run(
        self, source: str, sample: Mapping[str, Any] | None = None, item: Any = None, **kw: Any
    ) -> PythonOutcome:
        job = PythonJob(source=source, sample=sample or {"output_text": ""}, item=item, **kw)
        return self.loop.call(self.pool.run(job))

    def close(self) -> None:
        self.loop.call(self.pool.close())


def sandbox_processes(token: str) -> list[tuple[int, int]]:
    """(pid, ppid) of every process whose command line carries this pool's marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if token.encode() not in cmdline.read():
                    continue
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(entry), ppid))
    return found


def zygote_pids(token: str) -> set[int]:
    return {pid for pid, ppid in sandbox_processes(token) if ppid == os.getpid()}


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def open_pool(limits: SandboxLimits = TEST_LIMITS, workers: int = 2, **kw: Any) -> PoolHandle:
    loop = LoopThread()
    pool = SandboxPool(workers, limits, **kw)
    loop.call(pool.start())
    return PoolHandle(loop, pool)


def close_pool(handle: PoolHandle) -> None:
    try:
        handle.close()
        gone = wait_until(lambda: not sandbox_processes(handle.pool.token))
        assert gone, f"sandbox processes left behind: {sandbox_processes(handle.pool.token)}"
    finally:
        handle.loop.stop()
