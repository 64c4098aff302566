"""The tables: the one description of the schema. The migrations build it (a test has Alembic compare
what they built with this, on both backends, and find no difference).

Every table that holds an app's data leads its keys with `app_id`, so each query the store issues
names one app and a distributed database can place an app's rows on one shard. Text keys compare
bytewise (`COLLATE "C"` on PostgreSQL, SQLite's default BINARY), as the contract's order requires.
Objects that exist on one backend only say so in `info["backends"]`.

On Citus (`cdrstore db distribute`), each table is placed as its `info["citus"]` says: DISTRIBUTED
(sharded by `app_id`, every such table co-located, so an app's rows of every table share a shard),
REFERENCE (a copy on every node: small tables read without knowing the app) or LOCAL (left on the
coordinator). A table that says nothing is distributed if its primary key leads with `app_id` and
a reference table otherwise (`citus_placement`), so a table added later is placed too.
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
from .codes import STATUS_CODES

POSTGRESQL_ONLY: Final = {"backends": frozenset({"postgresql"})}
DISTRIBUTED: Final = "distributed"
REFERENCE: Final = "reference"
LOCAL: Final = "local"
CITUS_PLACEMENTS: Final = (DISTRIBUTED, REFERENCE, LOCAL)
DISTRIBUTION_COLUMN: Final = "app_id"
SQLITE_ONLY: Final = {"backends": frozenset({"sqlite"})}
APP_ID_LENGTH: Final = 64
# One hour a bucket: small enough that a deep offset skips at most one bucket of rows.
COUNT_BUCKET_MS: Final = 3_600_000
# Statistics by time, at four widths of bucket: a window is summed from the widest that fit in it
# (and in its local days or hours). The quarter hour is one every zone's offset since standard time
# is a multiple of (+05:30, +05:45), so any local day or hour is a whole number of quarters; the
# half hour serves the +HH:30 zones (India, Iran, South Australia...) with half the rows: Kolkata's
# hours 49.6 -> 20.0 ms on 1,000,000 records, SQLite (docs/performance.md#statistics).
STATS_BUCKET_MS: Final = 900_000
HALF_HOUR_MS: Final = 1_800_000
STATS_GRAINS_MS: Final = (86_400_000, 3_600_000, HALF_HOUR_MS, STATS_BUCKET_MS)  # widest first
# Statistics by agent or department need no local time: one UTC day a bucket keeps them small.
PARTY_BUCKET_MS: Final = 86_400_000

metadata = MetaData()


def text_key(length: int) -> TypeEngine[str]:
    """A text key that sorts bytewise on every backend."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def on_backend(item_info: dict[str, object], backend: str) -> bool:
    """Whether a table, index or constraint with this `info` exists on the backend."""
    backends = item_info.get("backends")
    return backends is None or backend in backends  # type: ignore[operator]


def citus_placement(table: Table) -> str:
    """How `cdrstore db distribute` places the table on Citus: its `info["citus"]`, else
    distributed if it is keyed by app, else a reference table."""
    placement = table.info.get("citus")
    if placement is not None:
        if placement not in CITUS_PLACEMENTS:
            raise ValueError(f"{table.name}: unknown Citus placement {placement!r}")
        return str(placement)
    keys = [column.name for column in table.primary_key.columns]
    return DISTRIBUTED if keys[:1] == [DISTRIBUTION_COLUMN] else REFERENCE


# Reference tables: read on every request before the app is known (a token by its hash), joined
# with nothing distributed.
apps = Table(
    "apps",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),  # epoch seconds
    info={"citus": REFERENCE},
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
    info={"citus": REFERENCE},
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
    # What the statistics read of a record (record.CallFacts), for the rows at a query's edges
    # and for retention: never parsed out of `doc` per request.
    Column("direction", SmallInteger, nullable=False),  # codes.DIRECTION_CODES
    Column("talk_ms", BigInteger, nullable=False),
    Column("agent", Text, nullable=False),
    Column("department", Text, nullable=False),
    PrimaryKeyConstraint("app_id", "call_date", "id", name="calls_pkey"),
    # A partitioned table cannot enforce this across partitions: `call_ids` does on PostgreSQL.
    UniqueConstraint("app_id", "id", name="calls_app_id_id_key", info=SQLITE_ONLY),
    # Every filter in page order (sql.Filters): one callType or one status is merged from the
    # ranges of each value of the other.
    Index("calls_type_status_order", "app_id", "call_type", "status", "call_date", "id"),
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
    info={**POSTGRESQL_ONLY, "citus": DISTRIBUTED},
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


