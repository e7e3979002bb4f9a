"""Response assembly (CONTRACT §2) and validate's normalisation, without HTTP."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from contract_values import CONTRACT_ERROR_KEYS

from graders_emulator.grading.context import BaseSandbox, ModelReply, ModelRequest, PythonJob, PythonOutcome
from graders_emulator.grading.result import GradeFailure, TokenUsage
from graders_emulator.library import compiled_run
from graders_emulator.service import Runtime, parse_validate, validate
from graders_emulator.validation import NameGenerator


class Sandbox(BaseSandbox):
    async def run(self, job: PythonJob) -> PythonOutcome:
        return PythonOutcome(value=1)


class Models:
    async def complete(self, request: ModelRequest) -> ModelReply:
        return ModelReply(kind="ok", content='{"result": 0.5, "steps": []}', usage=TokenUsage(3, 2, 1))


def runtime(profile: str = "real", seed: int | None = 1) -> Runtime:
    return Runtime(
        Sandbox(), None, {"gpt-4o": "gpt-4o-2024-08-06"}, NameGenerator(seed), profile, False, 262144
    )  # type: ignore[arg-type]


def respond(
    body: dict[str, Any], profile: str = "real", forced: tuple[GradeFailure, ...] = ()
) -> tuple[bytes, dict[str, Any]]:
    rt = runtime(profile)
    request = compiled_run(body, rt)  # the server's path: POST /run grades through the library face
    outcome = asyncio.run(
        request.grader.arun(request.model_sample, request.item, models=Models(), forced=forced)
    )
    return outcome.body, orjson.loads(outcome.body)


ERROR_KEYS = CONTRACT_ERROR_KEYS  # CONTRACT §2, in this order (tests/contract_values.py)
# The `spec` profile: the 14 keys of RunGraderResponse.metadata.errors in OpenAI's spec (openai-openapi
# f85dbe2, tests/contract/openapi/graders-fragment.json), in the spec's order.
SPEC_ERROR_KEYS = (
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_server_error_type",
    "python_grader_runtime_error",
    "python_grader_runtime_error_details",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
    "model_grader_server_error_details",
)

STRING_CHECK = {
    "type": "string_check",
    "name": "g",
    "input": "{{sample.output_text}}",
    "reference": "{{item.a}}",
    "operation": "eq",
}
SCORE = {"type": "score_model", "name": "s", "model": "gpt-4o", "input": [{"role": "user", "content": "hi"}]}


def test_key_order_and_float_encoding() -> None:
    raw, body = respond({"grader": STRING_CHECK, "model_sample": "x", "item": {"a": "x"}})
    assert list(body) == ["reward", "metadata", "sub_rewards", "model_grader_token_usage_per_model"]
    assert list(body["metadata"]) == [
        "name",
        "type",
        "errors",
        "execution_time",
        "scores",
        "token_usage",
        "sampled_model_name",
    ]
    assert list(body["metadata"]["errors"]) == list(ERROR_KEYS)
    assert len(ERROR_KEYS) == 24
    assert b'"reward":1.0' in raw
    assert isinstance(body["metadata"]["execution_time"], float)
    assert body["metadata"] | {"execution_time": 0} == {
        "name": "g",
        "type": "string_check",
        "errors": body["metadata"]["errors"],
        "execution_time": 0,
        "scores": {},
        "token_usage": None,
        "sampled_model_name": None,
    }
    assert not any(body["metadata"]["errors"][k] for k in ERROR_KEYS)


def test_token_usage_object_by_default_integer_in_spec_profile() -> None:
    _, real = respond({"grader": SCORE, "model_sample": "x"})
    expected = {"prompt_tokens": 3, "total_tokens": 5, "completion_tokens": 2, "cached_tokens": 1}
    assert real["metadata"]["token_usage"] == expected
    assert list(real["metadata"]["token_usage"]) == list(expected)
    assert real["model_grader_token_usage_per_model"] == {"gpt-4o-2024-08-06": expected}
    assert real["metadata"]["sampled_model_name"] == "gpt-4o-2024-08-06"
    _, spec = respond({"grader": SCORE, "model_sample": "x"}, profile="spec")
    assert spec["metadata"]["token_usage"] == 5
    assert list(spec["metadata"]["errors"]) == list(SPEC_ERROR_KEYS)


def test_forced_failures_zero_the_reward_and_set_details() -> None:
    forced = (GradeFailure("model_grader_refusal_error", "forced by test"), GradeFailure("other_error"))
    _, body = respond({"grader": STRING_CHECK, "model_sample": "x", "item": {"a": "x"}}, forced=forced)
    errors = body["metadata"]["errors"]
    assert body["reward"] == 0.0
    assert (
        errors["model_grader_refusal_error"] is True
        and errors["model_grader_refusal_error_details"] == "forced by test"
    )
    assert errors["other_error"] is True


def test_multi_sub_rewards_by_key() -> None:
    grader = {
        "type": "multi",
        "name": "m",
        "graders": {"exact": STRING_CHECK, "py": {"type": "python", "source": "x"}},
        "calculate_output": "exact + py",
    }
    _, body = respond({"grader": grader, "model_sample": "x", "item": {"a": "y"}})
    assert body["sub_rewards"] == {"exact": 0.0, "py": 1.0}
    assert body["reward"] == 1.0 and body["metadata"]["scores"] == {}


def test_reference_answer_fills_item() -> None:
    grader = {**STRING_CHECK, "reference": "{{item.reference_answer}}"}
    _, body = respond({"grader": grader, "model_sample": "x", "reference_answer": "x"})
    assert body["reward"] == 1.0


def test_generated_names_are_fresh_and_seedable() -> None:
    body = {
        "grader": {k: v for k, v in STRING_CHECK.items() if k != "name"},
        "model_sample": "x",
        "item": {"a": "x"},
    }
    names = [respond(body)[1]["metadata"]["name"] for _ in range(2)]
    assert all(re.fullmatch(r"grader-[A-Za-z0-9]{12}", n) for n in names)
    first, second = NameGenerator(7), NameGenerator(7)
    assert [first(), first()] == [second(), second()] and first() != NameGenerator(8)()


@pytest.mark.parametrize(
    ("grader", "expected"),
    [
        ({"name": "p", "source": "x", "type": "python"}, {"type": "python", "name": "p", "source": "x"}),
        (
            {"type": "python", "name": "p", "source": "x", "image_tag": None},
            {"type": "python", "name": "p", "source": "x"},
        ),
        (
            {"type": "python", "name": "p", "source": "x", "pass_threshold": 1},
            {"type": "python", "name": "p", "source": "x"},
        ),
        (
            {
                "type": "score_model",
                "name": "s",
                "model": "m",
                "input": [{"role": "user", "content": "c"}],
                "sampling_params": {"seed": 1},
            },
            {
                "type": "score_model",
                "name": "s",
                "model": "m",
                "input": [{"role": "user", "content": "c"}],
                "sampling_params": {"seed": 1},
            },
        ),
    ],
    ids=["type-first", "no-null-image-tag", "extras-dropped", "nested"],
)
def test_validate_normalises(grader: dict[str, Any], expected: dict[str, Any]) -> None:
    rt = runtime()
    body = orjson.loads(validate(parse_validate({"grader": grader}, rt), rt))
    assert body == {"grader": expected}
    assert list(body["grader"]) == list(expected)


def test_validate_generates_names_for_sub_graders() -> None:
    rt = runtime()
    grader = {
        "type": "multi",
        "graders": {"a": {k: v for k, v in STRING_CHECK.items() if k != "name"}},
        "calculate_output": "a",
    }
    body = orjson.loads(validate(parse_validate({"grader": grader}, rt), rt))["grader"]
    assert body["name"].startswith("grader-") and body["graders"]["a"]["name"].startswith("grader-")
    assert list(body) == ["type", "name", "graders", "calculate_output"]


# --- check_namespaces: its shortcuts never let through what the template walk refuses ---------------


def _walk_refuses(templates: list[tuple[str, str]], namespaces: dict[str, Any], limits: Any) -> bool:
    from graders_emulator.bounds import check_rendered
    from graders_emulator.errors import BadRequest

    try:
        check_rendered(iter(templates), namespaces, limits)
    except BadRequest:
        return True
    return False


@pytest.mark.parametrize("copies", [1, 2, 5, 9, 10, 11, 40])
@pytest.mark.parametrize(
    "item",
    [
        {"answer": "x" * 10},
        {"answer": "é" * 10},
        {"answer": None},
        {},
        {"answer": 1e15},
        {"answer": [1e15, 1e15]},
        {"answer": {"deep": "y" * 9}},
        ["not", "an", "object"],
    ],
)
def test_check_namespaces_refuses_exactly_what_the_walk_refuses(copies: int, item: Any) -> None:
    from graders_emulator import templating
    from graders_emulator.bounds import RequestBounds
    from graders_emulator.errors import BadRequest
    from graders_emulator.service import check_namespaces, size_plan

    limits = RequestBounds(max_body_bytes=50, max_rendered_ratio=2.0)  # 100 rendered characters
    templates = [
        ("grader.input", "{{sample.output_text}}"),
        ("grader.reference", "ab{{item.answer}}" * copies),
    ]
    sample = "z" * 7
    namespaces = templating.namespaces(item, sample)
    body = orjson.dumps(
        {
            "grader": {"input": templates[0][1], "reference": templates[1][1]},
            "model_sample": sample,
            "item": item,
        }
    )
    expected = _walk_refuses(templates, namespaces, limits)
    for body_bytes in (None, len(body)):
        try:
            check_namespaces(templates, namespaces, limits, body_bytes, size_plan(templates))
        except BadRequest:
            refused = True
        else:
            refused = False
        assert refused == expected, (copies, item, body_bytes)
