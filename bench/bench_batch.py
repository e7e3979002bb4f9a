"""Batch grading throughput (samples/s) for string_check and a python grader, 1 job and all cores,
next to the HTTP path (a server subprocess under 64 concurrent requests) measured in the same run.

Usage: .venv/bin/python bench/bench_batch.py [--lines 20000] [--python-lines 300] [--http-seconds 5]
The batch figure is the command's own samples/s (grading only: interpreter start-up excluded, process
pool and sandbox start-up included). On a shared machine absolute numbers move: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import EXACT, ITEM, PYTHON, Kind, load, server

ROOT = Path(__file__).resolve().parents[1]


def dataset(folder: Path, name: str, grader: dict[str, object], lines: int) -> Path:
    path = folder / f"{name}.jsonl"
    rows = (json.dumps({"grader": grader, "model_sample": "Paris", "item": ITEM}) for _ in range(lines))
    path.write_text("\n".join(rows) + "\n")
    return path


def batch_rate(data: Path, jobs: int) -> float:
    command = [
        sys.executable,
        "-m",
        "graders_emulator.cli",
        "grade",
        "--data",
        str(data),
        "--jobs",
        str(jobs),
    ]
    done = subprocess.run(
        [*command, "--format", "json", "--quiet"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    summary = json.loads(done.stdout)
    assert summary["graded"] == summary["lines"], done.stdout[-500:]
    return float(summary["samples_per_second"])


def http_rate(name: str, grader: dict[str, object], seconds: float, python_workers: int) -> float:
    body = json.dumps({"grader": grader, "model_sample": "Paris", "item": ITEM}).encode()
    kind = Kind(name, 1, body, check=lambda b: b["reward"] == 1.0)
    with server(python_workers) as (url, _):
        asyncio.run(load(url, [kind], 1.0, 64, seed=0))  # warm-up
        results, elapsed = asyncio.run(load(url, [kind], seconds, 64))
    assert not results.unexpected, results.unexpected[:3]
    return len(results.latencies[name]) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20_000, help="string_check samples")
    parser.add_argument("--python-lines", type=int, default=300, help="python grader samples")
    parser.add_argument("--http-seconds", type=float, default=5.0)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, grader, lines in (
            ("string_check", EXACT, args.lines),
            ("python", PYTHON, args.python_lines),
        ):
            data = dataset(folder, name, grader, lines)
            one, every = batch_rate(data, 1), batch_rate(data, cores)
            http = http_rate(name, grader, args.http_seconds, python_workers=cores)
            rows.append((name, lines, one, every, http))
    print(f"cores: {cores}; HTTP: one server process, 64 keep-alive connections (python workers = cores)")
    print(
        f"{'grader':<14} {'samples':>8} {'batch 1 job':>12} {f'batch {cores} jobs':>13} {'HTTP':>9} {'all/1':>7} {'all/HTTP':>9}"
    )
    for name, lines, one, every, http in rows:
        print(
            f"{name:<14} {lines:>8,} {one:>10,.0f}/s {every:>11,.0f}/s {http:>7,.0f}/s {every / one:>6.2f}x {every / http:>8.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
