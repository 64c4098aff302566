"""What writing a batch changes, worked out before any row is written: the same on every backend.

A batch is first prepared (`prepare`, before the write transaction; in an import's worker
processes): its records as the rows `calls` holds, in key order, with what they add to the
per-hour counts, the statistics and the number search if every one of them is new. Given what the
store holds of their ids already, `plan_batch` then tells new, unchanged (the stored document is
byte-identical) and changed records apart, and corrects those figures for the records that are
not new (`Derived`, also what removing records takes back).

A prepared batch crosses from a worker process to the writer as MessagePack (`pack`, `unpack`):
plain rows decode in C, where pickled named tuples cost a Python call each (11.7 against 3 us a
record for the round trip; docs/performance.md#ingest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, Final, NamedTuple

import msgspec

from ..record import IngestSummary, StoredRecord
from ..validation import stored_facts
from .codes import CALL_TYPE_CODES, CHANGE_OP_CODES, DIRECTION_CODES, STATUS_CODES
from .paging import bucket_of
from .schema import (
    COUNT_BUCKET_MS,
    PARTY_BUCKET_MS,
    STATS_BUCKET_MS,
    STATS_GRAINS_MS,
    VECTOR_LENGTH,
)

Row = tuple[int, str, int, int, bytes, int, int, str, str]
"""A record as `calls` holds it, after its app_id (`CALL_COLUMNS`): callDate (epoch ms), id,
callType, status, the canonical document, callDirection (codes.py), talk time (ms), agent and
department (record.CallFacts)."""
CALL_COLUMNS: Final = (
    "call_date",
    "id",
    "call_type",
    "status",
    "doc",
    "direction",
    "talk_ms",
    "agent",
    "department",
)
StatsKey = tuple[int, int, int, int]  # (grain, bucket, call type, direction)
PartyKey = tuple[int, int, int, str, str]  # (day bucket, call type, direction, agent, department)
CountKey = tuple[int, int, int]  # (hour bucket, call type, status)
NumberKey = tuple[str, int, str]  # (number, call_date, id)
NumberRow = tuple[str, int, str, int, int]  # (number, call_date, id, call type, status)
QUARTER_MS: Final = STATS_BUCKET_MS  # the finest bucket: every other is a whole number of them
assert all(
    width % QUARTER_MS == 0 for width in (*STATS_GRAINS_MS, COUNT_BUCKET_MS, PARTY_BUCKET_MS)
)


class StoredRow(NamedTuple):
    """A record as the store holds it: where it is filed and its document."""

    call_date: int
    call_type: int  # codes.CALL_TYPE_CODES
    status: int  # codes.STATUS_CODES
    doc: bytes


def row_of(record: StoredRecord) -> Row:
    facts = record.facts
    return (
        record.call_date_ms,
        record.id,
        CALL_TYPE_CODES[record.call_type],
        STATUS_CODES[record.status],
        record.doc,
        DIRECTION_CODES[facts.direction],
        facts.talk_ms,
        facts.agent,
        facts.department,
    )


def stored_record_row(call_id: str, stored: StoredRow) -> tuple[Row, list[str]]:
    """The row and numbers of a record as stored, its facts read from its document."""
    facts = stored_facts(stored.doc)
    row = (
        stored.call_date,
        call_id,
        stored.call_type,
        stored.status,
        stored.doc,
        DIRECTION_CODES[facts.direction],
        facts.talk_ms,
        facts.agent,
        facts.department,
    )
    return row, list(facts.numbers)


class Derived(msgspec.Struct, gc=False):
    """What the per-hour counts, the statistics and the number search gain (or lose) with some
    records: the counts' changes, the rollups' changes (a vector a key: one count a status, then
    the talk time), and the search rows."""

    counts: dict[CountKey, int] = msgspec.field(default_factory=dict)
    stats: dict[StatsKey, list[int]] = msgspec.field(default_factory=dict)
    party: dict[PartyKey, list[int]] = msgspec.field(default_factory=dict)
    numbers_added: list[NumberRow] = msgspec.field(default_factory=list)
    numbers_removed: list[NumberKey] = msgspec.field(default_factory=list)

    def count(self, row: Row, numbers: Sequence[str], sign: int) -> None:
        """Add (sign 1) or take back (sign -1) one record, and its number search rows (added, or
        removed) for the `numbers` given."""
        call_date, call_id, call_type, status, _, direction, talk_ms, agent, department = row
        talk = sign * talk_ms
        key = (bucket_of(call_date), call_type, status)
        self.counts[key] = self.counts.get(key, 0) + sign
        stats = self.stats
        for grain in STATS_GRAINS_MS:
            stats_key = (grain, call_date // grain, call_type, direction)
            vector = stats.get(stats_key)
            if vector is None:
                vector = stats[stats_key] = [0] * VECTOR_LENGTH
            vector[status] += sign
            vector[-1] += talk
        party_key = (call_date // PARTY_BUCKET_MS, call_type, direction, agent, department)
        vector = self.party.get(party_key)
        if vector is None:
            vector = self.party[party_key] = [0] * VECTOR_LENGTH
        vector[status] += sign
        vector[-1] += talk
        if sign > 0:
            self.numbers_added += [(n, call_date, call_id, call_type, status) for n in numbers]
        else:
            self.numbers_removed += [(n, call_date, call_id) for n in numbers]

    def plus(self, other: Derived) -> Derived:
        """A new Derived: this one's changes and the other's together (neither is changed)."""
        total = Derived()
        total.add_totals(self)
        total.add_totals(other)
        total.numbers_added = self.numbers_added + other.numbers_added
        total.numbers_removed = self.numbers_removed + other.numbers_removed
        return total

    def add_totals(self, other: Derived) -> None:
        """Add the other's count and rollup changes to this one's (its search rows are not)."""
        counts = self.counts
        for key, n in other.counts.items():
            counts[key] = counts.get(key, 0) + n
        _sum_into(self.stats, other.stats)
        _sum_into(self.party, other.party)

    def totals_size(self) -> int:
        """How many count and rollup rows these changes move."""
        return len(self.counts) + len(self.stats) + len(self.party)

    def count_changes(self) -> list[tuple[int, int, int, int]]:
        """(bucket, call type, status, change) of every count that moves, in key order (so that
        concurrent writers lock count rows in the same order)."""
        return sorted((*key, n) for key, n in self.counts.items() if n)

    def stats_changes(self) -> list[tuple[object, ...]]:
        """(key..., counts..., talk) of every stats row that moves, in key order (so that
        concurrent writers lock rows in the same order)."""
        return _changes(self.stats)

    def party_changes(self) -> list[tuple[object, ...]]:
        return _changes(self.party)


def _sum_into(into: dict[Any, list[int]], table: dict[Any, list[int]]) -> None:
    for key, vector in table.items():
        kept = into.get(key)
        if kept is None:
            into[key] = list(vector)
        else:
            for i, value in enumerate(vector):
                kept[i] += value


def _changes(table: dict[Any, list[int]]) -> list[tuple[object, ...]]:
    return [(*key, *vector) for key, vector in sorted(table.items()) if any(vector)]


class PreparedBatch(msgspec.Struct, array_like=True, gc=False, frozen=True):
    """A batch's records as rows in key order (callDate, id), with what they add to the counts,
    statistics and number search if every one of them is new, so that a writer holding the
    database only corrects that for the records it finds stored already, if any. Never changed
    once made: a writer may try it more than once."""

    rows: list[Row]
    derived: Derived

    def __len__(self) -> int:
        return len(self.rows)


def prepare(records: Sequence[StoredRecord]) -> PreparedBatch:
    rows = [row_of(record) for record in records]
    numbers = [
        (number, row[0], row[1], row[2], row[3])
        for record, row in zip(records, rows, strict=True)
        for number in record.facts.numbers
    ]
    rows.sort(key=itemgetter(0, 1))
    numbers.sort()  # in the index's order (import +10% on SQLite)
    return PreparedBatch(rows, _tally(rows, numbers))


def _tally(rows: list[Row], numbers: list[NumberRow]) -> Derived:
    """What these records add (`Derived.count` for each, summed): counted by quarter hour first,
    in C (`Counter`), then spread over the wider buckets, each a whole number of quarters."""
    quarters = Counter(
        (call_date // QUARTER_MS, call_type, direction, status)
        for call_date, _, call_type, status, _, direction, *_ in rows
    )
    quarter_talk: Counter[tuple[int, int, int]] = Counter()
    party_talk: Counter[PartyKey] = Counter()
    for call_date, _, call_type, _, _, direction, talk_ms, agent, department in rows:
        if talk_ms:
            quarter_talk[(call_date // QUARTER_MS, call_type, direction)] += talk_ms
            party_key = (call_date // PARTY_BUCKET_MS, call_type, direction, agent, department)
            party_talk[party_key] += talk_ms
    parties = Counter(
        ((call_date // PARTY_BUCKET_MS, call_type, direction, agent, department), status)
        for call_date, _, call_type, status, _, direction, _, agent, department in rows
    )
    derived = Derived(numbers_added=numbers)
    counts, stats, party = derived.counts, derived.stats, derived.party
    for (quarter, call_type, direction, status), n in quarters.items():
        start = quarter * QUARTER_MS
        key = (start // COUNT_BUCKET_MS, call_type, status)
        counts[key] = counts.get(key, 0) + n
        for grain in STATS_GRAINS_MS:
            _vector(stats, (grain, start // grain, call_type, direction))[status] += n
    for (quarter, call_type, direction), talk in quarter_talk.items():
        for grain in STATS_GRAINS_MS:
            _vector(stats, (grain, quarter * QUARTER_MS // grain, call_type, direction))[-1] += talk
    for (party_key, status), n in parties.items():
        _vector(party, party_key)[status] += n
    for party_key, talk in party_talk.items():
        _vector(party, party_key)[-1] += talk
    return derived


def _vector(table: dict[Any, list[int]], key: Any) -> list[int]:
    vector = table.get(key)
    if vector is None:
        vector = table[key] = [0] * VECTOR_LENGTH
    return vector


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(PreparedBatch)


def prepare_packed(records: Sequence[StoredRecord]) -> bytes:
    """`prepare`, as MessagePack for another process (`unpack`)."""
    return _ENCODER.encode(prepare(records))


def unpack(data: bytes) -> PreparedBatch:
    return _DECODER.decode(data)


class BatchPlan(msgspec.Struct, gc=False):
    new: list[Row] = msgspec.field(default_factory=list)
    changed: list[tuple[Row, StoredRow]] = msgspec.field(default_factory=list)
    unchanged: int = 0
    derived: Derived = msgspec.field(default_factory=Derived)

    def change_entries(self) -> list[tuple[int, str]]:
        """The change log entries this batch makes, (op code, id) in id order: an insert for each
        new record, an update for each changed one; an unchanged record makes none."""
        insert, update = CHANGE_OP_CODES["insert"], CHANGE_OP_CODES["update"]
        entries = [(insert, row[1]) for row in self.new]
        entries += [(update, row[1]) for row, _ in self.changed]
        entries.sort(key=itemgetter(1))
        return entries

    def summary(self, received: int) -> IngestSummary:
        return IngestSummary(received, len(self.new), len(self.changed), self.unchanged)


def plan_batch(batch: PreparedBatch, stored: Mapping[str, StoredRow]) -> BatchPlan:
    """The plan for a prepared batch against the rows stored for its ids: a record is new,
    unchanged (its stored document is byte-identical) or changed."""
    if not stored:
        return BatchPlan(new=batch.rows, derived=batch.derived)
    plan = BatchPlan()
    taken_back = Derived()  # the batch's own figures for records not new, and the old versions
    kept: set[str] = set()
    for row in batch.rows:
        old = stored.get(row[1])
        if old is None:
            plan.new.append(row)
        elif old.doc == row[4]:
            plan.unchanged += 1
            kept.add(row[1])
            taken_back.count(row, (), -1)
        else:
            plan.changed.append((row, old))
            taken_back.count(*stored_record_row(row[1], old), -1)
    plan.derived = batch.derived.plus(taken_back)
    if kept:
        plan.derived.numbers_added = [n for n in plan.derived.numbers_added if n[2] not in kept]
    return plan
