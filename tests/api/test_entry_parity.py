"""The raw-ASGI fast path and FastAPI's route are two entries into one handler: same status, same bytes.

Two apps that differ in one setting: by default POSTs to the grader endpoints are answered by
`GraderFastPath` (http/fast_path.py); with `otel=True` there is no fast path and FastAPI's router
serves them (`run_grader` / `validate_grader` in api/graders.py). Every request goes to both; the
status, the body bytes and the headers (apart from the request id and processing time) must be equal.
A spy around each app checks which entry answered: Starlette's router leaves the endpoint in the
scope, the fast path never routes. `execution_time` is made deterministic by a frozen clock in the
service, names by the same seed; the python sandbox is a fake (the entries are under test, not it).

Every case runs twice: cold (no compiled grader kept) and warm (its grader compiled by a valid request
first, so that the case is a cache hit wherever its grader is valid): both rounds must answer alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from example_graders import METRICS
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from graders_emulator import service
from graders_emulator.grading.context import BaseSandbox, PythonJob, PythonOutcome
from graders_emulator.main import create_app
from graders_emulator.settings import Settings

RUN = "/v1/fine_tuning/alpha/graders/run"
VALIDATE = "/v1/fine_tuning/alpha/graders/validate"
KEY = "sk-parity-0001"
AUTH = {"authorization": f"Bearer {KEY}"}
JSON = {**AUTH, "content-type": "application/json"}
MAX_BODY = 1_000_000
UNCHECKED_HEADERS = {"x-request-id", "openai-processing-ms"}

EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
PYTHON = {"type": "python", "name": "py", "source": "def grade(sample, item):\n    return 0.75\n"}
SCORE = {
    "type": "score_model",
    "name": "judge",
    "model": "gpt-4o",
    "input": [{"role": "user", "content": "Grade {{sample.output_text}} against {{item.answer}}"}],
    "range": [0, 1],
}
LABEL = {
    "type": "label_model",
    "name": "labeller",
    "model": "gpt-4o-mini",
    "input": [{"role": "user", "content": "Is {{sample.output_text}} right?"}],
    "labels": ["yes", "no"],
    "passing_labels": ["yes"],
}
MULTI = {
    "type": "multi",
    "name": "combined",
    "graders": {"exact": EXACT, "label": LABEL},
    "calculate_output": "0.5 * exact + 0.5 * label",
}
ITEM = {"answer": "the cat sat on the mat"}
SAMPLE = "the cat sat on a mat"


def similarity(metric: str) -> dict[str, Any]:
    return {
        "type": "text_similarity",
        "name": f"sim-{metric}",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": metric,
    }


def run_body(grader: dict[str, Any], sample: Any = SAMPLE, item: Any = ITEM) -> dict[str, Any]:
    return {"grader": grader, "model_sample": sample, "item": item}


@dataclass(frozen=True)
class Call:
    """One request, sent as JSON (`json`) or as raw bytes (`content`, possibly streamed in chunks)."""

    path: str
    json: Any = None
    content: bytes | None = None
    headers: tuple[tuple[str, str], ...] = tuple(JSON.items())
    chunked: bool = False
    status: int = 200  # the status OpenAI answers (CONTRACT §3), independent of either entry

    def send(self, client: TestClient) -> Any:
        headers = dict(self.headers)
        if self.chunked:
            assert self.content is not None
            body = self.content
            pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
            return client.post(self.path, content=pieces, headers=headers)
        if self.content is not None:
            return client.post(self.path, content=self.content, headers=headers)
        return client.post(self.path, json=self.json, headers=headers)


GRADED = {
    "string_check": Call(RUN, run_body(EXACT, sample="the cat sat on the mat")),
    **{f"text_similarity-{metric}": Call(RUN, run_body(similarity(metric))) for metric in METRICS},
    "python": Call(RUN, run_body(PYTHON)),
    "score_model": Call(RUN, run_body(SCORE)),
    "multi-with-label_model": Call(RUN, run_body(MULTI)),
    "multi-of-deterministic": Call(
        RUN,
        run_body(
            {
                "type": "multi",
                "graders": {"a": EXACT, "b": similarity("fuzzy_match")},
                "calculate_output": "max(a, b)",
            }
        ),
    ),
    "flagged-missing-variable": Call(RUN, run_body({**EXACT, "reference": "{{item.nope}}"})),
    "forced-flag-details-header": Call(
        RUN, run_body(EXACT), headers=(*JSON.items(), ("x-emulator-errors", "other_error"))
    ),
    "legacy-reference_answer": Call(
        RUN,
        {
            "grader": {**EXACT, "reference": "{{item.reference_answer}}"},
            "model_sample": "x",
            "reference_answer": "x",
        },
    ),
    "validate-string_check": Call(VALIDATE, {"grader": EXACT}),
    "validate-multi": Call(VALIDATE, {"grader": MULTI}),
    "validate-python": Call(VALIDATE, {"grader": PYTHON}),
}


def _deep(levels: int) -> dict[str, Any]:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return {"deep": value}


TOO_LONG_SOURCE = "def grade(sample, item):\n    return 1.0\n" + "#" * (256 * 1024)
REFUSED = {
    "bad-json": Call(RUN, content=b'{"grader": ', status=400),
    "415-text-plain": Call(
        RUN, content=b"{}", headers=(*AUTH.items(), ("content-type", "text/plain")), status=415
    ),
    "missing-model_sample": Call(RUN, {"grader": EXACT}, status=400),
    "missing-grader": Call(VALIDATE, {}, status=400),
    "wrong-type-model_sample": Call(RUN, run_body(EXACT, sample=5), status=400),
    "wrong-type-body": Call(RUN, [1, 2], status=400),
    "bad-enum-operation": Call(RUN, run_body({**EXACT, "operation": "nope"}), status=400),
    "bad-enum-grader-type": Call(RUN, run_body({"type": "nope"}), status=400),
    "multi-graders-as-one-object": Call(
        RUN, run_body({"type": "multi", "graders": EXACT, "calculate_output": "exact"}), status=400
    ),
    "nested-multi": Call(
        RUN,
        run_body({"type": "multi", "graders": {"inner": MULTI}, "calculate_output": "inner"}),
        status=400,
    ),
    "top-level-label_model": Call(RUN, run_body(LABEL), status=400),
    "unknown-template-namespace": Call(RUN, run_body({**EXACT, "input": "{{answer.text}}"}), status=400),
    "formula-parse-error": Call(RUN, run_body({**MULTI, "calculate_output": "exact +"}), status=400),
    "python-source-over-limit": Call(RUN, run_body({**PYTHON, "source": TOO_LONG_SOURCE}), status=400),
    "401-no-key": Call(RUN, run_body(EXACT), headers=(("content-type", "application/json"),), status=401),
    "401-wrong-key": Call(
        RUN,
        run_body(EXACT),
        headers=(("authorization", "Bearer sk-wrong-0000"), ("content-type", "application/json")),
        status=401,
    ),
    "model_sample-as-JSON-too-deep": Call(RUN, run_body(EXACT, sample="[" * 70 + "]" * 70), status=400),
    "item-too-deep": Call(RUN, run_body(EXACT, item={"answer": "a"} | _deep(70)), status=400),
    "item-too-deep-and-model_sample-wrong": Call(RUN, run_body(EXACT, sample=5, item=_deep(70)), status=400),
    "rendered-over-the-bound": Call(
        RUN,
        run_body({**EXACT, "reference": "{{item.answer}}" * 60}, item={"answer": "x" * 40_000}),
        status=400,
    ),
    "413-by-length": Call(RUN, content=b"[" + b" " * MAX_BODY + b"]", status=413),
    "413-streamed": Call(RUN, content=b"[" + b" " * MAX_BODY + b"]", chunked=True, status=413),
}


class FixedSandbox(BaseSandbox):
    async def run(self, job: PythonJob) -> PythonOutcome:
        return PythonOutcome(value=0.75)


class EntrySpy:
    """Records, per request, whether Starlette's router answered it (it leaves `endpoint` in the scope)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routed: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.routed.append("endpoint" in scope)


