"""Writes pay for three indexes fewer (docs/performance.md#ingest):
- `calls_status_order` and `calls_type_order`: a page filtered by one status or one callType is
  merged from the ranges of `calls_type_status_order`, one a value of the other;
- `call_numbers_by_date` and (PostgreSQL) `call_ids_by_date`, which only retention read: it finds
  the number search's rows and the identities of the records it removes through those records.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("calls_status_order", table_name="calls")
    op.drop_index("calls_type_order", table_name="calls")
    op.drop_index("call_numbers_by_date", table_name="call_numbers")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("call_ids_by_date", table_name="call_ids")


def downgrade() -> None:
    op.create_index("calls_status_order", "calls", ["app_id", "status", "call_date", "id"])
    op.create_index("calls_type_order", "calls", ["app_id", "call_type", "call_date", "id"])
    op.create_index("call_numbers_by_date", "call_numbers", ["app_id", "call_date"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("call_ids_by_date", "call_ids", ["app_id", "call_date"])
