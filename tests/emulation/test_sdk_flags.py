"""Every error flag can be forced per request and reads back through the official SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from emulation_helpers import KEY, STRING_CHECK, run

from graders_emulator.testing import RunningServer

# CONTRACT §2's 24 error keys are 15 flags, each with the `*_details` / `*_type` key it carries (None:
# the flag has none). Written out here, not read from the app: a flag the app drops fails its test.
DETAIL_KEY: dict[str, str | None] = {
    "formula_parse_error": None,
    "sample_parse_error": "sample_parse_error_details",
    "truncated_observation_error": None,
    "unresponsive_reward_error": None,
    "invalid_variable_error": "invalid_variable_error_details",
    "other_error": None,
    "python_grader_server_error": "python_grader_server_error_type",
    "python_grader_runtime_error": "python_grader_runtime_error_details",
    "model_grader_server_error": "model_grader_server_error_details",
    "model_grader_refusal_error": "model_grader_refusal_error_details",
    "model_grader_parse_error": "model_grader_parse_error_details",
    "model_grader_exceeded_max_tokens_error": None,
    "endpoint_grader_internal_error": "endpoint_grader_internal_error_details",
    "endpoint_grader_server_error": "endpoint_grader_server_error_details",
    "endpoint_grader_safety_check_error": None,
}
FLAGS = list(DETAIL_KEY)


def test_the_flags_and_their_keys_are_the_24_keys() -> None:
    assert len(FLAGS) == 15
    keys = set(FLAGS) | {key for key in DETAIL_KEY.values() if key is not None}
    assert len(keys) == 24


@pytest.mark.parametrize("flag", FLAGS, ids=FLAGS)
def test_forced_flag_reads_back(sdk: openai.OpenAI, flag: str) -> None:
    raw = sdk.fine_tuning.alpha.graders.with_raw_response.run(
        grader=STRING_CHECK,  # type: ignore[arg-type]
        model_sample="Paris",
        item={"answer": "Paris"},
        extra_headers={"x-emulator-errors": flag, "x-emulator-error-details": "why"},
    )
    result = raw.parse()
    errors: dict[str, Any] = result.metadata.errors.to_dict()
    assert result.reward == 0.0
    assert errors[flag] is True
    assert [key for key, value in errors.items() if value is True] == [flag]
    detail_key = DETAIL_KEY[flag]
    if detail_key is not None:
        assert errors[detail_key] == "why"
    else:  # no details key on the wire: the core reports the text in a response header
        assert json.loads(raw.headers["x-emulator-flag-details"]) == {flag: "why"}


def test_several_flags_at_once(sdk: openai.OpenAI) -> None:
    result = run(sdk, STRING_CHECK, headers={"x-emulator-errors": "other_error, model_grader_parse_error"})
    errors = result.metadata.errors.to_dict()
    assert errors["other_error"] and errors["model_grader_parse_error"]
    assert errors["model_grader_parse_error_details"] == "forced by the x-emulator-errors header"


def test_without_header_the_grader_passes(sdk: openai.OpenAI) -> None:
    assert run(sdk, STRING_CHECK).reward == 1.0


def test_unknown_flag_is_a_400(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        run(sdk, STRING_CHECK, headers={"x-emulator-errors": "other_error,no_such_flag"})
    error = caught.value.body
    assert isinstance(error, dict)
    assert "unknown error flag 'no_such_flag'" in error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-emulator-score", "high"),
        ("x-emulator-status", "200"),
        ("x-emulator-fault", "explode"),
        ("x-emulator-latency-ms", "-1"),
        ("x-emulator-retry-after-ms", "61000"),
        ("x-emulator-should-retry", "maybe"),
    ],
    ids=[
        "x-emulator-score-high",
        "x-emulator-status-200",
        "x-emulator-fault-explode",
        "x-emulator-latency-ms--1",
        "x-emulator-retry-after-ms-61000",
        "x-emulator-should-retry-maybe",
    ],
)
def test_bad_header_values_are_400s_naming_the_header(sdk: openai.OpenAI, header: str, value: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        run(sdk, STRING_CHECK, headers={header: value})
    assert f"'{header}'" in caught.value.message


def test_bad_session_header_is_a_400(server: RunningServer) -> None:
    with (
        openai.OpenAI(base_url=server.base_url, api_key=KEY) as client,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        run(client, STRING_CHECK, headers={"x-emulator-session": "no spaces"})
    assert "'x-emulator-session'" in caught.value.message


def test_flags_forced_by_a_fault_rule(sdk: openai.OpenAI, control: Any) -> None:
    rule = {
        "kind": "fault",
        "match": {"grader_name": "exact"},
        "errors": {"sample_parse_error": "bad sample"},
    }
    control.post("rules", json=rule).raise_for_status()
    errors = run(sdk, STRING_CHECK).metadata.errors.to_dict()
    assert errors["sample_parse_error"] is True
    assert errors["sample_parse_error_details"] == "bad sample"
