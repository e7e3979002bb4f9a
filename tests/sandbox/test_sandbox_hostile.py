"""Hostile graders: each is contained, reported with its cause, and the next job is answered normally."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import CANARY_ENV, CANARY_SECRET, PoolHandle, sandbox_processes, wait_until, zygote_pids

NEXT_JOB = "def grade(sample, item):\n    return 0.25\n"


@dataclass(frozen=True)
class Expect:
    """The outcome kind and a pattern its text must match; `mode` narrows it to one protection mode."""

    kind: str  # "value" | "runtime_error"
    pattern: str = ""
    value: float | None = None


PERMISSION = r"PermissionError: \[Errno (1|13)\] (Operation not permitted|Permission denied)"
# Denied, or not there at all: the child's view of the file system need not hold the canary (e.g. a
# fresh venv under pytest's own 0700 temp dir, which the sandbox shows to the child through a tmpfs).
UNREADABLE = PERMISSION + r"|^FileNotFoundError: \[Errno 2\] No such file or directory: '[^']*canary.txt'"
HOSTILE: dict[str, tuple[str, Expect | dict[str, Expect]]] = {
    "infinite-loop": (
        "def grade(s, i):\n    while True:\n        pass",
        Expect("runtime_error", r"^(wall-clock limit of 2 s exceeded|CPU time limit of 2 s exceeded)$"),
    ),
    "sleep-forever": (
        "import time\ndef grade(s, i):\n    time.sleep(10**6)",
        Expect("runtime_error", r"^wall-clock limit of 2 s exceeded$"),
    ),
    "memory-bomb": (
        "def grade(s, i):\n    hog = []\n    while True:\n        hog.append(bytearray(50 * 2**20))",
        Expect("runtime_error", r"^memory limit of 256 MB exceeded \(MemoryError\)"),
    ),
    "numpy-memory-bomb": (
        "import numpy as np\ndef grade(s, i):\n    return float(np.ones(10**10).sum())",
        Expect("runtime_error", r"^memory limit of 256 MB exceeded \(MemoryError\).*ArrayMemoryError"),
    ),
    "fork-bomb": (
        """
import os
def grade(sample, item):
    forks = 0
    for _ in range(50):
        try:
            pid = os.fork()
        except OSError:
            continue
        if pid == 0:
            os._exit(0)
        forks += 1
    return float(forks)
""",
        Expect("value", value=0.0),
    ),
    "double-fork-setsid-escape": (
        """
import os, time
def grade(sample, item):
    try:
        pid = os.fork()
    except OSError:
        try:
            os.setsid()
        except OSError:
            return -1.0
        return -2.0
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(60)
        os._exit(0)
    return 1.0
""",
        Expect("value", value=-1.0),
    ),
    "one-huge-file": (
        "def grade(s, i):\n    with open('big.bin', 'wb') as f:\n        f.write(b'x' * (64 * 2**20))\n    return 1",
        Expect("runtime_error", r"^disk limit of 16 MB exceeded"),
    ),
    "many-files-disk-fill": (
        """
def grade(sample, item):
    n = 0
    while True:
        with open(f"fill-{n}.bin", "wb") as handle:
            handle.write(b"x" * 2**20)
        n += 1
""",
        Expect("runtime_error", r"^disk limit of 16 MB exceeded"),
    ),
    "read-canary-outside": (
        "def grade(s, item):\n    return float(len(open(item['canary']).read()))",
        Expect("runtime_error", UNREADABLE),
    ),
    "read-etc-passwd": (
        "def grade(s, i):\n    return float(len(open('/etc/passwd').read()))",
        Expect("runtime_error", PERMISSION),
    ),
    "read-server-proc-environ": (
        "def grade(s, item):\n    return float(len(open(f\"/proc/{item['server_pid']}/environ\", 'rb').read()))",
        Expect("runtime_error", PERMISSION),
    ),
    "read-parent-proc-environ": (
        "import os\ndef grade(s, i):\n    return float(len(open(f'/proc/{os.getppid()}/environ', 'rb').read()))",
        Expect("runtime_error", PERMISSION),
    ),
    "server-env-secret": (
        f"""
import os
def grade(sample, item):
    leaked = {CANARY_ENV!r} in os.environ or any(item["secret"] in v for v in os.environ.values())
    leaked = leaked or any(k.startswith("GRADERS_EMULATOR_") for k in os.environ)
    return float(leaked)
