"""Where each CDR source's follower or mirror has read up to, per app: kept in the same transaction
as the records it read, so that a restart neither skips nor repeats.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    key = sa.String(64, collation="C") if postgres else sa.String(64)
    op.create_table(
        "source_positions",
        sa.Column("app_id", key, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("position", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "source", name="source_positions_pkey"),
    )


def downgrade() -> None:
    op.drop_table("source_positions")
