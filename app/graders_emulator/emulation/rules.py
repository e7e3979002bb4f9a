"""Rule schemas (canned model answers, faults, defaults) and how a rule matches a call or a request.

A rule matches when every criterion it sets holds; `misses` returns the criteria that did not, which
the journal shows for the nearest rule that did not answer.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graders_emulator.emulation.regex_match import RegexBudget, compile_error
from graders_emulator.grading.result import FLAGS, ErrorFlag, TokenUsage, is_flag
from graders_emulator.grading.templates import rendered_text
from graders_emulator.templating import PathMissing, dotted_steps, lookup

ModelGraderType = Literal["score_model", "label_model"]
TransportFault = Literal["hang", "drop", "truncate", "malformed"]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a rule must not silently match everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Usage(_Strict):
    """Token usage a canned answer reports."""

    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cached_tokens: int = Field(0, ge=0)

    def token_usage(self) -> TokenUsage:
        return TokenUsage(self.prompt_tokens, self.completion_tokens, self.cached_tokens)


class Step(_Strict):
    """One reasoning step of a score/label reply."""

    description: str
    conclusion: str


class GraderPin(_Strict):
    """The grader a rule is written for: named inline (a pasted grader works) or range/labels pinned."""

    name: str | None = None
    type: ModelGraderType | None = None
    model: str | None = None
    range: tuple[float, float] | None = None
    labels: list[str] | None = None
    # Accepted so that a whole grader definition can be pasted; not used for matching.
    input: Any = None
    passing_labels: list[str] | None = None
    sampling_params: dict[str, Any] | None = None

    def effective_range(self) -> tuple[float, float] | None:
        """The score range the rule's score must lie in, when known."""
        if self.range is not None:
            return self.range
        return (0.0, 1.0) if self.type == "score_model" else None


