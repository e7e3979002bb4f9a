"""All emulation state of one app (on `app.state.emulation` (the FastAPI app)): scopes, rules, journal, fault decisions."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from graders_emulator.emulation.canned import CannedModelClient, Overrides
from graders_emulator.emulation.config import EmulatorConfig, load_config
from graders_emulator.emulation.headers import EmulationHeaders
from graders_emulator.emulation.journal import Journal
from graders_emulator.emulation.rules import FaultRule, ModelRule, RequestView, SamplingRule, fault_misses
from graders_emulator.emulation.store import Scope, StoredFaultRule
from graders_emulator.emulation.upstream import UpstreamModelClient
from graders_emulator.grading.context import ModelReply, ModelRequest
from graders_emulator.grading.result import GradeFailure
from graders_emulator.settings import Settings

UPSTREAM_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request before (or instead of) grading it."""

    status: int | None = None
    message: str | None = None
    retry_after_ms: int = 10
    should_retry: bool | None = None
    fault: str | None = None
    hang_ms: float = 300_000
    latency_ms: float = 0.0
    errors: tuple[GradeFailure, ...] = ()
    rule: str | None = None

    def describe(self) -> dict[str, Any] | None:
        """The journal's view; None when nothing was injected."""
        if not (self.status or self.fault or self.latency_ms or self.errors):
            return None
        shown = {
            "status": self.status,
            "fault": self.fault,
            "latency_ms": self.latency_ms or None,
            "errors": [failure.flag for failure in self.errors] or None,
            "rule": self.rule,
        }
        return {key: value for key, value in shown.items() if value is not None}


NO_FAULT = FaultDecision()


@dataclass
class RequestEmulationState:
    """Per-request emulation facts, kept in the request's record for the route and the journal."""

    session: str | None
    headers: EmulationHeaders
    decision: FaultDecision = field(default_factory=FaultDecision)
    client: CannedModelClient | None = None


class LazyModelClient:
    """A request's model client, built when a model grader first calls it (most graders never do)."""

    def __init__(self, state: EmulationState, emulation: RequestEmulationState) -> None:
        self._state = state
        self._emulation = emulation

    async def complete(self, request: ModelRequest) -> ModelReply:
        emulation = self._emulation
        if emulation.client is None:
            emulation.client = self._state.model_client(emulation)  # the journal reads its calls
        return await emulation.client.complete(request)


