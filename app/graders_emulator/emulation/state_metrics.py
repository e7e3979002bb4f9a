"""`/metrics` gauges of the server's bounded state: journal, sessions, rules, the metric pool.

Read at scrape time from the app's emulation state, each next to its bound (README, "Bounds"), so
that a dashboard shows how close the server is to each limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


class StateCollector(Collector):
    """Gauges of `app.state.emulation` (none when the app has no emulation)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        state = getattr(self.app.state, "emulation", None)
        if state is None:
            return
        state.expire_sessions()
        journal, settings = state.journal, state.settings
        yield _gauge("journal_entries", "Requests kept in the journal.", len(journal))
        yield _gauge("journal_entries_limit", "Requests the journal keeps at most.", journal.size)
        yield _gauge(
            "journal_bytes", "Bytes the journal's entries hold (bodies, headers, texts).", journal.bytes
        )
        yield _gauge("journal_bytes_limit", "Bytes the journal keeps at most.", journal.max_bytes)
        yield _gauge("sessions", "Sessions held (each with its rules and seed).", len(state.sessions))
        yield _gauge("sessions_limit", "Sessions kept at most.", settings.max_sessions)
        rules = len(state.root.rules) + sum(len(scope.rules) for scope in state.sessions.values())
        yield _gauge("rules", "Rules held, the global scope and every session together.", rules)
        yield _gauge("rules_per_scope_limit", "Rules one scope holds at most.", settings.max_rules_per_scope)
        pool = getattr(self.app.state, "metric_pool", None)
        if pool is not None:
            yield _gauge("metric_workers", "Processes for large text_similarity inputs.", pool.size)
            yield _gauge("metric_workers_warm", "Metric processes idle and ready.", pool.warm)
            yield CounterMetricFamily(
                "graders_emulator_metric_worker_kills",
                "Metric processes killed at the deadline or when the client left.",
                value=pool.killed,
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"graders_emulator_{name}", documentation, value=value)
