"""The change log: what each write logs, on both backends; that a reader following it misses
nothing while writers of the same app commit in any order (the commit-order hazard)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import msgspec
import pytest

from cdrstore.ops.accounts import delete_app, ensure_app
from cdrstore.query import PageQuery
from cdrstore.record import normal_number
from cdrstore.store import Change, Store, open_store, prepare
from cdrstore.store import pgwriter as pg_backend
from cdrstore.validation import decode_record
from tests.conftest import record
from tests.support.held_writer import hold_first_commit, wait_for_a_lock_wait


def records(ids: list[int], version: int = 0, month: int = 1) -> list[Any]:
    return [
        decode_record(
            msgspec.json.encode(
                record(
                    id=f"r{i:04d}",
                    callDate=f"2022-{month:02d}-{1 + i % 28:02d}T10:00:00Z",
                    hid=f"v{version}",
                    caller=CALLER,
                )
            )
        )
        for i in ids
    ]


CALLER = "+852 1234 5678"


def ops(store: Store, app: str = "acme", after: int = 0) -> list[tuple[str, str]]:
    return [(c.op, c.id) for c in store.records.changes(app, after, 10_000)]


def apply(state: dict[str, bytes], changes: list[Change]) -> None:
    """What a consumer of the log does with it."""
    for change in changes:
        if change.op == "delete":
            state.pop(change.id, None)
        elif change.doc is not None:  # an upsert of a record deleted since: its delete follows
            state[change.id] = change.doc


def stored(store: Store, app: str = "acme") -> dict[str, bytes]:
    docs = store.records.iter_docs(app, PageQuery())
    return {msgspec.json.decode(doc)["id"]: doc for doc in docs}


def walk(store: Store, app: str = "acme", page: int = 7) -> dict[str, bytes]:
    state: dict[str, bytes] = {}
    after = 0
    while changes := store.records.changes(app, after, page):
        apply(state, changes)
        after = changes[-1].position
    return state


def test_inserts_updates_and_unchanged_records(store):
    ensure_app(store, "acme", "Acme")
    assert store.records.change_bounds("acme") == (0, 0)
    store.records.ingest("acme", records([3, 1, 2]))
    assert ops(store) == [("insert", "r0001"), ("insert", "r0002"), ("insert", "r0003")]
    # r0001 unchanged (nothing logged), r0002 changed, r0003 moved to another month, r0004 new
    store.records.ingest(
        "acme", records([1]) + records([2], version=1) + records([3], month=5) + records([4])
    )
    assert ops(store, after=3) == [("update", "r0002"), ("update", "r0003"), ("insert", "r0004")]
    assert [c.position for c in store.records.changes("acme", 0, 100)] == [1, 2, 3, 4, 5, 6]
    assert store.records.change_bounds("acme") == (0, 6)
    store.records.ingest("acme", records([1, 2, 4]) and records([1]))  # all unchanged
    assert store.records.change_bounds("acme") == (0, 6)
    assert walk(store) == stored(store)


def test_each_entry_carries_the_document_as_it_is_now(store):
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records([1]))
    store.records.ingest("acme", records([1], version=2, month=3))
    first, second = store.records.changes("acme", 0, 10)
    now = stored(store)["r0001"]
    assert (first.op, second.op) == ("insert", "update")
    assert first.doc == second.doc == now and b'"v2"' in now
    assert (
        first.logged_at <= second.logged_at and abs(second.logged_at - time.time() * 1000) < 60_000
    )


def test_limit_and_after(store):
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records(list(range(10))))
    assert [c.position for c in store.records.changes("acme", 4, 3)] == [5, 6, 7]
    assert store.records.changes("acme", 10, 3) == []


def test_retention_logs_its_deletes(store):
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records([1, 2], month=1) + records([3], month=6))
    cutoff = 1_651_363_200_000  # 2022-05-01
    report = store.records.apply_retention(cutoff, ["acme"], every_app=False, dry_run=True)
    assert report.removed == {"acme": 2} and ops(store, after=3) == []
    store.records.apply_retention(cutoff, ["acme"], every_app=False, dry_run=False)
    assert ops(store, after=3) == [("delete", "r0001"), ("delete", "r0002")]
    assert walk(store) == stored(store) and list(walk(store)) == ["r0003"]


def test_a_dropped_partition_logs_its_records_deletes(store):
    # every_app: on PostgreSQL whole months older than the cutoff are dropped as partitions
    ensure_app(store, "acme", "Acme")
    ensure_app(store, "other", "Other")
    store.records.ingest("acme", records([1, 2], month=1) + records([3], month=6))
    store.records.ingest("other", records([7], month=1))
    cutoff = 1_651_363_200_000
    report = store.records.apply_retention(cutoff, ["acme", "other"], every_app=True, dry_run=False)
    if store.engine.dialect.name == "postgresql":
        assert "calls_y2022m01" in report.dropped_partitions  # (and any older ones left)
    assert ops(store, after=3) == [("delete", "r0001"), ("delete", "r0002")]
    assert ops(store, "other", after=1) == [("delete", "r0007")]
    assert walk(store) == stored(store) and walk(store, "other") == {}


def test_a_partition_left_detached_is_dropped_by_the_next_run(store):
    """Retention stopped between detaching a month and dropping it: the next run finds the month
    detached and carries on (its records' deletes logged, identities and number rows gone)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records([1, 2], month=1) + records([3], month=6))
    store.records._detach("calls_y2022m01")  # type: ignore[attr-defined]  # then stopped
    assert list(stored(store)) == ["r0003"]  # no longer served
    cutoff = 1_651_363_200_000  # 2022-05-01
    report = store.records.apply_retention(cutoff, ["acme"], every_app=True, dry_run=False)
    assert "calls_y2022m01" in report.dropped_partitions and report.removed == {"acme": 2}
    assert ops(store, after=3) == [("delete", "r0001"), ("delete", "r0002")]
    number = PageQuery(number=normal_number(CALLER))
    assert [msgspec.json.decode(d)["id"] for d in store.records.page("acme", number).docs] == [
        "r0003"
    ]
    store.records.ingest("acme", records([1], month=1))  # the identity went with its record
    assert ops(store, after=5) == [("insert", "r0001")]
    assert walk(store) == stored(store)


def test_erase_logs_its_deletes_and_a_dry_run_nothing(store):
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records([1, 2, 3]))
    hit = {"r0001", "r0003"}

    def matches(doc: bytes) -> bool:
        return msgspec.json.decode(doc)["id"] in hit

    assert store.records.erase("acme", matches, dry_run=True) == ["r0001", "r0003"]
    assert len(stored(store)) == 3 and store.records.change_bounds("acme") == (0, 3)
    assert store.records.erase("acme", matches, dry_run=False) == ["r0001", "r0003"]
    assert list(stored(store)) == ["r0002"] and store.records.count_records("acme") == 1
    assert ops(store, after=3) == [("delete", "r0001"), ("delete", "r0003")]
    assert walk(store) == stored(store)


