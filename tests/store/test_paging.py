"""Deep offsets found through the per-hour counts select exactly the page plain OFFSET would."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdrstore.query import PageQuery
from cdrstore.record import CALL_TYPES, STATUSES
from cdrstore.store.schema import COUNT_BUCKET_MS
from cdrstore.timestamps import format_timestamp
from cdrstore.validation import decode_record
from tests.conftest import empty_postgres

HOUR = COUNT_BUCKET_MS
BASE = 1_667_779_200_000  # 2022-11-07T00:00:00Z


def make(i: int, when: int, call_type: str, status: str) -> bytes:
    return msgspec.json.encode(
        {
            "id": f"r{i:05d}",
            "callDirection": "Inbound",
            "callType": call_type,
            "callDate": format_timestamp(when),
            "status": status,
        }
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dataset(request, tmp_path_factory):
    from cdrstore.store import open_store

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('paging') / 'p.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        empty_postgres(url)
    store = open_store(url)
    store.upgrade()
    store.accounts.create_app("p", "p")
    rng = random.Random(11)
    rows = []
    for i in range(3000):
        # clustered hours, exact bucket edges, and instants before 1970
        when = rng.choice(
            [
                BASE + rng.randrange(40) * HOUR,
                BASE + rng.randrange(40 * HOUR),
                -5 * HOUR + rng.randrange(10 * HOUR) - BASE // 1000,
            ]
        )
        rows.append((f"r{i:05d}", when, rng.choice(CALL_TYPES), rng.choice(STATUSES)))
    store.records.ingest("p", [decode_record(make(int(r[0][1:]), r[1], r[2], r[3])) for r in rows])
    model = sorted(rows, key=lambda r: (r[1], r[0]))
    yield store, model
    store.close()


def expected(model, q: PageQuery) -> list[str]:
    hits = [
        r[0]
        for r in model
        if (q.call_type is None or r[2] == q.call_type)
        and (q.status is None or r[3] == q.status)
        and (q.start_ms is None or r[1] >= q.start_ms)
        and (q.end_ms is None or r[1] < q.end_ms)
    ]
    return hits[q.offset : q.offset + q.limit]


bounds = st.one_of(
    st.none(),
    st.integers(-BASE // 1000 - 6 * HOUR, BASE + 41 * HOUR),
    st.integers(-3, 42).map(lambda h: BASE + h * HOUR),
)


@settings(max_examples=200, deadline=None)
@given(
    call_type=st.one_of(st.none(), st.sampled_from(CALL_TYPES)),
    status=st.one_of(st.none(), st.sampled_from(STATUSES)),
    start=bounds,
    end=bounds,
    offset=st.integers(0, 3100),
    limit=st.integers(1, 60),
    min_offset=st.sampled_from([0, 1, 50]),
)
def test_seek_matches_plain_offset(
    dataset, call_type, status, start, end, offset, limit, min_offset
):
    store, model = dataset
    if start is not None and end is not None and end < start:
        start, end = end, start
    q = PageQuery(call_type, status, start, end, offset, limit)
    store.records.seek_min_offset = min_offset
    page = store.records.page("p", q)
    got = [msgspec.json.decode(d)["id"] for d in page.docs]
    assert got == expected(model, q)
    full = expected(model, PageQuery(call_type, status, start, end, offset, limit + 1))
    assert page.has_more == (len(full) > limit)


def test_counts_follow_updates_that_move_records(dataset):
    store, model = dataset
    before = store.records.count_records("p")
    moved = decode_record(make(0, BASE + 100 * HOUR, CALL_TYPES[1], STATUSES[1]))
    store.records.ingest("p", [moved])
    assert store.records.count_records("p") == before
    store.records.seek_min_offset = 0
    last = store.records.page("p", PageQuery(offset=before - 1, limit=5))
    assert [msgspec.json.decode(d)["id"] for d in last.docs] == ["r00000"]
    original = next(r for r in model if r[0] == "r00000")
    store.records.ingest(
        "p", [decode_record(make(0, *original[1:]))]
    )  # leave the dataset as it was


def test_repeated_deep_pages_on_one_pooled_connection(dataset):
    store, model = dataset
    store.records.seek_min_offset = 0
    for offset in (1500, 0, 1500, 2990, 10):
        q = PageQuery(offset=offset, limit=7)
        assert [msgspec.json.decode(d)["id"] for d in store.records.page("p", q).docs] == expected(
            model, q
        )
