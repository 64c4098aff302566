"""Migrations 0004, 0006 and 0008 on a database that already holds records: 0004 logs them for the change
feed; 0006 fills the records' columns, the
statistics and the number search from the stored documents, so that the figures equal brute force
and the numbers are found, as if the records had been written after it (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from sqlalchemy import text

from cdrstore.ops.stats import call_stats
from cdrstore.query import parse_call_query, parse_stats_query
from cdrstore.store import Store, prepare
from cdrstore.store.codes import CALL_TYPE_CODES, STATUS_CODES
from cdrstore.timestamps import format_timestamp
from cdrstore.validation import decode_record
from tests.conftest import record, store_at_revision
from tests.store.test_stats_exact import brute_force

BEFORE = "0003"  # the revision before the change log and statistics


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    """A store migrated only up to BEFORE."""
    with store_at_revision(request.param, tmp_path, BEFORE) as store:
        yield store


RECORDS = [
    record(
        id=f"r{i}",
        callDate=format_timestamp(1_688_515_200_000 + i * 1_234_567),
        callEndTime=format_timestamp(1_688_515_200_000 + i * 1_234_567 + i * 1000) if i % 3 else "",
        status=("Call Ended", "Abandoned", "Busy")[i % 3 if i % 4 else 0],
        callDirection=("Inbound", "Outbound")[i % 2],
        lastHandledParty="" if i % 5 else "lead",
        toEID=f"agent-{i % 4}",
        fromEID=f"agent-{i % 3}",
        toDepartment="Sales",
        fromDepartment="Support",
        caller=f"+852 {i % 7:04d}-0000",
        callee="800",
    )
    for i in range(120)
]


def write_as_before(store: Store) -> None:
    """The records as the store wrote them before statistics: documents and codes only."""
    stored = [decode_record(msgspec.json.encode(r)) for r in RECORDS]
    if store.engine.dialect.name == "postgresql":
        from cdrstore.store.partitions import month_of

        store.records.ensure_partitions({month_of(r.call_date_ms) for r in stored})  # type: ignore[attr-defined]
    with store.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO apps (app_id, name, created_at) VALUES ('acme', 'Acme', 0)")
        )
        for r in stored:
            connection.execute(
                text(
                    "INSERT INTO calls (app_id, call_date, id, call_type, status, doc)"
                    " VALUES ('acme', :date, :id, :type, :status, :doc)"
                ),
                {
                    "date": r.call_date_ms,
                    "id": r.id,
                    "type": CALL_TYPE_CODES[r.call_type],
                    "status": STATUS_CODES[r.status],
                    "doc": r.doc,
                },
            )
            if store.engine.dialect.name == "postgresql":
                connection.execute(
                    text(
                        "INSERT INTO call_ids (app_id, id, call_date) VALUES ('acme', :id, :date)"
                    ),
                    {"id": r.id, "date": r.call_date_ms},
                )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"groupBy": "day", "tz": "Asia/Kolkata"},
        {"groupBy": "hour"},
        {"groupBy": "agent"},
        {"groupBy": "department", "status": "Call Ended"},
        {"groupBy": "callDirection", "startAt": "2023-07-05T10:11:12.345Z"},
    ],
)
def test_the_upgrade_fills_statistics_and_search(old_store, params):
    write_as_before(old_store)
    old_store.upgrade()
    got = call_stats(old_store, "acme", parse_stats_query(params.items()))
    assert [msgspec.to_builtins(row) for row in got] == brute_force(RECORDS, params)
    page = old_store.records.page("acme", parse_call_query([("number", "85200030000")]))
    expected = [r["id"] for r in RECORDS if r["caller"] == "+852 0003-0000"]
    assert [msgspec.json.decode(doc)["id"] for doc in page.docs] == expected


def test_the_upgrade_logs_stored_records_for_the_feed(old_store):
    """Migration 0004 gives every record stored before the change log an insert entry, in the
    served order, so that a feed walk from no cursor reproduces an app upgraded from before."""
    write_as_before(old_store)
    old_store.upgrade()
    changes = old_store.records.changes("acme", 0, 1_000)
    assert [c.op for c in changes] == ["insert"] * len(RECORDS)
    assert [c.position for c in changes] == list(range(1, len(RECORDS) + 1))
    stored = {r.id: r.doc for r in (decode_record(msgspec.json.encode(x)) for x in RECORDS)}
    assert {c.id: c.doc for c in changes} == stored
    assert old_store.records.change_bounds("acme") == (0, len(RECORDS))
    with old_store.records.writer("acme") as writer:  # the head continues after the backfill
        writer.write(prepare([decode_record(msgspec.json.encode(record(id="after")))]))
    assert [(c.position, c.id) for c in old_store.records.changes("acme", len(RECORDS), 10)] == [
        (len(RECORDS) + 1, "after")
    ]


def test_the_half_hour_statistics_are_made_from_the_quarters(old_store):
    """Migration 0008 sums the half-hour buckets from the quarter hours: the same rows a write at
    head makes (buckets before 1970 included, which divide downwards), and the figures of a +05:30
    zone, read from them, equal brute force."""
    from alembic import command

    from cdrstore.store.migrate import _config

    early = [
        record(id=f"e{i}", callDate=format_timestamp(-3_700_000 + i * 600_000), status="Busy")
        for i in range(8)
    ]
    old_store.upgrade()
    old_store.accounts.create_app("Acme", app_id="acme")
    with old_store.records.writer("acme") as writer:
        writer.write(prepare([decode_record(msgspec.json.encode(r)) for r in (*RECORDS, *early)]))
    half_hours = text(
        "SELECT * FROM call_stats WHERE app_id = 'acme' AND grain = 1800000"
        " ORDER BY bucket, call_type, direction"
    )
    with old_store.engine.connect() as connection:
        written = connection.execute(half_hours).all()
    assert written and any(row.bucket < 0 for row in written)
    config = _config()
    with old_store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with old_store.engine.connect() as connection:
        assert connection.execute(half_hours).all() == []
    old_store.upgrade()
    with old_store.engine.connect() as connection:
        assert connection.execute(half_hours).all() == written
    params = {"groupBy": "hour", "tz": "Asia/Kolkata"}
    got = call_stats(old_store, "acme", parse_stats_query(params.items()))
    assert [msgspec.to_builtins(row) for row in got] == brute_force([*RECORDS, *early], params)
