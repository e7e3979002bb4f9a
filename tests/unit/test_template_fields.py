"""The one walker over template-bearing fields, and the one dotted-path lookup (templating.py)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from graders_emulator import templating
from graders_emulator.grading.templates import grader_templates, rendered_text
from graders_emulator.schemas.graders import AnyGrader

GRADER = TypeAdapter(AnyGrader)


def test_every_template_field_of_a_multi_is_walked_with_its_param_path() -> None:
    grader = GRADER.validate_python(
        {
            "type": "multi",
            "calculate_output": "a + b",
            "graders": {
                "a": {
                    "type": "string_check",
                    "input": "{{sample.output_text}}",
                    "reference": "r",
                    "operation": "eq",
                },
                "b": {
                    "type": "score_model",
                    "model": "gpt-4o",
                    "input": [
                        {"role": "system", "content": "plain"},
                        {"role": "user", "content": {"type": "input_text", "text": "one part"}},
                        {
                            "role": "user",
                            "content": [
                                "bare",
                                {"type": "output_text", "text": "out"},
                                {"type": "input_image", "image_url": "{{item.url}}", "detail": "low"},
                                {
                                    "type": "input_audio",
                                    "input_audio": {"data": "{{item.wav}}", "format": "wav"},
                                },
                            ],
                        },
                    ],
                },
                "p": {"type": "python", "source": "def grade(s, i): return 1  # {{not a template}}"},
            },
        }
    )
    # Param paths as OpenAI names them in its 400s (CONTRACT §3, §4): dotted, list indexes as numbers.
    assert list(grader_templates(grader, "grader")) == [
        ("grader.graders.a.input", "{{sample.output_text}}"),
        ("grader.graders.a.reference", "r"),
        ("grader.graders.b.input.0.content", "plain"),
        ("grader.graders.b.input.1.content.text", "one part"),
        ("grader.graders.b.input.2.content.0", "bare"),
        ("grader.graders.b.input.2.content.1.text", "out"),
        ("grader.graders.b.input.2.content.2.image_url", "{{item.url}}"),
        ("grader.graders.b.input.2.content.3.input_audio.data", "{{item.wav}}"),
    ]


@pytest.mark.parametrize(
    ("part", "text"),
    [
        ({"type": "input_text", "text": "t"}, "t"),
        ({"type": "input_image", "image_url": "u", "detail": "low"}, "u"),
        ({"type": "input_audio", "input_audio": {"data": "d", "format": "wav"}}, "d"),
        ({"type": "input_file"}, ""),
    ],
    ids=["text", "image", "audio", "none"],
)
def test_rendered_text_reads_the_template_field(part: dict[str, object], text: str) -> None:
    assert rendered_text(part) == text


@pytest.mark.parametrize(
    ("path", "expected"),
    [("a.b[0].c", 1), ("a.b.0.c", 1), ("a.list.1", "y"), ("a", {"b": [{"c": 1}], "list": ["x", "y"]})],
    ids=["brackets", "digits", "list-index", "whole"],
)
def test_dotted_lookup(path: str, expected: object) -> None:
    item = {"a": {"b": [{"c": 1}], "list": ["x", "y"]}}
    assert templating.lookup(item, templating.dotted_steps(path)) == expected


def test_dotted_lookup_names_the_missing_step() -> None:
    with pytest.raises(templating.PathMissing) as missing:
        templating.lookup({"a": {"b": []}}, templating.dotted_steps("a.b.3"))
    assert (missing.value.step, missing.value.value) == ("3", [])
