"""Reading another system's CDR table (not cdrstore's own database): Kamailio's `cdrs` table in
an SQLite file, opened read-only, rows after a given integer id in id order.

This is the store layer because it is the layer that knows database drivers; nothing here touches
cdrstore's tables.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import StoreError


class SourceUnreadable(StoreError):
    """A source database that cannot be opened or read (missing file, no such table, locked)."""


def _sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise SourceUnreadable(
            "--source must be sqlite:///PATH (the SQLite file Kamailio's db_sqlite writes)"
        )
    return Path(url.removeprefix("sqlite:///"))


def read_rows_after(url: str, table: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows of `table` whose `id` is above `after_id`, by id, as column -> value."""
    path = _sqlite_path(url)
    if not path.is_file():
        raise SourceUnreadable(f"no SQLite file at {path}")
    if not table.isidentifier():
        raise SourceUnreadable(f"not a table name: {table!r}")
    try:
        # read-only: the follower never writes to Kamailio's database; a busy writer is waited for
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise SourceUnreadable(f"cannot open {path}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?",  # a checked name
            (after_id, limit),
        ).fetchall()
        return [dict(row) for row in rows]
    except sqlite3.Error as exc:
        raise SourceUnreadable(f"cannot read table {table} of {path}: {exc}") from None
    finally:
        conn.close()
