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
from typing import IO, Final, TypeVar

from ..contract import BATCH_MAX_RECORDS, BATCH_MAX_REPORTED_ERRORS
from ..record import IngestSummary, StoredRecord
from .batch import (
    BatchValidator,
    Outline,
    RawRecord,
    RecordError,
    decode_chunk,
    detect_layout,
    outline,
    read_file_chunks,
)
from .sources import Policy, SourceFormat

CHUNK_RECORDS = BATCH_MAX_RECORDS


@dataclass
class ImportSource:
    name: str  # shown in errors; "-" for standard input
    stream: IO[bytes]
    size: int | None = None  # bytes, when known (for progress)


@dataclass
class ImportResult:
    counts: IngestSummary = field(default_factory=IngestSummary.empty)
    # (where: `FILE:LINE` in NDJSON, `FILE index N` in a JSON document; the error), the first ones
    errors: list[tuple[str, RecordError]] = field(default_factory=list)
    invalid: int = 0  # records


Progress = Callable[[int, int], None]
"""Called with (records done, bytes read) as the import goes."""


def default_jobs() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


def _size(chunk: list[tuple[int, RawRecord]]) -> int:
    return sum(len(raw) for _, raw in chunk if not isinstance(raw, list))


Prepared = TypeVar("Prepared")
Prepare = Callable[[list[StoredRecord]], Prepared]
"""Works out what a chunk of valid records will write, before the writer takes it (it runs in
the worker processes with the decoding: a top-level function, so that it can be sent there; what
it returns comes back pickled, so it should be quick to unpickle)."""


def decode_and_prepare(
    chunk: list[tuple[int, RawRecord]], ignore_unknown: bool, prepare: Prepare[Prepared]
) -> tuple[Outline, Prepared | None]:
    """The chunk decoded: its outline, and its records prepared if every one of them is valid
    (a chunk with an invalid record is never written)."""
    decoded = decode_chunk(chunk, ignore_unknown)
    valid = [item for _, item in decoded if not isinstance(item, list)]
    return outline(decoded), (prepare(valid) if len(valid) == len(decoded) else None)


def _decoded_chunks(
    chunks: Iterator[list[tuple[int, RawRecord]]],
    pool: ProcessPoolExecutor | None,
    jobs: int,
    ignore_unknown: bool,
    prepare: Prepare[Prepared],
) -> Iterator[tuple[tuple[Outline, Prepared | None], int]]:
    """((outline, prepared), raw bytes) of each chunk in file order; at most 2 x jobs chunks in
    flight."""
    if pool is None:
        for chunk in chunks:
            yield decode_and_prepare(chunk, ignore_unknown, prepare), _size(chunk)
        return
    pending: deque[tuple[Future[tuple[Outline, Prepared | None]], int]] = deque()
    for chunk in chunks:
        work = pool.submit(decode_and_prepare, chunk, ignore_unknown, prepare)
        pending.append((work, _size(chunk)))
        if len(pending) >= 2 * jobs:
            future, size = pending.popleft()
            yield future.result(), size
    while pending:
        future, size = pending.popleft()
        yield future.result(), size


DEFAULT_POLICY: Final = Policy()


def _locator(name: str, by_line: bool) -> Callable[[int], str]:
    if by_line:
        return lambda line: f"{name}:{line}"
    return lambda index: f"{name} index {index}"


def _chunked(items: Iterator[tuple[int, RawRecord]]) -> Iterator[list[tuple[int, RawRecord]]]:
    chunk: list[tuple[int, RawRecord]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK_RECORDS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _raw_records(
    source: ImportSource, source_format: SourceFormat | None, policy: Policy
) -> tuple[Iterator[list[tuple[int, RawRecord]]], Callable[[int], str]]:
    """The source's records in chunks, and how a position in it reads."""
    if source_format is not None:
        records = source_format.convert(source.stream, source.name, policy)
        return _chunked(records), _locator(source.name, source_format.unit == "line")
    layout = detect_layout(source.stream, source.name)
    chunks = read_file_chunks(source.stream, layout, CHUNK_RECORDS)
    return chunks, _locator(source.name, layout == "ndjson")  # type: ignore[return-value]


@dataclass(frozen=True)
class ImportOptions:
    jobs: int = 1  # processes decoding and validating beside the writer
    ignore_unknown: bool = False  # drop keys the model does not know
    source_format: SourceFormat | None = None  # a CDR source's format; None: JSON or NDJSON
    policy: Policy = DEFAULT_POLICY  # the source's --internal and --tz


DEFAULT_OPTIONS: Final = ImportOptions()


def validate_and_write(
    sources: list[ImportSource],
    prepare: Prepare[Prepared],
    write: Callable[[Prepared], object],
    options: ImportOptions = DEFAULT_OPTIONS,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate every record of every source; write the valid ones, chunk by chunk as `prepare`
    made them (inside the caller's transaction, which counts what became of them), until the
    first invalid one is seen. `invalid` > 0 in the result means the caller must not keep what was written; a source
    that is not JSON or NDJSON at all raises BatchError."""
    result = ImportResult()
    seen: dict[str, str] = {}
    done = read = 0
    jobs, ignore_unknown = options.jobs, options.ignore_unknown
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=gc.disable) if jobs > 1 else None
    try:
        for source in sources:
            chunks, locate = _raw_records(source, options.source_format, options.policy)
            validator = BatchValidator(locate=locate, seen=seen)
            for (items, prepared), size in _decoded_chunks(
                chunks, pool, jobs, ignore_unknown, prepare
            ):
                validator.check(items)
                if not result.invalid and not validator.invalid and prepared is not None:
                    write(prepared)
                done += len(items)
                read += size
                if progress:
                    progress(done, read)
            result.invalid += validator.invalid
            room = BATCH_MAX_REPORTED_ERRORS - len(result.errors)
            result.errors += [
                (locate(e.index) + (f":{e.column}" if e.column else ""), e)
                for e in validator.errors[: max(0, room)]
            ]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return result
