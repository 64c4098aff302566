"""GET /v1/api/apps/{appID}/data/call-detail (docs/api.md#reading-call-details)."""

from __future__ import annotations

import itertools
import random
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from cdrstore.contract import CODE_BAD_REQUEST
from cdrstore.record import CALL_TYPES, STATUSES
from tests.conftest import calls_path, record

PATH = calls_path("acme")


@pytest.fixture
def loaded(client, auth) -> list[dict[str, Any]]:
    """60 records over three days, stored in shuffled order, as (callDate, id)-sorted wire dicts."""
    rng = random.Random(7)
    recs = []
    for i in range(60):
        day, hour = 7 + i % 3, (i * 5) % 24
        recs.append(
            record(
                id=f"id-{rng.randrange(10**6):06d}-{i}",
                callDate=f"2022-11-{day:02d}T{hour:02d}:{i % 60:02d}:00.{i:03d}Z",
                callType=CALL_TYPES[i % 3],
                status=STATUSES[i % 8],
            )
        )
    shuffled = recs[:]
    rng.shuffle(shuffled)
    assert client.post(PATH, json=shuffled, headers=auth).status_code == 200
    return sorted(recs, key=lambda r: (r["callDate"], r["id"]))


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["result"]]


def test_order_is_call_date_then_id(client, auth, loaded):
    assert ids(client.get(PATH, params={"limit": 500}, headers=auth)) == [r["id"] for r in loaded]


def test_ties_on_call_date_are_ordered_bytewise_by_id(client, auth):
    same = "2022-11-07T00:00:00.000Z"
    names = ["b", "B", "a", "é", "Z", "_", "a0", "-"]
    client.post(PATH, json=[record(id=n, callDate=same) for n in names], headers=auth)
    assert ids(client.get(PATH, headers=auth)) == sorted(names, key=lambda s: s.encode())


def test_default_limit_is_100(client, auth):
    client.post(PATH, json=[record(id=f"r{i:03d}") for i in range(150)], headers=auth)
    assert len(ids(client.get(PATH, headers=auth))) == 100


