"""The production backend: PostgreSQL 15+ through psycopg 3, pooled by SQLAlchemy.

- `calls` is range-partitioned by call_date, one partition a month, attached on demand (ATTACH takes
  only a SHARE UPDATE EXCLUSIVE lock on the parent, so readers and writers carry on; an advisory lock
  makes concurrent creators take turns).
- A partitioned table cannot enforce (app_id, id) across partitions: `call_ids` does, and says which
  call_date (so which partition) each record lives at. A re-ingested record that moves to another
  month is deleted from its old place and inserted at its new one, in the same transaction.
- A batch is written without a staging table (`pgwriter.py`); a deadlock or serialization failure
  is retried.
- The change log entries a transaction makes wait (in memory, past HELD_IN_MEMORY in a temporary
  table) until it commits; only then are the app's positions taken (`changelog.take_positions`),
  so the head row is the last lock a writer takes and is held for the shortest time, however many
  batches the transaction writes.
"""

from __future__ import annotations

import logging
import random
import select
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError

from ..record import IngestSummary, StoredRecord
from . import Store, changelog
from .base import BatchWriter, SourcePosition, write_batch
from .citus import is_citus
from .errors import RetentionFailed, register_driver
from .paging import bucket_of
from .partitions import month_bounds, months_of, partition_month, partition_name
from .pgwriter import PostgresWriter
from .plan import prepare
from .sql import GRAINED, ORDER, ROLLUPS, SqlRecords, forget_numbers
from .tokencache import NOTIFY as NOTIFY_TOKENS_CHANGED
from .tokencache import TokenCache
from .windows import PostgresWindows

register_driver(psycopg.Error, psycopg.OperationalError)
log = logging.getLogger("cdrstore.store")

PARTITION_LOCK: Final = 0x0C_D5_70_2E  # advisory lock key: "creating partitions of calls"
APP_WRITE_LOCK: Final = 0x0C_D5_7A_99  # advisory lock class: "writing an app's records" (Citus)
RETRIES: Final = 5
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
T = TypeVar("T")


def engine_url(url: str) -> str:
    """`postgresql://...` as SQLAlchemy's psycopg 3 dialect spells it."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create_postgres_engine(url: str) -> Engine:
    engine = create_engine(
        engine_url(url),
        pool_size=8,
        max_overflow=16,
        hide_parameters=True,
    )
    event.listen(engine, "connect", _without_jit)
    event.listen(engine, "checkout", _refuse_dead_connection)
    return engine


def _without_jit(dbapi_connection: Any, record: Any) -> None:
    """No JIT: our statements are short, and a misestimated join (the number search's, ~250,000
    rows guessed for 101) crossed jit_above_cost and spent 9-22 ms compiling a 1.8 ms query. Set
    on each new connection, outside a transaction (a rollback would undo it), rather than as a
    startup option, which PgBouncer refuses."""
    conn: psycopg.Connection[Any] = dbapi_connection
    conn.autocommit = True
    conn.execute("SET jit = off")
    conn.autocommit = False


def _refuse_dead_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Checked at every checkout instead of SQLAlchemy's pre-ping, which spent a round trip on
    each (two a page, 7.5 % of a page's time): an idle connection has nothing to read, so one the
    server ended (a restart, pg_terminate_backend: its goodbye or EOF is waiting) is readable.
    SQLAlchemy replaces a refused connection with a new one."""
    conn: psycopg.Connection[Any] = dbapi_connection
    if conn.closed or conn.broken or conn.info.status != psycopg.pq.ConnStatus.OK:
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server ended the connection")


# The tables written beside `calls`: planned blind until analysed, like a new partition.
SEARCH_TABLE: Final = "call_numbers"  # analysed with the server's default target
DERIVED_TABLES: Final = ("call_ids", "call_counts", *ROLLUPS, SEARCH_TABLE, "change_log")
# The statistics target the tables are analysed with here (PostgreSQL's default: 100), but for
# the number search's, whose plans follow how many rows a number has (its most common values).
# ANALYZE samples 300 rows a unit of target, and the time goes into reading them: 9,000 rows
# instead of 30,000 took a 100,000-record month 0.08-0.09 s instead of 0.30-0.34 s (the rollups
# and identities of 200,000 records: 0.13 against 0.36 s), and their columns (date ranges, a few
# call types and statuses, unique ids) need no finer histogram.
STATISTICS_TARGET: Final = 30


