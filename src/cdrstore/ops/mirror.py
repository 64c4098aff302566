"""`cdrstore mirror`: copy an account's call details from a CINNOX-compatible server (CINNOX keeps
them for a limited time) into a local app, and keep copying.

The reference API has no change feed and late records appear, so the mirror reads closed time
windows: [where it got to last time minus an overlap, now), page by page in (callDate, id) order,
storing each batch together with how far it got (`ops.sources`). A closed window's offsets never
skip a record when new ones arrive meanwhile (they can only repeat one, which is stored once); the
overlap re-reads the recent past on every run, so late records and recent updates arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx

from ..client import Client
from ..contract import PAGE_LIMIT_MAX
from ..query import CallFilters
from ..record import IngestSummary, StoredRecord
from ..store import Store
from ..timestamps import format_timestamp
from ..validation import RecordInvalid, decode_record
from .accounts import require_app
from .sources import ingest_from_source, source_position

MIN_INSTANT_MS: Final = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z
REQUESTS_A_MINUTE: Final = 500  # the reference API's limit a token


class RemoteRecordInvalid(RecordInvalid):
    """A record the remote serves that the model refuses: it cannot be mirrored."""


@dataclass(frozen=True)
class Remote:
    base_url: str
    app_id: str
    token: str  # never shown: not in a repr, a message or the source's key

    def __repr__(self) -> str:
        return f"Remote(base_url={self.base_url!r}, app_id={self.app_id!r}, token=***)"

    @property
    def key(self) -> str:
        """The source's name for its position: the server and the app, never the token."""
        return f"mirror:{self.base_url.rstrip('/')}/{self.app_id}"


class PacedTransport(httpx.HTTPTransport):
    """At most `per_minute` requests a minute, spread evenly: the reference API refuses more."""

    def __init__(self, per_minute: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gap = 60.0 / per_minute
        self._next = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wait = self._next - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next = max(time.monotonic(), self._next) + self._gap
        return super().handle_request(request)


def remote_client(remote: Remote, per_minute: int = REQUESTS_A_MINUTE) -> Client:
    # A long patience: a 429 says how long to wait (up to a minute), and the mirror can wait.
    return Client(
        remote.base_url,
        remote.app_id,
        remote.token,
        transport=PacedTransport(per_minute),
        max_retries=30,
        max_wait=30 * 60,
    )


@dataclass
class MirrorRun:
    start_ms: int
    end_ms: int
    summary: IngestSummary


Progress = Callable[[int], None]
"""Called with the records read so far in this run."""


def _batches(client: Client, window: CallFilters) -> Iterator[list[StoredRecord]]:
    batch: list[StoredRecord] = []
    for raw in client.iter_raw(window):
        try:
            batch.append(decode_record(raw, ignore_unknown=True))
        except RecordInvalid as exc:
            raise RemoteRecordInvalid(exc.errors) from None
        if len(batch) >= PAGE_LIMIT_MAX:  # a page at a time: a stop loses at most one
            yield batch
            batch = []
    if batch:
        yield batch


def mirror_once(
    store: Store,
    app_id: str,
    remote: Remote,
    client: Client,
    *,
    since_ms: int | None = None,
    overlap_ms: int = 0,
    now_ms: int | None = None,
    progress: Progress | None = None,
) -> MirrorRun:
    """Read [last position - overlap (or since), now) from the remote into the app."""
    require_app(store, app_id)
    position = source_position(store, app_id, remote.key)
    floor = MIN_INSTANT_MS if since_ms is None else since_ms
    start = floor if position is None else max(floor, int(position) - overlap_ms)
    end = int(time.time() * 1000) if now_ms is None else now_ms
    window = CallFilters(start_at=format_timestamp(start), end_at=format_timestamp(end))
    summary, read = IngestSummary.empty(), 0
    for batch in _batches(client, window):
        # How far this run got: every record before the batch's last callDate is stored.
        reached = batch[-1].call_date_ms
        summary.add(ingest_from_source(store, app_id, remote.key, batch, str(max(reached, start))))
        read += len(batch)
        if progress:
            progress(read)
    summary.add(ingest_from_source(store, app_id, remote.key, [], str(end)))
    return MirrorRun(start, end, summary)


def mirror(
    store: Store,
    app_id: str,
    remote: Remote,
    *,
    since_ms: int | None = None,
    overlap_ms: int = 0,
    follow_every: float | None = None,
    per_minute: int = REQUESTS_A_MINUTE,
    progress: Progress | None = None,
    on_run: Callable[[MirrorRun], None] | None = None,
) -> None:
    """Mirror once, or (follow_every seconds) for ever."""
    with remote_client(remote, per_minute) as client:
        while True:
            run = mirror_once(
                store,
                app_id,
                remote,
                client,
                since_ms=since_ms,
                overlap_ms=overlap_ms,
                progress=progress,
            )
            if on_run:
                on_run(run)
            if follow_every is None:
                return
            time.sleep(follow_every)
