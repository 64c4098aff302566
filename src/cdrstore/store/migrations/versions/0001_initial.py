"""Apps, tokens, call records and their per-hour counts.

SQLite: `calls` is one WITHOUT ROWID table clustered on (app_id, call_date, id), its unique index
(app_id, id) the identity. PostgreSQL: `calls` is range-partitioned by call_date (one partition a
month, attached on demand by the store); a partitioned table cannot enforce (app_id, id) across
partitions, so `call_ids` holds the identity and where each record lives. Text keys compare bytewise
(COLLATE "C") as the contract's order requires.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_POSTGRES_RECORDS = """
CREATE TABLE calls (
    app_id varchar(64) COLLATE "C" NOT NULL,
    call_date bigint NOT NULL,
    id varchar(128) COLLATE "C" NOT NULL,
    call_type smallint NOT NULL,
    status smallint NOT NULL,
    doc bytea NOT NULL,
    CONSTRAINT calls_pkey PRIMARY KEY (app_id, call_date, id)
) PARTITION BY RANGE (call_date);
CREATE INDEX calls_type_status_order ON calls (app_id, call_type, status, call_date, id);
CREATE INDEX calls_status_order ON calls (app_id, status, call_date, id);
CREATE INDEX calls_type_order ON calls (app_id, call_type, call_date, id);
CREATE TABLE call_ids (
    app_id varchar(64) COLLATE "C" NOT NULL,
    id varchar(128) COLLATE "C" NOT NULL,
    call_date bigint NOT NULL,
    CONSTRAINT call_ids_pkey PRIMARY KEY (app_id, id)
);
CREATE INDEX call_ids_by_date ON call_ids (app_id, call_date);
CREATE TABLE call_counts (
    app_id varchar(64) COLLATE "C" NOT NULL,
    bucket bigint NOT NULL,
    call_type smallint NOT NULL,
    status smallint NOT NULL,
    n bigint NOT NULL,
    CONSTRAINT call_counts_pkey PRIMARY KEY (app_id, bucket, call_type, status)
);
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    key = sa.String(64, collation="C") if postgres else sa.String(64)
    op.create_table(
        "apps",
        sa.Column("app_id", key, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("app_id", key, sa.ForeignKey("apps.app_id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_index("ix_tokens_app_id", "tokens", ["app_id"])
    if postgres:
        for statement in _POSTGRES_RECORDS.split(";"):
            if statement.strip():
                op.execute(statement)
        return
    op.create_table(
        "calls",
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("call_date", sa.BigInteger, nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("call_type", sa.SmallInteger, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("doc", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "call_date", "id", name="calls_pkey"),
        sa.UniqueConstraint("app_id", "id", name="calls_app_id_id_key"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "calls_type_status_order", "calls", ["app_id", "call_type", "status", "call_date", "id"]
    )
    op.create_index("calls_status_order", "calls", ["app_id", "status", "call_date", "id"])
    op.create_index("calls_type_order", "calls", ["app_id", "call_type", "call_date", "id"])
    op.create_table(
        "call_counts",
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("call_type", sa.SmallInteger, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "bucket", "call_type", "status", name="call_counts_pkey"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("call_counts")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("call_ids")
    op.drop_table("calls")
    op.drop_table("tokens")
    op.drop_table("apps")
