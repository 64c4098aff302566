"""Rate-limit windows in the database: one counter a key, seen by every worker process alike.

A window opens at a key's first request and lasts `window` seconds; one statement counts a request
and opens a new window once the old one has passed. Both backends implement `WindowCounter`, the
protocol the API's rate limiter counts through (Redis implements it too, in `api/ratelimit.py`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateTable

from .errors import translating
from .schema import rate_windows

log = logging.getLogger("cdrstore.store")

BUSY_TIMEOUT_S = 30.0


class WindowCounter(Protocol):
    def hit(self, key: str, now: float, window: float) -> tuple[int, float]:
        """Count one request for `key`; the requests in its window so far, and when it opened."""
        ...


def count_sql(mark: str) -> str:
    """Count a request, reopening an expired window (SET expressions read the row as it was)."""
    return (
        f"INSERT INTO rate_windows (key, started, used) VALUES ({mark}, {mark}, 1)"
        " ON CONFLICT (key) DO UPDATE SET"
        f" used = CASE WHEN rate_windows.started <= {mark} THEN 1 ELSE rate_windows.used + 1 END,"
        f" started = CASE WHEN rate_windows.started <= {mark}"
        " THEN excluded.started ELSE rate_windows.started END"
        " RETURNING used, started"
    )


def _count(cursor: Any, mark: str, key: str, now: float, window: float) -> tuple[int, float]:
    cursor.execute(count_sql(mark), (key, now, now - window, now - window))
    used, started = cursor.fetchone()
    return int(used), float(started)


class _Sweeper:
    """Forget the windows of keys no longer counting: once a window a process."""

    def __init__(self) -> None:
        self._swept_at = 0.0

    def due(self, now: float, window: float) -> bool:
        if now - self._swept_at < window:
            return False
        self._swept_at = now
        return True


def counts_file(database: str | None) -> str:
    """Where an SQLite database's windows live: `<file>.ratelimit`, or in memory beside an in-memory
    database. A file of their own: every worker process sees them, and counting never waits for
    the database's write lock (an ingest holds it for a second)."""
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    return ":memory:" if in_memory else f"{database}.ratelimit"


def open_counts_file(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    for attempt in range(100):
        try:
            # Switching a new file to WAL is not covered by the busy timeout: workers starting
            # together can find it locked for a moment.
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                conn.close()
                raise
            time.sleep(0.05)
    # NORMAL: in WAL mode no sync a commit, and unlike OFF no corrupt file after a power cut.
    conn.execute("PRAGMA synchronous = NORMAL")
    ddl = str(
        CreateTable(rate_windows, if_not_exists=True).compile(dialect=sqlite_dialect.dialect())
    )
    conn.execute(ddl)
    return conn


class SqliteWindows:
    """Windows in `<database>.ratelimit`; a file found unreadable is started afresh."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._sweeper = _Sweeper()

    @translating
    def hit(self, key: str, now: float, window: float) -> tuple[int, float]:
        with self._lock:
            try:
                return self._hit(key, now, window)
            except sqlite3.OperationalError:
                raise  # locked, busy, unreadable: a fault of the moment (503), not of the file
            except sqlite3.DatabaseError as exc:
                # Not a database any more (a torn write, a stray copy): counts are worth nothing
                # next to serving, so start them afresh.
                log.warning("rate-limit counts file unreadable (%s); starting it afresh", exc)
                self._discard()
                return self._hit(key, now, window)

    def _hit(self, key: str, now: float, window: float) -> tuple[int, float]:
        if self._conn is None:
            self._conn = open_counts_file(self._path)
        cursor = self._conn.cursor()
        try:
            counted = _count(cursor, "?", key, now, window)
            if self._sweeper.due(now, window):
                cursor.execute("DELETE FROM rate_windows WHERE started < ?", (now - window,))
            return counted
        finally:
            cursor.close()

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(self._path + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresWindows:
    """Windows in the UNLOGGED table `rate_windows`, committed without waiting for the disk."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sweeper = _Sweeper()

    @translating
    def hit(self, key: str, now: float, window: float) -> tuple[int, float]:
        with self._engine.connect() as connection:
            conn: Any = connection.connection.driver_connection
            try:
                # A count lost to a crash costs nothing, and every request pays for this one.
                conn.execute("SET LOCAL synchronous_commit = off")
                with conn.cursor() as cursor:
                    counted = _count(cursor, "%s", key, now, window)
                conn.commit()
                if self._sweeper.due(now, window):  # a transaction of its own, after the count's
                    conn.execute("SET LOCAL synchronous_commit = off")
                    # Rows another worker is counting in are left for the next sweep: two sweeps
                    # at once would otherwise each wait for a row the other holds (a deadlock).
                    conn.execute(
                        "DELETE FROM rate_windows WHERE key IN (SELECT key FROM rate_windows"
                        " WHERE started < %s FOR UPDATE SKIP LOCKED)",
                        (now - window,),
                    )
                    conn.commit()
                return counted
            except BaseException:
                conn.rollback()
                raise

    def close(self) -> None:
        return None
