"""multi: grade every sub-grader concurrently, then combine their rewards with calculate_output."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
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


SubScorer = Callable[[Mapping[str, Any]], float | None]
InlineScorer = Callable[[Mapping[str, Any]], tuple[float, dict[str, float]] | None]


def inline_scorer(
    grader: MultiGrader, sub_scorer: Callable[[Grader], SubScorer | None]
) -> InlineScorer | None:
    """`grade`'s reward and sub_rewards as a plain function, for a multi grader of many samples.

    `sub_scorer` gives a sub-grader's own inline scorer (None when it has none: then the multi has
    none either). A row scores to `(reward, sub_rewards)` when every sub-grader scored it and the
    formula gave a finite value; to None when anything failed (a sub-grader's missing variable or
    metric error, a long text a sub-scorer hands back, a formula failing on these values): `grade`
    then grades the row and reports its flags, its failed sub-grader's 0.0 and the formula's error,
    from the one implementation of them. The formula is compiled once (`formula.compiled`).
    """
    scorers: list[tuple[str, SubScorer]] = []
    for key, sub in grader.graders.items():
        scorer = sub_scorer(sub)
        if scorer is None:
            return None
        scorers.append((key, scorer))
    compute = formula.compiled(grader.calculate_output)
    if compute is None:
        return None

    def score(namespaces: Mapping[str, Any]) -> tuple[float, dict[str, float]] | None:
        sub_rewards: dict[str, float] = {}
        try:
            for key, scorer in scorers:
                reward = scorer(namespaces)
                if reward is None:
                    return None
                sub_rewards[key] = reward
        except Exception:  # MissingVariable above all: `grade` makes it that sub-grader's failure
            return None
        value = compute(sub_rewards)
        return None if value is None else (value, sub_rewards)

    return score
