"""GET /v1/api/apps/{appID}/data/call-stats (docs/api.md#statistics): the answer's shape, keys,
definitions and refusals. Exactness on random data: tests/store/test_stats_exact.py."""

from __future__ import annotations

from typing import Any

import pytest

from cdrstore.contract import CODE_BAD_REQUEST
from cdrstore.record import STATUSES
from tests.conftest import calls_path, record

PATH = "/v1/api/apps/acme/data/call-stats"


def stats(client: Any, auth: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = client.get(PATH, params=params, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0
    return body["result"]  # type: ignore[no-any-return]


@pytest.fixture
def calls(client, auth) -> None:
    recs = [
        # answered, 90 s, Inbound: the agent is lastHandledParty
        record(
            id="a",
            callDate="2023-07-05T23:30:00Z",
            callEndTime="2023-07-05T23:31:30Z",
            lastHandledParty="agent-1",
            toEID="agent-9",
            toDepartment="Sales",
            fromDepartment="Nobody",
        ),
        # answered without an end time: no talk time; agent falls back to toEID (Inbound)
        record(id="b", callDate="2023-07-06T01:00:00Z", toEID="agent-2", toDepartment="Support"),
        # abandoned, Outbound: agent from fromEID, department from fromDepartment
        record(
            id="c",
            callDate="2023-07-06T02:00:00Z",
            callEndTime="2023-07-06T02:05:00Z",
            status="Abandoned",
            callDirection="Outbound",
            callType="onnet",
            fromEID="agent-2",
            fromDepartment="Support",
            toDepartment="Sales",
        ),
    ]
    assert client.post(calls_path("acme"), json=recs, headers=auth).status_code == 200


def test_one_total_row_without_group(client, auth, calls):
    [row] = stats(client, auth)
    assert row == {
        "key": "total",
        "calls": 3,
        "answered": 2,
        "asr": 2 / 3,
        "talkTimeMs": 90_000,
        "acdMs": 45_000,
        "abandoned": 1,
        "byStatus": {s: {"Call Ended": 2, "Abandoned": 1}.get(s, 0) for s in STATUSES},
    }


def test_days_are_local_to_the_zone(client, auth, calls):
    utc = stats(client, auth, groupBy="day")
    assert [(r["key"], r["calls"]) for r in utc] == [("2023-07-05", 1), ("2023-07-06", 2)]
    hong_kong = stats(client, auth, groupBy="day", tz="Asia/Hong_Kong")
    assert [(r["key"], r["calls"]) for r in hong_kong] == [("2023-07-06", 3)]
    kolkata = stats(client, auth, groupBy="hour", tz="Asia/Kolkata")
    assert [r["key"] for r in kolkata] == ["2023-07-06T05", "2023-07-06T06", "2023-07-06T07"]


def test_keys_of_each_group(client, auth, calls):
    def keys(group: str, **more: str) -> list[Any]:
        return [r["key"] for r in stats(client, auth, groupBy=group, **more)]

    assert keys("week") == ["2023-W27"]
    assert keys("month") == ["2023-07"]
    assert keys("weekday") == [3, 4]  # Wednesday, Thursday
    assert keys("hourOfDay") == [1, 2, 23]
    assert keys("status") == ["Abandoned", "Call Ended"]
    assert keys("callType") == ["offnet", "onnet"]
    assert keys("callDirection") == ["Inbound", "Outbound"]
    assert keys("agent") == ["agent-1", "agent-2"]
    assert keys("department") == ["Sales", "Support"]
    agents = {r["key"]: r for r in stats(client, auth, groupBy="agent")}
    assert (agents["agent-2"]["calls"], agents["agent-2"]["abandoned"]) == (2, 1)


def test_filters_and_half_open_window(client, auth, calls):
    assert stats(client, auth, startAt="2023-07-06T01:00:00Z")[0]["calls"] == 2
    assert stats(client, auth, endAt="2023-07-06T01:00:00Z")[0]["calls"] == 1
    assert stats(client, auth, callDirection="Outbound")[0]["calls"] == 1
    assert stats(client, auth, callType="offnet", status="Call Ended")[0]["answered"] == 2
    empty = stats(client, auth, status="Busy")[0]
    assert (empty["calls"], empty["asr"], empty["acdMs"]) == (0, 0.0, 0)
    assert stats(client, auth, status="Busy", groupBy="day") == []


def test_a_changed_record_moves_its_figures(client, auth, calls):
    changed = record(id="c", callDate="2023-07-07T00:00:00Z", status="Busy")
    assert client.post(calls_path("acme"), json=[changed], headers=auth).status_code == 200
    days = {r["key"]: r["byStatus"] for r in stats(client, auth, groupBy="day")}
    assert days["2023-07-06"]["Abandoned"] == 0 and days["2023-07-07"]["Busy"] == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"groupby": "day"}, "invalid query: groupby (did you mean groupBy?)"),
        ({"groupBy": "year"}, "invalid groupBy: 'year'"),
        ({"tz": "Mars/Olympus"}, "invalid tz: 'Mars/Olympus'"),
        ({"tz": "../etc/passwd"}, "invalid tz"),
        ({"callDirection": "Sideways"}, "invalid callDirection"),
        ({"startAt": "2023-07-06T00:00:00Z", "endAt": "2023-07-05T00:00:00Z"}, "endAt is prior"),
        ({"offset": "1"}, "invalid query: offset"),
    ],
)
def test_bad_parameters_are_refused(client, auth, params, message):
    response = client.get(PATH, params=params, headers=auth)
    assert response.status_code == 400
    assert response.json()["code"] == CODE_BAD_REQUEST
    assert response.json()["message"].startswith(message)


def test_needs_the_read_scope_of_the_app(client, tokens):
    assert client.get(PATH, headers=tokens.headers("acme", ("ingest",))).status_code == 403
    assert client.get(PATH, headers=tokens.headers("other")).status_code == 403
    assert client.get(PATH).status_code == 401
