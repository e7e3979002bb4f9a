"""Persistence: `serve --data-dir DIR` keeps evals, runs, items and files across a restart, and a
server killed with SIGKILL mid-run comes back with that run resumed to the end (never stuck)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import API_KEY, ITEM_SCHEMA, TERMINAL

AUTH = {"Authorization": f"Bearer {API_KEY}"}
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)/v1")
SLOW_MODEL = "slow-sampler"
ROWS = 640
# A sampling rule in the config file (it survives restarts, unlike control-plane rules): every
# sample waits 40 ms, so the run is still going when the server is killed.
CONFIG = f"""
sampling:
  - match: {{model: {SLOW_MODEL}}}
    answer: {{text: "Paris", latency_ms: 40}}
"""


@contextmanager
def server(data_dir: Path, config: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`graders-emulator serve --data-dir` in a child process; killed (if still alive) on exit."""
    env = {**os.environ, "GRADERS_EMULATOR_PYTHON_GRADERS": "false", "GRADERS_EMULATOR_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "graders_emulator.cli", "serve", "--port", "0"]
    command += ["--data-dir", str(data_dir), "--config", str(config)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line printed is the base URL
        found = LISTENING.search(line)
        assert found, f"the server did not start: {line!r}"
        url = found.group(1)
        _wait_healthy(url)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _wait_healthy(url: str) -> None:
    """The URL is printed when the socket is bound; uvicorn listens a moment later."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not become healthy"
        time.sleep(0.05)


def _eval(http: httpx.Client) -> dict[str, Any]:
    body = {
        "name": "persisted",
        "data_source_config": {"type": "custom", "item_schema": ITEM_SCHEMA},
        "testing_criteria": [
            {
                "type": "string_check",
                "name": "eq",
                "input": "{{sample.output_text}}",
                "reference": "{{item.ref}}",
                "operation": "eq",
            }
        ],
    }
    response = http.post("/v1/evals", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _poll(
    http: httpx.Client, eval_id: str, run_id: str, until: Any, deadline_s: float = 60
) -> dict[str, Any]:
    stop = time.monotonic() + deadline_s
    while True:
        run: dict[str, Any] = http.get(f"/v1/evals/{eval_id}/runs/{run_id}").json()
        if until(run) or time.monotonic() > stop:
            return run
        time.sleep(0.02)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "emulator.yaml"
    path.write_text(CONFIG)
    return path


def test_restart_with_the_same_data_dir_keeps_everything(tmp_path: Path, config: Path) -> None:
    data = tmp_path / "data"
    rows = [
        {"item": {"id": i, "ref": "Paris" if i % 2 else "Rome"}, "sample": {"output_text": "Paris"}}
        for i in range(6)
    ]
    with server(data, config) as (url, _), httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        uploaded = http.post(
            "/v1/files", files={"file": ("r.jsonl", b'{"item": {}}\n')}, data={"purpose": "evals"}
        ).json()
        evaluation = _eval(http)
        source = {"type": "jsonl", "source": {"type": "file_content", "content": rows}}
        run = http.post(f"/v1/evals/{evaluation['id']}/runs", json={"data_source": source}).json()
        before = _poll(http, evaluation["id"], run["id"], lambda r: r["status"] in TERMINAL)
        items_before = http.get(f"/v1/evals/{evaluation['id']}/runs/{run['id']}/output_items").json()
    assert before["status"] == "completed"
    assert before["result_counts"] == {"total": 6, "errored": 0, "failed": 3, "passed": 3}
    assert (data / "evals.sqlite3").is_file()

    with server(data, config) as (url, _), httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        assert http.get(f"/v1/evals/{evaluation['id']}").json() == evaluation
        assert http.get(f"/v1/evals/{evaluation['id']}/runs/{run['id']}").json() == before
        assert http.get(f"/v1/evals/{evaluation['id']}/runs/{run['id']}/output_items").json() == items_before
        assert http.get(f"/v1/files/{uploaded['id']}").json() == uploaded
        assert http.get(f"/v1/files/{uploaded['id']}/content").content == b'{"item": {}}\n'


def test_a_run_killed_mid_way_is_resumed_after_restart(tmp_path: Path, config: Path) -> None:
    data = tmp_path / "data"
    rows = [{"item": {"id": i, "ref": "Paris" if i % 4 else "Rome"}} for i in range(ROWS)]
    source = {"type": "completions", "model": SLOW_MODEL, "source": {"type": "file_content", "content": rows}}
    with server(data, config) as (url, process), httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        evaluation = _eval(http)
        run = http.post(f"/v1/evals/{evaluation['id']}/runs", json={"data_source": source}).json()
        midway = _poll(http, evaluation["id"], run["id"], lambda r: r["result_counts"]["total"] > 0)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert midway["status"] == "in_progress" and 0 < midway["result_counts"]["total"] < ROWS

    with server(data, config) as (url, _), httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        done = _poll(http, evaluation["id"], run["id"], lambda r: r["status"] in TERMINAL)
        items = http.get(f"/v1/evals/{evaluation['id']}/runs/{run['id']}/output_items", params={"limit": 100})
        ids = [item["datasource_item_id"] for item in items.json()["data"]]
    assert done["status"] == "completed", done
    # Graded again from its first row: every row once, none twice.
    assert done["result_counts"] == {
        "total": ROWS,
        "errored": 0,
        "failed": ROWS // 4,
        "passed": ROWS - ROWS // 4,
    }
    assert ids == list(range(100))
