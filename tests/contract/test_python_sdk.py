"""Every grader type through the official Python SDK: strict and default validation, sync and async.

Strict mode (`_strict_response_validation=True`) rejects the object form of `token_usage` that the
live API returns (reference/clients.md), so strict model-grader cases run against a `spec`-profile
server (integer token_usage) and lenient ones against the default server (object token_usage).
Model graders are answered through the `x-emulator-score` / `x-emulator-label` headers, so the
expected reward is known without reading the emulator's default-answer rule.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from example_graders import METRICS

from graders_emulator.testing import RunningServer

from .support import (
    GENERATED_NAME,
    GPT_4O_SNAPSHOT,
    PARTIAL_INPUT,
    PARTIAL_REFERENCE,
    REQUEST_ID,
    TOKEN_USAGE_KEYS,
    Case,
    Flavour,
    Mode,
    assert_run_shape,
    call,
    expected_similarity,
    fuzzy_match,
    raised_flags,
)

SAMPLE_TEMPLATE = "{{ sample.output_text }}"


def _string_check(operation: str, sample: str, reference: str) -> Case:
    expected = {
        "eq": sample == reference,
        "ne": sample != reference,
        "like": reference in sample,
        "ilike": reference.casefold() in sample.casefold(),
    }[operation]
    grader = {
        "type": "string_check",
        "name": f"sc-{operation}",
        "input": SAMPLE_TEMPLATE,
        "reference": "{{ item.reference }}",
        "operation": operation,
    }
    return Case(f"string_check-{operation}", grader, sample, {"reference": reference}, float(expected))


def _similarity(metric: str) -> Case:
    expected, tolerance = expected_similarity(metric, PARTIAL_INPUT, PARTIAL_REFERENCE)
    grader = {
        "type": "text_similarity",
        "name": f"ts-{metric}",
        "input": SAMPLE_TEMPLATE,
        "reference": "{{ item.reference }}",
        "evaluation_metric": metric,
    }
    return Case(
        f"text_similarity-{metric}",
        grader,
        PARTIAL_INPUT,
        {"reference": PARTIAL_REFERENCE},
        expected,
        tolerance,
    )


PYTHON_SOURCE = """
def grade(sample, item):
    return len(sample["output_text"]) / item["n"]
