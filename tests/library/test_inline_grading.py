"""`grade_many` of string_check and text_similarity graders (scored without dispatch, per row) gives
exactly the bodies `graders_emulator.run` gives per sample, on the rows where a shortcut could differ."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from rapidfuzz import fuzz, utils

import graders_emulator as ge
from graders_emulator.settings import Settings


def _string_check(input: str, reference: str, operation: str = "eq", **extra: Any) -> dict[str, Any]:
    return {
        "type": "string_check",
        "name": "s",
        "input": input,
        "reference": reference,
        "operation": operation,
        **extra,
    }


def _similarity(metric: str, input: str = "{{ sample.output_text }}", **extra: Any) -> dict[str, Any]:
    return {
        "type": "text_similarity",
        "name": "t",
        "input": input,
        "reference": "{{ item.answer }}",
        "evaluation_metric": metric,
        **extra,
    }


def _without_time(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    body["metadata"].pop("execution_time")
    return body


def _same_as_run(
    grader: dict[str, Any], rows: list[tuple[Any, Any]], as_json: list[Any] | None = None, **options: Any
) -> list[ge.Result]:
    """grade_many's bodies equal run's per sample (run given the items' JSON forms when listed)."""
    results = ge.Grader(grader, **options).grade_many(rows)
    items = as_json if as_json is not None else [item for _, item in rows]
    assert [_without_time(r.to_wire()) for r in results] == [
        _without_time(ge.run(grader, sample, item, **options))
        for (sample, _), item in zip(rows, items, strict=True)
    ]
    return results


# (item, the JSON the server would receive for it): the grader reads the second.
ITEMS: list[tuple[Any, Any]] = [
    ({"answer": "Paris"}, {"answer": "Paris"}),
    ({"answer": 3}, {"answer": 3}),  # a number renders as JSON: "3"
    ({"answer": 2.5}, {"answer": 2.5}),
    ({"answer": True}, {"answer": True}),
    ({"answer": None}, {"answer": None}),  # null renders as "null"
    ({"answer": ["a", 1]}, {"answer": ["a", 1]}),
    ({"answer": {"k": "v"}}, {"answer": {"k": "v"}}),
    ({"answer": "Zürich"}, {"answer": "Zürich"}),
    ({"answer": 2**63}, {"answer": 2**63}),
    ({"answer": float("nan")}, {"answer": None}),  # JSON has no NaN: null
    ({"answer": float("inf")}, {"answer": None}),
    ({"answer": np.int64(3)}, {"answer": 3}),
    ({"answer": np.float32(0.5)}, {"answer": 0.5}),
    ({"answer": np.array([1, 2])}, {"answer": [1, 2]}),
    ({3: "three", "answer": "x"}, {"3": "three", "answer": "x"}),
    ({"answer": ("a", "b")}, {"answer": ["a", "b"]}),
    ({}, {}),  # no answer: invalid_variable_error
    (None, None),  # no item at all: an empty object
]


@pytest.mark.parametrize(
    "grader",
    [
        _string_check("{{ sample.output_text }}", "{{ item.answer }}"),
        _string_check("x{{ sample.output_text }}y", "x{{ item.answer }}y", "like"),
        _string_check("{{ item.answer }}", "{{ item.3 }}", "ne"),
        _string_check("{{ item }}", "{{ sample }}", "ilike"),  # whole namespaces render as JSON
        _similarity("fuzzy_match"),
        _similarity("rouge_l", "{{ sample.output_json.answer }}"),
    ],
    ids=["eq", "like-literals", "ne-numeric-key", "whole-namespaces", "fuzzy", "rouge-output-json"],
)
def test_items_of_every_kind(grader: dict[str, Any]) -> None:
    samples = ["Paris", '{"answer": "Paris"}', "3", "null", "Zürich", ""]
    rows = [(sample, item) for item, _ in ITEMS for sample in samples]
    _same_as_run(grader, rows, [as_json for _, as_json in ITEMS for _ in samples])


def test_template_values_that_are_not_plain_string_keys() -> None:
    item = {"list": ["a", {"b": "c"}], "d": {"e": {"f": 7}}, "0": "zero", "tools": ["t0"]}
    rows: list[tuple[Any, Any]] = [("s", item), ("s", {"list": []}), ("s", {"d": {"e": []}}), ("s", {"d": 1})]
    for template in [
        "{{ item.list[1].b }}",
        "{{ item.d.e.f }}",
        "{{ item.0 }}",
        "{{ item.tools.0 }}",
        "{{item.d.e}}",
    ]:
        _same_as_run(_string_check(template, "c"), rows)


def test_sample_paths_beyond_output_text() -> None:
    rows = [
        ('{"a": [1, {"b": "x"}]}', {}),
        ("not json", {}),
        ("[1, 2]", {}),
        ("true", {}),
        ("  null ", {}),
    ]
    for template in [
        "{{ sample.output_json.a[1].b }}",
        "{{ sample.output_json }}",
        "{{ sample.output_tools }}",
        "{{ sample.choices }}",
        "{{ sample.output_text[0] }}",
        "{{ sample.nope }}",
    ]:
        _same_as_run(_string_check(template, "x"), rows)


def test_invalid_rows_raise_as_run_does() -> None:
    grader = ge.Grader(_string_check("{{ sample.output_text }}", "{{ item.answer }}"))
    for sample, item in [
        (3, {}),
        ("x", {"answer": 2**64}),
        ("x", {"answer": "\ud800"}),
        ("x", {"a": object()}),
    ]:
        with pytest.raises(ge.GraderError) as batch:
            grader.grade_many([("fine", {"answer": "fine"}), (sample, item)])
        with pytest.raises(ge.GraderError) as single:
            ge.run(grader.wire, sample, item)
        assert (batch.value.message, batch.value.param, batch.value.code) == (
            single.value.message,
            single.value.param,
            single.value.code,
        )


def test_unnamed_graders_get_the_names_the_server_gives() -> None:
    """Seeded, a grader's generated names follow the same sequence as per-request runs (CONTRACT §2)."""
    for grader in [
        {"type": "string_check", "input": "{{ sample.output_text }}", "reference": "a", "operation": "eq"},
        {
            "type": "text_similarity",
            "input": "{{ sample.output_text }}",
            "reference": "{{ item.x }}",
            "evaluation_metric": "fuzzy_match",
        },
    ]:
        rows = [("a", {"x": "a"}), ("b", {}), ("a" * 3000, {"x": "a"}), ("c", {"x": "c"})]
        batch = ge.Grader(grader, settings=Settings(seed=11)).grade_many(rows)
        per_sample_settings = Settings(seed=11)
        per_sample = [ge.run(grader, s, i, settings=per_sample_settings) for s, i in rows]
        assert [r.name for r in batch] == [b["metadata"]["name"] for b in per_sample]
        assert len({r.name for r in batch}) == len(rows)
        assert all(r.name.startswith("grader-") for r in batch)
        assert [_without_time(r.to_wire()) for r in batch] == [_without_time(b) for b in per_sample]


@pytest.mark.parametrize("metric", ["fuzzy_match", "rouge_l", "bleu", "gleu", "rouge_2", "cosine", "meteor"])
def test_long_texts_and_every_metric(metric: str) -> None:
    """Past the inline limit (2,048 characters) the loop sends a sample off it; the values stay the same."""
    long = " ".join(["the quick brown fox jumps over the lazy dog"] * 60)
    rows = [(long, {"answer": long[::-1]}), (long, {"answer": long}), ("short one", {"answer": "short two"})]
    results = _same_as_run(_similarity(metric), rows)
    assert all(not r.flags for r in results)
    if metric == "fuzzy_match":
        assert [r.reward for r in results] == [
            fuzz.WRatio(s, i["answer"], processor=utils.default_process) / 100 for s, i in rows
        ]

    async def on_a_loop() -> list[ge.Result]:
        return await ge.Grader(_similarity(metric)).agrade_many(rows)

    assert [r.reward for r in asyncio.run(on_a_loop())] == [r.reward for r in results]


def test_single_grade_and_agrade_of_an_inline_grader() -> None:
    grader = ge.Grader(_string_check("{{ sample.output_text }}", "{{ item.answer }}"))
    assert grader.grade("a", {"answer": "a"}).reward == 1.0
    missing = grader.grade("a", {"other": 1})
    assert missing.flags == ("invalid_variable_error",)
    assert (
        missing.details["invalid_variable_error"]
        == ge.run(grader.wire, "a", {"other": 1})["metadata"]["errors"]["invalid_variable_error_details"]
    )
    assert asyncio.run(grader.agrade("b", {"answer": "a"})).reward == 0.0


def test_a_result_is_read_only_and_compares_by_its_fields() -> None:
    grader = ge.Grader(_string_check("{{ sample.output_text }}", "a"))
    first, second, third = grader.grade_many([("a", None), ("a", None), ("b", None)])
    with pytest.raises(AttributeError):
        first.reward = 0.5  # type: ignore[misc]
    assert first != third
    assert (first.reward, first.flags, dict(first.details), first.name, first.type) == (
        1.0,
        (),
        {},
        "s",
        "string_check",
    )
    assert (first.sub_rewards, first.token_usage, first.sampled_model_name, first.failed) == (
        {},
        None,
        None,
        False,
    )
    assert first.execution_time >= 0.0
    assert "reward=1.0" in repr(first) and "name='s'" in repr(first)
    assert first == first  # noqa: PLR0124
    # Equal but for execution_time, which differs from row to row.
    assert (first.reward, first.flags, first.name) == (second.reward, second.flags, second.name)
    with pytest.raises(TypeError):
        hash(first)


def test_a_renderer_renders_as_render_does() -> None:
    """Every template against namespaces of every shape: the same text, or the same MissingVariable."""
    from types import MappingProxyType

    from graders_emulator import templating

    templates = [
        "",
        "plain text",
        "{{ item.a }}",
        "{{item.a}} and {{ sample.output_text }}!",
        "{{ item.a.b }}",
        "{{ item.a[0] }}",
        "{{ item.a.0 }}",
        "{{ item }}",
        "{{ sample }}",
        "{{ item.x }}{{ item.y }}",
        "{{ item.a.b.c }}",
    ]
    scopes: list[Any] = [
        {"a": "text"},
        {"a": 3},
        {"a": {"b": "deep", "0": "zero"}},
        {"a": {"b": {"c": [1, "x"]}}},
        {"a": ["first", "second"]},
        {"a": None},
        {"x": "1"},
        MappingProxyType({"a": "from a mapping"}),
        {"a": MappingProxyType({"b": "inner mapping"})},
        [],
        None,
        {},
    ]

    def outcome(call: Any) -> tuple[str, str]:
        try:
            return ("text", call())
        except templating.MissingVariable as exc:
            return ("missing", str(exc))
        except TypeError as exc:  # to_text of a value JSON cannot hold (a mappingproxy here)
            return ("type error", str(exc))

    for template in templates:
        for scope in scopes:
            for namespaces in (
                {"item": scope, "sample": {"output_text": "out"}},
                {"sample": scope},
                MappingProxyType({"item": scope, "sample": scope}),
            ):
                assert outcome(lambda t=template, n=namespaces: templating.renderer(t)(n)) == outcome(
                    lambda t=template, n=namespaces: templating.render(t, n)
                ), (template, namespaces)


def _random_text(rng: Any, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def test_fuzzy_match_equals_rapidfuzz_on_random_unicode() -> None:
    """The fuzzy scorers (a batch of lone keys over columns, WRatio of the processed texts; other
    templates per row) against rapidfuzz itself on random texts: ASCII, punctuation, accents,
    combining marks, CJK, emoji, whitespace."""
    import random

    rng = random.Random(7)
    alphabets = [
        "abc de",
        "The quick brown fox, jumps! over? the lazy dog.",
        "éèàçüöß ÉÀ Ωπ",
        "e\u0301a\u0308 o",
        "我爱北京天安门 东京",
        "😀🎉 ok\u200d",
        " \t\n.,;:!?-_",
    ]
    rows = []
    for _ in range(3000):
        alphabet = rng.choice(alphabets) + rng.choice(alphabets)
        answer = _random_text(rng, alphabet)
        sample = answer if rng.random() < 0.2 else _random_text(rng, alphabet)
        rows.append((sample, {"answer": answer}))
    want = [fuzz.WRatio(s, i["answer"], processor=utils.default_process) / 100 for s, i in rows]
    for template, rendered in [
        ("{{ sample.output_text }}", lambda s: s),  # a lone key: looked up by the scorer itself
        ("x {{ sample.output_text }}!", lambda s: f"x {s}!"),  # the pair renderer
    ]:
        grader = ge.Grader(_similarity("fuzzy_match", template))
        got = [r.reward for r in grader.grade_many(rows)]
        expected = [
            fuzz.WRatio(rendered(s), i["answer"], processor=utils.default_process) / 100 for s, i in rows
        ]
        assert got == expected
        assert all(type(value) is float for value in got)
    assert [r.reward for r in ge.Grader(_similarity("fuzzy_match")).grade_many(rows)] == want
    # A sample's check against run's body, on a slice (run costs a server round of work per sample).
    _same_as_run(_similarity("fuzzy_match"), rows[:150])


def test_a_pair_renderer_renders_as_render_does() -> None:
    from types import MappingProxyType

    from graders_emulator import templating

    templates = [
        "{{ sample.output_text }}",
        "{{ item.a }}",
        "a {{ item.a }}",
        "{{ item.a.b }}",
        "{{ item }}",
        "t",
    ]
    scopes: list[Any] = [{"a": "x"}, {"a": 3}, {"a": {"b": "c"}}, {}, [], None, MappingProxyType({"a": "m"})]

    def outcome(call: Any) -> tuple[str, Any]:
        try:
            return ("text", call())
        except templating.MissingVariable as exc:
            return ("missing", str(exc))
        except TypeError as exc:
            return ("type error", str(exc))

    for first in templates:
        for second in templates:
            pair = templating.pair_renderer(first, second)
            for scope in scopes:
                for namespaces in (
                    {"item": scope, "sample": {"output_text": "out"}},
                    {"item": {"a": "y"}, "sample": scope},
                    {"sample": {"output_text": 1}},
                ):
                    assert outcome(lambda p=pair, n=namespaces: p(n)) == outcome(
                        lambda f=first, s=second, n=namespaces: (
                            templating.render(f, n),
                            templating.render(s, n),
                        )
                    ), (first, second, namespaces)
