"""FreeSWITCH `mod_json_cdr` (docs/sources/freeswitch.md): one JSON document per channel leg.

`convert_document` maps one document to one record of the 46-key model (a dict, then validated
like a POST); `read_document` takes the bytes mod_json_cdr sends or leaves on disk (raw JSON, or
url-encoded or base64 JSON, posted as `cdr=...`). Variable values may arrive url-encoded
(`encode-values`, its default): they are decoded.
"""

from __future__ import annotations

import binascii
import ipaddress
import mimetypes
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Final
from urllib.parse import unquote, unquote_plus

import msgspec

from ...timestamps import format_timestamp
from ..batch import RecordError
from . import Converted, register
from .policy import Policy, record_id, status_from_sip

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"  # encode=true
BASE64_MEDIA_TYPE: Final = "application/x-www-form-base64-encoded"  # encode=base64

# A Q.850 hangup cause -> the SIP response FreeSWITCH's sofia sends for it (sofia_glue's
# hangup_cause_to_sip), used when the document has no `sip_term_status`.
Q850_TO_SIP: Final[dict[str, int]] = {
    "UNALLOCATED_NUMBER": 404,
    "NO_ROUTE_TRANSIT_NET": 404,
    "NO_ROUTE_DESTINATION": 404,
    "USER_NOT_REGISTERED": 404,
    "USER_BUSY": 486,
    "NO_USER_RESPONSE": 408,
    "NO_ANSWER": 480,
    "SUBSCRIBER_ABSENT": 480,
    "ORIGINATOR_CANCEL": 487,
    "CALL_REJECTED": 603,
    "NUMBER_CHANGED": 410,
    "REDIRECTION_TO_NEW_DESTINATION": 410,
    "INVALID_NUMBER_FORMAT": 484,
    "DESTINATION_OUT_OF_ORDER": 502,
    "NETWORK_OUT_OF_ORDER": 502,
    "NORMAL_TEMPORARY_FAILURE": 503,
    "NORMAL_CIRCUIT_CONGESTION": 503,
    "SWITCH_CONGESTION": 503,
    "RECOVERY_ON_TIMER_EXPIRE": 504,
}
_CANCELLED: Final = frozenset({"send_cancel", "recv_cancel"})
_RECORDING_APPS: Final = frozenset({"record_session", "record"})


