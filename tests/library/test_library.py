"""The library face (`graders_emulator.run`, `validate`, `Grader`, `Sandbox`) against the server and
against the reference libraries called directly."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from example_graders import EXACT
from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rapidfuzz import fuzz, utils
from rouge_score import rouge_scorer

import graders_emulator as ge
from graders_emulator.testing import RunningServer

API_KEY = "sk-test-emulator-0000"  # the key the session server of tests/conftest.py accepts
RUN_PATH = "/v1/fine_tuning/alpha/graders/run"
VALIDATE_PATH = "/v1/fine_tuning/alpha/graders/validate"
SAMPLE_IN = "{{sample.output_text}}"

PYTHON_LENGTH = "def grade(sample, item):\n    return len(sample['output_text']) / float(item['n'])\n"

# One grader of every type (label_model is allowed only inside multi, CONTRACT §1).
GRADERS: dict[str, dict[str, Any]] = {
    "string_check": EXACT,
    "fuzzy_match": {
        "type": "text_similarity",
        "name": "fz",
        "input": SAMPLE_IN,
        "reference": "{{item.answer}}",
        "evaluation_metric": "fuzzy_match",
    },
    "bleu": {
        "type": "text_similarity",
        "name": "bl",
        "input": SAMPLE_IN,
        "reference": "{{item.answer}}",
        "evaluation_metric": "bleu",
    },
    "rouge_l": {
        "type": "text_similarity",
        "name": "rl",
        "input": SAMPLE_IN,
        "reference": "{{item.answer}}",
        "evaluation_metric": "rouge_l",
    },
    "meteor": {
        "type": "text_similarity",
        "name": "me",
        "input": SAMPLE_IN,
        "reference": "{{item.answer}}",
        "evaluation_metric": "meteor",
    },
    "cosine": {
        "type": "text_similarity",
        "name": "co",
        "input": SAMPLE_IN,
        "reference": "{{item.answer}}",
        "evaluation_metric": "cosine",
    },
    "python": {"type": "python", "name": "py", "source": PYTHON_LENGTH},
    "score_model": {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "Score {{sample.output_text}} against {{item.answer}}"}],
    },
    "multi": {
        "type": "multi",
        "name": "combo",
        "graders": {
            "exact": {
                "type": "string_check",
                "name": "exact",
                "input": SAMPLE_IN,
                "reference": "{{item.answer}}",
                "operation": "eq",
            },
            "label": {
                "type": "label_model",
                "name": "lab",
                "model": "gpt-4o",
                "input": [{"role": "user", "content": "Label {{sample.output_text}}"}],
                "labels": ["good", "bad"],
                "passing_labels": ["good"],
            },
        },
        "calculate_output": "0.5 * exact + 0.5 * label",
    },
}
SAMPLE = "the cat sat on the mat"
ITEM = {"answer": "the cat is on the mat", "n": 4}


def _without_time(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    body["metadata"].pop("execution_time")
    return body


def _post(server: RunningServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        server.url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )


@pytest.mark.parametrize("kind", list(GRADERS), ids=list(GRADERS))
def test_run_body_equals_the_http_body(emulator: RunningServer, kind: str) -> None:
    grader = GRADERS[kind]
    http = _post(emulator, RUN_PATH, {"grader": grader, "model_sample": SAMPLE, "item": ITEM})
    assert http.status_code == 200
    assert _without_time(ge.run(grader, SAMPLE, ITEM)) == _without_time(http.json())


@pytest.mark.parametrize("kind", list(GRADERS), ids=list(GRADERS))
def test_validate_body_equals_the_http_body(emulator: RunningServer, kind: str) -> None:
    http = _post(emulator, VALIDATE_PATH, {"grader": GRADERS[kind]})
    assert http.status_code == 200
    assert ge.validate(GRADERS[kind]) == http.json()


@pytest.mark.parametrize("kind", list(GRADERS), ids=list(GRADERS))
def test_grade_many_equals_run_per_sample(kind: str) -> None:
    rows = [
        (SAMPLE, ITEM),
        ("the cat is on the mat", ITEM),
        ("", {"answer": "", "n": 1}),
        ("dog", {"answer": "cat", "n": 2}),
    ]
    grader = ge.Grader(GRADERS[kind])
    batch = grader.grade_many(rows)
    assert [_without_time(r.to_wire()) for r in batch] == [
        _without_time(ge.run(GRADERS[kind], s, i)) for s, i in rows
    ]


def test_values_equal_the_reference_libraries() -> None:
    """Expectations computed here with rapidfuzz, nltk and rouge-score called directly (CONTRACT §5)."""
    pairs = [
        ("fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair"),
        ("The quick brown fox.", "the quick brown dog!"),
    ]
    tokenize = NLTKWordTokenizer().tokenize
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for sample, reference in pairs:
        item = {"answer": reference}
        assert ge.Grader(GRADERS["fuzzy_match"]).grade(sample, item).reward == pytest.approx(
            fuzz.WRatio(sample, reference, processor=utils.default_process) / 100, abs=1e-12
        )
        expected_bleu = sentence_bleu(
            [tokenize(reference)], tokenize(sample), smoothing_function=SmoothingFunction().method1
        )
        assert ge.Grader(GRADERS["bleu"]).grade(sample, item).reward == pytest.approx(
            expected_bleu, abs=1e-12
        )
        expected_rouge = scorer.score(reference, sample)["rougeL"].fmeasure
        assert ge.Grader(GRADERS["rouge_l"]).grade(sample, item).reward == pytest.approx(
            expected_rouge, abs=1e-12
        )
    # The one real captured value (OpenAI's graders guide pair).
    assert (
        ge.run(GRADERS["fuzzy_match"], *pairs[0][:1], {"answer": pairs[0][1]})["reward"] == 0.7555555555555555
    )


def test_string_check_by_hand() -> None:
    grader = ge.Grader(
        {
            "type": "string_check",
            "name": "s",
            "input": SAMPLE_IN,
            "reference": "{{item.a}}",
            "operation": "ilike",
        }
    )
    rewards = [
        r.reward
        for r in grader.grade_many(
            [("Hello World", {"a": "WORLD"}), ("Hello", {"a": "bye"}), ("ß", {"a": "SS"})]
        )
    ]
    assert rewards == [1.0, 0.0, 1.0]  # ilike: substring after casefold; 'ß'.casefold() == 'ss'


def test_python_grader_through_the_library() -> None:
    rows = [(text, {"n": n}) for text, n in [("abcd", 2), ("", 5), ("hello world", 11), ("x" * 30, 3)]]
    results = ge.Grader(GRADERS["python"]).grade_many(rows)
    assert [r.reward for r in results] == [len(text) / n["n"] for text, n in rows]
    failing = ge.Grader(
        {
            "type": "python",
            "name": "bad",
            "source": "def grade(sample, item):\n    raise ValueError('nope')\n",
        }
    )
    result = failing.grade("x")
    assert result.reward == 0.0 and result.flags == ("python_grader_runtime_error",)
    assert "ValueError: nope" in result.details["python_grader_runtime_error"]


def test_an_explicit_sandbox_is_used_and_closed() -> None:
    with ge.Sandbox(workers=1, timeout_s=2) as sandbox:
        grader = ge.Grader(
            {
                "type": "python",
                "name": "slow",
                "source": "import time\ndef grade(s, i):\n    time.sleep(5)\n    return 1\n",
            }
        )
        result = grader.grade("x")
        assert result.flags == ("python_grader_runtime_error",)
        # the Sandbox's 2 s wall limit, not the default 30 s
        assert "limit of 2 s" in result.details["python_grader_runtime_error"]
        assert sandbox.protections().get("mode") not in (None, "disabled")
    with pytest.raises(RuntimeError, match="closed"):
        ge.Grader(GRADERS["python"], sandbox=sandbox).grade("abcd", {"n": 2})


@pytest.mark.parametrize(
    ("grader", "message", "param", "code"),
    [
        (
            {"type": "string_check", "name": "s", "input": "a", "reference": "b", "operation": "xyz"},
            "Invalid value: 'xyz'. Supported values are: 'eq', 'ne', 'like', and 'ilike'.",
            "grader.operation",
            "invalid_value",
        ),
        (
            {"type": "string_check", "name": "s", "input": {"a": 1}, "reference": "b", "operation": "eq"},
            "Invalid type for 'grader.input': expected a string, but got an object instead.",
            "grader.input",
            "invalid_type",
        ),
        (
            {
                "type": "multi",
                "name": "m",
                "graders": {
                    "type": "string_check",
                    "input": "a",
                    "reference": "b",
                    "operation": "eq",
                    "name": "x",
                },
                "calculate_output": "x",
            },
            "Invalid type for 'graders.input': expected an object, but got a string instead.",
            "grader.graders.input",
            "invalid_type",
        ),
    ],
    ids=["bad-enum", "wrong-type", "multi-graders-single-object"],
)
def test_an_invalid_grader_raises_with_the_400s_fields(
    grader: dict[str, Any], message: str, param: str, code: str
) -> None:
    """Messages are the contract's literal ones (CONTRACT §3), the same for run, validate and Grader."""
    for call in (lambda: ge.validate(grader), lambda: ge.run(grader, "x"), lambda: ge.Grader(grader)):
        with pytest.raises(ge.GraderError) as caught:
            call()
        assert (caught.value.message, caught.value.param, caught.value.code, caught.value.status) == (
            message,
            param,
            code,
            400,
        )


