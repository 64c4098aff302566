"""Storage: `Store` holds, over one database, an app's records (`records`, one module per backend),
apps and tokens (`accounts`), webhook subscriptions and deliveries (`webhooks`) and the rate-limit
windows (`windows`). Only this package knows a database driver; its public methods raise nothing
but `errors.StoreError`s."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url

from ..record import IngestSummary
from . import citus, migrate
from .accounts import AccountStore
from .base import (
    App,
    BatchWriter,
    Change,
    Page,
    RecordStore,
    RemovedApp,
    RetentionReport,
    TokenInfo,
)
from .citus import DEFAULT_SHARD_COUNT, Distribution, DistributionFailed, NotCitus
from .errors import (
    AppExists,
    SchemaNotCurrent,
    StoreError,
    StoreFault,
    StoreUnavailable,
    UnknownApp,
    UnsupportedDatabase,
    translating,
)
from .plan import PreparedBatch, prepare
from .sessions import SessionInfo, SessionStore
from .tokencache import TokenCache
from .webhooks import Delivery, NewDelivery, Outcome, Subscription, WebhookStore
from .windows import WindowCounter


class Store:
    """One database: its records, its accounts, its rate-limit windows, and its schema."""

    def __init__(
        self,
        engine: Engine,
        records: RecordStore,
        windows: WindowCounter,
        *,
        migrates_itself: bool,
        token_cache: TokenCache | None = None,
    ) -> None:
        self.engine = engine
        self.records = records
        self.accounts = AccountStore(engine, token_cache)
        self.sessions = SessionStore(engine)
        self.webhooks = WebhookStore(engine)
        self.windows = windows
        # An embedded database brings its own schema up to date when opened (zero set-up); a
        # server's is upgraded by its operator (`cdrstore db upgrade`) when a version is deployed.
        self.migrates_itself = migrates_itself

    @translating
    def upgrade(self) -> tuple[str | None, str | None]:
        """Bring the schema to the newest revision: (revision before, after)."""
        return migrate.upgrade(self.engine)

    @translating
    def distribute(self, shard_count: int | None = None) -> Distribution:
        """Place every table on the Citus cluster this database coordinates (idempotent)."""
        return citus.distribute(self.engine, shard_count or DEFAULT_SHARD_COUNT)

    @translating
    def is_current(self) -> bool:
        return migrate.is_current(self.engine)

    @translating
    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(select(1)).scalar_one()

    def close(self) -> None:
        self.accounts.close()
        close_windows = getattr(self.windows, "close", None)
        if close_windows is not None:
            close_windows()
        self.engine.dispose()


def open_store(url: str) -> Store:
    """The store for a database URL: `sqlite:///path` (embedded) or `postgresql://...`."""
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        from .sqlite import create_sqlite_engine, sqlite_store

        return sqlite_store(create_sqlite_engine(url))
    if scheme in ("postgresql", "postgres"):
        from .postgres import create_postgres_engine, postgres_store

        return postgres_store(create_postgres_engine(url))
    raise UnsupportedDatabase(
        f"unsupported database URL {redact_url(url)!r}: use sqlite:///PATH or postgresql://..."
    )


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


__all__ = [
    "DEFAULT_SHARD_COUNT",
    "App",
    "AppExists",
    "BatchWriter",
    "Change",
    "Delivery",
    "Distribution",
    "DistributionFailed",
    "IngestSummary",
    "NewDelivery",
    "NotCitus",
    "Outcome",
    "Page",
    "PreparedBatch",
    "RecordStore",
    "RemovedApp",
    "RetentionReport",
    "SchemaNotCurrent",
    "SessionInfo",
    "Store",
    "StoreError",
    "StoreFault",
    "StoreUnavailable",
    "Subscription",
    "TokenInfo",
    "UnknownApp",
    "UnsupportedDatabase",
    "WebhookStore",
    "WindowCounter",
    "open_store",
    "prepare",
    "redact_url",
]
