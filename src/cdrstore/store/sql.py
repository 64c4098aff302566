"""Records through plain SQL over a DB-API cursor: shared by the SQLite and PostgreSQL backends.

Both answer a page the same way: find where it starts (`paging.seek`, from the per-hour counts), pick
the page's keys in a narrow index, then fetch those records' stored JSON (a deferred join). Only the
placeholder style differs (`?` for sqlite3, `%s` for psycopg).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Engine

from ..query import PageQuery, StatsQuery
from ..validation import stored_facts
from . import changelog
from .base import Change, Page, RecordStore, RemovedApp, RetentionReport
from .codes import CALL_TYPE_CODES, STATUS_CODES
from .errors import UnknownApp
from .paging import SEEK_MIN_OFFSET, bucket_of, seek
from .plan import Derived, StoredRow, stored_record_row
from .schema import COUNT_BUCKET_MS, PARTY_BUCKET_MS, STATS_GRAINS_MS, STATUS_COLUMNS
from .stats import StatsReader

ORDER = " ORDER BY call_date, id"


def coded_filters(query: PageQuery) -> list[tuple[str, int]]:
    """The query's callType and status filters as (column, stored code)."""
    filters = []
    if query.call_type is not None:
        filters.append(("call_type", CALL_TYPE_CODES[query.call_type]))
    if query.status is not None:
        filters.append(("status", STATUS_CODES[query.status]))
    return filters


Key = tuple[int, str]
"""(callDate, id): where a record stands in page order."""


class Filters:
    """The WHERE clauses of a page query over `calls`, with their parameters.

    One index, (app_id, call_type, status, call_date, id), serves every filter in page order: a
    query that names both or neither is one range of it (or of the key), one that names only a
    callType or only a status is one range a value of the other, merged in page order
    (`SqlRecords._merged`), so no write pays for an index a single filter."""

    def __init__(self, app_id: str, query: PageQuery, mark: str) -> None:
        self.mark = mark
        self.app_id = app_id
        call_type = None if query.call_type is None else CALL_TYPE_CODES[query.call_type]
        status = None if query.status is None else STATUS_CODES[query.status]
        self.pairs: list[tuple[int, int]] = []  # none: every record
        if call_type is not None and status is not None:
            self.pairs = [(call_type, status)]
        elif call_type is not None:
            self.pairs = [(call_type, code) for code in sorted(STATUS_CODES.values())]
        elif status is not None:
            self.pairs = [(code, status) for code in sorted(CALL_TYPE_CODES.values())]

    def _where(
        self, pair: tuple[int, int] | None, lo: int | None, hi: int | None, after: Key | None
    ) -> tuple[str, list[Any]]:
        mark = self.mark
        clauses: list[str] = [f"app_id = {mark}"]
        params: list[Any] = [self.app_id]
        if pair is not None:
            clauses += [f"call_type = {mark}", f"status = {mark}"]
            params += pair
        for op, bound in ((">=", lo), ("<", hi)):
            if bound is not None:
                clauses.append(f"call_date {op} {mark}")
                params.append(bound)
        if after is not None:
            clauses.append(f"(call_date, id) > ({mark}, {mark})")
            params += after
        return " AND ".join(clauses), params

    def branches(
        self, lo: int | None, hi: int | None, after: Key | None = None
    ) -> list[tuple[str, list[Any]]]:
        """(WHERE, parameters) of each range whose rows, merged, are the page's rows in order
        (lo <= callDate < hi, and after a key if given)."""
        pairs: list[tuple[int, int] | None] = [*self.pairs] if self.pairs else [None]
        return [self._where(pair, lo, hi, after) for pair in pairs]

    def counted(self, lo: int, hi: int) -> tuple[str, list[Any]]:
        """One WHERE for the rows with lo <= callDate < hi, in no order (to count them): the
        pairs as lists of codes, each a descent of the index."""
        where, params = self._where(None, lo, hi, None)
        if self.pairs:
            types = ", ".join(sorted({str(t) for t, _ in self.pairs}))  # codes: integers
            statuses = ", ".join(sorted({str(s) for _, s in self.pairs}))
            where += f" AND call_type IN ({types}) AND status IN ({statuses})"
        return where, params


