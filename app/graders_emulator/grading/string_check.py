"""string_check: eq, ne, like (substring), ilike (casefolded substring). No trimming, no wildcards."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from graders_emulator import templating
from graders_emulator.grading.context import GradingContext
from graders_emulator.grading.result import GradeResult
from graders_emulator.schemas.graders import StringCheckGrader

# `operator`'s functions are the expressions themselves (`contains(text, reference)` is
# `reference in text`), without a Python frame per call.
OPERATIONS: dict[str, Callable[[str, str], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "like": operator.contains,
    "ilike": lambda text, reference: reference.casefold() in text.casefold(),
}

Scorer = Callable[[Mapping[str, Any]], float]


async def grade(
    grader: StringCheckGrader, namespaces: dict[str, Any], context: GradingContext
) -> GradeResult:
    text = templating.render(grader.input, namespaces)
    reference = templating.render(grader.reference, namespaces)
    passed = OPERATIONS[grader.operation](text, reference)
    return GradeResult(reward=1.0 if passed else 0.0, trace={"input": text, "reference": reference})


def scorer(grader: StringCheckGrader) -> Scorer:
    """The reward of `grade` as a plain function, templates compiled once (for graders of many samples).

    It raises MissingVariable where `grade` would; the trace is left out (only the server journals it).
    """
    texts_of = templating.pair_renderer(grader.input, grader.reference)
    passes = OPERATIONS[grader.operation]

    def score(namespaces: Mapping[str, Any]) -> float:
        return 1.0 if passes(*texts_of(namespaces)) else 0.0

    return score


def traced(grader: StringCheckGrader) -> Callable[[Mapping[str, Any]], GradeResult]:
    """`grade` as a plain function, templates compiled once: the same result, trace included.

    It raises MissingVariable where `grade` would (dispatch turns it into the flag).
    """
    text_of = templating.renderer(grader.input)
    reference_of = templating.renderer(grader.reference)
    passes = OPERATIONS[grader.operation]

    def result(namespaces: Mapping[str, Any]) -> GradeResult:
        text, reference = text_of(namespaces), reference_of(namespaces)
        return GradeResult(
            reward=1.0 if passes(text, reference) else 0.0, trace={"input": text, "reference": reference}
        )

    return result