@pytest.fixture(scope="module")
def entries() -> Iterator[tuple[tuple[TestClient, EntrySpy], tuple[TestClient, EntrySpy]]]:
    """(fast path app, FastAPI-routed app), each behind a spy; clock frozen for execution_time."""
    patch = pytest.MonkeyPatch()
    patch.setattr(service, "now", lambda: 0.0)
    sandbox = FixedSandbox()
    settings = {"seed": 7, "api_keys": [KEY], "max_body_bytes": MAX_BODY}
    fast = EntrySpy(create_app(Settings(**settings), sandbox=sandbox))
    routed = EntrySpy(create_app(Settings(**settings, otel=True), sandbox=sandbox))
    try:
        with TestClient(fast) as fast_client, TestClient(routed) as routed_client:
            yield (fast_client, fast), (routed_client, routed)
    finally:
        patch.undo()


def headers_of(response: Any) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.multi_items() if k not in UNCHECKED_HEADERS)


def both(entries: Any, call: Call) -> tuple[Any, Any]:
    (fast_client, _), (routed_client, _) = entries
    fast_answer = call.send(fast_client)
    routed_answer = call.send(routed_client)
    return fast_answer, routed_answer


def runtimes(entries: Any) -> list[Any]:
    return [spy.app.state.runtime for (_, spy) in entries]


