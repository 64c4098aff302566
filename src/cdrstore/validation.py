"""A record's validation and canonical form (docs/api.md#the-record): decode, check every rule,
normalise what the types alone cannot express, and encode it as the store keeps it.

The fast path decodes straight into `record.Record`. Only a record that fails it takes the slow
path, which reads `null` as the empty value (docs/api.md#decisions-and-extensions), drops unknown
keys when asked to, and otherwise names every field at fault, not just the first.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from datetime import datetime
from typing import Any, Final, get_args, get_origin

import msgspec

from .record import CallFacts, Record, RecordingEvent, RecordingFile, StoredRecord, call_facts
from .timestamps import canonical_timestamp, parse_timestamp

_YYYYMMDD = re.compile(r"[0-9]{8}\Z")
# An id travels as a database key and in URLs of other systems: no control characters in it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Record)


class FieldError(ValueError):
    """A record broke a rule of docs/api.md#the-record; `field` is the path of the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class RecordInvalid(ValueError):
    """Every rule a record broke (at least one)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


# --- the rules beyond the types -------------------------------------------------------------------
def _timestamp(text: str, field: str) -> tuple[str, int]:
    try:
        return canonical_timestamp(text)
    except ValueError as exc:
        raise FieldError(field, f"{exc}: {text!r}") from None


def _check_id(value: str) -> None:
    if _CONTROL.search(value):
        raise FieldError("id", "must not contain control characters (U+0000-U+001F, U+007F)")


def _check_ip(value: str) -> None:
    # Fast paths first (what they take, ipaddress takes too); ipaddress for the rest (a scope).
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
            return
        except OSError:
            pass
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


def _canonicalise_events(events: list[RecordingEvent], errors: list[FieldError]) -> None:
    for i, event in enumerate(events):
        for name in ("startAt", "endAt"):
            value = getattr(event, name)
            if value:
                try:
                    setattr(event, name, _timestamp(value, f"recordingEventList[{i}].{name}")[0])
                except FieldError as exc:
                    errors.append(exc)
        for file in event.files:
            if isinstance(file.type, str):
                file.type = 2 if file.type == "2" else 3


def canonicalise(record: Record) -> StoredRecord:
    """Normalise a type-checked record in place and return its stored form; RecordInvalid names
    every rule it breaks."""
    # Checks inline, not through a helper taking a closure: this runs for every record ingested.
    errors: list[FieldError] = []
    try:
        _check_id(record.id)
    except FieldError as exc:
        errors.append(exc)
    when = end = None
    try:
        when = _timestamp(record.callDate, "callDate")
        record.callDate = when[0]
    except FieldError as exc:
        errors.append(exc)
    if record.callEndTime:
        try:
            end = _timestamp(record.callEndTime, "callEndTime")
            record.callEndTime = end[0]
            if when is not None and end[1] < when[1]:
                errors.append(FieldError("callEndTime", "callEndTime is prior to callDate"))
        except FieldError as exc:
            errors.append(exc)
    if record.date:
        try:
            _check_date(record.date)
        except FieldError as exc:
            errors.append(exc)
    elif when is not None:
        record.date = record.callDate[0:4] + record.callDate[5:7] + record.callDate[8:10]
    if record.fromIP:
        try:
            _check_ip(record.fromIP)
        except FieldError as exc:
            errors.append(exc)
    if not isinstance(record.caller, str):
        record.caller = str(record.caller)
    if not isinstance(record.callee, str):
        record.callee = str(record.callee)
    if record.recordingEventList:
        _canonicalise_events(record.recordingEventList, errors)
    if errors or when is None:
        raise RecordInvalid(errors)
    facts = call_facts(record, when[1], None if end is None else end[1])
    return StoredRecord(
        record.id, when[1], record.callType, record.status, _ENCODER.encode(record), facts
    )


def stored_facts(doc: bytes) -> CallFacts:
    """The facts of a stored canonical document (for a record being replaced or removed)."""
    record = _DECODER.decode(doc)
    end = parse_timestamp(record.callEndTime) if record.callEndTime else None
    return call_facts(record, parse_timestamp(record.callDate), end)


# --- decoding -------------------------------------------------------------------------------------
_PATH = re.compile(r" - at `\$\.?(.*)`\Z")
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")
_ENUM = re.compile(r"\AInvalid enum value ")


def _choices(annotation: Any) -> list[Any]:
    """The values a Literal (possibly inside Annotated or a union of Literals) allows."""
    origin = get_origin(annotation)
    if origin is None:
        return []
    args = get_args(annotation)
    if getattr(origin, "__name__", "") == "Literal" or str(origin).endswith("Literal"):
        return list(args)
    return [choice for arg in args for choice in _choices(arg)]


def _annotation_at(path: str) -> Any:
    """The declared type of the field a path names (`recordingEventList[0].files[1].type`)."""
    model: type[msgspec.Struct] | None = Record
    annotation = None
    for segment in re.sub(r"\[\d+\]", "", path).split("."):
        field = _STRUCTS.get(model, {}).get(segment) if model else None
        if field is None:
            return None
        annotation, model = field.type, _nested_model(field.type)
    return annotation


def _field_error(error: msgspec.ValidationError, field: str) -> FieldError:
    """msgspec's message for one field as (path, message), listing an enum's allowed values."""
    text, path = str(error), ""
    match = _PATH.search(text)
    if match is not None:
        path, text = match.group(1), text[: match.start()]
    named = _NAMED_FIELD.search(text)
    if named is not None:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    if path and not path.startswith("["):
        path = "." + path
    path = field + path
    if _ENUM.match(text):
        choices = _choices(_annotation_at(path))
        shown = [
            c if isinstance(c, str) and c else msgspec.json.encode(c).decode() for c in choices
        ]
        allowed = ", ".join(
            shown
            if all(isinstance(c, str) for c in choices)
            else map(lambda c: msgspec.json.encode(c).decode(), choices)
        )
        text = f"{text} (one of: {allowed})"
    return FieldError(path, text)


_STRUCTS: Final[dict[type[msgspec.Struct], dict[str, Any]]] = {
    model: {f.name: f for f in msgspec.structs.fields(model)}
    for model in (Record, RecordingEvent, RecordingFile)
}


def _cleaned(value: Any, model: type[msgspec.Struct], ignore_unknown: bool) -> Any:
    """The decoded JSON with nulls taken as absent (and unknown keys dropped if asked), nested
    records too."""
    if not isinstance(value, dict):
        return value
    fields = _STRUCTS[model]
    out = {}
    for key, item in value.items():
        if item is None or (ignore_unknown and key not in fields):
            continue
        nested = _nested_model(fields[key].type) if key in fields else None
        if nested is not None and isinstance(item, list):
            item = [_cleaned(x, nested, ignore_unknown) for x in item]
        out[key] = item
    return out


def _nested_model(annotation: Any) -> type[msgspec.Struct] | None:
    args = get_args(annotation)
    return args[0] if args and args[0] in _STRUCTS else None


def _every_error(data: Any) -> list[FieldError]:
    """Every field of a decoded record that breaks its type (each field checked on its own)."""
    if not isinstance(data, dict):
        return [FieldError("", f"expected a JSON object (a record), got {type(data).__name__}")]
    fields = _STRUCTS[Record]
    errors = [FieldError(key, f"unknown field `{key}`") for key in data if key not in fields]
    for name, field in fields.items():
        if name not in data:
            if field.required:
                errors.append(FieldError(name, f"Object missing required field `{name}`"))
            continue
        try:
            msgspec.convert(data[name], field.type)
        except msgspec.ValidationError as exc:
            errors.append(_field_error(exc, name))
    return errors


def _slow_path(raw: bytes | str | msgspec.Raw, ignore_unknown: bool) -> StoredRecord:
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RecordInvalid([FieldError("", f"malformed JSON: {exc}")]) from None
    except RecursionError:
        raise RecordInvalid([FieldError("", "malformed JSON: nested too deeply")]) from None
    data = _cleaned(data, Record, ignore_unknown)
    try:
        record = msgspec.convert(data, Record)
    except msgspec.ValidationError:
        raise RecordInvalid(_every_error(data) or [FieldError("", "invalid record")]) from None
    return canonicalise(record)


def decode_record(raw: bytes | str | msgspec.Raw, *, ignore_unknown: bool = False) -> StoredRecord:
    """Decode, validate and canonicalise one JSON record; RecordInvalid names what is wrong."""
    try:
        record = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _slow_path(raw, ignore_unknown)
    return canonicalise(record)
