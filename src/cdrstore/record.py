"""The call record as it travels on the wire (docs/api.md#the-record): the one source of truth.

`Record` declares the 46 keys in their served order with their types, enums and defaults; msgspec
decodes and type-checks against it, the OpenAPI schema is generated from it, and the canonical JSON
that the store keeps (and serves without re-encoding) is its encoding after `canonicalise` has
normalised what the types alone cannot express (timestamps to UTC milliseconds, `date` derived,
numbers to strings, IP addresses checked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal, NamedTuple, get_args

import msgspec

from .timestamps import as_datetime, parse_timestamp

CallType = Literal["onnet", "offnet", "smartcall"]
Status = Literal[
    "Call Ended",
    "Declined",
    "Busy",
    "Not Answered",
    "Cancelled",
    "Abandoned",
    "Unreachable",
    "Call Failed",
]
Direction = Literal["Inbound", "Outbound"]
CALL_TYPES: Final[tuple[str, ...]] = get_args(CallType)
DIRECTIONS: Final[tuple[str, ...]] = get_args(Direction)
STATUSES: Final[tuple[str, ...]] = get_args(Status)
Role = Literal["ADMIN", "SUPERVISOR", "AGENT", ""]

RECORD_ID_MAX_LENGTH: Final = 128

Timestamp = Annotated[
    str,
    msgspec.Meta(
        description="RFC3339 date-time; served in UTC with milliseconds, e.g. 2022-11-07T00:00:00.000Z",
        extra_json_schema={"format": "date-time"},
    ),
]
OptionalTimestamp = Annotated[
    str,
    msgspec.Meta(description='RFC3339 date-time like callDate, or "" when unknown'),
]
PhoneNumber = Annotated[
    str | int,
    msgspec.Meta(
        description="phone number; ingest accepts a string or an integer, served as a string"
    ),
]


class RecordingFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    id: str = ""
    name: str = ""
    downloadUrl: str = ""
    duration: Annotated[int, msgspec.Meta(description="milliseconds")] = 0
    mimeType: str = ""
    size: Annotated[int, msgspec.Meta(description="bytes")] = 0
    # The reference's sample shows a string; the integer is served (docs/api.md#the-record).
    type: Annotated[
        Literal[0, 2, 3] | Literal["2", "3"],
        msgspec.Meta(description='2 = video, 3 = audio (0 when never given); "2"/"3" accepted'),
    ] = 0
    isPrivate: bool = True


class RecordingEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    recorderEID: str = ""
    startAt: OptionalTimestamp = ""
    endAt: OptionalTimestamp = ""
    files: list[RecordingFile] = msgspec.field(default_factory=list)
    code: int = 0


class Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One call detail record; the field order is the order served."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=RECORD_ID_MAX_LENGTH)]
    hid: str = ""
    svcID: str = ""
    date: Annotated[
        str, msgspec.Meta(description="YYYYMMDD; derived from callDate when absent")
    ] = ""
    roomID: str = ""
    seq: int = 0
    type: Literal["call"] = "call"
    fromEID: str = ""
    toEID: str = ""
    fromSvcID: str = ""
    toSvcID: str = ""
    fromRegion: str = ""
    callSeq: int = 0
    callID: str = ""
    callDirection: Direction
    callType: CallType
    fromIP: Annotated[str, msgspec.Meta(description='"" or an IPv4/IPv6 address')] = ""
    callPrepareFromNum: str = ""
    caller: PhoneNumber = ""
    callee: PhoneNumber = ""
    callDate: Timestamp
    callEndTime: OptionalTimestamp = ""
    status: Status
    lastResponseCode: str = ""
    byeReason: str = ""
    releaseParty: str = ""
    mediaType: Literal["audio", "video"] = "audio"
    isRecording: bool = False
    hasAudioFile: bool = False
    recordingEventList: list[RecordingEvent] = msgspec.field(default_factory=list)
    recordType: Literal["voicemail", "call", "conference"] = "call"
    fromRole: Role = ""
    toRole: Role = ""
    fromRoleName: str = ""
    toRoleName: str = ""
    fromDepartment: str = ""
    toDepartment: str = ""
    fromDisplayName: str = ""
    toDisplayName: str = ""
    lastHandledParty: str = ""
    fromDepartmentID: str = ""
    toDepartmentID: str = ""
    callerFirstName: str = ""
    callerLastName: str = ""
    calleeFirstName: str = ""
    calleeLastName: str = ""

    def call_datetime(self) -> datetime:
        """callDate as an aware datetime (UTC)."""
        return as_datetime(parse_timestamp(self.callDate))

    def call_end_datetime(self) -> datetime | None:
        """callEndTime as an aware datetime (UTC), None when unknown."""
        if not self.callEndTime:
            return None
        return as_datetime(parse_timestamp(self.callEndTime))


FIELDS: Final[tuple[str, ...]] = Record.__struct_fields__


class CallFacts(NamedTuple):
    """What the statistics and the number search read of a record (docs/api.md#statistics)."""

    direction: str  # callDirection
    talk_ms: int  # callEndTime - callDate for an answered call with an end time, else 0
    agent: str  # lastHandledParty, else toEID (Inbound) or fromEID (Outbound)
    department: str  # toDepartment (Inbound) or fromDepartment (Outbound)
    numbers: tuple[str, ...]  # caller and callee as searched (normal_number), each once, no ""


def key_text(text: str) -> str:
    """Text as the statistics and the number search key on it: a NUL (U+0000, which PostgreSQL's
    text cannot hold) as U+FFFD, on every backend alike. The record keeps it as sent."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def normal_number(number: str) -> str:
    """A phone number as the search compares it: without spaces, dashes and a leading `+`."""
    bare = key_text(number).replace(" ", "").replace("-", "")
    return bare[1:] if bare.startswith("+") else bare


def call_facts(record: Record, call_ms: int, end_ms: int | None) -> CallFacts:
    """The facts of a canonical record whose callDate (and callEndTime, if any) are these."""
    inbound = record.callDirection == "Inbound"
    answered = record.status == "Call Ended"
    talk_ms = end_ms - call_ms if answered and end_ms is not None else 0
    agent = key_text(record.lastHandledParty or (record.toEID if inbound else record.fromEID))
    department = key_text(record.toDepartment if inbound else record.fromDepartment)
    caller, callee = normal_number(str(record.caller)), normal_number(str(record.callee))
    if caller > callee:
        caller, callee = callee, caller
    numbers = (callee,) if caller in ("", callee) else (caller, callee)
    return CallFacts(record.callDirection, talk_ms, agent, department, numbers if callee else ())


class StoredRecord(NamedTuple):
    """What the store keeps of a record: its keys for filtering and ordering, the facts its
    statistics and number search are kept from, and its canonical JSON."""

    id: str
    call_date_ms: int
    call_type: str
    status: str
    doc: bytes
    facts: CallFacts


class IngestSummary(msgspec.Struct):
    """What became of a batch's records; served as a POST's `result`."""

    received: int
    inserted: int
    updated: int
    unchanged: int

    @classmethod
    def empty(cls, received: int = 0) -> IngestSummary:
        return cls(received, 0, 0, 0)

    def add(self, other: IngestSummary) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
