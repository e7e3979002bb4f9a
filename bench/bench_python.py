"""Python-grader latency and throughput: through SandboxPool.run directly, then over HTTP next to string_check.

Usage: .venv/bin/python bench/bench_python.py [--calls 200] [--duration 3] [--skip-http]

Latency is measured with a short idle gap between calls (the pool's pre-forked spare is ready, as for
a client that is not saturating the server) and back to back (the spare's fork competes with the next
call). Next to it, the CPU one job costs the zygote and its children (forking the spare, the child's
set-up, the job, its exit), read from /proc: a figure the machine's other load hardly moves. Run as
root, the direct part is repeated with `force_unprivileged` (no namespaces, job dir emptied between
jobs), the mode the sandbox has under a non-root uid. The HTTP part starts a real uvicorn server in a subprocess per pool size, needs `graders_emulator.main`
(`create_app`), and is skipped with a note when that is not importable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders_emulator.grading.context import PythonJob  # noqa: E402
from graders_emulator.sandbox import SandboxLimits, SandboxPool  # noqa: E402

RUN_PATH = "/v1/fine_tuning/alpha/graders/run"
SIMPLE = (
    "def grade(sample, item):\n    return 1.0 if sample['output_text'] == item['reference_answer'] else 0.0\n"
)
NUMPY = (
    "import numpy as np\n"
    "def grade(sample, item):\n"
    "    a = np.frombuffer(sample['output_text'].encode(), dtype=np.uint8).astype(float)\n"
    "    b = np.frombuffer(item['reference_answer'].encode(), dtype=np.uint8).astype(float)\n"
    "    return float(np.allclose(a, b))\n"
)
ITEM = {"reference_answer": "Paris"}
BODIES: dict[str, dict[str, Any]] = {
    "string_check": {
        "grader": {
            "type": "string_check",
            "name": "sc",
            "input": "{{sample.output_text}}",
            "reference": "{{item.reference_answer}}",
            "operation": "eq",
        },
        "model_sample": "Paris",
        "item": ITEM,
    },
    "python simple": {
        "grader": {"type": "python", "name": "py", "source": SIMPLE},
        "model_sample": "Paris",
        "item": ITEM,
    },
    "python numpy": {
        "grader": {"type": "python", "name": "np", "source": NUMPY},
        "model_sample": "Paris",
        "item": ITEM,
    },
}
IDLE_S = 0.02


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


async def timed(call: Callable[[], Awaitable[object]], calls: int, idle_s: float) -> list[float]:
    samples = []
    for _ in range(calls):
        if idle_s:
            await asyncio.sleep(idle_s)
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


# ---------------------------------------------------------------------------------------------
# SandboxPool.run directly


def zygote_cpu_ms(pid: int) -> float:
    """CPU of a zygote and of its reaped children so far (utime, stime, cutime, cstime), in ms."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")


async def bench_direct(calls: int, force_unprivileged: bool = False) -> list[tuple[str, float, float]]:
    pool = SandboxPool(1, SandboxLimits(timeout_s=10), force_unprivileged=force_unprivileged)
    await pool.start()
    rows = []
    mode = " (unprivileged)" if force_unprivileged else ""
    try:
        for name, source in (("simple", SIMPLE), ("numpy", NUMPY)):
            job = PythonJob(source, {"output_text": "Paris"}, ITEM)

            async def one(job: PythonJob = job) -> None:
                outcome = await pool.run(job)
                assert outcome.value == 1.0, outcome

            await timed(one, 5, 0)  # warm-up (includes waiting for the zygote's imports)
            zygote = next(worker.proc.pid for worker in pool._live)
            for label, idle in (("idle 20 ms", IDLE_S), ("back-to-back", 0.0)):
                rows.append((f"pool.run {name}, {label}{mode}", *percentiles(await timed(one, calls, idle))))
            await asyncio.sleep(0.5)  # the last children are reaped once the zygote is idle
            cpu = zygote_cpu_ms(zygote)
            await timed(one, calls, IDLE_S)
            await asyncio.sleep(0.5)
            print(
                f"CPU per {name} job{mode}: {(zygote_cpu_ms(zygote) - cpu) / calls:.1f} ms (zygote + children)"
            )
        print(f"protections: {pool.protections()}")
    finally:
        await pool.close()
    return rows


