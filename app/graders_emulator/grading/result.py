"""Grading outcomes as values: reward, error flags, token usage."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeGuard, get_args

# The 24 keys of `metadata.errors` seen in real responses, in their wire order (CONTRACT §2).
ERROR_KEYS: tuple[str, ...] = (
    "formula_parse_error",
    "sample_parse_error",
    "sample_parse_error_details",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "invalid_variable_error_details",
    "other_error",
    "python_grader_server_error",
    "python_grader_server_error_type",
    "python_grader_runtime_error",
    "python_grader_runtime_error_details",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_refusal_error_details",
    "model_grader_parse_error",
    "model_grader_parse_error_details",
    "model_grader_exceeded_max_tokens_error",
    "model_grader_server_error_details",
    "endpoint_grader_internal_error",
    "endpoint_grader_internal_error_details",
    "endpoint_grader_server_error",
    "endpoint_grader_server_error_details",
    "endpoint_grader_safety_check_error",
)

# The 14 keys of the OpenAPI spec's `errors` object, in the spec's order (the `spec` profile).
SPEC_ERROR_KEYS: tuple[str, ...] = (
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_server_error_type",
    "python_grader_runtime_error",
    "python_grader_runtime_error_details",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
    "model_grader_server_error_details",
)

# The boolean flags of `metadata.errors`; mypy checks every flag the code names against this list.
ErrorFlag = Literal[
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_runtime_error",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
    "model_grader_exceeded_max_tokens_error",
    "endpoint_grader_internal_error",
    "endpoint_grader_server_error",
    "endpoint_grader_safety_check_error",
]
FLAGS: tuple[ErrorFlag, ...] = get_args(ErrorFlag)

# The text key that explains each flag, where the wire has such a key.
DETAIL_KEY: dict[ErrorFlag, str | None] = {
    "formula_parse_error": None,
    "sample_parse_error": "sample_parse_error_details",
    "truncated_observation_error": None,
    "unresponsive_reward_error": None,
    "invalid_variable_error": "invalid_variable_error_details",
    "other_error": None,
    "python_grader_server_error": "python_grader_server_error_type",
    "python_grader_runtime_error": "python_grader_runtime_error_details",
    "model_grader_server_error": "model_grader_server_error_details",
    "model_grader_refusal_error": "model_grader_refusal_error_details",
    "model_grader_parse_error": "model_grader_parse_error_details",
    "model_grader_exceeded_max_tokens_error": None,
    "endpoint_grader_internal_error": "endpoint_grader_internal_error_details",
    "endpoint_grader_server_error": "endpoint_grader_server_error_details",
    "endpoint_grader_safety_check_error": None,
}


def is_flag(name: str) -> TypeGuard[ErrorFlag]:
    """Whether `name` is one of the error flags (for values from the outside: headers, rules)."""
    return name in DETAIL_KEY


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one or more model calls used; `total_tokens` is derived, never stored."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )

    def as_wire(self) -> dict[str, int]:
        """The object form the real API returns, in its key order."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.total_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
        }


_NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})


def _no_entries() -> Mapping[str, Any]:
    return _NO_ENTRIES


@dataclass(frozen=True)
class GradeFailure:
    """One raised error flag with its explanation (kept even where the wire has no details key)."""

    flag: ErrorFlag
    details: str | None = None


@dataclass(frozen=True)
class GradeResult:
    """What grading one grader produced. Failures are values: `reward` is 0.0 when any is set."""

    reward: float
    failures: tuple[GradeFailure, ...] = ()
    token_usage: TokenUsage | None = None
    sampled_model_name: str | None = None
    # Unset mappings share one read-only empty mapping: a result is built for every grader of every
    # request, and three fresh dicts were a third of its cost.
    usage_per_model: Mapping[str, TokenUsage] = field(default_factory=_no_entries)
    sub_rewards: Mapping[str, float] = field(default_factory=_no_entries)
    # Trace for the journal and the CLI: e.g. rendered prompts, the model rule that answered.
    trace: Mapping[str, object] = field(default_factory=_no_entries)

    @classmethod
    def ok(cls, reward: float, **extra: object) -> GradeResult:
        return cls(reward=float(reward), **extra)  # type: ignore[arg-type]

    @classmethod
    def failed(cls, flag: ErrorFlag, details: str | None = None, **extra: object) -> GradeResult:
        return cls(reward=0.0, failures=(GradeFailure(flag, details),), **extra)  # type: ignore[arg-type]

    @property
    def failed_flags(self) -> tuple[ErrorFlag, ...]:
        return tuple(f.flag for f in self.failures)


@functools.cache
def _blank_errors(keys: tuple[str, ...]) -> dict[str, object]:
    return {key: (None if key not in DETAIL_KEY else False) for key in keys}


def errors_object(
    failures: tuple[GradeFailure, ...], keys: tuple[str, ...] = ERROR_KEYS
) -> dict[str, object]:
    """Build `metadata.errors`: every key of the profile, flags false and texts null unless raised.

    When several failures raise the same flag (e.g. two sub-graders of a multi), their details are
    joined so that nothing is lost.
    """
    values = dict(_blank_errors(keys))
    for failure in failures:
        if failure.flag in values:
            values[failure.flag] = True
        detail_key = DETAIL_KEY[failure.flag]
        if detail_key in values and failure.details is not None:
            previous = values[detail_key]
            values[detail_key] = failure.details if previous is None else f"{previous}; {failure.details}"
    return values


def merge_usage(*usages: Mapping[str, TokenUsage]) -> dict[str, TokenUsage]:
    """Sum token usage per model snapshot."""
    total: dict[str, TokenUsage] = {}
    for usage in usages:
        for model, tokens in usage.items():
            total[model] = total.get(model, TokenUsage()) + tokens
    return total
