"""Server-level behaviour that the SDK contract tests do not reach: 500s, headers, timing, limits."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from graders_emulator.grading.context import BaseSandbox, PythonJob, PythonOutcome
from graders_emulator.main import create_app
from graders_emulator.settings import Settings

AUTH = {"Authorization": "Bearer sk-test"}
RUN = "/v1/fine_tuning/alpha/graders/run"
STRING_CHECK = {
    "type": "string_check",
    "name": "g",
    "input": "{{sample.output_text}}",
    "reference": "a",
    "operation": "eq",
}
PYTHON = {"type": "python", "name": "p", "source": "def grade(s, i): return 1"}


class ExplodingSandbox(BaseSandbox):
    """A bug in a dependency: the emulator must answer a 500 envelope and keep serving."""

    async def run(self, job: PythonJob) -> PythonOutcome:
        raise RuntimeError("secret internal detail")


@pytest.fixture
def http() -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(), sandbox=ExplodingSandbox()), raise_server_exceptions=False
    ) as client:
        yield client


def test_unexpected_exception_is_a_logged_500_envelope(
    http: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="graders_emulator"):
        response = http.post(RUN, json={"grader": PYTHON, "model_sample": "x"}, headers=AUTH)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["param"] is None
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    request_id = response.headers["x-request-id"]
    assert request_id in error["message"]
    assert any(request_id in record.getMessage() for record in caplog.records)
    # the server stays up
    assert (
        http.post(RUN, json={"grader": STRING_CHECK, "model_sample": "a"}, headers=AUTH).json()["reward"]
        == 1.0
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", RUN, {"grader": STRING_CHECK, "model_sample": "a"}),
        ("POST", RUN, {}),
        ("GET", RUN, None),
        ("POST", "/v1/nope", {}),
        ("GET", "/healthz", None),
    ],
    ids=["200", "400", "405", "404", "health"],
)
def test_every_answer_has_request_id_and_processing_ms(
    http: TestClient, method: str, path: str, body: object
) -> None:
    response = http.request(method, path, json=body, headers=AUTH)
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.headers["openai-processing-ms"].isdigit()


def test_request_ids_are_unique(http: TestClient) -> None:
    ids = {http.get("/healthz").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_execution_time_includes_injected_latency(http: TestClient) -> None:
    started = time.perf_counter()
    response = http.post(
        RUN,
        json={"grader": STRING_CHECK, "model_sample": "a"},
        headers={**AUTH, "x-emulator-latency-ms": "150"},
    )
    wall = time.perf_counter() - started
    execution_time = response.json()["metadata"]["execution_time"]
    assert 0.15 <= execution_time <= wall


def test_body_limit_streams_and_by_length() -> None:
    with TestClient(create_app(Settings(max_body_bytes=100), sandbox=ExplodingSandbox())) as client:
        big = b'{"model_sample": "' + b"x" * 200 + b'"}'
        response = client.post(RUN, content=big, headers={**AUTH, "content-type": "application/json"})
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:
            yield big[:60]
            yield big[60:]

        streamed = client.post(RUN, content=chunks(), headers={**AUTH, "content-type": "application/json"})
        assert streamed.status_code == 413 and "error" in streamed.json()


def test_readyz_reports_sandbox_and_metrics(http: TestClient) -> None:
    body = http.get("/readyz").json()
    assert body["status"] == "ready" and "wordnet" in body["metrics"] and "sandbox" in body
    assert http.get("/healthz").json() == {"status": "ok"}


def test_client_leaving_mid_body_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """wrk and impatient clients close the connection while the body streams in: nothing to answer, nothing to log."""
    import asyncio

    app = create_app(Settings(), sandbox=ExplodingSandbox())
    scope = {
        "type": "http",
        "method": "POST",
        "path": RUN,
        "raw_path": RUN.encode(),
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer x"), (b"content-type", b"application/json")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "app": app,
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level(logging.ERROR):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
