"""Batched python grading: one child per chunk compiles once; every sample keeps its own deadlines."""

from __future__ import annotations

import time

import pytest
from sandbox_helpers import PoolHandle, close_pool, open_pool

from graders_emulator.grading.context import PythonJob, PythonOutcome
from graders_emulator.sandbox import SandboxLimits

MIXED = """
import time

def grade(sample, item):
    text = sample["output_text"]
    if text == "crash":
        import ctypes
        ctypes.string_at(0)
    if text == "raise":
        raise ValueError("bad sample")
    if text == "bool":
        return True
    if text == "print":
        print("graded", text)
    if text == "exit":
        import os
        os._exit(3)
    return 1.0 if text == item["reference"] else len(text) / 10
"""

PID = """
import os

BORN = os.getpid()

def grade(sample, item):
    return float(BORN)
"""

SLEEPER = """
import time

def grade(sample, item):
    time.sleep(float(sample["output_text"]))
    return 1.0
"""

SPINNER = """
import time

def grade(sample, item):
    seconds = float(sample["output_text"])
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds
"""


def _jobs(source: str, texts: list[str], item: object = None) -> list[PythonJob]:
    return [PythonJob(source, {"output_text": text}, item) for text in texts]


def _batch(pool: PoolHandle, jobs: list[PythonJob], timeout: float = 60) -> list[PythonOutcome]:
    return pool.loop.call(pool.pool.run_batch(jobs), timeout)


def _same(a: PythonOutcome, b: PythonOutcome) -> tuple[object, ...]:
    return (a.value, a.runtime_error, a.server_error_type, a.stdout) == (
        b.value,
        b.runtime_error,
        b.server_error_type,
        b.stdout,
    ), (a, b)


def test_each_sample_gets_what_the_one_job_path_gives(pool: PoolHandle) -> None:
    texts = ["paris", "crash", "rome", "raise", "bool", "print", "exit", "paris", "london"]
    batch = _batch(pool, _jobs(MIXED, texts, {"reference": "paris"}))
    single = [pool.run(MIXED, {"output_text": text}, {"reference": "paris"}) for text in texts]
    for got, want in zip(batch, single, strict=True):
        same, pair = _same(got, want)
        assert same, pair
    # and the values the grader's own logic gives, by hand
    assert [o.value for o in batch] == [1.0, None, 0.4, None, None, 0.5, None, 1.0, 0.6]
    assert batch[1].runtime_error == "killed by signal SIGSEGV"
    assert batch[3].runtime_error is not None and batch[3].runtime_error.startswith("ValueError: bad sample")
    assert batch[6].runtime_error == "exited with status 3 without returning"
    assert batch[5].stdout == "graded print\n" and batch[7].stdout == ""


def test_one_child_compiles_once_per_chunk_and_a_crash_replaces_it(pool: PoolHandle) -> None:
    pids = [o.value for o in _batch(pool, _jobs(PID, ["x"] * 8))]
    assert len(set(pids)) == 2, pids  # two workers: two chunks of four, one child each
    assert len(set(pids[:4])) == 1 and len(set(pids[4:])) == 1
    crash = MIXED.replace("def grade", "import os\nBORN = os.getpid()\n\ndef grade").replace(
        "return 1.0 if", "return float(BORN) if"
    )
    outcomes = _batch(pool, _jobs(crash, ["a", "a", "crash", "a"] * 2, {"reference": "a"}))
    first, second = outcomes[:4], outcomes[4:]
    for chunk in (first, second):
        assert chunk[2].runtime_error == "killed by signal SIGSEGV"
        assert chunk[0].value == chunk[1].value  # same child before the crash
        assert chunk[3].value is not None and chunk[3].value != chunk[0].value  # a fresh child after


def test_every_sample_has_its_own_wall_clock_deadline(pool: PoolHandle) -> None:
    # TEST_LIMITS: 2 s per sample. Two 1.2 s samples share each chunk's child (2.4 s in all): both pass.
    started = time.monotonic()
    outcomes = _batch(pool, _jobs(SLEEPER, ["1.2", "1.2", "1.2", "1.2"]))
    assert [o.value for o in outcomes] == [1.0] * 4
    assert time.monotonic() - started >= 2.4
    stuck = _batch(pool, _jobs(SLEEPER, ["100", "0", "100", "0"]))
    assert [o.value for o in stuck] == [None, 1.0, None, 1.0]
    assert stuck[0].runtime_error == "wall-clock limit of 2 s exceeded"


def test_a_batch_holds_one_grader_only(pool: PoolHandle) -> None:
    jobs = [PythonJob(PID, {"output_text": ""}, None), PythonJob(SLEEPER, {"output_text": "0"}, None)]
    with pytest.raises(ValueError, match="one python grader"):
        _batch(pool, jobs)
    assert _batch(pool, []) == []


def test_every_sample_has_its_own_cpu_budget() -> None:
    # A wall clock far above the CPU budget: on a loaded machine the CPU limit must still speak first.
    handle = open_pool(
        SandboxLimits(timeout_s=30.0, cpu_s=1.0, memory_mb=256, disk_mb=16, output_kb=64), workers=1
    )
    try:
        outcomes = handle.loop.call(
            handle.pool.run_batch(_jobs(SPINNER, ["0.6", "0.6", "0.6", "30", "0.1"])), 180
        )
        assert [o.value for o in outcomes[:3]] == [0.6, 0.6, 0.6]  # 1.8 s of CPU in one child, 1 s each
        assert outcomes[3].runtime_error == "CPU time limit of 1 s exceeded"
        assert outcomes[4].value == 0.1
    finally:
        close_pool(handle)
