"""OpenRLHF: the `.py` reward_func and the HTTP reward server (a real `reward-server` subprocess).

OpenRLHF (openrlhf/utils/remote_rm_utils.py, read through the code-search tool; its package needs
flash-attn and a GPU to install, so its documented convention is followed, not its code run):
`remote_rm_fn_ray` posts `{"query": queries, "prompts": prompts, "labels": labels}` with
`requests.post(url=url, json=data, headers={"Content-Type": "application/json"}, timeout=180)`, then
`raise_for_status()` and `.json()`; `RemoteRewardModel` loads a `.py` URL with
`importlib.util.spec_from_file_location("reward_func", path)` and calls
`reward_func(queries_chunk, prompts_chunk, labels_chunk)`; examples/python/reward_func.py returns
`{"rewards", "scores", "extra_logs"}`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import reward_graders as rg

import graders_emulator.rewards.openrlhf as openrlhf_module

PROMPTS = ["Q: capital of France?\nA: ", "Q: capital of Italy?\nA: ", "Q: capital of Spain?\nA: "]
RESPONSES = ["Paris", "Rome is", "Lisbon"]
ANSWERS = ["Paris", "Rome", "Madrid"]


def _grader_file(tmp_path: Path) -> Path:
    path = tmp_path / "grader.json"
    path.write_text(json.dumps(rg.MULTI))
    return path


def _load_like_openrlhf(path: str) -> object:
    spec = importlib.util.spec_from_file_location("reward_func", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reward_func


def test_the_py_form_with_plain_and_json_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(openrlhf_module.GRADER_ENV, str(_grader_file(tmp_path)))
    reward_func = _load_like_openrlhf(openrlhf_module.__file__)
    queries = [p + r for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    labels = [ANSWERS[0], json.dumps({"answer": ANSWERS[1]}), {"answer": ANSWERS[2]}]
    # a plain label is {"label": ...}: the grader reads item.answer, so that row's reference is empty
    out = reward_func(queries, PROMPTS, labels)  # type: ignore[operator]
    expected = [
        rg.multi(RESPONSES[0], ""),
        rg.multi(RESPONSES[1], ANSWERS[1]),
        rg.multi(RESPONSES[2], ANSWERS[2]),
    ]
    assert out["rewards"] == pytest.approx(expected)
    assert out["scores"] == out["rewards"]
    assert out["extra_logs"]["exact"] == [0.0, 0.0, 0.0]
    references = ["", ANSWERS[1], ANSWERS[2]]
    assert out["extra_logs"]["fuzzy"] == pytest.approx(
        [rg.fuzzy(r, a) for r, a in zip(RESPONSES, references, strict=True)]
    )


@pytest.fixture(scope="module")
def reward_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    grader = _grader_file(tmp_path_factory.mktemp("server"))
    command = [
        sys.executable,
        "-m",
        "graders_emulator.cli",
        "reward-server",
        "--grader",
        str(grader),
        "--port",
        "0",
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        assert "listening on http://" in line, (line, proc.poll())
        url = line.split("listening on ", 1)[1].strip()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(url.replace("/get_reward", "/health"), timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _post_like_openrlhf(url: str, data: dict[str, object]) -> dict[str, object]:
    response = requests.post(url=url, json=data, headers={"Content-Type": "application/json"}, timeout=180)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def test_http_form_answers_rewards_scores_and_extra_logs(reward_server: str) -> None:
    queries = [p + r for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    labels = [json.dumps({"answer": a}) for a in ANSWERS]
    out = _post_like_openrlhf(reward_server, {"query": queries, "prompts": PROMPTS, "labels": labels})
    expected = [rg.multi(r, a) for r, a in zip(RESPONSES, ANSWERS, strict=True)]
    assert out["rewards"] == pytest.approx(expected)
    assert out["scores"] == out["rewards"]
    assert out["extra_logs"] == {
        "exact": [1.0, 0.0, 0.0],
        "fuzzy": pytest.approx([rg.fuzzy(r, a) for r, a in zip(RESPONSES, ANSWERS, strict=True)]),
    }
    assert _post_like_openrlhf(reward_server, {"query": [], "prompts": [], "labels": []}) == {
        "rewards": [],
        "scores": [],
        "extra_logs": {},
    }


BAD_BODIES = [
    (b"not json", None, "could not parse the JSON body"),
    (b"", None, "could not parse the JSON body"),
    (b"[1, 2]", None, "must be a JSON object"),
    (b'{"prompts": ["a"]}', "query", "Missing required parameter: 'query'"),
    (b'{"query": "one string"}', "query", "expected an array"),
    (b'{"query": ["ok", 3]}', "query[1]", "expected a string"),
    (b'{"query": ["a", "b"], "prompts": ["a"]}', "prompts", "'prompts' has 1 entries but 'query' has 2"),
    (b'{"query": ["a"], "labels": {"answer": "x"}}', "labels", "expected an array"),
]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    BAD_BODIES,
    ids=[
        "not-json",
        "empty",
        "array",
        "no-query",
        "query-not-list",
        "query-item-number",
        "prompts-length",
        "labels-object",
    ],
)
def test_bad_bodies_get_a_400_with_a_clear_message(
    reward_server: str, body: bytes, param: str | None, message: str
) -> None:
    response = requests.post(
        reward_server, data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_wrong_method_and_path_are_4xx_in_the_envelope(reward_server: str) -> None:
    wrong_method = requests.get(reward_server, timeout=30)
    wrong_path = requests.post(reward_server.replace("/get_reward", "/nope"), json={}, timeout=30)
    assert wrong_method.status_code == 405 and "POST /get_reward" in wrong_method.json()["error"]["message"]
    assert wrong_path.status_code == 404 and "POST /get_reward" in wrong_path.json()["error"]["message"]