def number_keys(
    app_id: str, query: PageQuery, mark: str, after: tuple[int, str] | None
) -> tuple[str, list[Any]]:
    """The SELECT of the (call_date, id) of a number's calls matching the query (after a key, if
    given), in serving order, and its parameters: the search's own index alone."""
    clauses = [f"n.app_id = {mark}", f"n.number = {mark}"]
    params: list[Any] = [app_id, query.number]
    for op, bound in ((">=", query.start_ms), ("<", query.end_ms)):
        if bound is not None:
            clauses.append(f"n.call_date {op} {mark}")
            params.append(bound)
    if after is not None:
        clauses.append(f"(n.call_date, n.id) > ({mark}, {mark})")
        params.extend(after)
    for column, code in coded_filters(query):
        clauses.append(f"n.{column} = {mark}")
        params.append(code)
    return (
        f"SELECT n.call_date, n.id FROM call_numbers n WHERE {' AND '.join(clauses)}"
        " ORDER BY n.call_date, n.id",
        params,
    )


def count_range(cursor: Any, filters: Filters, lo: int, hi: int) -> int:
    where, params = filters.counted(lo, hi)
    cursor.execute(f"SELECT count(*) FROM calls WHERE {where}", params)
    return int(cursor.fetchone()[0])


def bucket_counts(
    own: Any, app_id: str, query: PageQuery, lo: int | None, hi: int | None, mark: str
) -> Iterator[tuple[int, int]]:
    clauses: list[str] = [f"app_id = {mark}"]
    params: list[Any] = [app_id]
    for column, code in coded_filters(query):
        clauses.append(f"{column} = {mark}")
        params.append(code)
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


