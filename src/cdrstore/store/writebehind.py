"""Writing on a thread of its own, so that the database works on one batch while the caller gets
the next one ready (an import: docs/performance.md#ingest).

The caller stages each batch (`BatchWriter.stage`: rows, COPY data, parameters, all worked out
without the database) and hands it over; one thread writes the batches in order, one at a time,
in the writer's transaction. At most one staged batch waits, so memory stays bounded. The
database driver lets go of the GIL while it waits on the server or steps through SQLite, which is
when the caller's thread runs.
"""

from __future__ import annotations

import threading
from queue import Queue
from types import TracebackType
from typing import Final

from ..record import IngestSummary
from .base import BatchWriter
from .plan import PreparedBatch

_DONE: Final = object()  # no more batches


class WriteBehind:
    """Writes a writer's batches on a thread of its own. Use as a context manager: leaving it
    cleanly waits for the last batch (and raises what writing raised); leaving it on an exception
    stops writing, so that the writer's transaction can roll back."""

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer
        self.counts = IngestSummary.empty()
        self._queue: Queue[object] = Queue(maxsize=1)
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cdrstore-writer", daemon=True)

    def __enter__(self) -> WriteBehind:
        self._thread.start()
        return self

    def write(self, batch: PreparedBatch) -> None:
        """Stage the batch here, then queue it (waiting while the one before still waits)."""
        self._raise_failure()
        self._queue.put(self.writer.stage(batch))

    def _run(self) -> None:
        while (staged := self._queue.get()) is not _DONE:
            if self._failed is None:
                try:
                    self.counts.add(self.writer.write_staged(staged))
                except BaseException as exc:  # handed to the caller's thread
                    self._failed = exc

    def _raise_failure(self) -> None:
        if self._failed is not None:
            raise self._failed

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None and self._failed is None:
            self._failed = exc  # the batches still queued are not written
        self._queue.put(_DONE)
        self._thread.join()
        if exc is None:
            self._raise_failure()
