"""The SQLite store of evals, runs, output items and files: in memory by default, a file under data_dir.

Every object is kept as its wire JSON with the columns queries need (kind, id, session, parent,
status). Calls are small single statements (or one executemany per chunk of items), so they run on
the event loop without holding it noticeably; one lock serialises them for the rare thread caller.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

Kind = Literal["eval", "run", "item", "file", "source"]  # source: a run's data source (can be large)
Order = Literal["asc", "desc"]
DB_NAME = "evals.sqlite3"
GLOBAL = ""  # the session column of objects outside any session

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    session TEXT NOT NULL,
    parent TEXT,
    status TEXT,
    updated_at INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_id ON objects (kind, session, id);
CREATE INDEX IF NOT EXISTS objects_parent ON objects (kind, session, parent, seq);
CREATE TABLE IF NOT EXISTS file_contents (
    session TEXT NOT NULL,
    id TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (session, id)
);
"""


@dataclass(frozen=True)
class Page:
    """One page of a list: the objects and whether more follow."""

    data: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class Query:
    """What a list asks for."""

    kind: Kind
    session: str | None
    parent: str | None = None
    after: str | None = None
    limit: int = 20
    order: Order = "asc"
    status: str | None = None
    order_by: Literal["seq", "updated_at"] = "seq"


class UnknownCursor(LookupError):
    """`after` names no object of the list."""


def _key(session: str | None) -> str:
    return GLOBAL if session is None else session


class EvalStore:
    """Evals, runs, items and files of every session."""

    def __init__(self, data_dir: Path | None = None) -> None:
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / DB_NAME)
        self.path = None if data_dir is None else data_dir / DB_NAME
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        if data_dir is not None:
            # WAL: a reader never waits for the writer; NORMAL: durable at checkpoints, fast commits.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- single objects

    def put(
        self,
        kind: Kind,
        session: str | None,
        body: dict[str, Any],
        *,
        parent: str | None = None,
        status: str | None = None,
        updated_at: int = 0,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO objects (kind, id, session, parent, status, updated_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, body["id"], _key(session), parent, status, updated_at, orjson.dumps(body)),
            )

    def put_many(
        self, kind: Kind, session: str | None, parent: str, rows: Sequence[tuple[dict[str, Any], str]]
    ) -> None:
        """Insert (body, status) rows under one parent in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO objects (kind, id, session, parent, status, body) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (kind, body["id"], _key(session), parent, status, orjson.dumps(body))
                    for body, status in rows
                ],
            )
            self._db.execute("COMMIT")

    def replace(
        self,
        kind: Kind,
        session: str | None,
        body: dict[str, Any],
        *,
        status: str | None = None,
        updated_at: int | None = None,
    ) -> bool:
        """Overwrite an object's body (and status); False when it no longer exists."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE objects SET body = ?, status = COALESCE(?, status), "
                "updated_at = COALESCE(?, updated_at) WHERE kind = ? AND session = ? AND id = ?",
                (orjson.dumps(body), status, updated_at, kind, _key(session), body["id"]),
            )
            return cursor.rowcount > 0

    def get(
        self, kind: Kind, session: str | None, object_id: str, parent: str | None = None
    ) -> dict[str, Any] | None:
        sql = "SELECT body FROM objects WHERE kind = ? AND session = ? AND id = ?"
        args: list[Any] = [kind, _key(session), object_id]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def delete(self, kind: Kind, session: str | None, object_id: str) -> bool:
        """Delete an object and everything under it (an eval's runs and their items)."""
        key = _key(session)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                children = [object_id]
                if kind == "eval":
                    children += [
                        row[0]
                        for row in self._db.execute(
                            "SELECT id FROM objects WHERE kind = 'run' AND session = ? AND parent = ?",
                            (key, object_id),
                        )
                    ]
                self._db.executemany(
                    "DELETE FROM objects WHERE session = ? AND parent = ? AND kind IN ('run', 'item', 'source')",
                    [(key, child) for child in children],
                )
                cursor = self._db.execute(
                    "DELETE FROM objects WHERE kind = ? AND session = ? AND id = ?", (kind, key, object_id)
                )
                if kind == "file":
                    self._db.execute(
                        "DELETE FROM file_contents WHERE session = ? AND id = ?", (key, object_id)
                    )
            finally:
                self._db.execute("COMMIT")
        return cursor.rowcount > 0

    def delete_children(self, kind: Kind, session: str | None, parent: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM objects WHERE kind = ? AND session = ? AND parent = ?",
                (kind, _key(session), parent),
            )

    # --- lists

    def page(self, query: Query) -> Page:
        where = ["kind = ?", "session = ?"]
        args: list[Any] = [query.kind, _key(query.session)]
        if query.parent is not None:
            where.append("parent = ?")
            args.append(query.parent)
        if query.status is not None:
            where.append("status = ?")
            args.append(query.status)
        column = query.order_by
        with self._lock:
            if query.after is not None:
                found = self._db.execute(
                    f"SELECT {column}, seq FROM objects WHERE {' AND '.join(where)} AND id = ?",
                    [*args, query.after],
                ).fetchone()
                if found is None:
                    raise UnknownCursor(query.after)
                # Ties on updated_at are broken by seq, so that a cursor never skips or repeats.
                sign = ">" if query.order == "asc" else "<"
                where.append(f"({column} {sign} ? OR ({column} = ? AND seq {sign} ?))")
                args += [found[0], found[0], found[1]]
            direction = "ASC" if query.order == "asc" else "DESC"
            rows = self._db.execute(
                f"SELECT body FROM objects WHERE {' AND '.join(where)} "
                f"ORDER BY {column} {direction}, seq {direction} LIMIT ?",
                [*args, query.limit + 1],
            ).fetchall()
        data = [dict(orjson.loads(row[0])) for row in rows[: query.limit]]
        return Page(data, len(rows) > query.limit)

    def bodies(self, kind: Kind, session: str | None, parent: str) -> list[dict[str, Any]]:
        """Every object under a parent, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM objects WHERE kind = ? AND session = ? AND parent = ? ORDER BY seq",
                (kind, _key(session), parent),
            ).fetchall()
        return [dict(orjson.loads(row[0])) for row in rows]

    def unfinished_runs(self) -> list[tuple[str | None, dict[str, Any]]]:
        """Runs left queued or in progress (by a stopped server), with their sessions."""
        with self._lock:
            rows = self._db.execute(
                "SELECT session, body FROM objects WHERE kind = 'run' AND status IN ('queued', 'in_progress') "
                "ORDER BY seq"
            ).fetchall()
        return [(None if row[0] == GLOBAL else row[0], dict(orjson.loads(row[1]))) for row in rows]

    # --- file contents

    def put_content(self, session: str | None, file_id: str, content: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO file_contents (session, id, content) VALUES (?, ?, ?)",
                (_key(session), file_id, content),
            )

    def content(self, session: str | None, file_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT content FROM file_contents WHERE session = ? AND id = ?", (_key(session), file_id)
            ).fetchone()
        return None if row is None else bytes(row[0])

    # --- sessions

    def clear(self, sessions: Iterable[str | None] | None = None) -> None:
        """Forget the given sessions' objects (None: every object of every session)."""
        with self._lock:
            if sessions is None:
                self._db.execute("DELETE FROM objects")
                self._db.execute("DELETE FROM file_contents")
                return
            keys = [(_key(session),) for session in sessions]
            self._db.executemany("DELETE FROM objects WHERE session = ?", keys)
            self._db.executemany("DELETE FROM file_contents WHERE session = ?", keys)
