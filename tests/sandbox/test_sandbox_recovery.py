"""Workers come back after they die, and stopped servers leave no `graders-sandbox-*` directory behind."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sandbox_helpers import MODES, PROJECT_APP, close_pool, open_mode_pool, wait_until, zygote_pids

from graders_emulator.sandbox import SandboxLimits, leftovers
from graders_emulator.sandbox.outcome import MAX_RESULT_DEPTH, ChildEnd, nesting_depth, reply_for

LIGHT = ["json", "math"]
NORMAL = "def grade(sample, item):\n    return 0.25\n"
UNREADABLE = "the grader's process wrote an unreadable result"


# ---------------------------------------------------------------------------------------------
# The result line, parsed defensively (finding 6) — pure checks against hand-built inputs


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'{"value": 0.5}', 1),
        (b'{"a": [[1], {"b": []}]}', 4),
        (b'{"error": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ in a string"}', 1),
        (b'{"error": "quote \\" then [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 1),
        (b"[" * 60000, 60000),
    ],
    ids=["flat", "nested-3", "brackets-in-string", "escaped-quote", "60000"],
)
def test_nesting_depth_counts_only_structure(raw: bytes, depth: int) -> None:
    assert nesting_depth(raw) == depth


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 60000 + b"\n",
        b"{" * 100000,
        b'{"value": ' + b"[" * (MAX_RESULT_DEPTH + 1) + b"]" * (MAX_RESULT_DEPTH + 1) + b"}\n",
        b'{"value": 1e999}\n',
        b"\xff\xfe\n",
        b'{"value": 1.0' + b" " * 70000 + b"}\n",  # longer than the 64 KiB read: cut, so not JSON
    ],
    ids=["brackets", "braces", "deep-value", "infinite", "not-utf8", "over-64k"],
)
def test_a_hostile_result_line_maps_to_a_runtime_error(raw: bytes) -> None:
    """Any result the parser rejects, or that would make it raise anything, is the job's runtime error."""
    assert reply_for(ChildEnd(raw, 0, 0.0), SandboxLimits()) == {"runtime_error": UNREADABLE}


def test_a_result_just_within_the_depth_bound_is_still_parsed() -> None:
    nested = b"[" * (MAX_RESULT_DEPTH - 1) + b"]" * (MAX_RESULT_DEPTH - 1)
    assert reply_for(ChildEnd(b'{"value": 0.5, "x": ' + nested + b"}\n", 0, 0.0), SandboxLimits()) == {
        "value": 0.5
    }


# ---------------------------------------------------------------------------------------------
# A worker that dies anyway is replaced, and a storm of deaths never leaves the pool empty