# ---------------------------------------------------------------------------------------------
# Over HTTP, against a real uvicorn server in its own process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`uvicorn` serving `create_app()` with GRADERS_EMULATOR_* settings, in a subprocess."""

    def __init__(self, workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        env = {
            **os.environ,
            "GRADERS_EMULATOR_PYTHON_WORKERS": str(workers),
            "GRADERS_EMULATOR_AUTH": "false",
            "GRADERS_EMULATOR_JOURNAL_SIZE": "0",
        }
        code = (
            "import uvicorn; from graders_emulator.main import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={self.port}, log_level='warning', access_log=False)"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_warm(self, client: Any, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready = (await client.get(f"{self.url}/readyz")).json()
                if ready.get("sandbox", {}).get("warm") == self.workers:
                    return dict(ready["sandbox"])
            except Exception:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError("server did not warm up")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def post(client: Any, url: str, body: dict[str, Any]) -> None:
    response = await client.post(url + RUN_PATH, json=body)
    assert response.status_code == 200 and response.json()["reward"] == 1.0, response.text


async def bench_http_latency(calls: int) -> list[tuple[str, float, float]]:
    import httpx

    server = Server(workers=2)
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            await server.wait_warm(client)
            samples: dict[str, list[float]] = {name: [] for name in BODIES}
            for body in BODIES.values():
                await timed(lambda body=body: post(client, server.url, body), 10, 0)  # warm-up
            for _ in range(calls):  # interleaved, so the machine's noise hits all three alike
                for name, body in BODIES.items():
                    samples[name] += await timed(lambda body=body: post(client, server.url, body), 1, IDLE_S)
            return [(f"HTTP {name}", *percentiles(values)) for name, values in samples.items()]
    finally:
        server.stop()


async def throughput(client: Any, url: str, body: dict[str, Any], clients: int, duration: float) -> float:
    done = 0
    stop_at = time.perf_counter() + duration

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await post(client, url, body)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def bench_http_throughput(duration: float) -> list[tuple[int, int, float, float]]:
    import httpx

    rows = []
    for workers in (1, 2, 4):
        server = Server(workers)
        try:
            limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                await server.wait_warm(client)
                await throughput(client, server.url, BODIES["python simple"], 2, 0.5)  # warm-up
                for clients in (1, 2, 4):
                    python_rps = await throughput(
                        client, server.url, BODIES["python simple"], clients, duration
                    )
                    string_rps = await throughput(
                        client, server.url, BODIES["string_check"], clients, duration
                    )
                    rows.append((workers, clients, python_rps, string_rps))
        finally:
            server.stop()
    return rows


def http_available() -> bool:
    try:
        import httpx  # noqa: F401

        from graders_emulator.main import create_app  # noqa: F401
    except ImportError as exc:
        print(f"HTTP part skipped: {exc}")
        return False
    return True


def print_latency(rows: list[tuple[str, float, float]], reference: tuple[float, float] | None) -> None:
    print(f"{'what':44} {'p50 ms':>8} {'p95 ms':>8} {'p50 x ref':>10} {'p50 - ref':>10}")
    for name, p50, p95 in rows:
        extra = f"{p50 / reference[0]:>10.2f} {p50 - reference[0]:>+10.2f}" if reference else ""
        print(f"{name:44} {p50:>8.2f} {p95:>8.2f} {extra}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}\n")

    print("== SandboxPool.run directly (1 worker) ==")
    rows = await bench_direct(args.calls)
    if os.geteuid() == 0:
        rows += await bench_direct(args.calls, force_unprivileged=True)
    print_latency(rows, None)
    print(f"load {os.getloadavg()[0]:.2f}")
    if args.skip_http or not http_available():
        return

    print("\n== over HTTP, uvicorn in a subprocess, 2 workers; ref = string_check ==")
    rows = await bench_http_latency(args.calls)
    reference = next((p50, p95) for name, p50, p95 in rows if name == "HTTP string_check")
    print_latency(rows, reference)
    print(f"load {os.getloadavg()[0]:.2f}")
    simple = next(p50 for name, p50, _ in rows if name == "HTTP python simple")
    verdict = "met" if simple - reference[0] <= 5 else "NOT met"
    print(f"target: warm p50 of a simple python grader within 5 ms of string_check: {verdict}")

    print(f"\n== throughput over HTTP, {args.duration:g} s per cell, req/s ==")
    print(
        f"{'workers':>7} {'clients':>7} {'python':>9} {'string_check':>13} {'python/sc':>10} {'vs 1 worker':>12}"
    )
    base: dict[int, float] = {}
    for workers, clients, python_rps, string_rps in await bench_http_throughput(args.duration):
        base.setdefault(clients, python_rps)
        scale = python_rps / base[clients]
        ratio = python_rps / string_rps
        print(
            f"{workers:>7} {clients:>7} {python_rps:>9.1f} {string_rps:>13.1f} {ratio:>10.2f} {scale:>12.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
