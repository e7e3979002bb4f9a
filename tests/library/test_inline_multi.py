"""Multi graders of string_check / text_similarity sub-graders are scored without dispatch, per row
(sub-scores, then the compiled formula): their results are exactly the bodies `graders_emulator.run`
gives per sample (the server's service path), formula failures, missing variables and generated
names included, and their rewards are the formula over rapidfuzz's and `==`'s own values."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from example_graders import EXACT, FUZZY, unnamed
from rapidfuzz import fuzz, utils

import graders_emulator as ge
from graders_emulator.settings import Settings


def _named(grader: dict[str, Any], name: str | None) -> dict[str, Any]:
    return unnamed(grader) if name is None else {**grader, "name": name}


def _exact(name: str | None = "exact", reference: str = "{{ item.answer }}") -> dict[str, Any]:
    return _named({**EXACT, "reference": reference}, name)


def _fuzzy(name: str | None = "fuzzy", reference: str = "{{ item.answer }}") -> dict[str, Any]:
    return _named({**FUZZY, "reference": reference}, name)


def _multi(formula: str, name: str | None = "mixed", **graders: dict[str, Any]) -> dict[str, Any]:
    multi: dict[str, Any] = {
        "type": "multi",
        "graders": graders or {"exact": _exact(), "fuzzy": _fuzzy()},
        "calculate_output": formula,
    }
    return multi if name is None else {**multi, "name": name}


def _without_time(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    body["metadata"].pop("execution_time")
    return body


ROWS: list[tuple[str, Any]] = [
    ("Paris", {"answer": "Paris"}),  # exact 1, fuzzy 1
    ("paris!", {"answer": "Paris"}),  # exact 0, fuzzy 1 (default_process)
    ("Lyon", {"answer": "Paris"}),  # exact 0, fuzzy low
    ("", {"answer": "Paris"}),  # fuzzy 0.0: division by zero, log of zero
    ("", {"answer": ""}),  # exact 1, fuzzy 0.0 (WRatio of two empty strings)
    ("Zürich café", {"answer": "Zurich cafe"}),
    ("我爱北京天安门", {"answer": "我爱北京"}),
    ("Paris", {"other": "x"}),  # both sub-graders miss item.answer: invalid_variable_error twice
    ("Paris", None),
    ("3", {"answer": 3}),  # a number renders as JSON text
]


def _fuzzy_of(sample: str, reference: str) -> float:
    return fuzz.WRatio(sample, reference, processor=utils.default_process) / 100


def _grade_both(grader: dict[str, Any], rows: list[tuple[str, Any]], **options: Any) -> list[ge.Result]:
    """grade_many's bodies (off any loop and on one) equal run's per sample, names included (seeded)."""
    compiled = ge.Grader(grader, settings=Settings(seed=5), **options)
    assert compiled._caller_scorer is not None  # the inline path is what is tested here
    results = compiled.grade_many(rows)
    per_request = Settings(seed=5)
    expected = [_without_time(ge.run(grader, sample, item, settings=per_request)) for sample, item in rows]
    assert [_without_time(r.to_wire()) for r in results] == expected

    async def on_a_loop() -> list[ge.Result]:
        return await ge.Grader(grader, settings=Settings(seed=5), **options).agrade_many(rows)

    assert [_without_time(r.to_wire()) for r in asyncio.run(on_a_loop())] == expected
    return results


FORMULAS = [
    "0.5 * exact + 0.5 * fuzzy",
    "exact",
    "fuzzy * 0.25 + exact * 0.75",
    "exact / fuzzy",  # division by zero where fuzzy is 0.0
    "fuzzy / (exact - exact)",  # division by zero on every row
    "log(fuzzy)",  # a domain error where fuzzy is 0.0
    "sqrt(exact - 1)",  # a domain error where exact is 0.0
    "exp(1000 * fuzzy)",  # an overflow where fuzzy is large
    "1e308 * 10 * exact",  # inf where exact is 1: not finite
    "1e308 * 10 * fuzzy - 1e308 * 10 * fuzzy",  # NaN on every row: not finite
    "2 * fuzzy + 1",  # out of [0, 1]: the formula's value as is, as the general path answers it
    "-fuzzy",
    "exact ^ 2 ^ 3 + min(exact, fuzzy, 0.5) - max(exact, fuzzy)",
    "floor(fuzzy * 10) / 10 + ceil(exact) + abs(exact - fuzzy)",
    "3",
]


@pytest.mark.parametrize("formula", FORMULAS, ids=str)
def test_formulas_equal_the_general_path(formula: str) -> None:
    results = _grade_both(_multi(formula), ROWS)
    for (sample, item), result in zip(ROWS, results, strict=True):
        if item is None or "answer" not in item:
            assert result.flags[0] == "invalid_variable_error"  # and the formula's, if 0, 0 fail it
            assert dict(result.sub_rewards) == {"exact": 0.0, "fuzzy": 0.0}
            continue
        reference = str(item["answer"])
        assert dict(result.sub_rewards) == {
            "exact": float(sample == reference),
            "fuzzy": _fuzzy_of(sample, reference),
        }


def test_rewards_by_hand() -> None:
    results = _grade_both(_multi("0.5 * exact + 0.5 * fuzzy"), ROWS[:7])
    for (sample, item), result in zip(ROWS[:7], results, strict=True):
        want = 0.5 * float(sample == item["answer"]) + 0.5 * _fuzzy_of(sample, item["answer"])
        assert result.reward == want
        assert not result.flags
    assert results[0].reward == 1.0
    assert results[1].reward == 0.5  # "paris!" is "paris" after default_process: fuzzy 1.0, exact 0.0


def test_formula_failures_raise_formula_parse_error() -> None:
    results = _grade_both(
        _multi("exact / fuzzy"), [("", {"answer": "Paris"}), ("Paris", {"answer": "Paris"})]
    )
    assert results[0].flags == ("formula_parse_error",)
    assert results[0].reward == 0.0
    assert dict(results[0].sub_rewards) == {"exact": 0.0, "fuzzy": 0.0}
    assert (results[1].reward, results[1].flags) == (1.0, ())
    nan = _grade_both(_multi("1e308 * 10 * fuzzy - 1e308 * 10 * fuzzy"), [("Paris", {"answer": "Paris"})])
    assert nan[0].flags == ("formula_parse_error",)
    out_of_range = _grade_both(_multi("2 * fuzzy + 1"), [("Paris", {"answer": "Paris"})])
    assert (out_of_range[0].reward, out_of_range[0].flags) == (3.0, ())


def test_one_sub_grader_missing_its_variable() -> None:
    """Only `fuzzy` reads item.ref: its failure is the multi's flag, its reward 0.0 in the formula."""
    grader = _multi(
        "0.5 * exact + 0.5 * fuzzy + 0.25",
        exact=_exact(),
        fuzzy=_fuzzy(reference="{{ item.ref }}"),
    )
    rows: list[tuple[str, Any]] = [
        ("Paris", {"answer": "Paris"}),
        ("Paris", {"answer": "Paris", "ref": "Pari"}),
    ]
    results = _grade_both(grader, rows)
    assert results[0].flags == ("invalid_variable_error",)
    assert "item.ref" in results[0].details["invalid_variable_error"]
    assert dict(results[0].sub_rewards) == {"exact": 1.0, "fuzzy": 0.0}
    assert (
        results[0].reward == 0.5 * 1.0 + 0.5 * 0.0 + 0.25
    )  # the failed sub-grader counts as 0 (CONTRACT §5)
    assert results[1].flags == ()
    assert results[1].reward == 0.5 + 0.5 * _fuzzy_of("Paris", "Pari") + 0.25


