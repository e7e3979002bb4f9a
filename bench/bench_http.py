"""HTTP throughput of `run` per grader type, as a ratio to a bare FastAPI endpoint, and start-up time.

Usage: python bench/bench_http.py [--duration 5] [--connections 32] [--repeats 3]
Needs `wrk` (Debian: apt-get install wrk). Both servers stay up (an idle server costs nothing) and
every measurement of a target is paired with a measurement of the bare endpoint taken just before
it: on a shared machine the load drifts by 20% within minutes, and a ratio of two runs seconds apart
is far steadier than a ratio of two medians taken minutes apart. The median of the paired ratios is
reported, with each target's median requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH = "/v1/fine_tuning/alpha/graders/run"
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank at dawn"
STRING_CHECK = {
    "type": "string_check",
    "name": "sc",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}


def similarity(metric: str) -> dict[str, object]:
    return {
        "type": "text_similarity",
        "name": metric,
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": metric,
    }


TARGETS: dict[str, dict[str, object]] = {
    "string_check": STRING_CHECK,
    "fuzzy_match": similarity("fuzzy_match"),
    "bleu": similarity("bleu"),
    "rouge_l": similarity("rouge_l"),
    "multi (string_check + fuzzy_match)": {
        "type": "multi",
        "name": "m",
        "graders": {"exact": STRING_CHECK, "fuzzy": similarity("fuzzy_match")},
        "calculate_output": "0.5 * exact + 0.5 * fuzzy",
    },
}
LUA = """
local f = io.open(os.getenv("BODY_FILE"), "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def wait_warm(port: int, timeout: float = 240.0) -> None:
    """Measure a warm server: sandbox workers forked and WordNet loaded (both warm up in the background)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            ready = json.loads(response.read())
        sandbox, metrics = ready.get("sandbox", {}), ready.get("metrics", {})
        if sandbox.get("warm") == sandbox.get("workers") and metrics.get("wordnet") == "loaded":
            return
        time.sleep(0.2)
    raise RuntimeError(f"the emulator did not warm up in {timeout} s: {ready}")


def start(kind: str, size: int = 900) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    # The checkout's own package (app/ since the src layout), not whatever the venv has installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT / "bench")])}
    command = [
        sys.executable,
        str(ROOT / "bench" / "_servers.py"),
        kind,
        "--port",
        str(port),
        "--size",
        str(size),
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        if kind == "emulator":
            wait_warm(port)
    except BaseException:
        stop(process)
        raise
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(kind: str, size: int = 900) -> Iterator[int]:
    """A server for the duration of the block; stopped even when the benchmark fails."""
    process, port = start(kind, size)
    try:
        yield port
    finally:
        stop(process)


def post(port: int, body: bytes) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{PATH}",
        body,
        {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def wrk(port: int, body: bytes, duration: float, connections: int, workdir: Path) -> float:
    body_file = workdir / f"body-{abs(hash(body))}.json"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(LUA)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(duration)}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{PATH}",
    ]
    output = subprocess.run(
        command, env={**os.environ, "BODY_FILE": str(body_file)}, capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"non-2xx answers during the benchmark:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


def bodies() -> dict[str, bytes]:
    item = {"answer": SENTENCE.replace("lazy", "sleepy")}
    return {
        name: json.dumps({"grader": grader, "model_sample": SENTENCE, "item": item}).encode()
        for name, grader in TARGETS.items()
    }


def startup_seconds(repeats: int) -> list[float]:
    """From spawning `graders-emulator serve --port 0` to /readyz answering 200."""
    times = []
    for _ in range(repeats):
        port = free_port()
        started = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "graders_emulator.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            times.append(time.perf_counter() - started)
        finally:
            stop(process)
    return times


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    starts = startup_seconds(args.repeats)
    print(
        f"start-up to /readyz = 200: median {statistics.median(starts):.2f} s (runs: {', '.join(f'{t:.2f}' for t in starts)})"
    )

    requests = bodies()
    rates: dict[str, list[float]] = {name: [] for name in requests}
    bare_rates: list[float] = []
    ratios: dict[str, list[float]] = {name: [] for name in requests}
    with tempfile.TemporaryDirectory() as tmp, running("emulator") as emulator:
        size = len(post(emulator, requests["string_check"]))
        with running("bare", size) as bare:
            post(bare, requests["string_check"])
            for body in requests.values():
                post(emulator, body)  # warm: first-use imports and caches
            for _ in range(args.repeats):
                for name, body in requests.items():
                    baseline = wrk(bare, requests["string_check"], args.duration, args.connections, Path(tmp))
                    rate = wrk(emulator, body, args.duration, args.connections, Path(tmp))
                    bare_rates.append(baseline)
                    rates[name].append(rate)
                    ratios[name].append(rate / baseline)
    print(
        f"\nrun over HTTP: wrk -t1 -c{args.connections} -d{args.duration:g}s, {args.repeats} repeats, "
        "each paired with a bare run just before it; medians"
    )
    print(f"{'target':40} {'req/s':>9} {'ratio to bare':>14}  (paired ratios)")
    print(f"{'bare':40} {statistics.median(bare_rates):9.0f} {1:14.2f}")
    for name, values in rates.items():
        paired = ", ".join(f"{r:.2f}" for r in ratios[name])
        print(
            f"{name:40} {statistics.median(values):9.0f} {statistics.median(ratios[name]):14.2f}  ({paired})"
        )
    print(
        f"(bare = FastAPI endpoint reading the body and returning constant bytes of the same size, {size} B)"
    )


if __name__ == "__main__":
    main()