""",
        Expect("value", value=0.0),
    ),
    "tcp-connect-to-server": (
        "import socket\ndef grade(s, item):\n    socket.create_connection(('127.0.0.1', item['port']), 1)\n    return 1",
        Expect("runtime_error", r"(Operation not permitted|Permission denied|Network is unreachable)"),
    ),
    "kill-parent-sigkill": (
        "import os, signal\ndef grade(s, i):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1",
        Expect("runtime_error", PERMISSION),  # Landlock's signal scoping refuses it
    ),
    "kill-server-sigusr1": (
        "import os, signal\ndef grade(s, item):\n    os.kill(item['server_pid'], signal.SIGUSR1)\n    return 1",
        Expect("runtime_error", r"(ProcessLookupError|PermissionError)"),
    ),
    "kill-parent-sigusr1": (
        "import os, signal\ndef grade(s, i):\n    os.kill(os.getppid(), signal.SIGUSR1)\n    return 1",
        Expect("runtime_error", PERMISSION),
    ),
    "subprocess-id": (
        "import subprocess\ndef grade(s, i):\n    subprocess.run(['id'], check=True)\n    return 1",
        Expect("runtime_error", PERMISSION),
    ),
    "print-100-mb": (
        "def grade(s, i):\n    for _ in range(100):\n        print('x' * 2**20)\n    return 1",
        Expect("runtime_error", r"^output limit of 64 KB exceeded"),
    ),
    "infinite-recursion": (
        "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1) + 1\ndef grade(s, i):\n    return f(0)",
        Expect(
            "runtime_error",
            r"(RecursionError|memory limit of 256 MB|wall-clock limit|CPU time limit|SIGSEGV)",
        ),
    ),
    "sys-exit": ("import sys\ndef grade(s, i):\n    sys.exit(3)", Expect("runtime_error", r"^SystemExit: 3")),
    "os-exit": (
        "import os\ndef grade(s, i):\n    os._exit(3)",
        Expect("runtime_error", r"^exited with status 3"),
    ),
    "segfault-ctypes": (
        "import ctypes\ndef grade(s, i):\n    return ctypes.string_at(0)",
        Expect("runtime_error", r"^killed by signal SIGSEGV$"),
    ),
    "return-str": ("def grade(s, i):\n    return 'abc'", Expect("runtime_error", r"got str")),
    "return-bool": ("def grade(s, i):\n    return True", Expect("runtime_error", r"got bool")),
    "return-nan": ("def grade(s, i):\n    return float('nan')", Expect("runtime_error", r"returned nan")),
    "return-10-pow-400": ("def grade(s, i):\n    return 10**400", Expect("runtime_error", r"OverflowError")),
    "missing-grade": ("def evaluate(s, i):\n    return 1", Expect("runtime_error", r"does not define grade")),
    "syntax-error": (
        "def grade(s, i) return 1",
        Expect("runtime_error", r"^SyntaxError: expected ':' \(line 1\)"),
    ),
    "close-result-and-stdout": (
        "import os\ndef grade(s, i):\n    for fd in range(1, 64):\n        try: os.close(fd)\n"
        "        except OSError: pass\n    return 1",
        Expect("runtime_error", r"^(exited with status 70|killed by signal)"),
    ),
    "fake-result-then-loop": (
        "import os\ndef grade(s, i):\n    for fd in range(3, 64):\n        try: os.write(fd, b'{\"value\": 9.0}\\n')\n"
        "        except OSError: pass\n    while True: pass",
        Expect("value", value=9.0),  # a grader can only forge its own reward; the loop is cut short
    ),
}


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "canary.txt"
    path.write_text(CANARY_SECRET)
    return path


@pytest.mark.parametrize("name", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_grader_is_contained(
    pool: PoolHandle, mode: str, name: str, listener: socket.socket, canary: Path
) -> None:
    source, expected = HOSTILE[name]
    expect = expected[mode] if isinstance(expected, dict) else expected
    zygotes_before = zygote_pids(pool.pool.token)
    item: dict[str, Any] = {
        "canary": str(canary),
        "server_pid": os.getpid(),
        "port": listener.getsockname()[1],
        "secret": CANARY_SECRET,
    }
    outcome = pool.run(source, {"output_text": "x"}, item)

    assert outcome.server_error_type is None, outcome
    if expect.kind == "value":
        assert outcome.runtime_error is None and outcome.value == expect.value, outcome
    else:
        assert outcome.value is None and outcome.runtime_error is not None, outcome
        assert re.search(expect.pattern, outcome.runtime_error, re.S), outcome.runtime_error
    assert CANARY_SECRET not in outcome.stdout + (outcome.runtime_error or "")
    assert len(outcome.stdout.encode()) <= 64 * 1024

    # The very next job on the same pool is answered normally, by the same zygotes.
    assert pool.run(NEXT_JOB).value == 0.25
    assert zygotes_before <= zygote_pids(pool.pool.token)  # none died (a second may have warmed meanwhile)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing got through to the server's port
    _assert_only_zygotes_and_spares(pool)


def _assert_only_zygotes_and_spares(pool: PoolHandle) -> None:
    """Every sandbox process is a zygote or its one spare: no escaped grandchildren."""
    token = pool.pool.token

    def settled() -> bool:
        zygotes = zygote_pids(token)
        others = [pid for pid, _ in sandbox_processes(token) if pid not in zygotes]
        return len(others) <= len(zygotes)

    assert wait_until(settled), sandbox_processes(token)


def test_canary_is_readable_outside_the_sandbox(canary: Path) -> None:
    """The file the sandbox may not read exists and is readable to the server itself."""
    assert canary.read_text() == CANARY_SECRET
