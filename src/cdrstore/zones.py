"""Local time for the statistics' time groups (docs/api.md#statistics): where a zone's offset from
UTC changes within a window, and an instant's local day or hour as a whole number.

The store sums its quarter-hour rollups by local day or hour in SQL, one stretch of constant offset
at a time; these are the stretches. Counting days and hours as integers (days since 1970-01-01 in
local time) keeps the SQL to integer arithmetic and the keys a lookup.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE: Final = date(1970, 1, 1)
# The instants datetime can put in any zone (a day inside years 1-9999).
_FIRST_MS: Final = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_LAST_MS: Final = (datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
# No zone has changed its offset twice within a day: one look a day finds every change.
_STEP_MS: Final = DAY_MS

Stretch = tuple[int, int, int]
"""[start ms, end ms) and the zone's offset from UTC (ms) throughout."""


def offset_ms(zone: ZoneInfo, epoch_ms: int) -> int:
    """The zone's offset from UTC at this instant, in milliseconds."""
    clamped = min(max(epoch_ms, _FIRST_MS), _LAST_MS)
    moment = _EPOCH + timedelta(milliseconds=clamped)
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return offset // timedelta(milliseconds=1)


def _first_at(zone: ZoneInfo, lo: int, hi: int, offset: int) -> int:
    """The first instant in (lo, hi] where the offset is `offset`, given it is not at lo but is
    at hi."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset_ms(zone, mid) == offset:
            hi = mid
        else:
            lo = mid
    return hi


def stretches(zone: ZoneInfo, lo: int, hi: int) -> list[Stretch]:
    """[lo, hi) cut where the zone's offset changes."""
    if zone.key == "UTC":
        return [(lo, hi, 0)]
    out: list[Stretch] = []
    start, offset = lo, offset_ms(zone, lo)
    probe = lo
    while probe < hi - 1:
        following = min(probe + _STEP_MS, hi - 1)
        now = offset_ms(zone, following)
        if now != offset:
            change = _first_at(zone, probe, following, now)
            out.append((start, change, offset))
            start, offset = change, now
            probe = change
        else:
            probe = following
    out.append((start, hi, offset))
    return out


def day_key(day: int) -> date:
    """A local day counted from 1970-01-01."""
    return _EPOCH_DATE + timedelta(days=day)
