"""Storage: one small interface (`base.Store`), one module per backend."""

from __future__ import annotations

import os
from typing import Final

from .base import (
    App,
    AppExists,
    BatchWriter,
    IngestCounts,
    Page,
    PageQuery,
    Store,
    StoreError,
    TokenInfo,
    UnknownApp,
)

DEFAULT_DATABASE_URL: Final = "sqlite:///cdrstore.db"
DATABASE_URL_ENV: Final = "CDRSTORE_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def open_store(url: str) -> Store:
    """The backend for a database URL: `sqlite:///path` (embedded) or `postgresql://...`."""
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore.from_url(url)
    raise StoreError(
        f"unsupported database URL {redact_url(url)!r}: use sqlite:///PATH or postgresql://..."
    )


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "App",
    "AppExists",
    "BatchWriter",
    "IngestCounts",
    "Page",
    "PageQuery",
    "Store",
    "StoreError",
    "TokenInfo",
    "UnknownApp",
    "database_url",
    "open_store",
    "redact_url",
]
