"""HTTP and transport faults as the official SDK sees them: retries, timeouts, broken connections."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from emulation_helpers import KEY, STRING_CHECK, run

from graders_emulator.testing import RunningServer

Journal = Callable[..., list[dict[str, Any]]]


def retry_counts(journal: Journal) -> list[str | None]:
    return [entry["headers"].get("x-stainless-retry-count") for entry in journal()]


def test_fail_twice_then_succeed_with_default_retries(sdk: openai.OpenAI, journal: Journal) -> None:
    headers = {"x-emulator-status": "429", "x-emulator-fail-attempts": "2"}
    assert run(sdk, STRING_CHECK, headers=headers).reward == 1.0
    entries = journal()
    assert [entry["status"] for entry in entries] == [429, 429, 200]
    assert retry_counts(journal) == ["0", "1", "2"]
    assert entries[0]["fault"] == {"status": 429}


def test_without_retries_the_rate_limit_error_is_raised(sdk_once: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        run(sdk_once, STRING_CHECK, headers={"x-emulator-status": "429"})
    error = caught.value
    assert error.code == "rate_limit_exceeded"
    assert error.response.headers["retry-after-ms"] == "10"
    assert error.response.headers["x-should-retry"] == "true"
    assert error.request_id is not None and error.request_id.startswith("req_")


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (408, openai.APIStatusError, "timeout_error"),
        (409, openai.ConflictError, "conflict_error"),
        (429, openai.RateLimitError, "requests"),
        (500, openai.InternalServerError, "server_error"),
        (502, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
        (504, openai.InternalServerError, "server_error"),
    ],
    ids=[
        "408-APIStatusError-timeout_error",
        "409-ConflictError-conflict_error",
        "429-RateLimitError-requests",
        "500-InternalServerError-server_error",
        "502-InternalServerError-server_error",
        "503-InternalServerError-server_error",
        "504-InternalServerError-server_error",
    ],
)
def test_retryable_statuses_are_retried_then_raised(
    sdk: openai.OpenAI, journal: Journal, status: int, error_class: type[Exception], error_type: str
) -> None:
    with pytest.raises(error_class) as caught:
        run(sdk, STRING_CHECK, headers={"x-emulator-status": str(status)})
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.type == error_type
    assert retry_counts(journal) == ["0", "1", "2"]


def test_should_retry_false_is_honoured(sdk: openai.OpenAI, journal: Journal) -> None:
    headers = {"x-emulator-status": "503", "x-emulator-should-retry": "false"}
    with pytest.raises(openai.InternalServerError) as caught:
        run(sdk, STRING_CHECK, headers=headers)
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(journal()) == 1


def test_retry_after_is_configurable(sdk_once: openai.OpenAI) -> None:
    headers = {"x-emulator-status": "503", "x-emulator-retry-after-ms": "1500"}
    with pytest.raises(openai.InternalServerError) as caught:
        run(sdk_once, STRING_CHECK, headers=headers)
    assert caught.value.response.headers["retry-after-ms"] == "1500"
    assert caught.value.response.headers["retry-after"] == "2"


def test_non_retryable_status_is_not_retried(sdk: openai.OpenAI, journal: Journal) -> None:
    with pytest.raises(openai.BadRequestError):
        run(sdk, STRING_CHECK, headers={"x-emulator-status": "400"})
    assert len(journal()) == 1


def test_latency_is_added(sdk: openai.OpenAI, journal: Journal) -> None:
    run(sdk, STRING_CHECK)  # warm-up: the SDK's first request also probes the platform
    started = time.perf_counter()
    run(sdk, STRING_CHECK)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    run(sdk, STRING_CHECK, headers={"x-emulator-latency-ms": "300"})
    delayed = time.perf_counter() - started
    assert delayed >= 0.3
    assert delayed - baseline >= 0.25
    assert journal()[-1]["fault"] == {"latency_ms": 300.0}


def test_hang_ends_in_the_client_timeout(session_url: str, journal: Journal) -> None:
    with openai.OpenAI(base_url=session_url, api_key=KEY, max_retries=0, timeout=0.5) as client:
        started = time.perf_counter()
        with pytest.raises(openai.APITimeoutError):
            run(client, STRING_CHECK, headers={"x-emulator-fault": "hang"})
    assert 0.5 <= time.perf_counter() - started < 5
    time.sleep(0.2)  # the server notices the disconnect, then journals the request
    assert journal()[-1]["fault"] == {"fault": "hang"}


def test_hang_is_bounded(session_url: str) -> None:
    headers = {"x-emulator-fault": "hang", "x-emulator-hang-ms": "200"}
    with openai.OpenAI(base_url=session_url, api_key=KEY, max_retries=0, timeout=10) as client:
        started = time.perf_counter()
        with pytest.raises(openai.APIConnectionError):
            run(client, STRING_CHECK, headers=headers)
    assert time.perf_counter() - started < 5


def test_dropped_connection_is_a_connection_error(sdk_once: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError) as caught:
        run(sdk_once, STRING_CHECK, headers={"x-emulator-fault": "drop"})
    assert not isinstance(caught.value, openai.APITimeoutError)


def test_dropped_connection_sends_no_byte(server: RunningServer, session: str) -> None:
    request = (
        f"POST /_emulator/sessions/{session}/v1/fine_tuning/alpha/graders/run HTTP/1.1\r\n"
        f"host: {server.host}\r\nx-emulator-fault: drop\r\ncontent-length: 2\r\n\r\n{{}}"
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request.encode())
        assert sock.recv(1024) == b""


def test_drop_then_succeed_with_sdk_retries(sdk: openai.OpenAI, journal: Journal) -> None:
    headers = {"x-emulator-fault": "drop", "x-emulator-fail-attempts": "1"}
    assert run(sdk, STRING_CHECK, headers=headers).reward == 1.0
    assert retry_counts(journal) == ["0", "1"]


def test_truncated_body_is_an_sdk_error(sdk_once: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        run(sdk_once, STRING_CHECK, headers={"x-emulator-fault": "truncate"})


def test_malformed_body_fails_to_parse(sdk_once: openai.OpenAI, journal: Journal) -> None:
    with pytest.raises((openai.APIError, json.JSONDecodeError)):
        run(sdk_once, STRING_CHECK, headers={"x-emulator-fault": "malformed"})
    entry = journal()[-1]
    assert entry["status"] == 200
    assert isinstance(entry["response"], str)


def test_counted_fault_rule_hits_the_nth_request(sdk: openai.OpenAI, control: httpx.Client) -> None:
    rule = {"kind": "fault", "match": {"path": "*/graders/run", "nth": [2, 3]}, "status": 400}
    control.post("rules", json=rule).raise_for_status()
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(run(sdk, STRING_CHECK).reward)
        except openai.BadRequestError:
            outcomes.append("400")
    assert outcomes == [1.0, "400", "400", 1.0]


def test_random_fault_rule_is_reproducible_with_a_seed(session_url: str, control: httpx.Client) -> None:
    rule = {"kind": "fault", "id": "coin", "match": {"probability": 0.5}, "status": 400, "seed": 42}

    def pattern() -> list[bool]:
        control.post("rules", json=rule).raise_for_status()  # same id: replaced, its random stream restarts
        with openai.OpenAI(base_url=session_url, api_key=KEY, max_retries=0) as client:
            hits = []
            for _ in range(12):
                try:
                    run(client, STRING_CHECK)
                    hits.append(False)
                except openai.BadRequestError:
                    hits.append(True)
        return hits

    first = pattern()
    assert first == pattern()
    assert 0 < sum(first) < 12


def test_fault_rule_times_and_fail_attempts(
    sdk: openai.OpenAI, control: httpx.Client, journal: Journal
) -> None:
    rule = {"kind": "fault", "match": {"grader_type": "string_check"}, "status": 500, "fail_attempts": 1}
    control.post("rules", json=rule).raise_for_status()
    assert run(sdk, STRING_CHECK).reward == 1.0
    assert [entry["status"] for entry in journal()] == [500, 200]


def test_faults_skip_requests_of_other_graders(sdk: openai.OpenAI, control: httpx.Client) -> None:
    rule = {"kind": "fault", "match": {"grader_name": "other"}, "status": 400}
    control.post("rules", json=rule).raise_for_status()
    assert run(sdk, STRING_CHECK).reward == 1.0


def test_session_seed_restarts_random_faults(sdk_once: openai.OpenAI, control: httpx.Client) -> None:
    control.post(
        "rules", json={"kind": "fault", "match": {"probability": 0.5}, "status": 400}
    ).raise_for_status()

    def pattern() -> list[bool]:
        control.post("seed", json={"seed": 99}).raise_for_status()
        hits = []
        for _ in range(10):
            try:
                run(sdk_once, STRING_CHECK)
                hits.append(False)
            except openai.BadRequestError:
                hits.append(True)
        return hits

    assert pattern() == pattern()


def test_status_faults_apply_to_validate(sdk_once: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        sdk_once.fine_tuning.alpha.graders.validate(
            grader=STRING_CHECK,  # type: ignore[arg-type]
            extra_headers={"x-emulator-status": "500"},
        )
