"""python graders: the source's grade(sample, item), run by the sandbox."""

from __future__ import annotations

from typing import Any

from graders_emulator.grading.context import GradingContext, PythonJob
from graders_emulator.grading.result import GradeResult
from graders_emulator.schemas.graders import PythonGrader


async def grade(grader: PythonGrader, namespaces: dict[str, Any], context: GradingContext) -> GradeResult:
    # Python sources are never template-rendered (CONTRACT §4): the code reads sample and item itself.
    job = PythonJob(grader.source, namespaces["sample"], namespaces["item"], grader.image_tag)
    outcome = await context.sandbox.run(job)
    trace: dict[str, Any] = {"stdout": outcome.stdout, "sandbox_seconds": outcome.elapsed_s}
    if outcome.server_error_type is not None:
        trace["server_error_details"] = outcome.server_error_details
        return GradeResult.failed("python_grader_server_error", outcome.server_error_type, trace=trace)
    if outcome.runtime_error is not None or outcome.value is None:
        details = outcome.runtime_error or "the grader returned no result"
        return GradeResult.failed("python_grader_runtime_error", details, trace=trace)
    return GradeResult(reward=float(outcome.value), trace=trace)
