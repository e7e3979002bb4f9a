"""What grading needs from the outside world, as small Protocols injected per request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from graders_emulator.grading.result import TokenUsage

# ---------------------------------------------------------------------------------------------
# Python graders


@dataclass(frozen=True)
class PythonJob:
    """One call of a user's `grade(sample, item)`."""

    source: str
    sample: Mapping[str, Any]
    item: Any
    image_tag: str | None = None


@dataclass(frozen=True)
class PythonOutcome:
    """How a python grader ended. Exactly one of `value`, `runtime_error`, `server_error_type` is set.

    - `value`: the float `grade` returned (already checked in the child: real, not bool, finite).
    - `runtime_error`: the grader's own fault (exception, bad return value, a limit it exceeded);
      the text is what the user reads in `python_grader_runtime_error_details`.
    - `server_error_type`: the sandbox could not run the job (e.g. `disabled`, `worker_start_failed`);
      `server_error_details` says more for logs and the journal.
    """

    value: float | None = None
    runtime_error: str | None = None
    server_error_type: str | None = None
    server_error_details: str | None = None
    stdout: str = ""
    elapsed_s: float = 0.0


class SandboxRunner(Protocol):
    """Runs untrusted python grader code in isolation, with a lifecycle its owner drives.

    `start` is awaited once before the first request (it may return before workers are warm),
    `close` once at shutdown; `protections` reports the mode and active protections (for /readyz,
    /metrics and the control plane's info). `BaseSandbox` gives no-op defaults for all three.
    """

    async def run(self, job: PythonJob) -> PythonOutcome: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def protections(self) -> dict[str, object]: ...


class BaseSandbox(ABC):
    """A runner with nothing to start or close; subclasses implement `run` (and what differs)."""

    @abstractmethod
    async def run(self, job: PythonJob) -> PythonOutcome: ...

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def protections(self) -> dict[str, object]:
        return {"mode": "disabled"}


# ---------------------------------------------------------------------------------------------
# Model graders


@dataclass(frozen=True)
class ModelRequest:
    """One call of a model grader, after template rendering."""

    grader_type: Literal["score_model", "label_model"]
    grader_name: str
    model: str
    messages: Sequence[Mapping[str, Any]]  # [{"role": ..., "content": str | [parts]}], rendered
    sampling_params: Mapping[str, Any] = field(default_factory=dict)
    labels: Sequence[str] | None = None  # label_model only
    score_range: tuple[float, float] = (0.0, 1.0)  # score_model only
    item: Any = None
    sample_text: str = ""


@dataclass(frozen=True)
class ModelReply:
    """What the model (canned or real) answered.

    `kind` says how the call ended; for `ok`, `content` is the raw reply text that the grader parses
    (so a canned raw text can provoke `model_grader_parse_error`).
    """

    kind: Literal["ok", "refusal", "server_error", "max_tokens"]
    content: str = ""
    details: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str | None = None  # the snapshot that answered; resolved by the grader when None
    trace: Mapping[str, Any] = field(default_factory=dict)


class ModelClient(Protocol):
    """Answers model-grader calls: canned rules by default, a real endpoint when configured."""

    async def complete(self, request: ModelRequest) -> ModelReply: ...


# ---------------------------------------------------------------------------------------------
# Embeddings for text_similarity's cosine


class Embedder(Protocol):
    """Turns texts into vectors; cosine similarity is taken between them."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class MetricRunner(Protocol):
    """Runs a text_similarity metric out of process with a deadline (MetricTimeout past it)."""

    async def score(self, metric: str, text: str, reference: str) -> float: ...


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradingContext:
    """Everything grading may call out to; one per request, so a test can swap any part."""

    sandbox: SandboxRunner
    models: ModelClient
    embedder: Embedder | None = None  # None: cosine uses the built-in lexical embedding
    model_aliases: Mapping[str, str] = field(default_factory=dict)
    metrics: MetricRunner | None = None  # None: large metric inputs run in a thread (no deadline)
