"""Record through `serve --upstream --record`, replay through `serve --replay` with the upstream gone.

The upstream is another emulator over real HTTP (conftest.py), configured to answer differently from
a default emulator for some graders and to fail (429, 500, a hang past the 5 s upstream timeout).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import GONE_REQUEST, Recording, send
from recording_helpers import CALLER_KEY, REQUESTS, RUN, cli_env, cli_server, string_check

NO_PYTHON = cli_env(GRADERS_EMULATOR_PYTHON_GRADERS="false")
ALL_REQUESTS = [*REQUESTS, GONE_REQUEST]
LABELS = [label for label, _, _ in ALL_REQUESTS]


def _cassettes(recording: Recording) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(recording.directory.glob("*.json"))]


def _by_name(recording: Recording) -> dict[str, dict[str, Any]]:
    """The cassettes of named graders by grader name."""
    return {
        c["request"]["body"]["grader"]["name"]: c
        for c in _cassettes(recording)
        if "name" in c["request"]["body"]["grader"]
    }


def test_one_cassette_per_request(recording: Recording) -> None:
    assert len(list(recording.directory.glob("*.json"))) == len(ALL_REQUESTS)
    assert not list(recording.directory.glob(".recording-*")), "no temporary file is left behind"


def test_recorder_answers_what_the_upstream_answered(recording: Recording) -> None:
    answers = recording.answers
    assert answers["string-check"][0] == 200
    assert json.loads(answers["string-check"][1])["reward"] == 1.0
    assert answers["string-check"][2]["x-emulator-source"] == "upstream"
    assert answers["string-check"][2]["x-upstream-request-id"].startswith("req_")
    assert json.loads(answers["planted-score"][1])["reward"] == 0.125  # the upstream's canned score
    assert json.loads(answers["planted-flag"][1])["metadata"]["errors"]["model_grader_refusal_error"] is True
    assert answers["planted-400"][0] == 400
    assert answers["missing-sample"][0] == 400


def test_upstream_failures_reach_the_caller_as_they_happened(recording: Recording) -> None:
    status, body, headers = recording.answers["rate-limited"]
    assert status == 429
    assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
    assert (headers["retry-after-ms"], headers["retry-after"]) == ("2000", "2")
    assert recording.answers["server-fails"][0] == 500
    status, body, _ = recording.answers["times-out"]
    error = json.loads(body)["error"]
    assert (status, error["type"], error["code"]) == (504, "server_error", "upstream_timeout")
    assert "did not answer in time" in error["message"]
    status, body, _ = recording.answers["upstream-gone"]
    error = json.loads(body)["error"]
    assert (status, error["code"]) == (502, "upstream_unreachable")
    assert "could not be reached (" in error["message"]  # ConnectError, or ReadError on a pooled connection


def test_failures_are_recorded_as_such(recording: Recording) -> None:
    failures = {name: c["upstream_failure"] for name, c in _by_name(recording).items()}
    assert failures["times-out"]["kind"] == "timeout"
    assert failures["after-upstream-stopped"]["kind"] == "connection_error"
    assert failures["rate-limited"] is None  # an HTTP answer, recorded with its status
    statuses = {name: c["response"]["status"] for name, c in _by_name(recording).items()}
    assert (statuses["rate-limited"], statuses["server-fails"], statuses["times-out"]) == (429, 500, 504)


def test_the_callers_key_went_upstream(recording: Recording) -> None:
    """The upstream accepts only CALLER_KEY: every recorded answer but the failures is a real grading."""
    seen = [e for e in recording.upstream_journal if e["path"].startswith("/v1/fine_tuning")]
    assert seen and all(
        e["headers"]["authorization"] == "Bearer sk-...9c" or e["status"] != 401 for e in seen
    )
    assert all(e["status"] != 401 for e in seen)


def test_no_credential_in_any_cassette(recording: Recording) -> None:
    for file in recording.directory.rglob("*"):
        text = file.read_text(encoding="utf-8") if file.is_file() else ""
        assert CALLER_KEY not in text, file.name
        assert CALLER_KEY[8:] not in text, file.name  # nor a recognisable part of it
        assert "authorization" not in text.lower(), file.name
    echo = _by_name(recording)["key-echo"]
    assert echo["request"]["body"]["grader"]["reference"] == "[REDACTED]"
    assert echo["response"]["body"]["grader"]["reference"] == "[REDACTED]"


def test_cassette_holds_what_the_issue_lists(recording: Recording) -> None:
    cassette = _by_name(recording)["good"]
    assert set(cassette) >= {"request", "response", "recorded_at", "upstream", "emulator_version"}
    assert cassette["upstream"].startswith("http://127.0.0.1:") and cassette["upstream"].endswith("/v1")
    assert cassette["request"]["path"] == RUN and cassette["request"]["method"] == "POST"
    assert set(cassette["response"]["headers"]) == {"content-type", "x-request-id", "openai-processing-ms"}


@pytest.fixture(scope="module")
def replayed(replayer: str) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    """Every request again, to `serve --replay` (the upstream is long gone), with another key."""
    answers = {}
    with httpx.Client(
        base_url=replayer.removesuffix("/v1"), headers={"authorization": "Bearer any"}
    ) as client:
        for label, path, body in ALL_REQUESTS:
            answers[label] = send(client, path, body)
    return answers


@pytest.mark.parametrize("label", [label for label in LABELS if label != "key-echo"], ids=str)
def test_replay_is_byte_identical(
    recording: Recording, replayed: dict[str, tuple[int, bytes, dict[str, str]]], label: str
) -> None:
    """Status and body bytes as recorded, execution_time included (it is part of the recorded body)."""
    live_status, live_body, live_headers = recording.answers[label]
    status, body, headers = replayed[label]
    assert (status, body) == (live_status, live_body)
    assert headers["x-emulator-source"] == "recorded"
    assert headers["content-type"] == live_headers["content-type"]
    for name in ("retry-after", "retry-after-ms", "x-should-retry", "x-upstream-request-id"):
        assert headers.get(name) == live_headers.get(name), name


def test_replayed_redacted_request_answers_the_redacted_body(
    replayed: dict[str, tuple[int, bytes, dict[str, str]]],
) -> None:
    status, body, _ = replayed["key-echo"]
    assert status == 200
    assert json.loads(body)["grader"]["reference"] == "[REDACTED]"


def test_unrecorded_request_is_graded_locally(replayer: str) -> None:
    with httpx.Client(
        base_url=replayer.removesuffix("/v1"), headers={"authorization": "Bearer any"}
    ) as client:
        status, body, headers = send(client, RUN, {"grader": string_check("new"), "model_sample": "Paris"})
        assert (status, json.loads(body)["reward"], headers["x-emulator-source"]) == (
            200,
            1.0,
            "emulated",
        )
        status, body, headers = send(client, RUN, {"grader": string_check("new")})
        assert (status, headers["x-emulator-source"]) == (400, "emulated")
        assert json.loads(body)["error"]["param"] == "model_sample"


def test_replay_only_refuses_unrecorded_requests(recording: Recording) -> None:
    with (
        cli_server("--replay", str(recording.directory), "--replay-only", env=NO_PYTHON) as url,
        httpx.Client(base_url=url.removesuffix("/v1"), headers={"authorization": "Bearer any"}) as client,
    ):
        label, path, body = REQUESTS[0]
        assert send(client, path, body)[:2] == recording.answers[label][:2]
        status, raw, headers = send(
            client, RUN, {"grader": string_check("never-recorded"), "model_sample": "x"}
        )
    error = json.loads(raw)["error"]
    assert (status, error["type"], error["code"]) == (404, "invalid_request_error", "cassette_not_found")
    assert str(recording.directory) in error["message"] and "run-" in error["message"]
    assert headers["x-emulator-source"] == "missing"
