"""The Evals and Files endpoints over plain HTTP: OpenAI's 400s and 404s, what answers "not emulated",
sessions and reset, fault injection and the journal on the new paths."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from graders_emulator.testing import RunningServer

from .support import API_KEY, ITEM_SCHEMA, TERMINAL, new_session, session_url

AUTH = {"Authorization": f"Bearer {API_KEY}"}
STRING_CHECK = {
    "type": "string_check",
    "name": "eq",
    "input": "{{sample.output_text}}",
    "reference": "{{item.ref}}",
    "operation": "eq",
}


def _eval_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "data_source_config": {"type": "custom", "item_schema": ITEM_SCHEMA},
        "testing_criteria": [STRING_CHECK],
    }
    return {**body, **changes}


@pytest.fixture
def http(evals_real: RunningServer) -> Any:
    with httpx.Client(
        base_url=session_url(evals_real.url, new_session()), headers=AUTH, timeout=30
    ) as client:
        yield client


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def _wait(http: httpx.Client, eval_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run: dict[str, Any] = http.get(f"/evals/{eval_id}/runs/{run_id}").json()
        if run["status"] in TERMINAL or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


BAD_EVALS = [
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "object_above_max_properties"),
    ({"metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length"),
    ({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
    ({"metadata": {"k": 1}}, "metadata.k", "invalid_type"),
    ({"data_source_config": {"type": "logs"}}, "data_source_config.type", "invalid_value"),
    ({"data_source_config": {"type": "stored_completions"}}, "data_source_config.type", "invalid_value"),
    (
        {"data_source_config": {"type": "custom", "item_schema": {"type": "nope"}}},
        "data_source_config.item_schema",
        "invalid_value",
    ),
    (
        {"data_source_config": {"type": "custom"}},
        "data_source_config.item_schema",
        "missing_required_parameter",
    ),
    ({"testing_criteria": []}, "testing_criteria", "invalid_value"),
    (
        {"testing_criteria": [{**STRING_CHECK, "type": "text_similarity", "evaluation_metric": "bleu"}]},
        "testing_criteria.0.pass_threshold",
        "missing_required_parameter",
    ),
    (
        {"testing_criteria": [{**STRING_CHECK, "input": "{{ghost.x}}"}]},
        "testing_criteria.0.input",
        "invalid_value",
    ),
    (
        {"testing_criteria": [{**STRING_CHECK, "operation": "xx"}]},
        "testing_criteria.0.operation",
        "invalid_value",
    ),
    (
        {"testing_criteria": [{"type": "multi", "graders": {}, "calculate_output": "1"}]},
        "testing_criteria.0.type",
        "invalid_value",
    ),
]


@pytest.mark.parametrize(
    ("changes", "param", "code"), BAD_EVALS, ids=[f"{p}-{c}-{i}" for i, (_, p, c) in enumerate(BAD_EVALS)]
)
def test_bad_eval_bodies_are_400s(http: httpx.Client, changes: dict[str, Any], param: str, code: str) -> None:
    error = _error(http.post("/evals", json=_eval_body(**changes)), 400)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")


def test_not_emulated_sources_say_why(http: httpx.Client) -> None:
    logs = _error(http.post("/evals", json=_eval_body(data_source_config={"type": "logs"})), 400)
    assert "not emulated" in logs["message"] and "offline" in logs["message"]
    evaluation = http.post("/evals", json=_eval_body()).json()
    stored = {"type": "completions", "source": {"type": "stored_completions", "model": "gpt-4o"}}
    error = _error(http.post(f"/evals/{evaluation['id']}/runs", json={"data_source": stored}), 400)
    assert "'stored_completions' is not emulated" in error["message"]
    responses = {"type": "responses", "source": {"type": "responses", "model": "gpt-4o"}}
    error = _error(http.post(f"/evals/{evaluation['id']}/runs", json={"data_source": responses}), 400)
    assert (error["param"], "not emulated" in error["message"]) == ("data_source.type", True)


def test_bad_runs_and_queries(http: httpx.Client) -> None:
    evaluation = http.post("/evals", json=_eval_body()).json()
    runs = f"/evals/{evaluation['id']}/runs"
    missing_file = {"type": "jsonl", "source": {"type": "file_id", "id": "file-nope"}}
    assert (
        _error(http.post(runs, json={"data_source": missing_file}), 400)["param"] == "data_source.source.id"
    )
    assert _error(http.post(runs, json={}), 400)["code"] == "missing_required_parameter"
    not_json = http.post(runs, content=b"{", headers={"content-type": "application/json"})
    assert _error(not_json, 400)["message"].startswith("We could not parse the JSON body")
    assert (
        _error(http.post("/evals/eval_nope/runs", json={"data_source": missing_file}), 404)["param"]
        == "eval_id"
    )
    assert _error(http.get("/evals", params={"limit": 0}), 400)["code"] == "integer_out_of_range"
    assert _error(http.get("/evals", params={"limit": 101}), 400)["param"] == "limit"
    assert _error(http.get("/evals", params={"order": "up"}), 400)["param"] == "order"
    assert _error(http.get("/evals", params={"after": "eval_nope"}), 400)["param"] == "after"
    assert _error(http.get(f"{runs}/evalrun_nope"), 404)["message"] == "No run found with id 'evalrun_nope'."


# The list endpoints' `limit` ranges (README, "Evals API": 1..100; files: OpenAI's spec says "between
# 1 and 10,000, and the default is 10,000") and `order` values with their defaults (OpenAI's spec).
LISTS = {
    "/v1/evals": (100, 20, "asc"),
    "/v1/evals/{eval_id}/runs": (100, 20, "asc"),
    "/v1/evals/{eval_id}/runs/{run_id}/output_items": (100, 20, "asc"),
    "/v1/files": (10_000, 10_000, "desc"),
}


def test_list_parameters_are_declared_in_the_published_document(evals_real: RunningServer) -> None:
    """/openapi.json states each range and enum, so clients and fuzzers see what the server refuses."""
    document = httpx.get(f"{evals_real.url}/openapi.json", timeout=30).json()
    for path, (maximum, default_limit, default_order) in LISTS.items():
        parameters = {p["name"]: p["schema"] for p in document["paths"][path]["get"]["parameters"]}
        limit, order = parameters["limit"], parameters["order"]
        assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
            "integer",
            1,
            maximum,
            default_limit,
        ), path
        assert (order["enum"], order["default"]) == (["asc", "desc"], default_order), path


@pytest.mark.parametrize(("path", "maximum"), [("/evals", 100), ("/files", 10_000)])
def test_declared_limits_answer_openais_400(http: httpx.Client, path: str, maximum: int) -> None:
    for limit in (0, -3, maximum + 1):
        error = _error(http.get(path, params={"limit": limit}), 400)
        assert error == {
            "message": f"Invalid 'limit': integer out of range. Expected a value between 1 and {maximum}, "
            f"but got {limit} instead.",
            "type": "invalid_request_error",
            "param": "limit",
            "code": "integer_out_of_range",
        }
    assert _error(http.get(path, params={"limit": "ten"}), 400)["message"] == (
        "Invalid type for 'limit': expected an integer, but got a string instead."
    )
    assert _error(http.get(path, params={"order": "up"}), 400)["message"] == (
        "Invalid value: 'up'. Supported values are: 'asc' and 'desc'."
    )
    assert http.get(path, params={"limit": maximum, "order": "desc"}).status_code == 200


def test_bad_uploads(http: httpx.Client) -> None:
    files = {"file": ("a.jsonl", b"{}\n")}
    assert _error(http.post("/files", files=files), 400)["param"] == "purpose"
    assert _error(http.post("/files", files=files, data={"purpose": "x"}), 400)["code"] == "invalid_value"
    assert _error(http.post("/files", data={"purpose": "evals"}), 400)["param"] == "file"
    assert _error(http.post("/files", json={"purpose": "evals"}), 400)["code"] == "invalid_value"
    assert _error(http.get("/files/file-nope"), 404)["message"] == "No such File object: file-nope"


def test_item_reference_messages_and_bad_rows(http: httpx.Client) -> None:
    evaluation = http.post("/evals", json=_eval_body()).json()
    messages = [{"role": "user", "content": "say it"}, {"role": "user", "content": "Paris"}]
    content = [
        {"item": {"id": 0, "ref": "Paris", "msgs": messages}},
        {"item": {"id": 1, "ref": "Paris", "msgs": "not a list"}},
    ]
    source = {
        "type": "completions",
        "model": "m",
        "input_messages": {"type": "item_reference", "item_reference": "item.msgs"},
        "source": {"type": "file_content", "content": content},
    }
    run = http.post(f"/evals/{evaluation['id']}/runs", json={"data_source": source}).json()
    done = _wait(http, evaluation["id"], run["id"])
    assert done["result_counts"] == {"total": 2, "errored": 1, "failed": 0, "passed": 1}
    items = http.get(f"/evals/{evaluation['id']}/runs/{run['id']}/output_items").json()["data"]
    assert items[0]["sample"]["output"] == [{"role": "assistant", "content": "Paris"}]  # the default echo
    assert "is not a list of messages" in items[1]["sample"]["error"]["message"]


def test_rows_without_samples_error_on_the_criteria_that_need_one(http: httpx.Client) -> None:
    judge = {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "hi"}],
    }
    evaluation = http.post("/evals", json=_eval_body(testing_criteria=[STRING_CHECK, judge])).json()
    source = {
        "type": "jsonl",
        "source": {"type": "file_content", "content": [{"item": {"id": 0, "ref": "a"}}]},
    }
    run = http.post(f"/evals/{evaluation['id']}/runs", json={"data_source": source}).json()
    done = _wait(http, evaluation["id"], run["id"])
    assert done["status"] == "completed"
    assert done["result_counts"] == {"total": 1, "errored": 1, "failed": 0, "passed": 0}
    item = http.get(f"/evals/{evaluation['id']}/runs/{run['id']}/output_items").json()["data"][0]
    errors = [result["sample"]["errors"] for result in item["results"]]
    assert "sample.output_text" in errors[0]["invalid_variable_error"]
    assert "no sample with an output_text" in errors[1]["invalid_variable_error"]


def test_sessions_isolate_evals_and_reset_clears_them(evals_real: RunningServer) -> None:
    a, b = new_session(), new_session()
    with httpx.Client(headers=AUTH, timeout=30) as http:
        in_a = http.post(f"{session_url(evals_real.url, a)}/evals", json=_eval_body()).json()
        in_b = http.post(
            f"{evals_real.base_url}/evals", json=_eval_body(), headers={"x-emulator-session": b}
        ).json()
        assert http.get(f"{session_url(evals_real.url, b)}/evals/{in_a['id']}").status_code == 404
        assert http.get(f"{evals_real.base_url}/evals/{in_a['id']}").status_code == 404
        listed = http.get(f"{session_url(evals_real.url, b)}/evals").json()
        assert [e["id"] for e in listed["data"]] == [in_b["id"]]
        assert http.post(f"{evals_real.url}/_emulator/sessions/{a}/reset").status_code == 200
        assert http.get(f"{session_url(evals_real.url, a)}/evals/{in_a['id']}").status_code == 404
        assert http.get(f"{session_url(evals_real.url, b)}/evals/{in_b['id']}").status_code == 200


def test_fault_injection_and_journal_cover_the_new_paths(evals_real: RunningServer) -> None:
    session = new_session()
    base = session_url(evals_real.url, session)
    control = f"{evals_real.url}/_emulator/sessions/{session}"
    with httpx.Client(headers=AUTH, timeout=30) as http:
        forced = http.get(f"{base}/evals", headers={"x-emulator-status": "503"})
        assert forced.status_code == 503 and forced.json()["error"]["type"] == "server_error"
        rule = {"kind": "fault", "match": {"path": "/v1/files*", "method": "POST"}, "status": 429, "times": 1}
        assert http.post(f"{control}/rules", json=rule).status_code == 200
        upload = {"file": ("a.jsonl", b"{}\n")}
        assert http.post(f"{base}/files", files=upload, data={"purpose": "evals"}).status_code == 429
        assert http.post(f"{base}/files", files=upload, data={"purpose": "evals"}).status_code == 200
        journal = http.get(f"{control}/journal").json()["data"]
    seen = [(entry["method"], entry["path"], entry["status"]) for entry in journal]
    assert seen[:3] == [
        ("GET", "/v1/evals", 503),
        ("POST", "/v1/files", 429),
        ("POST", "/v1/files", 200),
    ]
