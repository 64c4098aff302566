"""Lengths of time typed on the command line: token lifetimes and retention ages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

_DURATION = re.compile(r"(\d+)(s|m|h|d|w)\Z")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_AGE = re.compile(r"(\d+)(d|w|mo|y)\Z")


def parse_duration(text: str) -> int:
    """Seconds in `30s`, `15m`, `12h`, `90d` or `2w`; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 30s, 15m, 12h or 90d, got {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def age_cutoff(text: str, now: datetime) -> datetime:
    """The instant `90d`, `6w`, `13mo` or `7y` before now (calendar months and years)."""
    match = _AGE.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected an age such as 90d, 6w, 13mo or 7y, got {text!r}")
    n, unit = int(match.group(1)), match.group(2)
    if unit in ("d", "w"):
        return now - timedelta(days=n * (7 if unit == "w" else 1))
    months = n * (12 if unit == "y" else 1)
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    day = min(now.day, _days_in_month(year, month + 1))
    return now.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
