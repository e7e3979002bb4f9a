"""Replay composes with sessions, the journal and fault injection (a fault fires before a replayed answer)."""

from __future__ import annotations

import json
import uuid

import httpx
from conftest import Recording, send
from recording_helpers import REQUESTS, RUN, string_check

GOOD = REQUESTS[0]  # ("string-check", RUN, {... grader "good" ...})


def _session_client(replayer: str, session: str) -> httpx.Client:
    root = replayer.removesuffix("/v1")
    return httpx.Client(
        base_url=f"{root}/_emulator/sessions/{session}", headers={"authorization": "Bearer x"}
    )


def test_session_base_url_replays(recording: Recording, replayer: str) -> None:
    session = "replay-" + uuid.uuid4().hex[:8]
    with _session_client(replayer, session) as client:
        status, body, headers = send(client, GOOD[1], GOOD[2])
    assert (status, body) == recording.answers[GOOD[0]][:2]
    assert headers["x-emulator-source"] == "recorded"


def test_a_fault_rule_fires_before_the_replayed_answer(recording: Recording, replayer: str) -> None:
    session = "fault-" + uuid.uuid4().hex[:8]
    with _session_client(replayer, session) as client:
        rule = {"kind": "fault", "match": {"grader_name": "good"}, "status": 503, "times": 1}
        assert client.post("rules", json=rule).status_code in (200, 201)
        status, body, headers = send(client, GOOD[1], GOOD[2])
        assert status == 503 and json.loads(body)["error"]["type"] == "server_error"
        assert "x-emulator-source" not in headers  # answered by the fault, never reached the cassette
        status, body, headers = send(client, GOOD[1], GOOD[2])  # the rule is used up: replayed again
        assert (status, body, headers["x-emulator-source"]) == (*recording.answers[GOOD[0]][:2], "recorded")
    with httpx.Client(base_url=replayer.removesuffix("/v1"), headers={"authorization": "Bearer x"}) as plain:
        assert send(plain, GOOD[1], GOOD[2])[0] == 200  # the session's rule does not leak


def test_the_journal_records_replayed_requests_with_their_source(replayer: str) -> None:
    session = "journal-" + uuid.uuid4().hex[:8]
    with _session_client(replayer, session) as client:
        send(client, GOOD[1], GOOD[2])
        send(client, RUN, {"grader": string_check("not-recorded"), "model_sample": "Paris"})
        entries = client.get("journal").json()["data"]
    sources = {entry["grader_name"]: entry["source"] for entry in entries}
    assert sources == {"good": "recorded", "not-recorded": "emulated"}
    replayed = next(e for e in entries if e["grader_name"] == "good")
    assert replayed["response"]["reward"] == 1.0 and replayed["status"] == 200
