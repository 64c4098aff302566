"""Statistics by half hour: `call_stats` gains buckets 30 minutes wide, summed from its quarter
hours (two quarters a half hour), so that zones at +HH:30 read half the rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

QUARTER_MS = 900_000
HALF_HOUR_MS = 1_800_000


def upgrade() -> None:
    from cdrstore.store.schema import STATUS_COLUMNS

    vector = (*STATUS_COLUMNS, "talk_ms")
    # Buckets divide downwards, as Python's // does, also before 1970 (SQL's / truncates).
    half = "CASE WHEN bucket >= 0 THEN bucket / 2 ELSE (bucket - 1) / 2 END"
    bind = op.get_bind()
    for (app_id,) in bind.execute(sa.text("SELECT app_id FROM apps ORDER BY app_id")).all():
        # Made again from the quarters: a database upgraded from before 0006 has them already,
        # filled by 0006 with the grains of today's code.
        bind.execute(
            sa.text(f"DELETE FROM call_stats WHERE app_id = :app AND grain = {HALF_HOUR_MS}"),
            {"app": app_id},
        )
        bind.execute(
            sa.text(
                f"INSERT INTO call_stats (app_id, grain, bucket, call_type, direction,"
                f" {', '.join(vector)}) SELECT app_id, {HALF_HOUR_MS}, {half}, call_type,"
                f" direction, {', '.join(f'sum({c})' for c in vector)} FROM call_stats"
                f" WHERE app_id = :app AND grain = {QUARTER_MS}"
                f" GROUP BY app_id, {half}, call_type, direction"
            ),
            {"app": app_id},
        )


def downgrade() -> None:
    bind = op.get_bind()
    for (app_id,) in bind.execute(sa.text("SELECT app_id FROM apps ORDER BY app_id")).all():
        bind.execute(
            sa.text(f"DELETE FROM call_stats WHERE app_id = :app AND grain = {HALF_HOUR_MS}"),
            {"app": app_id},
        )
