"""Graders the reward-adapter tests share, and independent expectations for them.

Expectations are computed here with the reference libraries called directly (CONTRACT §5: fuzzy_match is
rapidfuzz WRatio with default_process / 100) and string checks by hand, never with the emulator's code.
"""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, utils

EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.answer }}",
    "operation": "eq",
}

FUZZY = {
    "type": "text_similarity",
    "name": "fuzzy",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.answer }}",
    "evaluation_metric": "fuzzy_match",
}

MULTI = {
    "type": "multi",
    "name": "answer_quality",
    "graders": {"exact": EXACT, "fuzzy": FUZZY},
    "calculate_output": "0.5 * exact + 0.5 * fuzzy",
}

LENGTH_SOURCE = """
def grade(sample, item):
    text = sample["output_text"]
    if text == "boom":
        raise ValueError("the grader failed on purpose")
    return min(1.0, len(text) / float(item["target_length"]))
"""

PYTHON_LENGTH = {"type": "python", "name": "length", "source": LENGTH_SOURCE}


def fuzzy(sample: str, answer: str) -> float:
    return fuzz.WRatio(sample, answer, processor=utils.default_process) / 100


def multi(sample: str, answer: str) -> float:
    return 0.5 * float(sample == answer) + 0.5 * fuzzy(sample, answer)


def length(sample: str, row: dict[str, Any]) -> float:
    """LENGTH_SOURCE's own logic, restated."""
    return min(1.0, len(sample) / float(row["target_length"]))
