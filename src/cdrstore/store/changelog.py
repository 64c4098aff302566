"""Appending to the change log and reading it back: the SQL both backends share.

Positions are handed out by the app's row in `change_heads`, updated as the last step of the write
transaction that logs the entries. The row stays locked until that transaction ends, so two writers
of one app take their positions in the order they commit, and a reader that has seen position P
has already seen every position below it: none can commit later. Writers of different apps touch
different rows and never wait on each other. (A sequence or identity column would hand out
positions as transactions ask for them, not as they commit: a reader could pass a position whose
transaction is still open and skip it for ever.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .base import Change
from .codes import CHANGE_OP_CODES, CHANGE_OPS

INSERT: int = CHANGE_OP_CODES["insert"]
UPDATE: int = CHANGE_OP_CODES["update"]
DELETE: int = CHANGE_OP_CODES["delete"]

Entry = tuple[int, str]
"""(op code, record id): a change to log."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def deletes(ids: Sequence[str]) -> list[Entry]:
    """Delete entries for these ids, in id order."""
    return [(DELETE, i) for i in sorted(ids)]


def take_positions(cursor: Any, mark: str, app_id: str, n: int) -> int:
    """Claim the app's next n positions (the head row stays locked until the transaction ends);
    the first of them."""
    cursor.execute(
        "INSERT INTO change_heads (app_id, position, trimmed_through)"
        f" VALUES ({mark}, {mark}, 0) ON CONFLICT (app_id)"
        " DO UPDATE SET position = change_heads.position + excluded.position RETURNING position",
        (app_id, n),
    )
    return int(cursor.fetchone()[0]) - n + 1


def append_changes(cursor: Any, mark: str, app_id: str, entries: Sequence[Entry]) -> None:
    """Log these entries, in the order given, in the caller's write transaction: call it last."""
    if not entries:
        return
    first = take_positions(cursor, mark, app_id, len(entries))
    at = now_ms()
    cursor.executemany(
        "INSERT INTO change_log (app_id, position, op, id, logged_at)"
        f" VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
        [(app_id, first + n, op, record_id, at) for n, (op, record_id) in enumerate(entries)],
    )
    mark_logged(cursor, mark, app_id, at, first + len(entries) - 1)


def mark_logged(cursor: Any, mark: str, app_id: str, at: int, last: int) -> None:
    """Mark that the app's entries through position `last` were logged at `at`."""
    cursor.execute(
        f"INSERT INTO change_marks (app_id, logged_at, position) VALUES ({mark}, {mark}, {mark})",
        (app_id, at, last),
    )


def bounds(cursor: Any, mark: str, app_id: str) -> tuple[int, int]:
    """(trimmed through, head position) of the app's log; (0, 0) before its first entry."""
    cursor.execute(
        f"SELECT trimmed_through, position FROM change_heads WHERE app_id = {mark}", (app_id,)
    )
    row = cursor.fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def to_changes(rows: Sequence[Any]) -> list[Change]:
    """Rows of (position, op, id, doc or NULL, logged_at) as changes: a delete carries no doc."""
    changes = []
    for position, op, record_id, doc, logged_at in rows:
        name = CHANGE_OPS[op]
        changes.append(
            Change(
                int(position),
                name,
                record_id,
                None if doc is None or name == "delete" else bytes(doc),
                int(logged_at),
            )
        )
    return changes


def trim(cursor: Any, mark: str, app_id: str, cutoff_ms: int) -> int:
    """Drop the app's entries logged before the cutoff (and every entry before those); how many."""
    cursor.execute(
        f"SELECT max(position) FROM change_marks WHERE app_id = {mark} AND logged_at < {mark}",
        (app_id, cutoff_ms),
    )
    row = cursor.fetchone()
    if row is None or row[0] is None:
        return 0
    through = int(row[0])
    cursor.execute(
        f"DELETE FROM change_log WHERE app_id = {mark} AND position <= {mark}", (app_id, through)
    )
    removed = max(int(cursor.rowcount), 0)
    cursor.execute(
        f"DELETE FROM change_marks WHERE app_id = {mark} AND logged_at < {mark}",
        (app_id, cutoff_ms),
    )
    cursor.execute(
        f"UPDATE change_heads SET trimmed_through = {mark}"
        f" WHERE app_id = {mark} AND trimmed_through < {mark}",
        (through, app_id, through),
    )
    return removed
