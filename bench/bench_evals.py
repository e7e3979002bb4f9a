"""An Evals API run of 10,000 jsonl rows with three criteria (string_check, text_similarity fuzzy_match,
python), next to the batch CLI (`graders-emulator grade`) grading the same rows with the same graders,
both measured in this run, and the library face (`Grader.grade_many`, in-process) as the floor.

Usage: .venv/bin/python bench/bench_evals.py [--rows 10000] [--cli-rows 2000] [--jobs 2]
The eval figure is the time from `POST /runs` to the run reading `completed` (the server already up,
its sandbox warm). The CLI figure is the command's own grading time (each row by each grader: one
line per pair; its interpreter start-up and sandbox warm-up excluded), measured on the first
`--cli-rows` rows (0: all) and compared by rate: the CLI's work is per line (it parses each line's
grader and sends each python line to the sandbox on its own, `jobs` at once; deterministic lines go
to `jobs` processes), so a prefix of the same rows, which has the same mix, gives its rate in a
fraction of the time. The evals run compiles each criterion once and grades chunks of rows (32,
doubling up to 256), a python criterion's rows as one batch (one sandboxed child per worker compiles
the source once), deterministic criteria in the server's one process; the face line is that same
grading without the server. On a shared machine absolute numbers move: read the ratio, printed with
the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

import graders_emulator as ge

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Bearer bench"}
CRITERIA: list[dict[str, Any]] = [
    {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.ref}}",
        "operation": "eq",
    },
    {
        "type": "text_similarity",
        "name": "fuzzy",
        "input": "{{sample.output_text}}",
        "reference": "{{item.ref}}",
        "evaluation_metric": "fuzzy_match",
        "pass_threshold": 0.8,
    },
    {
        "type": "python",
        "name": "length",
        "source": "def grade(sample, item):\n    return min(1.0, len(sample['output_text']) / 10)\n",
        "pass_threshold": 0.5,
    },
]


def rows(count: int) -> list[dict[str, Any]]:
    words = ["Paris", "Rome", "the quick brown fox", "kitten", "sitting", "0123456789"]
    return [
        {
            "item": {"id": i, "ref": words[i % len(words)]},
            "sample": {"output_text": words[(i * 7) % len(words)]},
        }
        for i in range(count)
    ]


@contextmanager
def server(workers: int) -> Iterator[str]:
    env = {
        **os.environ,
        "GRADERS_EMULATOR_PYTHON_WORKERS": str(workers),
        "GRADERS_EMULATOR_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "graders_emulator.cli", "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        found = re.search(r"(http://127\.0\.0\.1:\d+)/v1", process.stdout.readline())
        assert found, "the server did not start"
        url = found.group(1)
        deadline = time.monotonic() + 300
        while True:  # ready: listening and the sandbox's first worker warm
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def eval_seconds(data: list[dict[str, Any]], workers: int) -> tuple[float, dict[str, int]]:
    """Seconds from creating the run to `completed`, and its result counts."""
    with server(workers) as url, httpx.Client(base_url=url, headers=AUTH, timeout=120) as http:
        content = "".join(json.dumps(row) + "\n" for row in data).encode()
        file_id = http.post(
            "/v1/files", files={"file": ("rows.jsonl", content)}, data={"purpose": "evals"}
        ).json()["id"]
        config = {"type": "custom", "item_schema": {"type": "object"}, "include_sample_schema": True}
        evaluation = http.post(
            "/v1/evals", json={"data_source_config": config, "testing_criteria": CRITERIA}
        ).json()
        # Warm the sandbox's workers with a small run first, as a long-running server would be.
        warm = {"type": "jsonl", "source": {"type": "file_content", "content": data[:50]}}
        _wait(
            http,
            evaluation["id"],
            http.post(f"/v1/evals/{evaluation['id']}/runs", json={"data_source": warm}).json()["id"],
        )
        source = {"type": "jsonl", "source": {"type": "file_id", "id": file_id}}
        started = time.perf_counter()
        run = http.post(f"/v1/evals/{evaluation['id']}/runs", json={"data_source": source}).json()
        done = _wait(http, evaluation["id"], run["id"])
        elapsed = time.perf_counter() - started
    assert done["status"] == "completed", done
    assert done["result_counts"]["total"] == len(data)
    return elapsed, done["result_counts"]


def _wait(http: httpx.Client, eval_id: str, run_id: str) -> dict[str, Any]:
    while True:
        run: dict[str, Any] = http.get(f"/v1/evals/{eval_id}/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "canceled"):
            return run
        time.sleep(0.05)


def cli_seconds(data: list[dict[str, Any]], jobs: int, folder: Path) -> float:
    """The batch CLI's grading seconds for every (row, grader) pair."""
    path = folder / "gradings.jsonl"
    with path.open("w") as out:
        for row in data:
            for grader in CRITERIA:
                wire = {k: v for k, v in grader.items() if k != "pass_threshold"}
                body = {"grader": wire, "model_sample": row["sample"]["output_text"], "item": row["item"]}
                out.write(json.dumps(body) + "\n")
    command = [
        sys.executable,
        "-m",
        "graders_emulator.cli",
        "grade",
        "--data",
        str(path),
        "--jobs",
        str(jobs),
    ]
    done = subprocess.run(
        [*command, "--format", "json", "--quiet"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    summary = json.loads(done.stdout)
    assert summary["graded"] == summary["lines"] == len(data) * len(CRITERIA), done.stdout[-500:]
    return summary["lines"] / float(summary["samples_per_second"])


def face_seconds(data: list[dict[str, Any]], workers: int) -> float:
    """The library face alone, as the evals run uses it: each criterion compiled once, `grade_many`
    over the run's chunks (32 rows, doubling up to 256), without HTTP, the store or the output items."""
    graders = [
        ge.Grader({k: v for k, v in c.items() if k != "pass_threshold"}, python_workers=workers)
        for c in CRITERIA
    ]
    pairs = [(row["sample"]["output_text"], row["item"]) for row in data]
    for grader in graders:  # warm: the sandbox's start-up is not the rows'
        grader.grade_many(pairs[:50])
    started = time.perf_counter()
    start, size = 0, 32
    while start < len(pairs):
        for grader in graders:
            grader.grade_many(pairs[start : start + size])
        start, size = start + size, min(2 * size, 256)
    return time.perf_counter() - started


def load() -> str:
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--cli-rows", type=int, default=2_000, help="rows the CLI grades (0: all)")
    parser.add_argument("--jobs", type=int, default=2, help="CLI processes and server sandbox workers")
    args = parser.parse_args()
    data = rows(args.rows)
    cli_rows = min(args.cli_rows or args.rows, args.rows)
    header = f"rows: {args.rows}, criteria: {len(CRITERIA)} (string_check, fuzzy_match, python)"
    print(f"{header}, jobs/workers: {args.jobs}; {load()}", flush=True)
    evals, counts = eval_seconds(data, args.jobs)
    print(
        f"evals run  : {evals:7.2f} s  {args.rows / evals:8.1f} items/s  (to completed; counts {counts}); "
        f"{load()}",
        flush=True,
    )
    face = face_seconds(data, args.jobs)
    print(f"face       : {face:7.2f} s  {args.rows / face:8.1f} rows/s  (grade_many, in-process); {load()}")
    with tempfile.TemporaryDirectory() as folder:
        cli = cli_seconds(data[:cli_rows], args.jobs, Path(folder))
    gradings = cli_rows * len(CRITERIA) / cli
    print(
        f"batch CLI  : {cli:7.2f} s  {cli_rows / cli:8.1f} rows/s  ({gradings:.1f} gradings/s, "
        f"first {cli_rows} rows); {load()}",
        flush=True,
    )
    cli_all = cli * args.rows / cli_rows
    print(f"ratio evals/CLI time for {args.rows} rows: {evals / cli_all:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
