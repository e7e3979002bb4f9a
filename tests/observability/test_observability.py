"""Prometheus /metrics and the debug request log, as create_app installs them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from graders_emulator.grading.context import BaseSandbox, PythonJob, PythonOutcome
from graders_emulator.logs import JsonFormatter
from graders_emulator.main import create_app
from graders_emulator.observability import LATENCY_BUCKETS, RequestMetrics, route_label
from graders_emulator.settings import Settings

RUN = "/v1/fine_tuning/alpha/graders/run"
AUTH = {"authorization": "Bearer sk-test"}
EXACT = {
    "type": "string_check",
    "input": "{{sample.output_text}}",
    "reference": "{{item.a}}",
    "operation": "eq",
}


class FakeSandbox(BaseSandbox):
    async def run(self, job: PythonJob) -> PythonOutcome:
        raise AssertionError("no python graders here")

    def protections(self) -> dict[str, object]:
        return {
            "mode": "root-namespaces",
            "landlock": 7,
            "seccomp": True,
            "workers": 3,
            "warm": 2,
            "notes": [],
        }


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(port=0), sandbox=FakeSandbox())
    with TestClient(app) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def requests_total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], **labels: str) -> float:
    return found.get(("graders_emulator_requests_total", tuple(sorted(labels.items()))), 0.0)


def test_requests_by_route_grader_type_and_outcome(client: TestClient) -> None:
    for _ in range(3):
        assert (
            client.post(
                RUN, json={"grader": EXACT, "model_sample": "x", "item": {"a": "x"}}, headers=AUTH
            ).status_code
            == 200
        )
    client.post(RUN, json={"grader": EXACT, "model_sample": "x"}, headers=AUTH)  # missing variable: flagged
    client.post(RUN, json={"grader": {**EXACT, "operation": "zz"}, "model_sample": "x"}, headers=AUTH)
    client.post(RUN, content=b"not json", headers=AUTH)
    client.post(
        RUN, json={"grader": EXACT, "model_sample": "x"}, headers={**AUTH, "x-emulator-status": "503"}
    )
    client.post(
        f"/_emulator/sessions/s1{RUN}",
        json={"grader": EXACT, "model_sample": "x", "item": {"a": "x"}},
        headers=AUTH,
    )
    client.get("/no/such/path")
    found = samples(client)
    assert (
        requests_total(found, path=RUN, grader_type="string_check", outcome="ok") == 4
    )  # session URL counts as /v1
    assert requests_total(found, path=RUN, grader_type="string_check", outcome="flagged") == 1
    assert requests_total(found, path=RUN, grader_type="none", outcome="4xx") == 2  # unparsed: no grader type
    assert requests_total(found, path=RUN, grader_type="none", outcome="5xx") == 1  # injected before parsing
    assert requests_total(found, path="other", grader_type="none", outcome="4xx") == 1
    count = (
        "graders_emulator_request_duration_seconds_count",
        (("grader_type", "string_check"), ("path", RUN)),
    )
    assert found[count] == 5


def test_sandbox_state(client: TestClient) -> None:
    found = samples(client)
    assert found[("graders_emulator_sandbox_workers", ())] == 3
    assert found[("graders_emulator_sandbox_workers_warm", ())] == 2
    [info] = [labels for (name, labels) in found if name == "graders_emulator_sandbox_info"]
    assert dict(info) == {"mode": "root-namespaces", "landlock": "7", "seccomp": "true"}


def test_registries_are_per_app() -> None:
    first, second = (
        create_app(Settings(port=0, python_graders=False)),
        create_app(Settings(port=0, python_graders=False)),
    )
    # create_app installed one registry per app: no duplicate-metric error, no shared counters
    assert first.state.metrics_registry is not second.state.metrics_registry


def test_request_log_line_at_debug_only(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="graders_emulator.requests"):
        client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "graders_emulator.requests"]
    with caplog.at_level(logging.DEBUG, logger="graders_emulator.requests"):
        response = client.post(
            RUN, json={"grader": EXACT, "model_sample": "x", "item": {"a": "x"}}, headers=AUTH
        )
    # Only this logger's lines: other tests may have left the root logger at a lower level.
    [record] = [r for r in caplog.records if r.name == "graders_emulator.requests"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["path"] == RUN and line["status"] == 200 and line["outcome"] == "ok"
    assert line["grader_type"] == "string_check" and line["duration_ms"] > 0


@pytest.mark.parametrize(
    ("path", "label"),
    [(RUN, RUN), ("/healthz", "/healthz"), ("/_emulator/rules", "/_emulator"), ("/v1/x", "other")],
    ids=["run-route", "healthz", "control-plane-prefix", "unknown-path-is-other"],
)
def test_route_labels_stay_bounded(path: str, label: str) -> None:
    assert route_label(path) == label


def test_counts_match_prometheus_clients_own_counter_and_histogram() -> None:
    """Our scrape-time families against prometheus_client's Counter and Histogram fed the same values
    (bucket bounds included: a value equal to a bound counts in that bucket)."""
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    metrics = RequestMetrics()
    ours.register(metrics)
    counter = Counter(
        "graders_emulator_requests", "Requests.", ["path", "grader_type", "outcome"], registry=theirs
    )
    histogram = Histogram(
        "graders_emulator_request_duration_seconds",
        "Latency.",
        ["path", "grader_type"],
        buckets=LATENCY_BUCKETS,
        registry=theirs,
    )
    observations = [
        (RUN, "string_check", "ok", 0.0004),
        (RUN, "string_check", "ok", 0.001),  # exactly a bound
        (RUN, "string_check", "flagged", 0.0049),
        (RUN, "multi", "4xx", 0.3),
        ("/healthz", "none", "ok", 200.0),  # past the last bound: +Inf only
    ]
    for path, grader_type, outcome, seconds in observations:
        metrics.observe(path, grader_type, outcome, seconds)
        counter.labels(path, grader_type, outcome).inc()
        histogram.labels(path, grader_type).observe(seconds)

    def values(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if not s.name.endswith("_created")  # prometheus_client's creation timestamps
        }

    assert values(ours) == values(theirs)
