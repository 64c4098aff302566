"""`cdrstore import`: files of records into one app, in one transaction.

If any record of any file is invalid, nothing is stored and the errors (the first hundred) are
reported; otherwise the planner's statistics are refreshed for what was loaded.
"""

from __future__ import annotations

import logging

from ..gcpause import gc_paused
from ..ingest.importer import (
    DEFAULT_OPTIONS,
    ImportOptions,
    ImportResult,
    ImportSource,
    Progress,
    validate_and_write,
)
from ..record import IngestSummary
from ..store import Store
from ..store.plan import prepare_packed, unpack
from ..store.writebehind import WriteBehind
from .accounts import require_app

log = logging.getLogger("cdrstore.import")


class _RollBack(Exception):
    """Leaves the writer's transaction so that it rolls back."""


def import_files(
    store: Store,
    app_id: str,
    sources: list[ImportSource],
    options: ImportOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate and store every record of every source, or nothing (`invalid` > 0). Sources are
    JSON or NDJSON, or in a CDR source's own format read by `source_format` under `policy`."""
    require_app(store, app_id)
    result = ImportResult()
    try:
        with gc_paused(), store.records.writer(app_id, options.cache_mb) as writer:
            # The database writes one chunk while the next is staged beside it.
            with WriteBehind(writer) as behind:
                result = validate_and_write(
                    sources,
                    prepare_packed,
                    lambda data: behind.write(unpack(data)),
                    options,
                    progress,
                )
                if result.invalid:
                    raise _RollBack
            result.counts = behind.counts
    except _RollBack:
        result.counts = IngestSummary.empty()
    if result.counts.inserted or result.counts.updated:
        try:
            store.records.refresh_statistics()
        except Exception as exc:  # the records are committed; stale statistics only slow reads
            log.warning("imported, but could not update the planner's statistics: %s", exc)
    return result
