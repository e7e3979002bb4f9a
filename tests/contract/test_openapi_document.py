"""The OpenAPI document the server publishes (`GET /openapi.json`): error envelopes for every error
status, request bodies for both operations, and a run-response schema that real answers satisfy."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from jsonschema.validators import validator_for

from graders_emulator.testing import RunningServer

from .support import AUTH, RUN_PATH, VALIDATE_PATH

OPERATIONS = {"run": RUN_PATH, "validate": VALIDATE_PATH}
ERROR_STATUSES = ("400", "401", "404", "413", "429", "500")


@pytest.fixture(scope="module")
def document(emulator: RunningServer) -> dict[str, Any]:
    response = httpx.get(emulator.url + "/openapi.json")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def _with_components(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "components": document["components"]}


def _validate(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    full = _with_components(document, schema)
    validator_for(full, default=jsonschema.Draft202012Validator)(full).validate(instance)


def test_document_is_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    for path in OPERATIONS.values():
        assert set(document["paths"][path]) == {"post"}


@pytest.mark.parametrize("operation", OPERATIONS, ids=list(OPERATIONS))
@pytest.mark.parametrize("status", ERROR_STATUSES, ids=list(ERROR_STATUSES))
def test_error_statuses_use_the_envelope(document: dict[str, Any], operation: str, status: str) -> None:
    responses = document["paths"][OPERATIONS[operation]]["post"]["responses"]
    assert status in responses, f"{operation}: {status} is not documented ({sorted(responses)})"
    schema = responses[status]["content"]["application/json"]["schema"]
    envelope = _resolve(document, schema)
    assert envelope["required"] == ["error"]
    error = _resolve(document, envelope["properties"]["error"])
    assert set(error["required"]) == {"message", "type", "param", "code"}
    # A real envelope of each kind validates against it, and a FastAPI-style body does not.
    real = {"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}}
    _validate(document, schema, real)
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, schema, {"detail": [{"loc": ["body"], "msg": "x", "type": "missing"}]})


def test_no_422_is_documented(document: dict[str, Any]) -> None:
    """FastAPI's 422 never reaches a client (CONTRACT §3), so the document must not promise it."""
    for path in OPERATIONS.values():
        assert "422" not in document["paths"][path]["post"]["responses"]


@pytest.mark.parametrize(
    ("operation", "required"),
    [("run", {"grader", "model_sample"}), ("validate", {"grader"})],
    ids=["run", "validate"],
)
def test_request_bodies(document: dict[str, Any], operation: str, required: set[str]) -> None:
    body = document["paths"][OPERATIONS[operation]]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    resolved = _resolve(document, schema)
    assert set(resolved["required"]) == required
    assert "grader" in resolved["properties"]
    # Bodies that the emulator accepts validate; one missing a required field does not.
    grader = {"type": "string_check", "name": "g", "input": "a", "reference": "a", "operation": "eq"}
    good = (
        {"grader": grader, "model_sample": "a", "item": {"x": 1}}
        if operation == "run"
        else {"grader": grader}
    )
    _validate(document, schema, good)
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, schema, {k: v for k, v in good.items() if k != "grader"})
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, schema, {**good, "grader": {**grader, "operation": "xyz"}})


def test_every_grader_type_is_in_the_request_schema(document: dict[str, Any]) -> None:
    schema = document["paths"][RUN_PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for grader in (
        {"type": "text_similarity", "input": "a", "reference": "b", "evaluation_metric": "meteor"},
        {"type": "python", "source": "def grade(s, i):\n    return 1\n", "image_tag": "2025-05-08"},
        {
            "type": "score_model",
            "model": "gpt-4o",
            "input": [{"role": "user", "content": "x"}],
            "range": [0, 1],
        },
        {
            "type": "multi",
            "graders": {
                "a": {"type": "string_check", "input": "a", "reference": "b", "operation": "like"},
                "b": {
                    "type": "label_model",
                    "model": "gpt-4o",
                    "input": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}],
                    "labels": ["y", "n"],
                    "passing_labels": ["y"],
                },
            },
            "calculate_output": "a + b",
        },
    ):
        _validate(document, schema, {"grader": grader, "model_sample": "x"})


def _run_schema(document: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][RUN_PATH]["post"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return schema


@pytest.mark.parametrize("profile", ["real", "spec"], ids=["real", "spec"])
def test_run_response_schema_accepts_real_answers(
    document: dict[str, Any], emulator: RunningServer, spec_emulator: RunningServer, profile: str
) -> None:
    server = emulator if profile == "real" else spec_emulator
    score = {
        "type": "score_model",
        "name": "j",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "{{ sample.output_text }}"}],
    }
    graders: list[dict[str, Any]] = [
        {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"},
        {"type": "text_similarity", "input": "a b c", "reference": "a b d", "evaluation_metric": "rouge_l"},
        {"type": "python", "source": "def grade(s, i):\n    return 0.25\n"},
        {"type": "python", "source": "def grade(s, i):\n    raise RuntimeError('x')\n"},  # a flag raised
        score,
        {
            "type": "multi",
            "graders": {"a": score, "b": {"type": "python", "source": "def grade(s, i): return 1"}},
            "calculate_output": "a * b",
        },
    ]
    for grader in graders:
        response = httpx.post(
            server.url + RUN_PATH, json={"grader": grader, "model_sample": "x"}, headers=AUTH, timeout=30
        )
        assert response.status_code == 200, response.text
        _validate(document, _run_schema(document), response.json())


def test_validate_response_schema_accepts_real_answers(
    document: dict[str, Any], emulator: RunningServer
) -> None:
    schema = document["paths"][VALIDATE_PATH]["post"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    grader = {
        "type": "multi",
        "graders": {"a": {"type": "string_check", "input": "a", "reference": "b", "operation": "ne"}},
        "calculate_output": "a",
    }
    response = httpx.post(emulator.url + VALIDATE_PATH, json={"grader": grader}, headers=AUTH)
    assert response.status_code == 200
    _validate(document, schema, response.json())


def test_run_response_schema_rejects_wrong_answers(document: dict[str, Any], emulator: RunningServer) -> None:
    """The schema is not vacuous: a body with a missing key or a wrong type fails it."""
    response = httpx.post(
        emulator.url + RUN_PATH,
        json={
            "grader": {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"},
            "model_sample": "x",
        },
        headers=AUTH,
    )
    body = response.json()
    schema = _run_schema(document)
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, schema, {k: v for k, v in body.items() if k != "reward"})
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, schema, {**body, "reward": "1.0"})
    broken = {
        **body,
        "metadata": {**body["metadata"], "errors": {**body["metadata"]["errors"], "other_error": "no"}},
    }
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, schema, broken)