def test_seed_headers_on_a_get_are_accepted(client, auth, loaded):
    headers = {**auth, "Content-Type": "application/json", "accept": "application/json"}
    r = client.get(PATH + "?offset=0", headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("call_type", CALL_TYPES)
def test_call_type_filter(client, auth, loaded, call_type):
    want = [r["id"] for r in loaded if r["callType"] == call_type]
    assert ids(client.get(PATH, params={"callType": call_type}, headers=auth)) == want


@pytest.mark.parametrize("status", STATUSES)
def test_status_filter(client, auth, loaded, status):
    want = [r["id"] for r in loaded if r["status"] == status]
    assert ids(client.get(PATH, params={"status": status}, headers=auth)) == want


def test_both_filters(client, auth, loaded):
    want = [r["id"] for r in loaded if r["status"] == "Busy" and r["callType"] == "smartcall"]
    got = ids(client.get(PATH, params={"status": "Busy", "callType": "smartcall"}, headers=auth))
    assert got == want and want


def test_empty_filters_mean_all(client, auth, loaded):
    got = ids(client.get(PATH + "?callType=&status=&limit=500", headers=auth))
    assert got == [r["id"] for r in loaded]


def test_window_is_half_open(client, auth, loaded):
    start, end = loaded[10]["callDate"], loaded[30]["callDate"]
    got = ids(client.get(PATH, params={"startAt": start, "endAt": end}, headers=auth))
    assert got == [r["id"] for r in loaded[10:30]]


def test_window_bounds_accept_any_offset(client, auth, loaded):
    got = ids(
        client.get(
            PATH,
            params={"startAt": "2022-11-08T08:00:00+08:00", "endAt": "2022-11-08T19:00:00-05:00"},
            headers=auth,
        )
    )
    want = [r["id"] for r in loaded if "2022-11-08T00:00" <= r["callDate"] < "2022-11-09T00:00"]
    assert got == want and want


def test_unencoded_plus_in_offset_is_understood(client, auth, loaded):
    url = PATH + "?startAt=2022-11-08T08:00:00+08:00&limit=500"
    got = ids(client.get(url, headers=auth))
    assert got == [r["id"] for r in loaded if r["callDate"] >= "2022-11-08T00:00"]


def test_consecutive_windows_never_overlap(client, auth, loaded):
    bounds = [
        "2022-11-07T00:00:00Z",
        "2022-11-08T00:00:00Z",
        "2022-11-09T00:00:00Z",
        "2022-11-10T00:00:00Z",
    ]
    got = []
    for lo, hi in itertools.pairwise(bounds):
        got += ids(client.get(PATH, params={"startAt": lo, "endAt": hi}, headers=auth))
    assert got == [r["id"] for r in loaded]


def test_offset_paging_walks_every_record_once(client, auth, loaded):
    got, offset = [], 0
    while True:
        page = ids(client.get(PATH, params={"offset": offset, "limit": 7}, headers=auth))
        got += page
        if len(page) < 7:
            break
        offset += 7
    assert got == [r["id"] for r in loaded]


def test_link_header_points_at_the_next_page_and_is_absent_on_the_last(client, auth, loaded):
    url = PATH + "?status=&limit=25&callType="
    seen: list[str] = []
    while url:
        r = client.get(url, headers=auth)
        seen += ids(r)
        link = r.headers.get("link")
        if link is None:
            break
        target, rel = link.split(";", 1)
        assert rel.strip() == 'rel="next"'
        url = target.strip()[1:-1]
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        assert (
            query["limit"] == "25" and query["callType"] == "" and query["offset"] == str(len(seen))
        )
    assert seen == [r["id"] for r in loaded]


def test_no_link_when_the_page_is_exactly_the_rest(client, auth, loaded):
    r = client.get(PATH, params={"offset": 50, "limit": 10}, headers=auth)
    assert len(ids(r)) == 10 and "link" not in r.headers


def test_empty_match_is_200_with_empty_result(client, auth, loaded):
    r = client.get(PATH, params={"startAt": "2030-01-01T00:00:00Z"}, headers=auth)
    assert r.status_code == 200 and r.json() == {"code": 0, "result": []}


def test_offset_past_the_end_is_empty(client, auth, loaded):
    assert ids(client.get(PATH, params={"offset": 1000}, headers=auth)) == []


def test_unknown_app_with_a_valid_token_of_its_own(client, tokens):
    headers = tokens.headers("empty")
    assert client.get(calls_path("empty"), headers=headers).json() == {"code": 0, "result": []}


BAD_QUERIES = [
    ("starAt=2022-11-07T00:00:00Z", "invalid query: starAt"),
    ("foo=1", "invalid query: foo"),
    ("callType=pstn", "invalid callType"),
    ("callType=ONNET", "invalid callType"),
    ("status=busy", "invalid status"),
    ("status=Call%20ended", "invalid status"),
    ("startAt=2022-11-07", "invalid startAt"),
    ("startAt=2022-02-30T00:00:00Z", "invalid startAt"),
    ("startAt=2022-11-07T00:00:00", "invalid startAt"),
    ("endAt=tomorrow", "invalid endAt"),
    ("startAt=", "invalid startAt"),
    ("startAt=2022-11-08T00:00:00Z&endAt=2022-11-07T00:00:00Z", "endAt is prior to startAt"),
    ("offset=-1", "negative offset"),
    ("offset=1.5", "invalid offset"),
    ("offset=abc", "invalid offset"),
    ("offset=", "invalid offset"),
    ("offset=99999999999999999999", "offset too large"),
    ("limit=0", "limit must be at least 1"),
    ("limit=-5", "limit must be at least 1"),
    ("limit=501", "exceed maximum limit 500"),
    ("limit=ten", "invalid limit"),
    ("limit=1e2", "invalid limit"),
    ("offset=1&offset=2", "more than once"),
]


@pytest.mark.parametrize(("query", "message"), BAD_QUERIES, ids=[q for q, _ in BAD_QUERIES])
def test_bad_query_parameters_are_400_naming_the_problem(client, auth, query, message):
    r = client.get(f"{PATH}?{query}", headers=auth)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == CODE_BAD_REQUEST
    assert message in body["message"]


def test_limit_500_is_the_maximum_accepted(client, auth):
    client.post(PATH, json=[record(id=f"r{i:04d}") for i in range(600)], headers=auth)
    assert len(ids(client.get(PATH, params={"limit": 500}, headers=auth))) == 500
