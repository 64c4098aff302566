"""Files of records, validated with POST's rules and handed to a writer chunk by chunk.

Decoding and validation, the expensive part, run in worker processes while the caller writes, so
the two overlap on a machine with several cores. NDJSON is streamed (memory stays flat).
"""

from __future__ import annotations

import gc
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO

from ..contract import BATCH_MAX_RECORDS
from ..record import IngestSummary, StoredRecord
from .batch import BatchValidator, Decoded, RecordError, decode_chunk, read_file_chunks

CHUNK_RECORDS = BATCH_MAX_RECORDS


@dataclass
class ImportSource:
    name: str  # shown in errors; "-" for standard input
    stream: IO[bytes]
    size: int | None = None  # bytes, when known (for progress)


@dataclass
class ImportResult:
    counts: IngestSummary = field(default_factory=IngestSummary.empty)
    errors: list[tuple[str, RecordError]] = field(default_factory=list)
    invalid: int = 0


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


Write = Callable[[list[StoredRecord]], IngestSummary]
"""Stores a chunk of valid records (inside the caller's transaction)."""


def validate_and_write(
    sources: list[ImportSource], write: Write, jobs: int = 1, progress: Progress | None = None
) -> ImportResult:
    """Validate every record of every source; write the valid ones until the first invalid one is
    seen. `invalid` > 0 in the result means the caller must not keep what was written; a source
    that is not JSON or NDJSON at all raises BatchError."""
    result = ImportResult()
    seen: dict[str, str] = {}
    done = read = 0
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=gc.disable) if jobs > 1 else None
    try:
        for source in sources:
            validator = BatchValidator(source=source.name if len(sources) > 1 else "", seen=seen)
            chunks = read_file_chunks(source.stream, CHUNK_RECORDS)
            for decoded, size in _decoded_chunks(chunks, pool, jobs):
                records = validator.accept(decoded)
                if not result.invalid and not validator.invalid:
                    result.counts.add(write(records))
                done += len(decoded)
                read += size
                if progress:
                    progress(done, read)
            result.invalid += validator.invalid
            result.errors.extend((source.name, error) for error in validator.errors)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return result
