"""string_check: eq, ne, like (substring), ilike (casefolded substring). No trimming, no wildcards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graders_emulator import templating
from graders_emulator.grading.context import GradingContext
from graders_emulator.grading.result import GradeResult
from graders_emulator.schemas.graders import StringCheckGrader

OPERATIONS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda text, reference: text == reference,
    "ne": lambda text, reference: text != reference,
    "like": lambda text, reference: reference in text,
    "ilike": lambda text, reference: reference.casefold() in text.casefold(),
}


async def grade(
    grader: StringCheckGrader, namespaces: dict[str, Any], context: GradingContext
) -> GradeResult:
    text = templating.render(grader.input, namespaces)
    reference = templating.render(grader.reference, namespaces)
    passed = OPERATIONS[grader.operation](text, reference)
    return GradeResult(reward=1.0 if passed else 0.0, trace={"input": text, "reference": reference})
