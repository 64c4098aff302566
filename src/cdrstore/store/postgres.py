"""The production backend: PostgreSQL 15+ through psycopg 3, pooled by SQLAlchemy.

- `calls` is range-partitioned by call_date, one partition a month, attached on demand (ATTACH takes
  only a SHARE UPDATE EXCLUSIVE lock on the parent, so readers and writers carry on; an advisory lock
  makes concurrent creators take turns).
- A partitioned table cannot enforce (app_id, id) across partitions: `call_ids` does, and says which
  call_date (so which partition) each record lives at. A re-ingested record that moves to another
  month is deleted from its old place and inserted at its new one, in the same transaction.
- A batch is loaded with COPY into a temporary staging table, then merged. New identities are claimed
  with INSERT ... ON CONFLICT DO NOTHING in id order (a concurrent writer of the same id waits, then
  sees it as existing), existing ones are locked in id order, so two writers never both insert an id
  and never deadlock on identities; a deadlock or serialization failure elsewhere is retried.
- The change log entries a transaction makes wait in a temporary table until it commits; only then
  are the app's positions taken (`changelog.take_positions`), so the head row is the last lock a
  writer takes and is held for the shortest time, however many batches the transaction writes.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine, make_url

from ..record import IngestSummary, StoredRecord
from . import Store, changelog
from .base import BatchWriter, SourcePosition, write_batch
from .codes import CALL_TYPE_CODES, STATUS_CODES
from .errors import register_driver
from .paging import bucket_of
from .plan import BatchPlan, StoredRow, plan_batch
from .schema import calls
from .sql import SqlRecords, keep_position
from .windows import PostgresWindows

register_driver(psycopg.Error, psycopg.OperationalError)
log = logging.getLogger("cdrstore.store")

PARTITION_LOCK: Final = 0x0C_D5_70_2E  # advisory lock key: "creating partitions of calls"
RETRIES: Final = 5
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
T = TypeVar("T")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def engine_url(url: str) -> str:
    """`postgresql://...` as SQLAlchemy's psycopg 3 dialect spells it."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create_postgres_engine(url: str) -> Engine:
    return create_engine(
        engine_url(url),
        pool_size=8,
        max_overflow=16,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def month_of(epoch_ms: int) -> int:
    """Months since year 0: the partition a call_date belongs to."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.year * 12 + moment.month - 1


def month_bounds(month: int) -> tuple[int, int]:
    """[start, end) of a month in epoch ms; days counted, not dates, so that December 9999 (the
    last month a record may fall in) ends where year 10000, which no datetime holds, would begin."""
    year, index = divmod(month, 12)
    start = datetime(year, index + 1, 1, tzinfo=UTC)
    days = calendar.monthrange(year, index + 1)[1]
    end = start - _EPOCH + timedelta(days=days)
    return (start - _EPOCH) // timedelta(milliseconds=1), end // timedelta(milliseconds=1)


def partition_name(month: int) -> str:
    year, index = divmod(month, 12)
    return f"calls_y{year:04d}m{index + 1:02d}"


def _stage_ddl() -> str:
    """A batch's staging table: the columns of `calls` but the app's, as the schema types them."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    columns = ", ".join(
        f"{column.name} {column.type.compile(dialect=dialect)}"
        for column in calls.columns
        if column.name != "app_id"
    )
    return f"CREATE TEMP TABLE IF NOT EXISTS stage ({columns}) ON COMMIT DELETE ROWS"


STAGE_DDL: Final = _stage_ddl()
# A transaction's change log entries until it commits, in the order logged (`seq` from 0).
PENDING_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS pending_changes"
    ' (seq bigint, op smallint, id text COLLATE "C") ON COMMIT DELETE ROWS'
)


