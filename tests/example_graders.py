"""The example graders the tests share, declared once: OpenAI's grader JSON as users write it.

Import them (`from example_graders import EXACT`) instead of declaring another copy; derive a variant
with `{**EXACT, "reference": ...}` or `unnamed(EXACT)`.
"""

from __future__ import annotations

from typing import Any

SAMPLE_TEXT = "{{sample.output_text}}"

# The eleven metrics of the text_similarity grader: the `evaluation_metric` enum of OpenAI's spec
# (EvalTextSimilarityGrader in openapi/graders-fragment.json).
METRICS = (
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "cosine",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)

# reward 1.0 when the sample equals item.answer
EXACT: dict[str, Any] = {
    "type": "string_check",
    "name": "exact",
    "input": SAMPLE_TEXT,
    "reference": "{{item.answer}}",
    "operation": "eq",
}
# rapidfuzz WRatio of the sample and item.answer
FUZZY: dict[str, Any] = {
    "type": "text_similarity",
    "name": "fuzzy",
    "input": SAMPLE_TEXT,
    "reference": "{{item.answer}}",
    "evaluation_metric": "fuzzy_match",
}
# a model grader: answered by canned rules or the deterministic default, never a real model
JUDGE: dict[str, Any] = {
    "type": "score_model",
    "name": "judge",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "Grade: " + SAMPLE_TEXT}],
}
# a label model grader, passing on "good"
LABEL: dict[str, Any] = {
    "type": "label_model",
    "name": "lab",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "Label " + SAMPLE_TEXT}],
    "labels": ["good", "bad"],
    "passing_labels": ["good"],
}
# canned answers (a rules file) for JUDGE: "good" in the sample scores 0.8, anything else 0.2
JUDGE_RULES = """
models:
  - grader: {name: judge, type: score_model}
    match: {sample_contains: good}
    answer: {score: 0.8}
  - grader: {name: judge, type: score_model}
    answer: {score: 0.2}
"""
# the same, and LABEL always answers "good"
JUDGE_AND_LABEL_RULES = (
    JUDGE_RULES
    + """  - grader: {name: lab, type: label_model}
    answer: {label: good}
"""
)


def unnamed(grader: dict[str, Any]) -> dict[str, Any]:
    """The grader without its `name` (the emulator then generates one, as the API does)."""
    return {key: value for key, value in grader.items() if key != "name"}
