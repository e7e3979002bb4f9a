"""pytest plugin (entry point `pytest11`): a real graders emulator for your tests, one per session.

Installing graders-emulator registers the plugin; there is nothing to configure. Fixtures:

- `graders_emulator`: function scope; the session's emulator, reset (rules, faults, journal) before
  the test. Use this one.
- `graders_emulator_server`: session scope; the same object without the reset.

The emulator starts in-process on a free loopback port once per test session; under pytest-xdist
each worker starts its own. With `--graders-emulator-url` the plugin starts nothing and uses a running
emulator (e.g. the docker compose service) instead, each worker in a session of its own, so workers
never see each other's rules or journal.

The object the fixtures yield:

- `base_url`: what an OpenAI client takes (`http://127.0.0.1:PORT/v1`); `url`: the server root;
- `client`: a ready `openai.OpenAI` on `base_url` (closed at the end of the session);
  `make_client(**kwargs)` builds another one (e.g. `max_retries=0`), `api_key` is the key it sends;
- `add_rule(rule)`: any rule of the control plane (a canned model answer or a fault, as a dict);
- `answer(score=.. | label=.. | raw=.. | refusal=.. | server_error=.. | max_tokens=True, *,
  grader_name=None, times=None, **match)`: a canned model-grader answer;
- `fail_next(status=None, *, times=1, path="*/graders/*", **fault)`: the next `times` matching
  requests get HTTP `status`, or the fault given (`fault="drop"|"hang"|"truncate"|"malformed"`,
  `latency_ms=...`, `retry_after_ms=...`); with neither, a 503;
- `force_errors(*flags, times=1, grader_name=None, details=None)`: grading flags on the next runs;
- `journal(**filters)`: requests received (filters: path, grader_name, status, limit);
- `rules()`, `info()`, `reset()`.

Options (command line, or the ini key in brackets; environment variables `GRADERS_EMULATOR_*` apply
to the in-process server as to `graders-emulator serve`):

- `--graders-emulator-config PATH` [graders_emulator_config]: YAML rules loaded at start;
- `--graders-emulator-profile real|spec` [graders_emulator_profile]: response shape;
- `--graders-emulator-python-workers N` [graders_emulator_python_workers]: python sandbox size;
- `--graders-emulator-seed N` [graders_emulator_seed]: seed of generated names and default answers;
- `--graders-emulator-url URL` [graders_emulator_url]: use a running emulator instead: its root
  (`http://127.0.0.1:8000`) or the `/v1` URL that `graders-emulator serve` prints;
- `--graders-emulator-api-key KEY` [graders_emulator_api_key]: the key clients send;
- `--graders-emulator-control-token TOKEN` [graders_emulator_control_token]: for a protected control plane.

Example (a complete test module; run it with `pytest`, or `pytest -n 4` with pytest-xdist):

    import openai
    import pytest

    EXACT = {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    JUDGE = {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "Grade: {{sample.output_text}}"}],
    }


    def test_string_check(graders_emulator):
        result = graders_emulator.client.fine_tuning.alpha.graders.run(
            grader=EXACT, model_sample="Paris", item={"answer": "Paris"}
        )
        assert result.reward == 1.0
        [entry] = graders_emulator.journal()
        assert entry["status"] == 200


    def test_canned_model_answer(graders_emulator):
        graders_emulator.answer(score=0.25, grader_name="judge")
        result = graders_emulator.client.fine_tuning.alpha.graders.run(grader=JUDGE, model_sample="Paris")
        assert result.reward == 0.25


    def test_client_retries_a_503(graders_emulator):
        graders_emulator.fail_next(503, times=2)  # the SDK retries twice, then succeeds
        result = graders_emulator.client.fine_tuning.alpha.graders.run(
            grader=EXACT, model_sample="Paris", item={"answer": "Paris"}
        )
        assert result.reward == 1.0
        assert [e["status"] for e in graders_emulator.journal()] == [503, 503, 200]


    def test_no_retries_sees_the_error(graders_emulator):
        graders_emulator.fail_next(429)
        with graders_emulator.make_client(max_retries=0) as client, pytest.raises(openai.RateLimitError):
            client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="Paris")


    def test_forced_flag(graders_emulator):
        graders_emulator.force_errors("python_grader_runtime_error", details="boom")
        result = graders_emulator.client.fine_tuning.alpha.graders.run(grader=EXACT, model_sample="x")
        assert result.reward == 0.0
        assert result.metadata.errors.python_grader_runtime_error
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin loads in every pytest run: keep its import cheap
    import httpx
    import openai

    from graders_emulator.grading.context import SandboxRunner

DEFAULT_API_KEY = "sk-graders-emulator-pytest"
SETTLE_TIMEOUT_S = 30.0
OPTIONS = {  # --graders-emulator-<name> and the ini key graders_emulator_<name>
    "config": "YAML file of canned answers, faults and defaults loaded at start",
    "profile": "response shape: real (default) or spec",
    "python-workers": "python sandbox workers of the in-process emulator",
    "seed": "seed of generated grader names and default model answers",
    "url": "use a running emulator at this URL, its root or the /v1 URL `serve` prints (each xdist worker in its own session)",
    "api-key": "the API key clients send",
    "control-token": "bearer token of the control plane, when the emulator requires one",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("graders-emulator", "graders emulator (OpenAI graders API)")
    for name, text in OPTIONS.items():
        group.addoption(f"--graders-emulator-{name}", dest=_key(name), default=None, help=text)
        parser.addini(_key(name), text)


def _key(name: str) -> str:
    return "graders_emulator_" + name.replace("-", "_")


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(_key(name)) or config.getini(_key(name))
    return str(value) if value else None


class GradersEmulator:
    """A running emulator: its URLs, an OpenAI client, and control-plane helpers."""

    def __init__(
        self,
        url: str,
        *,
        session: str | None = None,
        api_key: str = DEFAULT_API_KEY,
        control_token: str | None = None,
    ) -> None:
        import httpx

        self.url = server_root(url)
        self.session = session
        scope = f"/_emulator/sessions/{session}" if session else ""
        self.base_url = f"{self.url}{scope}/v1"
        self.api_key = api_key
        headers = {"authorization": f"Bearer {control_token}"} if control_token else {}
        control = f"{self.url}{scope or '/_emulator'}/"
        self._control: httpx.Client = httpx.Client(base_url=control, headers=headers, timeout=30)
        self._clients: list[openai.OpenAI] = []
        self._client: openai.OpenAI | None = None

    # --- clients

    @property
    def client(self) -> openai.OpenAI:
        """An `openai.OpenAI` on `base_url` with the SDK's defaults (2 retries)."""
        if self._client is None:
            self._client = self.make_client()
        return self._client

    def make_client(self, **kwargs: Any) -> openai.OpenAI:
        """Another client on `base_url`; kwargs go to `openai.OpenAI` (closed with the session)."""
        import openai

        client = openai.OpenAI(**{"base_url": self.base_url, "api_key": self.api_key, **kwargs})
        self._clients.append(client)
        return client

    # --- rules and faults

    def add_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Add one rule (`{"kind": "model" | "fault", ...}`, as in the YAML config); returns it with its id."""
        added: list[dict[str, Any]] = self._call("POST", "rules", json=rule)["data"]
        return added[0]

    def answer(
        self, *, grader_name: str | None = None, times: int | None = None, **answer_and_match: Any
    ) -> dict[str, Any]:
        """A canned model answer; keys of an answer (score, label, raw, ...) answer, the rest match."""
        answer_keys = {"score", "label", "raw", "refusal", "server_error", "max_tokens", "steps", "usage"}
        answer = {k: v for k, v in answer_and_match.items() if k in answer_keys | {"latency_ms", "model"}}
        match = {k: v for k, v in answer_and_match.items() if k not in answer}
        if grader_name is not None:
            match["grader_name"] = grader_name
        return self.add_rule(
            _without_none({"kind": "model", "match": match, "answer": answer, "times": times})
        )

    def fail_next(
        self, status: int | None = None, *, times: int | None = 1, path: str = "*/graders/*", **fault: Any
    ) -> dict[str, Any]:
        """The next `times` requests on `path` (None: every one) get `status`, else the fault given
        (`fault=`, `latency_ms=`, `errors=`, ...); with neither, a 503."""
        if status is None and not fault:
            status = 503
        rule = {"kind": "fault", "match": {"path": path}, "status": status, "times": times, **fault}
        return self.add_rule(_without_none(rule))

    def force_errors(
        self, *flags: str, times: int | None = 1, grader_name: str | None = None, details: str | None = None
    ) -> dict[str, Any]:
        """The next `times` runs answer 200 with these error flags raised (reward 0.0)."""
        match = _without_none({"path": "*/graders/run", "grader_name": grader_name})
        errors = dict.fromkeys(flags, details)
        return self.add_rule(
            _without_none({"kind": "fault", "match": match, "errors": errors, "times": times})
        )

    def rules(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._call("GET", "rules")["data"]
        return data

    # --- journal, reset, info

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Requests received since the last reset, oldest first."""
        data: list[dict[str, Any]] = self._call("GET", "journal", params=filters)["data"]
        return data

    def reset(self) -> None:
        """Rules back to the config's, journal emptied."""
        self._call("POST", "reset")

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._call("GET", "info")
        return info

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._control.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._control.request(method, path, **kwargs)
        if response.is_error:
            raise AssertionError(
                f"graders emulator: {method} {path} -> {response.status_code}: {response.text}"
            )
        return response.json()