class PostgresWriter(BatchWriter):
    def __init__(
        self, store: PostgresRecords, connection: psycopg.Connection[Any], app_id: str
    ) -> None:
        self.store = store
        self.connection = connection
        self.app_id = app_id
        self.pending = 0  # change log entries waiting in pending_changes

    def write(self, records: Sequence[StoredRecord]) -> IngestSummary:
        if not records:
            return IngestSummary.empty()
        self.store.ensure_partitions({month_of(r.call_date_ms) for r in records})
        ordered = sorted(records, key=lambda r: r.id.encode())
        with self.connection.cursor() as cur:
            _stage(cur, ordered)
            new_ids = self._claim_new(cur)
            existing = [r.id for r in ordered if r.id not in new_ids]
            stored = self._lock_stored(cur, existing)
            plan = plan_batch(ordered, stored)
            stale = [i for i in existing if i not in stored]
            self._apply(cur, plan, stale, len(ordered))
            self._hold_changes(cur, plan.change_entries())
        return plan.summary(len(records))

    def _hold_changes(self, cur: psycopg.Cursor[Any], entries: list[changelog.Entry]) -> None:
        if not entries:
            return
        cur.execute(PENDING_DDL)
        cur.execute(
            "INSERT INTO pending_changes (seq, op, id)"
            " SELECT %s + n - 1, op, id FROM unnest(%s::smallint[], %s::text[])"
            " WITH ORDINALITY AS t(op, id, n)",
            (self.pending, [e[0] for e in entries], [e[1] for e in entries]),
        )
        self.pending += len(entries)

    def log_changes(self) -> None:
        """Take the app's positions for the entries held and log them: the transaction's last
        step before it commits."""
        if not self.pending:
            return
        with self.connection.cursor() as cur:
            first = changelog.take_positions(cur, "%s", self.app_id, self.pending)
            cur.execute(
                "INSERT INTO change_log (app_id, position, op, id, logged_at)"
                " SELECT %s, %s + seq, op, id, %s FROM pending_changes ORDER BY seq",
                (self.app_id, first, changelog.now_ms()),
            )
        self.pending = 0

    def keep_position(self, source: str, position: str) -> None:
        with self.connection.cursor() as cur:
            keep_position(cur, "%s", self.app_id, source, position)

    def _claim_new(self, cur: psycopg.Cursor[Any]) -> set[str]:
        """Claim the identities of the staged records that are new, in id order; a row a
        concurrent writer holds is waited for."""
        cur.execute(
            "INSERT INTO call_ids (app_id, id, call_date)"
            " SELECT %s, id, call_date FROM stage ORDER BY id"
            " ON CONFLICT (app_id, id) DO NOTHING RETURNING id",
            (self.app_id,),
        )
        return {row[0] for row in cur.fetchall()}

    def _lock_stored(self, cur: psycopg.Cursor[Any], ids: list[str]) -> dict[str, StoredRow]:
        """Lock these existing identities in id order, then read their records. An identity whose
        record is gone (retention stopped half-way) is stale: its record counts as new."""
        if not ids:
            return {}
        # Lock first, read after, in two statements: a row locked after waiting for another
        # writer is re-read at its new version, but a join in the same statement would still
        # see that writer's records as they were before (and miss the moved ones).
        cur.execute(
            "SELECT id FROM call_ids WHERE app_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
            (self.app_id, ids),
        )
        cur.execute(
            "SELECT i.id, c.call_date, c.call_type, c.status, c.doc FROM call_ids i"
            " JOIN calls c ON c.app_id = i.app_id AND c.call_date = i.call_date AND c.id = i.id"
            " WHERE i.app_id = %s AND i.id = ANY(%s)",
            (self.app_id, ids),
        )
        return {row[0]: StoredRow(row[1], row[2], row[3], bytes(row[4])) for row in cur.fetchall()}

    def _apply(
        self, cur: psycopg.Cursor[Any], plan: BatchPlan, stale: list[str], staged: int
    ) -> None:
        app_id = self.app_id
        moved = [(old.call_date, coded.record.id) for coded, old in plan.changed]
        if moved:
            cur.execute(
                "DELETE FROM calls WHERE app_id = %s AND (call_date, id) IN"
                " (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
                (app_id, [m[0] for m in moved], [m[1] for m in moved]),
            )
        # Where each record lives now: the moved ones, and stale identities taken over.
        relocated = [i for _, i in moved] + stale
        if relocated:
            cur.execute(
                "UPDATE call_ids i SET call_date = s.call_date FROM stage s"
                " WHERE i.app_id = %s AND i.id = s.id AND i.id = ANY(%s)",
                (app_id, relocated),
            )
        written = [c.record.id for c in plan.new] + [i for _, i in moved]
        if written:
            only = "" if len(written) == staged else " WHERE id = ANY(%s)"
            cur.execute(
                "INSERT INTO calls (app_id, call_date, id, call_type, status, doc)"
                f" SELECT %s, call_date, id, call_type, status, doc FROM stage{only}"
                " ORDER BY call_date, id",
                (app_id, written) if only else (app_id,),
            )
        changes = plan.count_changes()
        if changes:
            cur.executemany(
                "INSERT INTO call_counts (app_id, bucket, call_type, status, n)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (app_id, bucket, call_type, status)"
                " DO UPDATE SET n = call_counts.n + excluded.n",
                [(app_id, *change) for change in changes],
            )


def _stage(cur: psycopg.Cursor[Any], ordered: Sequence[StoredRecord]) -> None:
    """COPY the batch into the session's staging table."""
    cur.execute(STAGE_DDL)
    cur.execute("TRUNCATE stage")
    with cur.copy("COPY stage (call_date, id, call_type, status, doc) FROM STDIN") as copy:
        for r in ordered:
            copy.write_row(
                (r.call_date_ms, r.id, CALL_TYPE_CODES[r.call_type], STATUS_CODES[r.status], r.doc)
            )