class SqlRecords(RecordStore):
    """Pages, exports and retention for a backend reached through a DB-API cursor."""

    mark = "?"
    seek_min_offset = SEEK_MIN_OFFSET

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @abstractmethod
    def _reading(self, statements: int = 2) -> AbstractContextManager[Any]:
        """A cursor inside one read transaction (one snapshot for every query in it); a backend
        may spare the transaction when the caller runs one statement only (`statements=1`)."""

    def _merged(
        self, columns: str, branches: list[tuple[str, list[Any]]], limit: int, offset: int
    ) -> tuple[str, list[Any]]:
        """SELECT `columns` (which name call_date and id) of the rows of every branch, merged in
        page order, with LIMIT and OFFSET. SQLite merges a compound SELECT's ordered branches as
        it reads them (no sort)."""
        mark = self.mark
        sql = " UNION ALL ".join(f"SELECT {columns} FROM calls WHERE {w}" for w, _ in branches)
        params = [p for _, ps in branches for p in ps]
        return f"{sql}{ORDER} LIMIT {mark} OFFSET {mark}", [*params, limit, offset]

    def _page_sql(
        self, app_id: str, branches: list[tuple[str, list[Any]]], limit: int, offset: int
    ) -> tuple[str, list[Any]]:
        """The page's rows, ending in their documents, from the key at OFFSET on: picked in the
        narrow index first, then fetched (a deferred join), as SQLite computes every column of
        the rows OFFSET skips. Merged keys are joined, not listed: SQLite scanned the app's
        every record to test a row against a compound list (350 ms, against 3 to 7 ms joined)."""
        keys, params = self._merged("call_date, id", branches, limit, offset)
        mark = self.mark
        if len(branches) == 1:
            where = f"app_id = {mark} AND (call_date, id) IN ({keys})"
            return f"SELECT doc FROM calls WHERE {where}{ORDER}", [app_id, *params]
        return (
            f"SELECT k.call_date, k.id, c.doc FROM ({keys}) AS k CROSS JOIN calls AS c"
            f" ON c.app_id = {mark} AND c.call_date = k.call_date AND c.id = k.id",
            [*params, app_id],
        )

    def _streaming_cursor(self, cursor: Any) -> Any:
        """A second cursor in the same transaction, for a result read only until enough is seen."""
        return cursor.connection.cursor()

    @abstractmethod
    def _writing(self) -> AbstractContextManager[Any]:
        """A cursor inside one write transaction, committed when the block exits cleanly."""

    def _drop_partitions(
        self, app_ids: Sequence[str], cutoff_ms: int, dry_run: bool
    ) -> tuple[list[str], dict[str, int], int | None]:
        """Drop whole partitions older than the cutoff: their names, records removed by app, and
        the end of the last one (None if none)."""
        return [], {}, None

    @abstractmethod
    def _expire_identities(self, cursor: Any, app_id: str, cutoff_ms: int) -> list[str]:
        """The ids of the app's records older than the cutoff, called before they are deleted;
        forgotten here where the backend keeps identities apart."""

    @abstractmethod
    def _erase_rows(self, cursor: Any, app_id: str, keys: list[tuple[int, str]]) -> None:
        """Delete these (call_date, id) records of the app, identities included."""

    # The app's log entries after a position, each with its record's document if it exists
    # (parameters: app, position, limit).
    changes_sql = ""

    def _delete_identities(self, cursor: Any, app_id: str) -> None:
        """Forget every identity of the app, where the backend keeps them apart."""

    # How a writer holds the app's row while it writes: nothing more on SQLite, where one writer
    # at a time holds the whole database; on PostgreSQL a lock that `delete_app` waits for.
    lock_app_to_write = ""
    lock_app_to_delete = ""

    def _tokens_removed(self, cursor: Any) -> None:
        """Tell every process that tokens went, in the caller's transaction, where processes keep
        found tokens (PostgreSQL: tokencache.py)."""

    def _hold_app(self, cursor: Any, app_id: str) -> bool:
        """Hold the app for the caller's write transaction where the backend needs more than the
        row lock of `_require_app`; whether it did."""
        return False

    def _require_app(self, cursor: Any, app_id: str, lock: str) -> None:
        """UnknownApp unless the app exists, seen inside the caller's write transaction: records
        are never written for an app deleted meanwhile (they would come back with its ID)."""
        cursor.execute(f"SELECT 1 FROM apps WHERE app_id = {self.mark}{lock}", (app_id,))
        if cursor.fetchone() is None:
            raise UnknownApp(app_id)

    def delete_app(self, app_id: str) -> RemovedApp:
        mark = self.mark
        with self._writing() as cursor:
            self._hold_app(cursor, app_id)
            self._require_app(cursor, app_id, self.lock_app_to_delete)
            cursor.execute(f"DELETE FROM calls WHERE app_id = {mark}", (app_id,))
            records = max(cursor.rowcount, 0)
            for table in ("call_counts", *ROLLUPS, "call_numbers"):
                cursor.execute(f"DELETE FROM {table} WHERE app_id = {mark}", (app_id,))
            self._delete_identities(cursor, app_id)
            cursor.execute(f"DELETE FROM change_log WHERE app_id = {mark}", (app_id,))
            cursor.execute(f"DELETE FROM change_marks WHERE app_id = {mark}", (app_id,))
            cursor.execute(f"DELETE FROM change_heads WHERE app_id = {mark}", (app_id,))
            cursor.execute(f"DELETE FROM webhook_deliveries WHERE app_id = {mark}", (app_id,))
            cursor.execute(f"DELETE FROM webhook_subscriptions WHERE app_id = {mark}", (app_id,))
            cursor.execute(f"DELETE FROM tokens WHERE app_id = {mark}", (app_id,))
            tokens = max(cursor.rowcount, 0)
            self._tokens_removed(cursor)
            cursor.execute(f"DELETE FROM apps WHERE app_id = {mark}", (app_id,))
            if cursor.rowcount != 1:
                raise UnknownApp(app_id)  # rolls the transaction back
        return RemovedApp(records, tokens)

    def position(self, app_id: str, source: str) -> str | None:
        with self._reading() as cursor:
            cursor.execute(
                f"SELECT position FROM source_positions WHERE app_id = {self.mark}"
                f" AND source = {self.mark}",
                (app_id, source),
            )
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    def count_records(self, app_id: str) -> int:
        with self._reading() as cursor:
            cursor.execute(
                f"SELECT coalesce(sum(n), 0) FROM call_counts WHERE app_id = {self.mark}",
                (app_id,),
            )
            return int(cursor.fetchone()[0])

    def stats(self, app_id: str, query: StatsQuery) -> dict[int | str, list[int]]:
        with self._reading() as cursor:
            return StatsReader(cursor, self.mark, app_id, query).cells()

    def apply_retention(
        self, cutoff_ms: int, app_ids: Sequence[str], *, every_app: bool, dry_run: bool
    ) -> RetentionReport:
        dropped: list[str] = []
        removed: dict[str, int] = dict.fromkeys(app_ids, 0)
        counted_before = None
        if every_app:  # every app's retention allows dropping whole months
            dropped, by_app, counted_before = self._drop_partitions(app_ids, cutoff_ms, dry_run)
            for app, n in by_app.items():
                removed[app] = removed.get(app, 0) + n
        for app in app_ids:
            with self._writing() as cursor:
                gone = [] if dry_run else self._expire_identities(cursor, app, cutoff_ms)
                removed[app] += expire_rows(
                    cursor, app, cutoff_ms, self.mark, dry_run, counted_before if dry_run else None
                )
                changelog.append_changes(cursor, self.mark, app, changelog.deletes(gone))
        return RetentionReport(cutoff_ms, dry_run, removed, dropped)

    def changes(self, app_id: str, after: int, limit: int) -> list[Change]:
        with self._reading() as cursor:
            cursor.execute(self.changes_sql, (app_id, after, limit))
            return changelog.to_changes(cursor.fetchall())

    def change_bounds(self, app_id: str) -> tuple[int, int]:
        with self._reading() as cursor:
            return changelog.bounds(cursor, self.mark, app_id)

    def trim_changes(self, cutoff_ms: int) -> int:
        with self._reading() as cursor:
            cursor.execute("SELECT app_id FROM apps ORDER BY app_id")
            app_ids = [row[0] for row in cursor.fetchall()]
        removed = 0
        for app_id in app_ids:  # one app a transaction: every statement names its app
            with self._writing() as cursor:
                removed += changelog.trim(cursor, self.mark, app_id, cutoff_ms)
        return removed

    def erase(self, app_id: str, matches: Callable[[bytes], bool], *, dry_run: bool) -> list[str]:
        mark = self.mark
        with self._writing() as cursor:
            # The app's row locked as `delete_app` locks it: writers of the app wait, so no record
            # changes between reading and deleting.
            self._hold_app(cursor, app_id)
            self._require_app(cursor, app_id, self.lock_app_to_delete)
            hits = []
            scan = self._streaming_cursor(cursor)  # the app's records as they come, not all at once
            try:
                scan.execute(
                    f"SELECT call_date, id, call_type, status, doc FROM calls WHERE app_id = {mark}",
                    (app_id,),
                )
                while rows := scan.fetchmany(2_000):
                    found = ((d, i, t, s, bytes(doc)) for d, i, t, s, doc in rows)
                    hits += [hit for hit in found if matches(hit[4])]
            finally:
                scan.close()
            ids = sorted(i for _, i, _, _, _ in hits)
            if dry_run or not hits:
                return ids
            self._erase_rows(cursor, app_id, [(d, i) for d, i, _, _, _ in hits])
            taken_back = Derived()
            for call_date, call_id, call_type, status, doc in hits:
                stored = StoredRow(call_date, call_type, status, doc)
                taken_back.count(*stored_record_row(call_id, stored), -1)
            cursor.executemany(
                f"UPDATE call_counts SET n = n + {mark} WHERE app_id = {mark} AND bucket = {mark}"
                f" AND call_type = {mark} AND status = {mark}",
                [(n, app_id, *key) for *key, n in taken_back.count_changes()],
            )
            write_derived(cursor, mark, app_id, taken_back)
            changelog.append_changes(cursor, mark, app_id, changelog.deletes(ids))
        return ids

    def page(self, app_id: str, query: PageQuery) -> Page:
        if query.number is not None:
            return self._number_page(app_id, query)
        mark = self.mark
        filters = Filters(app_id, query, mark)
        # A page that needs no counts is one statement, consistent on its own.
        statements = 1 if query.offset < self.seek_min_offset else 2
        with self._reading(statements) as cursor:
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
            branches = filters.branches(start[0], query.end_ms)
            cursor.execute(*self._page_sql(app_id, branches, query.limit + 1, start[1]))
            rows = cursor.fetchall()
        if rows and len(rows[0]) > 1:  # keyed rows, in the order of the join: made sure of
            rows.sort(key=itemgetter(0, 1))
        docs = [bytes(row[-1]) for row in rows]
        return Page(docs[: query.limit], len(docs) > query.limit)

    def _number_page(self, app_id: str, query: PageQuery) -> Page:
        """A page of a number's calls: the search's index in serving order, skipped by a plain
        OFFSET (the per-hour counts that seek deep offsets know nothing of numbers)."""
        keys, params = number_keys(app_id, query, self.mark, None)
        with self._reading(1) as cursor:  # one statement: on PostgreSQL no BEGIN and ROLLBACK
            cursor.execute(
                f"SELECT doc FROM calls WHERE app_id = {self.mark} AND (call_date, id) IN"
                f" ({keys} LIMIT {self.mark} OFFSET {self.mark}){ORDER}",
                (app_id, *params, query.limit + 1, query.offset),
            )
            docs = [bytes(row[0]) for row in cursor.fetchall()]
        return Page(docs[: query.limit], len(docs) > query.limit)

    def _iter_number_docs(self, app_id: str, query: PageQuery, chunk: int) -> Iterator[bytes]:
        mark = self.mark
        key: tuple[int, str] | None = None
        while True:
            keys, params = number_keys(app_id, query, mark, key)
            skip = query.offset if key is None else 0
            with self._reading() as cursor:
                cursor.execute(
                    f"SELECT call_date, id, doc FROM calls WHERE app_id = {mark}"
                    f" AND (call_date, id) IN ({keys} LIMIT {mark} OFFSET {mark}){ORDER}",
                    (app_id, *params, chunk, skip),
                )
                rows = cursor.fetchall()
            for row in rows:
                yield bytes(row[2])
            if len(rows) < chunk:
                return
            key = (rows[-1][0], rows[-1][1])

    def iter_docs(self, app_id: str, query: PageQuery, chunk: int = 2_000) -> Iterator[bytes]:
        if query.number is not None:
            yield from self._iter_number_docs(app_id, query, chunk)
            return
        filters = Filters(app_id, query, self.mark)
        key: Key | None = None
        while True:
            branches = filters.branches(query.start_ms, query.end_ms, key)
            skip = query.offset if key is None else 0
            with self._reading() as cursor:
                cursor.execute(*self._merged("call_date, id, doc", branches, chunk, skip))
                rows = cursor.fetchall()
            for row in rows:
                yield bytes(row[2])
            if len(rows) < chunk:
                return
            key = (rows[-1][0], rows[-1][1])


