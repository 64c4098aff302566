"""Reading pages with plain SQL over a DB-API cursor: shared by the SQLite and PostgreSQL backends.

Both answer a page the same way: find where it starts (`paging.seek`, from the per-hour counts), pick
the page's keys in a narrow index, then fetch those records' stored JSON (a deferred join). Only the
placeholder style differs (`?` for sqlite3, `%s` for psycopg).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from .base import Page, PageQuery, RetentionReport, Store
from .paging import SEEK_MIN_OFFSET, bucket_of, seek
from .schema import COUNT_BUCKET_MS

ORDER = " ORDER BY call_date, id"


class Filters:
    """The WHERE clause of a page query over `calls`, with its parameters."""

    def __init__(self, app_id: str, query: PageQuery, mark: str) -> None:
        self.mark = mark
        self.clauses = [f"app_id = {mark}"]
        self.params: list[Any] = [app_id]
        if query.call_type is not None:
            self.clauses.append(f"call_type = {mark}")
            self.params.append(query.call_type)
        if query.status is not None:
            self.clauses.append(f"status = {mark}")
            self.params.append(query.status)

    def between(self, lo: int | None, hi: int | None) -> tuple[str, list[Any]]:
        clauses, params = list(self.clauses), list(self.params)
        if lo is not None:
            clauses.append(f"call_date >= {self.mark}")
            params.append(lo)
        if hi is not None:
            clauses.append(f"call_date < {self.mark}")
            params.append(hi)
        return " AND ".join(clauses), params


def count_range(cursor: Any, filters: Filters, lo: int, hi: int) -> int:
    where, params = filters.between(lo, hi)
    cursor.execute(f"SELECT count(*) FROM calls WHERE {where}", params)
    return int(cursor.fetchone()[0])


def bucket_counts(
    own: Any, app_id: str, query: PageQuery, lo: int | None, hi: int | None, mark: str
) -> Iterator[tuple[int, int]]:
    clauses: list[str] = [f"app_id = {mark}"]
    params: list[Any] = [app_id]
    for column, value in (("call_type", query.call_type), ("status", query.status)):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    for op, bound in ((">=", lo), ("<", hi)):
        if bound is not None:
            clauses.append(f"bucket {op} {mark}")
            params.append(bound)
    sql = (
        f"SELECT bucket, sum(n) FROM call_counts WHERE {' AND '.join(clauses)}"
        " GROUP BY bucket ORDER BY bucket"
    )
    # `own` is a cursor of its own: the caller stops reading early, and closing this generator
    # closes it.
    try:
        own.execute(sql, params)
        for bucket, records in own:
            yield int(bucket), int(records)
    finally:
        own.close()


class SqlStore(Store):
    """Pages and exports for a backend reached through a DB-API cursor."""

    mark = "?"
    seek_min_offset = SEEK_MIN_OFFSET
    _swept_at = 0.0

    def _count_sql(self) -> str:
        """One statement counts a request and opens a new window once the old one has passed
        (SET expressions read the row as it was)."""
        m = self.mark
        return (
            f"INSERT INTO rate_windows (key, started, used) VALUES ({m}, {m}, 1)"
            " ON CONFLICT (key) DO UPDATE SET"
            f" used = CASE WHEN rate_windows.started <= {m} THEN 1 ELSE rate_windows.used + 1 END,"
            f" started = CASE WHEN rate_windows.started <= {m}"
            " THEN excluded.started ELSE rate_windows.started END"
            " RETURNING used, started"
        )

    def _count_in(self, cursor: Any, key: str, now: float, window: float) -> tuple[int, float]:
        cursor.execute(self._count_sql(), (key, now, now - window, now - window))
        used, started = cursor.fetchone()
        return int(used), float(started)

    def _sweep_due(self, now: float, window: float) -> bool:
        """Whether to forget the windows of tokens no longer calling (once a window a process)."""
        if now - self._swept_at < window:
            return False
        self._swept_at = now
        return True

    def _sweep_sql(self) -> str:
        return f"DELETE FROM rate_windows WHERE started < {self.mark}"

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A cursor inside one read transaction (one snapshot for every query in it)."""

    def _streaming_cursor(self, cursor: Any) -> Any:
        """A second cursor in the same transaction, for a result read only until enough is seen."""
        return cursor.connection.cursor()

    @abstractmethod
    def _writing(self) -> AbstractContextManager[Any]:
        """A cursor inside one write transaction, committed when the block exits cleanly."""

    def _drop_partitions(
        self, cutoff_ms: int, dry_run: bool
    ) -> tuple[list[str], dict[str, int], int | None]:
        """Drop whole partitions older than the cutoff: their names, records removed by app, and
        the end of the last one (None if none)."""
        return [], {}, None

    def _expire_identities(self, cursor: Any, app_id: str, cutoff_ms: int) -> None:
        """Forget the identities of expired records, where the backend keeps them apart."""

    def apply_retention(
        self, cutoff_ms: int, app_id: str | None = None, dry_run: bool = False
    ) -> RetentionReport:
        apps = [app_id] if app_id else [app.app_id for app, _ in self.list_apps()]
        dropped: list[str] = []
        removed: dict[str, int] = dict.fromkeys(apps, 0)
        counted_before = None
        if app_id is None:  # every app's retention allows dropping whole months
            dropped, by_app, counted_before = self._drop_partitions(cutoff_ms, dry_run)
            for app, n in by_app.items():
                removed[app] = removed.get(app, 0) + n
        for app in apps:
            with self._writing() as cursor:
                removed[app] += expire_rows(
                    cursor, app, cutoff_ms, self.mark, dry_run, counted_before if dry_run else None
                )
                if not dry_run:
                    self._expire_identities(cursor, app, cutoff_ms)
        return RetentionReport(cutoff_ms, dry_run, removed, dropped)

    def page(self, app_id: str, query: PageQuery) -> Page:
        mark = self.mark
        filters = Filters(app_id, query, mark)
        with self._reading() as cursor:
            start = seek(
                query,
                lambda lo, hi: count_range(cursor, filters, lo, hi),
                lambda lo, hi: bucket_counts(
                    self._streaming_cursor(cursor), app_id, query, lo, hi, mark
                ),
                self.seek_min_offset,
            )
            if start is None:
                return Page([], False)
            where, params = filters.between(start[0], query.end_ms)
            cursor.execute(
                f"SELECT doc FROM calls WHERE app_id = {mark} AND (call_date, id) IN"
                f" (SELECT call_date, id FROM calls WHERE {where}{ORDER} LIMIT {mark} OFFSET {mark})"
                + ORDER,
                (app_id, *params, query.limit + 1, start[1]),
            )
            docs = [bytes(row[0]) for row in cursor.fetchall()]
        return Page(docs[: query.limit], len(docs) > query.limit)

    def iter_docs(self, app_id: str, query: PageQuery, chunk: int = 2_000) -> Iterator[bytes]:
        mark = self.mark
        filters = Filters(app_id, query, mark)
        where, params = filters.between(query.start_ms, query.end_ms)
        key: tuple[int, str] | None = None
        while True:
            with self._reading() as cursor:
                if key is None:
                    cursor.execute(
                        f"SELECT call_date, id, doc FROM calls WHERE {where}{ORDER}"
                        f" LIMIT {mark} OFFSET {mark}",
                        (*params, chunk, query.offset),
                    )
                else:
                    cursor.execute(
                        f"SELECT call_date, id, doc FROM calls WHERE {where}"
                        f" AND (call_date, id) > ({mark}, {mark}){ORDER} LIMIT {mark}",
                        (*params, *key, chunk),
                    )
                rows = cursor.fetchall()
            for row in rows:
                yield bytes(row[2])
            if len(rows) < chunk:
                return
            key = (rows[-1][0], rows[-1][1])


