"""Opening a database for use: migrated where it migrates itself, checked current where it does not."""

from __future__ import annotations

from ..errors import DomainError
from ..store import Distribution, SchemaNotCurrent, Store, StoreError, open_store, redact_url


class NotReady(DomainError):
    """The service cannot answer requests yet: the database is unreachable or not migrated."""


def open_database(url: str, *, require_current: bool = True) -> Store:
    """The store on this URL, its schema brought up to date (an embedded database) or found
    current (a server's: `require_current`, else readiness reports it)."""
    store = open_store(url)
    try:
        if store.migrates_itself:
            if not store.is_current():
                store.upgrade()
        elif require_current and not store.is_current():
            raise SchemaNotCurrent(
                "the database schema is not current: run"
                f" `cdrstore db upgrade --db {redact_url(url)}`"
            )
    except BaseException:
        store.close()
        raise
    return store


def upgrade_schema(store: Store) -> tuple[str | None, str | None]:
    """Create or migrate the schema: (revision before, after)."""
    return store.upgrade()


def distribute_schema(store: Store, shard_count: int | None = None) -> Distribution:
    """Place the schema's tables on the Citus cluster the database coordinates (idempotent)."""
    return store.distribute(shard_count)


def check_ready(store: Store) -> None:
    """NotReady unless the database answers and its schema is current."""
    try:
        store.ping()
        current = store.is_current()
    except StoreError:
        raise NotReady("database unavailable") from None
    if not current:
        raise NotReady("database schema is not current: run `cdrstore db upgrade`")
