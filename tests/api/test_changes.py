"""GET /v1/api/apps/{appID}/data/call-detail/changes (docs/api.md#following-changes): walking the
feed and applying it reproduces the app's records, whatever happened to them; cursors we did not
make are refused, expired ones answered 410."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from cdrstore.contract import CODE_BAD_REQUEST, changes_path
from cdrstore.ops.changes import encode_cursor, trim_change_log
from cdrstore.ops.erasure import erase_number
from cdrstore.ops.retention import apply_retention
from tests.conftest import calls_path, record

PATH = changes_path("acme")


def post(client: Any, auth: dict[str, str], records: list[dict[str, Any]]) -> None:
    response = client.post(calls_path("acme"), json=records, headers=auth)
    assert response.status_code == 200, response.text


class Page(msgspec.Struct):
    result: list[msgspec.Raw]


def served_records(client: Any, auth: dict[str, str]) -> dict[str, bytes]:
    """The app's records as the call-detail GET serves them, by id."""
    out: dict[str, bytes] = {}
    offset = 0
    while True:
        response = client.get(
            calls_path("acme"), params={"offset": offset, "limit": 500}, headers=auth
        )
        raws = msgspec.json.decode(response.content, type=Page).result
        for raw in raws:
            out[msgspec.json.decode(raw)["id"]] = bytes(raw)
        if len(raws) < 500:
            return out
        offset += 500


class Entry(msgspec.Struct):
    op: str
    id: str
    record: msgspec.Raw = msgspec.Raw(b"")  # (Raw | None is no type msgspec decodes)


class Body(msgspec.Struct):
    code: int
    result: list[Entry]
    cursor: str
    hasMore: bool


def walk(
    client: Any,
    auth: dict[str, str],
    state: dict[str, bytes],
    cursor: str | None = None,
    limit: int = 7,
) -> str:
    """Follow the feed to its end from a cursor, applying each entry to `state`; the cursor kept."""
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = client.get(PATH, params=params, headers=auth)
        assert response.status_code == 200, response.text
        body = msgspec.json.decode(response.content, type=Body)
        assert body.code == 0 and len(body.result) <= limit
        for entry in body.result:
            if entry.op == "delete":
                assert not entry.record
                state.pop(entry.id, None)
            else:
                assert entry.op == "upsert" and entry.record
                state[entry.id] = bytes(entry.record)
        cursor = body.cursor
        if not body.hasMore:
            return cursor


def recs(ids: range, version: int = 0, month: int = 1, **extra: Any) -> list[dict[str, Any]]:
    return [
        record(
            id=f"r{i:03d}",
            callDate=f"2022-{month:02d}-{1 + i % 27:02d}T08:00:00.000Z",
            hid=f"v{version}",
            **extra,
        )
        for i in ids
    ]


def test_walking_and_applying_reproduces_the_records(client, auth, store):
    post(client, auth, recs(range(30)))
    mirror: dict[str, bytes] = {}
    cursor = walk(client, auth, mirror)
    assert mirror == served_records(client, auth) and len(mirror) == 30

    # updates, one moved to another month (partition), an unchanged re-send, new records
    post(client, auth, recs(range(5), version=1) + recs(range(5, 8), version=2, month=7))
    post(client, auth, recs(range(10, 20)) + recs(range(30, 35)))
    cursor = walk(client, auth, mirror, cursor)
    assert mirror == served_records(client, auth) and len(mirror) == 35

    # retention over every app (PostgreSQL drops January's partition whole)
    report = apply_retention(store, 1_654_041_600_000)  # 2022-06-01
    assert sum(report.removed.values()) == 32
    cursor = walk(client, auth, mirror, cursor)
    assert mirror == served_records(client, auth) and sorted(mirror) == ["r005", "r006", "r007"]

    # erasure
    post(client, auth, recs(range(40, 44), month=8, caller="+1 555-0100"))
    assert erase_number(store, "acme", "15550100", dry_run=False) == [
        "r040",
        "r041",
        "r042",
        "r043",
    ]
    walk(client, auth, mirror, cursor)
    assert mirror == served_records(client, auth) and len(mirror) == 3

    # and from no cursor at all, in one walk
    fresh: dict[str, bytes] = {}
    walk(client, auth, fresh, limit=1000)
    assert fresh == mirror


