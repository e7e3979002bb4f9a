"""Helpers for the sandbox tests: a background event loop, pool handles, a /proc scan for leftovers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from graders_emulator.grading.context import PythonJob, PythonOutcome
from graders_emulator.sandbox import SandboxLimits, SandboxPool
from graders_emulator.sandbox import worker as worker_module

T = TypeVar("T")
TEST_LIMITS = SandboxLimits(timeout_s=2.0, memory_mb=256, disk_mb=16, output_kb=64)
CANARY_ENV = "GRADERS_EMULATOR_SANDBOX_TEST_CANARY"
CANARY_SECRET = "sk-canary-" + secrets.token_hex(8)
MODES = ["root-namespaces", "unprivileged"]
UNPRIVILEGED_UID = 10001  # the Dockerfile's USER; the "unprivileged" mode runs every zygote as this uid
AS_UID = Path(__file__).with_name("as_uid.py")
PROJECT_APP = Path(worker_module.__file__).resolve().parents[2]


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
        self.uid_switch: contextlib.AbstractContextManager[None] | None = None

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


@contextlib.contextmanager
def zygotes_as_uid(uid: int = UNPRIVILEGED_UID) -> Iterator[None]:
    """While active, every zygote a pool starts runs as `uid` with no capabilities (see as_uid.py)."""
    if os.geteuid() != 0:  # already unprivileged: nothing to emulate
        yield
        return
    original = worker_module.zygote_command

    def as_uid(token: str) -> list[str]:
        return [sys.executable, "-I", str(AS_UID), str(PROJECT_APP), str(uid), "--", *original(token)]

    worker_module.zygote_command = as_uid
    try:
        yield
    finally:
        worker_module.zygote_command = original


def open_pool(
    limits: SandboxLimits = TEST_LIMITS, workers: int = 2, *, as_uid: int | None = None, **kw: Any
) -> PoolHandle:
    loop = LoopThread()
    pool = SandboxPool(workers, limits, **kw)
    handle = PoolHandle(loop, pool)
    if as_uid is not None:
        handle.uid_switch = zygotes_as_uid(as_uid)
        handle.uid_switch.__enter__()
    loop.call(pool.start())
    return handle


def open_mode_pool(mode: str, limits: SandboxLimits = TEST_LIMITS, workers: int = 2, **kw: Any) -> PoolHandle:
    """A pool in one of MODES: as root with namespaces, or every zygote as uid 10001."""
    return open_pool(limits, workers, as_uid=UNPRIVILEGED_UID if mode == "unprivileged" else None, **kw)


def close_pool(handle: PoolHandle) -> None:
    try:
        handle.close()
        gone = wait_until(lambda: not sandbox_processes(handle.pool.token))
        assert gone, f"sandbox processes left behind: {sandbox_processes(handle.pool.token)}"
    finally:
        switch = getattr(handle, "uid_switch", None)
        if switch is not None:
            switch.__exit__(None, None, None)
        handle.loop.stop()
