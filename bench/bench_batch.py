"""Batch grading throughput (samples/s) for string_check and a python grader, 1 job and all cores,
next to the HTTP path (a server subprocess under 64 concurrent requests) measured in the same run.

Usage: .venv/bin/python bench/bench_batch.py [--lines 20000] [--python-lines 300] [--http-seconds 5]
       [--no-http] [--repeat 1] [--baseline-app OTHER_WORKTREE/app]
The batch figure is the command's own samples/s (grading only: interpreter start-up excluded, process
pool start-up included, the sandbox's untimed warm-up excluded). On a shared machine absolute numbers
move: read the ratios. With `--baseline-app`, each figure is also measured with that checkout's code
(PYTHONPATH), alternating with this one's in the same run, and the ratio new/baseline is printed;
`--repeat` measures each figure that many times and keeps the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
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


def batch_rate(data: Path, jobs: int, app: str | None = None) -> float:
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
    env = {**os.environ, "PYTHONPATH": app} if app is not None else None
    done = subprocess.run(
        [*command, "--format", "json", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
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


def rates(data: Path, jobs: int, repeat: int, baseline: str | None) -> tuple[float, float | None]:
    """The median samples/s of this code and, when given, of the baseline's (measured alternately)."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(repeat):
        ours.append(batch_rate(data, jobs))
        if baseline is not None:
            theirs.append(batch_rate(data, jobs, baseline))
    return statistics.median(ours), statistics.median(theirs) if theirs else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20_000, help="string_check samples")
    parser.add_argument("--python-lines", type=int, default=300, help="python grader samples")
    parser.add_argument("--http-seconds", type=float, default=5.0)
    parser.add_argument("--no-http", action="store_true", help="batch figures only")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per figure (the median is kept)")
    parser.add_argument("--baseline-app", help="another checkout's app/ folder to compare with (PYTHONPATH)")
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
            one, one_base = rates(data, 1, args.repeat, args.baseline_app)
            every, every_base = rates(data, cores, args.repeat, args.baseline_app)
            http = None if args.no_http else http_rate(name, grader, args.http_seconds, python_workers=cores)
            rows.append((name, lines, one, every, http, one_base, every_base))
    print(f"cores: {cores}; HTTP: one server process, 64 keep-alive connections (python workers = cores)")
    print(
        f"{'grader':<14} {'samples':>8} {'batch 1 job':>12} {f'batch {cores} jobs':>13} {'HTTP':>9} {'all/1':>7} {'all/HTTP':>9}"
    )
    for name, lines, one, every, http, _, _ in rows:
        http_text = f"{http:>7,.0f}/s" if http is not None else f"{'-':>9}"
        ratio = f"{every / http:>8.2f}x" if http is not None else f"{'-':>9}"
        print(
            f"{name:<14} {lines:>8,} {one:>10,.0f}/s {every:>11,.0f}/s {http_text} {every / one:>6.2f}x {ratio}"
        )
    if args.baseline_app is not None:
        print(f"baseline {args.baseline_app} (measured alternately, medians of {args.repeat}):")
        print(f"{'grader':<14} {'base 1 job':>12} {'new/base':>9} {f'base {cores} jobs':>13} {'new/base':>9}")
        for name, _, one, every, _, one_base, every_base in rows:
            assert one_base is not None and every_base is not None
            print(
                f"{name:<14} {one_base:>10,.0f}/s {one / one_base:>8.2f}x {every_base:>11,.0f}/s {every / every_base:>8.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
