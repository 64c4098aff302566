"""cdrstore.client and the CLI's client mode: against a live server, in process, and against
scripted servers for retries."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import msgspec
import pytest

from cdrstore import client as client_module
from cdrstore.api import create_app
from cdrstore.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
)
from cdrstore.export import CSV_COLUMNS
from cdrstore.settings import Settings
from cdrstore.testing import demo_token, live_server
from tests.conftest import record, run_cli


class Live:
    def __init__(self, base_url: str, token: str, env: dict[str, str], work: Path) -> None:
        self.base_url, self.token, self.env, self.work = base_url, token, env, work

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(args, self.env, self.work, check=check)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    work: Path = tmp_path_factory.mktemp("client")
    url = f"sqlite:///{work / 'c.db'}"
    token = demo_token(url, 10_000, work, seed=8)
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
    with live_server(url, cwd=work) as base:
        client_env = {**env, "CDRSTORE_URL": base, "CDRSTORE_APP": "demo", "CDRSTORE_TOKEN": token}
        yield Live(base, token, client_env, work)


def server_order(live: Live) -> list[str]:
    out = live.cli("export", "--app", "demo", "--format", "ndjson").stdout
    return [json.loads(line)["id"] for line in out.splitlines()]


def test_iter_calls_walks_10000_records_once_in_order(live):
    with Client(live.base_url, "demo", live.token) as c:
        got = [r.id for r in c.iter_calls()]
    assert len(got) == 10_000 == len(set(got))
    assert got == server_order(live)


def test_list_calls_with_datetime_filters_gives_typed_records(live):
    with Client(live.base_url, "demo", live.token) as c:
        first = c.list_calls(limit=1)[0].call_datetime()  # the demo's weeks end at the present hour
        start = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=10)
        end = start + timedelta(days=1)
        page = c.list_calls(
            status="Busy",
            start_at=start,
            end_at=end.astimezone(timezone(timedelta(hours=8))).isoformat(),  # "...+08:00"
            limit=500,
        )
    assert page and all(r.status == "Busy" for r in page)
    assert all(start <= r.call_datetime() < end for r in page)
    assert page[0].call_datetime().tzinfo is not None
    ended = [r for r in page if r.call_end_datetime() is not None]
    assert all(r.call_end_datetime() >= r.call_datetime() for r in ended)


def test_errors_map_to_the_exception_tree(live):
    with Client(live.base_url, "demo", "cdr_" + "x" * 43, max_retries=0) as c:
        with pytest.raises(AuthenticationError) as auth:
            c.list_calls()
    assert auth.value.status == 401 and auth.value.code == 6452000
    with Client(live.base_url, "someone-else", live.token) as c, pytest.raises(PermissionDenied):
        c.list_calls()
    with Client(live.base_url, "demo", live.token) as c, pytest.raises(InvalidRequest) as bad:
        c.list_calls(limit=501)
    assert "exceed maximum limit 500" in str(bad.value)


def test_async_client_in_process(store, db_url, tokens):
    token = tokens.token("acme")
    app = create_app(Settings(db_url, 0), store)

    async def scenario() -> None:
        async with AsyncClient(
            "http://test", "acme", token, transport=httpx.ASGITransport(app=app)
        ) as c:
            summary = await c.ingest([record(id=f"a{i:03d}") for i in range(120)])
            assert (summary.received, summary.inserted) == (120, 120)
            again = await c.ingest([record(id="a000")])
            assert again.unchanged == 1
            first = await c.list_calls(limit=7)
            assert [r.id for r in first] == [f"a{i:03d}" for i in range(7)]
            walked = [r.id async for r in c.iter_calls(limit=50)]
            assert walked == [f"a{i:03d}" for i in range(120)]

    asyncio.run(scenario())


# --- retries, against scripted servers ------------------------------------------------------------
def scripted(
    *answers: httpx.Response | Exception,
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


PAGE = {"code": 0, "result": [record(id="only")]}


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", waited.append)
    return waited


def test_429_then_200_honours_retry_after(sleeps):
    transport, seen = scripted(
        httpx.Response(
            429, json={"code": 6451010, "message": "slow down"}, headers={"Retry-After": "3"}
        ),
        httpx.Response(200, json=PAGE),
    )
    with Client("http://x", "a", "cdr_t", transport=transport) as c:
        assert [r.id for r in c.list_calls()] == ["only"]
    assert len(seen) == 2 and sleeps and sleeps[0] >= 3


def test_503_then_200(sleeps):
    transport, seen = scripted(
        httpx.Response(503, json={"code": 6451001, "message": "database unavailable"}),
        httpx.Response(200, json=PAGE),
    )
    with Client("http://x", "a", "cdr_t", transport=transport) as c:
        assert len(c.list_calls()) == 1
    assert len(seen) == 2 and len(sleeps) == 1


def test_connection_errors_are_retried_then_reported(sleeps):
    transport, seen = scripted(*(httpx.ConnectError("refused") for _ in range(3)))
    with (
        Client("http://x", "a", "cdr_t", transport=transport, max_retries=2) as c,
        pytest.raises(TransportError),
    ):
        c.list_calls()
    assert len(seen) == 3 and len(sleeps) == 2


def test_other_4xx_is_never_retried(sleeps):
    transport, seen = scripted(
        httpx.Response(400, json={"code": 6451000, "message": "negative offset"})
    )
    with Client("http://x", "a", "cdr_t", transport=transport) as c, pytest.raises(InvalidRequest):
        c.list_calls()
    assert len(seen) == 1 and sleeps == []


def test_total_wait_is_bounded(sleeps):
    limited = httpx.Response(
        429, json={"code": 6451010, "message": "no"}, headers={"Retry-After": "40"}
    )
    transport, seen = scripted(limited, limited, limited)
    with (
        Client("http://x", "a", "cdr_t", transport=transport, max_wait=60) as c,
        pytest.raises(RateLimited) as exc,
    ):
        c.list_calls()
    assert exc.value.retry_after == 40 and sum(sleeps) <= 60 and len(seen) == 2


def test_server_error_after_retries(sleeps):
    transport, _ = scripted(
        *(
            httpx.Response(500, json={"code": 6451001, "message": "internal error"})
            for _ in range(3)
        )
    )
    with (
        Client("http://x", "a", "cdr_t", transport=transport, max_retries=2) as c,
        pytest.raises(ServerError),
    ):
        c.list_calls()


def test_paging_without_link_stops_on_a_short_page(sleeps):
    full = {"code": 0, "result": [record(id="p1"), record(id="p2")]}
    short = {"code": 0, "result": [record(id="p3")]}
    transport, seen = scripted(httpx.Response(200, json=full), httpx.Response(200, json=short))
    with Client("http://x", "a", "cdr_t", transport=transport) as c:
        assert [r.id for r in c.iter_calls(limit=2)] == ["p1", "p2", "p3"]
    assert [r.url.params["offset"] for r in seen] == ["0", "2"]


def test_records_from_other_servers_with_extra_keys_and_nulls_are_read(sleeps):
    foreign = {**record(id="f"), "extraKey": 1, "hid": None}
    transport, _ = scripted(httpx.Response(200, json={"code": 0, "result": [foreign]}))
    with Client("http://x", "a", "cdr_t", transport=transport) as c:
        [r] = c.list_calls()
    assert r.id == "f" and r.hid == ""


def test_the_token_never_shows(caplog, sleeps):
    secret = "cdr_SECRET-token-value-0123456789abcdefghijklmno"
    caplog.set_level(logging.DEBUG)
    transport, _ = scripted(
        httpx.Response(401, json={"code": 6452000, "message": "invalid token"}),
    )
    c = Client("http://x", "a", secret, transport=transport)
    with pytest.raises(AuthenticationError) as exc:
        c.list_calls()
    c.close()
    assert secret not in repr(c) and secret not in str(exc.value) and secret not in repr(exc.value)
    assert secret not in caplog.text
    assert secret not in repr(AsyncClient("http://x", "a", secret))


# --- CLI client mode and exports ------------------------------------------------------------------
def test_calls_list_table_and_one_page(live):
    table = live.cli("calls", "list", "--limit", "5").stdout
    assert "callDate" in table and live.token not in table
    lines = live.cli("calls", "list", "--limit", "7", "--format", "ndjson").stdout.splitlines()
    assert len(lines) == 7


def test_calls_list_all_and_export_formats_round_trip(live):
    ndjson = live.cli("calls", "export", "--format", "ndjson", "--status", "Call Ended").stdout
    records = [json.loads(line) for line in ndjson.splitlines()]
    assert records and all(r["status"] == "Call Ended" for r in records)
    every = live.cli(
        "calls", "list", "--all", "--format", "ndjson", "--status", "Call Ended"
    ).stdout
    assert every == ndjson

    proc = live.cli(
        "calls", "export", "--format", "parquet", "--status", "Call Ended", "-o", "calls.parquet"
    )
    assert live.token not in proc.stdout + proc.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(live.work / "calls.parquet").to_pylist() == records

    live.cli("calls", "export", "--format", "csv", "--status", "Call Ended", "-o", "calls.csv")
    with (live.work / "calls.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS) and len(rows) == len(records)
    for row, rec in zip(rows, records, strict=True):
        assert row["id"] == rec["id"] and row["callDate"] == rec["callDate"]
        assert row["isRecording"] == ("true" if rec["isRecording"] else "false")
        files = [f for e in rec["recordingEventList"] for f in e["files"]]
        assert int(row["recordingCount"]) == len(rec["recordingEventList"])
        assert int(row["recordingDurationMs"]) == sum(f["duration"] for f in files)
        assert row["recordingFileUrls"] == " ".join(f["downloadUrl"] for f in files)

    live.cli("calls", "export", "--format", "json", "-o", "calls.json", "--type", "onnet")
    exported = msgspec.json.decode((live.work / "calls.json").read_bytes())
    assert exported and all(r["callType"] == "onnet" for r in exported)


def test_calls_export_accepts_all_as_list_does(live):
    walked = live.cli("calls", "export", "--format", "ndjson", "--type", "smartcall").stdout
    with_all = live.cli("calls", "export", "--all", "--format", "ndjson", "--type", "smartcall")
    assert with_all.stdout == walked
    assert len(walked.splitlines()) > 500  # more than one page: export walks them all either way


def test_server_side_export_matches_the_api(live):
    since = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()  # a plain date: midnight
    live.cli("export", "--app", "demo", "--format", "csv", "-o", "server.csv", "--since", since)
    live.cli("calls", "export", "--format", "csv", "-o", "client.csv", "--since", since)
    assert (live.work / "server.csv").read_bytes() == (live.work / "client.csv").read_bytes()
    bad = live.cli("export", "--app", "demo", "--format", "xml", check=False)
    assert bad.returncode == 2 and "--format" in bad.stderr


def test_cli_client_errors_are_clear(live):
    proc = live.cli("calls", "list", "--token", "cdr_" + "y" * 43, check=False)
    assert proc.returncode == 1 and "401" in proc.stderr and "y" * 43 not in proc.stderr
    parquet = live.cli("calls", "list", "--format", "parquet", check=False)
    assert parquet.returncode == 2 and "--output" in parquet.stderr
