"""Where a write's time goes: the seconds of each statement, summed by what it does (its first three
words: `INSERT INTO calls`, `COPY call_numbers (app_id,`), on either backend.

    python -m bench.ingest --breakdown             (SQLite: the write floor's statements)
    python -m bench.ingest_postgres --breakdown    (PostgreSQL: the write path's statements)
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


class StatementTimes:
    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def timing(self, statement: object) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            words = str(statement).split()
            self.seconds[" ".join(words[:3])] += time.perf_counter() - start

    def report(self, records: int, total: float, rest: str) -> str:
        """One line a kind of statement, the largest first, then what the statements leave
        of `total` (`rest` names it), each in seconds, us a record and share of the total."""
        lines = [
            f"  {name:32s} {s:6.2f} s {s / records * 1e6:6.1f} us/record {s / total:6.1%}"
            for name, s in self.seconds.most_common()
        ]
        left = total - sum(self.seconds.values())
        lines.append(
            f"  {rest:32s} {left:6.2f} s {left / records * 1e6:6.1f} us/record {left / total:6.1%}"
        )
        return "\n".join(lines)


class TimedSqliteCursor:
    """A sqlite3 cursor whose statements are timed (sqlite3's own cursor cannot be subclassed
    into a connection's writer after the fact)."""

    def __init__(self, cursor: sqlite3.Cursor, times: StatementTimes) -> None:
        self._cursor = cursor
        self._times = times

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        with self._times.timing(sql):
            return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        with self._times.timing(sql):
            return self._cursor.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def timed_pg_cursor(times: StatementTimes) -> type[psycopg.Cursor[Any]]:
    """A psycopg cursor class (a connection's `cursor_factory`) whose statements and COPYs are
    timed, a COPY from its start to its end."""

    class TimedCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> TimedCursor:
            with times.timing(query):
                super().execute(query, *args, **kwargs)
            return self

        @contextmanager
        def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            with times.timing(statement), super().copy(statement, *args, **kwargs) as copy:
                yield copy

    return TimedCursor