class PostgresRecords(SqlRecords):
    mark = "%s"
    # The document through the record's identity, which says which partition holds it. A scalar
    # subquery, so that each entry is one probe of call_ids' key and one of its partition's (the
    # others pruned as it runs): as joins, the planner, misled by a table not yet analysed, read
    # the app's every record once per entry (measured: 265 s for a page of 1,000 of 10,000).
    changes_sql = (
        "SELECT l.position, l.op, l.id, (SELECT c.doc FROM call_ids i JOIN calls c"
        " ON c.app_id = i.app_id AND c.call_date = i.call_date AND c.id = i.id"
        " WHERE i.app_id = l.app_id AND i.id = l.id) AS doc, l.logged_at FROM change_log l"
        " WHERE l.app_id = %s AND l.position > %s ORDER BY l.position LIMIT %s"
    )
    lock_app_to_write = " FOR SHARE"
    lock_app_to_delete = " FOR UPDATE"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._partitions: set[int] = set()
        self._analysed: set[int] = set()  # months whose partition has planner statistics
        self._citus: bool | None = None  # whether the database is a Citus coordinator
        self._created: set[int] = set()  # months whose partition this process created
        self._written: set[int] = set()  # months written since the statistics were refreshed

    @contextmanager
    def _raw(self) -> Iterator[psycopg.Connection[Any]]:
        with self.engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            yield raw

    def wrote(self, months: set[int]) -> None:
        """Note months written to, for `refresh_statistics`."""
        self._written |= months

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
                        self._created.add(month)
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
                months.add(partition_month(name))
        return months

    def partitions(self) -> list[tuple[str, int, int]]:
        """(name, start ms, end ms) of every attached monthly partition, oldest first."""
        return [
            (partition_name(m), *month_bounds(m)) for m in sorted(self._existing_partitions_now())
        ]

    def _existing_partitions_now(self) -> set[int]:
        with self._raw() as conn:
            months = self._existing_partitions(conn)
            conn.rollback()
        return months

    @contextmanager
    def writer(self, app_id: str, cache_mb: int | None = None) -> Iterator[BatchWriter]:
        del cache_mb  # PostgreSQL's page cache is the server's (shared_buffers), not a session's
        with self._raw() as conn:
            try:
                with conn.cursor() as cursor:
                    citus = self._hold_app(cursor, app_id)
                    self._require_app(cursor, app_id, "" if citus else self.lock_app_to_write)
                writer = PostgresWriter(self, conn, app_id, citus)
                yield writer
                writer.finish()
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def ingest(
        self, app_id: str, records: Sequence[StoredRecord], at: SourcePosition | None = None
    ) -> IngestSummary:
        batch = prepare(records)  # before the transaction, and once for every attempt

        def attempt() -> IngestSummary:
            with self.writer(app_id) as writer:
                return write_batch(writer, batch, at)

        counts = retrying(attempt)
        self._analyse_first_rows(months_of(r.call_date_ms for r in records))
        return counts

    def _analyse_first_rows(self, months: set[int]) -> None:
        """Analyse the tables these months' rows went to if nothing ever has (reltuples < 0): a
        partition the planner knows nothing about is planned blind until autovacuum comes by, a
        minute or more later. Afterwards autovacuum keeps the statistics; each month is checked
        once a process."""
        unknown = months - self._analysed
        if not unknown:
            return
        names = [*DERIVED_TABLES] + [partition_name(m) for m in sorted(unknown)]
        try:
            with self._writing() as cursor:
                found = self._blind(cursor, names)
                _analyse(cursor, [name for name in names if name in found])
        except psycopg.Error as exc:
            # The batch is committed: its answer must not turn into an error over statistics.
            log.warning("could not analyse %s: %s", ", ".join(names), exc)
            return
        self._analysed |= unknown

    def _blind(self, cursor: psycopg.Cursor[Any], names: list[str]) -> set[str]:
        """Which of these tables were never analysed. On Citus the coordinator's tables hold no
        rows and no statistics (a reltuples of 0, always), and asking every shard costs more than
        analysing: there, the partitions this process created are the blind ones (with the
        identity and count tables, whose new rows went to the same shards)."""
        if not self._on_citus(cursor.connection):
            cursor.execute(
                "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND reltuples < 0", (names,)
            )
            return {name for (name,) in cursor.fetchall()}
        created = {partition_name(m) for m in self._created} & set(names)
        self._created.clear()
        return created | ({"call_ids", "call_counts"} if created else set())

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
        # Only the partitions written since (the others' statistics still hold): analysing every
        # month of a long history would grow with it.
        # Of the tables beside them, the number search's (its plans follow how many rows a
        # number has) and any never analysed: the others are read by key, and the planner scales
        # the row counts it knows by the pages it finds.
        written, self._written = self._written, set()
        attached = self._existing_partitions_now()
        with self._writing() as cursor:
            blind = self._blind(cursor, list(DERIVED_TABLES))
            names = [t for t in DERIVED_TABLES if t in blind or t == SEARCH_TABLE]
            _analyse(cursor, names + [partition_name(m) for m in sorted(written & attached)])

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
        # Found through the records (a range of their key), each identity then by its own key:
        # no index by date on call_ids for retention alone. (A partition that retention left
        # detached is dealt with by `_drop_partitions`.)
        cursor.execute(
            "DELETE FROM call_ids WHERE app_id = %s AND id IN"
            " (SELECT id FROM calls WHERE app_id = %s AND call_date < %s) RETURNING id",
            (app_id, app_id, cutoff_ms),
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

    def _forget_month(
        self, cur: psycopg.Cursor[Any], app_id: str, name: str, lo: int, hi: int
    ) -> None:
        """What the app keeps beside its records in the detached partition `name`, of the month
        [lo, hi): identities, counts, statistics, the number search; the records' deletes logged
        from their identities, in the transaction that forgets those and drops the partition (so
        a run stopped half-way still logs them next time)."""
        cur.execute(
            "DELETE FROM call_ids WHERE app_id = %s AND id IN"
            f" (SELECT id FROM {name} WHERE app_id = %s) RETURNING id",
            (app_id, app_id),
        )
        gone = [row[0] for row in cur.fetchall()]
        cur.execute(
            "DELETE FROM call_counts WHERE app_id = %s AND bucket >= %s AND bucket < %s",
            (app_id, bucket_of(lo), bucket_of(hi)),
        )
        forget_numbers(cur, "%s", app_id, name, lo, hi)
        for table, (widths, _) in ROLLUPS.items():  # months are whole buckets
            for width in widths:
                grain = f" AND grain = {width}" if table == GRAINED else ""
                cur.execute(
                    f"DELETE FROM {table} WHERE app_id = %s{grain} AND bucket >= %s AND bucket < %s",
                    (app_id, lo // width, hi // width),
                )
        changelog.append_changes(cur, "%s", app_id, changelog.deletes(gone))

    def _drop_partitions(
        self, app_ids: Sequence[str], cutoff_ms: int, dry_run: bool
    ) -> tuple[list[str], dict[str, int], int | None]:
        attached = [p for p in self.partitions() if p[2] <= cutoff_ms]
        # Left detached by a run that stopped between detaching and dropping: carried on here.
        detached = [p for p in self._detached_partitions() if p[2] <= cutoff_ms]
        expired = sorted(attached + detached, key=itemgetter(1))
        left_detached = {name for name, _, _ in detached}
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
            try:
                if name not in left_detached:
                    self._detach(name)
                with self._writing() as cur:
                    if name in left_detached and not self._still_detached(cur, name):
                        continue  # attached again meanwhile: a writer needed the month
                    for app_id in sorted(apps):
                        self._forget_month(cur, app_id, name, lo, hi)
                    cur.execute(f"DROP TABLE {name}")
            except psycopg.Error as exc:
                self._partitions = set()
                raise RetentionFailed(
                    f"could not drop partition {name}: {_first_line(exc)}. What was removed"
                    " before it stays removed, a partition detached but not dropped is no longer"
                    " served, and running retention again carries on from here"
                ) from exc
        self._partitions = set()
        return [p[0] for p in expired], by_app, (expired[-1][2] if expired else None)

    @staticmethod
    def _still_detached(cur: psycopg.Cursor[Any], name: str) -> bool:
        """Whether a table found detached still is, once partitions are held for this transaction
        (`ensure_partitions` makes a table, then attaches it, under the same lock)."""
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
        cur.execute("SELECT relispartition FROM pg_class WHERE oid = %s::regclass", (name,))
        row = cur.fetchone()
        return row is not None and not row[0]

    def _detached_partitions(self) -> list[tuple[str, int, int]]:
        """(name, start ms, end ms) of the monthly tables of `calls` no longer attached: detached
        by retention, which stopped before dropping them."""
        with self._raw() as conn:
            rows = conn.execute(
                "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND NOT c.relispartition"
                " AND c.relnamespace = current_schema()::regnamespace"
                " AND c.relname ~ '^calls_y[0-9]{4}m[0-9]{2}$'"
            ).fetchall()
            conn.rollback()
        months = sorted(partition_month(name) for (name,) in rows)
        return [(partition_name(m), *month_bounds(m)) for m in months]

    def _detach(self, name: str) -> None:
        """Detach a partition from `calls`. PostgreSQL: CONCURRENTLY, from a connection of its own
        (readers and writers carry on; it waits for the queries running on it). Citus does not
        accept CONCURRENTLY: a plain DETACH, which holds an ACCESS EXCLUSIVE lock on `calls` (on
        the coordinator and on every shard of it) until it commits, a moment, but queries of
        `calls` wait for it and it waits for those already running."""
        with self._raw() as conn:
            conn.commit()
            conn.autocommit = True
            try:
                concurrently = "" if self._on_citus(conn) else " CONCURRENTLY"
                conn.execute(f"ALTER TABLE calls DETACH PARTITION {name}{concurrently}")
            finally:
                conn.autocommit = False

    def _hold_app(self, cursor: Any, app_id: str) -> bool:
        """On Citus, hold the app for this transaction by a lock on the coordinator, which every
        write passes through; whether it did. There, the row lock on `apps` that writers and
        `delete_app` otherwise take is a lock on a reference table, which Citus takes on every
        node's copy: concurrent writers deadlocked on those copies until their retries ran out.
        So on Citus one writer of an app at a time, and `delete_app` waits for it."""
        if not self._on_citus(cursor.connection):
            return False
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (APP_WRITE_LOCK, app_id))
        return True

    def _tokens_removed(self, cursor: Any) -> None:
        cursor.execute(NOTIFY_TOKENS_CHANGED)

    def _on_citus(self, conn: psycopg.Connection[Any]) -> bool:
        if self._citus is None:
            self._citus = is_citus(conn)
        return self._citus

    def _merged(
        self, columns: str, branches: list[tuple[str, list[Any]]], limit: int, offset: int
    ) -> tuple[str, list[Any]]:
        # Each branch in page order and limited, so that the planner merges them (Merge Append,
        # reading each only as far as the merge needs); unlimited, it appended and sorted them
        # all (210 ms against 3 ms for a status-only page of 500 at offset 1,000).
        if len(branches) == 1:
            where, params = branches[0]
            return f"SELECT {columns} FROM calls WHERE {where}{ORDER} LIMIT %s OFFSET %s", [
                *params,
                limit,
                offset,
            ]
        keyed = columns if columns.startswith("call_date, id") else f"call_date, id, {columns}"
        inner = " UNION ALL ".join(
            f"(SELECT {keyed} FROM calls WHERE {w}{ORDER} LIMIT %s)" for w, _ in branches
        )
        params = [p for _, ps in branches for p in (*ps, limit + offset)]
        return f"SELECT {columns} FROM ({inner}) AS u{ORDER} LIMIT %s OFFSET %s", [
            *params,
            limit,
            offset,
        ]

    def _page_sql(
        self, app_id: str, branches: list[tuple[str, list[Any]]], limit: int, offset: int
    ) -> tuple[str, list[Any]]:
        # The documents straight from an index in page order: an Index Scan stops after the page,
        # and the rows OFFSET skips (at most an hour's, after the seek) cost a heap visit each. The
        # deferred join that pays on SQLite costs a nested loop here, one probe of every
        # partition's primary key a record: 7.9 -> 4.4 ms a 500-record window page, 8.5 -> 2.9 ms
        # filtered (docs/performance.md).
        return self._merged("doc", branches, limit, offset)

    @contextmanager
    def _reading(self, statements: int = 2) -> Iterator[psycopg.Cursor[Any]]:
        with self._raw() as conn:
            if statements == 1:
                # One statement sees one snapshot on its own: no BEGIN and ROLLBACK round trips.
                conn.autocommit = True
            else:
                # Said in the BEGIN psycopg sends: one round trip, not a BEGIN and a SET.
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
            try:
                # Binary results: bytea arrives as the stored bytes, not as hex text to decode.
                with conn.cursor(binary=True) as cursor:
                    yield cursor
            finally:
                conn.rollback()
                conn.autocommit = False
                conn.isolation_level = None
                conn.read_only = None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def retrying(attempt: Callable[[], T]) -> T:
    """Run a transaction again after a deadlock or serialization failure (never seen by clients)."""
    for tries in range(RETRIES):
        try:
            return attempt()
        except _RETRYABLE:
            if tries == RETRIES - 1:
                raise
            time.sleep(random.uniform(0.01, 0.03) * 2**tries)  # jitter: contenders part ways
    raise AssertionError("unreachable")


def postgres_store(engine: Engine) -> Store:
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return Store(
        engine,
        PostgresRecords(engine),
        PostgresWindows(engine),
        migrates_itself=False,
        token_cache=TokenCache(conninfo),
    )


def _analyse(cursor: psycopg.Cursor[Any], names: Sequence[str]) -> None:
    """ANALYZE these tables: the number search's with the server's default sample, the others
    with a smaller one (STATISTICS_TARGET; for this transaction only)."""
    if SEARCH_TABLE in names:
        cursor.execute(f"ANALYZE {SEARCH_TABLE}")
    rest = [name for name in names if name != SEARCH_TABLE]
    if rest:
        cursor.execute(f"SET LOCAL default_statistics_target = {STATISTICS_TARGET}")
        cursor.execute(f"ANALYZE {', '.join(rest)}")
