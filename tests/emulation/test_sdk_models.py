"""Model graders answered by canned rules, headers and the default, read through the official SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from emulation_helpers import LABEL_MODEL, SCORE_MODEL, run

Journal = Callable[..., list[dict[str, Any]]]


def model_rule(answer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"kind": "model", "answer": answer, **fields}


def multi(**graders: dict[str, Any]) -> dict[str, Any]:
    return {"type": "multi", "name": "combo", "graders": graders, "calculate_output": " + ".join(graders)}


def test_multi_with_score_and_label_sums_usage_per_model(
    lenient_sdk: openai.OpenAI, control: httpx.Client
) -> None:
    rules = [
        model_rule(
            {"score": 0.5, "usage": {"prompt_tokens": 10, "completion_tokens": 5}}, match={"grader_name": "a"}
        ),
        model_rule(
            {"score": 0.25, "usage": {"prompt_tokens": 20, "completion_tokens": 5, "cached_tokens": 4}},
            match={"grader_name": "b"},
        ),
        model_rule({"label": "polite", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}),
    ]
    control.post("rules", json=rules).raise_for_status()
    grader = multi(a={**SCORE_MODEL, "name": "a"}, b={**SCORE_MODEL, "name": "b"}, tone=LABEL_MODEL)
    result = run(lenient_sdk, grader)
    assert result.reward == pytest.approx(1.75)
    assert result.sub_rewards == {"a": 0.5, "b": 0.25, "tone": 1.0}
    per_model = {model: usage for model, usage in result.model_grader_token_usage_per_model.items()}
    assert per_model == {
        "gpt-4o-2024-08-06": {
            "prompt_tokens": 30,
            "total_tokens": 40,
            "completion_tokens": 10,
            "cached_tokens": 4,
        },
        "gpt-4o-mini-2024-07-18": {
            "prompt_tokens": 7,
            "total_tokens": 10,
            "completion_tokens": 3,
            "cached_tokens": 0,
        },
    }


def test_queue_answers_twice_then_falls_through(lenient_sdk: openai.OpenAI, control: httpx.Client) -> None:
    control.post(
        "rules", json=[model_rule({"score": 0.2}, times=2), model_rule({"score": 0.9})]
    ).raise_for_status()
    rewards = [run(lenient_sdk, SCORE_MODEL).reward for _ in range(4)]
    assert rewards == [0.2, 0.2, 0.9, 0.9]
    first = control.get("rules").json()["data"][0]
    assert (first["used"], first["remaining"]) == (2, 0)


def test_regex_rule_used_once_answers_one_of_concurrent_calls(
    lenient_sdk: openai.OpenAI, control: httpx.Client
) -> None:
    """The four model calls of a multi match in matching threads at once; `times: 1` still holds."""
    control.post(
        "rules", json=[model_rule({"score": 0.5}, match={"prompt_regex": r"Answer: \w+"}, times=1)]
    ).raise_for_status()
    graders = {name: {**SCORE_MODEL, "name": name} for name in "abcd"}
    result = run(lenient_sdk, {**multi(**graders), "calculate_output": "a + b + c + d"})
    assert sorted(result.sub_rewards.values()).count(0.5) == 1
    assert control.get("rules").json()["data"][0]["used"] == 1


def test_score_is_clamped_to_the_grader_range(lenient_sdk: openai.OpenAI) -> None:
    grader = {**SCORE_MODEL, "range": [0, 5]}
    assert run(lenient_sdk, grader, headers={"x-emulator-score": "7"}).reward == 5.0
    assert run(lenient_sdk, grader, headers={"x-emulator-score": "3.5"}).reward == 3.5


def test_label_header_answers_label_graders(lenient_sdk: openai.OpenAI) -> None:
    grader = multi(tone=LABEL_MODEL)
    assert run(lenient_sdk, grader, headers={"x-emulator-label": "rude"}).reward == 0.0
    assert run(lenient_sdk, grader, headers={"x-emulator-label": "polite"}).reward == 1.0


@pytest.mark.parametrize(
    ("answer", "flag", "details"),
    [
        ({"raw": "not json"}, "model_grader_parse_error", None),
        ({"refusal": "I cannot grade this."}, "model_grader_refusal_error", "I cannot grade this."),
        ({"server_error": "upstream exploded"}, "model_grader_server_error", "upstream exploded"),
        ({"max_tokens": True}, "model_grader_exceeded_max_tokens_error", None),
    ],
    ids=["raw", "refusal", "server_error", "max_tokens"],
)
def test_failing_answers_raise_their_flag(
    lenient_sdk: openai.OpenAI, control: httpx.Client, answer: dict[str, Any], flag: str, details: str | None
) -> None:
    control.post("rules", json=model_rule(answer)).raise_for_status()
    result = run(lenient_sdk, SCORE_MODEL)
    errors = result.metadata.errors.to_dict()
    assert result.reward == 0.0
    assert errors[flag] is True
    if details is not None:
        assert errors[f"{flag}_details"] == details


def test_label_not_in_labels_is_a_parse_error(lenient_sdk: openai.OpenAI, control: httpx.Client) -> None:
    control.post("rules", json=model_rule({"label": "sarcastic"})).raise_for_status()
    errors = run(lenient_sdk, multi(tone=LABEL_MODEL)).metadata.errors.to_dict()
    assert errors["model_grader_parse_error"] is True


@pytest.mark.parametrize(
    ("match", "hits"),
    [
        ({"prompt_contains": "Reference: Paris"}, True),
        ({"prompt_regex": r"Answer: P\w+s"}, True),
        ({"item": {"answer": "Paris"}}, True),
        ({"item": {"answer": "Rome"}}, False),
        ({"sample_contains": "Par"}, True),
        ({"model": "gpt-4o"}, True),
        ({"model": "o3"}, False),
        ({"grader_type": "label_model"}, False),
    ],
    ids=str,
)
def test_match_criteria(
    lenient_sdk: openai.OpenAI, control: httpx.Client, match: dict[str, Any], hits: bool
) -> None:
    control.post(
        "rules", json=model_rule({"raw": '{"result": 0.123, "steps": []}'}, match=match)
    ).raise_for_status()
    assert (run(lenient_sdk, SCORE_MODEL).reward == 0.123) is hits


def test_default_answer_is_stable_and_differs_per_sample(lenient_sdk: openai.OpenAI) -> None:
    first = run(lenient_sdk, SCORE_MODEL, sample="Paris").reward
    assert run(lenient_sdk, SCORE_MODEL, sample="Paris").reward == first
    others = {run(lenient_sdk, SCORE_MODEL, sample=f"answer {n}").reward for n in range(5)}
    assert len(others | {first}) == 6
    assert all(0.0 <= reward <= 1.0 for reward in others)


def test_default_answer_follows_the_sampling_seed(lenient_sdk: openai.OpenAI) -> None:
    rewards = {
        run(lenient_sdk, {**SCORE_MODEL, "sampling_params": {"seed": seed}}).reward for seed in range(4)
    }
    assert len(rewards) == 4


def test_default_usage_is_estimated_from_text_length(lenient_sdk: openai.OpenAI) -> None:
    usage = run(lenient_sdk, SCORE_MODEL).metadata.token_usage
    assert usage["prompt_tokens"] > 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_journal_names_the_rule_or_the_nearest_miss(
    lenient_sdk: openai.OpenAI, control: httpx.Client, journal: Journal
) -> None:
    control.post("rules", json=model_rule({"score": 1.0}, id="only-rome", match={"item": {"answer": "Rome"}}))
    run(lenient_sdk, SCORE_MODEL)
    run(lenient_sdk, SCORE_MODEL, item={"answer": "Rome"})
    missed, answered = (entry["model_calls"][0] for entry in journal())
    assert missed["answered_by"] == "default"
    assert missed["nearest_rule"] == {"id": "only-rome", "why": ["item.answer is 'Paris', not 'Rome'"]}
    assert (answered["answered_by"], answered["rule"]) == ("rule", "only-rome")
    assert answered["messages"][1]["content"] == "Answer: Paris Reference: Rome"


def test_strict_sdk_reads_model_graders_in_the_spec_profile(make_spec_server: Any) -> None:
    with openai.OpenAI(
        base_url=make_spec_server.base_url, api_key="sk-x", _strict_response_validation=True
    ) as sdk:
        result = run(sdk, SCORE_MODEL, headers={"x-emulator-score": "0.75"})
    assert result.reward == 0.75
    assert isinstance(result.metadata.token_usage, int)
