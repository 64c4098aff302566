"""What every source shares: who is internal (direction and on-net/off-net), the time zone of
times written without an offset, the call status from a SIP outcome, and deterministic ids.

Direction and on-net/off-net are policy, not facts a CDR states: `--internal PATTERN` (a regular
expression matched against the whole number or extension) says which parties are the contact
centre's own. Caller internal and callee external: Outbound offnet; the reverse: Inbound offnet;
both internal: Outbound onnet; neither: Inbound offnet (a call passing through).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...timestamps import format_timestamp


class PolicyError(ValueError):
    """An --internal pattern or --tz zone that cannot be used."""


@dataclass(frozen=True)
class Policy:
    internal: re.Pattern[str] | None = None
    zone: tzinfo = field(default=UTC)

    @classmethod
    def from_options(cls, internal: str | None, tz: str | None) -> Policy:
        try:
            pattern = re.compile(internal) if internal else None
        except re.error as exc:
            raise PolicyError(f"--internal is not a regular expression: {exc}") from None
        try:
            zone: tzinfo = ZoneInfo(tz) if tz and tz.upper() != "UTC" else UTC
        except (ZoneInfoNotFoundError, ValueError):
            raise PolicyError(
                f"--tz {tz!r} is not a time zone (e.g. UTC, Asia/Hong_Kong)"
            ) from None
        return cls(pattern, zone)

    def is_internal(self, party: str) -> bool:
        return bool(self.internal and party and self.internal.fullmatch(party))

    def direction(self, caller: str, callee: str) -> tuple[str, str]:
        """(callDirection, callType) of a call between these parties."""
        inside_caller, inside_callee = self.is_internal(caller), self.is_internal(callee)
        if inside_caller and inside_callee:
            return "Outbound", "onnet"
        if inside_caller:
            return "Outbound", "offnet"
        return "Inbound", "offnet"

    def local_instant(self, text: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        """A time written without an offset, read in the source's zone, as served (UTC)."""
        moment = datetime.strptime(text, fmt)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return served(moment)


def served(moment: datetime) -> str:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return format_timestamp(
        (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    )


# --- status from a SIP outcome (docs/sources/README.md) -------------------------------------------
_BUSY: Final = frozenset({486, 600})
_UNREACHABLE: Final = frozenset({404, 410, 484, 502, 503, 504})


def status_from_sip(answered: bool, code: int | None, *, ringing: bool, cancelled: bool) -> str:
    """answered -> Call Ended; CANCEL or 487 -> Cancelled; 486, 600 -> Busy; 603 -> Declined;
    408 or 480 after ringing -> Not Answered; 408/480 without ringing, 404, 410, 484, 502-504 ->
    Unreachable; anything else -> Call Failed."""
    if answered:
        return "Call Ended"
    if cancelled or code == 487:
        return "Cancelled"
    if code in _BUSY:
        return "Busy"
    if code == 603:
        return "Declined"
    if code in (408, 480):
        return "Not Answered" if ringing else "Unreachable"
    if code in _UNREACHABLE:
        return "Unreachable"
    return "Call Failed"


def record_id(source: str, *parts: str) -> str:
    """A deterministic id from a source's own identifiers: the same row always gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{source}-{digest}"