"""
SCORE_PROMPT = [
    {"role": "system", "content": "Grade the answer from 0 to 1."},
    {"role": "user", "content": [{"type": "input_text", "text": "Answer: {{ sample.output_text }}"}]},
]
LABEL_PROMPT = [{"role": "user", "content": "Is '{{ sample.output_text }}' a capital city?"}]

MULTI_SAMPLE = "Paris"
MULTI_REFERENCE = "Paris, France"
MULTI_SUBS = {
    "exact": 1.0,  # string_check like: "Paris" in "Paris"
    "fuzzy": fuzzy_match(MULTI_SAMPLE, MULTI_REFERENCE),
    "length": 5 / 10,  # python: len("Paris") / n
    "judge": 0.6,  # x-emulator-score
    "label": 1.0,  # x-emulator-label "yes", a passing label
}
MULTI_FORMULA = "(exact + fuzzy + length + judge + label) / 5 - 0.1 * (1 - exact) ^ 2"


def _multi() -> Case:
    grader = {
        "type": "multi",
        "name": "combined",
        "graders": {
            "exact": {
                "type": "string_check",
                "name": "exact",
                "input": SAMPLE_TEMPLATE,
                "reference": "{{ item.city }}",
                "operation": "like",
            },
            "fuzzy": {
                "type": "text_similarity",
                "name": "fuzzy",
                "input": SAMPLE_TEMPLATE,
                "reference": "{{ item.full }}",
                "evaluation_metric": "fuzzy_match",
            },
            "length": {"type": "python", "name": "length", "source": PYTHON_SOURCE},
            "judge": {"type": "score_model", "name": "judge", "model": "gpt-4o", "input": SCORE_PROMPT},
            "label": {
                "type": "label_model",
                "name": "label",
                "model": "gpt-4o",
                "input": LABEL_PROMPT,
                "labels": ["yes", "no"],
                "passing_labels": ["yes"],
            },
        },
        "calculate_output": MULTI_FORMULA,
    }
    subs = MULTI_SUBS
    reward = (sum(subs.values())) / 5 - 0.1 * (1 - subs["exact"]) ** 2
    return Case(
        "multi-all-five",
        grader,
        MULTI_SAMPLE,
        {"city": "Paris", "full": MULTI_REFERENCE, "n": 10},
        reward,
        headers={"x-emulator-score": "0.6", "x-emulator-label": "yes"},
        models=True,
        sub_rewards=subs,
    )


CASES: list[Case] = [
    _string_check("eq", "Paris", "Paris"),
    _string_check("ne", "Paris", "paris"),
    _string_check("like", "The capital is Paris.", "Paris"),
    _string_check("ilike", "THE CAPITAL IS STRASSE", "straße"),  # casefold, not lower()
    *(_similarity(metric) for metric in METRICS),
    Case(
        "python",
        {"type": "python", "name": "py", "source": PYTHON_SOURCE},
        "abcd",
        {"n": 8},
        0.5,
    ),
    Case(
        "python-unclamped",
        {"type": "python", "name": "py-big", "source": "def grade(sample, item):\n    return 2.5\n"},
        "x",
        {},
        2.5,
    ),
    Case(
        "score_model",
        {"type": "score_model", "name": "judge", "model": "gpt-4o", "input": SCORE_PROMPT},
        "Paris",
        {},
        0.7,
        headers={"x-emulator-score": "0.7"},
        models=True,
    ),
    Case(
        "score_model-clamped-to-range",
        {
            "type": "score_model",
            "name": "judge-10",
            "model": "gpt-4o",
            "input": SCORE_PROMPT,
            "range": [0, 10],
            "sampling_params": {"temperature": 0.0, "seed": 7},
        },
        "Paris",
        {},
        10.0,  # clamped, not normalised (CONTRACT §7)
        headers={"x-emulator-score": "12"},
        models=True,
    ),
    _multi(),
]


def _server(case: Case, mode: Mode, emulator: RunningServer, spec_emulator: RunningServer) -> RunningServer:
    return spec_emulator if case.models and mode == "strict" else emulator


@pytest.mark.parametrize("flavour", ["sync", "async"], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["strict", "lenient"], ids=["strict", "lenient"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_run_every_grader(
    case: Case, mode: Mode, flavour: Flavour, emulator: RunningServer, spec_emulator: RunningServer
) -> None:
    server = _server(case, mode, emulator, spec_emulator)
    profile = "spec" if server is spec_emulator else "real"
    answer = call(
        server.base_url,
        mode,
        flavour,
        "run",
        grader=case.grader,
        model_sample=case.model_sample,
        item=case.item,
        extra_headers=case.headers,
    )
    assert answer.status == 200
    body = answer.json
    assert_run_shape(body, profile=profile)
    assert raised_flags(body) == set(), body["metadata"]["errors"]
    assert body["reward"] == pytest.approx(case.reward, abs=case.tolerance)
    assert body["metadata"]["name"] == case.grader["name"]
    assert body["metadata"]["type"] == case.grader["type"]
    assert body["sub_rewards"] == pytest.approx(case.sub_rewards, abs=1e-12)

    # The SDK's parsed object agrees with the wire.
    parsed = answer.parsed
    assert parsed.reward == body["reward"]
    assert parsed.metadata.name == case.grader["name"]
    assert parsed.metadata.type == case.grader["type"]
    assert parsed.metadata.errors.formula_parse_error is False
    assert parsed.metadata.execution_time == body["metadata"]["execution_time"]
    assert parsed._request_id == answer.request_id
    assert answer.request_id is not None
    assert REQUEST_ID.match(answer.request_id)
    assert answer.headers["openai-processing-ms"].isdigit()

    usage = body["metadata"]["token_usage"]
    if not case.models:
        assert usage is None
        assert body["metadata"]["sampled_model_name"] is None
        assert body["model_grader_token_usage_per_model"] == {}
        assert parsed.metadata.token_usage is None
        return
    per_model = body["model_grader_token_usage_per_model"]
    assert list(per_model) == [GPT_4O_SNAPSHOT]
    assert tuple(per_model[GPT_4O_SNAPSHOT]) == TOKEN_USAGE_KEYS
    total = per_model[GPT_4O_SNAPSHOT]["total_tokens"]
    if case.grader["type"] != "multi":
        assert body["metadata"]["sampled_model_name"] == GPT_4O_SNAPSHOT
    if profile == "spec":
        assert type(usage) is int
        assert usage == total
        assert parsed.metadata.token_usage == total
    else:
        assert tuple(usage) == TOKEN_USAGE_KEYS
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["total_tokens"] == total
        assert usage["prompt_tokens"] > 0
        assert parsed.metadata.token_usage == usage  # default mode keeps what it cannot type


def _validated(grader: dict[str, Any]) -> dict[str, Any]:
    """What validate must answer: the grader as sent, `type` first, nothing added but the name."""
    return {"type": grader["type"], **{k: v for k, v in grader.items() if k != "type"}}


@pytest.mark.parametrize("flavour", ["sync", "async"], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["strict", "lenient"], ids=["strict", "lenient"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_validate_every_grader(case: Case, mode: Mode, flavour: Flavour, emulator: RunningServer) -> None:
    if case.grader["type"] == "multi" and mode == "strict":
        # The SDK types `multi.graders` as ONE grader (a known spec defect, reference/clients.md) while
        # the live API (and CONTRACT §1) answer the name -> grader map: strict validation refuses the
        # real answer. The emulator must still send the map, not bend to the SDK's type.
        with pytest.raises(openai.APIResponseValidationError) as raised:
            call(emulator.base_url, mode, flavour, "validate", grader=case.grader)
        assert raised.value.body == {"grader": _validated(case.grader)}
        return
    answer = call(emulator.base_url, mode, flavour, "validate", grader=case.grader)
    assert answer.status == 200
    assert answer.json == {"grader": _validated(case.grader)}
    assert next(iter(answer.json["grader"])) == "type"
    assert answer.parsed.grader is not None
    assert answer.parsed.grader.type == case.grader["type"]
    assert REQUEST_ID.match(answer.request_id or "")


@pytest.mark.parametrize("flavour", ["sync", "async"], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["strict", "lenient"], ids=["strict", "lenient"])
def test_validate_normalises(mode: Mode, flavour: Flavour, emulator: RunningServer) -> None:
    """A missing name is generated; unset optionals are omitted (never `image_tag: null`); unknown
    keys such as OpenAI's own `pass_threshold` are ignored and not echoed."""
    grader = {"source": "def grade(s, i):\n    return 1\n", "type": "python", "pass_threshold": 0.5}
    answer = call(emulator.base_url, mode, flavour, "validate", grader=grader)
    returned = answer.json["grader"]
    assert list(returned) == ["type", "name", "source"]
    assert GENERATED_NAME.match(returned["name"])
    assert returned["source"] == grader["source"]
    again = call(emulator.base_url, mode, flavour, "validate", grader=grader).json["grader"]
    assert again["name"] != returned["name"]  # anew on every call


