"""Templates: rendering rules of CONTRACT §4, static checks, missing variables."""

from __future__ import annotations

from typing import Any

import pytest

from graders_emulator import templating

NAMESPACES: dict[str, Any] = templating.namespaces(
    {
        "label": "Paris",
        "n": 1,
        "f": 1.0,
        "flag": True,
        "none": None,
        "list": [1, "two", {"three": 3}],
        "obj": {"a": "b", "é": "ü"},
        "nested": {"deep": {"er": "value"}},
        "with space": "s",
    },
    '{"tools": [{"name": "search"}], "score": 0.5}',
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{item.label}}", "Paris"),
        ("{{ item.label }}", "Paris"),
        ("{{   item.label}}", "Paris"),
        ("The answer is {{item.label}}.", "The answer is Paris."),
        ("{{item.label}}{{item.label}}", "ParisParis"),
        ("{{item.n}}", "1"),
        ("{{item.f}}", "1.0"),
        ("{{item.flag}}", "true"),
        ("{{item.none}}", "null"),
        ("{{item.list}}", '[1,"two",{"three":3}]'),
        ("{{item.obj}}", '{"a":"b","é":"ü"}'),
        ("{{item.list[1]}}", "two"),
        ("{{item.list[2].three}}", "3"),
        ("{{item.list.0}}", "1"),
        ("{{item.nested.deep.er}}", "value"),
        ("{{sample.output_text}}", '{"tools": [{"name": "search"}], "score": 0.5}'),
        ("{{sample.output_json.tools[0].name}}", "search"),
        ("{{sample.output_json.score}}", "0.5"),
        ("{{sample.output_tools}}", "[]"),
        ("{{sample.choices}}", "[]"),
        ("no templates at all", "no templates at all"),
        ("{{ unclosed", "{{ unclosed"),
        ("{{item.label}} and {{ unclosed", "Paris and {{ unclosed"),
        ("{ {item.label} }", "{ {item.label} }"),
        ("", ""),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_render(template: str, expected: str) -> None:
    assert templating.render(template, NAMESPACES) == expected


@pytest.mark.parametrize(
    ("template", "variable"),
    [
        ("{{item.missing}}", "item.missing"),
        ("{{item.list[3]}}", "item.list[3]"),
        ("{{item.label.more}}", "item.label.more"),
        ("{{item.nested.deep.nope}}", "item.nested.deep.nope"),
        ("{{sample.output_json.tools[5].name}}", "sample.output_json.tools[5].name"),
        ("a {{item.none.x}} b", "item.none.x"),
    ],
    ids=["key", "index", "into-string", "deep", "json-index", "into-null"],
)
def test_missing_variable_names_it(template: str, variable: str) -> None:
    with pytest.raises(templating.MissingVariable) as caught:
        templating.render(template, NAMESPACES)
    assert caught.value.expression == variable
    assert variable in str(caught.value)


def test_output_json_absent_when_sample_is_not_json() -> None:
    namespaces = templating.namespaces({}, "plain text")
    assert "output_json" not in namespaces["sample"]
    with pytest.raises(templating.MissingVariable):
        templating.render("{{sample.output_json}}", namespaces)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [("3", 3), ("true", True), ("null", None), ('"s"', "s"), ("[1]", [1]), ('{"a": 1}', {"a": 1})],
    ids=["int", "bool", "null", "string", "list", "object"],
)
def test_output_json_takes_any_json_value(sample: str, expected: Any) -> None:
    assert templating.sample_namespace(sample)["output_json"] == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{foo.bar}}",
        "{{ items.x }}",
        "{{}}",
        "{{item..x}}",
        "{{item.x[}}",
        "{{ samples.output_text }}",
        "{{item[0]x}}",
    ],
    ids=["unknown-namespace", "plural", "empty", "double-dot", "open-bracket", "samples", "junk-after-index"],
)
def test_invalid_templates_are_syntax_errors(template: str) -> None:
    with pytest.raises(templating.TemplateSyntaxError):
        templating.check(template)


def test_missing_item_is_an_empty_namespace() -> None:
    namespaces = templating.namespaces(None, "x")
    assert namespaces["item"] == {}
    with pytest.raises(templating.MissingVariable):
        templating.render("{{item.label}}", namespaces)


def test_item_may_be_any_json() -> None:
    assert templating.render("{{item[1]}}", templating.namespaces(["a", "b"], "x")) == "b"
