"""The embedded backend: one SQLite file in WAL mode.

Writers take the database lock up front (BEGIN IMMEDIATE), so reading which ids exist and writing
the batch happen in one serialised transaction and two concurrent batches cannot both insert an id.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from ..record import StoredRecord
from .base import BatchWriter, IngestCounts, Page, PageQuery, Store
from .paging import SEEK_MIN_OFFSET, bucket_of, seek

BUSY_TIMEOUT_MS = 30_000
_ORDER = " ORDER BY call_date, id"


def create_sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=8, max_overflow=24, pool_pre_ping=False)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun explicitly, below
        cursor = dbapi_connection.cursor()
        # page_size only takes effect on a new database: large pages keep ~1 KB documents inline.
        cursor.execute("PRAGMA page_size = 16384")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # an acknowledged batch survives power loss
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


class _Filters:
    """The WHERE clause of a page query over `calls`, with its parameters."""

    def __init__(self, app_id: str, query: PageQuery) -> None:
        self.clauses = ["app_id = ?"]
        self.params: list[Any] = [app_id]
        if query.call_type is not None:
            self.clauses.append("call_type = ?")
            self.params.append(query.call_type)
        if query.status is not None:
            self.clauses.append("status = ?")
            self.params.append(query.status)

    def between(self, lo: int | None, hi: int | None) -> tuple[str, list[Any]]:
        clauses, params = list(self.clauses), list(self.params)
        if lo is not None:
            clauses.append("call_date >= ?")
            params.append(lo)
        if hi is not None:
            clauses.append("call_date < ?")
            params.append(hi)
        return " AND ".join(clauses), params


class SqliteWriter(BatchWriter):
    def __init__(self, cursor: sqlite3.Cursor, app_id: str) -> None:
        self.cursor = cursor
        self.app_id = app_id

    def write(self, records: Sequence[StoredRecord]) -> IngestCounts:
        app_id, cursor = self.app_id, self.cursor
        counts = IngestCounts(received=len(records))
        existing = {
            row[0]: row[1:]
            for row in cursor.execute(
                "SELECT id, call_date, call_type, status, doc FROM calls"
                " WHERE app_id = ? AND id IN (SELECT value FROM json_each(?))",
                (app_id, msgspec.json.encode([r.id for r in records])),
            )
        }
        new: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, ...]] = []
        deltas: Counter[tuple[int, int, int]] = Counter()
        for r in sorted(records, key=lambda r: (r.call_date_ms, r.id)):
            old = existing.get(r.id)
            if old is None:
                new.append((app_id, r.call_date_ms, r.id, r.call_type, r.status, r.doc))
            elif old[3] == r.doc:
                counts.unchanged += 1
                continue
            else:
                changed.append((r.call_date_ms, r.call_type, r.status, r.doc, app_id, r.id))
                deltas[(bucket_of(old[0]), old[1], old[2])] -= 1
            deltas[(bucket_of(r.call_date_ms), r.call_type, r.status)] += 1
        cursor.executemany(
            "INSERT INTO calls (app_id, call_date, id, call_type, status, doc)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            new,
        )
        cursor.executemany(
            "UPDATE calls SET call_date = ?, call_type = ?, status = ?, doc = ?"
            " WHERE app_id = ? AND id = ?",
            changed,
        )
        cursor.executemany(
            "INSERT INTO call_counts (app_id, bucket, call_type, status, n) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (app_id, bucket, call_type, status) DO UPDATE SET n = n + excluded.n",
            [(app_id, *key, n) for key, n in deltas.items() if n],
        )
        counts.inserted, counts.updated = len(new), len(changed)
        return counts


class SqliteStore(Store):
    seek_min_offset = SEEK_MIN_OFFSET

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        return cls(create_sqlite_engine(url))

    @contextmanager
    def writer(self, app_id: str) -> Iterator[BatchWriter]:
        with self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as connection:
            with connection.begin():
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    yield SqliteWriter(cursor, app_id)
                finally:
                    cursor.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Cursor]:
        """One read transaction: every query in it sees the same snapshot."""
        with self.engine.connect() as connection, connection.begin():
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                yield cursor
            finally:
                cursor.close()

    def page(self, app_id: str, query: PageQuery) -> Page:
        filters = _Filters(app_id, query)
        with self._reading() as cursor:
            start = seek(
                query,
                lambda lo, hi: _count_range(cursor, filters, lo, hi),
                lambda lo, hi: _bucket_counts(cursor, app_id, query, lo, hi),
                self.seek_min_offset,
            )
            if start is None:
                return Page([], False)
            where, params = filters.between(start[0], query.end_ms)
            docs = [
                row[0]
                for row in cursor.execute(
                    "SELECT doc FROM calls WHERE app_id = ? AND (call_date, id) IN"
                    f" (SELECT call_date, id FROM calls WHERE {where}{_ORDER} LIMIT ? OFFSET ?)"
                    + _ORDER,
                    (app_id, *params, query.limit + 1, start[1]),
                )
            ]
        return Page(docs[: query.limit], len(docs) > query.limit)

    def iter_docs(self, app_id: str, query: PageQuery, chunk: int = 2_000) -> Iterator[bytes]:
        filters = _Filters(app_id, query)
        key: tuple[int, str] | None = None
        skip = query.offset
        while True:
            with self._reading() as cursor:
                where, params = filters.between(query.start_ms, query.end_ms)
                if key is None:
                    sql = f"SELECT call_date, id, doc FROM calls WHERE {where}{_ORDER} LIMIT ? OFFSET ?"
                    rows = cursor.execute(sql, (*params, chunk, skip)).fetchall()
                else:
                    sql = (
                        f"SELECT call_date, id, doc FROM calls WHERE {where}"
                        f" AND (call_date, id) > (?, ?){_ORDER} LIMIT ?"
                    )
                    rows = cursor.execute(sql, (*params, *key, chunk)).fetchall()
            for row in rows:
                yield row[2]
            if len(rows) < chunk:
                return
            key = (rows[-1][0], rows[-1][1])


def _count_range(cursor: sqlite3.Cursor, filters: _Filters, lo: int, hi: int) -> int:
    where, params = filters.between(lo, hi)
    return int(cursor.execute(f"SELECT count(*) FROM calls WHERE {where}", params).fetchone()[0])


def _bucket_counts(
    cursor: sqlite3.Cursor, app_id: str, query: PageQuery, lo: int | None, hi: int | None
) -> Iterator[tuple[int, int]]:
    clauses: list[str] = ["app_id = ?"]
    params: list[Any] = [app_id]
    for column, value in (("call_type", query.call_type), ("status", query.status)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for op, bound in ((">=", lo), ("<", hi)):
        if bound is not None:
            clauses.append(f"bucket {op} ?")
            params.append(bound)
    sql = (
        f"SELECT bucket, sum(n) FROM call_counts WHERE {' AND '.join(clauses)}"
        " GROUP BY bucket ORDER BY bucket"
    )
    # A cursor of its own: the caller stops reading early, and closing this generator closes it.
    own = cursor.connection.cursor()
    try:
        yield from own.execute(sql, params)
    finally:
        own.close()
