"""The request policies of run and validate: parse and check a body, the sample's bounds, the answer.

Every grading entry (`POST /run`, the library's `run` / `Grader`, the batch CLI, Evals) grades through
the library face (`library.Grader`), which applies these policies.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, NamedTuple, TypeVar

import orjson
from pydantic import ValidationError

from graders_emulator import templating, validation
from graders_emulator.bounds import RequestBounds, check_body, check_depth, check_rendered
from graders_emulator.errors import BadRequest, json_type_name, validation_error
from graders_emulator.grading.context import (
    Embedder,
    MetricRunner,
    SandboxRunner,
)
from graders_emulator.grading.result import (
    DETAIL_KEY,
    ERROR_KEYS,
    SPEC_ERROR_KEYS,
    GradeFailure,
    GradeResult,
    errors_object,
)
from graders_emulator.schemas.base import WireModel
from graders_emulator.schemas.graders import Grader
from graders_emulator.schemas.requests import RunGraderRequest, ValidateGraderRequest

Profile = Literal["real", "spec"]
_Request = TypeVar("_Request", bound=WireModel)
_Value = TypeVar("_Value")
DEFAULT_GRADER_CACHE = 256  # Settings.grader_cache_size repeats it
# Graders whose JSON is larger are compiled per request, never kept: so the cache holds at most
# ~2 x this per entry (the key and the parsed grader), 16 MB at the default size, and a large grader
# (a long python source) costs little to parse next to grading it.
MAX_CACHED_GRADER_BYTES = 32 * 1024


class CompiledGraders(Generic[_Value]):
    """A bounded LRU of compiled graders, keyed by the grader's exact JSON (bytes).

    The grader endpoints answer the same few graders millions of times: a hit skips the grader's
    schema validation, its checks and its compilation. Locked: large bodies are parsed in threads.
    """

    def __init__(self, size: int = DEFAULT_GRADER_CACHE) -> None:
        self.size = max(0, size)
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, _Value] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> _Value | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def put(self, key: bytes, value: _Value) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


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
    # Compiled graders of this runtime's requests (library.compiled_run); valid for this runtime only.
    graders: CompiledGraders[Any] = field(default_factory=CompiledGraders, compare=False)


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


def item_of(request: RunGraderRequest) -> Any:
    """The request's item: `reference_answer` of SDK 1.78-1.82 (CONTRACT §1) stands for one."""
    if request.item is None and "reference_answer" in request.model_fields_set:
        return {"reference_answer": request.reference_answer}
    return request.item


def item_of_body(data: dict[str, Any]) -> Any:
    """`item_of` for a body whose fields were checked (pydantic keeps `Any` values as they are)."""
    item = data.get("item")
    if item is None and "reference_answer" in data:
        return {"reference_answer": data["reference_answer"]}
    return item


now = time.perf_counter  # the clock of `execution_time` (one name: tests freeze it)


def outcome(
    grader: Grader,
    result: GradeResult,
    started: float,
    profile: Profile,
    *,
    forced: tuple[GradeFailure, ...] = (),
    simulated_latency_s: float = 0.0,
) -> RunOutcome:
    """The answer to a graded sample: injected flags applied, timed from `started`, assembled."""
    if forced:
        result = replace(result, reward=0.0, failures=result.failures + forced)
    elapsed = now() - started + simulated_latency_s
    if _plain(result):
        return RunOutcome(grader, result, _plain_body(grader, result.reward, elapsed, profile), ())
    body = orjson.dumps(assemble(grader, result, elapsed, profile))
    keys = _keys(profile)
    unreported = tuple(f for f in result.failures if f.details and DETAIL_KEY[f.flag] not in keys)
    return RunOutcome(grader, result, body, unreported)


# A rendered value is at most this many characters per byte of the body it came from (numbers grow:
# `1e15` is written 1000000000000000.0; strings and structure never do), plus a constant.
_RENDERED_PER_BODY_BYTE = 8
_RENDERED_SLACK = 256
_NULL_SIZE = 4  # what a null value renders as: an upper bound of a missing one (0)


class SizePlan(NamedTuple):
    """What the rendered size of a grader's templates is made of, when every variable is one key
    deep (`{{item.answer}}`): the literal characters, and each variable's namespace, key and count."""

    literal: int
    references: int
    variables: tuple[tuple[str, str, int], ...] | None  # None: a deeper path, measured by the walk