def keep_position(cursor: Any, mark: str, app_id: str, source: str, position: str) -> None:
    """Record where a source was read up to, in the caller's write transaction."""
    cursor.execute(
        "INSERT INTO source_positions (app_id, source, position, updated_at)"
        f" VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (app_id, source)"
        " DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        (app_id, source, position, int(time.time())),
    )


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
    forget_numbers(cursor, mark, app_id, "calls", EARLIEST_MS, cutoff_ms)
    cursor.execute(
        f"DELETE FROM calls WHERE app_id = {mark} AND call_date < {mark}", (app_id, cutoff_ms)
    )
    expire_derived(cursor, app_id, cutoff_ms, mark)
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


# --- what the statistics and the number search keep beside the records ---------------------------
VECTOR_COLUMNS = (*STATUS_COLUMNS, "talk_ms")
# Each rollup: its buckets' widths and the columns of its key after (app_id, [grain,] bucket).
ROLLUPS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "call_stats": (STATS_GRAINS_MS, ("call_type", "direction")),
    "call_party_stats": ((PARTY_BUCKET_MS,), ("call_type", "direction", "agent", "department")),
}
GRAINED = "call_stats"  # the rollup whose key holds its bucket's width
COUNT_KEYS = ("bucket", "call_type", "status")  # the per-hour counts' key after app_id


