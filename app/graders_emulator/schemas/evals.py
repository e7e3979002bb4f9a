"""Evals API wire objects (openai-python `types/eval_*`, `types/evals/*`): declarations only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from graders_emulator.schemas.base import WireInt, WireModel
from graders_emulator.schemas.graders import (
    EvalMessage,
    LabelModelGrader,
    PythonGrader,
    ReasoningEffort,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)

Metadata = dict[str, str]

# --- data source configs (of an eval) ------------------------------------------------------------


class CustomDataSourceConfig(WireModel):
    """The schema of the `item` namespace (and whether runs also carry a `sample`)."""

    type: Literal["custom"]
    """Always `custom`."""
    item_schema: dict[str, Any]
    """JSON schema every row's `item` must match."""
    include_sample_schema: bool = False
    """Whether rows carry (or runs generate) a `sample` namespace."""


class LogsDataSourceConfig(WireModel):
    """Items taken from stored logs (not emulated: a 400)."""

    type: Literal["logs"]
    """Always `logs`."""
    metadata: dict[str, Any] | None = None
    """Metadata filters of the logs query."""


class StoredCompletionsDataSourceConfig(WireModel):
    """Items taken from stored chat completions (not emulated: a 400)."""

    type: Literal["stored_completions"]
    """Always `stored_completions`."""
    metadata: dict[str, Any] | None = None
    """Metadata filters of the stored completions query."""


DataSourceConfig = Annotated[
    CustomDataSourceConfig | LogsDataSourceConfig | StoredCompletionsDataSourceConfig,
    Field(discriminator="type"),
]

# --- testing criteria ------------------------------------------------------------------------------


class TextSimilarityCriterion(TextSimilarityGrader):
    """text_similarity with the threshold its score must reach to pass."""

    pass_threshold: float
    """A score >= this passes."""


class PythonCriterion(PythonGrader):
    """python with an optional pass threshold."""

    pass_threshold: float | None = None
    """A score >= this passes (default 0.5)."""


class ScoreModelCriterion(ScoreModelGrader):
    """score_model with an optional pass threshold."""

    pass_threshold: float | None = None
    """A score >= this passes (default 0.5)."""


TestingCriterion = Annotated[
    LabelModelGrader | StringCheckGrader | TextSimilarityCriterion | PythonCriterion | ScoreModelCriterion,
    Field(discriminator="type"),
]
Criterion = (
    LabelModelGrader | StringCheckGrader | TextSimilarityCriterion | PythonCriterion | ScoreModelCriterion
)


class CreateEvalRequest(WireModel):
    """Body of `POST /evals`."""

    name: str | None = None
    """The eval's name."""
    metadata: Metadata | None = None
    """Up to 16 string pairs."""
    data_source_config: DataSourceConfig
    """What items look like."""
    testing_criteria: list[TestingCriterion]
    """The graders every item is graded by."""


class UpdateEvalRequest(WireModel):
    """Body of `POST /evals/{eval_id}`."""

    name: str | None = None
    """A new name."""
    metadata: Metadata | None = None
    """New metadata (replaces the old)."""


# --- run data sources ------------------------------------------------------------------------------


class JsonlRow(WireModel):
    """One row of a jsonl source."""

    item: dict[str, Any]
    """Fills the `item` namespace."""
    sample: dict[str, Any] | None = None
    """Fills the `sample` namespace (`output_text`, `output_json`, ...)."""


class FileContentSource(WireModel):
    """Rows given inline."""

    type: Literal["file_content"]
    """Always `file_content`."""
    content: list[JsonlRow]
    """The rows."""


class FileIdSource(WireModel):
    """Rows in an uploaded JSONL file."""

    type: Literal["file_id"]
    """Always `file_id`."""
    id: str
    """The file's id."""


class StoredCompletionsSource(WireModel):
    """Rows from stored chat completions (not emulated: a 400)."""

    type: Literal["stored_completions"]
    """Always `stored_completions`."""


class ResponsesSource(WireModel):
    """Rows from stored responses (not emulated: a 400)."""

    type: Literal["responses"]
    """Always `responses`."""


JsonlSource = Annotated[FileContentSource | FileIdSource, Field(discriminator="type")]
CompletionsSource = Annotated[
    FileContentSource | FileIdSource | StoredCompletionsSource, Field(discriminator="type")
]
ResponsesRunSource = Annotated[
    FileContentSource | FileIdSource | ResponsesSource, Field(discriminator="type")
]


