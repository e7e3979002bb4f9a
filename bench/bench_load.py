"""Load test: a real server (subprocess) under 64+ concurrent mixed requests with injected faults.

Usage: .venv/bin/python bench/bench_load.py [--duration 300] [--concurrency 64] [--python-workers 2]
CI: `--duration 10`. Reports throughput, p50/p95/p99 latency (overall and per kind), expected and
unexpected outcomes, and the server's RSS at start and end. Exits 1 on any unexpected outcome (or,
with --max-rss-growth-mb, on more RSS growth than that). Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RUN = "/v1/fine_tuning/alpha/graders/run"
AUTH = {"authorization": "Bearer sk-bench"}

EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
FUZZY = {
    "type": "text_similarity",
    "name": "fuzzy",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "fuzzy_match",
}
PYTHON = {
    "type": "python",
    "name": "py",
    "source": "def grade(sample, item):\n    return float(sample['output_text'] == item['answer'])\n",
}
JUDGE = {
    "type": "score_model",
    "name": "judge",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "Grade {{sample.output_text}}"}],
}
MULTI = {
    "type": "multi",
    "name": "multi",
    "graders": {"a": EXACT, "b": FUZZY},
    "calculate_output": "0.5 * a + 0.5 * b",
}
ITEM = {"answer": "Paris"}


def _body(grader: dict[str, Any], sample: str = "Paris") -> bytes:
    return json.dumps({"grader": grader, "model_sample": sample, "item": ITEM}).encode()


@dataclass(frozen=True)
class Kind:
    """One kind of request of the mix and the answer it must get."""

    name: str
    weight: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    check: Callable[[dict[str, Any]], bool] = lambda body: True


def _flag(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body["reward"] == 0.0 and body["metadata"]["errors"][name] is True


MIX = [
    Kind("string_check", 30, _body(EXACT), check=lambda b: b["reward"] == 1.0),
    Kind("text_similarity", 15, _body(FUZZY, "Paris!"), check=lambda b: 0.0 < b["reward"] <= 1.0),
    Kind(
        "multi", 10, _body(MULTI), check=lambda b: b["reward"] == 1.0 and set(b["sub_rewards"]) == {"a", "b"}
    ),
    Kind("python", 10, _body(PYTHON), check=lambda b: b["reward"] == 1.0),
    Kind("score_model", 10, _body(JUDGE), check=lambda b: 0.0 <= b["reward"] <= 1.0),
    Kind(
        "score_model+score", 5, _body(JUDGE), {"x-emulator-score": "0.7"}, check=lambda b: b["reward"] == 0.7
    ),
    Kind("fault:503", 5, _body(EXACT), {"x-emulator-status": "503"}, status=503),
    Kind(
        "fault:429",
        3,
        _body(EXACT),
        {"x-emulator-status": "429", "x-emulator-retry-after-ms": "5"},
        status=429,
    ),
    Kind(
        "fault:flag",
        5,
        _body(EXACT),
        {"x-emulator-errors": "other_error"},
        check=_flag("other_error"),
    ),
    Kind(
        "fault:latency20ms",
        3,
        _body(EXACT),
        {"x-emulator-latency-ms": "20"},
        check=lambda b: b["reward"] == 1.0,
    ),
    Kind("bad-json", 4, b'{"grader": ', status=400),
]


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def server(
    python_workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`graders-emulator serve --port 0` in a subprocess; yields (root URL, process)."""
    env = {**os.environ, "GRADERS_EMULATOR_LOG_LEVEL": "warning", **(extra_env or {})}
    command = [
        sys.executable,
        "-m",
        "graders_emulator.cli",
        "serve",
        "--port",
        "0",
        "--workers",
        str(python_workers),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "graders-emulator X listening on http://127.0.0.1:PORT/v1"
        url = line.strip().rsplit(" ", 1)[-1].removesuffix("/v1")
        _wait_ready(url, python_workers)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_ready(url: str, python_workers: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5).json()
            if python_workers == 0 or ready["sandbox"].get("warm", 0) >= python_workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not get ready in {timeout_s} s")


class Connection:
    """A minimal HTTP/1.1 keep-alive client (httpx's pool costs more CPU than the server at 64
    connections on a small machine, so it would measure itself)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"POST {path} HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}"]
        lines += ["content-type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def one(connection: Connection, kind: Kind, results: Results) -> None:
    started = time.perf_counter()
    try:
        status, data = await connection.post(RUN, kind.body, {**AUTH, **kind.headers})
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        results.unexpected.append(f"{kind.name}: {type(exc).__name__}: {exc}")
        await connection.close()
        return
    results.latencies[kind.name].append(time.perf_counter() - started)
    ok = status == kind.status
    if ok:
        body = json.loads(data)
        ok = (
            kind.check(body)
            if kind.status == 200
            else set(body["error"]) == {"message", "type", "param", "code"}
        )
    results.outcomes[f"{kind.name} {status}"] += 1
    if not ok:
        results.unexpected.append(f"{kind.name}: {status} {data[:200]!r}")


async def load(
    url: str, mix: list[Kind], duration_s: float, concurrency: int, seed: int = 1
) -> tuple[Results, float]:
    """`concurrency` connections send requests from the weighted mix until the time is up."""
    results = Results()
    rng = random.Random(seed)
    plan = rng.choices(mix, weights=[k.weight for k in mix], k=100_000)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    deadline = time.perf_counter() + duration_s
    counter = iter(range(10**12))

    async def worker() -> None:
        connection = Connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                await one(connection, plan[next(counter) % len(plan)], results)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.perf_counter() - started


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else 0.0
        return v, v, v
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def report(results: Results, elapsed: float, rss: tuple[int, int]) -> None:
    every = [v for values in results.latencies.values() for v in values]
    p50, p95, p99 = percentiles(every)
    print(f"requests {len(every):,} in {elapsed:.1f} s: {len(every) / elapsed:,.0f} req/s")
    print(f"latency ms  p50 {p50 * 1000:.1f}  p95 {p95 * 1000:.1f}  p99 {p99 * 1000:.1f}")
    print(f"{'kind':<20} {'count':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in sorted(results.latencies.items()):
        k50, k95, k99 = percentiles(values)
        print(f"{name:<20} {len(values):>8,} {k50 * 1000:>8.1f} {k95 * 1000:>8.1f} {k99 * 1000:>8.1f}")
    print("outcomes: " + ", ".join(f"{key} x{count}" for key, count in sorted(results.outcomes.items())))
    print(f"unexpected: {len(results.unexpected)}")
    for line in results.unexpected[:10]:
        print(f"  {line}")
    start, end = rss
    print(
        f"server RSS MB: start {start / 1024:.1f}, end {end / 1024:.1f} (growth {(end - start) / 1024:+.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--python-workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before RSS at start")
    parser.add_argument("--max-rss-growth-mb", type=float, help="fail when RSS grows more than this")
    parser.add_argument(
        "--python-weight", type=int, default=10, help="share of python graders in the mix (of ~100)"
    )
    args = parser.parse_args()
    mix = [
        Kind(k.name, args.python_weight, k.body, k.headers, k.status, k.check) if k.name == "python" else k
        for k in MIX
    ]
    print(f"mix: {', '.join(f'{k.name} {k.weight}' for k in mix)}; concurrency {args.concurrency}")
    with server(args.python_workers) as (url, proc):
        asyncio.run(load(url, mix, args.warmup, args.concurrency, seed=0))  # warm caches, journal, pools
        start = rss_kb(proc.pid)
        results, elapsed = asyncio.run(load(url, mix, args.duration, args.concurrency))
        end = rss_kb(proc.pid)
    report(results, elapsed, (start, end))
    grew = (end - start) / 1024
    if args.max_rss_growth_mb is not None and grew > args.max_rss_growth_mb:
        print(f"FAIL: RSS grew {grew:.1f} MB (limit {args.max_rss_growth_mb})")
        return 1
    return 1 if results.unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