INSERT_NUMBERS = (
    "INSERT INTO call_numbers (app_id, number, call_date, id, call_type, status)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _grain(table: str) -> tuple[str, ...]:
    return ("grain",) if table == GRAINED else ()


def rollup_keys(table: str) -> tuple[str, ...]:
    """A rollup's key columns after app_id."""
    return (*_grain(table), "bucket", *ROLLUPS[table][1])


def _upsert(table: str, mark: str) -> str:
    keys = rollup_keys(table)
    columns = ("app_id", *keys, *VECTOR_COLUMNS)
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in VECTOR_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        f" ON CONFLICT (app_id, {', '.join(keys)}) DO UPDATE SET {added}"
    )


def write_derived(
    cursor: Any, mark: str, app_id: str, derived: Derived, numbers: bool = True
) -> None:
    """Move the statistics (and, unless the caller does it its own way, the number search) by
    what a write changed, in its transaction."""
    if numbers and derived.numbers_removed:
        cursor.executemany(
            f"DELETE FROM call_numbers WHERE app_id = {mark} AND number = {mark}"
            f" AND call_date = {mark} AND id = {mark}",
            [(app_id, *row) for row in derived.numbers_removed],
        )
    # In the index's order: placed one after another, not all over it (import +10%, SQLite).
    added = sorted(derived.numbers_added) if numbers else []
    if added:
        cursor.executemany(INSERT_NUMBERS.replace("?", mark), [(app_id, *row) for row in added])
    for table, changes in (
        ("call_stats", derived.stats_changes()),
        ("call_party_stats", derived.party_changes()),
    ):
        if changes:
            cursor.executemany(_upsert(table, mark), [(app_id, *change) for change in changes])


