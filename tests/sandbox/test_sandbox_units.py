"""Pure parts of the sandbox: outcome mapping, value checks, framing, limits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_helpers import wait_until

from graders_emulator.sandbox import SandboxLimits, hugepages, teardown
from graders_emulator.sandbox.child import check_value, describe
from graders_emulator.sandbox.outcome import ChildEnd, reply_for
from graders_emulator.sandbox.protocol import encode, read_frame, read_frame_async, write_frame

LIMITS = SandboxLimits(timeout_s=2.5, cpu_s=3, memory_mb=512, disk_mb=8, output_kb=16)


def _signalled(signum: int) -> int:
    return signum  # a wait status for "killed by signum" is the signal number itself


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (ChildEnd(b'{"value": 0.5}\n', 0, 0.0), {"value": 0.5}),
        (ChildEnd(b'{"error": "ValueError: x"}\n', 0, 0.0), {"runtime_error": "ValueError: x"}),
        (
            ChildEnd(b'{"server_error": "sandbox_setup_failed", "details": "d"}\n', 0, 0.0),
            {"server_error_type": "sandbox_setup_failed", "server_error_details": "d"},
        ),
        (ChildEnd(b"", 0, 0.1, timed_out=True), {"runtime_error": "wall-clock limit of 2.5 s exceeded"}),
        (ChildEnd(b"", 0, 0.1, disk_exceeded=True), {"runtime_error": "disk limit of 8 MB exceeded"}),
        (ChildEnd(b"", _signalled(signal.SIGKILL), 3.0), {"runtime_error": "CPU time limit of 3 s exceeded"}),
        (ChildEnd(b"", _signalled(signal.SIGKILL), 0.2), {"runtime_error": "killed by signal SIGKILL"}),
        (ChildEnd(b"", _signalled(signal.SIGSEGV), 0.2), {"runtime_error": "killed by signal SIGSEGV"}),
        (ChildEnd(b"", 3 << 8, 0.0), {"runtime_error": "exited with status 3 without returning"}),
        (ChildEnd(b"garbage\n", 0, 0.0), {"runtime_error": "the grader's process wrote an unreadable result"}),
        (ChildEnd(b'{"value": true}\n', 0, 0.0), {"runtime_error": "the grader's process wrote an unreadable result"}),
    ],
    ids=[
        "value", "error", "server-error", "wall", "disk", "cpu", "sigkill", "segv", "exit-3", "garbage",
        "forged-bool",
    ],
)  # fmt: skip
def test_reply_for(end: ChildEnd, expected: dict[str, object]) -> None:
    assert reply_for(end, LIMITS) == expected


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), (0.5, True), (-3, True), (True, False), ("1", False), (None, False), (float("inf"), False)],
    ids=["int", "float", "negative-int", "bool-refused", "str-refused", "none-refused", "inf-refused"],
)
def test_check_value(value: object, ok: bool) -> None:
    assert ("value" in check_value(value)) is ok


def test_describe_names_limits() -> None:
    assert describe(MemoryError(), LIMITS).startswith("memory limit of 512 MB exceeded (MemoryError)")
    assert describe(OSError(28, "No space left on device"), LIMITS).startswith("disk limit of 8 MB exceeded")


def test_limits_defaults_and_cpu() -> None:
    default = SandboxLimits()
    assert (default.timeout_s, default.cpu_s, default.memory_mb, default.disk_mb, default.output_kb) == (
        30.0,
        None,
        2048,
        1024,
        1024,
    )
    assert default.cpu_seconds == 30 and SandboxLimits(timeout_s=2.2).cpu_seconds == 3
    assert SandboxLimits.from_wire(LIMITS.to_wire()) == LIMITS


def test_frames_round_trip_over_a_pipe_and_a_stream() -> None:
    message = {"op": "run", "job": {"source": "x" * 200_000, "item": [1, None, "é"]}}
    read_fd, write_fd = os.pipe()
    try:
        os.set_blocking(write_fd, True)
        import threading

        writer = threading.Thread(target=write_frame, args=(write_fd, message))
        writer.start()
        assert read_frame(read_fd) == message
        writer.join()
        os.close(write_fd)
        write_fd = -1
        assert read_frame(read_fd) is None  # end of file
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)

    async def via_stream() -> object:
        reader = asyncio.StreamReader()
        reader.feed_data(encode(message))
        return await read_frame_async(reader)

    assert asyncio.run(via_stream()) == message


def test_anonymous_ranges_keep_the_aligned_parts_of_private_writable_anonymous_maps() -> None:
    mib = 1024 * 1024
    maps = "\n".join(
        [
            f"{6 * mib:x}-{76 * mib + 4096:x} rw-p 00000000 00:00 0          [heap]",  # 6..76 MiB
            f"{3 * mib:x}-{9 * mib + 4096:x} rw-p 00000000 00:00 0",  # 3..9 MiB: the 4..8 MiB part
            f"{20 * mib:x}-{21 * mib:x} rw-p 00000000 00:00 0",  # under one aligned huge page: none
            f"{40 * mib:x}-{48 * mib:x} r--p 00000000 08:01 12 /usr/lib/libc.so.6",  # file: never
            f"{50 * mib:x}-{54 * mib:x} rw-s 00000000 00:01 7 /dev/zero (deleted)",  # shared: never
            f"{60 * mib:x}-{64 * mib:x} rw-p 00000000 00:00 0          [stack]",
        ]
    )
    assert hugepages.anonymous_ranges(maps) == [(6 * mib, 76 * mib), (4 * mib, 8 * mib)]


def _sleeper_with_a_thread() -> subprocess.Popen[bytes]:
    code = "import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    assert wait_until(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) == 2)
    return proc


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_process_counts_as_exiting_only_once_every_thread_is_in_its_exit() -> None:
    proc = _sleeper_with_a_thread()
    pidfd = os.pidfd_open(proc.pid)
    try:
        assert not teardown.all_exiting(proc.pid)  # both threads asleep in a system call
        os.kill(proc.pid, signal.SIGSTOP)
        assert wait_until(lambda: _state(proc.pid) == "T")
        assert not teardown.all_exiting(proc.pid)  # stopped is not exiting: it would go on when continued
        assert not teardown.wait_exiting(proc.pid, pidfd, 0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert teardown.wait_exiting(proc.pid, pidfd, 5.0)
        assert os.waitpid(proc.pid, 0)[0] == proc.pid  # still ours to reap: exiting is not reaped
    finally:
        os.close(pidfd)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            proc.kill()
            proc.wait()


def test_a_lowered_teardown_is_raised_back() -> None:
    proc = _sleeper_with_a_thread()
    try:
        assert teardown.lower(proc.pid)
        assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
        teardown.restore([proc.pid])
        assert os.sched_getscheduler(proc.pid) == os.SCHED_OTHER
    finally:
        proc.kill()
        proc.wait()