class PostgresRecords(SqlRecords):
    mark = "%s"
    # The document through the record's identity, which says which partition holds it: looked
    # up entry by entry (a correlated subquery, which the planner cannot flatten), so that the
    # plan never depends on statistics. With a plain join, and call_ids analysed while the app was
    # small, the planner chose a nested loop over the app's whole call_ids x calls join for every
    # entry (minutes for 500 entries of a 35,000-record app).
    changes_sql = (
        "SELECT l.position, l.op, l.id, (SELECT c.doc FROM call_ids i JOIN calls c"
        " ON c.app_id = i.app_id AND c.call_date = i.call_date AND c.id = i.id"
        " WHERE i.app_id = l.app_id AND i.id = l.id), l.logged_at FROM change_log l"
        " WHERE l.app_id = %s AND l.position > %s ORDER BY l.position LIMIT %s"
    )
    lock_app_to_write = " FOR SHARE"
    lock_app_to_delete = " FOR UPDATE"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._partitions: set[int] = set()
        self._analysed: set[int] = set()  # months whose partition has planner statistics

    @contextmanager
    def _raw(self) -> Iterator[psycopg.Connection[Any]]:
        with self.engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            yield raw

    def ensure_partitions(self, months: set[int]) -> None:
        """Create and attach the monthly partitions these months need (idempotent, race-free)."""
        missing = months - self._partitions
        if not missing:
            return
        with self._raw() as conn:
            conn.commit()
            conn.autocommit = True
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (PARTITION_LOCK,))
                try:
                    existing = self._existing_partitions(conn)
                    for month in sorted(missing - existing):
                        name = partition_name(month)
                        lo, hi = month_bounds(month)
                        conn.execute(
                            f"CREATE TABLE IF NOT EXISTS {name} (LIKE calls INCLUDING ALL)"
                        )
                        conn.execute(
                            f"ALTER TABLE calls ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"
                        )
                    self._partitions = self._existing_partitions(conn)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (PARTITION_LOCK,))
            finally:
                conn.autocommit = False

    @staticmethod
    def _existing_partitions(conn: psycopg.Connection[Any]) -> set[int]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'calls'::regclass"
        ).fetchall()
        months = set()
        for (name,) in rows:
            if name.startswith("calls_y") and len(name) == 14:
                months.add(int(name[7:11]) * 12 + int(name[12:14]) - 1)
        return months

    def partitions(self) -> list[tuple[str, int, int]]:
        """(name, start ms, end ms) of every attached monthly partition, oldest first."""
        with self._raw() as conn:
            months = sorted(self._existing_partitions(conn))
            conn.rollback()
        return [(partition_name(m), *month_bounds(m)) for m in months]

    @contextmanager
    def writer(self, app_id: str) -> Iterator[BatchWriter]:
        with self._raw() as conn:
            try:
                with conn.cursor() as cursor:
                    self._require_app(cursor, app_id, self.lock_app_to_write)
                writer = PostgresWriter(self, conn, app_id)
                yield writer
                writer.log_changes()
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def ingest(
        self, app_id: str, records: Sequence[StoredRecord], at: SourcePosition | None = None
    ) -> IngestSummary:
        def attempt() -> IngestSummary:
            with self.writer(app_id) as writer:
                return write_batch(writer, records, at)

        counts = retrying(attempt)
        self._analyse_first_rows({month_of(r.call_date_ms) for r in records})
        return counts

    def _analyse_first_rows(self, months: set[int]) -> None:
        """Analyse the tables these months' rows went to if nothing ever has (reltuples < 0): a
        partition the planner knows nothing about is planned blind until autovacuum comes by, a
        minute or more later. Afterwards autovacuum keeps the statistics; each month is checked
        once a process."""
        unknown = months - self._analysed
        if not unknown:
            return
        names = ["call_ids", "call_counts"] + [partition_name(m) for m in sorted(unknown)]
        try:
            with self._writing() as cursor:
                cursor.execute(
                    "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND reltuples < 0",
                    (names,),
                )
                found = {name for (name,) in cursor.fetchall()}
                blind = [name for name in names if name in found]  # refresh_statistics' order
                if blind:
                    cursor.execute(f"ANALYZE {', '.join(blind)}")
        except psycopg.Error as exc:
            # The batch is committed: its answer must not turn into an error over statistics.
            log.warning("could not analyse %s: %s", ", ".join(names), exc)
            return
        self._analysed |= unknown

    def _streaming_cursor(self, cursor: Any) -> Any:
        # Server-side: rows arrive as they are read, so stopping early spares computing the rest
        # (a client-side cursor would receive every hour of the app's history first).
        named = cursor.connection.cursor(name="cdrstore_buckets")
        named.itersize = 256
        return named

    def refresh_statistics(self) -> None:
        # A partition nobody has analysed yet is planned blind: a 100-record page of a freshly
        # imported 20,000-record store took 27.7 ms until its partitions were analysed, 1.1 ms after
        # (autovacuum gets there, but only a minute or more later). Sampled, so seconds at most.
        names = ["call_ids", "call_counts", *(name for name, _, _ in self.partitions())]
        with self._writing() as cursor:
            cursor.execute(f"ANALYZE {', '.join(names)}")

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._raw() as conn:
            try:
                with conn.cursor() as cursor:
                    yield cursor
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _delete_identities(self, cursor: Any, app_id: str) -> None:
        cursor.execute("DELETE FROM call_ids WHERE app_id = %s", (app_id,))

    def _expire_identities(self, cursor: Any, app_id: str, cutoff_ms: int) -> list[str]:
        # From the identities, not the records: an identity left by a partition detached but not
        # yet dropped (retention stopped half-way) still gets its delete logged.
        cursor.execute(
            "DELETE FROM call_ids WHERE app_id = %s AND call_date < %s RETURNING id",
            (app_id, cutoff_ms),
        )
        return [row[0] for row in cursor.fetchall()]

    def _erase_rows(self, cursor: Any, app_id: str, keys: list[tuple[int, str]]) -> None:
        cursor.execute(
            "DELETE FROM calls WHERE app_id = %s AND (call_date, id) IN"
            " (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
            (app_id, [k[0] for k in keys], [k[1] for k in keys]),
        )
        cursor.execute(
            "DELETE FROM call_ids WHERE app_id = %s AND id = ANY(%s)",
            (app_id, [k[1] for k in keys]),
        )

    def _drop_partitions(
        self, app_ids: Sequence[str], cutoff_ms: int, dry_run: bool
    ) -> tuple[list[str], dict[str, int], int | None]:
        expired = [p for p in self.partitions() if p[2] <= cutoff_ms]
        apps = list(app_ids)
        by_app: dict[str, int] = dict.fromkeys(apps, 0)
        for name, lo, hi in expired:
            lo_bucket, hi_bucket = bucket_of(lo), bucket_of(hi)
            with self._writing() as cur:
                for app_id in apps:
                    cur.execute(
                        "SELECT coalesce(sum(n), 0) FROM call_counts"
                        " WHERE app_id = %s AND bucket >= %s AND bucket < %s",
                        (app_id, lo_bucket, hi_bucket),
                    )
                    row = cur.fetchone()
                    by_app[app_id] += int(row[0]) if row else 0
            if dry_run:
                continue
            with self._raw() as conn:  # readers and writers carry on while it detaches
                conn.commit()
                conn.autocommit = True
                try:
                    conn.execute(f"ALTER TABLE calls DETACH PARTITION {name} CONCURRENTLY")
                finally:
                    conn.autocommit = False
            with self._writing() as cur:
                for app_id in sorted(apps):
                    cur.execute(
                        "DELETE FROM call_ids WHERE app_id = %s AND call_date >= %s"
                        " AND call_date < %s RETURNING id",
                        (app_id, lo, hi),
                    )
                    gone = [row[0] for row in cur.fetchall()]
                    cur.execute(
                        "DELETE FROM call_counts WHERE app_id = %s AND bucket >= %s AND bucket < %s",
                        (app_id, lo_bucket, hi_bucket),
                    )
                    # The month's records went with the partition: their deletes are logged
                    # from their identities, in the transaction that forgets those.
                    changelog.append_changes(cur, "%s", app_id, changelog.deletes(gone))
                cur.execute(f"DROP TABLE {name}")
        self._partitions = set()
        return [p[0] for p in expired], by_app, (expired[-1][2] if expired else None)

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._raw() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                # Binary results: bytea arrives as the stored bytes, not as hex text to decode.
                with conn.cursor(binary=True) as cursor:
                    yield cursor
            finally:
                conn.rollback()


def retrying(attempt: Callable[[], T]) -> T:
    """Run a transaction again after a deadlock or serialization failure (never seen by clients)."""
    for tries in range(RETRIES):
        try:
            return attempt()
        except _RETRYABLE:
            if tries == RETRIES - 1:
                raise
            time.sleep(0.01 * 2**tries)
    raise AssertionError("unreachable")


def postgres_store(engine: Engine) -> Store:
    return Store(engine, PostgresRecords(engine), PostgresWindows(engine), migrates_itself=False)
