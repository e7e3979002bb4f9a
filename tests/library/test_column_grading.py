"""`grade_many` of a batch whose rows are all plain (a str sample, a JSON-able dict item, lone
`{{ namespace.key }}` templates reading str values) is scored over whole columns (`grading.columns`).

Each test grades such batches and holds them against what does not share that code: the per-sample
`graders_emulator.run` (the server's body, execution_time aside), rapidfuzz called directly, string
checks by hand. Batches that are plain but for one row (a row at a bound, an item `run` refuses) give
what `run` gives for each row, the refusal included."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import numpy as np
import pytest
from example_graders import EXACT, FUZZY, METRICS, SAMPLE_TEXT
from rapidfuzz import fuzz, utils

import graders_emulator as ge
from graders_emulator.settings import Settings

WORDS = ["the", "cat", "Cat", "sat", "on", "a", "mat", "Zürich", "naïve", "!", "mat."]


def _check(operation: str, input: str = SAMPLE_TEXT, reference: str = "{{item.answer}}") -> dict[str, Any]:
    return {**EXACT, "operation": operation, "input": input, "reference": reference}


def _similarity(metric: str) -> dict[str, Any]:
    return {**FUZZY, "evaluation_metric": metric}


def _rows(count: int, seed: int = 3) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        answer = " ".join(rng.choices(WORDS, k=rng.randint(0, 6)))
        sample = answer if rng.random() < 0.3 else " ".join(rng.choices(WORDS, k=rng.randint(0, 6)))
        rows.append((sample, {"answer": answer, "id": rng.randint(0, 9)}))
    return rows


def _body(result: ge.Result) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(result.to_wire()))
    body["metadata"].pop("execution_time")
    return body


def _run_body(grader: dict[str, Any], sample: str, item: Any, **options: Any) -> dict[str, Any]:
    body = ge.run(grader, sample, item, **options)
    body["metadata"].pop("execution_time")
    return body


def _same_as_run(grader: dict[str, Any], rows: list[tuple[str, Any]], **options: Any) -> list[ge.Result]:
    results = ge.Grader(grader, **options).grade_many(rows)
    assert [_body(r) for r in results] == [_run_body(grader, s, i, **options) for s, i in rows]
    return results


@pytest.mark.parametrize("operation", ["eq", "ne", "like", "ilike"])
def test_string_checks_equal_the_operation_by_hand(operation: str) -> None:
    rows = _rows(60)
    results = _same_as_run(_check(operation), rows)
    by_hand = {
        "eq": lambda s, r: s == r,
        "ne": lambda s, r: s != r,
        "like": lambda s, r: r in s,
        "ilike": lambda s, r: r.lower() in s.lower(),  # the words here casefold as they lower
    }[operation]
    assert [r.reward for r in results] == [1.0 if by_hand(s, i["answer"]) else 0.0 for s, i in rows]
    assert {r.reward for r in results} == {0.0, 1.0}


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_equals_the_server_per_sample(metric: str) -> None:
    results = _same_as_run(_similarity(metric), _rows(25))
    assert all(not r.flags for r in results)


def test_fuzzy_match_equals_rapidfuzz_directly() -> None:
    rows = _rows(200, seed=5)
    results = ge.Grader(_similarity("fuzzy_match")).grade_many(rows)
    assert [r.reward for r in results] == [
        fuzz.WRatio(s, i["answer"], processor=utils.default_process) / 100 for s, i in rows
    ]


@pytest.mark.parametrize(
    ("input", "reference"),
    [
        ("{{ item.answer }}", "{{ item.answer }}"),  # one key read twice: 2 x its length is rendered
        ("{{item.guess}}", "{{ item.answer }}"),  # both texts from the item
        ("{{ item.answer }}", "{{ sample.output_text }}"),
    ],
    ids=["same-key-twice", "item-and-item", "item-then-sample"],
)
def test_templates_reading_other_columns(input: str, reference: str) -> None:
    rows = [(s, {**i, "guess": s}) for s, i in _rows(40)]
    _same_as_run(_check("eq", input, reference), rows)


def test_items_whose_other_values_are_any_json() -> None:
    """Values the templates do not read may be anything `run` takes (they are its JSON after the
    round trip): nested objects, NaN, numpy values, tuples, non-ASCII keys."""
    extras: list[Any] = [{"k": [1, {"n": None}]}, float("nan"), np.int64(4), np.array([1.5]), ("a", 1), 2**63]
    rows = [(s, {**i, "other": extras[n % len(extras)], "clé": "é"}) for n, (s, i) in enumerate(_rows(30))]
    _same_as_run(_check("eq"), rows)


@pytest.mark.parametrize(
    "item",
    [{"answer": "x", "other": object()}, {"answer": "x", "other": 2**64}, {"answer": "x", "o": "\ud800"}],
    ids=["not-json", "int-over-64-bits", "lone-surrogate"],
)
def test_an_item_run_refuses_is_refused_in_a_batch(item: dict[str, Any]) -> None:
    grader = ge.Grader(_check("eq"))
    with pytest.raises(ge.GraderError) as batch:
        grader.grade_many([*_rows(5), ("x", item)])
    with pytest.raises(ge.GraderError) as single:
        ge.run(_check("eq"), "x", item)
    assert (batch.value.message, batch.value.param, batch.value.code) == (
        single.value.message,
        single.value.param,
        single.value.code,
    )


def test_rows_that_are_not_plain_take_the_row_by_row_path_with_the_same_answers() -> None:
    """One row of each kind among plain rows: a missing key (its flag), a non-str value (rendered as
    JSON), no item, a mapping sample."""
    rows: list[tuple[Any, Any]] = [*_rows(5), ("a", {"other": 1}), ("3", {"answer": 3}), ("null", None)]
    results = ge.Grader(_check("eq")).grade_many(rows)
    assert [_body(r) for r in results] == [_run_body(_check("eq"), s, i) for s, i in rows]
    assert results[5].flags == ("invalid_variable_error",)
    assert results[6].reward == 1.0  # 3 renders as "3"
    mapping = ge.Grader(_check("eq")).grade_many([*_rows(3), ({"output_text": "y"}, {"answer": "y"})])
    assert mapping[-1].reward == 1.0


def test_brackets_in_samples_up_to_the_depth_bound() -> None:
    """A text with brackets may be JSON, whose depth is bounded (max_json_depth, 64 by default): a
    batch of `\\boxed{...}` answers grades as run does, and a row nested 65 deep is refused as run
    refuses it; 64 deep grades."""
    boxed = [(f"\\boxed{{{n}}}", {"answer": f"\\boxed{{{n % 3}}}"}) for n in range(20)]
    assert [r.reward for r in _same_as_run(_check("eq"), boxed)] == [float(n % 3 == n) for n in range(20)]
    within = "[" * 64 + "]" * 64
    assert _same_as_run(_check("eq"), [*boxed, (within, {"answer": within})])[-1].reward == 1.0
    deep = "[" * 65 + "]" * 65
    with pytest.raises(ge.GraderError) as batch:
        ge.Grader(_check("eq")).grade_many([*boxed, (deep, {"answer": "x"})])
    with pytest.raises(ge.GraderError) as single:
        ge.run(_check("eq"), deep, {"answer": "x"})
    assert batch.value.message == single.value.message
    assert "nested more than 64 levels deep" in batch.value.message


@pytest.mark.parametrize(("chars", "over"), [(200_000, False), (200_001, True)])
def test_the_rendered_size_bound_at_its_edge(chars: int, over: bool) -> None:
    """max_body_bytes 100,000 bounds the rendered templates at 200,000 characters: the sample's 1
    character and an answer of `chars` - 1 (hand-counted), among plain rows."""
    grader = ge.Grader(_check("eq"), max_body_bytes=100_000)
    rows = [*_rows(5), ("x", {"answer": "y" * (chars - 1)})]
    if over:
        with pytest.raises(ge.GraderError, match="more than 200000 characters"):
            grader.grade_many(rows)
    else:
        assert grader.grade_many(rows)[-1].reward == 0.0


def test_an_unnamed_grader_gets_the_servers_names_in_order() -> None:
    grader = {
        "type": "string_check",
        "input": "{{ sample.output_text }}",
        "reference": "{{ item.answer }}",
        "operation": "eq",
    }
    rows = _rows(12)
    batch = ge.Grader(grader, settings=Settings(seed=4)).grade_many(rows)
    settings = Settings(seed=4)
    assert [r.name for r in batch] == [
        ge.run(grader, s, i, settings=settings)["metadata"]["name"] for s, i in rows
    ]
    assert len({r.name for r in batch}) == len(rows)


@pytest.mark.parametrize("metric", ["fuzzy_match", "rouge_l", "meteor"])
def test_on_an_event_loop_long_rows_and_meteor_give_the_same_rewards(metric: str) -> None:
    """On a loop, a batch with a row past the inline limit (2,048 characters), or of meteor, is not
    scored in place: the rewards are the sync batch's all the same."""
    long = " ".join(["the quick brown fox"] * 150)
    for rows in (_rows(20), [*_rows(20), (long, {"answer": long[::-1]})]):
        expected = [r.reward for r in ge.Grader(_similarity(metric)).grade_many(rows)]

        async def on_a_loop(rows: list[tuple[str, Any]] = rows) -> list[float]:
            return [r.reward for r in await ge.Grader(_similarity(metric)).agrade_many(rows)]

        assert asyncio.run(on_a_loop()) == expected