class DocumentInvalid(ValueError):
    """A document that is not a mod_json_cdr CDR; `field` names what is wrong ("" for all)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_NOT_A_DOCUMENT: Final = (
    "not a mod_json_cdr document: neither JSON, url-encoded JSON (encode=true) nor base64"
    " (encode=base64), each optionally as cdr=..."
)


def _decode_json(text: str | bytes) -> Any:
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None


def read_document(body: bytes) -> dict[str, Any]:
    """One mod_json_cdr document, in any of the forms it posts or leaves on disk: raw JSON
    (`encode=false`), url-encoded JSON (`encode=true`) or base64 (`encode=base64`); posted as
    `cdr=...`, written to its error directory without that prefix."""
    payload = body.strip()
    form = payload.startswith(b"cdr=")
    payload = payload.removeprefix(b"cdr=")
    if payload[:3].upper() == b"%7B" or (form and payload.startswith(b"{")):
        try:
            text = unquote_plus(payload.decode("ascii"), errors="strict")
        except UnicodeError:
            raise DocumentInvalid("", _NOT_A_DOCUMENT) from None
        decoded = _decode_json(text)
        if decoded is None:
            raise DocumentInvalid(
                "",
                "the CDR is not one JSON document once url-decoded: mod_json_cdr's encode=true"
                " with encode-values=true gives invalid JSON; set encode-values to false, or"
                " encode to false or base64",
            )
    elif payload.startswith(b"{"):
        decoded = _decode_json(payload)
        if decoded is None:
            raise DocumentInvalid("", "not one JSON document")
    else:
        try:
            decoded = _decode_json(binascii.a2b_base64(payload, strict_mode=True))
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is None:
            raise DocumentInvalid("", _NOT_A_DOCUMENT)
    if not isinstance(decoded, dict) or not isinstance(decoded.get("variables"), dict):
        raise DocumentInvalid("variables", "not a mod_json_cdr document: no variables object")
    return decoded


def _variables(document: dict[str, Any]) -> dict[str, str]:
    """The channel variables, url-decoded (mod_json_cdr's encode-values, on by default)."""
    raw = document.get("variables")
    if not isinstance(raw, dict):
        raise DocumentInvalid("variables", "not a mod_json_cdr document: no variables object")
    return {str(k): unquote(v) if isinstance(v, str) else str(v) for k, v in raw.items()}


def _profile(document: dict[str, Any]) -> dict[str, Any]:
    """The newest caller profile of the callflow (mod_json_cdr lists them newest first)."""
    flow = document.get("callflow")
    first = flow[0] if isinstance(flow, list) and flow else flow
    profile = first.get("caller_profile") if isinstance(first, dict) else None
    return profile if isinstance(profile, dict) else {}


_UEPOCH_MAX: Final = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def _uepoch(variables: dict[str, str], name: str) -> int:
    """A `*_uepoch` variable (microseconds since the epoch, UTC); 0 when absent or zero."""
    text = variables.get(name, "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) > _UEPOCH_MAX:
        raise DocumentInvalid(name, f"not microseconds since the epoch: {text[:40]!r}")
    return int(text)


def _served_us(microseconds: int) -> str:
    return format_timestamp(microseconds // 1000)


def release_party(disposition: str, leg_direction: str) -> str:
    """Who hung up, from `sip_hangup_disposition`: on an inbound leg FreeSWITCH speaks for the
    callee (send_* -> callee, recv_* -> caller); on an outbound leg for the caller (send_* ->
    caller, recv_* -> callee)."""
    inbound = leg_direction != "outbound"
    if disposition.startswith("send_"):
        return "callee" if inbound else "caller"
    if disposition.startswith("recv_"):
        return "caller" if inbound else "callee"
    return ""


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return ""


@dataclass(frozen=True)
class _Recording:
    path: str
    started_us: int


def _recordings(document: dict[str, Any], variables: dict[str, str]) -> list[_Recording]:
    """The files `record_session` / `record` wrote, from the application log (their expanded
    data), or else from `execute_on_answer=record_session PATH`, or else `record_path` +
    `record_name`; in order, each once."""
    found: dict[str, int] = {}
    log = document.get("app_log")
    apps = log.get("applications") if isinstance(log, dict) else None
    for app in apps if isinstance(apps, list) else []:
        if not isinstance(app, dict) or app.get("app_name") not in _RECORDING_APPS:
            continue
        path = unquote(str(app.get("app_data", ""))).strip().split(" ")[0]
        stamp = str(app.get("app_stamp", ""))
        usable = stamp.isascii() and stamp.isdigit() and len(stamp) <= 18
        if path:
            found.setdefault(path, int(stamp) if usable and int(stamp) <= _UEPOCH_MAX else 0)
    hook = variables.get("execute_on_answer", "").strip().split()
    if not found and len(hook) >= 2 and hook[0] == "record_session":
        found[hook[1]] = _uepoch(variables, "answer_uepoch")
    folder, name = variables.get("record_path", ""), variables.get("record_name", "")
    if not found and name:  # as FusionPBX's dialplan sets them
        found[posixpath.join(folder, name)] = _uepoch(variables, "answer_uepoch")
    return [_Recording(path, started) for path, started in found.items()]


def _count(text: str) -> bool:
    """A non-negative integer that fits a record's integer fields."""
    return text.isascii() and text.isdigit() and len(text) <= 15


def _recording_events(
    document: dict[str, Any], variables: dict[str, str], end_us: int
) -> list[dict[str, Any]]:
    recordings = _recordings(document, variables)
    only = len(recordings) == 1
    events = []
    for recording in recordings:
        ms, size = variables.get("record_ms", ""), variables.get("record_file_size", "")
        file: dict[str, Any] = {
            "id": record_id("fs-file", recording.path),
            "name": posixpath.basename(recording.path),
            "mimeType": mimetypes.guess_type(recording.path)[0] or "",
            "type": 3,
        }
        if only and _count(ms):
            file["duration"] = int(ms)
        if only and _count(size):
            file["size"] = int(size)
        events.append(
            {
                "startAt": _served_us(recording.started_us) if recording.started_us else "",
                "endAt": _served_us(end_us) if end_us else "",
                "files": [file],
            }
        )
    return events


def convert_document(document: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """One leg's record (docs/sources/freeswitch.md has the table); DocumentInvalid otherwise."""
    variables = _variables(document)
    profile = _profile(document)

    def pick(name: str) -> str:
        return variables.get(name) or str(profile.get(name) or "")

    uuid = pick("uuid")
    if not uuid:
        raise DocumentInvalid("uuid", "no uuid variable nor caller profile uuid")
    # A B-leg names its A-leg in originating_leg_uuid (set by originate, kept to the end); its
    # call_uuid also does while bridged, but FreeSWITCH resets it to the leg's own uuid when the
    # bridge ends first on the other side. An A-leg's call_uuid is its own uuid.
    call_id = variables.get("originating_leg_uuid") or variables.get("call_uuid") or uuid
    start_us = _uepoch(variables, "start_uepoch")
    if not start_us:
        raise DocumentInvalid("start_uepoch", "no start_uepoch: when the call started is unknown")
    end_us = _uepoch(variables, "end_uepoch")
    answered = _uepoch(variables, "answer_uepoch") > 0
    ringing = (
        _uepoch(variables, "progress_uepoch") > 0 or _uepoch(variables, "progress_media_uepoch") > 0
    )
    cause = variables.get("hangup_cause", "")
    disposition = variables.get("sip_hangup_disposition", "")
    term = variables.get("sip_term_status", "").strip()
    code = int(term) if term.isascii() and term.isdigit() else Q850_TO_SIP.get(cause)
    cancelled = disposition in _CANCELLED or cause == "ORIGINATOR_CANCEL"
    caller, callee = pick("caller_id_number"), pick("destination_number")
    direction, call_type = policy.direction(caller, callee)
    channel = document.get("channel_data")
    leg_direction = variables.get("direction") or (
        str(channel.get("direction", "")) if isinstance(channel, dict) else ""
    )
    events = _recording_events(document, variables, end_us)
    return {
        "id": record_id("fs", uuid),
        "callID": call_id,
        "callSeq": 1 if uuid == call_id else 2,
        "callDirection": direction,
        "callType": call_type,
        "fromIP": _ip(variables.get("sip_network_ip", "")),
        "caller": caller,
        "callee": callee,
        "fromDisplayName": pick("caller_id_name"),
        "callDate": _served_us(start_us),
        "callEndTime": _served_us(end_us) if end_us else "",
        "status": status_from_sip(answered, code, ringing=ringing, cancelled=cancelled),
        "lastResponseCode": term,
        "byeReason": cause,
        "releaseParty": release_party(disposition, leg_direction),
        "isRecording": bool(events),
        "hasAudioFile": bool(events),
        "recordingEventList": events,
    }


def convert_bytes(body: bytes, policy: Policy) -> bytes:
    """The record of one document as JSON; DocumentInvalid says why there is none."""
    return msgspec.json.encode(convert_document(read_document(body), policy))


class FreeswitchJson:
    """`cdrstore import --format freeswitch-json`: each file one document, as mod_json_cdr writes
    it (`<uuid>.cdr.json`) to its error directory when posting failed: raw, url-encoded or base64
    JSON, as `encode` says."""

    name = "freeswitch-json"
    unit = "record"

    def convert(self, stream: IO[bytes], source: str, policy: Policy) -> Iterator[Converted]:
        try:
            yield 0, convert_bytes(stream.read(), policy)
        except DocumentInvalid as exc:
            yield 0, [RecordError(0, exc.field, exc.message)]


FREESWITCH_JSON: Final = register(FreeswitchJson())
