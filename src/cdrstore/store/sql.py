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

from .base import Page, PageQuery, Store
from .paging import SEEK_MIN_OFFSET, seek

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
    cursor: Any, app_id: str, query: PageQuery, lo: int | None, hi: int | None, mark: str
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
    # A cursor of its own: the caller stops reading early, and closing this generator closes it.
    own = cursor.connection.cursor()
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

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A cursor inside one read transaction (one snapshot for every query in it)."""

    def page(self, app_id: str, query: PageQuery) -> Page:
        mark = self.mark
        filters = Filters(app_id, query, mark)
        with self._reading() as cursor:
            start = seek(
                query,
                lambda lo, hi: count_range(cursor, filters, lo, hi),
                lambda lo, hi: bucket_counts(cursor, app_id, query, lo, hi, mark),
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
