"""What the store keeps and answers with, and the interface every records backend implements.

The store is split by concern: `RecordStore` (an app's call records: write, page, iterate, retention,
statistics), `accounts.AccountStore` (apps and tokens, the same on every backend) and the rate-limit
windows of `windows.py`. `Store` (in `__init__`) holds one of each over one database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..query import PageQuery, StatsQuery
from ..record import IngestSummary, StoredRecord
from .errors import translating
from .plan import PreparedBatch, prepare


@dataclass(frozen=True)
class App:
    app_id: str
    name: str
    created_at: int


@dataclass(frozen=True)
class TokenInfo:
    """A token as stored: never the secret, only what identifies and limits it."""

    token_id: str
    app_id: str
    name: str
    scopes: frozenset[str]
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    token_hash: str = field(default="", repr=False, compare=False)  # to check a match against

    def is_active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Page:
    docs: list[bytes]  # canonical JSON of each record, ready to send
    has_more: bool


@dataclass
class RetentionReport:
    """What `apply_retention` removed (or, on a dry run, would remove)."""

    cutoff_ms: int
    dry_run: bool
    removed: dict[str, int]  # app ID -> records
    dropped_partitions: list[str]


@dataclass(frozen=True)
class Change:
    """One entry of an app's change log, as read back."""

    position: int
    op: str  # "insert" | "update" | "delete"
    id: str
    doc: bytes | None  # the record's canonical JSON as it is now; None: a delete, or deleted since
    logged_at: int  # epoch ms


@dataclass(frozen=True)
class RemovedApp:
    """What `delete_app` removed with the app."""

    records: int
    tokens: int


class BatchWriter(ABC):
    """Writes an app's records inside one transaction; committed when its context exits cleanly."""

    def stage(self, batch: PreparedBatch) -> object:
        """What writing the batch sends if its records are all new, worked out without the
        database: safe while another thread writes the batch before (`WriteBehind`)."""
        return batch

    @abstractmethod
    def write_staged(self, staged: object) -> IngestSummary:
        """Write a batch as `stage` left it."""

    def write(self, batch: PreparedBatch) -> IngestSummary:
        return self.write_staged(self.stage(batch))

    @abstractmethod
    def keep_position(self, source: str, position: str) -> None:
        """Where `source` was read up to, committed with the records written here."""


SourcePosition = tuple[str, str]
"""(source, position): where a CDR source was read up to."""


def write_batch(
    writer: BatchWriter, batch: PreparedBatch, at: SourcePosition | None
) -> IngestSummary:
    summary = writer.write(batch) if batch.rows else IngestSummary.empty()
    if at is not None:
        writer.keep_position(*at)
    return summary


class RecordStore(ABC):
    """An app's call records on one backend. Every public method raises only store errors: a
    subclass's implementations are wrapped in `errors.translating` as the class is made."""

    PUBLIC: ClassVar = (
        "writer",
        "ingest",
        "page",
        "iter_docs",
        "count_records",
        "position",
        "apply_retention",
        "refresh_statistics",
        "delete_app",
        "changes",
        "change_bounds",
        "trim_changes",
        "erase",
        "stats",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.PUBLIC:
            if name in cls.__dict__:
                setattr(cls, name, translating(cls.__dict__[name]))

    @abstractmethod
    def writer(
        self, app_id: str, cache_mb: int | None = None
    ) -> AbstractContextManager[BatchWriter]:
        """A transaction to write one app's records in; rolled back if the block raises.
        `cache_mb`: the pages the transaction may keep in memory, for long writes into a large
        store, on a backend whose cache is the connection's (SQLite); None: the usual cache."""

    def ingest(
        self, app_id: str, records: Sequence[StoredRecord], at: SourcePosition | None = None
    ) -> IngestSummary:
        """Write one batch in a transaction of its own (with where its source was read up to)."""
        batch = prepare(records)  # before the transaction: the write lock is held for less
        with self.writer(app_id) as writer:
            return write_batch(writer, batch, at)

    @abstractmethod
    def page(self, app_id: str, query: PageQuery) -> Page: ...

    @abstractmethod
    def iter_docs(self, app_id: str, query: PageQuery) -> Iterator[bytes]:
        """Every matching record from the query's offset on, streamed (for exports)."""

    @abstractmethod
    def count_records(self, app_id: str) -> int: ...

    @abstractmethod
    def stats(self, app_id: str, query: StatsQuery) -> dict[int | str, list[int]]:
        """The app's calls matching the query, summed by group key (`store.stats.StatsReader`):
        for each key, the calls of each status (by code), then the talk time in ms."""

    @abstractmethod
    def position(self, app_id: str, source: str) -> str | None:
        """Where `source` was last read up to for this app (None: never)."""

    @abstractmethod
    def apply_retention(
        self, cutoff_ms: int, app_ids: Sequence[str], *, every_app: bool, dry_run: bool
    ) -> RetentionReport:
        """Remove the records of these apps with callDate < cutoff. `every_app`: the apps are all
        there are, so whole partitions older than the cutoff may go at once."""

    @abstractmethod
    def delete_app(self, app_id: str) -> RemovedApp:
        """Remove the app and everything it holds (records, counts, identities, tokens) in one
        transaction. The rate-limit windows are keyed by token, not by app: they expire alone."""

    @abstractmethod
    def refresh_statistics(self) -> None:
        """Bring the query planner's picture of the data up to date after a bulk load."""

    @abstractmethod
    def changes(self, app_id: str, after: int, limit: int) -> list[Change]:
        """The app's change log entries at positions > after, ascending, at most `limit`, each
        with its record's document as it is at the time of reading."""

    @abstractmethod
    def change_bounds(self, app_id: str) -> tuple[int, int]:
        """(trimmed through, head): every position up to the first is gone; the second is the last
        position handed out. (0, 0) for an app that has logged nothing."""

    @abstractmethod
    def trim_changes(self, cutoff_ms: int) -> int:
        """Drop every app's change log entries logged before the cutoff; how many went."""

    @abstractmethod
    def erase(self, app_id: str, matches: Callable[[bytes], bool], *, dry_run: bool) -> list[str]:
        """Remove the app's records whose stored document `matches`, in one transaction that
        logs their deletes; their ids, sorted (on a dry run: what would go, removing nothing)."""
