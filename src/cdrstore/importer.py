"""`cdrstore import`: files of records into one app, with POST's validation and idempotency.

The whole import is one transaction: if any record of any file is invalid, nothing is stored and
every error (the first hundred) is reported. Decoding and validation, the expensive part, run in
worker processes while this process writes, so the two overlap on a machine with several cores.
"""

from __future__ import annotations

import gc
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO

from .batch import BatchValidator, Decoded, RecordError, decode_chunk, read_file_chunks
from .contract import BATCH_MAX_RECORDS
from .gcpause import gc_paused
from .store import IngestCounts, Store, UnknownApp

log = logging.getLogger("cdrstore.import")

CHUNK_RECORDS = BATCH_MAX_RECORDS


@dataclass
class ImportSource:
    name: str  # shown in errors; "-" for standard input
    stream: IO[bytes]
    size: int | None = None  # bytes, when known (for progress)


@dataclass
class ImportResult:
    counts: IngestCounts = field(default_factory=IngestCounts)
    errors: list[tuple[str, RecordError]] = field(default_factory=list)
    invalid: int = 0


class _RollBack(Exception):
    """Leaves the writer's transaction so that it rolls back."""


Progress = Callable[[int, int], None]
"""Called with (records done, bytes read) as the import goes."""


def default_jobs() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


def _decoded_chunks(
    chunks: Iterator[list[tuple[int, bytes]]], pool: ProcessPoolExecutor | None, jobs: int
) -> Iterator[tuple[Decoded, int]]:
    """(decoded chunk, raw bytes) in file order; at most 2 x jobs chunks in flight."""
    if pool is None:
        for chunk in chunks:
            yield decode_chunk(chunk), sum(len(raw) for _, raw in chunk)
        return
    pending: deque[tuple[Future[Decoded], int]] = deque()
    for chunk in chunks:
        pending.append((pool.submit(decode_chunk, chunk), sum(len(raw) for _, raw in chunk)))
        if len(pending) >= 2 * jobs:
            future, size = pending.popleft()
            yield future.result(), size
    while pending:
        future, size = pending.popleft()
        yield future.result(), size


def import_files(
    store: Store,
    app_id: str,
    sources: list[ImportSource],
    jobs: int = 1,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate and store every record of every source in one transaction.

    If any record is invalid nothing is stored and the result lists the errors (`invalid` > 0);
    a source that is not JSON or NDJSON at all raises BatchError.
    """
    if store.get_app(app_id) is None:
        raise UnknownApp(
            f"no app {app_id!r}: create it with `cdrstore apps create NAME --id {app_id}`"
        )
    result = ImportResult()
    seen: dict[str, str] = {}
    done = read = 0
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=gc.disable) if jobs > 1 else None
    try:
        with gc_paused(), store.writer(app_id) as writer:
            for source in sources:
                validator = BatchValidator(
                    source=source.name if len(sources) > 1 else "", seen=seen
                )
                chunks = read_file_chunks(source.stream, CHUNK_RECORDS)
                for decoded, size in _decoded_chunks(chunks, pool, jobs):
                    records = validator.accept(decoded)
                    if not result.invalid and not validator.invalid:
                        result.counts.add(writer.write(records))
                    done += len(decoded)
                    read += size
                    if progress:
                        progress(done, read)
                result.invalid += validator.invalid
                result.errors.extend((source.name, error) for error in validator.errors)
            if result.invalid:
                raise _RollBack
    except _RollBack:
        result.counts = IngestCounts()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if result.counts.inserted or result.counts.updated:
        try:
            store.refresh_statistics()
        except Exception as exc:  # the records are committed; stale statistics only slow reads
            log.warning("imported, but could not update the planner's statistics: %s", exc)
    return result
