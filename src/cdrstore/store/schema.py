"""The tables: the one description of the schema. The migrations build it (a test has Alembic compare
what they built with this, on both backends, and find no difference).

Every table that holds an app's data leads its keys with `app_id`, so each query the store issues
names one app and a distributed database can place an app's rows on one shard. Text keys compare
bytewise (`COLLATE "C"` on PostgreSQL, SQLite's default BINARY), as the contract's order requires.
Objects that exist on one backend only say so in `info["backends"]`.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from ..record import RECORD_ID_MAX_LENGTH

POSTGRESQL_ONLY: Final = {"backends": frozenset({"postgresql"})}
SQLITE_ONLY: Final = {"backends": frozenset({"sqlite"})}
APP_ID_LENGTH: Final = 64
# One hour a bucket: small enough that a deep offset skips at most one bucket of rows.
COUNT_BUCKET_MS: Final = 3_600_000

metadata = MetaData()


def text_key(length: int) -> TypeEngine[str]:
    """A text key that sorts bytewise on every backend."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def on_backend(item_info: dict[str, object], backend: str) -> bool:
    """Whether a table, index or constraint with this `info` exists on the backend."""
    backends = item_info.get("backends")
    return backends is None or backend in backends  # type: ignore[operator]


apps = Table(
    "apps",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),  # epoch seconds
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column(
        "app_id", text_key(APP_ID_LENGTH), ForeignKey("apps.app_id"), nullable=False, index=True
    ),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the secret
    Column("scopes", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
)

# The record is kept as its canonical JSON (`doc`), served as stored; the other columns exist to
# filter and order. SQLite: clustered on (app_id, call_date, id) so that a page is contiguous on
# disk. PostgreSQL: range-partitioned by call_date, one partition a month, attached on demand.
calls = Table(
    "calls",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("call_date", BigInteger, nullable=False),  # UTC epoch milliseconds
    Column("id", text_key(RECORD_ID_MAX_LENGTH), nullable=False),
    Column("call_type", SmallInteger, nullable=False),  # codes.CALL_TYPE_CODES
    Column("status", SmallInteger, nullable=False),  # codes.STATUS_CODES
    Column("doc", LargeBinary, nullable=False),
    PrimaryKeyConstraint("app_id", "call_date", "id", name="calls_pkey"),
    # A partitioned table cannot enforce this across partitions: `call_ids` does on PostgreSQL.
    UniqueConstraint("app_id", "id", name="calls_app_id_id_key", info=SQLITE_ONLY),
    Index("calls_type_status_order", "app_id", "call_type", "status", "call_date", "id"),
    Index("calls_status_order", "app_id", "status", "call_date", "id"),
    Index("calls_type_order", "app_id", "call_type", "call_date", "id"),
    sqlite_with_rowid=False,
    postgresql_partition_by="RANGE (call_date)",
)

# PostgreSQL: the identity of every record across the monthly partitions, and where it lives, so
# that a re-ingested record that moves to another month is deleted at its old place.
call_ids = Table(
    "call_ids",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("id", text_key(RECORD_ID_MAX_LENGTH), nullable=False),
    Column("call_date", BigInteger, nullable=False),
    PrimaryKeyConstraint("app_id", "id", name="call_ids_pkey"),
    Index("call_ids_by_date", "app_id", "call_date"),
    info=POSTGRESQL_ONLY,
)

# How many records each (app, hour, callType, status) holds, kept in the same transaction as the
# records: a page at a deep offset finds its hour by summing these instead of skipping rows.
call_counts = Table(
    "call_counts",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("bucket", BigInteger, nullable=False),  # call_date // COUNT_BUCKET_MS
    Column("call_type", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("n", Integer().with_variant(BigInteger(), "postgresql"), nullable=False),
    PrimaryKeyConstraint("app_id", "bucket", "call_type", "status", name="call_counts_pkey"),
    sqlite_with_rowid=False,
)

# Rate-limit windows shared by every API worker. PostgreSQL: UNLOGGED (counts need no crash
# safety; migration 0002 makes it so, a property Alembic does not compare). SQLite keeps this table
# in a file of its own beside the database (`windows.py`), off the main database's write lock.
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("key", text_key(64), primary_key=True),
    Column("started", Float(precision=53), nullable=False),  # epoch seconds
    Column("used", Integer, nullable=False),
    info=POSTGRESQL_ONLY,
    sqlite_with_rowid=False,
)

# Where a CDR source's follower or mirror has read up to (an opaque position of the source's own:
# a row id, a time window), written in the same transaction as the records it read.
source_positions = Table(
    "source_positions",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column(
        "source", String(200), nullable=False
    ),  # which source: e.g. kamailio:<url>, mirror:<url>
    Column("position", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),  # epoch seconds
    PrimaryKeyConstraint("app_id", "source", name="source_positions_pkey"),
)

# Webhooks (docs/webhooks.md). A subscription per app and kind of event ("call", "recording"); its
# secret is kept encrypted (it must be usable to sign, so it cannot be hashed). `through` is the
# change-log position up to which the app's changes have been turned into deliveries.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), ForeignKey("apps.app_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", Text),  # Fernet token of the whsec_ secret; None until first enabled
    Column("updated_at", BigInteger, nullable=False),  # epoch milliseconds
    Column("through", BigInteger, nullable=False),  # change-log position turned into deliveries
    PrimaryKeyConstraint("app_id", "kind", name="webhook_subscriptions_pkey"),
)

# The outbox: one row an event to deliver, keyed by the change-log position it came from, so that
# its webhook-id, and its body, are the same on every attempt and after any restart.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("webhook_id", String(120), nullable=False),
    Column("record_id", text_key(RECORD_ID_MAX_LENGTH), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("logged_at", BigInteger, nullable=False),  # when the change was logged, epoch ms
    Column("state", String(10), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False),  # epoch ms
    Column("queued_at", BigInteger, nullable=False),  # epoch ms: the retry horizon counts from here
    Column("last_status", Integer),  # the receiver's last HTTP status, if it answered
    Column("last_error", Text),  # what went wrong last (never a secret)
    Column("finished_at", BigInteger),  # delivered or failed at, epoch ms
    PrimaryKeyConstraint("app_id", "kind", "position", name="webhook_deliveries_pkey"),
    Index("webhook_deliveries_by_state", "app_id", "kind", "state", "position"),
)

# One delivery loop over every worker and host: whoever holds this row's lease delivers.
webhook_lease = Table(
    "webhook_lease",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(120), nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # epoch ms
)

# The change log: one entry for every insert, every update that changes a record and every delete,
# written in the same transaction as the records. `position` counts up per app, handed out by the
# app's row in `change_heads` as the last step of a write, so positions commit in order
# ([Architecture](architecture.md#the-change-log)). The entry names the record; its document is
# joined from `calls` when the log is read.
change_log = Table(
    "change_log",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("op", SmallInteger, nullable=False),  # codes.CHANGE_OP_CODES
    Column("id", text_key(RECORD_ID_MAX_LENGTH), nullable=False),
    Column("logged_at", BigInteger, nullable=False),  # UTC epoch milliseconds
    PrimaryKeyConstraint("app_id", "position", name="change_log_pkey"),
    Index("change_log_by_time", "app_id", "logged_at"),
    sqlite_with_rowid=False,
)

# Per app: the last position handed out, and the last one trimmed away (a cursor before it has
# lost entries: the feed answers 410).
change_heads = Table(
    "change_heads",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("trimmed_through", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
