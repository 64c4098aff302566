"""Two writers ingesting overlapping batches at once: no duplicate, no lost acknowledged record, no
deadlock or serialization error reaching the caller (on each backend)."""

from __future__ import annotations

import random
import threading

import msgspec

from cdrstore.query import PageQuery
from cdrstore.record import IngestSummary
from cdrstore.store import open_store, prepare
from cdrstore.validation import decode_record


def batch(ids: list[int], version: int) -> list:
    rng = random.Random(version)
    return [
        decode_record(
            msgspec.json.encode(
                {
                    "id": f"c{i:05d}",
                    "callDirection": "Inbound",
                    "callType": "onnet",
                    # versions move records across hours and months (and partitions)
                    "callDate": f"2022-{rng.choice([1, 2, 3]):02d}-{rng.randint(1, 28):02d}T10:00:00Z",
                    "status": "Busy",
                    "hid": f"v{version}",
                }
            )
        )
        for i in ids
    ]


def test_overlapping_concurrent_writers(db_url):
    store = open_store(db_url)
    store.upgrade()
    store.accounts.create_app("c", "c")
    errors: list[BaseException] = []
    acknowledged: list[set[str]] = [set(), set()]

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            for round_ in range(12):
                ids = sorted(rng.sample(range(600), 250))
                if rng.random() < 0.5:
                    ids.reverse()  # opposite lock orders must not deadlock either
                store.records.ingest("c", batch(ids, n * 100 + round_))
                acknowledged[n].update(f"c{i:05d}" for i in ids)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store.records.seek_min_offset = 0
    docs = [msgspec.json.decode(d) for d in store.records.iter_docs("c", PageQuery())]
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids))
    assert set(ids) == acknowledged[0] | acknowledged[1]
    assert store.records.count_records("c") == len(ids)
    paged = []
    offset = 0
    while True:
        page = store.records.page("c", PageQuery(offset=offset, limit=97))
        paged += [msgspec.json.decode(d)["id"] for d in page.docs]
        offset += 97
        if not page.has_more:
            break
    assert paged == ids
    store.close()


def test_a_writer_waits_for_an_identity_not_yet_committed_then_finds_it_stored(db_url):
    """A batch is first written as if all its records were new: where another transaction has
    just written one of them, it waits for that one to commit, then counts the record as stored
    (no duplicate, no error)."""
    store = open_store(db_url)
    store.upgrade()
    store.accounts.create_app("c", "c")
    outcome: list[object] = []

    def second_writer() -> None:
        try:
            outcome.append(store.records.ingest("c", batch([1, 2], 7)))
        except BaseException as exc:
            outcome.append(exc)

    with store.records.writer("c") as first:
        first.write(prepare(batch([1], 7)))
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and outcome == []  # waiting for the first transaction
    thread.join()
    assert outcome == [IngestSummary(2, 1, 0, 1)]
    assert store.records.count_records("c") == 2
    store.close()


def test_a_transaction_of_new_batches_then_stored_ones_counts_each(db_url):
    """Batches of new records, then a batch with records stored already (some by this very
    transaction), then new ones: every record counted as what it is (here the stored ones come
    in other versions: updated), stored once."""
    store = open_store(db_url)
    store.upgrade()
    store.accounts.create_app("c", "c")
    store.records.ingest("c", batch(list(range(100, 110)), 1))
    counts = IngestSummary.empty()
    with store.records.writer("c") as writer:
        for ids in (range(0, 50), range(50, 100), range(95, 115), range(115, 130)):
            counts.add(writer.write(prepare(batch(list(ids), 1))))
    assert counts == IngestSummary(135, 120, 15, 0)
    assert store.records.count_records("c") == 130
    store.close()
