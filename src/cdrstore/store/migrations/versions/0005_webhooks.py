"""Webhooks: subscriptions (with their encrypted secrets and how far the change log was read),
the outbox of deliveries, and the lease that makes one delivery loop over every worker.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    app_key = sa.String(64, collation="C") if postgres else sa.String(64)
    record_key = sa.String(128, collation="C") if postgres else sa.String(128)
    op.create_table(
        "webhook_subscriptions",
        sa.Column("app_id", app_key, sa.ForeignKey("apps.app_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("through", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "kind", name="webhook_subscriptions_pkey"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("app_id", app_key, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("webhook_id", sa.String(120), nullable=False),
        sa.Column("record_id", record_key, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("queued_at", sa.BigInteger, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("finished_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("app_id", "kind", "position", name="webhook_deliveries_pkey"),
    )
    op.create_index(
        "webhook_deliveries_by_state",
        "webhook_deliveries",
        ["app_id", "kind", "state", "position"],
    )
    op.create_table(
        "webhook_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(120), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_lease")
    op.drop_index("webhook_deliveries_by_state", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
