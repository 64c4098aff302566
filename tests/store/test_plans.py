"""Query plans the speed depends on (the planner may choose otherwise as data grows)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cdrstore.query import parse_call_query
from cdrstore.store import Store, open_store
from cdrstore.store.sql import Filters
from cdrstore.store.sqlite import EXISTING_SQL
from cdrstore.validation import decode_record
from tests.conftest import record


def test_existing_ids_are_probed_in_the_identity_index(tmp_path):
    path = tmp_path / "p.db"
    store = open_store(f"sqlite:///{path}")
    store.upgrade()
    store.close()
    with sqlite3.connect(path) as conn:
        plan = " | ".join(
            row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {EXISTING_SQL}", ("[]", "a"))
        )
    assert "SEARCH c USING INDEX" in plan and "(app_id=? AND id=?)" in plan, plan


def test_postgres_partitions_get_statistics_with_their_first_rows(postgres_url, request):
    """A partition nobody analysed is planned blind (a 100-record page: 10.4 ms against 2.6 ms
    once analysed); the first ingest into it, and `cdrstore import`, analyse it."""
    from tests.conftest import empty_postgres, on_citus, record

    empty_postgres(postgres_url)
    store = open_store(postgres_url)
    store.upgrade()
    store.accounts.create_app("acme", "acme")
    counts = store.records.ingest(
        "acme",
        [
            decode_record(json.dumps(record(id=f"r{i}", callDate="1987-03-04T05:06:07Z")).encode())
            for i in range(3)
        ],
    )
    assert counts.inserted == 3
    with store.engine.connect() as conn:
        # a month no other test writes to, so the partition is new here
        if on_citus(request):
            # The coordinator's table is empty: its rows and statistics are the shards'.
            (reltuples,) = conn.exec_driver_sql(
                "SELECT sum(greatest(result::real, 0)) FROM run_command_on_shards("
                "'calls_y1987m03', $$SELECT reltuples FROM pg_class WHERE oid = '%%s'::regclass$$)"
            ).one()
        else:
            (reltuples,) = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'calls_y1987m03'"
            ).one()
    store.close()
    assert reltuples == 3


def test_postgres_tables_are_analysed_with_a_smaller_sample(postgres_url, request):
    """ANALYZE of a month's records samples 9,000 rows (statistics target 30), not PostgreSQL's
    30,000 (0.08 against 0.3 s a 100,000-record month): the date histogram has 31 bounds, not
    101, for a month of 200 distinct dates; the number search keeps the server's sample (its
    plans follow its most common values)."""
    from tests.conftest import empty_postgres, on_citus, record

    if on_citus(request):
        pytest.skip("on Citus the statistics are the shards'")
    empty_postgres(postgres_url)
    store = open_store(postgres_url)
    store.upgrade()
    store.accounts.create_app("acme", "acme")
    records = [
        decode_record(
            json.dumps(
                record(
                    id=f"r{i}",
                    callDate=f"1987-04-01T00:{i // 60:02d}:{i % 60:02d}Z",
                    caller="85200000001",
                    callee=f"852{i:08d}",
                )
            ).encode()
        )
        for i in range(200)
    ]
    store.records.ingest("acme", records)
    with store.engine.connect() as conn:
        (bounds,) = conn.exec_driver_sql(
            "SELECT array_length(histogram_bounds::text::bigint[], 1) FROM pg_stats"
            " WHERE tablename = 'calls_y1987m04' AND attname = 'call_date'"
        ).one()
        (number_bounds,) = conn.exec_driver_sql(
            "SELECT array_length(histogram_bounds::text::bigint[], 1) FROM pg_stats"
            " WHERE tablename = 'call_numbers' AND attname = 'call_date'"
        ).one()
    store.close()
    assert bounds == 31
    assert number_bounds > 31


def _filled(url: str) -> Store:
    store = open_store(url)
    store.upgrade()
    store.accounts.create_app("acme", "acme")
    dates = ("2024-01-31T23:00:00Z", "2024-02-01T01:00:00Z")
    store.records.ingest(
        "acme",
        [
            decode_record(
                json.dumps(record(id=f"r{i}", callDate=dates[i % 2], status="Busy")).encode()
            )
            for i in range(200)
        ],
    )
    return store


def _page_plan(store: Store, pairs: list[tuple[str, str]], prefix: str) -> str:
    """The plan of the page query these parameters make (offset 0), as the planner would choose
    on a large table where the backend can be steered so."""
    query = parse_call_query([*pairs, ("startAt", "2024-01-01T00:00:00Z"), ("limit", "500")])
    filters = Filters("acme", query, store.records.mark)  # type: ignore[attr-defined]
    branches = filters.branches(query.start_ms, None)
    sql, params = store.records._page_sql("acme", branches, 501, 0)  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        if store.engine.dialect.name == "postgresql":
            for plan_kind in ("seqscan", "bitmapscan", "sort"):  # as planned on a large table
                raw.execute(f"SET enable_{plan_kind} = off")  # type: ignore[union-attr]
        rows = raw.execute(f"{prefix} {sql}", params).fetchall()  # type: ignore[union-attr]
    return "\n".join(str(row[-1]) for row in rows)


def test_postgres_pages_read_the_documents_from_the_index_in_page_order(postgres_url):
    """The deferred join that pays on SQLite was a nested loop over every partition's key here
    (a 500-record window page: 7.9 against 4.4 ms read straight from the index)."""
    from tests.conftest import empty_postgres

    empty_postgres(postgres_url)
    store = _filled(postgres_url)
    text = _page_plan(store, [], "EXPLAIN")
    assert "Nested Loop" not in text and "Join" not in text, text
    assert "Index Scan" in text, text
    # One status: the index's range for each callType, merged in page order (not sorted): the
    # plan that read 1,500 rows for a page of 500 at offset 1,000, where appending and sorting
    # every matching row took 210 ms.
    text = _page_plan(store, [("status", "Busy")], "EXPLAIN")
    store.close()
    assert "Merge Append" in text and "Sort Key" in text and "\n  ->  Sort" not in text, text
    assert text.count("Index Scan") >= 3, text  # a callType (and partition) each


def test_sqlite_pages_of_one_filter_merge_the_index_ranges(tmp_path):
    """A page of one status or one callType: the index's ranges merged as read, the documents
    fetched by key (a compound IN list made SQLite read every record of the app: 350 ms)."""
    store = _filled(f"sqlite:///{tmp_path / 'p.db'}")
    for pairs in ([("status", "Busy")], [("callType", "offnet")]):
        plan = _page_plan(store, pairs, "EXPLAIN QUERY PLAN")
        assert "MERGE (UNION ALL)" in plan and "TEMP B-TREE" not in plan, plan
        assert "SEARCH c USING PRIMARY KEY (app_id=? AND call_date=? AND id=?)" in plan, plan
        assert "SCAN calls" not in plan and "PRIMARY KEY (app_id=?)" not in plan, plan
    store.close()
