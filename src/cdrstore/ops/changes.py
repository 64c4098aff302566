"""The change feed: an app's change log read page by page after an opaque cursor, and trimming
the log (docs/api.md#following-changes).

A cursor is the base64url (unpadded) of a version byte and the position read up to (8 bytes, big
endian). Anything else, a cursor of another version or one beyond the app's head, is not ours: a
400. A cursor from before the oldest entry still kept has lost entries: a 410 (`CursorExpired`).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ..durations import age_cutoff
from ..errors import CursorExpired
from ..query import QueryError, parse_changes_query
from ..store import Change, Store

CURSOR_VERSION: Final = 1
_CURSOR: Final = struct.Struct(">BQ")


@dataclass(frozen=True)
class ChangesPage:
    changes: list[Change]  # in log order; an upsert whose record is gone since has doc None
    cursor: str  # where the next page starts: what a client keeps
    has_more: bool


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(_CURSOR.pack(CURSOR_VERSION, position)).rstrip(b"=").decode()


def decode_cursor(text: str) -> int:
    """The position a cursor of ours holds; QueryError for anything we did not make."""
    refused = QueryError("invalid cursor: not a cursor of this feed")
    if not text.isascii() or len(text) > 64:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    if len(raw) != _CURSOR.size:
        raise refused
    version, position = _CURSOR.unpack(raw)
    if version != CURSOR_VERSION or encode_cursor(position) != text:
        raise refused
    return int(position)


def read_changes(store: Store, app_id: str, pairs: Iterable[tuple[str, str]]) -> ChangesPage:
    """The page of the feed a query string asks for."""
    query = parse_changes_query(pairs)
    after = None if query.cursor is None else decode_cursor(query.cursor)
    # Entries up to `trimmed through` are gone, so reading after 0 starts at the oldest kept.
    changes = store.records.changes(app_id, after or 0, query.limit + 1)
    # The bounds are read after the entries: trimming only moves forward, so a trim that could
    # have taken entries from under this read shows here.
    trimmed, head = store.records.change_bounds(app_id)
    if after is not None and after > head:
        raise QueryError("invalid cursor: beyond this app's change log (not a cursor of this feed)")
    if after is not None and after < trimmed:
        raise CursorExpired(
            "cursor expired: the change log no longer holds what changed after it; start a full"
            " sync (copy the records with GET .../call-detail, then follow this feed with no"
            " cursor)"
        )
    served = changes[: query.limit]
    position = served[-1].position if served else max(after or 0, trimmed)
    return ChangesPage(served, encode_cursor(position), len(changes) > query.limit)


def trim_change_log(store: Store, retention: str, now: datetime | None = None) -> tuple[int, int]:
    """Drop every app's change log entries older than the retention age (`30d`, the grammar of
    durations.py): (entries dropped, the cutoff in epoch ms). ValueError for a bad age."""
    cutoff = age_cutoff(retention, now or datetime.now(UTC))
    cutoff_ms = int(cutoff.timestamp() * 1000)
    return store.records.trim_changes(cutoff_ms), cutoff_ms
