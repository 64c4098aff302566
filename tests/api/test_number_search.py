"""`number=` on the call-detail GET (docs/api.md#reading-call-details): calls whose caller or callee
is the number, compared without spaces, dashes and a leading +; with the other filters, in the
usual order, paged by offset, kept right as records change and expire."""

from __future__ import annotations

from typing import Any

import pytest

from cdrstore.ops.retention import apply_retention
from cdrstore.timestamps import parse_timestamp
from tests.conftest import calls_path, record

PATH = calls_path("acme")


def ids(client: Any, auth: dict[str, str], **params: Any) -> list[str]:
    response = client.get(PATH, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["result"]]


@pytest.fixture
def calls(client, auth) -> None:
    recs = [
        record(id="a", callDate="2023-07-05T10:00:00Z", caller="+852 1234-5678", callee="200"),
        record(id="b", callDate="2023-07-05T09:00:00Z", caller="300", callee=85212345678),
        record(
            id="c", callDate="2023-07-05T11:00:00Z", caller="85212345678", callee="+85212345678"
        ),
        record(id="d", callDate="2023-07-05T12:00:00Z", caller="300", callee="400", status="Busy"),
        record(id="e", callDate="2023-07-06T08:00:00Z", caller="852-1234 5678", status="Busy"),
    ]
    assert client.post(PATH, json=recs, headers=auth).status_code == 200


@pytest.mark.parametrize(
    "spelled", ["85212345678", "+85212345678", "+852 1234-5678", "852-1234-5678"]
)
def test_caller_or_callee_in_any_spelling(client, auth, calls, spelled):
    # c has the number on both sides: listed once
    assert ids(client, auth, number=spelled) == ["b", "a", "c", "e"]


def test_with_the_other_filters_and_paging(client, auth, calls):
    number = "85212345678"
    assert ids(client, auth, number=number, status="Busy") == ["e"]
    assert ids(client, auth, number=number, endAt="2023-07-05T11:00:00Z") == ["b", "a"]
    assert ids(client, auth, number=number, startAt="2023-07-05T10:00:00Z", limit=2) == ["a", "c"]
    assert ids(client, auth, number=number, offset=1, limit=2) == ["a", "c"]
    assert ids(client, auth, number=number, offset=4) == []
    assert ids(client, auth, number="300") == ["b", "d"]
    assert ids(client, auth, number="999") == []
    assert ids(client, auth, number="") == ["b", "a", "c", "d", "e"]  # empty: any, as elsewhere


def test_the_next_link_keeps_the_number(client, auth, calls):
    response = client.get(PATH, params={"number": "+85212345678", "limit": 1}, headers=auth)
    link = response.headers["link"]
    assert "number=%2B85212345678" in link and "offset=1" in link


def test_a_changed_or_expired_record_leaves_the_search(client, auth, calls, store):
    moved = record(id="a", callDate="2023-07-04T10:00:00Z", caller="555", callee="200")
    assert client.post(PATH, json=[moved], headers=auth).status_code == 200
    assert ids(client, auth, number="85212345678") == ["b", "c", "e"]
    assert ids(client, auth, number="555") == ["a"]
    apply_retention(store, parse_timestamp("2023-07-05T10:30:00Z"), "acme")
    assert ids(client, auth, number="85212345678") == ["c", "e"]
    assert ids(client, auth, number="555") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"numbr": "1"}, "invalid query: numbr (did you mean number?)"),
        ({"number": "+ -"}, "invalid number: '+ -'"),
        ({"number": "1" * 300}, "invalid number"),
    ],
)
def test_bad_numbers_are_refused(client, auth, params, message):
    response = client.get(PATH, params=params, headers=auth)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
