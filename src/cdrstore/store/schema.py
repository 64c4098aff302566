"""The tables, as SQLAlchemy Core sees them (the migrations create them; see migrations/versions).

Every table that holds an app's data leads its keys with `app_id`, so each query the store issues
names one app and a distributed database can place an app's rows on one shard.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from ..record import RECORD_ID_MAX_LENGTH

metadata = MetaData()

# One hour a bucket: small enough that a deep offset skips at most one bucket of rows.
COUNT_BUCKET_MS = 3_600_000

apps = Table(
    "apps",
    metadata,
    Column("app_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),  # epoch seconds
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("app_id", String(64), ForeignKey("apps.app_id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the secret
    Column("scopes", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
)

# The record is kept as its canonical JSON (`doc`), served as stored; the other columns exist to
# filter and order. Clustered on (app_id, call_date, id) so that a page is contiguous on disk.
calls = Table(
    "calls",
    metadata,
    Column("app_id", String(64), nullable=False),
    Column("call_date", BigInteger, nullable=False),  # UTC epoch milliseconds
    Column("id", String(RECORD_ID_MAX_LENGTH), nullable=False),
    Column("call_type", SmallInteger, nullable=False),  # index into record.CALL_TYPES
    Column("status", SmallInteger, nullable=False),  # index into record.STATUSES
    Column("doc", LargeBinary, nullable=False),
    PrimaryKeyConstraint("app_id", "call_date", "id", name="calls_pkey"),
    UniqueConstraint("app_id", "id", name="calls_app_id_id_key"),
    Index("calls_type_status_order", "app_id", "call_type", "status", "call_date", "id"),
    Index("calls_status_order", "app_id", "status", "call_date", "id"),
    Index("calls_type_order", "app_id", "call_type", "call_date", "id"),
    sqlite_with_rowid=False,
)

# How many records each (app, hour, callType, status) holds, kept in the same transaction as the
# records: a page at a deep offset finds its hour by summing these instead of skipping rows.
call_counts = Table(
    "call_counts",
    metadata,
    Column("app_id", String(64), nullable=False),
    Column("bucket", BigInteger, nullable=False),  # call_date // COUNT_BUCKET_MS
    Column("call_type", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("n", Integer, nullable=False),
    PrimaryKeyConstraint("app_id", "bucket", "call_type", "status", name="call_counts_pkey"),
    sqlite_with_rowid=False,
)
