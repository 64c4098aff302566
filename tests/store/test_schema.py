"""One truth for the schema: what the migrations build is what `store/schema.py` describes (as
Alembic's autogenerate compares them), on both backends; and the stored codes never move."""

from __future__ import annotations

import msgspec
from sqlalchemy import String, text

from cdrstore.ops.accounts import ensure_app
from cdrstore.record import CALL_TYPES, STATUSES
from cdrstore.store import open_store, schema
from cdrstore.store.codes import CALL_TYPE_CODES, CHANGE_OP_CODES, STATUS_CODES
from cdrstore.store.migrate import HEAD_REVISION, head_revision, schema_differences
from cdrstore.validation import decode_record
from tests.conftest import record


def ingest_one(store, **fields) -> None:
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", [decode_record(msgspec.json.encode(record(**fields)))])


def test_autogenerate_finds_no_difference(store):
    ingest_one(store)  # on PostgreSQL this makes a monthly partition, which must be left out
    with store.engine.connect() as connection:
        assert schema_differences(connection) == []


def test_the_head_revision_is_alembics(store):
    """What a current database is found at without Alembic is the head of the migrations, and a
    database upgraded is current."""
    assert head_revision() == HEAD_REVISION
    assert store.is_current()


def test_the_comparison_sees_a_changed_column(store, monkeypatch):
    monkeypatch.setattr(schema.call_counts.c.n, "type", String(3))
    with store.engine.connect() as connection:
        found = schema_differences(connection)
    assert [(d[0][0], d[0][2], d[0][3]) for d in found] == [("modify_type", "call_counts", "n")]


def test_the_comparison_sees_a_lost_collation(postgres_url, monkeypatch):
    # PostgreSQL only: SQLite compares text bytewise whatever a column says.
    store = open_store(postgres_url)
    monkeypatch.setattr(schema.calls.c.id, "type", String(128))
    try:
        with store.engine.connect() as connection:
            assert [d[0][3] for d in schema_differences(connection)] == ["id"]
    finally:
        store.close()


def test_stored_codes_are_frozen():
    # Stored rows carry these numbers: changing one would silently remap every stored record.
    assert CALL_TYPE_CODES == {"onnet": 0, "offnet": 1, "smartcall": 2}
    assert STATUS_CODES == {
        "Call Ended": 0,
        "Declined": 1,
        "Busy": 2,
        "Not Answered": 3,
        "Cancelled": 4,
        "Abandoned": 5,
        "Unreachable": 6,
        "Call Failed": 7,
    }
    assert set(CALL_TYPE_CODES) == set(CALL_TYPES) and set(STATUS_CODES) == set(STATUSES)
    assert CHANGE_OP_CODES == {"insert": 0, "update": 1, "delete": 2}  # change_log.op


def test_rows_are_stored_with_the_frozen_codes(store):
    ingest_one(store, callType="smartcall", status="Unreachable")
    with store.engine.connect() as connection:
        row = connection.execute(
            text("SELECT call_type, status FROM calls WHERE app_id = 'acme'")
        ).one()
    assert tuple(row) == (2, 6)
