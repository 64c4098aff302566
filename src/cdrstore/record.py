"""The call record as it travels on the wire (docs/api.md#the-record): the one source of truth.

`Record` declares the 46 keys in their served order with their types, enums and defaults; msgspec
decodes and type-checks against it, the OpenAPI schema is generated from it, and the canonical JSON
that the store keeps (and serves without re-encoding) is its encoding after `canonicalise` has
normalised what the types alone cannot express (timestamps to UTC milliseconds, `date` derived,
numbers to strings, IP addresses checked).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal, NamedTuple, get_args

import msgspec

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
CALL_TYPES: Final[tuple[str, ...]] = get_args(CallType)
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
    callDirection: Literal["Inbound", "Outbound"]
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
        return _EPOCH + timedelta(milliseconds=parse_timestamp(self.callDate))

    def call_end_datetime(self) -> datetime | None:
        """callEndTime as an aware datetime (UTC), None when unknown."""
        if not self.callEndTime:
            return None
        return _EPOCH + timedelta(milliseconds=parse_timestamp(self.callEndTime))


FIELDS: Final[tuple[str, ...]] = Record.__struct_fields__


class StoredRecord(NamedTuple):
    """What the store keeps of a record: its keys for filtering and ordering, and its canonical JSON."""

    id: str
    call_date_ms: int
    call_type: str
    status: str
    doc: bytes


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


class FieldError(ValueError):
    """A record broke a rule of docs/api.md#the-record; `field` is the path of the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


# RFC3339 section 5.6, with its allowance of a space or lower-case t/z; datetime checks the values.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)\Z")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_YYYYMMDD = re.compile(r"\d{8}\Z")


def _parse(text: str) -> datetime:
    if _RFC3339.match(text) is None:
        raise ValueError("not an RFC3339 date-time (e.g. 2022-11-07T00:00:00.000Z)")
    try:
        return datetime.fromisoformat(text if text[-1] != "z" else text[:-1] + "Z")
    except ValueError:
        raise ValueError("impossible date, time or offset") from None


def _epoch_ms(moment: datetime) -> int:
    # Integer arithmetic: a float timestamp would round some milliseconds the wrong way.
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_timestamp(text: str) -> int:
    """Return the instant of an RFC3339 date-time in any offset as UTC milliseconds since the epoch.

    Digits beyond milliseconds are truncated, so ordering never depends on sub-millisecond parts
    that are not served.
    """
    epoch_ms = _epoch_ms(_parse(text))
    format_timestamp(epoch_ms)  # rejects instants whose UTC year leaves 0001-9999
    return epoch_ms


def format_timestamp(epoch_ms: int) -> str:
    """The served form of an instant: UTC with milliseconds, `2022-11-07T00:00:00.000Z`."""
    seconds, millis = divmod(epoch_ms, 1000)
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("date-time out of range") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{millis:03d}Z"
    )


_DAY_MS: dict[str, int] = {}  # "YYYY-MM-DD" -> epoch ms of its midnight UTC, for dates seen


def _canonical_epoch_ms(text: str) -> int | None:
    """Epoch ms of a timestamp already in the served form, or None to take the general path.

    Nearly every timestamp arrives in the served form and a batch shares few dates, so the date is
    checked once and remembered; the general path (regex, fromisoformat) costs four times as much.
    """
    if not (
        len(text) == 24
        and text[10] == "T"
        and text[13] == ":"
        and text[16] == ":"
        and text[19] == "."
        and text[23] == "Z"
        and text.isascii()
    ):
        return None
    day = _DAY_MS.get(text[:10])
    if day is None:
        if _RFC3339.match(text) is None:
            return None
        try:
            day = _epoch_ms(datetime.fromisoformat(text[:10] + "T00:00:00+00:00"))
        except ValueError:
            return None
        if len(_DAY_MS) < 100_000:
            _DAY_MS[text[:10]] = day
    if not (text[11:13] + text[14:16] + text[17:19] + text[20:23]).isdigit():
        return None
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or second > 59:
        return None
    return day + ((hour * 60 + minute) * 60 + second) * 1000 + int(text[20:23])


def _canonical_timestamp(text: str, field: str) -> tuple[str, int]:
    epoch_ms = _canonical_epoch_ms(text)
    if epoch_ms is not None:
        return text, epoch_ms
    try:
        epoch_ms = _epoch_ms(_parse(text))
        return format_timestamp(epoch_ms), epoch_ms
    except ValueError as exc:
        raise FieldError(field, f"{exc}: {text!r}") from None


def _check_ip(value: str) -> None:
    try:
        socket.inet_pton(socket.AF_INET, value)  # fast path for the common IPv4 case
    except OSError:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise FieldError("fromIP", f"not an IPv4 or IPv6 address: {value!r}") from None


def _check_date(value: str) -> None:
    if _YYYYMMDD.match(value) is None:
        raise FieldError("date", f"expected YYYYMMDD, got {value!r}")
    try:
        datetime(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise FieldError("date", f"impossible date {value!r}") from None


def _canonicalise_events(events: list[RecordingEvent]) -> None:
    for i, event in enumerate(events):
        for name in ("startAt", "endAt"):
            value = getattr(event, name)
            if value:
                setattr(
                    event,
                    name,
                    _canonical_timestamp(value, f"recordingEventList[{i}].{name}")[0],
                )
        for file in event.files:
            if isinstance(file.type, str):
                file.type = 2 if file.type == "2" else 3


_ENCODER: Final = msgspec.json.Encoder()


def canonicalise(record: Record) -> StoredRecord:
    """Normalise a type-checked record in place and return its stored form; FieldError if invalid."""
    record.callDate, call_date_ms = _canonical_timestamp(record.callDate, "callDate")
    if record.callEndTime:
        record.callEndTime, end_ms = _canonical_timestamp(record.callEndTime, "callEndTime")
        if end_ms < call_date_ms:
            raise FieldError("callEndTime", "callEndTime is prior to callDate")
    if record.date:
        _check_date(record.date)
    else:
        record.date = record.callDate[0:4] + record.callDate[5:7] + record.callDate[8:10]
    if record.fromIP:
        _check_ip(record.fromIP)
    if not isinstance(record.caller, str):
        record.caller = str(record.caller)
    if not isinstance(record.callee, str):
        record.callee = str(record.callee)
    if record.recordingEventList:
        _canonicalise_events(record.recordingEventList)
    return StoredRecord(
        record.id,
        call_date_ms,
        record.callType,
        record.status,
        _ENCODER.encode(record),
    )


_DECODER: Final = msgspec.json.Decoder(Record)
_PATH = re.compile(r" - at `\$\.?(.*)`\Z")
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")


def _field_of(error: msgspec.ValidationError) -> tuple[str, str]:
    """Split msgspec's message into (field path, message): `Expected int - at $.seq` -> seq."""
    text = str(error)
    path = ""
    match = _PATH.search(text)
    if match is not None:
        path = match.group(1)
        text = text[: match.start()]
    named = _NAMED_FIELD.search(text)
    if named is not None:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path, text


def decode_record(raw: bytes | str | msgspec.Raw) -> StoredRecord:
    """Decode, validate and canonicalise one JSON record; FieldError names what is wrong."""
    try:
        record = _DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        raise FieldError(*_field_of(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise FieldError("", f"malformed JSON: {exc}") from None
    return canonicalise(record)