def test_graders_load_from_a_file_json_text_and_sdk_objects(tmp_path: Path) -> None:
    from openai.types.graders import StringCheckGrader

    path = tmp_path / "g.json"
    path.write_text(json.dumps(GRADERS["string_check"]))
    sdk_object = StringCheckGrader(**GRADERS["string_check"])
    for form in (path, str(path), json.dumps(GRADERS["string_check"]), sdk_object):
        assert ge.Grader(form).grade("yes", {"answer": "yes"}).reward == 1.0


def test_items_may_hold_numpy_values() -> None:
    grader = ge.Grader(
        {"type": "string_check", "name": "s", "input": "{{item.n}}", "reference": "3", "operation": "eq"}
    )
    assert grader.grade("x", {"n": np.int64(3)}).reward == 1.0


def test_async_forms_from_the_callers_own_loop() -> None:
    grader = ge.Grader(GRADERS["fuzzy_match"])

    async def main() -> list[float]:
        one = await grader.agrade("abc", {"answer": "abc"})
        many = await grader.agrade_many([("abc", {"answer": "abd"}), ("", {"answer": ""})])
        return [one.reward, *(r.reward for r in many)]

    assert asyncio.run(main()) == [1.0, fuzz.WRatio("abc", "abd", processor=utils.default_process) / 100, 0.0]


