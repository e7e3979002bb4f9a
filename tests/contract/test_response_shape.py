"""CONTRACT §2 on the raw wire: key order, JSON floats, the 24 (or the spec's 14) error keys, token usage
forms, request ids and timing headers on every answer; and OpenAI's own schema accepts the answers."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from example_graders import JUDGE

from graders_emulator.testing import RunningServer

from .support import (
    AUTH,
    GPT_4O_SNAPSHOT,
    METADATA_KEYS,
    REAL_ERROR_KEYS,
    REQUEST_ID,
    RESPONSE_KEYS,
    RUN_EXAMPLE_PATH,
    RUN_PATH,
    TOKEN_USAGE_KEYS,
    VALIDATE_PATH,
    assert_run_shape,
    fragment,
    spec_error_keys,
)

INT_RETURNING = {"type": "python", "name": "int", "source": "def grade(sample, item):\n    return 1\n"}
SCORE_MODEL = JUDGE
MULTI = {
    "type": "multi",
    "name": "m",
    "graders": {
        "a": {
            "type": "string_check",
            "input": "{{ sample.output_text }}",
            "reference": "x",
            "operation": "eq",
        },
        "b": SCORE_MODEL,
    },
    "calculate_output": "a + b",
}


def _post(server: RunningServer, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={**AUTH, **headers}, timeout=30)


def test_integers_are_sent_as_json_floats(emulator: RunningServer) -> None:
    response = _post(emulator, RUN_PATH, {"grader": INT_RETURNING, "model_sample": "x"})
    assert response.status_code == 200
    assert response.text.startswith('{"reward":1.0,"metadata":{"name":"int","type":"python","errors":{')
    body = response.json()
    assert type(body["reward"]) is float
    assert re.search(r'"execution_time":\d+\.\d+(e-?\d+)?,', response.text)
    assert_run_shape(body)


def test_default_profile_shape(emulator: RunningServer) -> None:
    response = _post(
        emulator, RUN_PATH, {"grader": MULTI, "model_sample": "x"}, **{"x-emulator-score": "0.25"}
    )
    body = response.json()
    assert_run_shape(body, profile="real")
    errors = body["metadata"]["errors"]
    assert tuple(errors) == REAL_ERROR_KEYS
    assert len(errors) == 24
    assert all(v is False for k, v in errors.items() if not k.endswith(("_details", "_type")))
    assert all(v is None for k, v in errors.items() if k.endswith(("_details", "_type")))
    assert body["reward"] == 1.25
    assert body["sub_rewards"] == {"a": 1.0, "b": 0.25}
    assert '"sub_rewards":{"a":1.0,"b":0.25}' in response.text
    usage = body["metadata"]["token_usage"]
    assert tuple(usage) == TOKEN_USAGE_KEYS
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["model_grader_token_usage_per_model"] == {GPT_4O_SNAPSHOT: usage}


def test_spec_profile_shape(spec_emulator: RunningServer) -> None:
    response = _post(
        spec_emulator, RUN_PATH, {"grader": SCORE_MODEL, "model_sample": "x"}, **{"x-emulator-score": "1"}
    )
    body = response.json()
    assert_run_shape(body, profile="spec")
    assert tuple(body["metadata"]["errors"]) == spec_error_keys()
    assert len(spec_error_keys()) == 14
    assert type(body["metadata"]["token_usage"]) is int
    assert body["metadata"]["token_usage"] > 0
    assert body["metadata"]["sampled_model_name"] == GPT_4O_SNAPSHOT
    assert body["reward"] == 1.0
    assert '"reward":1.0,' in response.text


def _fragment_schema(name: str) -> dict[str, Any]:
    spec = fragment()
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


@pytest.mark.parametrize(
    "grader",
    [
        INT_RETURNING,
        SCORE_MODEL,
        MULTI,
        {"type": "text_similarity", "input": "a b", "reference": "a c", "evaluation_metric": "bleu"},
    ],
    ids=["python", "score_model", "multi", "text_similarity"],
)
def test_openai_schema_accepts_spec_profile_answers(
    spec_emulator: RunningServer, grader: dict[str, Any]
) -> None:
    """OpenAI's own RunGraderResponse schema (the fragment) accepts the `spec` profile's answers whole."""
    body = _post(spec_emulator, RUN_PATH, {"grader": grader, "model_sample": "x"}).json()
    jsonschema.validate(body, _fragment_schema("RunGraderResponse"))


def test_openai_schema_accepts_default_answers_but_token_usage(emulator: RunningServer) -> None:
    """The default profile differs from the spec only where the live API does (token_usage object)."""
    body = _post(emulator, RUN_PATH, {"grader": MULTI, "model_sample": "x"}).json()
    usage = body["metadata"]["token_usage"]
    assert isinstance(usage, dict)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, _fragment_schema("RunGraderResponse"))
    body["metadata"]["token_usage"] = usage["total_tokens"]
    jsonschema.validate(body, _fragment_schema("RunGraderResponse"))


def test_openai_example_response_has_our_shape() -> None:
    """The captured live answer next to the fragment (run-example-response.json) has CONTRACT §2's key
    order and token-usage object, so the assertions of this suite describe the live API."""
    example = json.loads(RUN_EXAMPLE_PATH.read_text())
    assert tuple(example) == RESPONSE_KEYS
    assert tuple(example["metadata"]) == METADATA_KEYS
    assert tuple(example["metadata"]["token_usage"]) == TOKEN_USAGE_KEYS
    assert tuple(example["metadata"]["errors"]) == spec_error_keys()


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", RUN_PATH, {"grader": INT_RETURNING, "model_sample": "x"}, AUTH),
        ("POST", VALIDATE_PATH, {"grader": INT_RETURNING}, AUTH),
        ("POST", RUN_PATH, {"grader": INT_RETURNING}, AUTH),
        ("POST", RUN_PATH, {"grader": INT_RETURNING, "model_sample": "x"}, {}),
        ("POST", "/v1/nope", {}, AUTH),
        ("GET", RUN_PATH, None, AUTH),
        ("GET", "/healthz", None, {}),
        ("GET", "/readyz", None, {}),
        ("GET", "/openapi.json", None, {}),
    ],
    ids=["run-200", "validate-200", "400", "401", "404", "405", "healthz", "readyz", "openapi"],
)
def test_every_answer_has_request_id_and_timing(
    emulator: RunningServer, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    first = httpx.request(method, emulator.url + path, json=body, headers=headers, timeout=30)
    second = httpx.request(method, emulator.url + path, json=body, headers=headers, timeout=30)
    for response in (first, second):
        assert REQUEST_ID.match(response.headers["x-request-id"]), response.headers
        assert response.headers["openai-processing-ms"].isdigit()
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_request_id_surfaces_in_the_sdk(client: openai.OpenAI) -> None:
    grader = {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}
    raw = client.fine_tuning.alpha.graders.with_raw_response.run(grader=grader, model_sample="x")
    parsed = raw.parse()
    assert raw.request_id == raw.headers["x-request-id"]
    assert parsed._request_id == raw.request_id
    assert REQUEST_ID.match(parsed._request_id or "")
    validated = client.fine_tuning.alpha.graders.validate(grader=grader)
    assert REQUEST_ID.match(validated._request_id or "")
    assert validated._request_id != parsed._request_id
