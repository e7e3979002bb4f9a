"""A real model behind any OpenAI-compatible chat completions endpoint (`settings.model_base_url`).

The rendered messages are sent in chat format, `sampling_params` mapped (temperature, top_p, seed,
`max_completions_tokens` -> `max_completion_tokens`, reasoning_effort), with a strict json_schema
response format: `{result: number, steps}` for score_model, `{result: enum of labels, steps}` for
label_model. `message.refusal` -> refusal, `finish_reason == "length"` -> max tokens, HTTP and network
errors -> server error with details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from graders_emulator.grading.context import ModelReply, ModelRequest
from graders_emulator.grading.result import TokenUsage

_SAMPLING_KEYS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "max_completions_tokens": "max_completion_tokens",
    "max_completion_tokens": "max_completion_tokens",
    "reasoning_effort": "reasoning_effort",
}

_STEPS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"description": {"type": "string"}, "conclusion": {"type": "string"}},
        "required": ["description", "conclusion"],
        "additionalProperties": False,
    },
}


def response_format(request: ModelRequest) -> dict[str, Any]:
    """The structured-output schema the grader's reply must follow."""
    if request.grader_type == "label_model":
        result: dict[str, Any] = {"type": "string", "enum": list(request.labels or ())}
    else:
        result = {"type": "number"}
    schema = {
        "type": "object",
        "properties": {"steps": _STEPS_SCHEMA, "result": result},
        "required": ["steps", "result"],
        "additionalProperties": False,
    }
    name = f"{request.grader_type}_result"
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def chat_part(part: Mapping[str, Any]) -> dict[str, Any]:
    """One eval content part in chat-completions form."""
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "input_image":
        image: dict[str, Any] = {"url": part.get("image_url")}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": dict(part.get("input_audio") or {})}
    return dict(part)


def chat_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rendered grader messages as chat messages (the eval item's `type: message` dropped)."""
    result = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, Mapping):
            content = [content]
        if not isinstance(content, str):
            content = [chat_part(part) for part in content or () if isinstance(part, Mapping)]
        result.append({"role": message.get("role", "user"), "content": content})
    return result


def chat_payload(request: ModelRequest) -> dict[str, Any]:
    """The body of the chat completions call for one model-grader call."""
    payload: dict[str, Any] = {"model": request.model, "messages": chat_messages(request.messages)}
    for ours, theirs in _SAMPLING_KEYS.items():
        if request.sampling_params.get(ours) is not None:
            payload[theirs] = request.sampling_params[ours]
    payload["response_format"] = response_format(request)
    return payload


def usage_of(body: Mapping[str, Any]) -> TokenUsage:
    """Chat-completions usage as TokenUsage (cached tokens from prompt_tokens_details)."""
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return TokenUsage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


def reply_of(body: Mapping[str, Any]) -> ModelReply:
    """A chat-completions response body as a ModelReply."""
    usage, model = usage_of(body), body.get("model")
    choices = body.get("choices") or []
    if not choices:
        return ModelReply(
            kind="server_error", details="upstream answered no choices", usage=usage, model=model
        )
    choice = choices[0]
    message = choice.get("message") or {}
    if message.get("refusal"):
        return ModelReply(kind="refusal", details=str(message["refusal"]), usage=usage, model=model)
    if choice.get("finish_reason") == "length":
        details = "upstream stopped at max_completion_tokens (finish_reason=length)"
        return ModelReply(kind="max_tokens", details=details, usage=usage, model=model)
    return ModelReply(kind="ok", content=str(message.get("content") or ""), usage=usage, model=model)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        message = error.get("message") if isinstance(error, Mapping) else str(error)
    except (ValueError, AttributeError):
        message = None
    return f"upstream answered HTTP {response.status_code}: {message or response.text[:500]}"


class UpstreamModelClient:
    """Calls a real OpenAI-compatible endpoint; failures become replies, never exceptions."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None = None) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, request: ModelRequest) -> ModelReply:
        payload = chat_payload(request)
        try:
            response = await self._http.post(self._url, json=payload, headers=self._headers)
        except httpx.HTTPError as exc:
            details = f"upstream request failed: {type(exc).__name__}: {exc}".rstrip(": ")
            return ModelReply(kind="server_error", details=details, trace={"upstream": self._url})
        if response.status_code >= 400:
            return ModelReply(
                kind="server_error", details=_error_text(response), trace={"upstream": self._url}
            )
        try:
            body = response.json()
        except ValueError:
            details = f"upstream answered invalid JSON: {response.text[:200]!r}"
            return ModelReply(kind="server_error", details=details, trace={"upstream": self._url})
        reply = reply_of(body)
        return ModelReply(
            kind=reply.kind,
            content=reply.content,
            details=reply.details,
            usage=reply.usage,
            model=reply.model,
            trace={"upstream": self._url, "finish_reason": _finish_reason(body)},
        )


def _finish_reason(body: Mapping[str, Any]) -> Any:
    choices = body.get("choices") or [{}]
    return choices[0].get("finish_reason")
