"""The library grades under the sample bounds of `POST /run`: what the server answers with a 400, every
library entry (`grade`, `agrade`, `grade_many`, `agrade_many`, `run`, a bound Grader) raises as a
GraderError with the same message, param and code. The server's answers come from a real app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from example_graders import EXACT, FUZZY
from fastapi.testclient import TestClient

import graders_emulator as ge
from graders_emulator.library import Grader
from graders_emulator.main import create_app
from graders_emulator.runtime import build_runtime, build_sandbox
from graders_emulator.settings import Settings

MAX_BODY = 100_000  # the rendered-size bound is 2 x this: 200,000 characters
RUN = "/v1/fine_tuning/alpha/graders/run"
AUTH = {"Authorization": "Bearer sk-bounds"}
# 2,000 copies of the item's answer: 2000 x 1,000 characters = 2,000,000 rendered, 10x the bound
AMPLIFIED = {**EXACT, "name": "amplified", "reference": "{{item.answer}}" * 2000}
ITEM = {"answer": "x" * 1000}
TEXT_ONLY = {**EXACT, "name": "text", "reference": "a"}
DEEP_SAMPLE = "[" * 70 + "]" * 70  # JSON nested 70 deep: over max_json_depth (64)
AMPLIFIED_FUZZY = {**FUZZY, "name": "fz", "reference": "{{item.answer}}" * 2000}
CASES = {
    "amplified-template": (AMPLIFIED, "short", ITEM),
    "amplified-text_similarity": (AMPLIFIED_FUZZY, "short", ITEM),
    "sample-json-too-deep": (TEXT_ONLY, DEEP_SAMPLE, None),
}


@pytest.fixture(scope="module")
def server() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(max_body_bytes=MAX_BODY))) as client:
        yield client


def server_error(server: TestClient, grader: dict[str, Any], sample: str, item: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"grader": grader, "model_sample": sample}
    if item is not None:
        body["item"] = item
    answer = server.post(RUN, json=body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


def test_the_server_answers_each_case_with_a_400_naming_the_bound(server: TestClient) -> None:
    amplified = server_error(server, *CASES["amplified-template"])
    assert (amplified["param"], amplified["code"]) == ("grader.reference", "invalid_value")
    assert "more than 200000 characters" in amplified["message"]
    deep = server_error(server, *CASES["sample-json-too-deep"])
    assert deep == {
        "message": "model_sample (as JSON) is nested more than 64 levels deep; the limit is 64 "
        "(setting max_json_depth).",
        "type": "invalid_request_error",
        "param": "model_sample",
        "code": "invalid_value",
    }


def raised(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ge.GraderError) as caught:
        call()
    return caught.value.envelope()["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_library_entry_raises_what_the_server_answers(server: TestClient, case: str) -> None:
    grader_json, sample, item = CASES[case]
    expected = server_error(server, grader_json, sample, item)
    grader = ge.Grader(grader_json, max_body_bytes=MAX_BODY)
    assert raised(lambda: grader.grade(sample, item)) == expected
    assert raised(lambda: grader.grade_many([("fine", ITEM), (sample, item)])) == expected
    assert raised(lambda: asyncio.run(grader.agrade(sample, item))) == expected
    assert raised(lambda: asyncio.run(grader.agrade_many([(sample, item)]))) == expected
    assert raised(lambda: ge.run(grader_json, sample, item, max_body_bytes=MAX_BODY)) == expected


def test_a_bound_grader_raises_what_the_server_answers(server: TestClient) -> None:
    settings = Settings(max_body_bytes=MAX_BODY, python_graders=False)
    runtime = build_runtime(settings, build_sandbox(settings))

    def no_models() -> Any:
        raise AssertionError("string_check asks no model")

    for grader_json, sample, item in CASES.values():
        expected = server_error(server, grader_json, sample, item)
        bound = Grader.bound(grader_json, runtime, no_models)
        assert raised(lambda: asyncio.run(bound.agrade(sample, item))) == expected  # noqa: B023
        assert raised(lambda: asyncio.run(bound.agrade_many([(sample, item)]))) == expected  # noqa: B023


def test_samples_within_the_bounds_grade_as_before() -> None:
    grader = ge.Grader({**AMPLIFIED, "reference": "{{item.answer}}" * 3}, max_body_bytes=MAX_BODY)
    assert grader.grade("x" * 3000, ITEM).reward == 1.0
    nested = "[" * 60 + "]" * 60  # 60 levels: within the bound
    text = ge.Grader({**TEXT_ONLY, "reference": nested})
    assert [r.reward for r in text.grade_many([(nested, None), ("[" * 64 + "]" * 64, None)])] == [1.0, 0.0]


@pytest.mark.parametrize(
    ("references", "value_chars", "over"),
    [(1, 200_001, True), (1, 199_990, False), (4, 50_001, True), (4, 49_990, False)],
    ids=["one-reference-over", "one-reference-under", "four-references-over", "four-references-under"],
)
def test_a_flat_item_value_is_measured_against_the_rendered_bound(
    references: int, value_chars: int, over: bool
) -> None:
    """Rows the server could never receive (a value over its body limit) are still bounded in the
    library: `{{item.answer}}` x n renders n x the value's length, against 2 x MAX_BODY = 200,000
    characters (hand-counted: the reference's literal text is empty, the input renders 1 character)."""
    grader = ge.Grader({**AMPLIFIED, "reference": "{{item.answer}}" * references}, max_body_bytes=MAX_BODY)
    row = ("x", {"answer": "x" * value_chars})
    if over:
        with pytest.raises(ge.GraderError, match="more than 200000 characters"):
            grader.grade_many([row])
    else:
        assert grader.grade_many([row])[0].reward == 0.0
