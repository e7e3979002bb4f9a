"""Rules held at run time: per scope (the global one and one per session), in order, with use counts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from graders_emulator.emulation.rules import FaultRule, ModelRule, SamplingRule

Source = Literal["config", "api"]
_R = TypeVar("_R", ModelRule, FaultRule, SamplingRule)


@dataclass
class _Stored(Generic[_R]):
    """A rule plus the state a fake needs: how often it answered and how many requests it saw."""

    id: str
    rule: _R
    source: Source
    used: int = 0
    seen: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @property
    def exhausted(self) -> bool:
        return self.rule.times is not None and self.used >= self.rule.times

    def describe(self) -> dict[str, Any]:
        """The rule as the control plane lists it."""
        body = self.rule.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        remaining = None if self.rule.times is None else max(0, self.rule.times - self.used)
        return {
            **body,
            "id": self.id,
            "kind": self.rule.kind,
            "source": self.source,
            "used": self.used,
            "remaining": remaining,
        }


class StoredModelRule(_Stored[ModelRule]):
    """A canned model answer as held at run time."""


class StoredFaultRule(_Stored[FaultRule]):
    """A fault rule as held at run time (its random stream decides `probability`)."""

    def own_seed(self) -> int | None:
        return self.rule.seed


class StoredSamplingRule(_Stored[SamplingRule]):
    """A canned sample of `completions` eval runs as held at run time."""


StoredRule = StoredModelRule | StoredFaultRule | StoredSamplingRule


class RuleSet:
    """Ordered rules of one scope; the first rule that matches answers (like WireMock's priority)."""

    def __init__(self, prefix: str) -> None:
        self._rules: dict[str, StoredRule] = {}
        self._prefix = prefix
        self._next = 1

    def add(self, rule: ModelRule | FaultRule | SamplingRule, source: Source, seed: int | None) -> StoredRule:
        """Add a rule (a rule with an existing id replaces it in place, so re-running a test is idempotent)."""
        rule_id = rule.id or self._new_id()
        stored: StoredRule
        if isinstance(rule, FaultRule):
            own = rule.seed if rule.seed is not None else seed
            stored = StoredFaultRule(rule_id, rule, source, rng=random.Random(f"{own}:{rule_id}"))
        elif isinstance(rule, SamplingRule):
            stored = StoredSamplingRule(rule_id, rule, source, rng=random.Random(f"{seed}:{rule_id}"))
        else:
            stored = StoredModelRule(rule_id, rule, source, rng=random.Random(f"{seed}:{rule_id}"))
        self._rules[rule_id] = stored
        return stored

    def over_limit(self, rules: list[ModelRule | FaultRule | SamplingRule], limit: int) -> str | None:
        """Why adding `rules` would pass `limit` rules (a rule with a known id replaces one), or None."""
        new = sum(1 for rule in rules if rule.id is None or rule.id not in self._rules)
        if len(self._rules) + new <= limit:
            return None
        return (
            f"The scope holds {len(self._rules)} rules; adding {new} would pass the limit of {limit} "
            "rules per scope (setting max_rules_per_scope). Delete rules, or use a session."
        )

    def _new_id(self) -> str:
        while f"{self._prefix}{self._next}" in self._rules:
            self._next += 1
        self._next += 1
        return f"{self._prefix}{self._next - 1}"

    def reseed(self, seed: int) -> None:
        """Restart every random stream from `seed` (rules with their own seed keep it)."""
        for stored in self:
            own = stored.own_seed() if isinstance(stored, StoredFaultRule) else None
            stored.rng.seed(f"{own if own is not None else seed}:{stored.id}")

    def get(self, rule_id: str) -> StoredRule | None:
        return self._rules.get(rule_id)

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> int:
        count = len(self._rules)
        self._rules.clear()
        return count

    def __iter__(self) -> Iterator[StoredRule]:
        return iter(list(self._rules.values()))

    def __len__(self) -> int:
        return len(self._rules)

    def models(self) -> Iterator[StoredModelRule]:
        return (stored for stored in self if isinstance(stored, StoredModelRule))

    def faults(self) -> Iterator[StoredFaultRule]:
        return (stored for stored in self if isinstance(stored, StoredFaultRule))

    def sampling(self) -> Iterator[StoredSamplingRule]:
        return (stored for stored in self if isinstance(stored, StoredSamplingRule))


@dataclass
class Scope:
    """What one session (or the global scope) owns: its rules and its seed."""

    name: str | None
    rules: RuleSet
    seed: int | None = None
    last_used: float = 0.0  # time.monotonic() of the last request or control call (sessions expire)

    @classmethod
    def create(cls, name: str | None, seed: int | None = None) -> Scope:
        return cls(name, RuleSet("rule_"), seed)
