"""Error mapping: a bad body -> OpenAI's 400 message, param (dotted body path, tags stripped) and code."""

from __future__ import annotations

from typing import Any

import pytest

from graders_emulator.errors import BadRequest, body_path
from graders_emulator.http.auth import mask_key
from graders_emulator.service import Runtime, parse_run, parse_validate
from graders_emulator.validation import NameGenerator

RUNTIME = Runtime(
    sandbox=None,  # type: ignore[arg-type]  # parsing never grades
    embedder=None,
    model_aliases={},
    new_name=NameGenerator(0),
    profile="real",
    strict=False,
    max_source_bytes=256 * 1024,
)
STRICT = Runtime(**{**RUNTIME.__dict__, "strict": True})


def check(grader: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
    return {"grader": grader, "model_sample": "x", **body} if grader is not None else body


SC = {"type": "string_check", "name": "g", "input": "a", "reference": "b", "operation": "eq"}
SUB = {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}

CASES: list[tuple[str, Any, str, str | None, str | None]] = [
    (
        "missing-model-sample",
        {"grader": SC},
        "Missing required parameter: 'model_sample'.",
        "model_sample",
        "missing_required_parameter",
    ),
    (
        "missing-grader",
        {"model_sample": "x"},
        "Missing required parameter: 'grader'.",
        "grader",
        "missing_required_parameter",
    ),
    (
        "missing-operation",
        check({k: v for k, v in SC.items() if k != "operation"}),
        "Missing required parameter: 'grader.operation'.",
        "grader.operation",
        "missing_required_parameter",
    ),
    (
        "bad-enum",
        check({**SC, "operation": "xyz"}),
        "Invalid value: 'xyz'. Supported values are: 'eq', 'ne', 'like', and 'ilike'.",
        "grader.operation",
        "invalid_value",
    ),
    (
        "wrong-type-object",
        check({**SC, "input": {"a": 1}}),
        "Invalid type for 'grader.input': expected a string, but got an object instead.",
        "grader.input",
        "invalid_type",
    ),
    (
        "wrong-type-number",
        check({**SC, "reference": 3}),
        "Invalid type for 'grader.reference': expected a string, but got an integer instead.",
        "grader.reference",
        "invalid_type",
    ),
    (
        "model-sample-type",
        {"grader": SC, "model_sample": ["x"]},
        "Invalid type for 'model_sample': expected a string, but got an array instead.",
        "model_sample",
        "invalid_type",
    ),
    (
        "unknown-type",
        check({"type": "bogus"}),
        "Invalid value: 'bogus'. Supported values are: 'string_check', 'text_similarity', 'python', 'score_model', 'label_model', and 'multi'.",
        "grader.type",
        "invalid_value",
    ),
    (
        "missing-type",
        check({"name": "x"}),
        "Missing required parameter: 'grader.type'.",
        "grader.type",
        "missing_required_parameter",
    ),
    (
        "bad-metric",
        check({"type": "text_similarity", "input": "a", "reference": "b", "evaluation_metric": "bleurt"}),
        "",
        "grader.evaluation_metric",
        "invalid_value",
    ),
    (
        "multi-as-one-grader",
        check({"type": "multi", "graders": SC, "calculate_output": "g"}),
        "Invalid type for 'graders.input': expected an object, but got a string instead.",
        "grader.graders.input",
        "invalid_type",
    ),
    (
        "nested-multi",
        check(
            {
                "type": "multi",
                "graders": {"m": {"type": "multi", "graders": {}, "calculate_output": "1"}},
                "calculate_output": "m",
            }
        ),
        "",
        "grader.graders.m.type",
        "invalid_value",
    ),
    (
        "sub-grader-field",
        check({"type": "multi", "graders": {"a": {**SUB, "operation": "?"}}, "calculate_output": "a"}),
        "",
        "grader.graders.a.operation",
        "invalid_value",
    ),
    (
        "message-role",
        check({"type": "score_model", "model": "m", "input": [{"role": "robot", "content": "x"}]}),
        "",
        "grader.input.0.role",
        "invalid_value",
    ),
    (
        "content-part-type",
        check(
            {
                "type": "score_model",
                "model": "m",
                "input": [{"role": "user", "content": [{"type": "input_video", "x": 1}]}],
            }
        ),
        "",
        "grader.input.0.content.0.type",
        "invalid_value",
    ),
    (
        "top-level-label-model",
        check({"type": "label_model", "model": "m", "input": [], "labels": ["a"], "passing_labels": ["a"]}),
        "",
        "grader.type",
        "invalid_value",
    ),
    ("bad-namespace", check({**SC, "input": "{{ foo.bar }}"}), "", "grader.input", "invalid_value"),
    (
        "bad-namespace-in-message",
        check(
            {
                "type": "score_model",
                "model": "m",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": "{{x.y}}"}]}],
            }
        ),
        "",
        "grader.input.0.content.0.text",
        "invalid_value",
    ),
    (
        "formula-syntax",
        check({"type": "multi", "graders": {"a": SUB}, "calculate_output": "a +"}),
        "",
        "grader.calculate_output",
        "invalid_value",
    ),
    (
        "formula-unknown-variable",
        check({"type": "multi", "graders": {"a": SUB}, "calculate_output": "a + b"}),
        "",
        "grader.calculate_output",
        "invalid_value",
    ),
    (
        "formula-unknown-function",
        check({"type": "multi", "graders": {"a": SUB}, "calculate_output": "pow(a, 2)"}),
        "",
        "grader.calculate_output",
        "invalid_value",
    ),
    (
        "python-source-too-long",
        check({"type": "python", "source": "#" * (256 * 1024 + 1)}),
        "",
        "grader.source",
        "invalid_value",
    ),
    (
        "range-reversed",
        check({"type": "score_model", "model": "m", "input": [], "range": [1, 0]}),
        "",
        "grader.range",
        "invalid_value",
    ),
    (
        "passing-label-not-a-label",
        check(
            {
                "type": "multi",
                "graders": {
                    "l": {
                        "type": "label_model",
                        "model": "m",
                        "input": [],
                        "labels": ["a"],
                        "passing_labels": ["b"],
                    }
                },
                "calculate_output": "l",
            }
        ),
        "",
        "grader.graders.l.passing_labels",
        "invalid_value",
    ),
    (
        "body-not-object",
        ["grader"],
        "Invalid type for body: expected an object, but got an array instead.",
        None,
        "invalid_type",
    ),
]


@pytest.mark.parametrize(
    ("body", "message", "param", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_run_400s(body: Any, message: str, param: str | None, code: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_run(body, RUNTIME)
    error = caught.value
    assert (error.status, error.type, error.param) == (400, "invalid_request_error", param)
    if code is not None:
        assert error.code == code
    if message:
        assert error.message == message
    assert error.message  # never empty


def test_validate_uses_the_same_checks() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_validate(
            {"grader": {"type": "multi", "graders": {"a": SUB}, "calculate_output": "a +"}}, RUNTIME
        )
    assert caught.value.param == "grader.calculate_output"


def test_unknown_keys_ignored_by_default_and_refused_when_strict() -> None:
    body = check({**SC, "pass_threshold": 0.5})
    assert parse_run(body, RUNTIME).grader.type == "string_check"
    with pytest.raises(BadRequest) as caught:
        parse_run(body, STRICT)
    assert caught.value.param == "grader.pass_threshold"
    assert caught.value.code == "unknown_parameter"


def test_strict_names_nested_unknown_keys() -> None:
    body = check({"type": "multi", "graders": {"a": {**SUB, "weight": 2}}, "calculate_output": "a"})
    with pytest.raises(BadRequest) as caught:
        parse_run(body, STRICT)
    assert caught.value.param == "grader.graders.a.weight"


@pytest.mark.parametrize(
    ("body", "loc", "expected"),
    [
        ({"grader": {"operation": "x"}}, ("grader", "string_check", "operation"), "grader.operation"),
        (
            {"grader": {"input": [{"content": 3}]}},
            ("grader", "score_model", "input", 0, "content", "str"),
            "grader.input.0.content",
        ),
        ({"a": [1, 2]}, ("a", 1), "a.1"),
        ({"a": {"list[str]": 1}}, ("a", "list[str]"), "a.list[str]"),
        ({}, ("grader",), None),
    ],
    ids=["tag", "union-member", "index", "key-that-looks-like-a-tag", "absent"],
)
def test_body_path_keeps_only_what_indexes_the_body(
    body: Any, loc: tuple[Any, ...], expected: str | None
) -> None:
    assert body_path(body, loc) == expected


@pytest.mark.parametrize(
    ("key", "shown"),
    [("sk-proj-abcdefgh1234", "sk-...1234"), ("short", "***"), ("abcdefghijk", "abc...hijk")],
    ids=["sk", "short", "other"],
)
def test_mask_key(key: str, shown: str) -> None:
    assert mask_key(key) == shown


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("seed", 42, True),
        ("seed", 42.0, True),
        ("seed", "42", False),
        ("seed", True, False),
        ("seed", 4.5, False),
        ("temperature", 1, True),
        ("temperature", True, False),
        ("max_completions_tokens", 0, False),
    ],
    ids=repr,
)
def test_wire_types_are_strict_but_integral_floats_are_integers(
    field: str, value: Any, accepted: bool
) -> None:
    grader = {"type": "score_model", "model": "m", "input": [], "sampling_params": {field: value}}
    if accepted:
        parse_run(check(grader), RUNTIME)
        return
    with pytest.raises(BadRequest) as caught:
        parse_run(check(grader), RUNTIME)
    assert caught.value.param == f"grader.sampling_params.{field}"