class ModelMatch(_Strict):
    """Criteria on one model-grader call (all optional; all set ones must hold)."""

    grader_name: str | None = None
    grader_type: ModelGraderType | None = None
    model: str | None = None
    prompt_contains: str | None = None
    prompt_regex: str | None = None
    item: dict[str, Any] | None = Field(None, description="dotted path -> expected value")
    sample: str | None = None
    sample_contains: str | None = None
    sample_regex: str | None = None

    @field_validator("prompt_regex", "sample_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        error = compile_error(value) if value is not None else None
        if error is not None:
            raise ValueError(f"invalid regular expression {value!r}: {error}")
        return value


_ANSWER_KINDS = ("score", "label", "raw", "refusal", "server_error", "max_tokens")


def _set(value: object) -> bool:
    # Identity, not equality: a score of 0 is an answer, `max_tokens: false` is not.
    return value is not None and value is not False


class ModelAnswer(_Strict):
    """What a canned model answers: exactly one of score, label, raw, refusal, server_error, max_tokens."""

    score: float | None = None
    label: str | None = None
    raw: str | None = None
    refusal: str | None = None
    server_error: str | None = None
    max_tokens: bool | str | None = None
    steps: list[Step] | None = None
    usage: Usage | None = None
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    model: str | None = Field(None, description="snapshot reported as sampled_model_name")

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelAnswer:
        chosen = [kind for kind in _ANSWER_KINDS if _set(getattr(self, kind))]
        if len(chosen) != 1:
            raise ValueError(
                f"an answer needs exactly one of {', '.join(_ANSWER_KINDS)}; got {chosen or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in _ANSWER_KINDS if _set(getattr(self, kind)))


class ModelRule(_Strict):
    """A canned answer for model-grader calls that match; `times` answers N times, then falls through."""

    kind: Literal["model"] = "model"
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    match: ModelMatch = ModelMatch()
    grader: GraderPin | None = None
    answer: ModelAnswer
    times: int | None = Field(None, ge=1)

    def criteria(self) -> ModelMatch:
        """The match, with the inline grader's name/type/model filled in where the match is silent."""
        pin = self.grader
        if pin is None:
            return self.match
        return self.match.model_copy(
            update={
                "grader_name": self.match.grader_name or pin.name,
                "grader_type": self.match.grader_type or pin.type,
                "model": self.match.model or pin.model,
            }
        )


class FaultMatch(_Strict):
    """Criteria on one HTTP request (all optional)."""

    path: str | None = Field(None, description="exact path or glob, e.g. */graders/run")
    method: str | None = None
    grader_name: str | None = None
    grader_type: str | None = None
    nth: int | list[int] | None = Field(None, description="1-based count among requests matching the rest")
    probability: float | None = Field(None, gt=0, le=1)

    @field_validator("nth")
    @classmethod
    def _positive(cls, value: int | list[int] | None) -> int | list[int] | None:
        counts = [value] if isinstance(value, int) else value or []
        if any(n < 1 for n in counts):
            raise ValueError("nth counts start at 1")
        return value


def _check_flags(value: list[str] | dict[str, str | None] | None) -> list[str] | dict[str, str | None] | None:
    for flag in value or ():
        if not is_flag(flag):
            raise ValueError(f"unknown error flag {flag!r}; known flags: {', '.join(FLAGS)}")
    return value


class FaultRule(_Strict):
    """An injected failure for matching requests: HTTP status, transport fault, latency or error flags."""

    kind: Literal["fault"] = "fault"
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    match: FaultMatch = FaultMatch()
    status: int | None = Field(None, ge=400, le=599)
    message: str | None = None
    retry_after_ms: int | None = Field(None, ge=0, le=60_000)
    should_retry: bool | None = None
    fault: TransportFault | None = None
    hang_ms: float | None = Field(None, ge=0, le=600_000)
    latency_ms: float | None = Field(None, ge=0, le=600_000)
    errors: list[str] | dict[str, str | None] | None = Field(None, description="flags, or flag -> details")
    fail_attempts: int | None = Field(None, ge=0)
    times: int | None = Field(None, ge=1)
    seed: int | None = None

    _flags = field_validator("errors")(_check_flags)

    @model_validator(mode="after")
    def _does_something(self) -> FaultRule:
        if not (self.status or self.fault or self.latency_ms or self.errors):
            raise ValueError("a fault rule needs at least one of status, fault, latency_ms, errors")
        return self

    def error_items(self) -> list[tuple[ErrorFlag, str | None]]:
        """The forced flags with their details (all known flags: the validator refused others)."""
        items = (
            self.errors.items() if isinstance(self.errors, dict) else ((f, None) for f in self.errors or ())
        )
        return [(flag, details) for flag, details in items if is_flag(flag)]


def _check_regex(value: str | None) -> str | None:
    error = compile_error(value) if value is not None else None
    if error is not None:
        raise ValueError(f"invalid regular expression {value!r}: {error}")
    return value


class SamplingMatch(_Strict):
    """Criteria on one sample a `completions` eval run draws (all optional; all set ones must hold)."""

    model: str | None = None
    prompt_contains: str | None = None
    prompt_regex: str | None = None
    item: dict[str, Any] | None = Field(None, description="dotted path -> expected value")

    _regex = field_validator("prompt_regex")(_check_regex)


class SamplingAnswer(_Strict):
    """What the sampled model answers: a text, or a server error."""

    text: str | None = None
    server_error: str | None = None
    finish_reason: str = "stop"
    usage: Usage | None = None
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    model: str | None = Field(None, description="snapshot reported as the sample's model")

    @model_validator(mode="after")
    def _exactly_one(self) -> SamplingAnswer:
        if (self.text is None) == (self.server_error is None):
            raise ValueError("a sampling answer needs exactly one of text, server_error")
        return self


class SamplingRule(_Strict):
    """A canned sample for `completions` eval runs; `times` answers N times, then falls through."""

    kind: Literal["sampling"] = "sampling"
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    match: SamplingMatch = SamplingMatch()
    answer: SamplingAnswer
    times: int | None = Field(None, ge=1)


Rule = Annotated[ModelRule | FaultRule | SamplingRule, Field(discriminator="kind")]


class Defaults(_Strict):
    """Settings for everything no rule answers."""

    seed: int | None = None
    retry_after_ms: int = Field(10, ge=0, le=60_000)
    hang_ms: float = Field(300_000, ge=0, le=600_000)
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    usage: Usage | None = Field(None, description="usage of default answers; else estimated from text length")


# ---------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True)
class CallView:
    """The facts of one model call that rules match on."""

    grader_type: str
    grader_name: str
    model: str
    prompt: str
    item: Any
    sample_text: str
    regex: RegexBudget = field(default_factory=RegexBudget, compare=False)


def message_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """All texts of rendered messages joined by newlines (string content, and text/url/data parts)."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, Mapping):
            texts.append(rendered_text(content))
        elif isinstance(content, Sequence):
            texts.extend(rendered_text(part) for part in content if isinstance(part, Mapping))
    return "\n".join(texts)


_MISSING = object()


def item_value(item: Any, path: str) -> Any:
    """`a.b[0].c` or `a.b.0.c` inside the item (templating's own lookup); _MISSING when absent."""
    try:
        return lookup(item, dotted_steps(path))
    except PathMissing:
        return _MISSING


def model_misses(rule: ModelRule, call: CallView) -> list[str]:
    """The criteria of `rule` that `call` fails (empty: it matches)."""
    match = rule.criteria()
    misses = _equal_misses(
        (
            ("grader_name", match.grader_name, call.grader_name),
            ("grader_type", match.grader_type, call.grader_type),
        )
    )
    misses += _equal_misses((("model", match.model, call.model), ("sample", match.sample, call.sample_text)))
    misses += _text_misses("prompt", match.prompt_contains, match.prompt_regex, call.prompt, call.regex)
    misses += _text_misses("sample", match.sample_contains, match.sample_regex, call.sample_text, call.regex)
    misses += _item_misses(match.item or {}, call.item)
    misses += _answer_fits(rule.answer, call.grader_type)
    return misses


def _equal_misses(checks: Sequence[tuple[str, Any, Any]]) -> list[str]:
    return [
        f"{name} {actual!r} is not {wanted!r}"
        for name, wanted, actual in checks
        if wanted not in (None, actual)
    ]


def _text_misses(
    name: str, contains: str | None, pattern: str | None, text: str, budget: RegexBudget
) -> list[str]:
    misses = []
    if contains is not None and contains not in text:
        misses.append(f"{name} does not contain {contains!r}")
    if pattern is not None:
        found = budget.search(pattern, text)
        if found is None:
            misses.append(f"{name} regex /{pattern}/ ran out of matching time (rule_regex_timeout_s)")
        elif not found:
            misses.append(f"{name} does not match /{pattern}/")
    return misses


def _item_misses(expected: Mapping[str, Any], item: Any) -> list[str]:
    misses = []
    for path, wanted in expected.items():
        actual = item_value(item, path)
        if actual is _MISSING:
            misses.append(f"item.{path} is missing")
        elif actual != wanted:
            misses.append(f"item.{path} is {actual!r}, not {wanted!r}")
    return misses


def _answer_fits(answer: ModelAnswer, grader_type: str) -> list[str]:
    # A score answers only score_model calls and a label only label_model calls: otherwise a rule
    # meant for one sub-grader of a multi would turn its sibling into a parse error.
    if answer.score is not None and grader_type != "score_model":
        return [f"answers a score, the call is a {grader_type}"]
    if answer.label is not None and grader_type != "label_model":
        return [f"answers a label, the call is a {grader_type}"]
    return []


def sampling_misses(rule: SamplingRule, model: str, prompt: str, item: Any) -> list[str]:
    """The criteria of a sampling rule that one sample request fails (empty: it matches)."""
    match = rule.match
    misses = _equal_misses((("model", match.model, model),))
    misses += _text_misses("prompt", match.prompt_contains, match.prompt_regex, prompt, RegexBudget())
    return misses + _item_misses(match.item or {}, item)


@dataclass(frozen=True)
class RequestView:
    """The facts of one HTTP request that fault rules match on."""

    method: str
    path: str
    grader_name: str | None
    grader_type: str | None
    retry_count: int


def fault_misses(rule: FaultRule, request: RequestView) -> list[str]:
    """The stateless criteria of `rule` that `request` fails (nth and probability are the store's)."""
    match = rule.match
    misses = []
    if match.path is not None and not fnmatch.fnmatchcase(request.path, match.path):
        misses.append(f"path {request.path!r} does not match {match.path!r}")
    if match.method is not None and match.method.upper() != request.method:
        misses.append(f"method {request.method} is not {match.method.upper()}")
    misses += _equal_misses(
        (
            ("grader_name", match.grader_name, request.grader_name),
            ("grader_type", match.grader_type, request.grader_type),
        )
    )
    if rule.fail_attempts is not None and request.retry_count >= rule.fail_attempts:
        misses.append(f"retry count {request.retry_count} reached fail_attempts {rule.fail_attempts}")
    return misses


def needs_body(rule: FaultRule) -> bool:
    """Whether matching the rule needs the grader from the request body."""
    return rule.match.grader_name is not None or rule.match.grader_type is not None
