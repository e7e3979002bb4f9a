"""The model client that answers model-grader calls from headers, rules, a real endpoint or a default.

Order for each call: `x-emulator-score` / `x-emulator-label` headers; the first matching, not
exhausted canned rule of the session, then of the global scope; the real upstream when
configured; else the deterministic default:

- score = lo + u * (hi - lo), rounded to 4 decimals, where u = first 8 bytes (big-endian) of
  sha256("{seed}\\x00{grader name}\\x00{rendered prompt}\\x00{model_sample}") / 2**64 and (lo, hi)
  is the grader's range (the sample counts even when the prompt does not quote it);
- label = labels[first 8 bytes of the same hash mod len(labels)];
- seed = the grader's `sampling_params.seed`, else the session's seed, else the global one (both
  set with `POST .../seed`), else the config's `defaults.seed`, else `settings.seed`, else 0;
- usage (unless `defaults.usage` is set): prompt_tokens = ceil(prompt characters / 4) + 3 per
  message, completion_tokens = ceil(reply characters / 4), cached_tokens = 0.

So the same request always gets the same answer, and different samples get different answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from graders_emulator.emulation.regex_match import DEFAULT_BUDGET_S, RegexBudget, any_pattern, off_loop
from graders_emulator.emulation.rules import CallView, ModelAnswer, Usage, message_text, model_misses
from graders_emulator.emulation.store import Scope, StoredModelRule
from graders_emulator.grading.context import ModelClient, ModelReply, ModelRequest
from graders_emulator.grading.result import TokenUsage


@dataclass(frozen=True)
class Overrides:
    """Answers forced by request headers for every call of the request."""

    score: float | None = None
    label: str | None = None


def call_view(request: ModelRequest, regex: RegexBudget | None = None) -> CallView:
    """The facts of a call that rules match on, and the matching time its rule regexes may take."""
    return CallView(
        grader_type=request.grader_type,
        grader_name=request.grader_name,
        model=request.model,
        prompt=message_text(request.messages),
        item=request.item,
        sample_text=request.sample_text,
        regex=regex if regex is not None else RegexBudget(),
    )


def estimate_usage(request: ModelRequest, reply_text: str) -> TokenUsage:
    """Token usage from text length (about 4 characters per token, 3 tokens of overhead per message)."""
    prompt = message_text(request.messages)
    return TokenUsage(
        prompt_tokens=math.ceil(len(prompt) / 4) + 3 * len(request.messages),
        completion_tokens=math.ceil(len(reply_text) / 4),
    )


def _hash_unit(seed: int, request: ModelRequest) -> int:
    text = f"{seed}\x00{request.grader_name}\x00{message_text(request.messages)}\x00{request.sample_text}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def default_content(request: ModelRequest, seed: int) -> str:
    """The deterministic default reply text of a call (see the module docstring)."""
    h = _hash_unit(seed, request)
    if request.grader_type == "label_model":
        labels = list(request.labels or ())
        result: float | str = labels[h % len(labels)] if labels else ""
    else:
        low, high = request.score_range
        result = round(low + (h / 2**64) * (high - low), 4)
    step = {"description": "No canned rule matched this call.", "conclusion": f"Emulator default: {result}."}
    return json.dumps({"result": result, "steps": [step]})


def answer_content(answer: ModelAnswer) -> str:
    """The reply text of an ok canned answer."""
    if answer.raw is not None:
        return answer.raw
    result = answer.score if answer.score is not None else answer.label
    steps = [s.model_dump() for s in answer.steps or ()] or [
        {"description": "Canned answer.", "conclusion": f"The result is {result}."}
    ]
    return json.dumps({"result": result, "steps": steps})


def answer_reply(answer: ModelAnswer) -> ModelReply:
    """The ModelReply of a canned answer, usage not yet filled in."""
    if answer.refusal is not None:
        return ModelReply(kind="refusal", details=answer.refusal, model=answer.model)
    if answer.server_error is not None:
        return ModelReply(kind="server_error", details=answer.server_error, model=answer.model)
    if answer.max_tokens is not None and answer.max_tokens is not False:
        details = answer.max_tokens if isinstance(answer.max_tokens, str) else "max tokens reached (canned)"
        return ModelReply(kind="max_tokens", details=details, model=answer.model)
    return ModelReply(kind="ok", content=answer_content(answer), model=answer.model)


class CannedModelClient:
    """One request's model client; it remembers each call for the journal in `calls`."""

    def __init__(
        self,
        scopes: Sequence[Scope],
        *,
        overrides: Overrides = Overrides(),
        seed: int = 0,
        default_usage: Usage | None = None,
        upstream: ModelClient | None = None,
        regex_budget_s: float = DEFAULT_BUDGET_S,
    ) -> None:
        self._regex = RegexBudget(regex_budget_s)  # one budget for every call of the request
        self._scopes = scopes
        self._overrides = overrides
        self._seed = seed
        self._default_usage = default_usage
        self._upstream = upstream
        self.calls: list[dict[str, Any]] = []

    async def complete(self, request: ModelRequest) -> ModelReply:
        reply, how = await self._answer(request)
        if _wants_estimate(reply, how):
            reply = replace(reply, usage=estimate_usage(request, reply.content or reply.details or ""))
        trace = {**how, **dict(reply.trace)}
        self.calls.append(_call_record(request, reply, trace))
        return replace(reply, trace=trace)

    async def _answer(self, request: ModelRequest) -> tuple[ModelReply, dict[str, Any]]:
        forced = self._override(request)
        if forced is not None:
            return forced
        call = call_view(request, self._regex)
        stored, nearest = await self._pick(call)
        if stored is not None:
            return await self._from_rule(stored), {"answered_by": "rule", "rule": stored.id}
        how: dict[str, Any] = {"nearest_rule": nearest} if nearest else {}
        if self._upstream is not None:
            return await self._upstream.complete(request), {"answered_by": "upstream", **how}
        seed = _sampling_seed(request, self._seed)
        usage = self._default_usage.token_usage() if self._default_usage else TokenUsage()
        reply = ModelReply(kind="ok", content=default_content(request, seed), usage=usage)
        return reply, {"answered_by": "default", "seed": seed, **how}

    def _override(self, request: ModelRequest) -> tuple[ModelReply, dict[str, Any]] | None:
        if request.grader_type == "score_model" and self._overrides.score is not None:
            content = answer_content(ModelAnswer(score=self._overrides.score))
            return ModelReply(kind="ok", content=content), {"answered_by": "header x-emulator-score"}
        if request.grader_type == "label_model" and self._overrides.label is not None:
            content = answer_content(ModelAnswer(label=self._overrides.label))
            return ModelReply(kind="ok", content=content), {"answered_by": "header x-emulator-label"}
        return None

    async def _pick(self, call: CallView) -> tuple[StoredModelRule | None, dict[str, Any] | None]:
        """The first matching rule (its use counted) and, when none matches, the nearest one's misses."""
        rules = [stored for scope in self._scopes for stored in scope.rules.models()]
        if not any_pattern(p for s in rules for p in (s.rule.match.prompt_regex, s.rule.match.sample_regex)):
            stored, nearest = _first_match(rules, call)  # microseconds: no thread hop
        else:
            while True:  # regexes run in a matching thread (regex_match.off_loop), never on the loop
                stored, nearest = await off_loop(lambda: _first_match(rules, call))
                if stored is None or not stored.exhausted:
                    break
                # Another request used the rule up meanwhile: look again (regex answers are kept).
        if stored is not None:
            stored.used += 1
        return stored, nearest

    async def _from_rule(self, stored: StoredModelRule) -> ModelReply:
        answer: ModelAnswer = stored.rule.answer
        if answer.latency_ms:
            await asyncio.sleep(answer.latency_ms / 1000)
        reply = answer_reply(answer)
        return replace(reply, usage=answer.usage.token_usage()) if answer.usage else reply