def test_trimming_moves_trimmed_through(store):
    ensure_app(store, "acme", "Acme")
    with store.records.writer("acme") as writer:  # one write of two batches: one mark
        writer.write(prepare(records([1])))
        writer.write(prepare(records([2])))
    time.sleep(0.01)
    cutoff = int(time.time() * 1000)
    time.sleep(0.01)
    store.records.ingest("acme", records([3]))
    assert store.records.trim_changes(cutoff) == 2
    assert store.records.change_bounds("acme") == (2, 3)
    assert ops(store) == [("insert", "r0003")]
    assert store.records.trim_changes(cutoff) == 0
    assert store.records.change_bounds("acme") == (2, 3)


def test_deleting_the_app_drops_its_log(store):
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records([1]))
    delete_app(store, "acme", force=True)
    ensure_app(store, "acme", "Acme")
    assert store.records.change_bounds("acme") == (0, 0) and ops(store) == []


def test_writers_of_different_apps_have_positions_of_their_own(store):
    ensure_app(store, "acme", "Acme")
    ensure_app(store, "other", "Other")
    store.records.ingest("acme", records([1, 2]))
    store.records.ingest("other", records([1]))
    assert store.records.change_bounds("other") == (0, 1)


# --- the commit-order hazard ------------------------------------------------------------------


