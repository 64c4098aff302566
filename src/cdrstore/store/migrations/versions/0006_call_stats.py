"""Statistics and the phone-number search: the facts of each record as columns of `calls`, the
rollups `call_stats` (by day, hour and quarter hour) and `call_party_stats` (by UTC day, agent and department),
and `call_numbers`; existing records are read once to fill them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CHUNK = 5_000


def _counts() -> list[sa.Column[Any]]:
    from cdrstore.store.schema import STATUS_COLUMNS

    count = sa.BigInteger if op.get_bind().dialect.name == "postgresql" else sa.Integer
    return [sa.Column(name, count, nullable=False) for name in STATUS_COLUMNS] + [
        sa.Column("talk_ms", sa.BigInteger, nullable=False)
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    key = sa.String(64, collation="C") if postgres else sa.String(64)
    record_id = sa.String(128, collation="C") if postgres else sa.String(128)
    for name, kind, default in (
        ("direction", sa.SmallInteger, "0"),
        ("talk_ms", sa.BigInteger, "0"),
        ("agent", sa.Text, ""),
        ("department", sa.Text, ""),
    ):
        op.add_column(
            "calls", sa.Column(name, kind, nullable=False, server_default=sa.text(repr(default)))
        )
    op.create_table(
        "call_stats",
        sa.Column("app_id", key, nullable=False),
        sa.Column("grain", sa.Integer, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("call_type", sa.SmallInteger, nullable=False),
        sa.Column("direction", sa.SmallInteger, nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            "app_id", "grain", "bucket", "call_type", "direction", name="call_stats_pkey"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "call_party_stats",
        sa.Column("app_id", key, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("call_type", sa.SmallInteger, nullable=False),
        sa.Column("direction", sa.SmallInteger, nullable=False),
        sa.Column("agent", sa.Text, nullable=False),
        sa.Column("department", sa.Text, nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
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
    op.create_table(
        "call_numbers",
        sa.Column("app_id", key, nullable=False),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("call_date", sa.BigInteger, nullable=False),
        sa.Column("id", record_id, nullable=False),
        sa.Column("call_type", sa.SmallInteger, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "number", "call_date", "id", name="call_numbers_pkey"),
        sqlite_with_rowid=False,
    )
    op.create_index("call_numbers_by_date", "call_numbers", ["app_id", "call_date"])
    _fill(postgres)


def _fill(postgres: bool) -> None:
    """Read every stored record once: its facts into `calls`, and the rollups and search rows."""
    from cdrstore.store.plan import Derived, StoredRow, stored_record_row
    from cdrstore.store.sql import write_derived

    mark = "%s" if postgres else "?"
    cursor = op.get_bind().connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("SELECT app_id FROM apps ORDER BY app_id")
    for (app_id,) in cursor.fetchall():
        after: tuple[int, str] = (-(2**62), "")
        while True:
            cursor.execute(
                "SELECT call_date, id, call_type, status, doc FROM calls"
                f" WHERE app_id = {mark} AND (call_date, id) > ({mark}, {mark})"
                f" ORDER BY call_date, id LIMIT {_CHUNK}",
                (app_id, *after),
            )
            rows = cursor.fetchall()
            if not rows:
                break
            derived = Derived()
            updates = []
            for call_date, call_id, call_type, status, doc in rows:
                stored = StoredRow(call_date, call_type, status, bytes(doc))
                row, numbers = stored_record_row(call_id, stored)
                derived.count(row, numbers, 1)
                direction, talk_ms, agent, department = row[5:]
                updates.append((direction, talk_ms, agent, department, app_id, call_date, call_id))
            cursor.executemany(
                f"UPDATE calls SET direction = {mark}, talk_ms = {mark}, agent = {mark},"
                f" department = {mark} WHERE app_id = {mark} AND call_date = {mark} AND id = {mark}",
                updates,
            )
            write_derived(cursor, mark, app_id, derived)
            after = (rows[-1][0], rows[-1][1])


def downgrade() -> None:
    op.drop_table("call_numbers")
    op.drop_table("call_party_stats")
    op.drop_table("call_stats")
    for name in ("department", "agent", "talk_ms", "direction"):
        op.drop_column("calls", name)