def _status_sums(prefix: str = "") -> str:
    """One sum a status column (as the rollups hold them) over rows of `calls`, then the talk."""
    counts = [
        f"sum(CASE WHEN {prefix}status = {code} THEN 1 ELSE 0 END)"
        for code in sorted(STATUS_CODES.values())
    ]
    return ", ".join([*counts, f"sum({prefix}talk_ms)"])


# Before any record's callDate (year 1 is -62,135,596,800,000 ms).
EARLIEST_MS = -(2**62)
_FORGET_CHUNK = 2_000


def forget_numbers(cursor: Any, mark: str, app_id: str, table: str, lo: int, hi: int) -> None:
    """Delete the number search's rows of the app's records in `table` (`calls` or one of its
    partitions) with lo <= callDate < hi, before the records go. The search is keyed by number,
    not by date: the numbers are read from the records' documents, a chunk at a time, so that
    no write pays for an index by date that only retention would use."""
    after: tuple[int, str] = (lo - 1, "")
    while True:
        cursor.execute(
            f"SELECT call_date, id, doc FROM {table} WHERE app_id = {mark}"
            f" AND call_date >= {mark} AND call_date < {mark}"
            f" AND (call_date, id) > ({mark}, {mark}) ORDER BY call_date, id LIMIT {_FORGET_CHUNK}",
            (app_id, lo, hi, *after),
        )
        rows = cursor.fetchall()
        if not rows:
            return
        cursor.executemany(
            f"DELETE FROM call_numbers WHERE app_id = {mark} AND number = {mark}"
            f" AND call_date = {mark} AND id = {mark}",
            [
                (app_id, number, call_date, call_id)
                for call_date, call_id, doc in rows
                for number in stored_facts(bytes(doc)).numbers
            ],
        )
        after = (rows[-1][0], rows[-1][1])


def expire_derived(cursor: Any, app_id: str, cutoff_ms: int, mark: str) -> None:
    """After an app's records before the cutoff are deleted (their number search rows first, by
    `forget_numbers`): the rollups' buckets before the cutoff dropped, the one it falls in rebuilt
    from what remains."""
    for table, (widths, keys) in ROLLUPS.items():
        grained = table == GRAINED
        for width in widths:
            cut = cutoff_ms // width
            grain = f" AND grain = {width}" if grained else ""
            cursor.execute(
                f"DELETE FROM {table} WHERE app_id = {mark}{grain} AND bucket <= {mark}",
                (app_id, cut),
            )
            columns = ", ".join((*_grain(table), "bucket", *keys))
            chosen = ", ".join((*([str(width)] if grained else []), mark, *keys))
            cursor.execute(
                f"INSERT INTO {table} (app_id, {columns}, {', '.join(VECTOR_COLUMNS)})"
                f" SELECT app_id, {chosen}, {_status_sums()} FROM calls"
                f" WHERE app_id = {mark} AND call_date >= {mark} AND call_date < {mark}"
                f" GROUP BY app_id, {', '.join(keys)}",
                (cut, app_id, cut * width, (cut + 1) * width),
            )
