"""FastAPI's native OpenTelemetry: off by default (it costs a check on every request), on with `otel`.

Each case runs in a fresh interpreter: OpenTelemetry's global tracer provider can be set only once
per process, and the rest of the suite must not run under one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from graders_emulator.main import create_app
    from graders_emulator.settings import Settings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    app = create_app(Settings(otel=sys.argv[1] == "on", python_graders=False))
    grader = {"type": "string_check", "name": "g", "input": "a", "reference": "a", "operation": "eq"}
    with TestClient(app) as client:
        answer = client.post(
            "/v1/fine_tuning/alpha/graders/validate",
            json={"grader": grader},
            headers={"authorization": "Bearer sk-test"},
        )
        assert answer.status_code == 200, answer.text
        graded = client.post(
            "/v1/fine_tuning/alpha/graders/run",
            json={"grader": grader, "model_sample": "a"},
            headers={"authorization": "Bearer sk-test"},
        )
        assert graded.status_code == 200 and graded.json()["reward"] == 1.0, graded.text
        assert client.get("/healthz").status_code == 200
    print(sorted({span.name for span in exporter.get_finished_spans()}))
    """
)


def spans(setting: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, setting], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("setting", "expect_spans"), [("off", False), ("on", True)], ids=["default", "otel"])
def test_fastapi_spans_follow_the_setting(setting: str, expect_spans: bool) -> None:
    found = spans(setting)
    assert (found != "[]") is expect_spans, found
    if expect_spans:  # FastAPI names server spans after their routes, the grader routes included
        assert "'POST /v1/fine_tuning/alpha/graders/validate'" in found, found
        assert "'POST /v1/fine_tuning/alpha/graders/run'" in found, found
        assert "'GET /healthz'" in found, found
