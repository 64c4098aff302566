"""What the calls page shows of a record: a table row in the chosen zone, and the fields of the
detail panel in groups (every one of the record's fields in exactly one group)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Final

import msgspec

from ..record import FIELDS
from ..timestamps import parse_timestamp

FIELD_GROUPS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "Call",
        (
            "id",
            "hid",
            "svcID",
            "date",
            "roomID",
            "seq",
            "type",
            "callSeq",
            "callID",
            "callDirection",
            "callType",
            "mediaType",
            "recordType",
            "callDate",
            "callEndTime",
            "status",
            "lastResponseCode",
            "byeReason",
            "releaseParty",
        ),
    ),
    (
        "Parties",
        (
            "caller",
            "callee",
            "callPrepareFromNum",
            "fromIP",
            "fromEID",
            "toEID",
            "fromSvcID",
            "toSvcID",
            "fromRegion",
            "fromRole",
            "toRole",
            "fromRoleName",
            "toRoleName",
            "fromDepartment",
            "toDepartment",
            "fromDepartmentID",
            "toDepartmentID",
            "fromDisplayName",
            "toDisplayName",
            "lastHandledParty",
            "callerFirstName",
            "callerLastName",
            "calleeFirstName",
            "calleeLastName",
        ),
    ),
    ("Recordings", ("isRecording", "hasAudioFile", "recordingEventList")),
)
assert sorted(f for _, group in FIELD_GROUPS for f in group) == sorted(FIELDS), "a field ungrouped"

# The status's colour on the page: answered, not reached, refused, failed.
STATUS_TONE: Final = {
    "Call Ended": "ok",
    "Not Answered": "warn",
    "Busy": "warn",
    "Cancelled": "muted",
    "Abandoned": "warn",
    "Declined": "bad",
    "Unreachable": "bad",
    "Call Failed": "bad",
}


def agent_of(record: dict[str, Any]) -> str:
    """Who handled the call: the last party that did, else the callee of an inbound call or the
    caller of an outbound one."""
    if record.get("lastHandledParty"):
        return str(record["lastHandledParty"])
    key = "toEID" if record.get("callDirection") == "Inbound" else "fromEID"
    return str(record.get(key) or "")


def _local(epoch_ms: int, zone: zoneinfo.ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")


def duration_text(record: dict[str, Any]) -> str:
    """From callDate to callEndTime as h:mm:ss (m:ss under an hour); empty without an end."""
    try:
        start = parse_timestamp(record["callDate"])
        end = parse_timestamp(record["callEndTime"]) if record.get("callEndTime") else None
    except (KeyError, ValueError):
        return ""
    if end is None or end < start:
        return ""
    seconds = round((end - start) / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def has_recording(record: dict[str, Any]) -> bool:
    return any(event.get("files") for event in record.get("recordingEventList") or [])


def row(record: dict[str, Any], zone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """One line of the calls table."""
    return {
        "id": record["id"],
        "time": _local(parse_timestamp(record["callDate"]), zone),
        "direction": record.get("callDirection", ""),
        "type": record.get("callType", ""),
        "caller": str(record.get("caller", "")),
        "callee": str(record.get("callee", "")),
        "agent": agent_of(record),
        "status": record.get("status", ""),
        "tone": STATUS_TONE.get(record.get("status", ""), "muted"),
        "duration": duration_text(record),
        "recording": has_recording(record),
    }


def rows(docs: list[bytes], zone: zoneinfo.ZoneInfo) -> tuple[list[dict[str, Any]], bytes]:
    """The table's lines and the records themselves as one JSON array, for the detail panel."""
    records = [msgspec.json.decode(doc) for doc in docs]
    return [row(r, zone) for r in records], b"[" + b",".join(docs) + b"]"