def status_column(status: str) -> str:
    """The column of a statistics table that counts the calls with this status."""
    return "n_" + status.lower().replace(" ", "_")


# The statuses as columns (in code order), so that one row holds a slice's whole byStatus.
STATUS_COLUMNS: Final = tuple(
    status_column(status) for status, _ in sorted(STATUS_CODES.items(), key=lambda item: item[1])
)
# A statistics row's figures as a vector: a count for each status (in code order), then talk_ms.
VECTOR_LENGTH: Final = len(STATUS_COLUMNS) + 1


def _counts() -> list[Column[int]]:
    count = Integer().with_variant(BigInteger(), "postgresql")
    return [Column(name, count, nullable=False) for name in STATUS_COLUMNS] + [
        Column("talk_ms", BigInteger, nullable=False)  # of the answered calls
    ]


# Calls by (app, bucket width, bucket, callType, callDirection): a count per status and the talk
# time, kept in the same transaction as the records (docs/api.md#statistics).
call_stats = Table(
    "call_stats",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("grain", Integer, nullable=False),  # the bucket's width in ms: one of STATS_GRAINS_MS
    Column("bucket", BigInteger, nullable=False),  # call_date // grain
    Column("call_type", SmallInteger, nullable=False),
    Column("direction", SmallInteger, nullable=False),
    *_counts(),
    PrimaryKeyConstraint(
        "app_id", "grain", "bucket", "call_type", "direction", name="call_stats_pkey"
    ),
    sqlite_with_rowid=False,
)

# The same by (app, UTC day, callType, callDirection, agent, department).
call_party_stats = Table(
    "call_party_stats",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("bucket", BigInteger, nullable=False),  # call_date // PARTY_BUCKET_MS
    Column("call_type", SmallInteger, nullable=False),
    Column("direction", SmallInteger, nullable=False),
    Column("agent", Text, nullable=False),
    Column("department", Text, nullable=False),
    *_counts(),
    PrimaryKeyConstraint(
        "app_id",
        "bucket",
        "call_type",
        "direction",
        "agent",
        "department",
        name="call_party_stats_pkey",
    ),
    sqlite_with_rowid=False,
)

# The phone-number search: each record under its caller and callee as compared (without spaces,
# dashes and a leading +), in the order pages are served; with its callType and status, so that
# those filters are applied in this index without visiting `calls`.
call_numbers = Table(
    "call_numbers",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("number", Text, nullable=False),
    Column("call_date", BigInteger, nullable=False),
    Column("id", text_key(RECORD_ID_MAX_LENGTH), nullable=False),
    Column("call_type", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    PrimaryKeyConstraint("app_id", "number", "call_date", "id", name="call_numbers_pkey"),
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
    # Local on Citus: a counter of the coordinator's, not worth a shard round trip a request.
    info={**POSTGRESQL_ONLY, "citus": LOCAL},
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
    sqlite_with_rowid=False,
)

# One mark a write that logged entries: when, and the last position it took; `changes trim` finds
# where a time falls in the log by them. (An index by time on every entry cost 40 % of logging a
# large import's entries; a mark is one row however many entries a write logs.)
change_marks = Table(
    "change_marks",
    metadata,
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("logged_at", BigInteger, nullable=False),  # UTC epoch milliseconds
    Column("position", BigInteger, nullable=False),
    PrimaryKeyConstraint("app_id", "logged_at", "position", name="change_marks_pkey"),
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

# The web console's sign-ins: the SHA-256 of each session's random id (the id itself lives only in
# the browser's cookie), the app and token it was opened with, and when it ends. A session is good
# only while its token is (`sessions.py` joins the two), so revoking a token ends its sessions.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_hash", String(64), nullable=False),  # SHA-256 hex of the session id
    Column("app_id", text_key(APP_ID_LENGTH), nullable=False),
    Column("token_id", String(32), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),  # epoch seconds
    Column("expires_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("session_hash", name="console_sessions_pkey"),
)
