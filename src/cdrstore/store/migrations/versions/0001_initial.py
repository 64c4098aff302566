"""Apps, tokens, call records and their per-hour counts.

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


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_index("ix_tokens_app_id", "tokens", ["app_id"])
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
    op.drop_table("calls")
    op.drop_table("tokens")
    op.drop_table("apps")
