"""Writing batches into PostgreSQL without a staging table.

New identities are claimed with INSERT ... SELECT FROM unnest(ids, dates) ON CONFLICT DO NOTHING in
id order (a concurrent writer of the same id waits, then sees it as existing), existing ones are
locked in id order, so two writers never both insert an id and never deadlock on identities.
A batch is first tried as all new: a plain INSERT in a savepoint, which costs half as much where
it holds (the usual case) and fails on the first id stored already (then the batch is claimed as
above, and the writer's later batches too). The records to write (new, changed) then go by binary
COPY straight into `calls`, as do the number search's rows. What the batches move the per-hour
counts and the statistics rollups by is summed until the transaction ends, then written in one
statement each (`TOTALS_HELD`). A batch's COPY data is made beforehand (`PostgresWriter.stage`),
while the batch before is being written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import psycopg
from psycopg.copy import Copy, FileWriter
from psycopg.errors import UniqueViolation

from ..record import IngestSummary
from . import changelog
from .base import BatchWriter
from .partitions import months_of
from .plan import CALL_COLUMNS, BatchPlan, Derived, PreparedBatch, StoredRow, plan_batch
from .sql import COUNT_KEYS, VECTOR_COLUMNS, keep_position, rollup_keys

if TYPE_CHECKING:
    from .postgres import PostgresRecords

COPY_CALLS: Final = f"COPY calls (app_id, {', '.join(CALL_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# The types of app_id and CALL_COLUMNS.
COPY_CALL_TYPES: Final = (
    "text",
    "int8",
    "text",
    "int2",
    "int2",
    "bytea",
    "int2",
    "int8",
    "text",
    "text",
)


COPY_CHANGES: Final = (
    "COPY change_log (app_id, position, op, id, logged_at) FROM STDIN (FORMAT BINARY)"
)
CHANGE_TYPES: Final = ("text", "int8", "int2", "text", "int8")
COPY_PENDING: Final = "COPY pending_changes (seq, op, id) FROM STDIN (FORMAT BINARY)"
PENDING_TYPES: Final = ("int8", "int2", "text")
COPY_NUMBERS: Final = (
    "COPY call_numbers (app_id, number, call_date, id, call_type, status)"
    " FROM STDIN (FORMAT BINARY)"
)
NUMBER_TYPES: Final = ("text", "text", "int8", "text", "int2", "int2")


# The batches a transaction tries as all new (each a savepoint, a subtransaction), and the times
# it tries the counts and rollups it holds so: PostgreSQL keeps 64 of a transaction's
# subtransactions in shared memory; past that, every other session's snapshot looks their
# parents up in pg_subtrans while the transaction runs.
ALL_NEW_TRIES: Final = 32
TOTALS_NEW_TRIES: Final = 16
# Counts and rollups are tried as new rows from this many: an import of a new range of dates
# (for 200,000 records, 97,000 rows: 0.85 s as upserts, 0.55 s as inserts), not a few records
# POSTed now, whose hour is stored already.
TOTALS_AS_NEW_FROM: Final = 1_000

# The count and rollup rows a transaction's changes are held for, summed, before they are written.
# A batch moves a few thousand rows, the same ones as another batch where their dates overlap (a
# file not in date order): written batch by batch, each time a new version of the row and of its
# index entry; held, a transaction writes each row once, and a large one can insert them as new
# (TOTALS_AS_NEW_FROM). The bound keeps memory in hand (100,000 rows by agent and department:
# 35 MB) for an import of years of records by thousands of agents.
TOTALS_HELD: Final = 100_000

# A transaction's change log entries until it commits: in memory up to this many, then in a
# temporary table, in the order logged (`seq` from 0).
HELD_IN_MEMORY: Final = 500_000
PENDING_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS pending_changes"
    ' (seq bigint, op smallint, id text COLLATE "C") ON COMMIT DELETE ROWS'
)
# A batch's ids and dates go as one string each, split by the server: psycopg dumps a list
# element by element in Python (0.25 s for 20 arrays of 10,000), a joined string in one go.
ID_ARRAY: Final = "string_to_array(%s, E'\\n')::text[]"
DATE_ARRAY: Final = "string_to_array(%s, ',')::bigint[]"
INT_ARRAY: Final = "string_to_array(%s, ',')::smallint[]"


# A batch's identities, in id order (as new: a stored one is a unique violation).
CLAIM_IDS: Final = (
    "INSERT INTO call_ids (app_id, id, call_date)"
    f" SELECT %s, id, call_date FROM unnest({ID_ARRAY}, {DATE_ARRAY}) AS b (id, call_date)"
    " ORDER BY id"
)


def id_lines(ids: Sequence[str]) -> str:
    """Record ids, one a line (validation leaves no control character in an id)."""
    joined = "\n".join(ids)
    if joined.count("\n") != max(len(ids) - 1, 0):
        raise ValueError("a record id holds a line break")
    return joined


def date_list(numbers: Iterable[object]) -> str:
    """Integers (dates, counts), comma-separated."""
    return ",".join(map(str, numbers))


class PostgresWriter(BatchWriter):
    """Writes a batch without a staging table: the identities are claimed from arrays sent as
    parameters, and the records to write go in by binary COPY straight into `calls` (each row to
    its month's partition; on Citus straight to the app's shard, not through the coordinator)."""

    def __init__(
        self,
        store: PostgresRecords,
        connection: psycopg.Connection[Any],
        app_id: str,
        citus: bool,
    ) -> None:
        self.store = store
        self.connection = connection
        self.app_id = app_id
        self.held: list[changelog.Entry] = []  # change log entries until the commit
        self.totals = Derived()  # what the counts and rollups move, until the commit
        self.spilled = 0  # and those already moved to pending_changes
        # Identities and totals still to try as all new (none on Citus).
        self.ids_as_new = AsNewTries(connection, 0 if citus else ALL_NEW_TRIES)
        self.totals_as_new = AsNewTries(connection, 0 if citus else TOTALS_NEW_TRIES)
        # Formats COPY data and never runs a statement: usable while another thread writes.
        self.formatting = connection.cursor()

    def stage(self, batch: PreparedBatch) -> StagedBatch:
        app_id = self.app_id
        numbers = ((app_id, *row) for row in batch.derived.numbers_added)
        return StagedBatch(
            batch,
            months_of(row[0] for row in batch.rows),
            sorted((row[1], row[0]) for row in batch.rows),
            copy_data(self.formatting, COPY_CALL_TYPES, ((app_id, *row) for row in batch.rows)),
            copy_data(self.formatting, NUMBER_TYPES, numbers),
        )

    def write_staged(self, staged: object) -> IngestSummary:
        assert isinstance(staged, StagedBatch)
        batch = staged.batch
        if not batch.rows:
            return IngestSummary.empty()
        self.store.ensure_partitions(staged.months)
        self.store.wrote(staged.months)
        with self.connection.cursor() as cur:
            new_ids = self._claim_new(cur, staged.by_id)
            existing = [i for i, _ in staged.by_id if i not in new_ids]
            stored = self._lock_stored(cur, existing)
            plan = plan_batch(batch, stored)
            stale = [i for i in existing if i not in stored]
            self._apply(cur, plan, stale, staged)
            self._hold_changes(cur, plan.change_entries())
        return plan.summary(len(batch))

    def _hold_changes(self, cur: psycopg.Cursor[Any], entries: list[changelog.Entry]) -> None:
        """Keep a batch's entries until the commit: in memory, spilled to pending_changes past
        HELD_IN_MEMORY (an import of millions of records in one transaction)."""
        self.held += entries
        if len(self.held) > HELD_IN_MEMORY:
            cur.execute(PENDING_DDL)
            rows = ((self.spilled + n, op, i) for n, (op, i) in enumerate(self.held))
            send_copy(cur, COPY_PENDING, copy_data(self.formatting, PENDING_TYPES, rows))
            self.spilled += len(self.held)
            self.held = []

    def finish(self) -> None:
        """The transaction's last steps before it commits: the counts and rollups held, then the
        change log."""
        if self.totals.totals_size():
            with self.connection.cursor() as cur:
                self._write_totals(cur)
        self.log_changes()

    def log_changes(self) -> None:
        """Take the app's positions for the entries held and log them: the transaction's last
        step before it commits."""
        if not self.spilled and not self.held:
            return
        at = changelog.now_ms()
        app_id = self.app_id
        with self.connection.cursor() as cur:
            n = self.spilled + len(self.held)
            first = changelog.take_positions(cur, "%s", app_id, n)
            if self.spilled:
                cur.execute(
                    "INSERT INTO change_log (app_id, position, op, id, logged_at)"
                    " SELECT %s, %s + seq, op, id, %s FROM pending_changes ORDER BY seq",
                    (app_id, first, at),
                )
            start = first + self.spilled
            rows = ((app_id, start + k, op, i, at) for k, (op, i) in enumerate(self.held))
            send_copy(cur, COPY_CHANGES, copy_data(self.formatting, CHANGE_TYPES, rows))
            changelog.mark_logged(cur, "%s", app_id, at, first + n - 1)
        self.spilled, self.held = 0, []

    def keep_position(self, source: str, position: str) -> None:
        with self.connection.cursor() as cur:
            keep_position(cur, "%s", self.app_id, source, position)

    def _claim_new(self, cur: psycopg.Cursor[Any], by_id: Sequence[tuple[str, int]]) -> set[str]:
        """Claim the identities of the records that are new, in id order; a row a concurrent
        writer holds is waited for."""
        params = (self.app_id, id_lines([i for i, _ in by_id]), date_list(d for _, d in by_id))
        if self.ids_as_new.attempt(lambda: cur.execute(CLAIM_IDS, params)):
            return {i for i, _ in by_id}
        cur.execute(CLAIM_IDS + " ON CONFLICT (app_id, id) DO NOTHING RETURNING id", params)
        return {row[0] for row in cur.fetchall()}

    def _lock_stored(self, cur: psycopg.Cursor[Any], ids: list[str]) -> dict[str, StoredRow]:
        """Lock these existing identities in id order, then read their records. An identity whose
        record is gone (retention stopped half-way) is stale: its record counts as new."""
        if not ids:
            return {}
        # Lock first, read after, in two statements: a row locked after waiting for another
        # writer is re-read at its new version, but a join in the same statement would still
        # see that writer's records as they were before (and miss the moved ones).
        listed = id_lines(ids)
        cur.execute(
            f"SELECT id FROM call_ids WHERE app_id = %s AND id = ANY({ID_ARRAY})"
            " ORDER BY id FOR UPDATE",
            (self.app_id, listed),
        )
        cur.execute(
            "SELECT i.id, c.call_date, c.call_type, c.status, c.doc FROM call_ids i"
            " JOIN calls c ON c.app_id = i.app_id AND c.call_date = i.call_date AND c.id = i.id"
            f" WHERE i.app_id = %s AND i.id = ANY({ID_ARRAY})",
            (self.app_id, listed),
        )
        return {row[0]: StoredRow(row[1], row[2], row[3], bytes(row[4])) for row in cur.fetchall()}

    def _apply(
        self, cur: psycopg.Cursor[Any], plan: BatchPlan, stale: list[str], staged: StagedBatch
    ) -> None:
        app_id = self.app_id
        # Every record new (the usual case): what was staged is what goes.
        as_staged = len(plan.new) == len(staged.batch)
        moved = [(old.call_date, row[1], row[0]) for row, old in plan.changed]
        if moved:
            cur.execute(
                "DELETE FROM calls WHERE app_id = %s AND (call_date, id) IN"
                f" (SELECT * FROM unnest({DATE_ARRAY}, {ID_ARRAY}))",
                (app_id, date_list(m[0] for m in moved), id_lines([m[1] for m in moved])),
            )
        # Where each record lives now: the moved ones, and stale identities taken over.
        relocated = {call_id: call_date for _, call_id, call_date in moved}
        taken_over = set(stale)
        relocated.update((row[1], row[0]) for row in plan.new if row[1] in taken_over)
        if relocated:
            cur.execute(
                "UPDATE call_ids i SET call_date = m.call_date"
                f" FROM unnest({ID_ARRAY}, {DATE_ARRAY}) AS m (id, call_date)"
                " WHERE i.app_id = %s AND i.id = m.id",
                (id_lines(list(relocated)), date_list(relocated.values()), app_id),
            )
        if as_staged:
            send_copy(cur, COPY_CALLS, staged.calls)
        else:
            # In key order, as a prepared batch's rows are.
            written = sorted(plan.new + [row for row, _ in plan.changed], key=itemgetter(0, 1))
            rows = ((app_id, *row) for row in written)
            if written:
                send_copy(cur, COPY_CALLS, copy_data(self.formatting, COPY_CALL_TYPES, rows))
        numbers = staged.numbers if as_staged else None
        _write_numbers(cur, self.formatting, app_id, plan.derived, taken_over, numbers)
        self.totals.add_totals(plan.derived)
        if self.totals.totals_size() > TOTALS_HELD:
            self._write_totals(cur)

    def _write_totals(self, cur: psycopg.Cursor[Any]) -> None:
        """Move the counts and the rollups by the changes held, and hold none. Large changes
        (an import's) are first tried as all new rows, like a batch's identities."""
        statements = totals_statements(self.app_id, self.totals)
        large = self.totals.totals_size() >= TOTALS_AS_NEW_FROM
        self.totals = Derived()

        def insert_as_new() -> None:
            for statement in statements:
                cur.execute(statement.insert, statement.params)

        if large and self.totals_as_new.attempt(insert_as_new):
            return
        for statement in statements:
            cur.execute(statement.insert + statement.on_conflict, statement.params)


class AsNewTries:
    """Statements that insert rows as if none were stored, each try in a savepoint: a stored row
    (or one another writer holds: the insert waits for it) fails it, the savepoint is rolled back
    and the caller writes its rows the other way; after that, or `left` tries, none is tried."""

    def __init__(self, connection: psycopg.Connection[Any], left: int) -> None:
        self.connection = connection
        self.left = left

    def attempt(self, insert: Callable[[], object]) -> bool:
        """Whether `insert` ran, in a savepoint, without meeting a stored row."""
        if self.left <= 0:
            return False
        self.left -= 1
        try:
            with self.connection.transaction():
                insert()
        except UniqueViolation:
            self.left = 0
            return False
        return True


class TotalsStatement(NamedTuple):
    """Rows to add to a table of counts: inserted as new, or with `on_conflict` added to those
    stored. The rows are in key order (concurrent writers lock rows in the same order)."""

    insert: str
    on_conflict: str
    params: tuple[object, ...]


# The columns after app_id of the counts and rollups: their types, as arrays the server splits
# (text: a list).
_TOTALS_TYPES: Final = {
    "bucket": "bigint",
    "call_type": "smallint",
    "status": "smallint",
    "grain": "int",
    "direction": "smallint",
    "agent": "text",
    "department": "text",
}


def totals_statements(app_id: str, derived: Derived) -> list[TotalsStatement]:
    """One statement for each of the counts and the rollups that move, its rows as arrays (a
    statement a row cost 3 ms a batch of 10,000 records in psycopg's pipeline)."""
    statements = []
    for table, keys, added, changes in (
        ("call_counts", COUNT_KEYS, ("n",), derived.count_changes()),
        ("call_stats", rollup_keys("call_stats"), VECTOR_COLUMNS, derived.stats_changes()),
        (
            "call_party_stats",
            rollup_keys("call_party_stats"),
            VECTOR_COLUMNS,
            derived.party_changes(),
        ),
    ):
        if not changes:
            continue
        columns = ", ".join((*keys, *added))
        arrays: list[str] = []
        params: list[object] = [app_id]
        for name, column in zip((*keys, *added), zip(*changes, strict=True), strict=True):
            kind = _TOTALS_TYPES.get(name, "bigint")
            if kind == "text":
                arrays.append("%s::text[]")
                params.append(list(column))
            else:
                arrays.append(f"string_to_array(%s, ',')::{kind}[]")
                params.append(date_list(column))
        sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in added)
        statements.append(
            TotalsStatement(
                f"INSERT INTO {table} (app_id, {columns}) SELECT %s, {columns}"
                f" FROM unnest({', '.join(arrays)}) AS r ({columns}) ORDER BY {', '.join(keys)}",
                f" ON CONFLICT (app_id, {', '.join(keys)}) DO UPDATE SET {sums}",
                tuple(params),
            )
        )
    return statements


class StagedBatch(NamedTuple):
    """What writing a prepared batch sends when its records are all new, worked out without the
    database (`PostgresWriter.stage`, while the batch before is being written): the months it
    needs, its identities in id order, and the COPY data of its records and number search rows."""

    batch: PreparedBatch
    months: set[int]
    by_id: list[tuple[str, int]]
    calls: bytes
    numbers: bytes


def _write_numbers(
    cur: psycopg.Cursor[Any],
    formatting: psycopg.Cursor[Any],
    app_id: str,
    derived: Derived,
    taken_over: set[str],
    staged: bytes | None,
) -> None:
    """Move the number search by a batch: the rows of replaced records deleted, those of the
    records written COPYed in the index's order (`staged`: their COPY data, made already;
    `formatting`: the writer's cursor that makes COPY data). A
    record taken over from a stale identity may have left its rows: those with the same keys go
    first."""
    removed = derived.numbers_removed
    stale = [row[:3] for row in derived.numbers_added if row[2] in taken_over]
    if removed or stale:
        numbers, dates, ids = zip(*(removed + stale), strict=True)
        cur.execute(
            "DELETE FROM call_numbers WHERE app_id = %s AND (number, call_date, id) IN"
            " (SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[]))",
            (app_id, list(numbers), list(dates), list(ids)),
        )
    if staged is None and derived.numbers_added:
        added = sorted(derived.numbers_added)
        staged = copy_data(formatting, NUMBER_TYPES, ((app_id, *row) for row in added))
    if derived.numbers_added and staged is not None:
        send_copy(cur, COPY_NUMBERS, staged)


def copy_data(
    cur: psycopg.Cursor[Any], types: Sequence[str], rows: Iterable[Sequence[Any]]
) -> bytes:
    """Rows as COPY's binary format carries them (the documents as they are, not as hex text for
    the server to decode: 10,000 rows 0.15 s, against 0.5 s as text), formatted by psycopg
    without a word to the server: `cur`, a cursor that never runs a statement, lends its types."""
    data = io.BytesIO()
    with Copy(cur, binary=True, writer=FileWriter(data)) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
    return data.getvalue()


def send_copy(cur: psycopg.Cursor[Any], statement: str, data: bytes) -> None:
    """COPY data made by `copy_data` (header, rows and trailer, sent as they are)."""
    with cur.copy(statement) as copy:
        copy.write(data)
