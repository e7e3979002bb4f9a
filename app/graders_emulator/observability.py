"""Prometheus `/metrics` and a structured per-request log line.

`install_observability` returns the `RequestObserver` that the request-context middleware calls once
per request (`http/request_context.py`) with the request's record; counting there is a few dict operations, and the Prometheus
families are built from those counts only when `/metrics` is scraped.

Metrics (a registry per app, so that several apps in one process never share counters):

- `graders_emulator_requests_total{path, grader_type, outcome}`: outcome is `ok` (2xx, no error
  flag), `flagged` (2xx with an error flag), `4xx`, `5xx`, or `aborted` (no answer was sent: a
  dropped connection, a client that went away);
- `graders_emulator_request_duration_seconds{path, grader_type}`: a latency histogram;
- `graders_emulator_sandbox_workers`, `..._sandbox_workers_warm` and `graders_emulator_sandbox_info`
  (mode and protections), read from `app.state.sandbox.protections()` at scrape time;
- `graders_emulator_grader_cache_entries` (and `..._entries_limit`), `..._grader_cache_hits_total`
  and `..._grader_cache_misses_total`: the compiled graders run and validate keep (`service.CompiledGraders`).

`path` is the route (`/v1/fine_tuning/alpha/graders/run`, `/healthz`, ...; session base URLs count
as their `/v1` route, the control plane as `/_emulator`, anything else as `other`), so label sets
stay bounded. The request log line (logger `graders_emulator.requests`) is written at debug level
only: at the default level the hot path pays one `isEnabledFor` check.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from graders_emulator.emulation.state_metrics import StateCollector
from graders_emulator.http.context import RequestRecord

log = logging.getLogger("graders_emulator.requests")

METRICS_PATH = "/metrics"
ROUTES = frozenset(
    {
        "/v1/fine_tuning/alpha/graders/run",
        "/v1/fine_tuning/alpha/graders/validate",
        "/healthz",
        "/readyz",
        METRICS_PATH,
    }
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


def route_label(path: str) -> str:
    if path in ROUTES:
        return path
    return "/_emulator" if path.startswith("/_emulator") else "other"


def outcome_label(status: int | None, record: RequestRecord) -> str:
    if status is None:
        return "aborted"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "flagged" if record.result is not None and record.result.failures else "ok"


class RequestMetrics(Collector):
    """The request counter and latency histogram: plain counts on the request path, Prometheus
    families at scrape time (prometheus_client's own Counter and Histogram take a lock per update)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str], int] = {}
        # per (path, grader_type): a count per bucket (the last one is +Inf), then the sum of seconds
        self._latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, path: str, grader_type: str, outcome: str, seconds: float) -> None:
        key = (path, grader_type, outcome)
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get((path, grader_type))
        if histogram is None:
            histogram = self._latency[(path, grader_type)] = [0] * (len(LATENCY_BUCKETS) + 1) + [0.0]
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # buckets count values <= their bound
        histogram[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "graders_emulator_requests",
            "Requests by route, grader type and outcome.",
            labels=["path", "grader_type", "outcome"],
        )
        for request_labels, count in list(self._requests.items()):
            requests.add_metric(request_labels, count)
        yield requests
        latency = HistogramMetricFamily(
            "graders_emulator_request_duration_seconds",
            "Time from the request's arrival to the end of its answer.",
            labels=["path", "grader_type"],
        )
        bounds = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        for latency_labels, histogram in list(self._latency.items()):
            counts = list(accumulate(histogram[:-1]))
            latency.add_metric(latency_labels, list(zip(bounds, counts, strict=True)), histogram[-1])
        yield latency


class SandboxCollector(Collector):
    """Sandbox pool state, asked for at scrape time (never on the request path)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        found: dict[str, Any] = dict(self.app.state.sandbox.protections())
        yield GaugeMetricFamily(
            "graders_emulator_sandbox_workers", "Python sandbox workers configured.", found.get("workers", 0)
        )
        yield GaugeMetricFamily(
            "graders_emulator_sandbox_workers_warm", "Python sandbox workers ready.", found.get("warm", 0)
        )
        info = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in found.items()
            if isinstance(value, str | bool | int) and key not in ("workers", "warm")
        }
        yield InfoMetricFamily("graders_emulator_sandbox", "Sandbox mode and active protections.", value=info)


class GraderCacheCollector(Collector):
    """The compiled-grader LRU of the app's runtime: its size next to its bound, hits and misses."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        runtime = getattr(self.app.state, "runtime", None)
        if runtime is None:
            return
        cache = runtime.graders
        yield GaugeMetricFamily(
            "graders_emulator_grader_cache_entries", "Compiled graders kept for run and validate.", len(cache)
        )
        yield GaugeMetricFamily(
            "graders_emulator_grader_cache_entries_limit",
            "Compiled graders kept at most (setting grader_cache_size).",
            cache.size,
        )
        yield CounterMetricFamily(
            "graders_emulator_grader_cache_hits",
            "Requests whose grader was found compiled.",
            value=cache.hits,
        )
        yield CounterMetricFamily(
            "graders_emulator_grader_cache_misses",
            "Requests whose grader was compiled (or was invalid).",
            value=cache.misses,
        )


class RequestObserver:
    """Counts and times one finished HTTP request; logs it at debug level with its request id."""

    def __init__(self, metrics: RequestMetrics) -> None:
        self.metrics = metrics

    def __call__(self, scope: Scope, record: RequestRecord, status: int | None, seconds: float) -> None:
        grader_type = record.grader.type if record.grader is not None else "none"
        outcome = outcome_label(status, record)
        # Read after the call: the emulation middleware has rewritten session URLs to /v1 by now.
        path = route_label(scope["path"])
        self.metrics.observe(path, grader_type, outcome, seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %s %.1f ms",
                scope["method"],
                scope["path"],
                status if status is not None else "-",
                seconds * 1000,
                extra={
                    "request_id": record.request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "grader_type": grader_type,
                    "outcome": outcome,
                    "session": record.session,
                },
            )


def install_observability(app: FastAPI) -> RequestObserver:
    """Add `GET /metrics`; returns the observer the request-context middleware reports requests to."""
    registry = CollectorRegistry(auto_describe=True)
    metrics = RequestMetrics()
    registry.register(metrics)
    registry.register(SandboxCollector(app))
    registry.register(StateCollector(app))
    registry.register(GraderCacheCollector(app))
    app.state.metrics_registry = registry

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        METRICS_PATH,
        metrics_endpoint,
        methods=["GET"],
        include_in_schema=False,
        summary="Prometheus metrics.",
    )
    return RequestObserver(metrics)
