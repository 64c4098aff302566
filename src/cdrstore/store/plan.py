"""What writing a batch changes, worked out before any row is written: the same on every backend.

Given the batch's records and what the store holds of their ids already, a record is new, unchanged
(the stored document is byte-identical) or changed; the per-hour counts, the statistics and the
number search move by the differences (`Derived`, also what removing records takes back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from ..record import CallFacts, IngestSummary, StoredRecord
from ..validation import stored_facts
from .codes import CALL_TYPE_CODES, CHANGE_OP_CODES, DIRECTION_CODES, STATUS_CODES
from .paging import bucket_of
from .schema import PARTY_BUCKET_MS, STATS_GRAINS_MS, STATUS_COLUMNS

StatsKey = tuple[int, int, int, int]  # (grain, bucket, call type, direction)
PartyKey = tuple[int, int, int, str, str]  # (day bucket, call type, direction, agent, department)
NumberKey = tuple[str, int, str]  # (number, call_date, id)
NumberRow = tuple[str, int, str, int, int]  # (number, call_date, id, call type, status)


class StoredRow(NamedTuple):
    """A record as the store holds it: where it is filed and its document."""

    call_date: int
    call_type: int  # codes.CALL_TYPE_CODES
    status: int  # codes.STATUS_CODES
    doc: bytes


class CodedRecord(NamedTuple):
    record: StoredRecord
    call_type: int
    status: int


@dataclass
class Derived:
    """What the per-hour counts, the statistics and the number search gain (or lose) with some
    records: the counts' changes, the rollups' changes (a vector a key: one count a status, then
    the talk time), and the search rows."""

    counts: Counter[tuple[int, int, int]] = field(default_factory=Counter)
    stats: dict[StatsKey, list[int]] = field(default_factory=dict)
    party: dict[PartyKey, list[int]] = field(default_factory=dict)
    numbers_added: list[NumberRow] = field(default_factory=list)
    numbers_removed: list[NumberKey] = field(default_factory=list)

    def count(
        self,
        call_id: str,
        call_date: int,
        coded: tuple[int, int],
        facts: CallFacts,
        sign: int,
        numbers: bool = True,
    ) -> None:
        """Add (sign 1) or take back (sign -1) one record; `coded`: its (call type, status).
        `numbers`: its number search rows too (added, or removed)."""
        call_type, status = coded
        direction = DIRECTION_CODES[facts.direction]
        talk = sign * facts.talk_ms
        self.counts[(bucket_of(call_date), call_type, status)] += sign
        stats = self.stats
        for grain in STATS_GRAINS_MS:
            key = (grain, call_date // grain, call_type, direction)
            vector = stats.get(key)
            if vector is None:
                vector = stats[key] = [0] * VECTOR_LENGTH
            vector[status] += sign
            vector[-1] += talk
        party_key = (
            call_date // PARTY_BUCKET_MS,
            call_type,
            direction,
            facts.agent,
            facts.department,
        )
        vector = self.party.get(party_key)
        if vector is None:
            vector = self.party[party_key] = [0] * VECTOR_LENGTH
        vector[status] += sign
        vector[-1] += talk
        if not numbers:
            return
        if sign > 0:
            self.numbers_added.extend(
                (number, call_date, call_id, call_type, status) for number in facts.numbers
            )
        else:
            self.numbers_removed.extend((number, call_date, call_id) for number in facts.numbers)

    def plus(self, other: Derived) -> Derived:
        """A new Derived: this one's changes and the other's together (neither is changed)."""
        total = Derived(Counter(self.counts))
        total.counts.update(other.counts)  # adds, keeping negative counts (`+` would drop them)
        for part in (self, other):
            _sum_into(total.stats, part.stats)
            _sum_into(total.party, part.party)
        total.numbers_added = self.numbers_added + other.numbers_added
        total.numbers_removed = self.numbers_removed + other.numbers_removed
        return total

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


VECTOR_LENGTH = len(STATUS_COLUMNS) + 1


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


@dataclass(frozen=True)
class PreparedBatch:
    """A batch's records coded and in key order (callDate, id), with what they add to the counts,
    statistics and number search if every one of them is new: worked out before the write
    transaction (in an import's worker processes), so that a writer holding the database only
    corrects it for the records it finds stored already, if any. Never changed once made: a
    writer may try it more than once."""

    records: list[CodedRecord]
    derived: Derived

    def __len__(self) -> int:
        return len(self.records)


def prepare(records: Iterable[StoredRecord]) -> PreparedBatch:
    coded = [CodedRecord(r, CALL_TYPE_CODES[r.call_type], STATUS_CODES[r.status]) for r in records]
    coded.sort(key=lambda c: (c.record.call_date_ms, c.record.id))
    derived = Derived()
    for c in coded:
        r = c.record
        derived.count(r.id, r.call_date_ms, c[1:], r.facts, 1)
    derived.numbers_added.sort()  # in the index's order (import +10% on SQLite)
    return PreparedBatch(coded, derived)


@dataclass
class BatchPlan:
    new: list[CodedRecord] = field(default_factory=list)
    changed: list[tuple[CodedRecord, StoredRow]] = field(default_factory=list)
    unchanged: int = 0
    derived: Derived = field(default_factory=Derived)

    def change_entries(self) -> list[tuple[int, str]]:
        """The change log entries this batch makes, (op code, id) in id order: an insert for each
        new record, an update for each changed one; an unchanged record makes none."""
        insert, update = CHANGE_OP_CODES["insert"], CHANGE_OP_CODES["update"]
        entries = [(insert, c.record.id) for c in self.new]
        entries += [(update, c.record.id) for c, _ in self.changed]
        entries.sort(key=itemgetter(1))
        return entries

    def summary(self, received: int) -> IngestSummary:
        return IngestSummary(received, len(self.new), len(self.changed), self.unchanged)


def plan_batch(batch: PreparedBatch, stored: Mapping[str, StoredRow]) -> BatchPlan:
    """The plan for a prepared batch against the rows stored for its ids: a record is new,
    unchanged (its stored document is byte-identical) or changed."""
    if not stored:
        return BatchPlan(new=batch.records, derived=batch.derived)
    plan = BatchPlan()
    taken_back = Derived()  # the batch's own figures for records not new, and the old versions
    kept: set[str] = set()
    for c in batch.records:
        r = c.record
        old = stored.get(r.id)
        if old is None:
            plan.new.append(c)
            continue
        if old.doc == r.doc:
            plan.unchanged += 1
            kept.add(r.id)
            taken_back.count(r.id, r.call_date_ms, c[1:], r.facts, -1, numbers=False)
            continue
        plan.changed.append((c, old))
        taken_back.count(r.id, old.call_date, old[1:3], old_facts(old), -1)
    plan.derived = batch.derived.plus(taken_back)
    if kept:
        plan.derived.numbers_added = [n for n in plan.derived.numbers_added if n[2] not in kept]
    return plan


def old_facts(row: StoredRow) -> CallFacts:
    return stored_facts(row.doc)
