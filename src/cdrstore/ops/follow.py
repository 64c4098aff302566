"""Following a PBX's CDR table: read the rows after the saved position, validate them as every
record is validated, and store each batch together with its new position in one transaction
(ops.sources), so that a follower killed at any moment and restarted neither skips nor repeats.

A row that fails validation stops the follower: the rows before it are stored with the position
just before it, and `RowRefused` says which row and why (the operator fixes the configuration or
the row, and restarts; nothing is skipped silently).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DomainError
from ..ingest.sources import kamailio
from ..ingest.sources.policy import Policy
from ..record import StoredRecord
from ..store import Store, redact_url
from ..store.foreign import read_rows_after
from ..validation import RecordInvalid, decode_record
from .sources import ingest_from_source, source_position

BATCH_ROWS = 500


class RowRefused(DomainError):
    """A source row that does not make a valid record; the position stays before it."""

    def __init__(self, row_id: int, reason: str) -> None:
        super().__init__(f"row id {row_id}: {reason}")
        self.row_id = row_id


@dataclass
class FollowSummary:
    source: str  # as positions name it (no password)
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    position: int = 0


def kamailio_source_name(url: str) -> str:
    return f"kamailio:{redact_url(url)}"


def _stored(
    store: Store,
    app_id: str,
    summary: FollowSummary,
    records: dict[str, StoredRecord],
    rows: int,
    position: int,
) -> None:
    counts = ingest_from_source(
        store, app_id, summary.source, list(records.values()), str(position)
    )
    summary.rows += rows
    summary.inserted += counts.inserted
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged
    summary.position = position


def read_kamailio_batch(
    store: Store,
    app_id: str,
    url: str,
    policy: Policy,
    summary: FollowSummary,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Read and store the next batch; the number of rows read (0: nothing new)."""
    saved = source_position(store, app_id, summary.source)
    after = int(saved) if saved and saved.isdigit() else 0
    summary.position = after
    rows = read_rows_after(url, kamailio.TABLE, after, batch_rows)
    # by id: a Call-ID seen twice in one batch (a reused Call-ID, a dialog written again) is one
    # record, the later row's, as it would be across two batches
    records: dict[str, StoredRecord] = {}
    position = after
    for read, row in enumerate(rows):
        row_id = int(row["id"])
        try:
            record = decode_record(kamailio.encode_row(row, policy))
        except (kamailio.RowError, RecordInvalid) as exc:
            if records:
                _stored(store, app_id, summary, records, read, position)
            raise RowRefused(row_id, str(exc)) from None
        records.pop(record.id, None)
        records[record.id] = record
        position = row_id
    if rows:
        _stored(store, app_id, summary, records, len(rows), position)
    return len(rows)


def follow_kamailio(
    store: Store,
    app_id: str,
    url: str,
    policy: Policy,
    *,
    once: bool,
    interval: float,
    progress: Callable[[FollowSummary, int], None] = lambda summary, rows: None,
    batch_rows: int = BATCH_ROWS,
) -> FollowSummary:
    """Read Kamailio's cdrs table from the saved position on; with `once`, until nothing is new,
    else for ever, sleeping `interval` seconds whenever it has caught up."""
    summary = FollowSummary(kamailio_source_name(url))
    source_position(store, app_id, summary.source)  # an unknown app stops here, before reading
    while True:
        rows = read_kamailio_batch(store, app_id, url, policy, summary, batch_rows)
        progress(summary, rows)
        if rows == batch_rows:
            continue  # more may be waiting
        if once:
            return summary
        time.sleep(interval)