def _first_match(
    rules: Sequence[StoredModelRule], call: CallView
) -> tuple[StoredModelRule | None, dict[str, Any] | None]:
    """The first rule that matches and is not used up, else None and the nearest rule's misses.

    It changes nothing (it may run in a matching thread): the caller counts the use, on the loop.
    """
    nearest: tuple[int, dict[str, Any]] | None = None
    for stored in rules:
        misses = model_misses(stored.rule, call)
        if stored.exhausted:
            misses.append(f"exhausted after {stored.used} answer(s)")
        if not misses:
            return stored, None
        if nearest is None or len(misses) < nearest[0]:
            nearest = (len(misses), {"id": stored.id, "why": misses})
    return None, nearest[1] if nearest else None


def _wants_estimate(reply: ModelReply, how: dict[str, Any]) -> bool:
    # A server error consumed no tokens, and a real upstream reports its own usage.
    return reply.usage == TokenUsage() and reply.kind != "server_error" and how["answered_by"] != "upstream"


def _sampling_seed(request: ModelRequest, fallback: int) -> int:
    seed = request.sampling_params.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else fallback


def _call_record(request: ModelRequest, reply: ModelReply, trace: dict[str, Any]) -> dict[str, Any]:
    return {
        "grader_name": request.grader_name,
        "grader_type": request.grader_type,
        "model": request.model,
        "messages": request.messages,
        "reply": {"kind": reply.kind, "content": reply.content, "details": reply.details},
        "usage": reply.usage.as_wire(),
        **trace,
    }
