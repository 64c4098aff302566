"""The bodies of the events: a call event for every inserted record, a recording event for every
inserted or updated record that has recording files."""

from __future__ import annotations

import msgspec

from ..contract import WEBHOOK_KINDS


class _File(msgspec.Struct):
    pass


class _RecordingEvent(msgspec.Struct):
    files: list[_File] = msgspec.field(default_factory=list)


class _Fields(msgspec.Struct):
    """What an event needs of a stored record."""

    id: str
    svcID: str = ""
    recordingEventList: list[_RecordingEvent] = msgspec.field(default_factory=list)


_decode = msgspec.json.Decoder(_Fields).decode
_encode = msgspec.json.encode


def call_event(doc: bytes) -> bytes:
    """`{"type": "message", "message": {"id", "status": "CallEnd", "serviceId", "record"}}`, the
    record as stored (so as served), never re-encoded."""
    fields = _decode(doc)
    return (
        b'{"type":"message","message":{"id":'
        + _encode(fields.id)
        + b',"status":"CallEnd","serviceId":'
        + _encode(fields.svcID)
        + b',"record":'
        + doc
        + b"}}"
    )


def recording_event(doc: bytes) -> bytes | None:
    """`{"type": "message", "message": {"type": "call", "status": "success", "serviceId", "id"}}`,
    or None when the record has no recording file."""
    fields = _decode(doc)
    if not any(event.files for event in fields.recordingEventList):
        return None
    return _encode(
        {
            "type": "message",
            "message": {
                "type": "call",
                "status": "success",
                "serviceId": fields.svcID,
                "id": fields.id,
            },
        }
    )


def event_body(kind: str, op: str, doc: bytes | None) -> bytes | None:
    """The body a change-log entry gives for this kind of subscription, or None for no event."""
    assert kind in WEBHOOK_KINDS
    if doc is None or op == "delete":
        return None
    if kind == "call":
        return call_event(doc) if op == "insert" else None
    return recording_event(doc)


def record_id(doc: bytes) -> str:
    return _decode(doc).id