class EmulationState:
    """Rules per scope, the journal, the optional real upstream; reset without a restart."""

    def __init__(self, settings: Settings, config: EmulatorConfig | None = None) -> None:
        self.settings = settings
        self.config = config if config is not None else _load(settings)
        self.journal = Journal(settings.journal_size, settings.journal_max_bytes)
        self.sessions: OrderedDict[str, Scope] = OrderedDict()
        self.root = Scope.create(None)
        self._http: httpx.AsyncClient | None = None
        # Called with the session (None: everything) on reset, e.g. to forget a session's evals.
        self.reset_hooks: list[Callable[[str | None], None]] = []
        self._load_rules()

    # --- scopes

    @property
    def base_seed(self) -> int:
        seed = self.config.defaults.seed if self.config.defaults.seed is not None else self.settings.seed
        return seed or 0

    def scope(self, session: str | None) -> Scope:
        """The scope of a session (created on first use), or the global one.

        Sessions are kept in least-recently-used order: one unused for `session_idle_s` is dropped,
        and creating one past `max_sessions` drops the least recently used (README, "Bounds").
        """
        if session is None:
            return self.root
        now = time.monotonic()
        found = self.sessions.get(session)
        if found is None:
            self.expire_sessions(now, room_for_one=True)
            found = self.sessions[session] = Scope.create(session)
        else:
            self.sessions.move_to_end(session)
        found.last_used = now
        self.expire_sessions(now)  # O(1) unless the oldest session is due
        return found

    def expire_sessions(self, now: float | None = None, *, room_for_one: bool = False) -> None:
        """Drop sessions idle for `session_idle_s`, and the least recently used past the count."""
        idle_since = (time.monotonic() if now is None else now) - self.settings.session_idle_s
        limit = self.settings.max_sessions - (1 if room_for_one else 0)
        while self.sessions:
            oldest = next(iter(self.sessions.values()))
            if oldest.last_used > idle_since and len(self.sessions) <= limit:
                return
            del self.sessions[oldest.name]  # type: ignore[arg-type]

    def scopes_for(self, session: str | None) -> list[Scope]:
        """Where a request's rules come from: its session first, then the global scope."""
        return [self.root] if session is None else [self.scope(session), self.root]

    def seed_of(self, session: str | None) -> int:
        """The scope's seed, else the global scope's, else the config's or settings' seed, else 0."""
        for scope in self.scopes_for(session):
            if scope.seed is not None:
                return scope.seed
        return self.base_seed

    def set_seed(self, session: str | None, seed: int | None) -> None:
        """Set a scope's seed and restart the random streams of its fault rules from it."""
        scope = self.scope(session)
        scope.seed = seed
        scope.rules.reseed(self.seed_of(session))

    def reset(self) -> None:
        """Back to the state right after start-up: config rules only, empty journal, no sessions."""
        self.sessions.clear()
        self.root = Scope.create(None)
        self.journal.clear()
        self._load_rules()
        for hook in self.reset_hooks:
            hook(None)

    def reset_session(self, session: str) -> None:
        self.sessions.pop(session, None)
        self.journal.clear(session, everything=False)
        for hook in self.reset_hooks:
            hook(session)

    def _load_rules(self) -> None:
        rules: list[ModelRule | FaultRule | SamplingRule] = [
            *self.config.models,
            *self.config.faults,
            *self.config.sampling,
        ]
        for rule in rules:
            self.root.rules.add(rule, "config", self.base_seed)

    # --- faults

    def fault_rules(self, session: str | None) -> list[StoredFaultRule]:
        """The fault rules a request of `session` is matched against, in order."""
        return [stored for scope in self.scopes_for(session) for stored in scope.rules.faults()]

    def decide(
        self, view: RequestView | None, rules: list[StoredFaultRule], headers: EmulationHeaders
    ) -> FaultDecision:
        """Combine the request's fault headers with the first of `rules` that fires (headers win).

        `view` is the request as rules see it; None when there are no rules to match.
        """
        stored = _fire(rules, view) if view is not None else None
        defaults = self.config.defaults
        if stored is None and not headers.asks_for_fault and not defaults.latency_ms:
            return NO_FAULT  # most requests: skip building a decision field by field
        rule = stored.rule if stored is not None else None
        active = headers.faults_active
        return FaultDecision(
            status=(headers.status if active else None) or (rule.status if rule else None),
            message=rule.message if rule else None,
            retry_after_ms=_first(
                headers.retry_after_ms, rule and rule.retry_after_ms, defaults.retry_after_ms
            ),
            should_retry=_first(headers.should_retry, rule and rule.should_retry),
            fault=(headers.fault if active else None) or (rule.fault if rule else None),
            hang_ms=_first(headers.hang_ms, rule and rule.hang_ms, defaults.hang_ms),
            latency_ms=headers.latency_ms + ((rule.latency_ms or 0.0) if rule else 0.0) + defaults.latency_ms,
            errors=_header_errors(headers) + (_rule_errors(stored) if stored else ()),
            rule=stored.id if stored else None,
        )

    # --- models

    def model_client(self, request_state: RequestEmulationState) -> CannedModelClient:
        """The model client of one request (it records its calls for the journal)."""
        headers = request_state.headers
        return CannedModelClient(
            self.scopes_for(request_state.session),
            overrides=Overrides(score=headers.score, label=headers.label),
            seed=self.seed_of(request_state.session),
            default_usage=self.config.defaults.usage,
            upstream=self._upstream(),
            regex_budget_s=self.settings.rule_regex_timeout_s,
        )

    def _upstream(self) -> UpstreamModelClient | None:
        if not self.settings.model_base_url:
            return None
        if self._http is None:  # created lazily: it binds to the server's event loop on first use
            self._http = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT_S)
        return UpstreamModelClient(self._http, self.settings.model_base_url, self.settings.model_api_key)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _load(settings: Settings) -> EmulatorConfig:
    return load_config(settings.config) if settings.config is not None else EmulatorConfig()


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _fire(rules: list[StoredFaultRule], view: RequestView) -> StoredFaultRule | None:
    for stored in rules:
        if not stored.exhausted and _fires(stored, view):
            stored.used += 1
            return stored
    return None


def _fires(stored: StoredFaultRule, view: RequestView) -> bool:
    rule = stored.rule
    if fault_misses(rule, view):
        return False
    stored.seen += 1
    nth = rule.match.nth
    if nth is not None and stored.seen not in ([nth] if isinstance(nth, int) else nth):
        return False
    probability = rule.match.probability
    return probability is None or stored.rng.random() < probability


def _header_errors(headers: EmulationHeaders) -> tuple[GradeFailure, ...]:
    if not headers.faults_active:
        return ()
    details = headers.error_details or "forced by the x-emulator-errors header"
    return tuple(GradeFailure(flag, details) for flag in headers.errors)


def _rule_errors(stored: StoredFaultRule) -> tuple[GradeFailure, ...]:
    rule = stored.rule
    default = f"forced by fault rule '{stored.id}'"
    return tuple(GradeFailure(flag, details or default) for flag, details in rule.error_items())
