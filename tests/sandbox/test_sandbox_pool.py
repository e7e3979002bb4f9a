"""The pool as the server uses it: background warm-up, FIFO queueing, restarts, shutdown, disabled mode."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest
from sandbox_helpers import (
    TEST_LIMITS,
    LoopThread,
    close_pool,
    open_pool,
    sandbox_processes,
    wait_until,
    zygote_pids,
)

from graders_emulator.grading.context import PythonJob
from graders_emulator.sandbox import DisabledSandbox, SandboxLimits, SandboxPool
from graders_emulator.sandbox import pool as pool_module

LIGHT = ["json", "math"]  # pools that only test scheduling skip the heavy preload to start fast
SLEEP = "import time\ndef grade(sample, item):\n    time.sleep(item)\n    return item\n"


def test_start_returns_at_once_and_an_early_job_waits_for_warm_up(caplog: pytest.LogCaptureFixture) -> None:
    loop = LoopThread()
    pool = SandboxPool(2, TEST_LIMITS)  # the full, realistic preload: seconds to warm
    try:
        with caplog.at_level(logging.INFO, logger="graders_emulator.sandbox"):
            started = time.perf_counter()
            loop.call(pool.start())
            assert time.perf_counter() - started < 0.1
            assert pool.protections()["warm"] == 0
            outcome = loop.call(pool.run(PythonJob("import numpy\ndef grade(s, i):\n    return 1", {}, None)))
        assert outcome.value == 1.0
        assert outcome.elapsed_s > 0.2  # it waited for a zygote to import the packages
        logged = [r.getMessage() for r in caplog.records if "python sandbox protections" in r.getMessage()]
        assert len(logged) == 1 and "landlock=" in logged[0]
    finally:
        close_pool(_Handle(loop, pool))


class _Handle:
    def __init__(self, loop: LoopThread, pool: SandboxPool) -> None:
        self.loop, self.pool = loop, pool

    def close(self) -> None:
        self.loop.call(self.pool.close())


def test_fast_jobs_are_not_stuck_behind_slow_ones_beyond_capacity() -> None:
    handle = open_pool(SandboxLimits(timeout_s=5), preload=LIGHT)
    try:
        assert handle.run("def grade(s, i):\n    return 1").value == 1.0
        assert wait_until(lambda: handle.pool.protections()["warm"] == 2, 30)

        async def scenario() -> tuple[dict[str, float], float]:
            finished: dict[str, float] = {}
            begin = time.perf_counter()
            lag = 0.0

            async def job(name: str, delay: float) -> None:
                outcome = await handle.pool.run(PythonJob(SLEEP, {}, delay))
                assert outcome.value == delay, outcome
                finished[name] = time.perf_counter() - begin

            async def ticker() -> None:
                nonlocal lag
                while True:
                    before = time.perf_counter()
                    await asyncio.sleep(0.01)
                    lag = max(lag, time.perf_counter() - before - 0.01)

            tick = asyncio.create_task(ticker())
            jobs = [job("slow1", 1.5), job("fast1", 0.0)]  # one worker busy: fast ones use the other
            jobs += [job("slow2", 1.5), job("slow3", 1.5), *(job(f"fast{n}", 0.0) for n in (2, 3, 4))]
            await asyncio.gather(*jobs)
            tick.cancel()
            return finished, lag

        finished, lag = handle.loop.call(scenario())
        assert finished["fast1"] < 0.5  # served by the idle worker while slow1 runs
        # FIFO: fast2-4 queued behind slow2 and slow3, but not behind all slow jobs: they go as soon
        # as the first of slow1/slow2 ends, before slow3 (which also had to wait) finishes.
        assert max(finished[f"fast{n}"] for n in (2, 3, 4)) < finished["slow3"]
        assert lag < 0.1  # the event loop kept turning while graders ran
    finally:
        close_pool(handle)


def test_a_dead_zygote_is_a_server_error_then_replaced() -> None:
    handle = open_pool(SandboxLimits(timeout_s=10), workers=1, preload=LIGHT)
    try:
        assert handle.run("def grade(s, i):\n    return 1").value == 1.0
        (zygote,) = zygote_pids(handle.pool.token)
        pending = handle.loop.submit(handle.pool.run(PythonJob(SLEEP, {}, 5)))
        time.sleep(0.3)
        os.kill(zygote, signal.SIGKILL)
        outcome = pending.result(10)
        assert outcome.server_error_type == "worker_crashed"
        assert handle.run("def grade(s, i):\n    return 2").value == 2.0  # waits for the replacement
        assert zygote not in zygote_pids(handle.pool.token)
    finally:
        close_pool(handle)


def test_no_worker_can_start_is_a_server_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_spawn(*args: object, **kwargs: object) -> None:
        raise OSError("cannot start the interpreter")

    monkeypatch.setattr(pool_module.Worker, "spawn", broken_spawn)
    monkeypatch.setattr(pool_module, "FAILURES_BEFORE_UNAVAILABLE", 1)
    loop = LoopThread()
    pool = SandboxPool(1, TEST_LIMITS)
    try:
        loop.call(pool.start())
        outcome = loop.call(pool.run(PythonJob("def grade(s, i):\n    return 1", {}, None)), timeout=10)
        assert outcome.server_error_type == "worker_unavailable"
        assert "cannot start the interpreter" in (outcome.server_error_details or "")
    finally:
        loop.call(pool.close())
        loop.stop()


def test_close_mid_job_leaves_no_process_behind() -> None:
    handle = open_pool(SandboxLimits(timeout_s=30), workers=2, preload=LIGHT)
    assert handle.run("def grade(s, i):\n    return 1").value == 1.0
    pending = handle.loop.submit(handle.pool.run(PythonJob(SLEEP, {}, 20)))
    time.sleep(0.3)
    assert len(sandbox_processes(handle.pool.token)) >= 2
    close_pool(handle)  # asserts that nothing carrying the pool's marker survives
    outcome = pending.result(5)
    assert outcome.value is None


def test_zygote_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("GRADERS_EMULATOR_CONTROL_TOKEN", "should-not-leak")
    handle = open_pool(TEST_LIMITS, workers=1, preload=LIGHT)
    try:
        outcome = handle.run(
            "import os, json\ndef grade(s, i):\n    print(json.dumps(dict(os.environ)))\n    return 1"
        )
        env = __import__("json").loads(outcome.stdout)
        assert "OPENAI_API_KEY" not in env and not any(k.startswith("GRADERS_EMULATOR_") for k in env)
        assert env["OPENBLAS_NUM_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "1"
        (zygote,) = zygote_pids(handle.pool.token)
        with open(f"/proc/{zygote}/environ", "rb") as environ:
            assert b"should-not-leak" not in environ.read()
    finally:
        close_pool(handle)


def test_disabled_sandbox_answers_disabled() -> None:
    outcome = asyncio.run(DisabledSandbox().run(PythonJob("def grade(s, i):\n    return 1", {}, None)))
    assert outcome.server_error_type == "disabled"
    assert outcome.server_error_details is not None
    assert "GRADERS_EMULATOR_PYTHON_GRADERS=false" in outcome.server_error_details
    assert outcome.value is None and outcome.runtime_error is None