def size_plan(templates: Iterable[tuple[str, str]]) -> SizePlan:
    literal, counts = 0, dict[tuple[str, str], int]()
    simple = True
    for _, template in templates:
        for piece in templating.parse(template):
            if isinstance(piece, str):
                literal += len(piece)
            elif len(piece.path) == 1 and isinstance(piece.path[0], str):
                key = (piece.namespace, piece.path[0])
                counts[key] = counts.get(key, 0) + 1
            else:
                simple = False
                counts[(piece.namespace, "")] = counts.get((piece.namespace, ""), 0) + 1
    variables = tuple((ns, key, count) for (ns, key), count in counts.items()) if simple else None
    return SizePlan(literal, sum(counts.values()), variables)


def check_namespaces(
    templates: Iterable[tuple[str, str]],
    namespaces: dict[str, Any],
    limits: RequestBounds,
    body_bytes: int | None = None,
    plan: SizePlan | None = None,
) -> None:
    """The bounds that depend on the sample: its JSON's depth, the size of the rendered templates.

    With the grader's `plan`, the rendered size is settled without walking the templates when it
    plainly fits: from `body_bytes`, the size of the JSON body both namespaces were parsed from
    (each value is at most ~8 characters per body byte), or from the lengths of one-key-deep
    string values. Only an amplifying or huge request pays for the walk (`bounds.check_rendered`).
    """
    output_json = namespaces["sample"].get("output_json")
    if output_json is not None:
        check_depth(output_json, limits, "model_sample (as JSON)", "model_sample")
    if plan is not None and _plainly_fits(plan, namespaces, limits.max_rendered_chars, body_bytes):
        return
    check_rendered(iter(templates), namespaces, limits)


def _plainly_fits(plan: SizePlan, namespaces: dict[str, Any], limit: int, body_bytes: int | None) -> bool:
    if body_bytes is not None:
        # the templates' literal text is in the body too: at most body_bytes characters in all
        per_value = _RENDERED_PER_BODY_BYTE * body_bytes + _RENDERED_SLACK
        if body_bytes + plan.references * per_value <= limit:
            return True
    if plan.variables is None:
        return False
    total = plan.literal
    for namespace, key, count in plan.variables:
        values = namespaces.get(namespace)
        if type(values) is not dict:
            return False
        value = values.get(key)
        if type(value) is str:
            total += count * len(value)
        elif value is None:
            total += count * _NULL_SIZE
        else:
            return False
    return total <= limit


def validate(request: ValidateGraderRequest, runtime: Runtime) -> bytes:
    """The validate answer (the library's `validate` and compiled graders give the same bytes)."""
    grader = validation.with_names(request.grader, runtime.new_name)
    return orjson.dumps({"grader": validation.to_wire(grader)})


def _plain(result: GradeResult) -> bool:
    """A reward and nothing else: no flag, no sub-reward, no model call (most answers)."""
    return not (
        result.failures
        or result.sub_rewards
        or result.usage_per_model
        or result.token_usage is not None
        or result.sampled_model_name is not None
    )


# `assemble`'s body for a plain result, as orjson writes it, around the four values that vary.
_PLAIN_PARTS = {
    profile: (
        b'{"reward":',
        b',"metadata":{"name":',
        b',"type":',
        b',"errors":' + orjson.dumps(errors_object((), keys)) + b',"execution_time":',
        b',"scores":{},"token_usage":null,"sampled_model_name":null},"sub_rewards":{},'
        b'"model_grader_token_usage_per_model":{}}',
    )
    for profile, keys in (("real", ERROR_KEYS), ("spec", SPEC_ERROR_KEYS))
}


def _plain_body(grader: Grader, reward: float, elapsed: float, profile: Profile) -> bytes:
    """`orjson.dumps(assemble(...))` of a plain result, without building its dicts."""
    dumps = orjson.dumps
    start, name, kind, errors, end = _PLAIN_PARTS[profile]
    return b"".join(
        (
            start,
            dumps(float(reward)),
            name,
            dumps(grader.name),
            kind,
            dumps(grader.type),
            errors,
            dumps(float(elapsed)),
            end,
        )
    )


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
