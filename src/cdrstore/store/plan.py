"""What writing a batch changes, worked out before any row is written: the same on every backend.

Given the batch's records and what the store holds of their ids already, a record is new, unchanged
(the stored document is byte-identical) or changed; the per-hour counts, the statistics and the
number search move by the differences (`Derived`, also what removing records takes back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..record import CallFacts, IngestSummary, StoredRecord
from ..validation import stored_facts
from .codes import CALL_TYPE_CODES, DIRECTION_CODES, STATUS_CODES
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
    """What the statistics and the number search gain (or lose) with some records: the rollups'
    changes, a vector a key (one count a status, then the talk time), and the search rows."""

    stats: dict[StatsKey, list[int]] = field(default_factory=dict)
    party: dict[PartyKey, list[int]] = field(default_factory=dict)
    numbers_added: list[NumberRow] = field(default_factory=list)
    numbers_removed: list[NumberKey] = field(default_factory=list)

    def count(
        self, call_id: str, call_date: int, coded: tuple[int, int], facts: CallFacts, sign: int
    ) -> None:
        """Add (sign 1) or take back (sign -1) one record; `coded`: its (call type, status)."""
        call_type, status = coded
        direction = DIRECTION_CODES[facts.direction]
        party_key = (
            call_date // PARTY_BUCKET_MS,
            call_type,
            direction,
            facts.agent,
            facts.department,
        )
        for grain in STATS_GRAINS_MS:
            stats_key = (grain, call_date // grain, call_type, direction)
            _add(self.stats.setdefault(stats_key, _zeros()), status, sign, facts.talk_ms)
        _add(self.party.setdefault(party_key, _zeros()), status, sign, facts.talk_ms)
        if sign > 0:
            self.numbers_added.extend(
                (number, call_date, call_id, call_type, status) for number in facts.numbers
            )
        else:
            self.numbers_removed.extend((number, call_date, call_id) for number in facts.numbers)

    def stats_changes(self) -> list[tuple[object, ...]]:
        """(key..., counts..., talk) of every stats row that moves, in key order (so that
        concurrent writers lock rows in the same order)."""
        return _changes(self.stats)

    def party_changes(self) -> list[tuple[object, ...]]:
        return _changes(self.party)


def _zeros() -> list[int]:
    return [0] * (len(STATUS_COLUMNS) + 1)


def _add(vector: list[int], status: int, sign: int, talk_ms: int) -> None:
    vector[status] += sign
    vector[-1] += sign * talk_ms


def _changes(table: dict[Any, list[int]]) -> list[tuple[object, ...]]:
    return [(*key, *vector) for key, vector in sorted(table.items()) if any(vector)]


@dataclass
class BatchPlan:
    new: list[CodedRecord] = field(default_factory=list)
    changed: list[tuple[CodedRecord, StoredRow]] = field(default_factory=list)
    unchanged: int = 0
    deltas: Counter[tuple[int, int, int]] = field(default_factory=Counter)
    derived: Derived = field(default_factory=Derived)

    def count_changes(self) -> list[tuple[int, int, int, int]]:
        """(bucket, call type, status, change) of every count that moves, in key order (so that
        concurrent writers lock count rows in the same order)."""
        return sorted((*key, n) for key, n in self.deltas.items() if n)

    def summary(self, received: int) -> IngestSummary:
        return IngestSummary(received, len(self.new), len(self.changed), self.unchanged)


def plan_batch(records: Iterable[StoredRecord], stored: Mapping[str, StoredRow]) -> BatchPlan:
    """The plan for these records (in the order given) against the rows stored for their ids."""
    plan = BatchPlan()
    for r in records:
        coded = CodedRecord(r, CALL_TYPE_CODES[r.call_type], STATUS_CODES[r.status])
        old = stored.get(r.id)
        if old is None:
            plan.new.append(coded)
        elif old.doc == r.doc:
            plan.unchanged += 1
            continue
        else:
            plan.changed.append((coded, old))
            plan.deltas[(bucket_of(old.call_date), old.call_type, old.status)] -= 1
            plan.derived.count(r.id, old.call_date, old[1:3], old_facts(old), -1)
        plan.deltas[(bucket_of(r.call_date_ms), coded.call_type, coded.status)] += 1
        plan.derived.count(r.id, r.call_date_ms, coded[1:], r.facts, 1)
    return plan


def old_facts(row: StoredRow) -> CallFacts:
    return stored_facts(row.doc)
