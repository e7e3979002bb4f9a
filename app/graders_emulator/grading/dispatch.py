"""Grade any grader: dispatch on the wire `type` through one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from graders_emulator.grading import model, multi, python, string_check, text_similarity
from graders_emulator.grading.context import GradingContext
from graders_emulator.grading.result import GradeResult
from graders_emulator.schemas.graders import Grader, MultiGrader
from graders_emulator.templating import MissingVariable

GradeFunction = Callable[[Any, dict[str, Any], GradingContext], Awaitable[GradeResult]]


async def _multi(grader: MultiGrader, namespaces: dict[str, Any], context: GradingContext) -> GradeResult:
    return await multi.grade(grader, namespaces, context, grade)


GRADERS: dict[str, GradeFunction] = {
    "string_check": string_check.grade,
    "text_similarity": text_similarity.grade,
    "python": python.grade,
    "score_model": model.grade,
    "label_model": model.grade,
    "multi": _multi,
}


async def grade(grader: Grader, namespaces: dict[str, Any], context: GradingContext) -> GradeResult:
    """Grade one grader; failures come back as values (a missing template variable included)."""
    try:
        return await GRADERS[grader.type](grader, namespaces, context)
    except MissingVariable as exc:
        return GradeResult.failed("invalid_variable_error", str(exc))
