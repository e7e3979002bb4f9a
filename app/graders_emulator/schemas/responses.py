"""Bodies of the run and validate answers, for the OpenAPI document (answers are built in service)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from graders_emulator.schemas.graders import AnyGrader


class TokenUsageObject(BaseModel):
    """Token usage as the live API reports it (the spec says integer)."""

    prompt_tokens: int
    """Prompt tokens."""
    total_tokens: int
    """prompt_tokens + completion_tokens."""
    completion_tokens: int
    """Completion tokens."""
    cached_tokens: int
    """Prompt tokens served from cache."""


class RunErrors(BaseModel):
    """Error flags of a run; 24 keys by default, the spec's 14 in the `spec` profile."""

    model_config = ConfigDict(extra="allow")

    formula_parse_error: bool
    sample_parse_error: bool
    truncated_observation_error: bool
    unresponsive_reward_error: bool
    invalid_variable_error: bool
    other_error: bool
    python_grader_server_error: bool
    python_grader_server_error_type: str | None
    python_grader_runtime_error: bool
    python_grader_runtime_error_details: str | None
    model_grader_server_error: bool
    model_grader_refusal_error: bool
    model_grader_parse_error: bool
    model_grader_server_error_details: str | None


class RunMetadata(BaseModel):
    """What the grading did."""

    name: str
    """The grader's name (generated when the request had none)."""
    type: str
    """The grader's type."""
    errors: RunErrors
    """Failure flags; reward is 0.0 when any is true."""
    execution_time: float
    """Seconds spent grading."""
    scores: dict[str, object]
    """Always `{}`."""
    token_usage: TokenUsageObject | int | None
    """Tokens of model graders: an object (live API) or the integer total (`spec` profile)."""
    sampled_model_name: str | None
    """The model snapshot a model grader used."""


class RunGraderResponse(BaseModel):
    """The answer of `run`."""

    reward: float
    """The score."""
    metadata: RunMetadata
    """Details of the grading."""
    sub_rewards: dict[str, float]
    """Per sub-grader rewards of a multi grader, by its `graders` key."""
    model_grader_token_usage_per_model: dict[str, TokenUsageObject | int]
    """Token usage summed per model snapshot."""


class ValidateGraderResponse(BaseModel):
    """The answer of `validate`: the grader, normalised."""

    grader: AnyGrader
