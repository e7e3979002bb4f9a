"""Fixtures of the recording tests: a planted upstream, recorded once through `serve --record`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from recording_helpers import (
    CALLER_KEY,
    PYTHON_GRADER,
    REQUESTS,
    RUN,
    UPSTREAM_CONFIG,
    cli_env,
    cli_server,
    string_check,
    wait_listening,
)

from graders_emulator.settings import Settings
from graders_emulator.testing import serve_in_thread

Answer = tuple[int, bytes, dict[str, str]]
GONE_REQUEST = (
    "upstream-gone",
    RUN,
    {"grader": string_check("after-upstream-stopped"), "model_sample": "Paris"},
)


@dataclass
class Recording:
    """What the recording run saw: the cassette directory and each request's live answer."""

    directory: Path
    answers: dict[str, Answer] = field(default_factory=dict)
    upstream_journal: list[dict[str, Any]] = field(default_factory=list)


def send(client: httpx.Client, path: str, body: Any) -> Answer:
    response = client.post(path, content=orjson.dumps(body), headers={"content-type": "application/json"})
    return response.status_code, response.content, dict(response.headers)


def _warm_sandbox(base_url: str) -> None:
    """One python grading first: a cold sandbox worker on a loaded machine can pass the upstream timeout."""
    body = {"grader": {**PYTHON_GRADER, "name": "warm-up"}, "model_sample": "x", "item": {"answer": "y"}}
    headers = {"authorization": f"Bearer {CALLER_KEY}"}
    httpx.post(f"{base_url}/fine_tuning/alpha/graders/run", json=body, headers=headers, timeout=120)


@pytest.fixture(scope="package")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """Record REQUESTS through a `serve --upstream --record` child process, the upstream being another
    emulator (real HTTP on loopback) with planted differences and failures; then stop the upstream and
    send one more request, whose connection error is recorded too."""
    base = tmp_path_factory.mktemp("recording")
    config = base / "upstream.yaml"
    config.write_text(UPSTREAM_CONFIG, encoding="utf-8")
    result = Recording(base / "cassettes")
    upstream_settings = Settings(
        port=0, config=config, api_keys=[CALLER_KEY], python_workers=1, python_timeout_s=5
    )
    env = cli_env(GRADERS_EMULATOR_UPSTREAM_TIMEOUT_S="5.0")
    with ExitStack() as upstream_stack:
        upstream = upstream_stack.enter_context(serve_in_thread(upstream_settings))
        wait_listening(upstream.url)
        _warm_sandbox(upstream.base_url)
        with cli_server("--upstream", upstream.base_url, "--record", str(result.directory), env=env) as url:
            headers = {"authorization": f"Bearer {CALLER_KEY}"}
            with httpx.Client(base_url=url.removesuffix("/v1"), headers=headers, timeout=30) as client:
                for label, path, body in REQUESTS:
                    result.answers[label] = send(client, path, body)
                journal = httpx.get(f"{upstream.url}/_emulator/journal", params={"limit": 100}, timeout=10)
                result.upstream_journal = journal.json()["data"]
                upstream_stack.close()  # the upstream is gone; the recorder is still up
                label, path, body = GONE_REQUEST
                result.answers[label] = send(client, path, body)
    return result


@pytest.fixture(scope="package")
def replayer(recording: Recording) -> Iterator[str]:
    """`serve --replay DIR` (python graders off: nothing here grades python locally); its base URL."""
    env = cli_env(GRADERS_EMULATOR_PYTHON_GRADERS="false")
    with cli_server("--replay", str(recording.directory), env=env) as url:
        yield url
