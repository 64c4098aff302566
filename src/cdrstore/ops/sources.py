"""CDR sources read continuously (a follower of a PBX's CDR table, a mirror of another server):
records stored together with where the source was read up to, so a restart neither skips nor
repeats."""

from __future__ import annotations

from collections.abc import Sequence

from ..record import IngestSummary, StoredRecord
from ..store import Store
from .accounts import require_app


def source_position(store: Store, app_id: str, source: str) -> str | None:
    """Where `source` was last read up to for this app; None if never."""
    require_app(store, app_id)
    return store.records.position(app_id, source)


def ingest_from_source(
    store: Store, app_id: str, source: str, records: Sequence[StoredRecord], position: str
) -> IngestSummary:
    """Store records read from a source and its new position, in one transaction."""
    return store.records.ingest(app_id, records, at=(source, position))
