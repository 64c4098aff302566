"""The embedded backend: one SQLite file in WAL mode.

Writers take the database lock up front (BEGIN IMMEDIATE), so reading which ids exist and writing
the batch happen in one serialised transaction and two concurrent batches cannot both insert an id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import msgspec
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from ..record import IngestSummary
from . import Store, changelog
from .base import BatchWriter
from .errors import register_driver
from .plan import CALL_COLUMNS, PreparedBatch, StoredRow, plan_batch
from .sql import INSERT_NUMBERS, SqlRecords, keep_position, write_derived
from .windows import SqliteWindows, counts_file

register_driver(sqlite3.Error, sqlite3.OperationalError)

BUSY_TIMEOUT_MS = 30_000
PAGE_CACHE_KIB = 65_536  # a connection's page cache, unless a writer asks for more
# The stored form of a batch's ids that exist already. CROSS JOIN fixes the loop order: probe the
# (app_id, id) index once per id; given `id IN (...)` the planner walked the app's whole table instead
# (measured: 2,800 records/s POSTed into a 1,000,000-record store).
EXISTING_SQL = (
    "SELECT c.id, c.call_date, c.call_type, c.status, c.doc"
    " FROM json_each(?) AS j CROSS JOIN calls AS c WHERE c.app_id = ? AND c.id = j.value"
)


def create_sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=8, max_overflow=24, hide_parameters=True)

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
        # Reads through a memory map (no copy out of the OS cache) and a larger page cache: a
        # 500-record page at offset 0 drops from 2.7 to 1.6 ms on a 1,000,000-record store.
        cursor.execute("PRAGMA mmap_size = 1073741824")
        cursor.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


class SqliteStaged(NamedTuple):
    """What writing a prepared batch sends when its records are all new, worked out without the
    database (`SqliteWriter.stage`, while the batch before is being written)."""

    batch: PreparedBatch
    ids: bytes  # the ids, a JSON array: EXISTING_SQL's parameter
    calls: list[tuple[object, ...]]  # rows of `calls`
    numbers: list[tuple[object, ...]]  # rows of `call_numbers`, in its key order


INSERT_CALLS = (
    f"INSERT INTO calls (app_id, {', '.join(CALL_COLUMNS)})"
    f" VALUES ({', '.join('?' * (len(CALL_COLUMNS) + 1))})"
)
# A changed record: every column but its id, in CALL_COLUMNS order, then app_id and id.
UPDATE_CALLS = (
    f"UPDATE calls SET {', '.join(f'{c} = ?' for c in CALL_COLUMNS if c != 'id')}"
    " WHERE app_id = ? AND id = ?"
)


class SqliteWriter(BatchWriter):
    def __init__(self, cursor: sqlite3.Cursor, app_id: str) -> None:
        self.cursor = cursor
        self.app_id = app_id

    def stage(self, batch: PreparedBatch) -> SqliteStaged:
        app_id = self.app_id
        return SqliteStaged(
            batch,
            msgspec.json.encode([row[1] for row in batch.rows]),
            [(app_id, *row) for row in batch.rows],
            [(app_id, *row) for row in batch.derived.numbers_added],
        )

    def write_staged(self, staged: object) -> IngestSummary:
        assert isinstance(staged, SqliteStaged)
        app_id, cursor, batch = self.app_id, self.cursor, staged.batch
        stored = {
            row[0]: StoredRow(*row[1:])
            for row in cursor.execute(EXISTING_SQL, (staged.ids, app_id))
        }
        plan = plan_batch(batch, stored)
        as_staged = not stored  # every record new (the usual case): what was staged is what goes
        new = staged.calls if as_staged else [(app_id, *row) for row in plan.new]
        cursor.executemany(INSERT_CALLS, new)
        cursor.executemany(
            UPDATE_CALLS,
            [(row[0], *row[2:], app_id, row[1]) for row, _ in plan.changed],
        )
        cursor.executemany(
            "INSERT INTO call_counts (app_id, bucket, call_type, status, n) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (app_id, bucket, call_type, status) DO UPDATE SET n = n + excluded.n",
            [(app_id, *change) for change in plan.derived.count_changes()],
        )
        if as_staged:
            cursor.executemany(INSERT_NUMBERS, staged.numbers)
        write_derived(cursor, "?", app_id, plan.derived, numbers=not as_staged)
        # One writer holds the database at a time: positions taken here commit in their order.
        changelog.append_changes(cursor, "?", app_id, plan.change_entries())
        return plan.summary(len(batch))

    def keep_position(self, source: str, position: str) -> None:
        keep_position(self.cursor, "?", self.app_id, source, position)


class SqliteRecords(SqlRecords):
    mark = "?"
    changes_sql = (
        "SELECT l.position, l.op, l.id, c.doc, l.logged_at FROM change_log AS l"
        " LEFT JOIN calls AS c ON c.app_id = l.app_id AND c.id = l.id"
        " WHERE l.app_id = ? AND l.position > ? ORDER BY l.position LIMIT ?"
    )

    def _expire_identities(self, cursor: sqlite3.Cursor, app_id: str, cutoff_ms: int) -> list[str]:
        cursor.execute(
            "SELECT id FROM calls WHERE app_id = ? AND call_date < ?", (app_id, cutoff_ms)
        )
        return [row[0] for row in cursor.fetchall()]

    def _erase_rows(self, cursor: sqlite3.Cursor, app_id: str, keys: list[tuple[int, str]]) -> None:
        cursor.executemany(
            "DELETE FROM calls WHERE app_id = ? AND call_date = ? AND id = ?",
            [(app_id, *key) for key in keys],
        )

    def refresh_statistics(self) -> None:
        # Nothing: these queries are planned from the indexes alone (measured fast without
        # sqlite_stat1), and statistics could only move the planner off the plans measured.
        return None

    @contextmanager
    def _writing(self, cache_mb: int | None = None) -> Iterator[sqlite3.Cursor]:
        with self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as connection:
            with connection.begin():
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                if cache_mb is not None:
                    # Filled only as pages are touched; once the pages of the indexes written in
                    # random order (identities, number search) no longer fit, each insert reads
                    # one back and, the cache full, writes another out to the WAL: importing a
                    # million records into nine million took 101 s with 64 MiB, 54 s with 2 GiB.
                    cursor.execute(f"PRAGMA cache_size = -{cache_mb * 1024}")
                try:
                    yield cursor
                finally:
                    if cache_mb is not None:  # the pooled connection gives the memory back
                        cursor.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
                    cursor.close()

    @contextmanager
    def writer(self, app_id: str, cache_mb: int | None = None) -> Iterator[BatchWriter]:
        with self._writing(cache_mb) as cursor:
            self._require_app(cursor, app_id, self.lock_app_to_write)
            yield SqliteWriter(cursor, app_id)

    @contextmanager
    def _reading(self, statements: int = 2) -> Iterator[sqlite3.Cursor]:
        """One read transaction: every query in it sees the same snapshot."""
        with self.engine.connect() as connection, connection.begin():
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                yield cursor
            finally:
                cursor.close()


def sqlite_store(engine: Engine) -> Store:
    return Store(
        engine,
        SqliteRecords(engine),
        SqliteWindows(counts_file(engine.url.database)),
        migrates_itself=True,
    )
