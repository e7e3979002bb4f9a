"""Grading with fake sandbox and model clients: rewards, flags, token usage, multi merging."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from graders_emulator import templating
from graders_emulator.grading.context import (
    BaseSandbox,
    GradingContext,
    ModelReply,
    ModelRequest,
    PythonJob,
    PythonOutcome,
)
from graders_emulator.grading.dispatch import grade
from graders_emulator.grading.model_names import DEFAULT_ALIASES
from graders_emulator.grading.result import GradeResult, TokenUsage
from graders_emulator.schemas.graders import AnyGrader

GRADER = TypeAdapter(AnyGrader)


class FakeSandbox(BaseSandbox):
    def __init__(self, outcome: PythonOutcome) -> None:
        self.outcome = outcome
        self.jobs: list[PythonJob] = []

    async def run(self, job: PythonJob) -> PythonOutcome:
        self.jobs.append(job)
        return self.outcome


class FakeModels:
    def __init__(self, *replies: ModelReply) -> None:
        self.replies = list(replies)
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        return self.replies.pop(0)


def run(
    grader: dict[str, Any], *, sandbox: Any = None, models: Any = None, item: Any = None, sample: str = "x"
) -> GradeResult:
    context = GradingContext(
        sandbox or FakeSandbox(PythonOutcome(value=1.0)), models or FakeModels(), None, DEFAULT_ALIASES
    )
    return asyncio.run(grade(GRADER.validate_python(grader), templating.namespaces(item, sample), context))


def score(value: Any, **usage: int) -> ModelReply:
    return ModelReply(
        kind="ok", content=json.dumps({"result": value, "steps": []}), usage=TokenUsage(**usage)
    )


SCORE_MODEL = {
    "type": "score_model",
    "name": "s",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "Rate {{sample.output_text}} vs {{item.ref}}"}],
}


@pytest.mark.parametrize(
    ("outcome", "reward", "flag", "details"),
    [
        (PythonOutcome(value=0.25), 0.25, None, None),
        (PythonOutcome(value=7.5), 7.5, None, None),  # unclamped
        (
            PythonOutcome(runtime_error="ValueError: boom"),
            0.0,
            "python_grader_runtime_error",
            "ValueError: boom",
        ),
        (PythonOutcome(server_error_type="disabled"), 0.0, "python_grader_server_error", "disabled"),
    ],
    ids=["value", "unclamped", "runtime", "server"],
)
def test_python_outcomes(
    outcome: PythonOutcome, reward: float, flag: str | None, details: str | None
) -> None:
    sandbox = FakeSandbox(outcome)
    result = run(
        {"type": "python", "source": "def grade(s, i): ...", "image_tag": "2025-05-08"},
        sandbox=sandbox,
        item={"a": 1},
        sample='{"k": 2}',
    )
    assert result.reward == reward
    assert [(f.flag, f.details) for f in result.failures] == ([(flag, details)] if flag else [])
    job = sandbox.jobs[0]
    assert job.item == {"a": 1} and job.image_tag == "2025-05-08"
    assert job.sample == {
        "output_text": '{"k": 2}',
        "output_json": {"k": 2},
        "output_tools": [],
        "choices": [],
    }


@pytest.mark.parametrize(
    ("reply", "grader_range", "reward", "flag"),
    [
        (score(0.7), None, 0.7, None),
        (score(1.5), None, 1.0, None),
        (score(-3), None, 0.0, None),
        (score(7), [0, 10], 7.0, None),
        (score(12), [0, 10], 10.0, None),
        (score("high"), None, 0.0, "model_grader_parse_error"),
        (score(True), None, 0.0, "model_grader_parse_error"),
        (ModelReply(kind="ok", content="0.7 I think"), None, 0.0, "model_grader_parse_error"),
        (ModelReply(kind="ok", content='{"steps": []}'), None, 0.0, "model_grader_parse_error"),
        (ModelReply(kind="refusal", details="I can't"), None, 0.0, "model_grader_refusal_error"),
        (ModelReply(kind="server_error", details="502"), None, 0.0, "model_grader_server_error"),
        (ModelReply(kind="max_tokens"), None, 0.0, "model_grader_exceeded_max_tokens_error"),
    ],
    ids=[
        "in-range",
        "clamped-high",
        "clamped-low",
        "custom-range",
        "custom-clamped",
        "string",
        "bool",
        "not-json",
        "no-result",
        "refusal",
        "server",
        "max-tokens",
    ],
)
def test_score_model(
    reply: ModelReply, grader_range: list[float] | None, reward: float, flag: str | None
) -> None:
    grader = {**SCORE_MODEL, **({"range": grader_range} if grader_range else {})}
    models = FakeModels(reply)
    result = run(grader, models=models, item={"ref": "R"}, sample="S")
    assert result.reward == reward
    assert result.failed_flags == ((flag,) if flag else ())
    assert result.sampled_model_name == "gpt-4o-2024-08-06"
    request = models.requests[0]
    assert request.messages == [{"role": "user", "content": "Rate S vs R"}]
    assert request.score_range == (tuple(map(float, grader_range)) if grader_range else (0.0, 1.0))


def test_message_parts_are_all_rendered() -> None:
    grader = {
        **SCORE_MODEL,
        "input": [
            {"role": "system", "content": {"type": "input_text", "text": "T {{item.a}}"}},
            {
                "role": "user",
                "type": "message",
                "content": [
                    {"type": "output_text", "text": "O {{item.a}}"},
                    {"type": "input_image", "image_url": "http://x/{{item.a}}.png", "detail": "low"},
                    {"type": "input_audio", "input_audio": {"data": "{{item.a}}", "format": "wav"}},
                ],
            },
        ],
    }
    models = FakeModels(score(1))
    run(grader, models=models, item={"a": "1"})
    assert models.requests[0].messages == [
        {"role": "system", "content": [{"type": "input_text", "text": "T 1"}]},
        {
            "role": "user",
            "content": [
                {"type": "output_text", "text": "O 1"},
                {"type": "input_image", "image_url": "http://x/1.png", "detail": "low"},
                {"type": "input_audio", "input_audio": {"data": "1", "format": "wav"}},
            ],
        },
    ]


def test_multi_sums_usage_per_model_and_merges_flags() -> None:
    label = {
        "type": "label_model",
        "name": "l",
        "model": "gpt-4o",
        "input": [{"role": "user", "content": "x"}],
        "labels": ["good", "bad"],
        "passing_labels": ["good"],
    }
    other = {**SCORE_MODEL, "model": "o3-mini"}
    grader = {
        "type": "multi",
        "graders": {
            "s": SCORE_MODEL,
            "l": label,
            "o": other,
            "v": {"type": "string_check", "input": "{{item.missing}}", "reference": "x", "operation": "eq"},
        },
        "calculate_output": "s + l + o + v",
    }
    models = FakeModels(
        score(0.5, prompt_tokens=10, completion_tokens=5),
        ModelReply(kind="ok", content=json.dumps({"result": "good", "steps": []}), usage=TokenUsage(7, 3, 1)),
        score(0.25, prompt_tokens=1, completion_tokens=1),
    )
    result = run(grader, models=models, item={"ref": "r"})
    assert result.sub_rewards == {"s": 0.5, "l": 1.0, "o": 0.25, "v": 0.0}
    assert result.reward == 1.75
    assert result.failed_flags == ("invalid_variable_error",)
    assert result.usage_per_model == {
        "gpt-4o-2024-08-06": TokenUsage(17, 8, 1),
        "o3-mini-2025-01-31": TokenUsage(1, 1, 0),
    }
    assert result.token_usage == TokenUsage(18, 9, 1)


@pytest.mark.parametrize(
    ("content", "reward", "flag"),
    [
        ('{"result": "good"}', 1.0, None),
        ('{"result": "bad"}', 0.0, None),
        ("good", 1.0, None),
        ('{"result": "ugly"}', 0.0, "model_grader_parse_error"),
    ],
    ids=["passing", "failing", "bare-label", "unknown-label"],
)
def test_label_model(content: str, reward: float, flag: str | None) -> None:
    label = {
        "type": "label_model",
        "name": "l",
        "model": "m",
        "input": [],
        "labels": ["good", "bad"],
        "passing_labels": ["good"],
    }
    result = run(
        {"type": "multi", "graders": {"l": label}, "calculate_output": "l"},
        models=FakeModels(ModelReply(kind="ok", content=content)),
    )
    assert result.reward == reward and result.failed_flags == ((flag,) if flag else ())


def test_formula_failure_is_a_flag() -> None:
    sub = {"type": "string_check", "input": "a", "reference": "b", "operation": "eq"}
    result = run({"type": "multi", "graders": {"a": sub}, "calculate_output": "1 / a"})
    assert result.reward == 0.0 and result.failed_flags == ("formula_parse_error",)
    assert result.sub_rewards == {"a": 0.0}


class FakeEmbedder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[list[str]] = []

    async def embed(self, texts: Any) -> list[list[float]]:
        self.calls.append(list(texts))
        if self.fail:
            raise ConnectionError("embeddings endpoint down")
        return [[1.0, 0.0], [0.6, 0.8]]


@pytest.mark.parametrize(
    ("embedder", "sample", "reward", "flag", "calls"),
    [
        (FakeEmbedder(), "text", 0.6, None, 1),
        (FakeEmbedder(), "", 0.0, None, 0),
        (FakeEmbedder(fail=True), "text", 0.0, "other_error", 1),
    ],
    ids=["vectors", "empty-skips-backend", "backend-down"],
)
def test_cosine_uses_a_configured_embedder(
    embedder: FakeEmbedder, sample: str, reward: float, flag: str | None, calls: int
) -> None:
    grader = GRADER.validate_python(
        {
            "type": "text_similarity",
            "input": "{{sample.output_text}}",
            "reference": "ref",
            "evaluation_metric": "cosine",
        }
    )
    context = GradingContext(FakeSandbox(PythonOutcome(value=1.0)), FakeModels(), embedder, {})
    result = asyncio.run(grade(grader, templating.namespaces(None, sample), context))
    assert result.reward == pytest.approx(reward)
    assert result.failed_flags == ((flag,) if flag else ())
    assert len(embedder.calls) == calls


def test_meteor_without_wordnet_is_other_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from graders_emulator import metrics

    def missing(*args: object) -> float:
        raise metrics.MetricUnavailable("WordNet 3.0 was not found: apt-get install wordnet-base")

    monkeypatch.setitem(metrics.METRICS, "meteor", missing)
    result = run({"type": "text_similarity", "input": "a", "reference": "a", "evaluation_metric": "meteor"})
    assert result.failed_flags == ("other_error",)
    assert "wordnet-base" in (result.failures[0].details or "")
