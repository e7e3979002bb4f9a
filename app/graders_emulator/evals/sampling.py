"""Samples of `completions` eval runs: from sampling rules, a real endpoint, or a deterministic default.

Order for each sample: the first matching, not exhausted sampling rule of the run's session, then of
the global scope; the real OpenAI-compatible endpoint when `model_base_url` is configured; else the
default, which answers the text of the last `user` message (an echo: predictable in tests) with
usage estimated as the canned model answers do (ceil(characters / 4), 3 tokens per prompt message).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from graders_emulator.emulation.regex_match import any_pattern, off_loop
from graders_emulator.emulation.rules import SamplingRule, sampling_misses
from graders_emulator.emulation.state import UPSTREAM_TIMEOUT_S, EmulationState
from graders_emulator.emulation.store import StoredSamplingRule
from graders_emulator.grading.result import TokenUsage

Message = Mapping[str, str]


@dataclass(frozen=True)
class SampleRequest:
    """One sample to draw: the rendered prompt (text contents), the model, its parameters, the item."""

    model: str
    messages: Sequence[Message]
    sampling_params: Mapping[str, Any]
    item: Any


@dataclass(frozen=True)
class SampleReply:
    """What the sampled model answered; `error` (code, message) when it could not."""

    text: str
    usage: TokenUsage
    model: str
    finish_reason: str = "stop"
    error: tuple[str, str] | None = None


def prompt_text(messages: Sequence[Message]) -> str:
    return "\n".join(message["content"] for message in messages)


def estimate(messages: Sequence[Message], reply: str) -> TokenUsage:
    prompt = prompt_text(messages)
    return TokenUsage(math.ceil(len(prompt) / 4) + 3 * len(messages), math.ceil(len(reply) / 4))


def default_reply(request: SampleRequest) -> SampleReply:
    users = [message["content"] for message in request.messages if message["role"] == "user"]
    text = users[-1] if users else ""
    return SampleReply(text, estimate(request.messages, text), request.model)


class Sampler:
    """Draws samples with the emulation state's sampling rules (and the optional real endpoint)."""

    def __init__(self, emulation: EmulationState) -> None:
        self._emulation = emulation
        self._http: httpx.AsyncClient | None = None

    async def sample(self, session: str | None, request: SampleRequest) -> SampleReply:
        rule = await self._pick(session, request)
        if rule is not None:
            return await _from_rule(rule, request)
        if self._emulation.settings.model_base_url:
            return await self._upstream(request)
        return default_reply(request)

    async def _pick(self, session: str | None, request: SampleRequest) -> SamplingRule | None:
        """The first matching sampling rule not used up (its use counted); regexes off the loop."""
        prompt = prompt_text(request.messages)
        rules = [stored for scope in self._emulation.scopes_for(session) for stored in scope.rules.sampling()]

        def first() -> StoredSamplingRule | None:  # changes nothing: it may run in a matching thread
            for stored in rules:
                if not stored.exhausted and not sampling_misses(
                    stored.rule, request.model, prompt, request.item
                ):
                    return stored
            return None

        if not any_pattern(stored.rule.match.prompt_regex for stored in rules):
            found = first()
        else:
            found = await off_loop(first)
            while found is not None and found.exhausted:  # used up meanwhile by another sample
                found = await off_loop(first)
        if found is None:
            return None
        found.used += 1
        return found.rule

    async def _upstream(self, request: SampleRequest) -> SampleReply:
        settings = self._emulation.settings
        if self._http is None:  # created lazily: it binds to the running event loop
            self._http = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT_S)
        body = {"model": request.model, "messages": list(request.messages), **_chat_params(request)}
        headers = {"Authorization": f"Bearer {settings.model_api_key}"} if settings.model_api_key else {}
        url = f"{str(settings.model_base_url).rstrip('/')}/chat/completions"
        try:
            response = await self._http.post(url, json=body, headers=headers)
            response.raise_for_status()
            return _parse_completion(response.json(), request)
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            message = f"the model endpoint failed: {type(exc).__name__}: {exc}"
            return SampleReply("", TokenUsage(), request.model, "error", ("server_error", message))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


async def _from_rule(rule: SamplingRule, request: SampleRequest) -> SampleReply:
    answer = rule.answer
    if answer.latency_ms:
        await asyncio.sleep(answer.latency_ms / 1000)
    model = answer.model or request.model
    if answer.server_error is not None:
        return SampleReply("", TokenUsage(), model, "error", ("server_error", answer.server_error))
    text = answer.text or ""
    usage = answer.usage.token_usage() if answer.usage else estimate(request.messages, text)
    return SampleReply(text, usage, model, answer.finish_reason)


_CHAT_KEYS = ("temperature", "top_p", "seed", "max_completion_tokens", "reasoning_effort", "response_format")


def _chat_params(request: SampleRequest) -> dict[str, Any]:
    params = {
        key: request.sampling_params[key]
        for key in _CHAT_KEYS
        if request.sampling_params.get(key) is not None
    }
    tools = request.sampling_params.get("tools")
    if tools:
        params["tools"] = tools
    return params


def _parse_completion(body: Mapping[str, Any], request: SampleRequest) -> SampleReply:
    choice = body["choices"][0]
    text = choice["message"].get("content") or ""
    usage = body.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    tokens = TokenUsage(
        int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), int(cached)
    )
    return SampleReply(
        text, tokens, str(body.get("model") or request.model), str(choice.get("finish_reason") or "stop")
    )
