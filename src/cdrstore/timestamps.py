"""Instants as the contract writes them (RFC3339, any offset) and serves them (UTC with
milliseconds): parsed to epoch milliseconds, exactly, with ASCII digits only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Final

# RFC3339 section 5.6, with its allowance of a space or lower-case t/z; datetime checks the values.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]+))?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


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


def as_datetime(epoch_ms: int) -> datetime:
    """An instant as an aware datetime (UTC)."""
    return _EPOCH + timedelta(milliseconds=epoch_ms)


def parse_exact(text: str) -> Fraction:
    """The instant of an RFC3339 date-time in epoch milliseconds, exactly: every digit of its
    fraction counts (a query bound of .2501 lies after a record at .250)."""
    moment = _parse(text)
    match = _RFC3339.match(text)
    digits = (match.group(1) if match else None) or ""
    whole_ms = _epoch_ms(moment.replace(microsecond=0)) + int((digits + "000")[:3])
    parse_timestamp(text)  # the same range rules as a record's instants
    return whole_ms + Fraction(int(digits[3:] or "0"), 10 ** len(digits[3:]))


_ONE_MS: Final = timedelta(milliseconds=1)


def _served_epoch_ms(text: str) -> int | None:
    """Epoch ms of a timestamp already in the served form, or None to take the general path.

    Nearly every timestamp arrives in the served form: its shape is checked here, and datetime's
    own parser (in C) takes nothing but digits between those separators and rejects impossible
    values; the general path (regex, then the same parser) costs three times as much.
    """
    if not (
        len(text) == 24
        and text[4] == "-"
        and text[7] == "-"
        and text[10] == "T"
        and text[13] == ":"
        and text[16] == ":"
        and text[19] == "."
        and text[23] == "Z"
        and text.isascii()  # ASCII digits only, whichever parser datetime brings
    ):
        return None
    try:
        return (datetime.fromisoformat(text) - _EPOCH) // _ONE_MS
    except ValueError:
        return None


def canonical_timestamp(text: str) -> tuple[str, int]:
    """The served form of an instant and its epoch milliseconds (digits beyond them dropped);
    ValueError says what is wrong."""
    epoch_ms = _served_epoch_ms(text)
    if epoch_ms is not None:
        return text, epoch_ms
    epoch_ms = _epoch_ms(_parse(text))
    return format_timestamp(epoch_ms), epoch_ms