def expire_rows(
    cursor: Any, app_id: str, cutoff_ms: int, mark: str, dry_run: bool, counted_before: int | None
) -> int:
    """Delete one app's records older than the cutoff (and their counts); how many there were.

    Whole hours before the cutoff are counted from `call_counts`; the hour the cutoff falls in is
    counted row by row and its counts recomputed from what remains. Records before
    `counted_before` were already counted (in partitions a dry run would drop).
    """
    cut_bucket = bucket_of(cutoff_ms)
    lo, hi = cut_bucket * COUNT_BUCKET_MS, (cut_bucket + 1) * COUNT_BUCKET_MS
    first = bucket_of(counted_before) if counted_before is not None else None
    cursor.execute(
        f"SELECT coalesce(sum(n), 0) FROM call_counts WHERE app_id = {mark} AND bucket < {mark}"
        + (f" AND bucket >= {mark}" if first is not None else ""),
        (app_id, cut_bucket) if first is None else (app_id, cut_bucket, first),
    )
    whole = int(cursor.fetchone()[0])
    cursor.execute(
        f"SELECT count(*) FROM calls WHERE app_id = {mark} AND call_date >= {mark}"
        f" AND call_date < {mark}",
        (app_id, lo, cutoff_ms),
    )
    removed = whole + int(cursor.fetchone()[0])
    if dry_run or not removed:
        return removed
    cursor.execute(
        f"DELETE FROM calls WHERE app_id = {mark} AND call_date < {mark}", (app_id, cutoff_ms)
    )
    cursor.execute(
        f"DELETE FROM call_counts WHERE app_id = {mark} AND bucket <= {mark}", (app_id, cut_bucket)
    )
    cursor.execute(
        "INSERT INTO call_counts (app_id, bucket, call_type, status, n)"
        f" SELECT app_id, {mark}, call_type, status, count(*) FROM calls"
        f" WHERE app_id = {mark} AND call_date >= {mark} AND call_date < {mark}"
        " GROUP BY app_id, call_type, status",
        (cut_bucket, app_id, lo, hi),
    )
    return removed
