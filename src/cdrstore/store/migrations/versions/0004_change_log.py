"""The change log: an entry per insert, changing update and delete of a record, per app, with the
app's head position and how far the log was trimmed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    app_key = sa.String(64, collation="C") if postgres else sa.String(64)
    record_key = sa.String(128, collation="C") if postgres else sa.String(128)
    op.create_table(
        "change_log",
        sa.Column("app_id", app_key, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("op", sa.SmallInteger, nullable=False),
        sa.Column("id", record_key, nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "position", name="change_log_pkey"),
        sqlite_with_rowid=False,
    )
    op.create_index("change_log_by_time", "change_log", ["app_id", "logged_at"])
    op.create_table(
        "change_heads",
        sa.Column("app_id", app_key, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("trimmed_through", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", name="change_heads_pkey"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("change_heads")
    op.drop_index("change_log_by_time", table_name="change_log")
    op.drop_table("change_log")
