"""The store's small interface: what the API and the CLI may ask of any backend.

Apps and tokens are plain SQLAlchemy Core and work the same on every backend; how a batch of records
is written and how a page is chosen is each backend's own (`sqlite.py`, and PostgreSQL next to it).
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..record import StoredRecord
from . import migrate
from .schema import apps, call_counts, tokens


class StoreError(Exception):
    """A request the store refuses (an app that exists already, an unknown app, ...)."""


class AppExists(StoreError):
    pass


class UnknownApp(StoreError):
    pass


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
class PageQuery:
    """One page of an app's records in (callDate, id) order; codes as in `record.CALL_TYPES`/`STATUSES`."""

    call_type: int | None = None
    status: int | None = None
    start_ms: int | None = None  # callDate >= start
    end_ms: int | None = None  # callDate < end
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True)
class Page:
    docs: list[bytes]  # canonical JSON of each record, ready to send
    has_more: bool


@dataclass
class IngestCounts:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: IngestCounts) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass
class RetentionReport:
    """What `apply_retention` removed (or, on a dry run, would remove)."""

    cutoff_ms: int
    dry_run: bool
    removed: dict[str, int]  # app ID -> records
    dropped_partitions: list[str]


class BatchWriter(ABC):
    """Writes an app's records inside one transaction; committed when its context exits cleanly."""

    @abstractmethod
    def write(self, records: Sequence[StoredRecord]) -> IngestCounts: ...


def _token_info(row: object) -> TokenInfo:
    r = row._mapping  # type: ignore[attr-defined]
    return TokenInfo(
        token_id=r["token_id"],
        app_id=r["app_id"],
        name=r["name"],
        scopes=frozenset(r["scopes"].split(",")),
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        revoked_at=r["revoked_at"],
        token_hash=r["token_hash"],
    )


class Store(ABC):
    """A database holding apps, their tokens and their call records."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- schema -------------------------------------------------------------------------------
    def upgrade(self) -> tuple[str | None, str | None]:
        return migrate.upgrade(self.engine)

    def is_current(self) -> bool:
        return migrate.current_revision(self.engine) == migrate.head_revision()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(select(1)).scalar_one()

    def close(self) -> None:
        self.engine.dispose()

    # --- apps ---------------------------------------------------------------------------------
    def create_app(self, name: str, app_id: str | None = None) -> App:
        app = App(app_id or secrets.token_hex(8), name, int(time.time()))
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(apps).values(app_id=app.app_id, name=app.name, created_at=app.created_at)
                )
        except IntegrityError:
            raise AppExists(f"app {app.app_id!r} exists already") from None
        return app

    def get_app(self, app_id: str) -> App | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(apps).where(apps.c.app_id == app_id)).first()
        return App(row.app_id, row.name, row.created_at) if row else None

    def list_apps(self) -> list[tuple[App, int]]:
        """Every app with how many records it holds (counted app by app: every query that
        touches records names one app, so that a distributed database can route it)."""
        query = select(apps).order_by(apps.c.created_at, apps.c.app_id)
        with self.engine.connect() as connection:
            found = [App(r.app_id, r.name, r.created_at) for r in connection.execute(query)]
        return [(app, self.count_records(app.app_id)) for app in found]

    def count_records(self, app_id: str) -> int:
        query = select(func.coalesce(func.sum(call_counts.c.n), 0)).where(
            call_counts.c.app_id == app_id
        )
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    # --- tokens -------------------------------------------------------------------------------
    def add_token(
        self,
        app_id: str,
        token_hash: str,
        scopes: frozenset[str],
        name: str,
        expires_at: int | None,
    ) -> TokenInfo:
        if self.get_app(app_id) is None:
            raise UnknownApp(f"no app {app_id!r}")
        info = TokenInfo(
            token_id="tok_" + secrets.token_hex(6),
            app_id=app_id,
            name=name,
            scopes=scopes,
            created_at=int(time.time()),
            expires_at=expires_at,
            revoked_at=None,
            token_hash=token_hash,
        )
        with self.engine.begin() as connection:
            connection.execute(
                insert(tokens).values(
                    token_id=info.token_id,
                    app_id=app_id,
                    name=name,
                    token_hash=token_hash,
                    scopes=",".join(sorted(scopes)),
                    created_at=info.created_at,
                    expires_at=expires_at,
                )
            )
        return info

    def list_tokens(self, app_id: str) -> list[TokenInfo]:
        query = select(tokens).where(tokens.c.app_id == app_id).order_by(tokens.c.created_at)
        with self.engine.connect() as connection:
            return [_token_info(row) for row in connection.execute(query)]

    def find_token(self, token_hash: str) -> TokenInfo | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(tokens).where(tokens.c.token_hash == token_hash)
            ).first()
        return _token_info(row) if row else None

    def revoke_token(self, token_id: str | None, token_hash: str | None) -> TokenInfo | None:
        """Revoke by public ID or by the secret's hash; None if no such token."""
        where = tokens.c.token_id == token_id if token_id else tokens.c.token_hash == token_hash
        with self.engine.begin() as connection:
            row = connection.execute(select(tokens).where(where)).first()
            if row is None:
                return None
            if row.revoked_at is None:
                connection.execute(update(tokens).where(where).values(revoked_at=int(time.time())))
                row = connection.execute(select(tokens).where(where)).first()
        return _token_info(row)

    # --- request counts (the rate limit shared by every worker) ------------------------------
    @abstractmethod
    def count_request(self, key: str, now: float, window: float) -> tuple[int, float]:
        """Count one request for `key` in its window (opened by its first request, `window` seconds
        long), as every process on this database sees it: (requests in the window, opened at)."""

    # --- records ------------------------------------------------------------------------------
    @abstractmethod
    def writer(self, app_id: str) -> AbstractContextManager[BatchWriter]:
        """A transaction to write one app's records in; rolled back if the block raises."""

    @abstractmethod
    def refresh_statistics(self) -> None:
        """Bring the query planner's picture of the data up to date after a bulk load."""

    def ingest(self, app_id: str, records: Sequence[StoredRecord]) -> IngestCounts:
        with self.writer(app_id) as writer:
            return writer.write(records)

    @abstractmethod
    def page(self, app_id: str, query: PageQuery) -> Page: ...

    @abstractmethod
    def apply_retention(
        self, cutoff_ms: int, app_id: str | None = None, dry_run: bool = False
    ) -> RetentionReport:
        """Remove records with callDate < cutoff, of one app or of all."""

    @abstractmethod
    def iter_docs(self, app_id: str, query: PageQuery) -> Iterator[bytes]:
        """Every matching record from the query's offset on, streamed (for exports)."""