class TemplateInputMessages(WireModel):
    """Prompt messages rendered per item."""

    type: Literal["template"]
    """Always `template`."""
    template: list[EvalMessage]
    """Messages; may contain `{{item.x}}` templates."""


class ItemReferenceInputMessages(WireModel):
    """Prompt messages taken from the item."""

    type: Literal["item_reference"]
    """Always `item_reference`."""
    item_reference: str
    """A path in the item, e.g. `item.input_trajectory`."""


InputMessages = Annotated[TemplateInputMessages | ItemReferenceInputMessages, Field(discriminator="type")]


class FunctionDefinition(WireModel):
    """A function the sampled model may call."""

    name: str
    """The function's name."""
    description: str | None = None
    """What it does."""
    parameters: dict[str, Any] | None = None
    """Its JSON schema."""
    strict: bool | None = None
    """Strict schema adherence."""


class FunctionTool(WireModel):
    """A function tool (the only kind completions sampling takes)."""

    type: Literal["function"]
    """Always `function`."""
    function: FunctionDefinition
    """The function."""


class TextFormat(WireModel):
    """Plain text output."""

    type: Literal["text"]
    """Always `text`."""


class JsonObjectFormat(WireModel):
    """JSON mode."""

    type: Literal["json_object"]
    """Always `json_object`."""


class JsonSchemaSpec(WireModel):
    """A structured-output schema."""

    name: str
    """The format's name."""
    description: str | None = None
    """What it is for."""
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    """The JSON schema."""
    strict: bool | None = None
    """Strict schema adherence."""


class JsonSchemaFormat(WireModel):
    """Structured outputs."""

    type: Literal["json_schema"]
    """Always `json_schema`."""
    json_schema: JsonSchemaSpec
    """The schema."""


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class CompletionsSamplingParams(WireModel):
    """How samples are drawn."""

    max_completion_tokens: WireInt | None = None
    """Maximum tokens per sample."""
    seed: WireInt | None = None
    """Sampling seed."""
    temperature: float | None = None
    """Sampling temperature."""
    top_p: float | None = None
    """Nucleus sampling mass."""
    reasoning_effort: ReasoningEffort | None = None
    """Reasoning effort for reasoning models."""
    response_format: ResponseFormat | None = None
    """Output format (passed to a real endpoint)."""
    tools: list[FunctionTool] | None = None
    """Function tools (passed to a real endpoint)."""


class JsonlRunDataSource(WireModel):
    """Rows that already carry their samples."""

    type: Literal["jsonl"]
    """Always `jsonl`."""
    source: JsonlSource
    """Where the rows are."""


class CompletionsRunDataSource(WireModel):
    """Rows whose samples a model generates."""

    type: Literal["completions"]
    """Always `completions`."""
    source: CompletionsSource
    """Where the rows are."""
    input_messages: InputMessages | None = None
    """The prompt of each sample."""
    model: str | None = None
    """The model that samples."""
    sampling_params: CompletionsSamplingParams | None = None
    """Sampling parameters."""


class ResponsesRunDataSource(WireModel):
    """Samples from the Responses API (not emulated: a 400)."""

    type: Literal["responses"]
    """Always `responses`."""
    source: ResponsesRunSource
    """Where the rows are."""


RunDataSource = Annotated[
    JsonlRunDataSource | CompletionsRunDataSource | ResponsesRunDataSource, Field(discriminator="type")
]


class CreateRunRequest(WireModel):
    """Body of `POST /evals/{eval_id}/runs`."""

    name: str | None = None
    """The run's name."""
    metadata: Metadata | None = None
    """Up to 16 string pairs."""
    data_source: RunDataSource
    """The rows (and how samples are made)."""


# --- responses (for the OpenAPI document; the routes build the bodies) ------------------------------


class EvalApiError(WireModel):
    """An error of a run or a sample."""

    code: str
    """The error code."""
    message: str
    """What went wrong."""


class EvalObject(WireModel):
    """An eval."""

    object: Literal["eval"]
    """Always `eval`."""
    id: str
    """`eval_` + 32 hex."""
    name: str
    """The eval's name."""
    data_source_config: dict[str, Any]
    """`{type, schema}`."""
    testing_criteria: list[dict[str, Any]]
    """The graders, as given (names generated when missing)."""
    created_at: int
    """Unix seconds."""
    metadata: Metadata | None
    """Up to 16 string pairs."""


