"""Sessions keep the rules, faults, seeds and journals of parallel clients apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from emulation_helpers import KEY, SCORE_MODEL, STRING_CHECK, run

from graders_emulator.testing import RunningServer


def worker(server: RunningServer, index: int) -> list[float]:
    """One 'xdist worker': its own session, its own canned score, its own faults."""
    session = f"worker-{index}"
    score = round(0.1 * (index + 1), 1)
    with httpx.Client(base_url=f"{server.url}/_emulator/sessions/{session}/") as control:
        control.post("reset").raise_for_status()
        control.post("rules", json={"kind": "model", "answer": {"score": score}}).raise_for_status()
        fault = {"kind": "fault", "match": {"nth": 1}, "status": 503}  # the first request fails once
        control.post("rules", json=fault).raise_for_status()
    base_url = f"{server.url}/_emulator/sessions/{session}/v1"
    with openai.OpenAI(base_url=base_url, api_key=KEY) as client:
        return [run(client, SCORE_MODEL).reward for _ in range(5)]


def test_concurrent_sessions_do_not_see_each_other(server: RunningServer) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: worker(server, i), range(6)))
    assert results == [[round(0.1 * (i + 1), 1)] * 5 for i in range(6)]
    with httpx.Client(base_url=f"{server.url}/_emulator/") as control:
        for index in range(6):
            entries = control.get(f"sessions/worker-{index}/journal").json()["data"]
            assert [e["status"] for e in entries] == [503] + [200] * 5  # one retried failure, then 5 answers
            assert {e["session"] for e in entries} == {f"worker-{index}"}


def test_session_header_scopes_like_the_session_url(server: RunningServer, session: str) -> None:
    with httpx.Client(base_url=f"{server.url}/_emulator/sessions/{session}/") as control:
        control.post("rules", json={"kind": "model", "answer": {"score": 0.42}}).raise_for_status()
    with openai.OpenAI(base_url=server.base_url, api_key=KEY) as client:
        assert run(client, SCORE_MODEL, headers={"x-emulator-session": session}).reward == 0.42
        assert run(client, SCORE_MODEL).reward != 0.42  # no session: the global scope
        entries = httpx.get(f"{server.url}/_emulator/journal", params={"session": session}).json()["data"]
    assert len(entries) == 1
    assert entries[0]["original_path"] == "/v1/fine_tuning/alpha/graders/run"


def test_global_rules_apply_to_every_session_after_its_own(server: RunningServer, session: str) -> None:
    with httpx.Client(base_url=f"{server.url}/_emulator/") as control:
        control.post("rules", json={"kind": "model", "id": "global-fallback", "answer": {"score": 0.33}})
        try:
            with openai.OpenAI(
                base_url=f"{server.url}/_emulator/sessions/{session}/v1", api_key=KEY
            ) as client:
                assert run(client, SCORE_MODEL).reward == 0.33
                control.post(f"sessions/{session}/rules", json={"kind": "model", "answer": {"score": 0.66}})
                assert run(client, SCORE_MODEL).reward == 0.66
        finally:
            control.delete("rules/global-fallback").raise_for_status()


def test_session_seed_changes_default_answers(server: RunningServer, session: str) -> None:
    base_url = f"{server.url}/_emulator/sessions/{session}/v1"
    with (
        httpx.Client(base_url=f"{server.url}/_emulator/sessions/{session}/") as control,
        openai.OpenAI(base_url=base_url, api_key=KEY) as client,
    ):
        before = run(client, SCORE_MODEL).reward
        control.post("seed", json={"seed": 12345}).raise_for_status()
        seeded = run(client, SCORE_MODEL).reward
        assert seeded != before
        assert run(client, SCORE_MODEL).reward == seeded


def test_session_reset_forgets_only_that_session(server: RunningServer) -> None:
    with (
        httpx.Client(base_url=f"{server.url}/_emulator/") as control,
        openai.OpenAI(base_url=f"{server.url}/_emulator/sessions/keep/v1", api_key=KEY) as keep,
        openai.OpenAI(base_url=f"{server.url}/_emulator/sessions/drop/v1", api_key=KEY) as drop,
    ):
        run(keep, STRING_CHECK)
        run(drop, STRING_CHECK)
        control.post("sessions/drop/reset").raise_for_status()
        assert len(control.get("sessions/keep/journal").json()["data"]) == 1
        assert control.get("sessions/drop/journal").json()["data"] == []


@pytest.mark.parametrize(
    "path", ["/_emulator/sessions/bad id/v1/fine_tuning/alpha/graders/run"], ids=["space-in-session-id"]
)
def test_invalid_session_url_is_not_rewritten(server: RunningServer, path: str) -> None:
    response = httpx.post(server.url + path, headers={"authorization": f"Bearer {KEY}"}, json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
