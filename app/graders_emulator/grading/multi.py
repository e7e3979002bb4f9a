"""multi: grade every sub-grader concurrently, then combine their rewards with calculate_output."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from graders_emulator.grading import formula
from graders_emulator.grading.context import GradingContext
from graders_emulator.grading.result import GradeFailure, GradeResult, TokenUsage, merge_usage
from graders_emulator.schemas.graders import Grader, MultiGrader

SubGrade = Callable[[Grader, dict[str, Any], GradingContext], Awaitable[GradeResult]]


def _total_usage(results: list[GradeResult]) -> TokenUsage | None:
    usages = [r.token_usage for r in results if r.token_usage is not None]
    return sum(usages, TokenUsage()) if usages else None


async def grade(
    grader: MultiGrader, namespaces: dict[str, Any], context: GradingContext, grade_one: SubGrade
) -> GradeResult:
    keys = list(grader.graders)
    results = await asyncio.gather(*(grade_one(grader.graders[k], namespaces, context) for k in keys))
    # A failed sub-grader keeps its 0.0 reward in the formula and reports its flags here (CONTRACT §5).
    sub_rewards = {key: result.reward for key, result in zip(keys, results, strict=True)}
    failures = tuple(failure for result in results for failure in result.failures)
    models = [r.sampled_model_name for r in results if r.sampled_model_name]
    trace: dict[str, object] = {
        "sub_graders": {key: dict(r.trace) for key, r in zip(keys, results, strict=True)}
    }
    reward = 0.0
    try:
        reward = formula.evaluate(grader.calculate_output, sub_rewards)
    except formula.FormulaEvaluationError as exc:
        failures += (GradeFailure("formula_parse_error", str(exc)),)
        trace["formula_error"] = str(exc)
    return GradeResult(
        reward=reward,
        failures=failures,
        token_usage=_total_usage(results),
        sampled_model_name=models[0] if models else None,
        usage_per_model=merge_usage(*(r.usage_per_model for r in results)),
        sub_rewards=sub_rewards,
        trace=trace,
    )
