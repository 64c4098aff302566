"""Files of records, validated with POST's rules and handed to a writer chunk by chunk.

Decoding and validation, the expensive part, run in worker processes while the caller writes, so
the two overlap on a machine with several cores. NDJSON is streamed (memory stays flat).
"""

from __future__ import annotations

import gc
import io
import os
import stat
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Final, TypeVar

import msgspec

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


# Holds the indexes an import writes in random order (identities, number search) of a store of
# 10,000,000 records: 1.8 GB at 9,000,000 (docs/performance.md#round-seven-an-import-into-a-large-store).
CACHE_MB_MAX: Final = 2048


def default_cache_mb() -> int:
    """The writer's page cache for an import: a quarter of the memory, at most CACHE_MB_MAX."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or it cannot tell
        return 256
    return max(16, min(CACHE_MB_MAX, memory // 4 >> 20))


Prepared = TypeVar("Prepared")
Prepare = Callable[[list[StoredRecord]], Prepared]
"""Works out what a chunk of valid records will write, before the writer takes it (it runs in
the worker processes with the decoding: a top-level function, so that it can be sent there; what
it returns comes back pickled, so it should be quick to unpickle)."""

DecodedChunk = tuple[Outline, Prepared | None, int, int]
"""What a worker sends back of a chunk: its outline (positions counted from the chunk's first
line, or absolute where the chunk is not a range of lines), its records prepared if every one
is valid (a chunk with an invalid record is never written), the lines it spans, the bytes read."""


def _decoded(
    chunk: Sequence[tuple[int, RawRecord]], ignore_unknown: bool, prepare: Prepare[Prepared]
) -> tuple[Outline, Prepared | None]:
    decoded = decode_chunk(chunk, ignore_unknown)
    valid = [item for _, item in decoded if not isinstance(item, list)]
    return outline(decoded), (prepare(valid) if len(valid) == len(decoded) else None)


def decode_and_prepare(
    chunk: Sequence[tuple[int, RawRecord]], ignore_unknown: bool, prepare: Prepare[Prepared]
) -> DecodedChunk[Prepared]:
    """A chunk of records read by the caller, decoded and prepared."""
    size = sum(len(raw) for _, raw in chunk if not isinstance(raw, list))
    return (*_decoded(chunk, ignore_unknown, prepare), 0, size)


def decode_range(
    path: str, start: int, end: int, ignore_unknown: bool, prepare: Prepare[Prepared]
) -> DecodedChunk[Prepared]:
    """The NDJSON lines of bytes [start, end) of a file (whole lines), read, decoded and
    prepared here: the lines never pass through the importing process."""
    with open(path, "rb") as f:
        data = os.pread(f.fileno(), end - start, start)
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the range ends after a line's end
        lines.pop()
    chunk = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    return (*_decoded(chunk, ignore_unknown, prepare), len(lines), len(data))


Work = tuple[Callable[..., DecodedChunk[Prepared]], tuple[Any, ...]]
"""A function for a decoding process and its arguments."""


def _job(fn: Callable[..., DecodedChunk[Prepared]], *args: Any) -> Work[Prepared]:
    return fn, args


def _shifted(items: Outline, lines: int) -> Outline:
    """A range's outline, its positions (and its errors') counted from the file's first line."""
    return [
        (
            lines + n,
            item
            if isinstance(item, str)
            else [msgspec.structs.replace(e, index=lines + e.index) for e in item],
        )
        for n, item in items
    ]


def _in_order(
    work: Iterator[Work[Prepared]],
    pool: ProcessPoolExecutor | None,
    jobs: int,
) -> Iterator[DecodedChunk[Prepared]]:
    """Each piece of work done (in the pool, if any), its results in order; at most 2 x jobs in
    flight."""
    if pool is None:
        for fn, args in work:
            yield fn(*args)
        return
    pending: deque[Future[DecodedChunk[Prepared]]] = deque()
    for fn, args in work:
        pending.append(pool.submit(fn, *args))
        if len(pending) >= 2 * jobs:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


RANGE_BYTES: Final = 12 << 20  # a chunk of a file read by a worker (about 10,000 records of 1.3 kB)
# The first chunks are smaller, doubling up to RANGE_BYTES: the writer, which sets the pace, waits
# only for a small chunk to be decoded before it starts.
FIRST_RANGE_BYTES: Final = RANGE_BYTES >> 4


def _ranges(stream: IO[bytes]) -> Iterator[tuple[int, int]]:
    """[start, end) byte ranges of a file from where the stream stands, each of whole lines."""
    start, size = stream.tell(), os.fstat(stream.fileno()).st_size
    step = FIRST_RANGE_BYTES
    while start < size:
        stream.seek(min(start + step, size))
        stream.readline()
        end = min(stream.tell(), size)
        yield start, end
        start, step = end, min(2 * step, RANGE_BYTES)


def _on_disk(stream: IO[bytes]) -> str | None:
    """The path of a stream that reads a regular file as it is (no decompression), else None."""
    raw = getattr(stream, "raw", None)
    if not isinstance(raw, io.FileIO) or not isinstance(raw.name, str):
        return None
    return raw.name if stat.S_ISREG(os.fstat(raw.fileno()).st_mode) else None


DEFAULT_POLICY: Final = Policy()


Locate = Callable[[int], str]


def _locator(name: str, by_line: bool) -> Locate:
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


def _work(
    source: ImportSource, options: ImportOptions, prepare: Prepare[Prepared]
) -> tuple[Iterator[Work[Prepared]], Locate]:
    """The source's chunks as work for the decoding processes, and how a position in it reads.
    An NDJSON file on disk is handed out as byte ranges, which the workers read themselves."""
    ignore = options.ignore_unknown
    source_format = options.source_format
    if source_format is not None:
        records = source_format.convert(source.stream, source.name, options.policy)
        chunks = (_job(decode_and_prepare, c, ignore, prepare) for c in _chunked(records))
        return chunks, _locator(source.name, source_format.unit == "line")
    layout = detect_layout(source.stream, source.name)
    path = _on_disk(source.stream)
    if layout == "ndjson" and path is not None:
        ranges = _ranges(source.stream)
        return (_job(decode_range, path, a, b, ignore, prepare) for a, b in ranges), _locator(
            source.name, True
        )
    read = read_file_chunks(source.stream, layout, CHUNK_RECORDS)
    chunks = (_job(decode_and_prepare, c, ignore, prepare) for c in read)
    return chunks, _locator(source.name, layout == "ndjson")


@dataclass(frozen=True)
class ImportOptions:
    jobs: int = 1  # processes decoding and validating beside the writer
    ignore_unknown: bool = False  # drop keys the model does not know
    source_format: SourceFormat | None = None  # a CDR source's format; None: JSON or NDJSON
    policy: Policy = DEFAULT_POLICY  # the source's --internal and --tz
    cache_mb: int | None = None  # the writer's page cache (SQLite); None: the usual one


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
    first invalid one is seen. `invalid` > 0 in the result means the caller must not keep what
    was written; a source that is not JSON or NDJSON at all raises BatchError."""
    result = ImportResult()
    seen: dict[str, str] = {}
    done = read = 0
    jobs = options.jobs
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=gc.disable) if jobs > 1 else None
    try:
        for source in sources:
            work, locate = _work(source, options, prepare)
            validator = BatchValidator(locate=locate, seen=seen)
            lines = 0  # of the source, before the chunk in hand
            for items, prepared, spanned, size in _in_order(work, pool, jobs):
                if spanned:
                    items = _shifted(items, lines)
                    lines += spanned
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
