"""Complete Evals API flows through the official Python SDK (openai 3.57.0, `resources/evals/`,
`resources/files.py`): strict response validation and the default mode, sync and async.

Counts and scores are checked against `support.expected_results` (rapidfuzz called directly, the
python grader's source executed here, the canned answers this test installs), never the emulator's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from graders_emulator.testing import RunningServer

from .support import (
    API_KEY,
    BAD_ROW,
    ITEM_SCHEMA,
    ROWS,
    Row,
    add_rules,
    criteria,
    expected_results,
    expected_status,
    model_rules,
    new_session,
    session_url,
    wait_async,
    wait_sync,
)

JUDGE_SNAPSHOT = "gpt-4o-2024-08-06"  # CONTRACT §2: gpt-4o resolves to this snapshot
SAMPLER = "gpt-4.1-mini"
# Completions run: the sampling rules answer these rows; the others get the default echo of the
# last user message, which the template makes the item's `ref`.
SAMPLED = {1: "Paris", 3: "the quick brown box", 7: "boom"}


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _content() -> list[dict[str, Any]]:
    return [row.jsonl() for row in ROWS] + [BAD_ROW]


def _counts(outputs: dict[int, str] | None = None) -> dict[str, int]:
    statuses = [expected_status(row, (outputs or {}).get(row.id)) for row in ROWS]
    return {
        "total": len(ROWS) + 1,
        "passed": statuses.count("pass"),
        "failed": statuses.count("fail"),
        "errored": statuses.count("error") + 1,  # + the row that does not match item_schema
    }


def _per_criterion(outputs: dict[int, str] | None = None) -> list[tuple[str, int, int]]:
    names = [c["name"] for c in criteria()]
    results = [expected_results(row, (outputs or {}).get(row.id)) for row in ROWS]
    return [(n, sum(r[n][1] for r in results), sum(not r[n][1] for r in results)) for n in names]


def _sampled_output(row: Row) -> str:
    return SAMPLED.get(row.id, row.ref)


def _check_items(items: list[Any], outputs: dict[int, str] | None = None) -> None:
    by_row = {item.datasource_item_id: item for item in items}
    assert sorted(by_row) == list(range(len(ROWS) + 1))
    for row in ROWS:
        item = by_row[row.id]
        assert item.status == expected_status(row, (outputs or {}).get(row.id)), row
        assert item.datasource_item == {"id": row.id, "ref": row.ref}
        expected = expected_results(row, (outputs or {}).get(row.id))
        got = {result.name: (result.score, result.passed) for result in item.results}
        assert set(got) == set(expected)
        for name, (score, passed) in expected.items():
            assert got[name][0] == pytest.approx(score, abs=1e-12), (row, name)
            assert got[name][1] is passed, (row, name)
    bad = by_row[len(ROWS)]
    assert bad.status == "error" and bad.results == []
    assert "item does not match item_schema" in bad.sample.error.message
    assert "'ref' is a required property" in bad.sample.error.message


def _all_items(client: openai.OpenAI, eval_id: str, run_id: str, **query: Any) -> Iterator[Any]:
    return iter(client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100, **query))


@pytest.fixture
def strict(evals_spec: RunningServer) -> Iterator[tuple[openai.OpenAI, str, str]]:
    session = new_session()
    add_rules(evals_spec.url, session, model_rules(ROWS) + _sampling_rules())
    with openai.OpenAI(
        base_url=session_url(evals_spec.url, session),
        api_key=API_KEY,
        _strict_response_validation=True,
        max_retries=0,
    ) as client:
        yield client, session, evals_spec.url


def _sampling_rules() -> list[dict[str, Any]]:
    return [
        {"kind": "sampling", "match": {"model": SAMPLER, "item": {"id": row_id}}, "answer": {"text": text}}
        for row_id, text in SAMPLED.items()
    ]


def _create_eval(client: openai.OpenAI) -> Any:
    return client.evals.create(
        name="every criterion",
        metadata={"suite": "contract"},
        data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA, "include_sample_schema": True},
        testing_criteria=criteria(),  # type: ignore[arg-type]
    )


def test_strict_file_upload_and_eval(strict: tuple[openai.OpenAI, str, str]) -> None:
    client = strict[0]
    content = _jsonl(_content())
    uploaded = client.files.create(file=("rows.jsonl", content), purpose="evals")
    assert uploaded.id.startswith("file-") and len(uploaded.id) == len("file-") + 22
    assert (uploaded.bytes, uploaded.filename, uploaded.status) == (len(content), "rows.jsonl", "processed")
    assert uploaded.purpose == "user_data"  # the spec profile: the file-object enum has no `evals`
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).content == content
    assert [f.id for f in client.files.list()] == [uploaded.id]

    evaluation = _create_eval(client)
    assert evaluation.id.startswith("eval_") and len(evaluation.id) == 5 + 32
    assert [c.name for c in evaluation.testing_criteria] == [c["name"] for c in criteria()]
    assert [c.type for c in evaluation.testing_criteria] == [c["type"] for c in criteria()]
    schema = evaluation.data_source_config.schema_
    assert schema["properties"]["item"] == ITEM_SCHEMA  # type: ignore[index]
    assert schema["required"] == ["item", "sample"]
    assert evaluation.metadata == {"suite": "contract"}


def test_strict_runs_on_file_content_file_id_and_completions(strict: tuple[openai.OpenAI, str, str]) -> None:
    client = strict[0]
    evaluation = _create_eval(client)
    uploaded = client.files.create(file=("rows.jsonl", _jsonl(_content())), purpose="evals")
    inline = client.evals.runs.create(
        evaluation.id,
        name="inline",
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": _content()}},
    )
    assert inline.status == "queued" and inline.id.startswith("evalrun_")
    by_file = client.evals.runs.create(
        evaluation.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": uploaded.id}}
    )
    sampled = client.evals.runs.create(
        evaluation.id,
        data_source={
            "type": "completions",
            "model": SAMPLER,
            "source": {"type": "file_id", "id": uploaded.id},
            "input_messages": {
                "type": "template",
                "template": [
                    {"role": "system", "content": "Answer with the reference."},
                    {"role": "user", "content": "{{item.ref}}"},
                ],
            },
            "sampling_params": {"temperature": 0.0, "seed": 7},
        },
    )
    for run, outputs in ((inline, None), (by_file, None)):
        done = wait_sync(client, evaluation.id, run.id)
        assert done.status == "completed", done.error
        assert done.result_counts.model_dump() == _counts(outputs)
        per = [(r.testing_criteria, r.passed, r.failed) for r in done.per_testing_criteria_results]
        assert per == _per_criterion(outputs)
        _check_items(list(_all_items(client, evaluation.id, run.id)), outputs)

    outputs = {row.id: _sampled_output(row) for row in ROWS}
    done = wait_sync(client, evaluation.id, sampled.id)
    assert done.status == "completed", done.error
    assert done.model == SAMPLER
    assert done.result_counts.model_dump() == _counts(outputs)
    assert [
        (r.testing_criteria, r.passed, r.failed) for r in done.per_testing_criteria_results
    ] == _per_criterion(outputs)
    usage = {u.run_model_name: u.invocation_count for u in done.per_model_usage}
    assert usage[SAMPLER] == len(ROWS)  # the row that fails item_schema is never sampled
    assert usage[JUDGE_SNAPSHOT] == len(ROWS)
    items = list(_all_items(client, evaluation.id, sampled.id))
    _check_items(items, outputs)
    first = next(item for item in items if item.datasource_item_id == 1)
    assert [(m.role, m.content) for m in first.sample.input] == [
        ("system", "Answer with the reference."),
        ("user", "Paris"),
    ]
    assert [m.content for m in first.sample.output] == ["Paris"]
    assert (first.sample.model, first.sample.seed, first.sample.temperature) == (SAMPLER, 7, 0.0)


def test_strict_output_items_filtered_and_paginated(strict: tuple[openai.OpenAI, str, str]) -> None:
    client = strict[0]
    evaluation = _create_eval(client)
    run = client.evals.runs.create(
        evaluation.id,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": _content()}},
    )
    assert wait_sync(client, evaluation.id, run.id).status == "completed"
    passing = {row.id for row in ROWS if expected_status(row) == "pass"}
    failing = {row.id for row in ROWS if expected_status(row) == "fail"}
    got_pass = {i.datasource_item_id for i in _all_items(client, evaluation.id, run.id, status="pass")}
    got_fail = {i.datasource_item_id for i in _all_items(client, evaluation.id, run.id, status="fail")}
    assert (got_pass, got_fail) == (passing, failing)

    page = client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, limit=4)
    seen = [item.datasource_item_id for item in page.data]
    assert page.has_more is True and len(seen) == 4
    while page.has_next_page():
        page = page.get_next_page()
        seen += [item.datasource_item_id for item in page.data]
    assert seen == list(range(len(ROWS) + 1))  # asc: in row order, each once
    newest = client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, order="desc", limit=2)
    assert [i.datasource_item_id for i in newest.data] == [len(ROWS), len(ROWS) - 1]
    one = client.evals.runs.output_items.retrieve(newest.data[0].id, eval_id=evaluation.id, run_id=run.id)
    assert one.id == newest.data[0].id and one.status == "error"


def test_strict_update_list_cancel_delete_and_404s(strict: tuple[openai.OpenAI, str, str]) -> None:
    client, session, url = strict
    evaluation = _create_eval(client)
    other = _create_eval(client)
    updated = client.evals.update(evaluation.id, name="renamed", metadata={"v": "2"})
    assert (updated.name, updated.metadata) == ("renamed", {"v": "2"})
    assert client.evals.retrieve(evaluation.id).name == "renamed"
    listed = client.evals.list(limit=1)
    assert [e.id for e in listed.data] == [evaluation.id] and listed.has_more is True
    assert [e.id for e in client.evals.list(order="desc")] == [other.id, evaluation.id]

    # A slow run (every sample waits 40 ms) canceled right away stops before its last rows.
    add_rules(
        url,
        session,
        [{"kind": "sampling", "match": {"model": "slow"}, "answer": {"text": "x", "latency_ms": 40}}],
    )
    rows = [{"item": {"id": i, "ref": "x"}} for i in range(400)]
    slow = client.evals.runs.create(
        evaluation.id,
        data_source={
            "type": "completions",
            "model": "slow",
            "source": {"type": "file_content", "content": rows},
        },
    )
    canceled = client.evals.runs.cancel(slow.id, eval_id=evaluation.id)
    assert canceled.status == "canceled"
    done = wait_sync(client, evaluation.id, slow.id)
    assert done.status == "canceled"
    assert done.result_counts.total < len(rows)
    stored = list(_all_items(client, evaluation.id, slow.id))
    assert len(stored) == done.result_counts.total
    assert [r.id for r in client.evals.runs.list(evaluation.id, status="canceled")] == [slow.id]

    deleted = client.evals.runs.delete(slow.id, eval_id=evaluation.id)
    assert (deleted.deleted, deleted.run_id) == (True, slow.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.evals.runs.retrieve(slow.id, eval_id=evaluation.id)
    assert caught.value.body["message"] == f"No run found with id '{slow.id}'."  # type: ignore[index]
    removed = client.evals.delete(evaluation.id)
    assert (removed.deleted, removed.eval_id, removed.object) == (True, evaluation.id, "eval.deleted")
    with pytest.raises(openai.NotFoundError) as caught:
        client.evals.retrieve(evaluation.id)
    assert caught.value.body == {  # type: ignore[comparison-overlap]
        "message": f"No eval found with id '{evaluation.id}'.",
        "type": "invalid_request_error",
        "param": "eval_id",
        "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        client.evals.runs.list(evaluation.id)
    uploaded = client.files.create(file=("a.jsonl", b"{}\n"), purpose="evals")
    assert client.files.delete(uploaded.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_async_strict_flow(evals_spec: RunningServer) -> None:
    session = new_session()
    add_rules(evals_spec.url, session, model_rules(ROWS))

    async def flow() -> None:
        async with openai.AsyncOpenAI(
            base_url=session_url(evals_spec.url, session),
            api_key=API_KEY,
            _strict_response_validation=True,
            max_retries=0,
        ) as client:
            uploaded = await client.files.create(file=("rows.jsonl", _jsonl(_content())), purpose="evals")
            evaluation = await client.evals.create(
                data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA},
                testing_criteria=criteria(),  # type: ignore[arg-type]
            )
            run = await client.evals.runs.create(
                evaluation.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": uploaded.id}}
            )
            done = await wait_async(client, evaluation.id, run.id)
            assert done.status == "completed"
            assert done.result_counts.model_dump() == _counts()
            items = [
                item async for item in client.evals.runs.output_items.list(run.id, eval_id=evaluation.id)
            ]
            _check_items(items)
            fails = client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, status="fail")
            assert {i.datasource_item_id async for i in fails} == {
                r.id for r in ROWS if expected_status(r) == "fail"
            }
            await client.evals.delete(evaluation.id)
            with pytest.raises(openai.NotFoundError):
                await client.evals.runs.retrieve(run.id, eval_id=evaluation.id)

    asyncio.run(flow())


def test_default_mode_flow(evals_real: RunningServer) -> None:
    """The SDK's default (non-validating) mode against the `real` profile."""
    session = new_session()
    add_rules(evals_real.url, session, model_rules(ROWS))
    with openai.OpenAI(
        base_url=session_url(evals_real.url, session), api_key=API_KEY, max_retries=0
    ) as client:
        empty = client.evals.list()
        assert (empty.data, empty.first_id, empty.last_id, empty.has_more) == ([], None, None, False)
        uploaded = client.files.create(file=("rows.jsonl", _jsonl(_content())), purpose="evals")
        assert uploaded.purpose == "evals"  # the live API's answer (the `real` profile)
        evaluation = _create_eval(client)
        run = client.evals.runs.create(
            evaluation.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": uploaded.id}}
        )
        assert run.error is None
        done = wait_sync(client, evaluation.id, run.id)
        assert done.status == "completed" and done.error is None
        assert done.result_counts.model_dump() == _counts()
        _check_items(list(_all_items(client, evaluation.id, run.id)))
        client.evals.delete(evaluation.id)
        with pytest.raises(openai.NotFoundError):
            client.evals.retrieve(evaluation.id)