def test_unnamed_multi_and_sub_graders_get_the_server_names() -> None:
    """The multi's name and its unnamed sub-graders' names are drawn per row as `with_names` does."""
    for grader in [
        _multi("0.5 * exact + 0.5 * fuzzy", name=None, exact=_exact(None), fuzzy=_fuzzy(None)),
        _multi("0.5 * exact + 0.5 * fuzzy", name=None, exact=_exact(), fuzzy=_fuzzy(None)),
        _multi("0.5 * exact + 0.5 * fuzzy", name="named", exact=_exact(None), fuzzy=_fuzzy(None)),
    ]:
        rows = [("a", {"answer": "a"}), ("b", {}), ("", {"answer": "c"}), ("c", {"answer": "c"})]
        results = _grade_both(grader, rows)
        if grader.get("name") is None:
            assert len({r.name for r in results}) == len(rows)


def test_other_metrics_and_templates() -> None:
    grader = _multi(
        "rouge * 0.5 + like * 0.3 + bleu * 0.2",
        rouge={
            "type": "text_similarity",
            "name": "r",
            "input": "answer: {{ sample.output_text }}",
            "reference": "answer: {{ item.answer }}",
            "evaluation_metric": "rouge_l",
        },
        like={
            "type": "string_check",
            "name": "l",
            "input": "{{ sample.output_text }}",
            "reference": "{{ item.answer }}",
            "operation": "ilike",
        },
        bleu={
            "type": "text_similarity",
            "name": "b",
            "input": "{{ sample.output_json.answer }}",
            "reference": "{{ item.answer }}",
            "evaluation_metric": "bleu",
        },
    )
    rows: list[tuple[str, Any]] = [
        ('{"answer": "The cat sat on the mat"}', {"answer": "the cat sat on the mat"}),
        ("not json", {"answer": "x"}),  # bleu's output_json is missing: invalid_variable_error
        ('{"answer": "Paris"}', {"answer": "PARIS"}),
    ]
    _grade_both(grader, rows)


