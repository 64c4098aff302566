"""Hostile input, by class: for each class of input that once gave a 500 or a wrong answer, a
generative test over the whole class, on both backends (in process, through HTTP).

Classes: control characters in text and ids; nesting depth in every decoder; every instant the
record model accepts; every time bound and its rounding; every header that must not repeat;
every integer parsed from text; HEAD. Protocol-level errors (below the app) are in
tests/api/test_protocol.py, against a live server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cdrstore.contract import CODE_BAD_REQUEST, CODE_UNAUTHENTICATED
from cdrstore.record import FIELDS, Record
from cdrstore.timestamps import format_timestamp
from tests.conftest import calls_path, record

PATH = calls_path("acme")
FIXTURES = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


def fuzz(examples: int) -> settings:
    """Each class's examples a backend (the figures in docs/operations.md)."""
    return settings(FIXTURES, max_examples=examples)


CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.just("\x7f")
TEXT_CHARS = st.characters(blacklist_categories=["Cs"])  # JSON text: no lone surrogates
# Free-text fields: stored inside the record's JSON, so any Unicode must come back byte-identical.
TEXT_FIELDS = [
    name
    for name, field in zip(FIELDS, msgspec.structs.fields(Record), strict=True)
    if field.type is str and name not in ("date",)
]
MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def post(client: Any, auth: dict[str, str], records: list[Any]) -> Any:
    headers = {**auth, "Content-Type": "application/json"}
    return client.post(PATH, content=msgspec.json.encode(records), headers=headers)