@pytest.mark.parametrize("mode", MODES, ids=MODES)
def test_killed_zygotes_are_respawned_with_backoff_and_the_pool_recovers(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    handle = open_mode_pool(mode, SandboxLimits(timeout_s=5), workers=1, preload=LIGHT)
    try:
        assert handle.run(NORMAL).value == 0.25
        killed: set[int] = set()
        with caplog.at_level(logging.WARNING, logger="graders_emulator.sandbox"):
            for _ in range(4):  # a storm: each new zygote dies as soon as it is warm

                def warm_and_new() -> bool:
                    return handle.pool.protections()["warm"] == 1 and bool(
                        zygote_pids(handle.pool.token) - killed
                    )

                assert wait_until(warm_and_new, 60)
                for pid in zygote_pids(handle.pool.token) - killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                    assert wait_until(lambda pid=pid: _dead(pid), 10)
            started = time.monotonic()
            assert handle.run(NORMAL).value == 0.25  # waits for the next one: the pool never stays empty
            assert time.monotonic() - started < 60
        delays = [float(m) for m in re.findall(r"starting another in ([\d.]+) s", caplog.text)]
        assert len(delays) >= 4 and delays[0] == 0.0 and max(delays) > 0.0, (
            delays
        )  # later quick deaths back off
        assert not killed & zygote_pids(handle.pool.token)
    finally:
        close_pool(handle)


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


# ---------------------------------------------------------------------------------------------
# Finding 14: leftover directories


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_dirs_of_dead_owners_and_keeps_live_ones(tmp_path: Path) -> None:
    dead = tmp_path / f"graders-sandbox-{_dead_pid()}-abc123"
    (dead / "job" / "locked").mkdir(parents=True)
    (dead / "job" / "locked" / "f").write_text("x")
    (dead / "job" / "locked").chmod(0)  # a grader's chmod must not make it unremovable
    live = tmp_path / f"graders-sandbox-{os.getpid()}-def456"
    live.mkdir()
    unowned_idle = tmp_path / "graders-sandbox-k2j4_x9"  # the old naming, no process works there
    unowned_idle.mkdir()
    unowned_busy = tmp_path / "graders-sandbox-busy_1"
    unowned_busy.mkdir()
    unowned_new = tmp_path / "graders-sandbox-fresh_2"  # made a moment ago: its zygote may be starting
    unowned_new.mkdir()
    an_hour_ago = time.time() - 3600
    for old in (unowned_idle, unowned_busy):
        os.utime(old, (an_hour_ago, an_hour_ago))
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"], cwd=unowned_busy)
    try:
        removed = leftovers.sweep_stale(str(tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(removed) == sorted([str(dead), str(unowned_idle)])
    assert not dead.exists() and not unowned_idle.exists()
    assert live.exists() and unowned_busy.exists() and unowned_new.exists() and unrelated.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server_tmp(tmp_path: Path) -> Path:
    folder = tmp_path / "server-tmp"
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def _start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "PYTHONPATH": str(PROJECT_APP),
        "GRADERS_EMULATOR_PYTHON_WORKERS": "2",
        "GRADERS_EMULATOR_PYTHON_PRELOAD": '["json"]',
    }
    code = f"from graders_emulator.cli import main; raise SystemExit(main(['serve', '--port', '{port}']))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return proc, f"http://127.0.0.1:{port}"


def _grade_once(base: str) -> None:
    body = {
        "grader": {"type": "python", "name": "py", "source": "def grade(s, i):\n    return 0.5\n"},
        "model_sample": "x",
    }
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(
                f"{base}/v1/fine_tuning/alpha/graders/run",
                json=body,
                headers={"Authorization": "Bearer sk-test"},
                timeout=30,
            )
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert answer.status_code == 200, answer.text
        errors = answer.json()["metadata"]["errors"]
        assert answer.json()["reward"] == 0.5, {k: v for k, v in errors.items() if v}
        return
    raise AssertionError("the server did not answer")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_server_leaves_no_sandbox_directories(server_tmp: Path, signum: int) -> None:
    """Finding 14: 33 `graders-sandbox-*` dirs after an afternoon of test runs stopped with SIGTERM.

    SIGTERM: the pool closes its zygotes. SIGKILL: nothing of the server runs, yet each zygote sees its
    pipe close and removes its own directory on the way out.
    """
    proc, base = _start_server(server_tmp)
    try:
        _grade_once(base)
        assert list(server_tmp.glob("graders-sandbox-*")), "the workers' directories were never made here"
        proc.send_signal(signum)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert wait_until(lambda: not list(server_tmp.glob("graders-sandbox-*")), 15), list(server_tmp.iterdir())
    assert wait_until(lambda: not _processes_working_in(server_tmp), 10)  # no zygote of that server lingers


def test_a_new_pool_sweeps_what_a_killed_owner_left(
    server_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dir whose owner and zygote were both SIGKILLed is removed when the next pool starts."""
    stale = server_tmp / f"graders-sandbox-{_dead_pid()}-zz9"
    (stale / "job").mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(server_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    handle = open_mode_pool("root-namespaces", SandboxLimits(timeout_s=5), workers=1, preload=LIGHT)
    try:
        assert not stale.exists()
        assert handle.run(NORMAL).value == 0.25
    finally:
        close_pool(handle)
    assert wait_until(lambda: not list(server_tmp.glob("graders-sandbox-*")), 10)


def _processes_working_in(folder: Path) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/cwd").startswith(str(folder)):
                    found.append(int(name))
            except OSError:
                continue
    return found