def cold(entries: Any) -> None:
    """No compiled grader kept; names generated from the seed's start (a warm round repeats them)."""
    for runtime in runtimes(entries):
        runtime.graders.clear()
        runtime.new_name._random.seed(7)


def warmed(entries: Any, call: Call) -> int:
    """Compile the call's grader with a valid request (when it is valid); the hits so far."""
    grader = call.json.get("grader") if isinstance(call.json, dict) else None
    if isinstance(grader, dict):
        primer = Call(RUN, run_body(grader), headers=tuple(JSON.items()))
        both(entries, primer)
        if call.path == VALIDATE:
            both(entries, Call(VALIDATE, {"grader": grader}))
    for runtime in runtimes(entries):
        runtime.new_name._random.seed(7)
    return sum(runtime.graders.hits for runtime in runtimes(entries))


def same_answers(first: tuple[Any, Any], second: tuple[Any, Any]) -> None:
    for a, b in zip(first, second, strict=True):
        assert (a.status_code, a.content) == (b.status_code, b.content)
        assert headers_of(a) == headers_of(b)


@pytest.mark.parametrize("call", list(GRADED.values()), ids=list(GRADED))
def test_graded_requests_are_byte_identical(entries: Any, call: Call) -> None:
    (_, fast_spy), (_, routed_spy) = entries
    cold(entries)
    fast, routed = both(entries, call)
    assert fast_spy.routed[-1] is False, "the default app must answer from the fast path"
    assert routed_spy.routed[-1] is True, "the otel app must answer from FastAPI's route"
    assert (fast.status_code, routed.status_code) == (200, 200), (fast.text, routed.text)
    assert fast.content == routed.content
    assert headers_of(fast) == headers_of(routed)
    if call.path == RUN:
        assert fast.json()["metadata"]["execution_time"] == 0.0  # the frozen clock reached the service
    hits = warmed(entries, call)
    warm = both(entries, call)
    assert sum(runtime.graders.hits for runtime in runtimes(entries)) == hits + 2  # one per app
    same_answers((fast, routed), warm)


@pytest.mark.parametrize("call", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_requests_are_byte_identical(entries: Any, call: Call) -> None:
    cold(entries)
    fast, routed = both(entries, call)
    assert fast.status_code == routed.status_code == call.status, (fast.text, routed.text)
    assert fast.content == routed.content
    assert headers_of(fast) == headers_of(routed)
    error = fast.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    warmed(entries, call)
    same_answers((fast, routed), both(entries, call))


def test_the_bounds_answers_on_a_hit(entries: Any) -> None:
    """The sample bounds, on a compiled grader, answer OpenAI-style 400s naming the part at fault."""
    warmed(entries, REFUSED["item-too-deep"])
    expected = {
        "item-too-deep": (None, "The JSON body is nested more than 64 levels deep"),
        "item-too-deep-and-model_sample-wrong": (None, "The JSON body is nested more than 64 levels deep"),
        "model_sample-as-JSON-too-deep": ("model_sample", "model_sample (as JSON) is nested more than 64"),
        "rendered-over-the-bound": ("grader.reference", "Rendering the templates of this grader would"),
    }
    for name, (param, start) in expected.items():
        fast, routed = both(entries, REFUSED[name])
        error = fast.json()["error"]
        assert (error["param"], error["code"]) == (param, "invalid_value"), name
        assert error["message"].startswith(start), error["message"]
        assert routed.content == fast.content