@pytest.mark.parametrize("flavour", ["sync", "async"], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["strict", "lenient"], ids=["strict", "lenient"])
def test_run_generates_a_name(mode: Mode, flavour: Flavour, emulator: RunningServer) -> None:
    grader = {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}
    answer = call(emulator.base_url, mode, flavour, "run", grader=grader, model_sample="x")
    assert GENERATED_NAME.match(answer.json["metadata"]["name"])
    assert answer.parsed.metadata.name == answer.json["metadata"]["name"]


@pytest.mark.parametrize("mode", ["strict", "lenient"], ids=["strict", "lenient"])
def test_score_model_default_answer_is_deterministic(
    mode: Mode, emulator: RunningServer, spec_emulator: RunningServer
) -> None:
    """With no canned rule and no header, the documented default answers: in range, the same twice."""
    server = spec_emulator if mode == "strict" else emulator
    grader = {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o",
        "input": SCORE_PROMPT,
        "range": [1, 5],
    }
    first = call(server.base_url, mode, "sync", "run", grader=grader, model_sample="Lyon", item={})
    second = call(server.base_url, mode, "sync", "run", grader=grader, model_sample="Lyon", item={})
    assert raised_flags(first.json) == set()
    assert 1.0 <= first.json["reward"] <= 5.0
    assert first.json["reward"] == second.json["reward"]