def test_a_reader_following_concurrent_writers_misses_nothing(db_url):
    """Writers of one app commit overlapping batches in any order while a reader follows the log
    with its cursor. Were positions handed out as writes ask for them (a sequence or identity
    column), a writer could commit position 5 after the reader passed it on its way to 6 from a
    faster writer: the reader would skip 5 for ever and its copy would differ at the end."""
    store = open_store(db_url)
    store.upgrade()
    try:
        store.accounts.create_app("c", "c")
        done = threading.Event()
        errors: list[BaseException] = []
        state: dict[str, bytes] = {}
        seen: list[int] = []

        def writer(n: int) -> None:
            rng = random.Random(n)
            try:
                for round_ in range(10):
                    ids = rng.sample(range(300), 60)
                    store.records.ingest(
                        "c", records(ids, version=n * 100 + round_, month=rng.randint(1, 3))
                    )
            except BaseException as exc:
                errors.append(exc)

        def reader() -> None:
            after = 0
            try:
                while True:
                    finished = done.is_set()  # read once more after the last commit
                    changes = store.records.changes("c", after, 50)
                    apply(state, changes)
                    seen.extend(c.position for c in changes)
                    if changes:
                        after = changes[-1].position
                    elif finished:
                        return
            except BaseException as exc:
                errors.append(exc)

        follower = threading.Thread(target=reader)
        follower.start()
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        done.set()
        follower.join()
        assert errors == []
        assert seen == list(range(1, store.records.change_bounds("c")[1] + 1))
        assert state == stored(store, "c")
    finally:
        store.close()


def test_a_later_writer_waits_for_the_positions_of_an_earlier_one(postgres_url, monkeypatch):
    """By construction: writer A has taken its positions and not committed; writer B must not get
    the next positions (and commit them) before A commits, or a reader between the two commits
    would pass A's. With a sequence B would commit at once and this reader would lose A's record."""
    from tests.conftest import empty_postgres

    empty_postgres(postgres_url)
    store = open_store(postgres_url)
    took_positions, release = hold_first_commit(monkeypatch, "c")
    try:
        store.accounts.create_app("c", "c")
        first = threading.Thread(target=store.records.ingest, args=("c", records([1])))
        first.start()
        assert took_positions.wait(30)
        second = threading.Thread(target=store.records.ingest, args=("c", records([2])))
        second.start()
        wait_for_a_lock_wait(postgres_url)
        state: dict[str, bytes] = {}
        early = store.records.changes("c", 0, 10)  # between the two writers: nothing committed
        apply(state, early)
        after = early[-1].position if early else 0
        release.set()
        first.join()
        second.join()
        apply(state, store.records.changes("c", after, 10))
        assert early == [] and state == stored(store, "c") and len(state) == 2
    finally:
        release.set()
        store.close()


def test_a_transaction_of_several_batches_logs_them_in_order(store, monkeypatch):
    # An import writes many batches in one transaction; on PostgreSQL the entries held past
    # HELD_IN_MEMORY wait in a temporary table (made small here so that both ways are taken).
    monkeypatch.setattr(pg_backend, "HELD_IN_MEMORY", 2)
    ensure_app(store, "acme", "Acme")
    store.records.ingest("acme", records([5]))
    with store.records.writer("acme") as writer:
        writer.write(prepare(records([3, 1, 2])))
        writer.write(
            prepare(records([5], version=1) + records([4]))
        )  # 2: held (3 went to the table)
    assert ops(store, after=1) == [
        ("insert", "r0001"),
        ("insert", "r0002"),
        ("insert", "r0003"),
        ("insert", "r0004"),
        ("update", "r0005"),
    ]
    assert store.records.change_bounds("acme") == (0, 6) and walk(store) == stored(store)
