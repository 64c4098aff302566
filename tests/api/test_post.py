"""POST /v1/api/apps/{appID}/data/call-detail (docs/api.md#writing-call-details)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cdrstore.contract import BATCH_MAX_BYTES, BATCH_MAX_RECORDS, CODE_BAD_REQUEST
from cdrstore.record import FIELDS
from tests.conftest import calls_path, record

PATH = calls_path("acme")


def stored(client: Any, auth: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    r = client.get(PATH, params={"limit": 500, **query}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_json_array_is_stored_with_all_46_keys_in_order(client, auth):
    r = client.post(PATH, json=[record()], headers=auth)
    assert r.status_code == 200
    assert r.json() == {
        "code": 0,
        "result": {"received": 1, "inserted": 1, "updated": 0, "unchanged": 0},
    }
    [got] = stored(client, auth)
    assert list(got) == list(FIELDS)
    assert len(got) == 46


def test_never_given_values_are_served_as_empty_values_of_their_type(client, auth):
    client.post(PATH, json=[record()], headers=auth)
    [got] = stored(client, auth)
    assert got["hid"] == "" and got["seq"] == 0 and got["isRecording"] is False
    assert got["recordingEventList"] == [] and got["callEndTime"] == ""
    assert got["type"] == "call" and got["mediaType"] == "audio" and got["recordType"] == "call"
    assert got["fromRole"] == "" and got["caller"] == ""
    assert None not in got.values()


def test_timestamps_are_normalised_to_utc_milliseconds(client, auth):
    rec = record(
        callDate="2022-11-07T08:00:00+08:00",
        callEndTime="2022-11-07T00:05:00.123456Z",
        recordingEventList=[
            {"startAt": "2022-11-06T19:00:01-05:00", "endAt": "2022-11-07T00:04:00.5Z"}
        ],
    )
    client.post(PATH, json=[rec], headers=auth)
    [got] = stored(client, auth)
    assert got["callDate"] == "2022-11-07T00:00:00.000Z"
    assert got["callEndTime"] == "2022-11-07T00:05:00.123Z"
    event = got["recordingEventList"][0]
    assert event["startAt"] == "2022-11-07T00:00:01.000Z"
    assert event["endAt"] == "2022-11-07T00:04:00.500Z"
    assert event["code"] == 0 and event["files"] == [] and event["recorderEID"] == ""


def test_date_is_derived_from_call_date_in_utc(client, auth):
    client.post(PATH, json=[record(callDate="2022-11-07T02:00:00+08:00")], headers=auth)
    [got] = stored(client, auth)
    assert got["date"] == "20221106"


def test_given_date_is_kept(client, auth):
    client.post(PATH, json=[record(date="20230704")], headers=auth)
    assert stored(client, auth)[0]["date"] == "20230704"


def test_numbers_given_as_integers_are_served_as_strings(client, auth):
    client.post(PATH, json=[record(caller=85212345678, callee="+85298765432")], headers=auth)
    [got] = stored(client, auth)
    assert got["caller"] == "85212345678" and got["callee"] == "+85298765432"


def test_recording_file_type_given_as_string_is_served_as_integer(client, auth):
    files = [{"id": "f1", "type": "3", "duration": 1000, "size": 20}, {"id": "f2", "type": 2}]
    client.post(PATH, json=[record(recordingEventList=[{"files": files}])], headers=auth)
    got = stored(client, auth)[0]["recordingEventList"][0]["files"]
    assert [f["type"] for f in got] == [3, 2]
    assert got[0] == {
        "id": "f1",
        "name": "",
        "downloadUrl": "",
        "duration": 1000,
        "mimeType": "",
        "size": 20,
        "type": 3,
        "isPrivate": True,
    }


def test_result_envelope_is_accepted_so_a_page_can_be_posted_back(client, auth, tokens):
    client.post(PATH, json=[record(id=f"r{i}") for i in range(3)], headers=auth)
    page = client.get(PATH, headers=auth).json()
    other = tokens.headers("other")
    r = client.post(calls_path("other"), json=page, headers=other)
    assert r.json()["result"] == {"received": 3, "inserted": 3, "updated": 0, "unchanged": 0}
    assert client.get(calls_path("other"), headers=other).json() == page


def test_ndjson_body(client, auth):
    body = b"\n".join(msgspec.json.encode(record(id=f"n{i}")) for i in range(4)) + b"\n\n"
    r = client.post(PATH, content=body, headers={**auth, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["inserted"] == 4


def test_content_type_with_charset_is_accepted(client, auth):
    r = client.post(
        PATH,
        content=msgspec.json.encode([record()]),
        headers={**auth, "Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200


def test_resending_a_batch_never_duplicates_and_counts_exactly(client, auth):
    batch = [record(id=f"r{i}") for i in range(5)]
    client.post(PATH, json=batch, headers=auth)
    batch[1]["status"] = "Busy"
    batch[3]["callDate"] = "2022-12-01T00:00:00Z"
    r = client.post(PATH, json=[*batch, record(id="new")], headers=auth)
    assert r.json()["result"] == {"received": 6, "inserted": 1, "updated": 2, "unchanged": 3}
    got = stored(client, auth)
    assert len(got) == 6
    assert {g["id"]: g["status"] for g in got}["r1"] == "Busy"
    assert got[-1]["id"] == "r3"  # moved to its new callDate


def test_an_unchanged_record_in_another_offset_is_unchanged(client, auth):
    client.post(PATH, json=[record(callDate="2022-11-07T08:00:00+08:00")], headers=auth)
    r = client.post(PATH, json=[record(callDate="2022-11-07T00:00:00Z")], headers=auth)
    assert r.json()["result"]["unchanged"] == 1


def test_empty_batch_is_fine(client, auth):
    r = client.post(PATH, json=[], headers=auth)
    assert r.json() == {
        "code": 0,
        "result": {"received": 0, "inserted": 0, "updated": 0, "unchanged": 0},
    }


def test_unicode_free_text_round_trips(client, auth):
    names = {"callerFirstName": "Zoë 陳", "toDisplayName": "Łukasz 🎧", "byeReason": "\u202e"}
    client.post(PATH, json=[record(**names)], headers=auth)
    got = stored(client, auth)[0]
    assert {k: got[k] for k in names} == names


# --- bad input: each gets the contract's error and nothing stored changes ---------------------
BAD_RECORDS = [
    ("unknown key", record(colour="red"), "colour"),
    ("wrong type", record(seq="one"), "seq"),
    ("bool for integer", record(callSeq=True), "callSeq"),
    ("null for a required field", record(status=None), "status"),
    ("missing required id", {k: v for k, v in record().items() if k != "id"}, "id"),
    ("missing callDate", {k: v for k, v in record().items() if k != "callDate"}, "callDate"),
    ("missing status", {k: v for k, v in record().items() if k != "status"}, "status"),
    ("empty id", record(id=""), "id"),
    ("id too long", record(id="x" * 129), "id"),
    ("bad timestamp", record(callDate="yesterday"), "callDate"),
    ("date alone", record(callDate="2022-11-07"), "callDate"),
    ("impossible date", record(callDate="2022-02-30T00:00:00Z"), "callDate"),
    ("no offset", record(callDate="2022-11-07T00:00:00"), "callDate"),
    ("end before start", record(callEndTime="2022-11-06T23:59:59Z"), "callEndTime"),
    ("unknown callType", record(callType="pstn"), "callType"),
    ("unknown status", record(status="call ended"), "status"),
    ("unknown direction", record(callDirection="inbound"), "callDirection"),
    ("type not call", record(type="sms"), "type"),
    ("bad mediaType", record(mediaType="fax"), "mediaType"),
    ("bad role", record(fromRole="BOSS"), "fromRole"),
    ("bad recordType", record(recordType="meeting"), "recordType"),
    ("invalid fromIP", record(fromIP="300.1.2.3"), "fromIP"),
    ("ip with leading zero", record(fromIP="010.1.2.3"), "fromIP"),
    ("bad date", record(date="2023-07-04"), "date"),
    (
        "bad file type",
        record(recordingEventList=[{"files": [{"type": 4}]}]),
        "recordingEventList[0].files[0].type",
    ),
    (
        "bad recording time",
        record(recordingEventList=[{"startAt": "noon"}]),
        "recordingEventList[0].startAt",
    ),
    ("unknown nested key", record(recordingEventList=[{"file": []}]), "recordingEventList[0].file"),
    ("record not an object", [1, 2], ""),
]


@pytest.mark.parametrize(("case", "bad", "field"), BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_an_invalid_record_rejects_the_whole_request(client, auth, case, bad, field):
    client.post(PATH, json=[record(id="kept", hid="before")], headers=auth)
    batch = [record(id="kept", hid="after"), record(id="fresh"), bad]
    r = client.post(PATH, json=batch, headers=auth)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == CODE_BAD_REQUEST
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"][0]["index"] == 2
    if field:
        assert body["errors"][0]["field"] == field
    got = stored(client, auth)
    assert [(g["id"], g["hid"]) for g in got] == [("kept", "before")]


def test_valid_ip_addresses_are_accepted(client, auth):
    batch = [
        record(id="a", fromIP="203.0.113.9"),
        record(id="b", fromIP="2001:db8::1"),
        record(id="c", fromIP="::ffff:192.0.2.1"),
    ]
    assert client.post(PATH, json=batch, headers=auth).status_code == 200


def test_every_invalid_record_is_listed(client, auth):
    batch = [record(id="a"), record(id="b", status="?"), record(id="c"), record(id="d", seq="x")]
    body = client.post(PATH, json=batch, headers=auth).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "status"), (3, "seq")]


def test_same_id_twice_is_reported_at_the_later_index(client, auth):
    batch = [record(id="a"), record(id="b"), record(id="a", status="Busy")]
    r = client.post(PATH, json=batch, headers=auth)
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"index": 2, "field": "id", "message": "duplicate id 'a' (first at index 0)"}
    ]
    assert stored(client, auth) == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[{", "malformed JSON"),
        (b'{"id": "x"}', "body must be"),
        (b'"records"', "body must be"),
        (b"", "malformed JSON"),
        (b'[{"id": "\xff\xfe"}]', "malformed JSON"),
    ],
    ids=["truncated", "single object", "string", "empty", "invalid utf-8"],
)
def test_malformed_bodies(client, auth, body, needle):
    r = client.post(PATH, content=body, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == CODE_BAD_REQUEST
    assert needle in r.json()["message"]


def test_invalid_utf8_in_ndjson(client, auth):
    body = msgspec.json.encode(record()) + b"\n" + b'{"id": "\xc3\x28"}\n'
    r = client.post(PATH, content=body, headers={**auth, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["index"] == 1
    assert stored(client, auth) == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "multipart/form-data", None]
)
def test_unsupported_content_type_is_415(client, auth, content_type):
    headers = dict(auth)
    if content_type:
        headers["Content-Type"] = content_type
    r = client.post(PATH, content=msgspec.json.encode([record()]), headers=headers)
    assert r.status_code == 415
    assert r.json()["code"] == CODE_BAD_REQUEST
    assert stored(client, auth) == []


def test_more_than_10000_records_is_413(client, auth):
    body = b"\n".join(
        [msgspec.json.encode(record(id=f"r{i}")) for i in range(BATCH_MAX_RECORDS + 1)]
    )
    r = client.post(PATH, content=body, headers={**auth, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 413
    assert r.json()["code"] == CODE_BAD_REQUEST
    assert "10000" in r.json()["message"]
    assert stored(client, auth) == []


def test_exactly_10000_records_is_accepted(client, auth):
    batch = [record(id=f"r{i}") for i in range(BATCH_MAX_RECORDS)]
    r = client.post(PATH, json=batch, headers=auth)
    assert r.status_code == 200
    assert r.json()["result"]["inserted"] == BATCH_MAX_RECORDS


def test_more_than_32_mib_is_413(client, auth):
    pad = "x" * (1024 * 1024)
    batch = [record(id=f"r{i}", byeReason=pad) for i in range(33)]
    body = msgspec.json.encode(batch)
    assert len(body) > BATCH_MAX_BYTES
    r = client.post(PATH, content=body, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == CODE_BAD_REQUEST
    assert stored(client, auth) == []


def test_post_takes_no_query_parameters(client, auth):
    r = client.post(PATH + "?offset=0", json=[record()], headers=auth)
    assert r.status_code == 400
    assert r.json() == {"code": CODE_BAD_REQUEST, "message": "invalid query: offset"}
    assert stored(client, auth) == []
