"""The client's change feed against a live server: `Client.iter_changes` and its async twin walk
the feed page by page, a consumer that keeps each page's cursor resumes where it stopped, and an
expired cursor raises CursorExpired."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cdrstore.client import (
    AsyncClient,
    ChangePage,
    Client,
    CursorExpired,
    InvalidRequest,
    PermissionDenied,
)
from cdrstore.ops.changes import trim_change_log
from cdrstore.ops.database import open_database
from cdrstore.testing import app_with_token, live_server
from tests.conftest import record


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    url = f"sqlite:///{tmp_path / 'feed.db'}"
    token = app_with_token(url, "feed")
    with live_server(url, cwd=tmp_path) as base:
        yield base, token, url


def records(n: int, start: int = 0, hid: str = "v0") -> list[dict[str, str]]:
    return [record(id=f"c{i:03d}", hid=hid) for i in range(start, start + n)]


def apply(state: dict[str, str], page: ChangePage) -> None:
    for change in page.changes:
        if change.op == "delete":
            state.pop(change.id, None)
        else:
            assert change.record is not None and change.record.id == change.id
            state[change.id] = change.record.hid


def test_iter_changes_walks_the_feed_and_resumes_from_a_kept_cursor(server):
    base, token, _ = server
    with Client(base, "feed", token) as client:
        client.ingest(records(25))
        state: dict[str, str] = {}
        pages = list(client.iter_changes(limit=10))
        assert [len(p.changes) for p in pages] == [10, 10, 5]
        assert [p.has_more for p in pages] == [True, True, False]
        for page in pages:
            apply(state, page)
        kept = pages[-1].cursor
        assert state == {f"c{i:03d}": "v0" for i in range(25)}

        client.ingest(records(3, hid="v1") + records(2, start=25))
        resumed = list(client.iter_changes(cursor=kept))
        assert len(resumed) == 1 and [c.op for c in resumed[0].changes] == ["upsert"] * 5
        apply(state, resumed[0])
        assert state == {c.id: c.hid for c in client.iter_calls()}
        # nothing new: one empty page with the same cursor back
        (idle,) = client.iter_changes(cursor=resumed[-1].cursor)
        assert idle.changes == [] and idle.cursor == resumed[-1].cursor and not idle.has_more


def test_the_async_client_walks_the_same_feed(server):
    base, token, _ = server

    async def walk() -> list[ChangePage]:
        async with AsyncClient(base, "feed", token) as client:
            await client.ingest(records(12))
            return [page async for page in client.iter_changes(limit=5)]

    pages = asyncio.run(walk())
    assert [len(p.changes) for p in pages] == [5, 5, 2]
    assert pages[0].changes[0].record is not None and pages[0].changes[0].id == "c000"


def test_errors_map_into_the_tree(server):
    base, token, url = server
    with Client(base, "feed", token) as client:
        client.ingest(records(2))
        first = client.changes(limit=1)
        with pytest.raises(InvalidRequest) as bad:
            client.changes(cursor="not-ours")
        assert bad.value.status == 400 and not isinstance(bad.value, CursorExpired)
        store = open_database(url)
        try:
            trim_change_log(store, "1d", now=datetime.now(UTC) + timedelta(days=2))
        finally:
            store.close()
        with pytest.raises(CursorExpired) as expired:
            client.changes(cursor=first.cursor)
        assert expired.value.status == 410 and expired.value.code == 6451000
    ingest_only = app_with_token(url, "feed", ("ingest",))
    with Client(base, "feed", ingest_only) as client, pytest.raises(PermissionDenied):
        client.changes()
