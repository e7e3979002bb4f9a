"""Request bodies of the control plane as pydantic models (rules in their three JSON forms, the seed)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from graders_emulator.emulation.config import describe_error, dotted, semantic_problems
from graders_emulator.emulation.rules import FaultRule, ModelRule, Rule, SamplingRule
from graders_emulator.errors import BadRequest

RULES_SHAPE = "The body must be a JSON rule, a list of rules, or {models, faults, sampling}."
SEED_SHAPE = 'The body must be {"seed": <integer or null>}.'


class RuleGroups(BaseModel):
    """`{"models": [...], "faults": [...]}`: rules grouped by kind (each rule's `kind` may be left out)."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelRule] | None = None
    faults: list[FaultRule] | None = None
    sampling: list[SamplingRule] | None = None

    def rules(self) -> list[ModelRule | FaultRule | SamplingRule]:
        return [*(self.models or ()), *(self.faults or ()), *(self.sampling or ())]


class SeedBody(BaseModel):
    """`{"seed": int | null}`; a missing seed is null (back to the configured one)."""

    model_config = ConfigDict(strict=True)

    seed: int | None = None


_RULES = TypeAdapter(list[Rule])


def _grouped(data: Any) -> bool:
    return (
        isinstance(data, dict) and bool({"models", "faults", "sampling"} & set(data)) and "kind" not in data
    )


def rules_from_json(data: Any) -> list[ModelRule | FaultRule | SamplingRule]:
    """The rules of a parsed JSON body: one rule, a list of rules, or `RuleGroups`; else a 400."""
    try:
        if _grouped(data):
            rules = RuleGroups.model_validate(data).rules()
        else:
            rules = _RULES.validate_python(data if isinstance(data, list) else [data])
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:  # beside `models`/`faults`
            raise BadRequest(f"Unknown key {error['loc'][0]!r} next to models/faults/sampling.") from None
        raise BadRequest(
            f"Invalid rule: {describe_error(error)}", param=dotted(error["loc"]) or None
        ) from None
    return checked(rules)


def checked(
    rules: list[ModelRule | FaultRule | SamplingRule],
) -> list[ModelRule | FaultRule | SamplingRule]:
    """The checks that span fields (a canned label must be one of the pinned labels, ...)."""
    problems = semantic_problems([r for r in rules if isinstance(r, ModelRule)])
    if problems:
        raise BadRequest(f"Invalid rule: {problems[0][1]}")
    return rules


def seed_from_json(raw: bytes) -> int | None:
    try:
        return SeedBody.model_validate_json(raw or b"{}").seed
    except ValidationError:
        raise BadRequest(SEED_SHAPE, param="seed") from None
