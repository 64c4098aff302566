"""Rate-limit windows shared by every API worker (PostgreSQL; SQLite keeps them in a file beside
the database, off the main database's write lock). UNLOGGED: counts need no crash safety.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE UNLOGGED TABLE rate_windows ("
            ' key varchar(64) COLLATE "C" PRIMARY KEY,'
            " started double precision NOT NULL,"
            " used integer NOT NULL)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("rate_windows")
