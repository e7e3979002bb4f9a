"""Grader objects as OpenAI's API takes them (openai-python `types/graders/*`), with `type` as tag."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from graders_emulator.metrics import EvaluationMetric
from graders_emulator.schemas.base import PositiveWireInt, WireInt, WireModel

StringCheckOperation = Literal["eq", "ne", "like", "ilike"]
Role = Literal["user", "assistant", "system", "developer"]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class StringCheckGrader(WireModel):
    """Compares input and reference with one string operation."""

    type: Literal["string_check"]
    """Always `string_check`."""
    name: str | None = None
    """The grader's name; generated when missing."""
    input: str
    """The input text; may contain templates."""
    reference: str
    """The reference text; may contain templates."""
    operation: StringCheckOperation
    """`eq`, `ne`, `like` (substring) or `ilike` (case-insensitive substring)."""


class TextSimilarityGrader(WireModel):
    """Scores the similarity of input and reference with one metric."""

    type: Literal["text_similarity"]
    """Always `text_similarity`."""
    name: str | None = None
    """The grader's name; generated when missing."""
    input: str
    """The text being graded; may contain templates."""
    reference: str
    """The text graded against; may contain templates."""
    evaluation_metric: EvaluationMetric
    """One of the eleven metrics."""


class PythonGrader(WireModel):
    """Runs the source's `grade(sample, item)` in a sandbox."""

    type: Literal["python"]
    """Always `python`."""
    name: str | None = None
    """The grader's name; generated when missing."""
    source: str
    """Python source defining `grade(sample, item) -> float`."""
    image_tag: str | None = None
    """The image whose package set the grader expects (known: `2025-05-08`)."""


class PromptCacheBreakpoint(WireModel):
    """The end of a reusable prompt prefix."""

    mode: Literal["explicit"]
    """Always `explicit`."""


class InputTextContent(WireModel):
    """A text input to the model."""

    type: Literal["input_text"]
    """Always `input_text`."""
    text: str
    """The text; may contain templates."""
    prompt_cache_breakpoint: PromptCacheBreakpoint | None = None
    """Marks the end of a reusable prompt prefix."""


class OutputTextContent(WireModel):
    """A text output of the model."""

    type: Literal["output_text"]
    """Always `output_text`."""
    text: str
    """The text; may contain templates."""


class InputImageContent(WireModel):
    """An image input to the model."""

    type: Literal["input_image"]
    """Always `input_image`."""
    image_url: str
    """The URL of the image; may contain templates."""
    detail: str | None = None
    """`high`, `low` or `auto`."""


class InputAudioData(WireModel):
    """Base64-encoded audio."""

    data: str
    """Base64 audio data; may contain templates."""
    format: Literal["mp3", "wav"]
    """`mp3` or `wav`."""


class InputAudioContent(WireModel):
    """An audio input to the model."""

    type: Literal["input_audio"]
    """Always `input_audio`."""
    input_audio: InputAudioData
    """The audio."""


ContentPart = Annotated[
    InputTextContent | OutputTextContent | InputImageContent | InputAudioContent,
    Field(discriminator="type"),
]
# A list may mix plain strings and parts (the spec's EvalItemContentArray of EvalItemContentItem).
ContentItem = str | ContentPart
MessageContent = str | ContentPart | list[ContentItem]


class EvalMessage(WireModel):
    """A message of a model grader's prompt."""

    role: Role
    """`user`, `assistant`, `system` or `developer`."""
    content: MessageContent
    """A string, one content part, or a list of parts."""
    type: Literal["message"] | None = None
    """Always `message` when present."""


class SamplingParams(WireModel):
    """Sampling parameters of a model grader."""

    seed: WireInt | None = None
    """Seed for sampling."""
    top_p: float | None = None
    """Nucleus sampling mass."""
    temperature: float | None = None
    """Sampling temperature."""
    max_completions_tokens: PositiveWireInt | None = None
    """Maximum tokens the grader model may generate."""
    reasoning_effort: ReasoningEffort | None = None
    """Reasoning effort for reasoning models."""


class ScoreModelGrader(WireModel):
    """Asks a model for a numeric score."""

    type: Literal["score_model"]
    """Always `score_model`."""
    name: str | None = None
    """The grader's name; generated when missing."""
    model: str
    """The model to use."""
    input: list[EvalMessage]
    """The prompt messages; may contain templates."""
    sampling_params: SamplingParams | None = None
    """Sampling parameters."""
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    """`[low, high]` of the score; defaults to `[0, 1]`."""


class LabelModelGrader(WireModel):
    """Asks a model for a label (only inside `multi`)."""

    type: Literal["label_model"]
    """Always `label_model`."""
    name: str | None = None
    """The grader's name; generated when missing."""
    model: str
    """The model to use; must support structured outputs."""
    input: list[EvalMessage]
    """The prompt messages; may contain templates."""
    labels: list[str]
    """The labels the model may assign."""
    passing_labels: list[str]
    """The labels that pass; a subset of `labels`."""


SubGrader = Annotated[
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | LabelModelGrader,
    Field(discriminator="type"),
]


class MultiGrader(WireModel):
    """Combines named sub-graders with a formula."""

    type: Literal["multi"]
    """Always `multi`."""
    name: str | None = None
    """The grader's name; generated when missing."""
    graders: dict[str, SubGrader]
    """Sub-graders by the name the formula uses."""
    calculate_output: str
    """Formula over the sub-graders' rewards, e.g. `0.5 * a + 0.5 * b`."""


# Every grader type; top level refuses label_model and sub-graders refuse multi (with OpenAI's 400s,
# see app/grading/validation.py), which is why the unions here are wider than the spec's.
AnyGrader = Annotated[
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | MultiGrader,
    Field(discriminator="type"),
]
GraderType = Literal["string_check", "text_similarity", "python", "score_model", "label_model", "multi"]
# The graders that ask a model (canned rules, or a real endpoint) for their answer.
MODEL_GRADER_TYPES = frozenset({"score_model", "label_model"})
Grader = (
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | MultiGrader
)
ModelGrader = ScoreModelGrader | LabelModelGrader
