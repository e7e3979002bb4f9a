"""The /_emulator control plane: rules, journal, reset, seed, info, its token, its error envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from emulation_helpers import KEY, SCORE_MODEL, STRING_CHECK, run, settings

from graders_emulator.testing import RunningServer, serve_in_thread

CONFIG = """\
models:
  - id: from-config
    grader: {name: accuracy, type: score_model}
    answer: {score: 0.61}
    times: 1
"""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with a control token and a config file."""
    path: Path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(CONFIG)
    with serve_in_thread(settings(control_token="ctl-secret", config=path, seed=3)) as running:
        yield running


def admin(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/_emulator/", headers={"authorization": "Bearer ctl-secret"})


def test_rules_crud(control: httpx.Client) -> None:
    created = control.post("rules", json={"kind": "model", "answer": {"score": 0.5}}).json()["data"][0]
    assert created["id"].endswith("rule_1") and created["source"] == "api"
    assert control.get(f"rules/{created['id']}").json()["answer"] == {"score": 0.5}
    control.post("rules", json={"models": [{"answer": {"label": "a"}}], "faults": [{"status": 500}]})
    kinds = [rule["kind"] for rule in control.get("rules").json()["data"]]
    assert kinds == ["model", "model", "fault"]
    assert control.delete(f"rules/{created['id']}").json() == {"id": created["id"], "deleted": True}
    assert control.get(f"rules/{created['id']}").status_code == 404
    assert control.delete("rules").json()["deleted"] == 2
    assert control.get("rules").json()["data"] == []


def test_rule_with_the_same_id_replaces_it(control: httpx.Client) -> None:
    control.post("rules", json={"kind": "model", "id": "r", "answer": {"score": 0.1}})
    control.post("rules", json={"kind": "model", "id": "r", "answer": {"score": 0.2}})
    (rule,) = control.get("rules").json()["data"]
    assert rule["answer"] == {"score": 0.2}


def test_rules_posted_as_yaml(control: httpx.Client, lenient_sdk: openai.OpenAI) -> None:
    body = "models:\n  - answer: {score: 0.77}\n"
    response = control.post("rules", content=body, headers={"content-type": "application/yaml"})
    assert response.status_code == 200
    assert run(lenient_sdk, SCORE_MODEL).reward == 0.77


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"kind": "model", "answer": {"score": 0.5}, "colour": "red"}, "unknown key 'colour'", "colour"),
        ({"kind": "fault", "errors": ["nope"]}, "unknown error flag 'nope'", "errors"),
        ({"kind": "gadget"}, "Invalid rule", None),
        (
            {"kind": "model", "grader": {"labels": ["a"]}, "answer": {"label": "b"}},
            "canned label 'b' is not one of the labels ['a']",
            None,
        ),
    ],
    ids=["unknown-key", "unknown-flag", "unknown-kind", "label-not-in-labels"],
)
def test_bad_rules_are_400_envelopes(
    control: httpx.Client, body: object, message: str, param: str | None
) -> None:
    response = control.post("rules", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert param in (error["param"] or "")


def test_unknown_rule_is_a_404_envelope(control: httpx.Client) -> None:
    response = control.delete("rules/nope")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No rule with id 'nope'."


def test_journal_masks_secrets_and_filters(
    server: RunningServer, control: httpx.Client, sdk: openai.OpenAI, lenient_sdk: openai.OpenAI
) -> None:
    run(sdk, STRING_CHECK)
    run(lenient_sdk, SCORE_MODEL, headers={"x-emulator-score": "0.3"})
    with pytest.raises(openai.BadRequestError):
        sdk.fine_tuning.alpha.graders.run(grader={"type": "nope"}, model_sample="x")  # type: ignore[arg-type]
    entries = control.get("journal").json()["data"]
    assert [e["status"] for e in entries] == [200, 200, 400]
    assert entries[0]["headers"]["authorization"] == "Bearer sk-...1234"
    assert KEY not in str(entries)
    assert entries[1]["grading"]["reward"] == 0.3
    assert entries[1]["model_calls"][0]["answered_by"] == "header x-emulator-score"
    assert entries[2]["response"]["error"]["type"] == "invalid_request_error"
    assert [
        e["grader_name"] for e in control.get("journal", params={"grader_name": "exact"}).json()["data"]
    ] == ["exact"]
    assert len(control.get("journal", params={"status": 400}).json()["data"]) == 1
    assert len(control.get("journal", params={"limit": 2}).json()["data"]) == 2
    assert (
        control.get("journal", params={"path": "/v1/fine_tuning/alpha/graders/validate"}).json()["data"] == []
    )
    assert control.delete("journal").json()["deleted"] == 3
    assert control.get("journal").json()["data"] == []


def test_journal_keeps_sub_grader_rewards(control: httpx.Client, lenient_sdk: openai.OpenAI) -> None:
    grader = {
        "type": "multi",
        "name": "m",
        "graders": {"a": STRING_CHECK, "b": SCORE_MODEL},
        "calculate_output": "a",
    }
    run(lenient_sdk, grader, headers={"x-emulator-score": "0.25"})
    (entry,) = control.get("journal").json()["data"]
    assert entry["grading"]["sub_rewards"] == {"a": 1.0, "b": 0.25}
    assert entry["model_calls"][0]["messages"][1]["content"] == "Answer: Paris Reference: Paris"


def test_info(server: RunningServer, control: httpx.Client) -> None:
    info = httpx.get(f"{server.url}/_emulator/info").json()
    assert info["spec_commit"] == "f85dbe2"
    assert info["version"]
    assert info["response_profile"] == "real"
    assert info["model_backend"] == {"kind": "canned"}
    assert "sandbox" in info
    assert control.get("info").json()["session"] is not None


def test_control_token(guarded: RunningServer) -> None:
    response = httpx.get(f"{guarded.url}/_emulator/rules")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert (
        httpx.get(f"{guarded.url}/_emulator/rules", headers={"authorization": "Bearer wrong"}).status_code
        == 401
    )
    with admin(guarded) as client:
        assert client.get("rules").status_code == 200


def test_config_rules_come_back_on_reset(guarded: RunningServer) -> None:
    with admin(guarded) as control, openai.OpenAI(base_url=guarded.base_url, api_key=KEY) as sdk:
        (rule,) = control.get("rules").json()["data"]
        assert (rule["id"], rule["source"]) == ("from-config", "config")
        assert run(sdk, SCORE_MODEL).reward == 0.61
        assert run(sdk, SCORE_MODEL).reward != 0.61  # times: 1, then the default
        control.delete("rules")
        assert control.post("reset").json() == {"reset": True, "session": None}
        assert control.get("journal").json()["data"] == []
        assert run(sdk, SCORE_MODEL).reward == 0.61
        assert control.get("info").json()["seed"] == 3
