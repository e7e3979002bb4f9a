"""Helpers of the hostile-server tests: raw sockets, timed requests, the server's own RSS."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

AUTH = {"authorization": "Bearer sk-hostile"}
RUN = "/v1/fine_tuning/alpha/graders/run"
VALIDATE = "/v1/fine_tuning/alpha/graders/validate"
NORMAL_LATENCY_S = 1.0  # "the server still answers a normal request within normal latency"
STRING_CHECK = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}


@dataclass(frozen=True)
class Served:
    """A `graders-emulator serve` process on a free loopback port."""

    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def _env_value(value: object) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


@contextlib.contextmanager
def served(**settings: object) -> Iterator[Served]:
    """Start the real CLI server (settings as GRADERS_EMULATOR_* variables); SIGTERM it at the end.

    Waits, bounded, until start-up work is over (WordNet's warm-up holds the GIL for 1-3 s), so
    that latencies measure the attack, not the start.
    """
    env = {**os.environ, **{f"GRADERS_EMULATOR_{k.upper()}": _env_value(v) for k, v in settings.items()}}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "graders_emulator.cli", "serve", "--port", "0", "--log-level", "warning"],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
        )
        try:
            port = _announced_port(process, log)
            server = Served(process, port)
            _settle(server)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _announced_port(process: subprocess.Popen[str], log: Any, limit_s: float = 60.0) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], limit_s)
    line = process.stdout.readline() if ready else ""
    found = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
    if found is None:
        log.seek(0)
        raise RuntimeError(f"the server did not start: {line!r}\n{log.read()[-2000:]}")
    return int(found.group(1))


def _settle(server: Served, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    fast = 0
    while time.monotonic() < deadline and fast < 5:
        try:
            fast = fast + 1 if healthz_seconds(server.url) < 0.1 else 0
        except (httpx.HTTPError, AssertionError):
            fast = 0
        time.sleep(0.1)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def children_of(pid: int) -> list[int]:
    """The direct child processes of `pid` (started by any of its threads)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as children:
            found += [int(child) for child in children.read().split()]
    return found


def healthz_seconds(url: str) -> float:
    """Time of one GET /healthz on a fresh connection; fails the test if the answer is not 200."""
    started = time.perf_counter()
    response = httpx.get(f"{url}/healthz", timeout=10)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


def assert_normal(url: str) -> None:
    """The server answers /healthz and a string_check run within normal latency."""
    assert healthz_seconds(url) < NORMAL_LATENCY_S
    started = time.perf_counter()
    body = {"grader": STRING_CHECK, "model_sample": "Paris", "item": {"answer": "Paris"}}
    response = httpx.post(url + RUN, json=body, headers=AUTH, timeout=10)
    assert response.status_code == 200 and response.json()["reward"] == 1.0, response.text
    assert time.perf_counter() - started < NORMAL_LATENCY_S


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if code is not None:
        assert error["code"] == code
    assert "Traceback" not in response.text
    return dict(error)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def read_until_closed(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (bounded in time)."""
    sock.settimeout(timeout_s)
    chunks = []
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of one raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


@dataclass
class Background:
    """A call running in a thread while the test measures the server; its result or exception."""

    target: Callable[[], Any]
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.target()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout_s: float = 60.0) -> Any:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the background call did not finish in time"
        if self.error is not None:
            raise self.error
        return self.result


def health_while(running: Callable[[], bool], url: str, limit_s: float = 30.0) -> list[float]:
    """/healthz latencies, measured repeatedly while `running()` holds (bounded in time and count)."""
    latencies: list[float] = []
    deadline = time.monotonic() + limit_s
    while running() and time.monotonic() < deadline and len(latencies) < 200:
        latencies.append(healthz_seconds(url))
        time.sleep(0.1)
    return latencies


@contextlib.contextmanager
def sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    opened = [connect(port) for _ in range(count)]
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def metric_value(url: str, name: str) -> float:
    """One unlabelled sample of the server's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
