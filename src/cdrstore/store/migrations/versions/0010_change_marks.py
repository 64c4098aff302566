"""The change log is found by time through a mark a write (`change_marks`: when, and the last
position it took) instead of an index by time on every entry, which cost 40 % of logging a large
import's entries (docs/performance.md#round-six-what-a-transaction-writes-once). The entries
logged so far are marked from the log itself: one mark for each time an app logged at.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    app_key = sa.String(64, collation="C") if postgres else sa.String(64)
    op.create_table(
        "change_marks",
        sa.Column("app_id", app_key, nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "logged_at", "position", name="change_marks_pkey"),
        sqlite_with_rowid=False,
    )
    mark = "%s" if postgres else "?"
    cursor = op.get_bind().connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("SELECT app_id FROM apps ORDER BY app_id")
    for (app_id,) in cursor.fetchall():  # one app a statement: every statement names its app
        cursor.execute(
            "INSERT INTO change_marks (app_id, logged_at, position)"
            f" SELECT app_id, logged_at, max(position) FROM change_log WHERE app_id = {mark}"
            " GROUP BY app_id, logged_at",
            (app_id,),
        )
    op.drop_index("change_log_by_time", table_name="change_log")


def downgrade() -> None:
    op.create_index("change_log_by_time", "change_log", ["app_id", "logged_at"])
    op.drop_table("change_marks")