def test_the_body_as_documented(client, auth):
    post(client, auth, recs(range(2)))
    post(client, auth, recs(range(1), version=1))
    response = client.get(PATH, params={"limit": 2}, headers=auth)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["code", "result", "cursor", "hasMore"]
    assert body["code"] == 0 and body["hasMore"] is True
    first = body["result"][0]
    assert list(first) == ["op", "id", "record"] and first["op"] == "upsert"
    assert first["record"] == client.get(calls_path("acme"), headers=auth).json()["result"][0]
    assert first["record"]["hid"] == "v1"  # the record as it is now
    rest = client.get(PATH, params={"cursor": body["cursor"]}, headers=auth).json()
    assert [e["id"] for e in rest["result"]] == ["r000"] and rest["hasMore"] is False
    # at the end: no entries, the same cursor back
    end = client.get(PATH, params={"cursor": rest["cursor"]}, headers=auth).json()
    assert end == {"code": 0, "result": [], "cursor": rest["cursor"], "hasMore": False}


def test_an_empty_feed(client, auth, tokens):
    tokens.app("acme")
    body = client.get(PATH, headers=auth).json()
    assert body == {"code": 0, "result": [], "cursor": encode_cursor(0), "hasMore": False}


def test_an_upsert_of_a_record_deleted_since_is_left_out(client, auth, store):
    post(client, auth, recs(range(3)))
    post(client, auth, recs(range(1), caller="999"))
    erase_number(store, "acme", "999", dry_run=False)
    body = client.get(PATH, params={"limit": 1000}, headers=auth).json()
    assert [(e["op"], e["id"]) for e in body["result"]] == [
        ("upsert", "r001"),
        ("upsert", "r002"),
        ("delete", "r000"),
    ]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "AAAA",
        _b64(b"\x02" + (5).to_bytes(8, "big")),  # another version
        _b64(b"\x01" + (5).to_bytes(8, "big")) + "=",  # padded: not as we write it
        _b64(b"\x01" + (5).to_bytes(9, "big")),
        encode_cursor(10**6),  # beyond the head
        "é" * 12,
    ],
)
def test_a_cursor_we_did_not_make_is_a_400(client, auth, cursor):
    post(client, auth, recs(range(3)))
    response = client.get(PATH, params={"cursor": cursor}, headers=auth)
    assert response.status_code == 400
    assert response.json()["code"] == CODE_BAD_REQUEST and "cursor" in response.json()["message"]


def test_an_expired_cursor_is_a_410(client, auth, store):
    post(client, auth, recs(range(3)))
    old = client.get(PATH, params={"limit": 1}, headers=auth).json()["cursor"]
    time.sleep(0.01)
    later = datetime.fromtimestamp(time.time() + 86_400 + 1, UTC)  # a day from now: all older
    post(client, auth, recs(range(3, 4)))
    trimmed, _ = trim_change_log(store, "1d", now=later)
    assert trimmed == 4
    response = client.get(PATH, params={"cursor": old}, headers=auth)
    assert response.status_code == 410
    assert response.json()["code"] == 6451000 and "full sync" in response.json()["message"]
    # no cursor: from the oldest kept (nothing), with a cursor that is not expired
    body = client.get(PATH, headers=auth).json()
    assert (
        body["result"] == []
        and client.get(PATH, params={"cursor": body["cursor"]}, headers=auth).json()["result"] == []
    )


@pytest.mark.parametrize(
    "params",
    [{"offset": "0"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"curser": "a"}],
)
def test_bad_parameters_are_a_400(client, auth, params):
    post(client, auth, recs(range(1)))
    response = client.get(PATH, params=params, headers=auth)
    assert response.status_code == 400 and response.json()["code"] == CODE_BAD_REQUEST


def test_limit_1000_is_allowed(client, auth):
    post(client, auth, recs(range(3)))
    assert len(client.get(PATH, params={"limit": 1000}, headers=auth).json()["result"]) == 3


def test_scope_read_is_needed(client, tokens):
    ingest_only = tokens.headers("acme", ("ingest",))
    response = client.get(PATH, headers=ingest_only)
    assert response.status_code == 403 and response.json()["code"] == 6452001
    other_app = tokens.headers("other", ("read",))
    assert client.get(PATH, headers=other_app).status_code == 403
    assert client.get(PATH).status_code == 401


def test_the_feed_is_in_the_openapi_document(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/api/apps/{appID}/data/call-detail/changes"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"appID", "cursor", "limit"}
    assert "410" in operation["responses"] and "`read`" in operation["description"]
