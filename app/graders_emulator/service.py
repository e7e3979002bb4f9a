"""The orchestrator: parse -> check -> render+grade -> assemble, for run and validate."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple, TypeVar

import orjson
from pydantic import ValidationError

from graders_emulator import templating, validation
from graders_emulator.bounds import RequestBounds, check_body, check_depth, check_rendered
from graders_emulator.errors import BadRequest, json_type_name, validation_error
from graders_emulator.grading.context import (
    Embedder,
    GradingContext,
    MetricRunner,
    ModelClient,
    SandboxRunner,
)
from graders_emulator.grading.dispatch import grade
from graders_emulator.grading.result import (
    DETAIL_KEY,
    ERROR_KEYS,
    SPEC_ERROR_KEYS,
    GradeFailure,
    GradeResult,
    errors_object,
)
from graders_emulator.grading.templates import grader_templates
from graders_emulator.schemas.base import WireModel
from graders_emulator.schemas.graders import Grader
from graders_emulator.schemas.requests import RunGraderRequest, ValidateGraderRequest

Profile = Literal["real", "spec"]
_Request = TypeVar("_Request", bound=WireModel)


@dataclass(frozen=True)
class Runtime:
    """What grading needs that lives as long as the app: built once by create_app."""

    sandbox: SandboxRunner
    embedder: Embedder | None
    model_aliases: Mapping[str, str]
    new_name: validation.NameGenerator
    profile: Profile
    strict: bool
    max_source_bytes: int
    bounds: RequestBounds = field(default_factory=RequestBounds)
    metrics: MetricRunner | None = None  # the server's killable metric pool


class RunOutcome(NamedTuple):
    """A graded request: the response body and what produced it (for the journal and headers)."""

    grader: Grader
    result: GradeResult
    body: bytes
    unreported_details: tuple[GradeFailure, ...]


def _parse(model: type[_Request], data: Any, runtime: Runtime, raw: bytes | None) -> _Request:
    if not isinstance(data, dict):
        raise BadRequest(
            f"Invalid type for body: expected an object, but got {_json_name(data)} instead.",
            code="invalid_type",
        )
    check_body(data, runtime.bounds, raw)
    shape_error = validation.multi_graders_shape_error(data.get("grader"))
    if shape_error is not None:
        raise shape_error
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(data, exc.errors()) from None
    if runtime.strict:
        validation.check_no_extras(parsed)
    return parsed


def _json_name(value: Any) -> str:
    name = json_type_name(value)
    return "an " + name if name[0] in "aeiou" else "a " + name


def parse_run(data: Any, runtime: Runtime, raw: bytes | None = None) -> RunGraderRequest:
    """A run body, checked; `raw` is the JSON text it was parsed from, when there is one."""
    request = _parse(RunGraderRequest, data, runtime, raw)
    validation.check_grader(request.grader, max_source_bytes=runtime.max_source_bytes)
    return request


def parse_validate(data: Any, runtime: Runtime, raw: bytes | None = None) -> ValidateGraderRequest:
    request = _parse(ValidateGraderRequest, data, runtime, raw)
    validation.check_grader(request.grader, max_source_bytes=runtime.max_source_bytes)
    return request


def _item(request: RunGraderRequest) -> Any:
    if request.item is None and "reference_answer" in request.model_fields_set:
        return {"reference_answer": request.reference_answer}  # SDK 1.78-1.82 (CONTRACT §1)
    return request.item


async def run(
    request: RunGraderRequest,
    runtime: Runtime,
    models: ModelClient,
    forced: tuple[GradeFailure, ...] = (),
    simulated_latency_s: float = 0.0,
) -> RunOutcome:
    """Grade one sample and assemble OpenAI's response body.

    `execution_time` counts the grading and any latency the emulation injected around it (CONTRACT §2).
    """
    started = time.perf_counter()
    grader = validation.with_names(request.grader, runtime.new_name)
    context = GradingContext(
        runtime.sandbox, models, runtime.embedder, runtime.model_aliases, runtime.metrics
    )
    namespaces = templating.namespaces(_item(request), request.model_sample)
    _check_namespaces(grader, namespaces, runtime.bounds)
    result = await grade(grader, namespaces, context)
    if forced:
        result = replace(result, reward=0.0, failures=result.failures + forced)
    elapsed = time.perf_counter() - started + simulated_latency_s
    body = orjson.dumps(assemble(grader, result, elapsed, runtime.profile))
    unreported = tuple(
        f for f in result.failures if f.details and DETAIL_KEY[f.flag] not in _keys(runtime.profile)
    )
    return RunOutcome(grader, result, body, unreported)


def _check_namespaces(grader: Grader, namespaces: dict[str, Any], limits: RequestBounds) -> None:
    """The bounds that depend on the sample: its JSON's depth, the size of the rendered templates."""
    output_json = namespaces["sample"].get("output_json")
    if output_json is not None:
        check_depth(output_json, limits, "model_sample (as JSON)", "model_sample")
    check_rendered(grader_templates(grader, "grader"), namespaces, limits)


def validate(request: ValidateGraderRequest, runtime: Runtime) -> bytes:
    grader = validation.with_names(request.grader, runtime.new_name)
    return orjson.dumps({"grader": validation.to_wire(grader)})


def _keys(profile: Profile) -> tuple[str, ...]:
    return SPEC_ERROR_KEYS if profile == "spec" else ERROR_KEYS


def assemble(grader: Grader, result: GradeResult, elapsed: float, profile: Profile) -> dict[str, Any]:
    """The run response of CONTRACT §2, keys in wire order, floats as floats."""
    usage = result.token_usage
    token_usage: Any = (
        None if usage is None else (usage.total_tokens if profile == "spec" else usage.as_wire())
    )
    return {
        "reward": float(result.reward),
        "metadata": {
            "name": grader.name,
            "type": grader.type,
            "errors": errors_object(result.failures, _keys(profile)),
            "execution_time": float(elapsed),
            "scores": {},
            "token_usage": token_usage,
            "sampled_model_name": result.sampled_model_name,
        },
        "sub_rewards": {key: float(value) for key, value in result.sub_rewards.items()},
        "model_grader_token_usage_per_model": {
            model: tokens.as_wire() for model, tokens in result.usage_per_model.items()
        },
    }
