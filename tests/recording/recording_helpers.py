"""Shared by the recording tests: the planted upstream's config, requests, and CLI servers."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CALLER_KEY = "sk-caller-recording-key-7f3a9c"  # the only key the planted upstream accepts
SETTINGS_KEY = "sk-settings-upstream-key-51b2e0"
RUN = "/v1/fine_tuning/alpha/graders/run"
VALIDATE = "/v1/fine_tuning/alpha/graders/validate"


def string_check(name: str, reference: str = "Paris") -> dict[str, Any]:
    return {
        "type": "string_check",
        "name": name,
        "input": "{{sample.output_text}}",
        "reference": reference,
        "operation": "eq",
    }


SCORE_MODEL = {
    "type": "score_model",
    "name": "planted-score",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "Score {{sample.output_text}}"}],
}

# The upstream answers differently from a default emulator exactly here (the planted differences):
# a canned score for `planted-score`, a forced refusal flag on `planted-flag`, a 400 with its own
# message for `planted-400`; and fails as a real API can: 429, 500, and a hang past the timeout.
UPSTREAM_CONFIG = """
models:
  - match: {grader_name: planted-score}
    answer: {score: 0.125}
faults:
  - match: {grader_name: planted-flag}
    errors: {model_grader_refusal_error: planted refusal}
  - match: {grader_name: planted-400}
    status: 400
    message: "planted: the upstream words this 400 its own way"
  - match: {grader_name: rate-limited}
    status: 429
    retry_after_ms: 2000
  - match: {grader_name: server-fails}
    status: 500
  - match: {grader_name: times-out}
    fault: hang
    hang_ms: 15000
"""

PYTHON_GRADER = {
    "type": "python",
    "name": "python-half",
    "source": "def grade(sample, item):\n    return 0.5 if sample['output_text'] == item['answer'] else 0.0\n",
}
FUZZY = {
    "type": "text_similarity",
    "name": "fuzzy-guide",
    "input": "fuzzy wuzzy was a bear",
    "reference": "fuzzy wuzzy had no hair",
    "evaluation_metric": "fuzzy_match",
}

# (label, path, body): what the tests send through the recorder and then to the replayer.
REQUESTS: list[tuple[str, str, Any]] = [
    ("string-check", RUN, {"grader": string_check("good"), "model_sample": "Paris"}),
    ("fuzzy", RUN, {"grader": FUZZY, "model_sample": "x"}),
    ("python", RUN, {"grader": PYTHON_GRADER, "model_sample": "Paris", "item": {"answer": "Paris"}}),
    (
        "unnamed-run",
        RUN,
        {"grader": {k: v for k, v in string_check("x").items() if k != "name"}, "model_sample": "Paris"},
    ),
    ("unnamed-validate", VALIDATE, {"grader": {k: v for k, v in string_check("x").items() if k != "name"}}),
    ("missing-sample", RUN, {"grader": string_check("bad-request")}),
    ("planted-score", RUN, {"grader": SCORE_MODEL, "model_sample": "Paris"}),
    ("planted-flag", RUN, {"grader": string_check("planted-flag"), "model_sample": "Paris"}),
    ("planted-400", RUN, {"grader": string_check("planted-400"), "model_sample": "Paris"}),
    ("rate-limited", RUN, {"grader": string_check("rate-limited"), "model_sample": "Paris"}),
    ("server-fails", RUN, {"grader": string_check("server-fails"), "model_sample": "Paris"}),
    ("times-out", RUN, {"grader": string_check("times-out"), "model_sample": "Paris"}),
    # The key inside the body (the validate answer echoes it): it must be scrubbed from the cassette.
    ("key-echo", VALIDATE, {"grader": string_check("key-echo", reference=CALLER_KEY)}),
]

PLANTED = {
    ("planted-score", "reward"),
    ("planted-flag", "reward"),
    ("planted-flag", "metadata.errors.model_grader_refusal_error"),
    ("planted-flag", "metadata.errors.model_grader_refusal_error_details"),
    ("planted-400", "status"),
}


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADERS_EMULATOR_")}
    app = str(Path(__file__).resolve().parents[2] / "app")
    env["PYTHONPATH"] = os.pathsep.join([app, env.get("PYTHONPATH", "")])
    env.update({"GRADERS_EMULATOR_PYTHON_WORKERS": "1", "GRADERS_EMULATOR_PYTHON_TIMEOUT_S": "5", **extra})
    return env


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`graders-emulator ARGS` in a child process (the installed command's own entry point)."""
    command = [sys.executable, "-m", "graders_emulator.cli", *args]
    return subprocess.run(
        command, env=env or cli_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def cli_server(*args: str, env: dict[str, str] | None = None, startup_s: float = 60) -> Iterator[str]:
    """`graders-emulator serve --port 0 ARGS` in a child process; yields its base URL (`.../v1`)."""
    command = [sys.executable, "-m", "graders_emulator.cli", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command, env=env or cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base_url = _base_url(process, startup_s)
        wait_listening(base_url.removesuffix("/v1"), startup_s)  # the port is bound before it listens
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _base_url(process: subprocess.Popen[str], startup_s: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if "listening on " in line:
                return line.rsplit("listening on ", 1)[1].strip()
        if process.poll() is not None:
            break
    error = process.stderr.read() if process.stderr and process.poll() is not None else ""
    raise RuntimeError(f"the emulator did not start: {error[-2000:]}")


def wait_ready(url: str, timeout_s: float = 300) -> None:
    """Until `/readyz` says WordNet is loaded: its 1-3 s load would otherwise stall the first answers."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = httpx.get(f"{url}/readyz", timeout=5).json()["metrics"]["wordnet"]
        except httpx.HTTPError:
            state = "starting"
        if state in ("loaded", "missing"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not get ready")


def wait_listening(url: str, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} is not listening")