@pytest.mark.parametrize("flavour", ["sync", "async"], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["strict", "lenient"], ids=["strict", "lenient"])
def test_grading_failures_are_200_with_a_flag(mode: Mode, flavour: Flavour, emulator: RunningServer) -> None:
    """CONTRACT §3: a well-formed request that fails while grading is a 200, reward 0.0, flag + details."""
    missing = {
        "type": "string_check",
        "name": "m",
        "input": "{{ item.nope }}",
        "reference": "a",
        "operation": "eq",
    }
    answer = call(emulator.base_url, mode, flavour, "run", grader=missing, model_sample="a", item={})
    assert answer.json["reward"] == 0.0
    assert raised_flags(answer.json) == {"invalid_variable_error"}
    assert "item.nope" in answer.json["metadata"]["errors"]["invalid_variable_error_details"]

    raising = {
        "type": "python",
        "name": "r",
        "source": "def grade(sample, item):\n    raise ValueError('boom')\n",
    }
    answer = call(emulator.base_url, mode, flavour, "run", grader=raising, model_sample="a", item={})
    assert answer.json["reward"] == 0.0
    assert raised_flags(answer.json) == {"python_grader_runtime_error"}
    assert "ValueError: boom" in answer.json["metadata"]["errors"]["python_grader_runtime_error_details"]
    assert answer.parsed.metadata.errors.python_grader_runtime_error is True

    dividing = {
        "type": "multi",
        "name": "div",
        "graders": {"a": {"type": "string_check", "input": "a", "reference": "b", "operation": "eq"}},
        "calculate_output": "1 / a",
    }
    answer = call(emulator.base_url, mode, flavour, "run", grader=dividing, model_sample="a", item={})
    assert answer.json["reward"] == 0.0
    assert raised_flags(answer.json) == {"formula_parse_error"}


def test_old_sdk_reference_answer(client: Any) -> None:
    """SDK 1.78-1.82 sent `reference_answer` instead of `item` (CONTRACT §1)."""
    grader = {
        "type": "string_check",
        "name": "old",
        "input": "a",
        "reference": "{{ item.reference_answer }}",
        "operation": "eq",
    }
    response = client.fine_tuning.alpha.graders.run(
        grader=grader, model_sample="a", extra_body={"reference_answer": "a"}
    )
    assert response.reward == 1.0


def test_json_sample_fills_output_json(client: Any) -> None:
    grader = {
        "type": "string_check",
        "name": "json",
        "input": "{{ sample.output_json.tools[0].name }}",
        "reference": "search",
        "operation": "eq",
    }
    response = client.fine_tuning.alpha.graders.run(
        grader=grader, model_sample='{"tools": [{"name": "search"}]}', item={}
    )
    assert response.reward == 1.0


@pytest.mark.parametrize("method", ["run", "validate"], ids=["run", "validate"])
def test_content_array_may_hold_plain_strings(method: str, emulator: RunningServer) -> None:
    """OpenAI's spec (EvalItemContentArray items: EvalItemContentItem, whose first member is a plain
    string) and the SDK's `GraderInputs = List[str | ResponseInputText | ...]` allow strings inside a
    content list; the emulator must accept them."""
    grader = {
        "type": "score_model",
        "name": "mixed",
        "model": "gpt-4o",
        "input": [
            {
                "role": "user",
                "content": ["Grade this answer:", {"type": "input_text", "text": "{{ sample.output_text }}"}],
            }
        ],
    }
    kwargs: dict[str, Any] = {"grader": grader}
    if method == "run":
        kwargs |= {"model_sample": "Paris", "item": {}, "extra_headers": {"x-emulator-score": "0.5"}}
    answer = call(emulator.base_url, "lenient", "sync", method, **kwargs)
    if method == "run":
        assert answer.json["reward"] == 0.5
    else:
        assert answer.json == {"grader": grader}
