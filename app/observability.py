"""Prometheus `/metrics` and a structured per-request log line, from one pure-ASGI middleware.

Metrics (a registry per app, so that several apps in one process never share counters):

- `graders_emulator_requests_total{path, grader_type, outcome}`: outcome is `ok` (2xx, no error
  flag), `flagged` (2xx with an error flag), `4xx`, `5xx`, or `aborted` (no answer was sent: a
  dropped connection, a client that went away);
- `graders_emulator_request_duration_seconds{path, grader_type}`: a latency histogram;
- `graders_emulator_sandbox_workers`, `..._sandbox_workers_warm` and `graders_emulator_sandbox_info`
  (mode and protections), read from `app.state.sandbox.protections()` at scrape time.

`path` is the route (`/v1/fine_tuning/alpha/graders/run`, `/healthz`, ...; session base URLs count
as their `/v1` route, the control plane as `/_emulator`, anything else as `other`), so label sets
stay bounded. The request log line (logger `graders_emulator.requests`) is written at debug level
only: at the default level the hot path pays one `isEnabledFor` check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.emulation.sessions import SESSION_KEY

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


def outcome_label(status: int | None, state: dict[str, Any]) -> str:
    if status is None:
        return "aborted"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    result = state.get("grade_result")
    return "flagged" if getattr(result, "failures", None) else "ok"


class RequestMetrics:
    """The request counter and latency histogram, with their labelled children cached."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "graders_emulator_requests",
            "Requests by route, grader type and outcome.",
            ["path", "grader_type", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "graders_emulator_request_duration_seconds",
            "Time from the request's arrival to the end of its answer.",
            ["path", "grader_type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, path: str, grader_type: str, outcome: str, seconds: float) -> None:
        key = (path, grader_type, outcome)
        children = self._children.get(key)
        if children is None:  # labels() costs a lock and a dict build: do it once per label set
            children = (self.requests.labels(*key), self.latency.labels(path, grader_type))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class SandboxCollector(Collector):
    """Sandbox pool state, asked for at scrape time (never on the request path)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        sandbox = getattr(self.app.state, "sandbox", None)
        protections = getattr(sandbox, "protections", None)
        found: dict[str, Any] = dict(protections()) if callable(protections) else {"mode": "disabled"}
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


class ObservabilityMiddleware:
    """Counts and times every HTTP request; logs it at debug level with its request id."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int | None, seconds: float) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        grader_type = getattr(state.get("grader"), "type", None) or "none"
        outcome = outcome_label(status, state)
        # Read after the call: the session middleware has rewritten session URLs to /v1 by now.
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
                    "request_id": state.get("request_id"),
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "grader_type": grader_type,
                    "outcome": outcome,
                    "session": state.get(SESSION_KEY),
                },
            )


def install_observability(app: FastAPI) -> CollectorRegistry:
    """Add the metrics middleware (outermost when called last) and `GET /metrics`; returns the registry."""
    registry = CollectorRegistry(auto_describe=True)
    metrics = RequestMetrics(registry)
    registry.register(SandboxCollector(app))
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
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    return registry
