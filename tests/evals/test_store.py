"""The SQLite store on its own: cursor pages as OpenAI pages (after, limit, order, has_more), the
status filter, cascading deletes, sessions kept apart, and a file database that outlives its store."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders_emulator.evals.store import EvalStore, Query, UnknownCursor


def _filled(store: EvalStore, count: int = 5) -> list[str]:
    ids = [f"item_{i}" for i in range(count)]
    store.put_many(
        "item", None, "run_1", [({"id": i, "n": n}, "pass" if n % 2 else "fail") for n, i in enumerate(ids)]
    )
    return ids


PAGES = [
    ({"limit": 2}, ["item_0", "item_1"], True),
    ({"limit": 2, "after": "item_1"}, ["item_2", "item_3"], True),
    ({"limit": 2, "after": "item_3"}, ["item_4"], False),
    ({"limit": 5}, ["item_0", "item_1", "item_2", "item_3", "item_4"], False),
    ({"limit": 2, "order": "desc"}, ["item_4", "item_3"], True),
    ({"limit": 9, "order": "desc", "after": "item_2"}, ["item_1", "item_0"], False),
    ({"limit": 9, "status": "pass"}, ["item_1", "item_3"], False),
    ({"limit": 1, "status": "fail", "after": "item_0"}, ["item_2"], True),
]


@pytest.mark.parametrize(("query", "ids", "more"), PAGES, ids=[str(q) for q, _, _ in PAGES])
def test_pages(query: dict[str, object], ids: list[str], more: bool) -> None:
    store = EvalStore()
    _filled(store)
    page = store.page(Query("item", None, parent="run_1", **query))  # type: ignore[arg-type]
    assert ([body["id"] for body in page.data], page.has_more) == (ids, more)


def test_unknown_cursor_and_other_sessions() -> None:
    store = EvalStore()
    _filled(store)
    with pytest.raises(UnknownCursor):
        store.page(Query("item", None, parent="run_1", after="item_9"))
    assert store.page(Query("item", "other", parent="run_1")).data == []
    assert store.get("item", "other", "item_0") is None
    store.clear(["other"])
    assert store.get("item", None, "item_0") == {"id": "item_0", "n": 0}


def test_delete_cascades_from_eval_to_runs_items_and_sources() -> None:
    store = EvalStore()
    store.put("eval", None, {"id": "eval_1"})
    store.put("run", None, {"id": "run_1"}, parent="eval_1", status="queued")
    store.put("source", None, {"id": "run_1", "data_source": {}}, parent="run_1")
    _filled(store)
    assert store.delete("eval", None, "eval_1") is True
    assert [
        store.get(kind, None, i) for kind, i in (("run", "run_1"), ("source", "run_1"), ("item", "item_0"))
    ] == [
        None,
        None,
        None,
    ]
    assert store.delete("eval", None, "eval_1") is False


def test_a_file_database_outlives_its_store(tmp_path: Path) -> None:
    first = EvalStore(tmp_path)
    first.put("run", "s", {"id": "run_1", "status": "in_progress"}, parent="eval_1", status="in_progress")
    first.put("file", "s", {"id": "file-1"})
    first.put_content("s", "file-1", b"rows\n")
    first.close()
    second = EvalStore(tmp_path)
    assert second.unfinished_runs() == [("s", {"id": "run_1", "status": "in_progress"})]
    assert second.content("s", "file-1") == b"rows\n"
    second.close()