def test_a_plain_batchs_rows_share_its_time() -> None:
    """Scored together, each row's execution_time is an equal share of the batch's (documented)."""
    results = ge.Grader(_similarity("fuzzy_match")).grade_many(_rows(50))
    times = {r.execution_time for r in results}
    assert len(times) == 1 and 0 < times.pop() < 1


def _multi(formula: str, name: str | None = "m", sub_names: bool = True) -> dict[str, Any]:
    exact, fuzzy = _check("eq"), {**_similarity("fuzzy_match"), "reference": "{{ item.guess }}"}
    if not sub_names:
        exact.pop("name")
        fuzzy.pop("name")
    grader: dict[str, Any] = {
        "type": "multi",
        "graders": {"exact": exact, "fuzzy": fuzzy},
        "calculate_output": formula,
    }
    return grader if name is None else {**grader, "name": name}


def test_a_multi_grader_equals_its_formula_by_hand() -> None:
    """Sub-rewards from string_check by hand and rapidfuzz directly; the reward is the formula of them."""
    rows = [(s, {**i, "guess": i["answer"][::-1]}) for s, i in _rows(60, seed=8)]
    results = _same_as_run(_multi("0.25 * exact + 0.75 * fuzzy"), rows)
    for result, (sample, item) in zip(results, rows, strict=True):
        exact = 1.0 if sample == item["answer"] else 0.0
        fuzzy = fuzz.WRatio(sample, item["guess"], processor=utils.default_process) / 100
        assert dict(result.sub_rewards) == {"exact": exact, "fuzzy": fuzzy}
        assert result.reward == 0.25 * exact + 0.75 * fuzzy
        assert not result.flags


def test_a_multi_graders_formula_failing_on_a_row() -> None:
    """`exact / fuzzy` divides by zero where the fuzzy sub-reward is 0 (an empty text): that row gets
    run's formula_parse_error, the others their values."""
    rows = [("abc", {"answer": "abc", "guess": "abd"}), ("", {"answer": "x", "guess": "y"})]
    results = _same_as_run(_multi("exact / fuzzy"), [*rows, *rows])
    assert [r.flags for r in results] == [(), ("formula_parse_error",)] * 2


def test_an_unnamed_multi_and_its_unnamed_sub_graders_draw_the_servers_names() -> None:
    rows = [(s, {**i, "guess": s}) for s, i in _rows(10)]
    grader = _multi("exact + fuzzy", name=None, sub_names=False)
    batch = ge.Grader(grader, settings=Settings(seed=9)).grade_many(rows)
    settings = Settings(seed=9)
    assert [_body(r) for r in batch] == [_run_body(grader, s, i, settings=settings) for s, i in rows]
    assert len({r.name for r in batch}) == len(rows)
