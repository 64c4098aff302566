"""Statistics through the Python client (sync and async, typed rows) and `cdrstore stats`
(table, json, csv, filters, errors as usage), on both backends; and `--number` on `export`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cdrstore.api import create_app
from cdrstore.client import AsyncClient, Client, InvalidRequest, StatsRow
from cdrstore.settings import Settings
from tests.conftest import record

RECORDS = [
    record(
        id="a",
        callDate="2023-07-05T23:30:00Z",
        callEndTime="2023-07-05T23:31:30Z",
        caller="+852 1234 5678",
        callee="200",
    ),
    record(id="b", callDate="2023-07-06T01:00:00Z", status="Abandoned", caller="85212345678"),
    record(
        id="c",
        callDate="2023-07-06T02:00:00Z",
        callDirection="Outbound",
        caller="300",
        callee="400",
    ),
]


@pytest.fixture
def transport(store, db_url, tokens) -> tuple[httpx.ASGITransport, str]:
    token = tokens.token("acme")
    app = create_app(Settings(db_url, 0), store)
    return httpx.ASGITransport(app=app), token


def test_client_call_stats_gives_typed_rows(transport):
    asgi, token = transport

    async def scenario() -> tuple[list[StatsRow], list[StatsRow]]:
        async with AsyncClient("http://test", "acme", token, transport=asgi) as c:
            await c.ingest(RECORDS)
            days = await c.call_stats(group_by="day", tz="Asia/Hong_Kong")
            outbound = await c.call_stats(
                call_direction="Outbound", start_at=datetime(2023, 7, 6, tzinfo=UTC)
            )
            return days, outbound

    days, outbound = asyncio.run(scenario())
    assert [(r.key, r.calls, r.answered, r.abandoned) for r in days] == [("2023-07-06", 3, 2, 1)]
    assert isinstance(days[0], StatsRow) and days[0].talkTimeMs == 90_000
    assert (outbound[0].key, outbound[0].calls) == ("total", 1)


def test_sync_client_call_stats_and_its_errors(store, tokens):
    from litestar.testing import TestClient

    app = create_app(Settings(str(store.engine.url), 0), store)
    token = tokens.token("acme")
    with TestClient(app) as test_client:
        transport = httpx.MockTransport(
            lambda request: _forward(test_client, request)  # the in-process app, synchronously
        )
        with Client("http://test", "acme", token, transport=transport) as c:
            c.ingest(RECORDS)
            [total] = c.call_stats(status="Call Ended")
            assert (total.calls, total.acdMs) == (2, 45_000)
            hours = c.call_stats(group_by="hourOfDay")
            assert [r.key for r in hours] == [1, 2, 23]
            with pytest.raises(InvalidRequest, match="invalid tz"):
                c.call_stats(tz="Mars/Base")
            assert [r.id for r in c.list_calls(number="+85212345678")] == ["a", "b"]


def _forward(test_client: Any, request: httpx.Request) -> httpx.Response:
    answer = test_client.request(
        request.method,
        str(request.url.copy_with(scheme="http", host="testserver")),
        # Identity: the answer's body is handed on decoded, under the answer's own headers.
        headers={**dict(request.headers), "accept-encoding": "identity"},
        content=request.content,
    )
    return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture
def loaded(cli) -> Any:
    cli("apps", "create", "Acme", "--id", "acme")
    path = cli.dir / "calls.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS))
    cli("import", "--app", "acme", str(path))
    return cli


def test_cli_stats_in_each_format(loaded):
    table = loaded("stats", "--app", "acme", "--group-by", "callDirection").stdout
    assert "Inbound" in table and "50.0%" in table and "Outbound" in table and "100.0%" in table
    rows = json.loads(loaded("stats", "--app", "acme", "--format", "json").stdout)
    assert rows[0]["key"] == "total" and rows[0]["calls"] == 3
    text = loaded("stats", "--app", "acme", "--group-by", "day", "--format", "csv").stdout
    got = list(csv.DictReader(io.StringIO(text)))
    assert [(r["key"], r["calls"], r["Abandoned"]) for r in got] == [
        ("2023-07-05", "1", "0"),
        ("2023-07-06", "2", "1"),
    ]


def test_cli_stats_filters(loaded):
    def total(*args: str) -> int:
        out = loaded("stats", "--app", "acme", "--format", "json", *args).stdout
        return int(json.loads(out)[0]["calls"])

    assert total("--since", "2023-07-06") == 2
    assert total("--until", "2023-07-06T01:00:00Z") == 1
    assert total("--direction", "Outbound") == 1
    assert total("--status", "Abandoned", "--type", "offnet") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--group-by", "year"), "invalid --group-by: 'year'"),
        (("--tz", "Nowhere/Town"), "invalid --tz: 'Nowhere/Town'"),
        (("--direction", "Up"), "invalid --direction: 'Up'"),
        (("--since", "2023-13-01"), "invalid --since"),
        (("--format", "xml"), "--format must be one of table, json, csv"),
    ],
)
def test_cli_stats_bad_options_are_usage_errors(loaded, args, message):
    proc = loaded("stats", "--app", "acme", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr


def test_cli_stats_of_a_missing_app(loaded):
    proc = loaded("stats", "--app", "nope", check=False)
    assert proc.returncode == 1 and "no app 'nope'" in proc.stderr


def test_cli_export_by_number(loaded):
    out = loaded("export", "--app", "acme", "--number", "852-1234-5678").stdout
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a", "b"]
