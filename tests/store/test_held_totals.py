"""The counts and statistics of large writes equal brute force over the records, on both backends.
PostgreSQL holds what a transaction's batches move them by until it ends (or past
`pgwriter.TOTALS_HELD` rows), and tries large changes as new rows first: a new range of dates is
inserted, one that meets stored rows falls back to adding to them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest

from cdrstore.ops.stats import call_stats
from cdrstore.query import parse_stats_query
from cdrstore.record import CALL_TYPES, STATUSES
from cdrstore.store import Store, open_store, pgwriter, prepare
from cdrstore.timestamps import format_timestamp
from cdrstore.validation import decode_record
from tests.store.test_stats_exact import brute_force
from tests.support.held_writer import hold_first_commit, wait_for_a_lock_wait

START = datetime(2024, 1, 1, tzinfo=UTC)
GROUPS = (None, "hour", "day", "agent", "department", "callType", "status")


def wire(n: int, version: int, minutes: int = 20) -> dict[str, Any]:
    """Record n: one every `minutes` from START (enough buckets for over a thousand rows of
    counts a few hundred records), moved by its version."""
    start = START + timedelta(minutes=minutes * n + 7 * version)
    return {
        "id": f"r{n:05d}",
        "callDate": format_timestamp(int(start.timestamp() * 1000)),
        "callEndTime": format_timestamp(int(start.timestamp() * 1000) + 60_000 * (n % 9)),
        "status": STATUSES[(n + version) % len(STATUSES)],
        "callType": CALL_TYPES[n % len(CALL_TYPES)],
        "callDirection": "Inbound" if n % 3 else "Outbound",
        "lastHandledParty": f"agent{(n + version) % 40}",
        "toDepartment": ["Sales", "Support", ""][n % 3],
        "fromDepartment": "Billing",
    }


def write(store: Store, app: str, records: list[dict[str, Any]], batch: int = 200) -> None:
    """The records in one transaction, `batch` a batch (as `cdrstore import` writes them)."""
    with store.records.writer(app) as writer:
        for i in range(0, len(records), batch):
            part = records[i : i + batch]
            writer.write(prepare([decode_record(msgspec.json.encode(r)) for r in part]))


def assert_exact(store: Store, app: str, model: Iterable[dict[str, Any]]) -> None:
    records = list(model)
    assert store.records.count_records(app) == len(records)
    for group in GROUPS:
        params = {"tz": "UTC"} | ({} if group is None else {"groupBy": group})
        got = [
            msgspec.to_builtins(row)
            for row in call_stats(store, app, parse_stats_query(params.items()))
        ]
        assert got == brute_force(records, params), params


def test_large_writes_over_new_and_stored_buckets_count_every_record(store, monkeypatch):
    store.accounts.create_app("t", "t")
    model = {r["id"]: r for r in (wire(n, 0) for n in range(600))}
    write(store, "t", list(model.values()))  # a new range of dates
    assert_exact(store, "t", model.values())

    # The same hours again: half the records in new versions, and new ones between them.
    again = [wire(n, 1) for n in range(0, 600, 2)] + [
        wire(n, 0, minutes=20) for n in range(600, 900)
    ]
    again += [wire(n, 0, minutes=13) | {"id": f"m{n}"} for n in range(300)]
    model.update((r["id"], r) for r in again)
    write(store, "t", again)
    assert_exact(store, "t", model.values())

    # Written out every hundred rows within the transaction: later parts meet earlier ones.
    monkeypatch.setattr(pgwriter, "TOTALS_HELD", 100)
    later = [wire(n, 2) for n in range(2_000, 2_600)] + [wire(n, 3) for n in range(1, 600, 2)]
    model.update((r["id"], r) for r in later)
    write(store, "t", later, batch=50)
    assert_exact(store, "t", model.values())


class Recording(psycopg.Cursor[Any]):
    """Keeps the statements it runs."""

    seen: list[str] = []

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if isinstance(query, str):
            Recording.seen.append(query)
        return super().execute(query, params, **kwargs)


def totals_written(store: Store, app: str, records: list[dict[str, Any]]) -> list[str]:
    """How the counts and rollups were written: 'new' or 'added' a statement, in order."""
    Recording.seen = []
    with store.records.writer(app) as writer:
        assert isinstance(writer, pgwriter.PostgresWriter)
        writer.connection.cursor_factory = Recording
        writer.write(prepare([decode_record(msgspec.json.encode(r)) for r in records]))
    totals = ("INSERT INTO call_counts", "INSERT INTO call_stats", "INSERT INTO call_party")
    return [
        "added" if "ON CONFLICT" in q else "new" for q in Recording.seen if q.startswith(totals)
    ]


def test_postgres_tries_large_totals_as_new_rows_then_adds(postgres_url, request):
    from tests.conftest import empty_postgres, on_citus

    if on_citus(request):
        pytest.skip("on Citus the totals are always added (no savepoints)")
    empty_postgres(postgres_url)
    store = open_store(postgres_url)
    try:
        store.accounts.create_app("t", "t")
        first = [wire(n, 0) for n in range(600)]
        assert totals_written(store, "t", first) == ["new", "new", "new"]
        # Meets the first write's hours: the first insert fails, is rolled back, and all are added.
        second = [wire(n, 0, minutes=13) | {"id": f"m{n}"} for n in range(600)]
        assert totals_written(store, "t", second) == ["new"] + ["added"] * 3
        # A few records: added to what is stored, never tried as new.
        assert totals_written(store, "t", [wire(n, 5) for n in range(3)]) == ["added"] * 3
        assert_exact(
            store,
            "t",
            {r["id"]: r for r in first + second + [wire(n, 5) for n in range(3)]}.values(),
        )
    finally:
        store.close()


def test_postgres_totals_tried_as_new_wait_for_another_writers_then_add(
    postgres_url, request, monkeypatch
):
    """Writer A has inserted its totals and not committed; writer B's totals meet the same rows:
    its insert waits for A, fails once A commits, and B adds to A's rows (none lost)."""
    from tests.conftest import empty_postgres, on_citus

    if on_citus(request):
        pytest.skip("on Citus the totals are always added (no savepoints)")
    empty_postgres(postgres_url)
    store = open_store(postgres_url)
    wrote_totals, release = hold_first_commit(monkeypatch, "t")  # its totals written
    first = [wire(n, 0) for n in range(600)]
    second = [wire(n, 0, minutes=13) | {"id": f"m{n}"} for n in range(600)]
    failures: list[BaseException] = []

    def writing(records: list[dict[str, Any]]) -> None:
        try:
            write(store, "t", records)
        except BaseException as exc:
            failures.append(exc)

    try:
        store.accounts.create_app("t", "t")
        a = threading.Thread(target=writing, args=(first,))
        a.start()
        assert wrote_totals.wait(30)
        b = threading.Thread(target=writing, args=(second,))
        b.start()
        wait_for_a_lock_wait(postgres_url)
        release.set()
        a.join(30)
        b.join(30)
        assert failures == []
        assert_exact(store, "t", first + second)
    finally:
        release.set()
        store.close()
