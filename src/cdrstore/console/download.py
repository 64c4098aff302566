"""Exports of the console's current filter, streamed: the export writers (`export.py`) write into
a sink that hands its bytes on in chunks, so that neither side holds the whole file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Final

from ..export import open_writer

DOWNLOAD_FORMATS: Final = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
FLUSH_EVERY: Final = 1_000  # records between chunks


class ChunkSink(io.RawIOBase):
    """A write-only stream whose bytes are taken away as they come; it counts what it was given
    so that `tell()` (which Parquet's writer asks) stays true."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.written

    def take(self) -> bytes:
        taken, self.chunks = b"".join(self.chunks), []
        return taken


def stream_export(docs: Iterator[bytes], fmt: str) -> Iterator[bytes]:
    """The records in the format, a chunk at a time."""
    sink = ChunkSink()
    writer = open_writer(fmt, sink)  # type: ignore[arg-type]
    for doc in docs:
        writer.write(doc)
        if writer.count % FLUSH_EVERY == 0:
            yield sink.take()
    writer.close()
    yield sink.take()