class ResultCounts(WireModel):
    """Outcomes of a run's items."""

    total: int
    """Items graded."""
    errored: int
    """Items where a criterion raised an error flag."""
    failed: int
    """Items where a criterion failed."""
    passed: int
    """Items where every criterion passed."""


class PerModelUsage(WireModel):
    """Tokens one model used in a run."""

    model_name: str
    """The model."""
    invocation_count: int
    """Calls made."""
    prompt_tokens: int
    """Prompt tokens."""
    completion_tokens: int
    """Completion tokens."""
    total_tokens: int
    """prompt + completion."""
    cached_tokens: int
    """Cached prompt tokens."""


class PerCriterionResult(WireModel):
    """Pass/fail counts of one criterion."""

    testing_criteria: str
    """The criterion's name."""
    passed: int
    """Items it passed."""
    failed: int
    """Items it failed (errors included)."""


class EvalRunObject(WireModel):
    """A run of an eval."""

    object: Literal["eval.run"]
    """Always `eval.run`."""
    id: str
    """`evalrun_` + 32 hex."""
    eval_id: str
    """The eval."""
    name: str
    """The run's name."""
    model: str
    """The sampling model (`completions`), else empty."""
    status: Literal["queued", "in_progress", "completed", "failed", "canceled"]
    """Where the run is."""
    created_at: int
    """Unix seconds."""
    report_url: str
    """A dashboard URL (points at the emulator)."""
    result_counts: ResultCounts
    """Item outcomes so far."""
    per_model_usage: list[PerModelUsage]
    """Tokens per model."""
    per_testing_criteria_results: list[PerCriterionResult]
    """Counts per criterion."""
    data_source: dict[str, Any]
    """The run's data source, as given."""
    error: EvalApiError | None
    """Why the run failed (`real` profile: null when it did not)."""
    metadata: Metadata | None
    """Up to 16 string pairs."""


class OutputItemResult(WireModel):
    """One criterion's result on one item."""

    name: str
    """The criterion's name."""
    type: str
    """The criterion's kind, e.g. `string-check-grader`."""
    score: float
    """The grader's reward."""
    passed: bool
    """Whether the criterion passed."""
    sample: dict[str, Any] | None
    """What the grader reported besides its score (error flags), or null."""


class OutputItemObject(WireModel):
    """The outcome of one row."""

    object: Literal["eval.run.output_item"]
    """Always `eval.run.output_item`."""
    id: str
    """`outputitem_` + 32 hex."""
    run_id: str
    """The run."""
    eval_id: str
    """The eval."""
    created_at: int
    """Unix seconds."""
    status: Literal["pass", "fail", "error"]
    """pass, fail, or error."""
    datasource_item_id: int
    """The row's 0-based index."""
    datasource_item: dict[str, Any]
    """The row's item."""
    results: list[OutputItemResult]
    """One per criterion."""
    sample: dict[str, Any]
    """input, output, model, usage, error, sampling parameters."""


class _ListBase(WireModel):
    object: Literal["list"]
    """Always `list`."""
    first_id: str | None
    """The first id of `data` (null or "" when empty, by profile)."""
    last_id: str | None
    """The last id of `data`."""
    has_more: bool
    """Whether a next page exists."""


class EvalList(_ListBase):
    """A page of evals."""

    data: list[EvalObject]
    """The evals."""


class EvalRunList(_ListBase):
    """A page of runs."""

    data: list[EvalRunObject]
    """The runs."""


class OutputItemList(_ListBase):
    """A page of output items."""

    data: list[OutputItemObject]
    """The items."""


class EvalDeleted(WireModel):
    """An eval was deleted."""

    object: Literal["eval.deleted"]
    """Always `eval.deleted`."""
    deleted: bool
    """Always true."""
    eval_id: str
    """The eval."""


class EvalRunDeleted(WireModel):
    """A run was deleted."""

    object: Literal["eval.run.deleted"]
    """Always `eval.run.deleted`."""
    deleted: bool
    """Always true."""
    run_id: str
    """The run."""


REQUEST_MODELS = (CreateEvalRequest, UpdateEvalRequest, CreateRunRequest)
"""The request bodies the routes parse themselves; main adds them to the OpenAPI document."""
