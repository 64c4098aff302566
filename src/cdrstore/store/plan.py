"""What writing a batch changes, worked out before any row is written: the same on every backend.

Given the batch's records and what the store holds of their ids already, a record is new, unchanged
(the stored document is byte-identical) or changed; the per-hour counts move by the differences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..record import IngestSummary, StoredRecord
from .codes import CALL_TYPE_CODES, CHANGE_OP_CODES, STATUS_CODES
from .paging import bucket_of


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
class BatchPlan:
    new: list[CodedRecord] = field(default_factory=list)
    changed: list[tuple[CodedRecord, StoredRow]] = field(default_factory=list)
    unchanged: int = 0
    deltas: Counter[tuple[int, int, int]] = field(default_factory=Counter)

    def count_changes(self) -> list[tuple[int, int, int, int]]:
        """(bucket, call type, status, change) of every count that moves, in key order (so that
        concurrent writers lock count rows in the same order)."""
        return sorted((*key, n) for key, n in self.deltas.items() if n)

    def change_entries(self) -> list[tuple[int, str]]:
        """The change log entries this batch makes, (op code, id) in id order: an insert for each
        new record, an update for each changed one; an unchanged record makes none."""
        insert, update = CHANGE_OP_CODES["insert"], CHANGE_OP_CODES["update"]
        entries = [(insert, c.record.id) for c in self.new]
        entries += [(update, c.record.id) for c, _ in self.changed]
        return sorted(entries, key=lambda entry: entry[1])

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
        plan.deltas[(bucket_of(r.call_date_ms), coded.call_type, coded.status)] += 1
    return plan
