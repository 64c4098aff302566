"""The statistics equal brute force over the records (docs/api.md#statistics): random records,
some replaced (status, date, direction moved), retention applied, then random filters, windows,
groupings and zones, on both backends."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdrstore.ops.accounts import delete_app, ensure_app
from cdrstore.ops.retention import apply_retention
from cdrstore.ops.stats import call_stats
from cdrstore.query import GROUPS, parse_stats_query
from cdrstore.record import CALL_TYPES, DIRECTIONS, STATUSES
from cdrstore.timestamps import format_timestamp, parse_timestamp
from cdrstore.validation import decode_record

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


# Where records cluster: offset changes (DST in New York and on Lord Howe, whose is 30 minutes),
# local mean time (Kolkata before 1942 and Monrovia before 1972 are off the quarter hour), before
# 1970, and a leap day.
ANCHORS = [
    ms(datetime(2023, 3, 12, 7, tzinfo=UTC)),
    ms(datetime(2023, 11, 5, 6, tzinfo=UTC)),
    ms(datetime(2023, 4, 1, 15, tzinfo=UTC)),
    ms(datetime(1890, 6, 1, tzinfo=UTC)),
    ms(datetime(1969, 12, 31, 20, tzinfo=UTC)),
    ms(datetime(2024, 2, 29, 23, tzinfo=UTC)),
]
ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Africa/Monrovia",
]
QUARTER_MS = 900_000


# Near the quarter hours the rollups are cut at (and so near local mean time's hours, which are
# off them by seconds), or anywhere.
def near(anchor: int) -> st.SearchStrategy[int]:
    return st.builds(
        lambda quarters, jitter: anchor + quarters * QUARTER_MS + jitter,
        st.integers(-3 * DAY_MS // QUARTER_MS, 3 * DAY_MS // QUARTER_MS),
        st.one_of(
            st.just(0),
            st.integers(-120_000, 120_000),
            st.integers(0, QUARTER_MS),
            # either side of a local hour in Kolkata in 1890 (+05:21:10) and Monrovia in 1969
            # (-00:44:30), a fraction of a quarter hour into a bucket
            st.sampled_from([529_999, 530_000, 869_999, 870_000]),
        ),
    )


# Mostly near one anchor (so that records share buckets and local days), sometimes anywhere.
anchors = st.sampled_from(ANCHORS)
instants = anchors.flatmap(near)
names = st.sampled_from(["", "a1", "a2", "a3"])


@st.composite
def wire_records(draw: Any, ids: Iterable[str], anchor: int) -> list[dict[str, Any]]:
    out = []
    when = st.one_of(near(anchor), near(anchor), instants)
    for record_id in ids:
        start = draw(when)
        end = draw(st.one_of(st.none(), st.integers(0, 7_200_000)))
        out.append(
            {
                "id": record_id,
                "callDate": format_timestamp(start),
                "callEndTime": "" if end is None else format_timestamp(start + end),
                "status": draw(st.sampled_from(STATUSES)),
                "callType": draw(st.sampled_from(CALL_TYPES)),
                "callDirection": draw(st.sampled_from(DIRECTIONS)),
                "lastHandledParty": draw(names),
                "fromEID": draw(names),
                "toEID": draw(names),
                "fromDepartment": draw(st.sampled_from(["", "Sales", "Support"])),
                "toDepartment": draw(st.sampled_from(["", "Sales", "Billing"])),
            }
        )
    return out


def queries(anchor: int) -> st.SearchStrategy[dict[str, str]]:
    """A grouping and zone, mostly a window, at most one filter (more rarely match anything)."""
    when = st.one_of(near(anchor), instants).map(format_timestamp)
    optional_when = st.one_of(st.none(), when)
    one_filter = st.one_of(
        st.none(),
        st.tuples(st.just("callType"), st.sampled_from(CALL_TYPES)),
        st.tuples(st.just("status"), st.sampled_from(STATUSES)),
        st.tuples(st.just("callDirection"), st.sampled_from(DIRECTIONS)),
    )

    def query(
        group: str | None,
        tz: str,
        start: str | None,
        end: str | None,
        only: tuple[str, str] | None,
    ) -> dict[str, str]:
        given = {"groupBy": group, "tz": tz, "startAt": start, "endAt": end}
        out = {name: value for name, value in given.items() if value is not None}
        if only is not None:
            out[only[0]] = only[1]
        return out

    return st.builds(
        query,
        st.one_of(st.none(), st.sampled_from(GROUPS)),
        st.sampled_from(ZONES),
        optional_when,
        optional_when,
        one_filter,
    ).filter(lambda q: "startAt" not in q or "endAt" not in q or q["startAt"] <= q["endAt"])


def local(call_ms: int, zone: ZoneInfo) -> datetime:
    return (EPOCH + timedelta(milliseconds=call_ms)).astimezone(zone)


def key_of(rec: dict[str, Any], group: str | None, zone: ZoneInfo) -> Any:
    when = local(parse_timestamp(rec["callDate"]), zone)
    inbound = rec["callDirection"] == "Inbound"
    return {
        None: lambda: "total",
        "day": lambda: when.date().isoformat(),
        "hour": lambda: f"{when.date().isoformat()}T{when.hour:02d}",
        "week": lambda: f"{when.isocalendar()[0]:04d}-W{when.isocalendar()[1]:02d}",
        "month": lambda: f"{when.year:04d}-{when.month:02d}",
        "hourOfDay": lambda: when.hour,
        "weekday": lambda: when.isoweekday(),
        "status": lambda: rec["status"],
        "callType": lambda: rec["callType"],
        "callDirection": lambda: rec["callDirection"],
        "agent": lambda: rec["lastHandledParty"] or (rec["toEID"] if inbound else rec["fromEID"]),
        "department": lambda: rec["toDepartment"] if inbound else rec["fromDepartment"],
    }[group]()


def brute_force(records: Iterable[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    zone = ZoneInfo(params.get("tz", "UTC"))
    start = parse_timestamp(params["startAt"]) if "startAt" in params else None
    end = parse_timestamp(params["endAt"]) if "endAt" in params else None
    groups: dict[Any, list[dict[str, Any]]] = {}
    for rec in records:
        call_ms = parse_timestamp(rec["callDate"])
        if (start is not None and call_ms < start) or (end is not None and call_ms >= end):
            continue
        if any(
            name in params and rec[name] != params[name]
            for name in ("callType", "status", "callDirection")
        ):
            continue
        groups.setdefault(key_of(rec, params.get("groupBy"), zone), []).append(rec)
    if "groupBy" not in params:
        groups.setdefault("total", [])
    rows = []
    for key, members in sorted(groups.items()):
        answered = [r for r in members if r["status"] == "Call Ended"]
        talk = sum(
            parse_timestamp(r["callEndTime"]) - parse_timestamp(r["callDate"])
            for r in answered
            if r["callEndTime"]
        )
        rows.append(
            {
                "key": key,
                "calls": len(members),
                "answered": len(answered),
                "asr": len(answered) / len(members) if members else 0.0,
                "talkTimeMs": talk,
                "acdMs": talk // len(answered) if answered else 0,
                "abandoned": sum(r["status"] == "Abandoned" for r in members),
                "byStatus": {s: sum(r["status"] == s for r in members) for s in STATUSES},
            }
        )
    return rows


counter = itertools.count()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_statistics_equal_brute_force(store, data):
    app = f"app{next(counter)}"
    ensure_app(store, app, app)
    try:
        anchor = data.draw(anchors, label="anchor")
        ids = [f"r{i}" for i in range(data.draw(st.integers(1, 60), label="records"))]
        model = {r["id"]: r for r in data.draw(wire_records(ids, anchor), label="first")}
        store.records.ingest(app, [decode_record(msgspec.json.encode(r)) for r in model.values()])
        replaced = data.draw(st.lists(st.sampled_from(ids), unique=True), label="replaced")
        for rec in data.draw(wire_records(replaced, anchor), label="second"):
            model[rec["id"]] = rec
        if replaced:
            store.records.ingest(
                app, [decode_record(msgspec.json.encode(model[i])) for i in replaced]
            )
        if data.draw(st.booleans(), label="retention"):
            cutoff = data.draw(near(anchor), label="cutoff")
            # Every app of the store (one, this one): whole PostgreSQL partitions go too.
            apply_retention(store, cutoff)
            model = {i: r for i, r in model.items() if parse_timestamp(r["callDate"]) >= cutoff}
        for _ in range(5):
            params = data.draw(queries(anchor), label="query")
            got = [
                msgspec.to_builtins(row)
                for row in call_stats(store, app, parse_stats_query(params.items()))
            ]
            assert got == brute_force(model.values(), params), params
    finally:
        delete_app(store, app, force=True)


def test_local_mean_time_off_the_quarter_hours(store):
    """Kolkata kept +05:21:10 in 1890: its hours begin at hh:38:50 UTC, inside a quarter-hour
    bucket, so that stretch is summed from the records, not the rollup."""
    ensure_app(store, "lmt", "LMT")
    recs = [
        {
            "id": f"r{second}",
            "callDate": f"1890-06-01T00:38:{second:02d}Z",
            "status": "Busy",
            "callType": "onnet",
            "callDirection": "Inbound",
        }
        for second in (49, 50, 51)
    ]
    store.records.ingest("lmt", [decode_record(msgspec.json.encode(r)) for r in recs])
    for group in ("hour", "day", "hourOfDay"):
        params = {"groupBy": group, "tz": "Asia/Kolkata"}
        got = call_stats(store, "lmt", parse_stats_query(params.items()))
        assert [msgspec.to_builtins(row) for row in got] == brute_force(recs, params)
    hours = call_stats(
        store, "lmt", parse_stats_query([("groupBy", "hour"), ("tz", "Asia/Kolkata")])
    )
    assert [(row.key, row.calls) for row in hours] == [("1890-06-01T05", 1), ("1890-06-01T06", 2)]