def test_result_fields_of_a_multi_grader() -> None:
    result = ge.Grader(GRADERS["multi"]).grade("the cat is on the mat", ITEM)
    assert set(result.sub_rewards) == {"exact", "label"}
    assert result.sub_rewards["exact"] == 1.0
    assert math.isclose(result.reward, 0.5 * 1.0 + 0.5 * result.sub_rewards["label"])
    assert result.to_wire()["sub_rewards"] == dict(result.sub_rewards)


def test_options_are_settings_fields() -> None:
    body = ge.run(GRADERS["score_model"], SAMPLE, ITEM, response_profile="spec")
    assert isinstance(body["metadata"]["token_usage"], int)  # the spec profile's integer token_usage
    assert len(body["metadata"]["errors"]) == 14
    with pytest.raises(TypeError, match="unknown option"):
        ge.run(GRADERS["string_check"], "x", no_such_setting=1)


def test_import_is_light() -> None:
    """`import graders_emulator` loads neither the web framework nor the grading engine."""
    import subprocess
    import sys

    code = "import sys, graders_emulator; print(sorted(m for m in ('fastapi', 'nltk', 'graders_emulator.library') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_model_graders_answer_from_the_same_rules_file_as_the_server(tmp_path: Path) -> None:
    """The rules file format of the README ("Rules file"): a canned score, then (after `times`) a label."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "models:\n"
        "  - grader: {name: judge}\n"
        "    match: {sample_contains: Paris}\n"
        "    answer: {score: 0.25, usage: {prompt_tokens: 11, completion_tokens: 3}}\n"
        "    times: 1\n"
        "  - grader: {name: judge}\n"
        "    answer: {refusal: I cannot grade that}\n"
    )
    grader = ge.Grader(GRADERS["score_model"], config=str(rules))
    first, second = grader.grade_many([("Paris", ITEM), ("Paris", ITEM)])
    assert (first.reward, first.flags) == (0.25, ())
    assert first.token_usage == {
        "prompt_tokens": 11,
        "total_tokens": 14,
        "completion_tokens": 3,
        "cached_tokens": 0,
    }
    assert first.sampled_model_name == "gpt-4o-2024-08-06"  # CONTRACT §2's alias example
    assert (second.reward, second.flags) == (0.0, ("model_grader_refusal_error",))
