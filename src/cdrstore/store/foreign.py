"""Reading another system's CDR table (not cdrstore's own database): Kamailio's `cdrs` table in
an SQLite file (opened read-only) or a PostgreSQL database (read-only transactions), rows after a
given integer id in id order.

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


def read_rows_after(url: str, table: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows of `table` whose `id` is above `after_id`, by id, as column -> value."""
    if not table.isidentifier():
        raise SourceUnreadable(f"not a table name: {table!r}")
    if url.startswith("sqlite:///"):
        return _sqlite_rows(Path(url.removeprefix("sqlite:///")), table, after_id, limit)
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_rows(url, table, after_id, limit)
    raise SourceUnreadable(
        "--source must be sqlite:///PATH (the file Kamailio's db_sqlite writes) or"
        " postgresql://USER@HOST/DB (db_postgres)"
    )


def _postgres_rows(url: str, table: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    from . import redact_url

    conninfo = url.replace("postgres://", "postgresql://", 1).replace(
        "postgresql+psycopg://", "postgresql://", 1
    )
    try:
        with psycopg.connect(conninfo, connect_timeout=10, row_factory=dict_row) as conn:
            conn.read_only = True
            query = sql.SQL("SELECT * FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(
                sql.Identifier(table)
            )
            return conn.execute(query, (after_id, limit)).fetchall()
    except psycopg.Error as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceUnreadable(
            f"cannot read table {table} of {redact_url(url)}: {detail}"
        ) from None


def _sqlite_rows(path: Path, table: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SourceUnreadable(f"no SQLite file at {path}")
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