def test_long_texts_on_a_loop_take_the_general_path() -> None:
    long = " ".join(["the quick brown fox jumps over the lazy dog"] * 60)
    rows = [(long, {"answer": long[::-1]}), ("short", {"answer": "short"}), (long, {"answer": long})]
    results = _grade_both(_multi("0.5 * exact + 0.5 * fuzzy"), rows)
    assert [r.reward for r in results] == [
        0.5 * float(s == i["answer"]) + 0.5 * _fuzzy_of(s, i["answer"]) for s, i in rows
    ]


def test_which_multi_graders_are_scored_inline() -> None:
    assert ge.Grader(_multi("exact"))._loop_scorer is not None
    meteor = _multi(
        "exact * m",
        exact=_exact(),
        m={
            "type": "text_similarity",
            "name": "m",
            "input": "{{ sample.output_text }}",
            "reference": "{{ item.answer }}",
            "evaluation_metric": "meteor",
        },
    )
    # meteor loads WordNet: off the loop only, as for a single grader
    assert ge.Grader(meteor)._loop_scorer is None
    assert ge.Grader(meteor)._caller_scorer is not None
    python = _multi(
        "exact * p",
        exact=_exact(),
        p={"type": "python", "name": "p", "source": "def grade(s, i):\n    return 1.0\n"},
    )
    assert ge.Grader(python)._caller_scorer is None


def test_inline_results_are_plain_values() -> None:
    result = ge.Grader(_multi("0.5 * exact + 0.5 * fuzzy")).grade("Paris", {"answer": "Paris"})
    assert (result.reward, result.type, result.name, result.failed) == (1.0, "multi", "mixed", False)
    assert result.sub_rewards == {"exact": 1.0, "fuzzy": 1.0}
    assert result.to_wire()["sub_rewards"] == {"exact": 1.0, "fuzzy": 1.0}
    assert all(type(value) is float for value in result.sub_rewards.values())
    with pytest.raises(TypeError):
        result.sub_rewards["exact"] = 0.0  # type: ignore[index]
    assert math.isfinite(result.execution_time)
