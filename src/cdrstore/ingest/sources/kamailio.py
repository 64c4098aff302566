"""Kamailio's CDRs: the rows acc + dialog write, one per call, into the `cdrs` table of
contrib/kamailio/ (cdrs.sql), read by `cdrstore follow kamailio`. Mapping and what is lost:
docs/sources/kamailio.md.

acc's own columns are `id`, `start_time`, `end_time` and `duration`; the rest are the extra
columns the reference configuration fills from dialog variables (all nullable). Times come as
acc's `time_mode` writes them: text (`YYYY-MM-DD HH:MM:SS`, UTC with time_mode 4; read in `--tz`
otherwise), Julian days (db_sqlite's default for a datetime), seconds since the epoch, or a
PostgreSQL timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from .policy import Policy, record_id, served, status_from_sip

TABLE: Final = "cdrs"
SOURCE: Final = "kam"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_JULIAN_UNIX_EPOCH: Final = 2_440_587.5  # the Julian day of 1970-01-01T00:00:00Z
_ENCODER: Final = msgspec.json.Encoder()


class RowError(ValueError):
    """A row that cannot become a record; `column` names the column at fault."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


def _text(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value).strip()


def _from_seconds(seconds: float) -> str:
    return served(_EPOCH + timedelta(seconds=seconds))


def _text_instant(text: str, column: str, policy: Policy) -> str:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return policy.local_instant(text, fmt)
        except ValueError:
            continue
    raise RowError(column, f"expected YYYY-MM-DD HH:MM:SS or a number, got {text!r}")


def instant(row: dict[str, Any], column: str, policy: Policy) -> str:
    """A time column as served (UTC, milliseconds): text, Julian days or epoch seconds."""
    value = row.get(column)
    if isinstance(value, datetime):  # a timestamp column of PostgreSQL
        if value.tzinfo is None:
            value = value.replace(tzinfo=policy.zone)
        return served(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            return _text_instant(text, column, policy)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # a datetime db_sqlite wrote as a Julian day number, else seconds since the epoch
        seconds = (value - _JULIAN_UNIX_EPOCH) * 86_400 if value < 10_000_000 else value
        try:
            return _from_seconds(float(seconds))
        except (OverflowError, ValueError):
            raise RowError(column, f"out of range: {value!r}") from None
    raise RowError(column, f"no time given ({value!r})")


def _optional_instant(row: dict[str, Any], column: str, policy: Policy) -> str:
    return instant(row, column, policy) if _text(row, column) else ""


def to_record(row: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """One row of the cdrs table as a record of the 46-key model (RowError names the column)."""
    call_id = _text(row, "call_id")
    if not call_id:
        raise RowError("call_id", "empty: the configuration must set $dlg_var(call_id)")
    code_text = _text(row, "sip_code")
    if code_text and not (code_text.isascii() and code_text.isdigit()):
        raise RowError("sip_code", f"not a SIP status code: {code_text!r}")
    code = int(code_text) if code_text else None
    answered = bool(_text(row, "answer_time")) or (code is not None and 200 <= code < 300)
    status = status_from_sip(
        answered,
        code,
        ringing=bool(_text(row, "ring_time")),
        cancelled=_text(row, "cancelled") == "1",
    )
    caller, callee = _text(row, "caller"), _text(row, "callee")
    direction, call_type = policy.direction(caller, callee)
    start = instant(row, "start_time", policy)
    if answered:
        end = instant(row, "end_time", policy)
    else:
        # acc writes end = start for a failed call: the configuration records the final reply
        end = _optional_instant(row, "reply_time", policy) or instant(row, "end_time", policy)
    bye_by = _text(row, "bye_by")
    return {
        "id": record_id(SOURCE, call_id),
        "callID": call_id,
        "callSeq": 1,
        "callDirection": direction,
        "callType": call_type,
        "fromIP": _text(row, "src_ip"),
        "caller": caller,
        "callee": callee,
        "callDate": start,
        "callEndTime": end,
        "status": status,
        "lastResponseCode": code_text,
        "byeReason": _text(row, "bye_reason") or ("" if answered else _text(row, "sip_reason")),
        "releaseParty": bye_by if bye_by in ("caller", "callee") else "",
    }


def encode_row(row: dict[str, Any], policy: Policy) -> bytes:
    """The row as a record in JSON, for the validation every record takes."""
    return _ENCODER.encode(to_record(row, policy))
