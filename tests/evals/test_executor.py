"""How a run grades its rows: each criterion over a chunk of rows through the library face, so that a
python criterion's rows share sandboxed children (batches), and a bug in grading flags the items it
hits while the run goes on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import graders_emulator.library
from graders_emulator.main import create_app
from graders_emulator.settings import Settings
from graders_emulator.testing import RunningServer

from .support import API_KEY, TERMINAL, new_session, session_url

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CONFIG = {"type": "custom", "item_schema": {"type": "object"}, "include_sample_schema": True}
# A module-level counter: a child that grades several samples of one batch counts past 1; a child
# per sample would answer 1.0 every time.
COUNTER = "GRADED = []\n\ndef grade(sample, item):\n    GRADED.append(1)\n    return float(len(GRADED))\n"


def chunks(rows: int) -> list[range]:
    """README, "Evals API": rows are graded (and counted) 32 at first, doubling up to 256 a chunk."""
    bounds, start, size = [], 0, 32
    while start < rows:
        bounds.append(range(start, min(rows, start + size)))
        start, size = start + size, min(2 * size, 256)
    return bounds


EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.ref}}",
    "operation": "eq",
}


def _rows(texts: list[str]) -> list[dict[str, Any]]:
    return [{"item": {"id": i, "ref": "Paris"}, "sample": {"output_text": t}} for i, t in enumerate(texts)]


def _run(
    http: Any, criteria: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create an eval and a run of these rows, wait for it to end: the run and its items in row order."""
    evaluation = http.post("/evals", json={"data_source_config": CONFIG, "testing_criteria": criteria}).json()
    source = {"type": "jsonl", "source": {"type": "file_content", "content": rows}}
    run = http.post(f"/evals/{evaluation['id']}/runs", json={"data_source": source}).json()
    deadline = time.monotonic() + 120
    while run["status"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.05)
        run = http.get(f"/evals/{evaluation['id']}/runs/{run['id']}").json()
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = http.get(f"/evals/{evaluation['id']}/runs/{run['id']}/output_items", params=params).json()
        items += page["data"]
        if not page["has_more"]:
            break
        after = page["last_id"]
    return run, sorted(items, key=lambda item: item["datasource_item_id"])


@pytest.fixture
def http(evals_real: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=session_url(evals_real.url, new_session()), headers=AUTH, timeout=60
    ) as client:
        yield client


def test_a_python_criterion_grades_each_chunk_in_batches(http: httpx.Client) -> None:
    counter = {"type": "python", "name": "counter", "source": COUNTER, "pass_threshold": 0.0}
    run, items = _run(http, [counter], _rows(["Paris"] * 200))
    assert run["status"] == "completed" and run["result_counts"]["passed"] == 200
    counts = [item["results"][0]["score"] for item in items]
    assert max(counts) > 1  # samples shared a child
    # A child grades samples of one chunk of this run only: its count never goes past a chunk.
    assert [len(chunk) for chunk in chunks(200)] == [32, 64, 104]
    for chunk in chunks(200):
        scores = counts[chunk.start : chunk.stop]
        assert scores[0] == 1.0, scores  # each chunk starts new children
        assert max(scores) <= len(scores), scores


def test_batched_python_rows_keep_their_own_outcomes(http: httpx.Client) -> None:
    """A sample that raises errors its own item only; its batch neighbours are graded as usual."""
    source = (
        "def grade(sample, item):\n"
        "    if sample['output_text'] == 'boom':\n"
        "        raise ValueError('exploded on purpose')\n"
        "    return len(sample['output_text']) / 10\n"
    )
    python = {"type": "python", "name": "length", "source": source, "pass_threshold": 0.5}
    texts = ["Paris", "boom", "the quick brown fox", "abc", "boom", "0123456789"]
    run, items = _run(http, [EXACT, python], _rows(texts))
    assert run["status"] == "completed"
    assert run["result_counts"] == {"total": 6, "errored": 2, "failed": 3, "passed": 1}
    assert [item["status"] for item in items] == ["pass", "error", "fail", "fail", "error", "fail"]
    scores = [item["results"][1]["score"] for item in items]
    assert scores == [0.5, 0.0, 1.9, 0.3, 0.0, 1.0]
    errors = items[1]["results"][1]["sample"]["errors"]
    assert "exploded on purpose" in errors["python_grader_runtime_error"]
    assert items[0]["results"][1]["sample"] is None
    assert run["per_testing_criteria_results"] == [
        {"testing_criteria": "exact", "passed": 1, "failed": 5},
        {"testing_criteria": "length", "passed": 3, "failed": 3},
    ]


def test_a_bug_in_grading_flags_the_items_it_hits_and_the_run_completes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Below the executor, on every grading path (the inline scorers of string_check included).
    real = graders_emulator.library.Grader._grade_many

    async def buggy(self: Any, rows: list[tuple[Any, Any]]) -> Any:
        if any(sample.get("output_text") == "bug" for sample, _ in rows):
            raise KeyError("a bug")
        return await real(self, rows)

    monkeypatch.setattr(graders_emulator.library.Grader, "_grade_many", buggy)
    with TestClient(create_app(Settings(python_graders=False)), base_url="http://testserver/v1") as client:
        client.headers.update(AUTH)
        run, items = _run(client, [EXACT], _rows(["Paris", "bug", "Rome", "Paris"]))
    assert run["status"] == "completed", run
    assert [item["status"] for item in items] == ["pass", "error", "fail", "pass"]
    assert items[1]["results"][0]["sample"] == {"errors": {"other_error": "KeyError: 'a bug'"}}
    assert run["result_counts"] == {"total": 4, "errored": 1, "failed": 1, "passed": 2}


def test_a_row_over_the_rendered_size_bound_is_flagged_on_its_item_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row whose templates would render past max_rendered_ratio x max_body_bytes (README, "Security":
    the server answers such a request 400) is its own item's error; the other rows grade, and nothing is
    logged as a bug."""
    amplifier = {**EXACT, "name": "amplified", "input": "{{sample.output_text}}" * 50}
    settings = Settings(python_graders=False, max_body_bytes=64 * 1024, max_rendered_ratio=2.0)
    big = "x" * 4000  # 50 x 4,000 = 200,000 rendered characters > 2 x 65,536
    with TestClient(create_app(settings), base_url="http://testserver/v1") as client:
        client.headers.update(AUTH)
        run, items = _run(client, [amplifier], _rows(["Paris", big, "Rome"]))
    assert run["status"] == "completed", run
    assert [item["status"] for item in items] == ["fail", "error", "fail"]
    message = items[1]["results"][0]["sample"]["errors"]["other_error"]
    assert "max_rendered_ratio (2) x max_body_bytes (65536)" in message, message
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