def server_root(url: str) -> str:
    """The emulator's root URL from its root or its API URL (`.../v1`, what `serve` prints)."""
    return url.rstrip("/").removesuffix("/v1")


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _settings(config: pytest.Config) -> Any:
    from graders_emulator.settings import Settings

    given = {
        "config": _option(config, "config"),
        "response_profile": _option(config, "profile"),
        "python_workers": _option(config, "python-workers"),
        "seed": _option(config, "seed"),
    }
    return Settings(port=0, **_without_none(given))


def _let_sandbox_settle(sandbox: SandboxRunner, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """Wait (bounded) for python workers still starting: stopping the server in the middle of a
    worker's start-up leaves a process transport to the garbage collector, a ResourceWarning that
    `-W error` runs turn into an error at the end of a short session."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sandbox.protections()
        warm, workers = found.get("warm", 0), found.get("workers", 0)
        if found.get("mode") == "disabled" or not (isinstance(warm, int) and isinstance(workers, int)):
            return
        if warm >= workers:
            return
        time.sleep(0.05)


def _worker_session() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"pytest-{worker}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def graders_emulator_server(pytestconfig: pytest.Config) -> Iterator[GradersEmulator]:
    """The session's emulator (in-process, or the one at --graders-emulator-url); never reset."""
    api_key = _option(pytestconfig, "api-key") or DEFAULT_API_KEY
    token = _option(pytestconfig, "control-token")
    external = _option(pytestconfig, "url")
    if external:
        emulator = GradersEmulator(external, session=_worker_session(), api_key=api_key, control_token=token)
        try:
            yield emulator
        finally:
            emulator.close()
        return
    from graders_emulator.testing import serve_in_thread

    with serve_in_thread(_settings(pytestconfig)) as server:
        emulator = GradersEmulator(server.url, api_key=api_key, control_token=token)
        try:
            yield emulator
        finally:
            emulator.close()
            _let_sandbox_settle(server.app.state.sandbox)


@pytest.fixture
def graders_emulator(graders_emulator_server: GradersEmulator) -> GradersEmulator:
    """The session's emulator, reset before this test: no rules but the config's, an empty journal."""
    graders_emulator_server.reset()
    return graders_emulator_server
