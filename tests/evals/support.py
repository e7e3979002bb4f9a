"""Shared pieces of the Evals API tests: a dataset, its expected outcomes computed independently.

The expectations are computed here with the reference libraries called directly (rapidfuzz for
fuzzy_match, CONTRACT §5), the python grader's source executed in the test process, and the canned
model answers the test itself installs; pass/fail is counted by hand from CONTRACT §10.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from rapidfuzz import fuzz, utils

API_KEY = "sk-evals-tests-0000"
TERMINAL = ("completed", "failed", "canceled")

PYTHON_SOURCE = (
    "def grade(sample, item):\n"
    "    text = sample['output_text']\n"
    "    if text == 'boom':\n"
    "        raise ValueError('exploded on purpose')\n"
    "    return min(1.0, len(text) / 10)\n"
)
FUZZY_THRESHOLD = 0.8
PYTHON_THRESHOLD = 0.5
SCORE_THRESHOLD = 0.7

ITEM_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "ref": {"type": "string"}},
    "required": ["id", "ref"],
}


def criteria() -> list[dict[str, Any]]:
    """One testing criterion of every type."""
    return [
        {
            "type": "string_check",
            "name": "exact",
            "input": "{{sample.output_text}}",
            "reference": "{{item.ref}}",
            "operation": "eq",
        },
        {
            "type": "text_similarity",
            "name": "fuzzy",
            "input": "{{sample.output_text}}",
            "reference": "{{item.ref}}",
            "evaluation_metric": "fuzzy_match",
            "pass_threshold": FUZZY_THRESHOLD,
        },
        {"type": "python", "name": "length", "source": PYTHON_SOURCE, "pass_threshold": PYTHON_THRESHOLD},
        {
            "type": "score_model",
            "name": "judge",
            "model": "gpt-4o",
            "input": [{"role": "user", "content": "Rate {{sample.output_text}} against {{item.ref}}"}],
            "pass_threshold": SCORE_THRESHOLD,
        },
        {
            "type": "label_model",
            "name": "tone",
            "model": "gpt-4o-mini",
            "input": [{"role": "user", "content": "Tone of {{sample.output_text}}"}],
            "labels": ["good", "bad"],
            "passing_labels": ["good"],
        },
    ]


@dataclass(frozen=True)
class Row:
    """One dataset row with the canned model answers for it."""

    id: int
    ref: str
    output: str
    score: float
    label: str

    def jsonl(self) -> dict[str, Any]:
        return {"item": {"id": self.id, "ref": self.ref}, "sample": {"output_text": self.output}}


ROWS = [
    Row(0, "Paris", "Paris", 0.9, "good"),  # every criterion passes
    Row(1, "Paris", "paris!", 0.9, "good"),  # exact fails
    Row(2, "the quick brown fox", "the quick brown fox", 0.5, "good"),  # judge fails
    Row(3, "the quick brown fox", "the quick brown fox", 0.8, "bad"),  # tone fails
    Row(4, "abc", "abc", 0.95, "good"),  # length fails (0.3 < 0.5)
    Row(5, "0123456789", "0123456789", 0.7, "good"),  # passes (judge at its threshold)
    Row(6, "boom", "boom", 0.9, "good"),  # python raises: errored
    Row(7, "kitten", "sitting", 0.1, "bad"),  # fails several
]
BAD_ROW = {"item": {"id": 8}, "sample": {"output_text": "no ref"}}  # does not match ITEM_SCHEMA


def model_rules(rows: list[Row]) -> list[dict[str, Any]]:
    """Canned answers keyed on the item id: the judge's score and the tone's label of each row."""
    rules: list[dict[str, Any]] = []
    for row in rows:
        rules.append(
            {
                "kind": "model",
                "match": {"grader_name": "judge", "item": {"id": row.id}},
                "answer": {"score": row.score},
            }
        )
        rules.append(
            {
                "kind": "model",
                "match": {"grader_name": "tone", "item": {"id": row.id}},
                "answer": {"label": row.label},
            }
        )
    return rules


def fuzzy(a: str, b: str) -> float:
    return float(fuzz.WRatio(a, b, processor=utils.default_process) / 100)


def python_score(output: str) -> float | None:
    """The python grader's own result, by running its source here; None when it raises."""
    namespace: dict[str, Any] = {}
    exec(PYTHON_SOURCE, namespace)  # the test's own copy of the source, not the sandbox
    try:
        return float(namespace["grade"]({"output_text": output}, {}))
    except ValueError:
        return None


def expected_results(row: Row, output: str | None = None) -> dict[str, tuple[float, bool]]:
    """(score, passed) per criterion for one row, from the reference libraries and the canned answers."""
    text = row.output if output is None else output
    length = python_score(text)
    return {
        "exact": (1.0 if text == row.ref else 0.0, text == row.ref),
        "fuzzy": (fuzzy(text, row.ref), fuzzy(text, row.ref) >= FUZZY_THRESHOLD),
        "length": (length or 0.0, length is not None and length >= PYTHON_THRESHOLD),
        "judge": (row.score, row.score >= SCORE_THRESHOLD),
        "tone": (1.0 if row.label == "good" else 0.0, row.label == "good"),
    }


def expected_status(row: Row, output: str | None = None) -> str:
    text = row.output if output is None else output
    if python_score(text) is None:
        return "error"
    return "pass" if all(ok for _, ok in expected_results(row, output).values()) else "fail"


def new_session() -> str:
    return "evals-" + uuid.uuid4().hex[:12]


def session_url(server_url: str, session: str) -> str:
    return f"{server_url}/_emulator/sessions/{session}/v1"


def add_rules(server_url: str, session: str, rules: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{server_url}/_emulator/sessions/{session}/rules", json=rules, timeout=10)
    assert response.status_code == 200, response.text


def wait_sync(client: openai.OpenAI, eval_id: str, run_id: str, deadline_s: float = 100.0) -> Any:
    """Poll a run until it ends (the sandbox's first warm-up counts in the deadline)."""
    stop = time.monotonic() + deadline_s
    while True:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in TERMINAL or time.monotonic() > stop:
            return run
        time.sleep(0.1)


async def wait_async(client: openai.AsyncOpenAI, eval_id: str, run_id: str, deadline_s: float = 100.0) -> Any:
    import asyncio

    stop = time.monotonic() + deadline_s
    while True:
        run = await client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in TERMINAL or time.monotonic() > stop:
            return run
        await asyncio.sleep(0.1)