def served(client: Any, auth: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    r = client.get(PATH, params={"limit": 500, **query}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def assert_refused(response: Any, field: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == CODE_BAD_REQUEST and body["message"]
    if field is not None:
        assert body["errors"][0]["field"] == field


# --- control characters: in text byte-identical, in an id refused, never a 500 --------------------
@fuzz(60)
@given(field=st.sampled_from(TEXT_FIELDS), text=st.text(CONTROL | TEXT_CHARS, max_size=40))
@example(field="hid", text="a\x00b\x1f\x7f")
@example(field="toEID", text="\x00")  # the agent of an inbound call: a statistics key
@example(field="toDepartment", text="a\x00")
@example(field="caller", text="+1\x00 2")  # a number the search keys on
def test_text_fields_come_back_byte_identical(client, auth, field, text):
    rec = record(id=f"t-{abs(hash((field, text)))}", **{field: text})
    first = post(client, auth, [rec])
    assert first.status_code == 200, first.text
    again = post(client, auth, [rec])  # a re-sent batch always works
    assert again.status_code == 200 and again.json()["result"]["unchanged"] == 1
    [got] = [r for r in served(client, auth) if r["id"] == rec["id"]]
    assert got[field] == text


@fuzz(40)
@given(
    head=st.text(TEXT_CHARS, max_size=5),
    control=CONTROL,
    tail=st.text(TEXT_CHARS, max_size=5),
)
@example(head="nul", control="\x00", tail="id")
def test_an_id_with_a_control_character_is_refused_every_time(client, auth, head, control, tail):
    rec = record(id=head + control + tail)
    for _ in range(2):  # the first time and when re-sent: 400 both times, nothing stored
        assert_refused(post(client, auth, [rec]), "id")
    assert [r for r in served(client, auth) if r["id"] == rec["id"]] == []


# --- nesting: every decoder refuses what is too deep with a 400 -----------------------------------
def nested(depth: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = "[" * depth + "]" * depth if opener == "[" else '{"a":' * depth + "1" + closer * depth
    return inner


@fuzz(30)
@given(
    depth=st.sampled_from([100, 2_000, 10_000, 50_000]),
    opener=st.sampled_from(["[", "{"]),
    where=st.sampled_from(["body", "envelope", "field", "nested record", "ndjson"]),
)
@example(depth=10_000, opener="[", where="body")
@example(depth=10_000, opener="[", where="field")
def test_deep_nesting_is_a_400_on_every_path(client, auth, depth, opener, where):
    deep = nested(depth, opener)
    good = msgspec.json.encode(record(id="deep")).decode()
    as_field = good[:-1] + f',"hid":{deep}}}'
    bodies = {
        "body": (deep, "application/json"),
        "envelope": ('{"result":' + deep + "}", "application/json"),
        "field": (f"[{as_field}]", "application/json"),
        "nested record": (
            f'[{good[:-1]},"recordingEventList":[{{"files":{deep}}}]}}]',
            "application/json",
        ),
        "ndjson": (f"{good}\n{as_field}\n", "application/x-ndjson"),
    }
    body, media_type = bodies[where]
    r = client.post(PATH, content=body.encode(), headers={**auth, "Content-Type": media_type})
    assert_refused(r)


# --- every instant the record model accepts is storable, and found by its exact window ------------
@fuzz(40)
@given(when=st.integers(MIN_MS, MAX_MS))
@example(when=MIN_MS)
@example(when=MAX_MS)
@example(when=253_400_000_000_000)  # December 9999: its month's partition ends in year 10000
def test_every_accepted_instant_is_stored_and_found(client, auth, when):
    text = format_timestamp(when)
    rec = record(id=f"at-{when}", callDate=text)
    r = post(client, auth, [rec])
    assert r.status_code == 200, r.text
    window = {"startAt": text}
    if when < MAX_MS:  # no bound lies past the last accepted instant
        window["endAt"] = format_timestamp(when + 1)
    assert [x["id"] for x in served(client, auth, **window)] == [rec["id"]]


@pytest.mark.parametrize(
    "outside",
    ["0001-01-01T00:00:00.000+00:01", "9999-12-31T23:59:59.999-00:01", "0000-12-31T23:00:00Z"],
)
def test_an_instant_outside_the_years_1_to_9999_is_refused(client, auth, outside):
    assert_refused(post(client, auth, [record(callDate=outside)]), "callDate")


# --- time bounds: callDate >= startAt and callDate < endAt hold exactly ---------------------------
BASE = 1_709_186_400_000  # 2024-02-29T06:00:00.000Z
INSTANTS = [BASE + 250, BASE + 251, BASE - 1]


@fuzz(80)
@given(
    anchor=st.sampled_from(INSTANTS),
    shift_ms=st.integers(-2, 2),
    extra=st.text("0123456789", min_size=0, max_size=9),
    offset_minutes=st.sampled_from([0, 480, -330]),
    which=st.sampled_from(["startAt", "endAt"]),
)
@example(anchor=BASE + 250, shift_ms=0, extra="1", offset_minutes=0, which="startAt")
@example(anchor=BASE + 250, shift_ms=0, extra="1", offset_minutes=0, which="endAt")
def test_sub_millisecond_bounds_are_exact(
    client, auth, anchor, shift_ms, extra, offset_minutes, which
):
    recs = [record(id=f"b{i}", callDate=format_timestamp(ms)) for i, ms in enumerate(INSTANTS)]
    assert post(client, auth, recs).status_code == 200
    whole_ms = anchor + shift_ms
    seconds, millis = divmod(whole_ms, 1000)
    zone = timezone(timedelta(minutes=offset_minutes))
    local = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    bound = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}{extra}"
    bound += (
        "Z" if offset_minutes == 0 else local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    )
    exact = whole_ms + Fraction(int(extra or "0"), 10 ** len(extra))
    got = sorted(r["id"] for r in served(client, auth, **{which: bound}) if r["id"].startswith("b"))
    keep = [(ms >= exact) if which == "startAt" else (ms < exact) for ms in INSTANTS]
    assert got == sorted(f"b{i}" for i, k in enumerate(keep) if k), bound


def test_the_reported_rounding_cases(client, auth):
    post(client, auth, [record(id="edge", callDate="2024-02-29T06:00:00.250Z")])
    assert served(client, auth, startAt="2024-02-29T06:00:00.2501Z") == []
    assert [r["id"] for r in served(client, auth, endAt="2024-02-29T06:00:00.2501Z")] == ["edge"]


# --- headers that must not repeat ---------------------------------------------------------------
def test_two_authorization_headers_are_a_401(client, tokens):
    mine, other = tokens.token("acme"), tokens.token("other")
    bogus = "cdr_" + "x" * 43
    for pair in ((mine, bogus), (bogus, mine), (mine, other), (mine, mine)):
        headers = [("Authorization", f"Bearer {pair[0]}"), ("Authorization", f"Bearer {pair[1]}")]
        r = client.get(PATH, headers=headers)
        assert r.status_code == 401, pair
        assert r.json()["code"] == CODE_UNAUTHENTICATED
        assert "more than once" in r.json()["message"]


def test_two_content_types_are_a_400(client, auth):
    headers = [
        ("Authorization", auth["Authorization"]),
        ("Content-Type", "application/json"),
        ("Content-Type", "application/x-ndjson"),
    ]
    r = client.post(PATH, content=msgspec.json.encode([record()]), headers=headers)
    assert_refused(r)
    assert served(client, auth) == []


def test_a_repeated_request_id_is_not_echoed(client):
    r = client.get("/healthz", headers=[("X-Request-ID", "one"), ("X-Request-ID", "two")])
    assert r.headers["x-request-id"] not in ("one", "two", "one, two")


# --- integers: ASCII digits only, wherever an integer is read from text ---------------------------
NON_ASCII_DIGITS = st.characters(whitelist_categories=["Nd"]).filter(lambda c: not c.isascii())


@fuzz(60)
@given(
    digits=st.text(NON_ASCII_DIGITS, min_size=1, max_size=3),
    name=st.sampled_from(["offset", "limit"]),
)
@example(digits="\uff11", name="offset")
@example(digits="\u0661\u0662", name="limit")
def test_query_integers_take_ascii_digits_only(client, auth, digits, name):
    assume(int(digits) >= 1)
    r = client.get(PATH, params={name: digits}, headers=auth)
    assert_refused(r)
    assert name in r.json()["message"]


@fuzz(40)
@given(
    digit=NON_ASCII_DIGITS,
    where=st.sampled_from(["date", "callDate", "callEndTime", "startAt"]),
)
def test_record_fields_take_ascii_digits_only(client, auth, digit, where):
    if where == "date":
        rec = record(date="2022110" + digit)
    elif where == "startAt":
        rec = record(recordingEventList=[{"startAt": f"2022-11-07T00:00:0{digit}.000Z"}])
    else:
        rec = record(**{where: f"2022-11-07T00:00:0{digit}.000Z"})
    assert_refused(post(client, auth, [rec]))


# --- HEAD answers as GET without a body ----------------------------------------------------------
@pytest.mark.parametrize("path", [PATH + "?limit=2", "/healthz", "/readyz", "/openapi.json"])
def test_head_is_get_without_the_body(client, auth, path):
    post(client, auth, [record(id="h1"), record(id="h2")])
    got = client.get(path, headers=auth)
    head = client.head(path, headers=auth)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]


def test_head_is_refused_as_get_would_be(client):
    assert client.head(PATH).status_code == 401
    assert client.head("/nope").status_code == 404


def test_a_nul_in_what_statistics_and_search_key_on_stands_as_u_fffd(client, auth):
    """PostgreSQL's text holds no NUL: an agent, department or number with one is counted and
    searched with U+FFFD in its place, on every backend; the record comes back as sent."""
    rec = record(id="nul-keys", toEID="a\x00b", toDepartment="\x00", caller="+1\x00 2")
    assert post(client, auth, [rec]).status_code == 200
    [got] = served(client, auth, number="1\x002")  # found by the number as sent
    assert (got["toEID"], got["toDepartment"], got["caller"]) == ("a\x00b", "\x00", "+1\x00 2")
    assert [r["id"] for r in served(client, auth, number="1\ufffd2")] == ["nul-keys"]
    for group, key in (("agent", "a\ufffdb"), ("department", "\ufffd")):
        stats = client.get(
            "/v1/api/apps/acme/data/call-stats", params={"groupBy": group}, headers=auth
        )
        assert stats.status_code == 200, stats.text
        assert [row["key"] for row in stats.json()["result"]] == [key], stats.json()
