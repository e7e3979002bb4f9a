"""Pure parts: header parsing, matching, the canned client, the journal, status envelopes."""

from __future__ import annotations

import asyncio
import json

import pytest

from graders_emulator.emulation import headers
from graders_emulator.emulation.canned import CannedModelClient, Overrides, default_content, estimate_usage
from graders_emulator.emulation.journal import Journal, JournalQuery, mask_secret, masked_headers
from graders_emulator.emulation.rules import CallView, ModelRule, item_value, message_text, model_misses
from graders_emulator.emulation.store import Scope
from graders_emulator.errors import InjectedError, is_retryable
from graders_emulator.grading.context import ModelRequest

REQUEST = ModelRequest(
    "score_model", "acc", "gpt-4o", [{"role": "user", "content": "Rate: Paris"}], score_range=(1, 3)
)


def test_headers_parse_everything() -> None:
    parsed = headers.parse(
        {
            "x-emulator-score": "0.5",
            "x-emulator-errors": "other_error, formula_parse_error",
            "x-emulator-status": "503",
            "x-emulator-retry-after-ms": "0",
            "x-emulator-should-retry": "FALSE",
            "x-emulator-fail-attempts": "2",
            "x-emulator-latency-ms": "12.5",
            "x-emulator-fault": "truncate",
            "x-stainless-retry-count": "2",
        }
    )
    assert parsed.errors == ("other_error", "formula_parse_error")
    assert (parsed.status, parsed.retry_after_ms, parsed.should_retry, parsed.latency_ms) == (
        503,
        0,
        False,
        12.5,
    )
    assert not parsed.faults_active  # retry 2 reached fail-attempts 2


@pytest.mark.parametrize(
    ("name", "value"),
    [("x-emulator-score", "nan"), ("x-emulator-status", "abc"), ("x-emulator-fail-attempts", "-1")],
    ids=["x-emulator-score-nan", "x-emulator-status-abc", "x-emulator-fail-attempts--1"],
)
def test_bad_header_values(name: str, value: str) -> None:
    with pytest.raises(headers.HeaderError, match=name):
        headers.parse({name: value})


def test_item_paths() -> None:
    item = {"a": {"b": [{"c": 1}]}}
    assert item_value(item, "a.b[0].c") == 1
    assert item_value(item, "a.b.0.c") == 1
    assert item_value(item, "a.x") is not None  # the missing marker, not a value
    assert item_value(item, "a.x") != 1


def test_message_text_joins_every_part() -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "u"}],
        }
    ]
    assert message_text([{"role": "system", "content": "s"}, *messages]) == "s\na\nu"


def test_misses_explain_themselves() -> None:
    rule = ModelRule.model_validate(
        {"match": {"grader_name": "x", "prompt_contains": "Rome"}, "answer": {"label": "a"}}
    )
    call = CallView("score_model", "acc", "gpt-4o", "Paris", {}, "")
    assert model_misses(rule, call) == [
        "grader_name 'acc' is not 'x'",
        "prompt does not contain 'Rome'",
        "answers a label, the call is a score_model",
    ]


def test_default_answer_is_in_range_and_stable() -> None:
    content = default_content(REQUEST, 0)
    assert content == default_content(REQUEST, 0)
    assert content != default_content(REQUEST, 1)
    assert 1 <= json.loads(content)["result"] <= 3


def test_usage_estimate_formula() -> None:
    usage = estimate_usage(REQUEST, "x" * 9)
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        3 + 3,
        3,
    )  # ceil(11/4) + 3 per message; ceil(9/4)


def test_overrides_and_calls_are_recorded() -> None:
    client = CannedModelClient([Scope.create(None)], overrides=Overrides(score=2.5))
    reply = asyncio.run(client.complete(REQUEST))
    assert '"result": 2.5' in reply.content
    assert client.calls[0]["answered_by"] == "header x-emulator-score"


def test_secrets_are_masked() -> None:
    assert mask_secret("Bearer sk-test-emulation-1234") == "Bearer sk-...1234"
    assert mask_secret("short") == "***"
    assert masked_headers([(b"Authorization", b"Bearer sk-abcdefghijkl"), (b"x", b"y")]) == {
        "authorization": "Bearer sk-...ijkl",
        "x": "y",
    }


def test_journal_is_bounded_and_filtered_by_session() -> None:
    journal = Journal(3)
    for n in range(5):
        scope = {
            "method": "POST",
            "path": "/v1/x",
            "query_string": b"a=1",
            "headers": [(b"x-n", str(n).encode())],
        }
        entry = journal.start("s" if n % 2 else None, "/v1/x", scope)
        assert (entry.query, entry.raw_headers) == ("a=1", scope["headers"])
        journal.commit(entry)
    assert [e.seq for e in journal.query(JournalQuery())] == [3, 4, 5]
    assert [e.seq for e in journal.query(JournalQuery(session="s"))] == [4]
    assert journal.clear("s", everything=False) == 1
    assert Journal(0).enabled is False


@pytest.mark.parametrize(
    ("status", "type_", "retryable"),
    [
        (400, "invalid_request_error", False),
        (408, "timeout_error", True),
        (429, "requests", True),
        (599, "server_error", True),
    ],
    ids=[
        "400-invalid_request_error-False",
        "408-timeout_error-True",
        "429-requests-True",
        "599-server_error-True",
    ],
)
def test_status_envelopes(status: int, type_: str, retryable: bool) -> None:
    assert InjectedError(status).envelope()["error"]["type"] == type_
    assert is_retryable(status) is retryable
