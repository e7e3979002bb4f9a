"""score_model and label_model: render the prompt, ask the ModelClient, turn its reply into a reward."""

from __future__ import annotations

import math
from typing import Any

import orjson

from graders_emulator import templating
from graders_emulator.grading.context import GradingContext, ModelReply, ModelRequest
from graders_emulator.grading.model_names import resolve
from graders_emulator.grading.result import ErrorFlag, GradeFailure, GradeResult
from graders_emulator.grading.templates import Part, part_template, put
from graders_emulator.schemas.graders import (
    EvalMessage,
    InputAudioContent,
    InputImageContent,
    LabelModelGrader,
    ScoreModelGrader,
)

_REPLY_FAILURES: dict[str, ErrorFlag] = {
    "refusal": "model_grader_refusal_error",
    "server_error": "model_grader_server_error",
    "max_tokens": "model_grader_exceeded_max_tokens_error",
}


def _render_part(part: Part | str, namespaces: dict[str, Any]) -> dict[str, Any]:
    """The part with its template field rendered (grading/templates.py); a plain string is input text."""
    if isinstance(part, str):
        return {"type": "input_text", "text": templating.render(part, namespaces)}
    field, template = part_template(part)
    rendered: dict[str, Any] = {"type": part.type}
    put(rendered, field, templating.render(template, namespaces))
    if isinstance(part, InputImageContent) and part.detail:
        rendered["detail"] = part.detail
    elif isinstance(part, InputAudioContent):
        rendered["input_audio"]["format"] = part.input_audio.format
    return rendered


def render_messages(messages: list[EvalMessage], namespaces: dict[str, Any]) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            body: str | list[dict[str, Any]] = templating.render(content, namespaces)
        elif isinstance(content, list):
            body = [_render_part(part, namespaces) for part in content]
        else:
            body = [_render_part(content, namespaces)]
        rendered.append({"role": message.role, "content": body})
    return rendered


def _parse_result(content: str) -> object:
    """The `result` of a structured reply `{"result": ..., "steps": [...]}`."""
    try:
        reply = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ValueError(f"the reply is not JSON: {content[:200]!r}") from None
    if not isinstance(reply, dict) or "result" not in reply:
        raise ValueError(f"the reply has no 'result': {content[:200]!r}")
    return reply["result"]


def _score_reward(content: str, low: float, high: float) -> float:
    result = _parse_result(content)
    if isinstance(result, bool) or not isinstance(result, int | float) or not math.isfinite(result):
        raise ValueError(f"'result' is not a finite number: {result!r}")
    return min(max(float(result), low), high)  # clamped to range, not normalised (CONTRACT §7)


def _label_reward(content: str, labels: list[str], passing: list[str]) -> float:
    try:
        label = _parse_result(content)
    except ValueError:
        label = content.strip()  # a bare label is accepted too
    if label not in labels:
        raise ValueError(f"the label {label!r} is not one of {labels}")
    return 1.0 if label in passing else 0.0


def _score_range(grader: ScoreModelGrader) -> tuple[float, float]:
    low, high = grader.range if grader.range else (0.0, 1.0)
    return float(low), float(high)


def _request(grader: ScoreModelGrader | LabelModelGrader, namespaces: dict[str, Any]) -> ModelRequest:
    common: dict[str, Any] = {
        "grader_type": grader.type,
        "grader_name": grader.name or "",
        "model": grader.model,
        "messages": render_messages(grader.input, namespaces),
        "item": namespaces["item"],
        "sample_text": namespaces["sample"]["output_text"],
    }
    if isinstance(grader, LabelModelGrader):
        return ModelRequest(**common, labels=list(grader.labels))
    sampling = grader.sampling_params.model_dump(exclude_none=True) if grader.sampling_params else {}
    return ModelRequest(**common, sampling_params=sampling, score_range=_score_range(grader))


def _reward(grader: ScoreModelGrader | LabelModelGrader, request: ModelRequest, reply: ModelReply) -> float:
    if isinstance(grader, ScoreModelGrader):
        return _score_reward(reply.content, *request.score_range)
    return _label_reward(reply.content, list(grader.labels), list(grader.passing_labels))


async def grade(
    grader: ScoreModelGrader | LabelModelGrader, namespaces: dict[str, Any], context: GradingContext
) -> GradeResult:
    request = _request(grader, namespaces)
    reply = await context.models.complete(request)
    snapshot = resolve(reply.model or grader.model, context.model_aliases)
    call = {"grader": request.grader_name, "type": grader.type, "model": snapshot}
    trace = {"model_calls": [call | {"messages": request.messages, "reply": reply.content, **reply.trace}]}
    failure: GradeFailure | None = None
    reward = 0.0
    if reply.kind != "ok":
        failure = GradeFailure(_REPLY_FAILURES[reply.kind], reply.details)
    else:
        try:
            reward = _reward(grader, request, reply)
        except ValueError as exc:
            failure = GradeFailure("model_grader_parse_error", str(exc))
    return GradeResult(
        reward=reward,
        failures=(failure,) if failure else (),
        token_usage=reply.usage,
        sampled_model_name=snapshot,
        usage_per_model={snapshot: reply.usage},
        trace=trace,
    )
