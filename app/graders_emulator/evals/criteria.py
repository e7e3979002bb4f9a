"""Testing criteria: parsed and checked like graders, graded, and judged pass/fail (CONTRACT §10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from graders_emulator import validation
from graders_emulator.errors import BadRequest, validation_error
from graders_emulator.grading.result import TokenUsage
from graders_emulator.schemas.evals import (
    Criterion,
    PythonCriterion,
    ScoreModelCriterion,
    TestingCriterion,
    TextSimilarityCriterion,
)
from graders_emulator.schemas.graders import LabelModelGrader, StringCheckGrader

if TYPE_CHECKING:
    from graders_emulator.library import Result

# **decision**: python and score_model criteria without `pass_threshold` pass at 0.5.
DEFAULT_PASS_THRESHOLD = 0.5
# The result `type` OpenAI reports: only `string-check-grader` is documented; the rest follow it.
RESULT_TYPE = {
    "string_check": "string-check-grader",
    "text_similarity": "text-similarity-grader",
    "python": "python-grader",
    "score_model": "score-model-grader",
    "label_model": "label-model-grader",
}
_CRITERIA: TypeAdapter[list[Criterion]] = TypeAdapter(list[TestingCriterion])


def parse(raw: Any) -> list[Criterion]:
    """Stored criteria (already checked) back into grader objects."""
    return _CRITERIA.validate_python(raw)


def check(criteria: Sequence[Criterion], max_source_bytes: int) -> None:
    """The 400s of a grader, per criterion, with `param` inside `testing_criteria`."""
    if not criteria:
        raise BadRequest(
            "Invalid 'testing_criteria': expected at least one testing criterion.",
            param="testing_criteria",
            code="invalid_value",
        )
    for index, criterion in enumerate(criteria):
        try:
            validation.check_grader(criterion, max_source_bytes=max_source_bytes, top_level=False)
        except BadRequest as exc:
            where = f"testing_criteria.{index}"
            param = exc.param.replace("grader", where, 1) if exc.param else where
            raise BadRequest(
                exc.message.replace("'grader.", f"'{where}."), param=param, code=exc.code
            ) from None


def validated(body: Any) -> list[Criterion]:
    """Parse the request's `testing_criteria` with the 400s of the graders endpoints."""
    try:
        return _CRITERIA.validate_python(body.get("testing_criteria"))
    except ValidationError as exc:
        errors = [{**e, "loc": ("testing_criteria", *e["loc"])} for e in exc.errors()]
        raise validation_error(body, errors) from None


_NO_USAGE: Mapping[str, TokenUsage] = MappingProxyType({})


@dataclass(frozen=True)
class Graded:
    """One criterion graded on one item: what judging it needs."""

    reward: float
    errors: Mapping[str, str | None]  # each raised error flag with its details, in the order raised
    usage: Mapping[str, TokenUsage] = field(default_factory=lambda: _NO_USAGE)  # snapshot -> tokens

    @classmethod
    def of(cls, result: Result) -> Graded:
        """From the library face's Result."""
        usage = {
            model: TokenUsage(tokens["prompt_tokens"], tokens["completion_tokens"], tokens["cached_tokens"])
            for model, tokens in result.usage_per_model.items()
        }
        errors = {flag: result.details.get(flag) for flag in result.flags}
        return cls(float(result.reward), errors, usage or _NO_USAGE)

    @classmethod
    def failed(cls, flag: str, details: str) -> Graded:
        """Not graded: one error flag (the reward is then 0.0, as every grader's failure has it)."""
        return cls(0.0, {flag: details})


def passed(criterion: Criterion, graded: Graded) -> bool:
    """Whether one criterion passes on one item."""
    if graded.errors:
        return False
    if isinstance(criterion, StringCheckGrader | LabelModelGrader):
        # string_check rewards 1.0 when its check holds; label_model when the label is passing.
        return graded.reward >= 1.0
    if isinstance(criterion, TextSimilarityCriterion):
        return graded.reward >= criterion.pass_threshold
    assert isinstance(criterion, PythonCriterion | ScoreModelCriterion)
    threshold = criterion.pass_threshold if criterion.pass_threshold is not None else DEFAULT_PASS_THRESHOLD
    return graded.reward >= threshold


@dataclass(frozen=True)
class Judged:
    """One criterion's outcome on one item, as an output item shows it."""

    name: str
    passed: bool
    errored: bool
    wire: dict[str, Any]


def judge(criterion: Criterion, graded: Graded) -> Judged:
    ok = passed(criterion, graded)
    name = criterion.name or ""
    wire = {
        "name": name,
        "type": RESULT_TYPE[criterion.type],
        "score": graded.reward,
        "passed": ok,
        "sample": {"errors": dict(graded.errors)} if graded.errors else None,
    }
    return Judged(name, ok, bool(graded.errors), wire)
