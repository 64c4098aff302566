"""Lengths of time typed on the command line: token lifetimes and retention ages, one grammar.

A duration is a whole number above zero and a unit: `s` seconds, `m` minutes, `h` hours, `d` days,
`w` weeks, `mo` calendar months, `y` calendar years (`30s`, `15m`, `12h`, `90d`, `2w`, `13mo`,
`7y`). Months and years are counted on the calendar from the moment they are measured from (the
31st of a month lands on the last day of a shorter one). Retention ages refuse units shorter than
a day: `13m` there is far more likely a typo for `13mo` than a wish to remove all but the last 13
minutes of records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

_DURATION = re.compile(r"([0-9]{1,9})(s|m|h|d|w|mo|y)\Z")  # ASCII digits only
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_CALENDAR_MONTHS: Final = {"mo": 1, "y": 12}
UNITS: Final = (
    ("s", "seconds"),
    ("m", "minutes"),
    ("h", "hours"),
    ("d", "days"),
    ("w", "weeks"),
    ("mo", "months"),
    ("y", "years"),
)
UNITS_TEXT: Final = ", ".join(f"{unit} ({name})" for unit, name in UNITS)
_SHORTER_THAN_A_DAY: Final = frozenset({"s", "m", "h"})


@dataclass(frozen=True)
class Duration:
    count: int
    unit: str

    def after(self, moment: datetime) -> datetime:
        return self._shift(moment, 1)

    def before(self, moment: datetime) -> datetime:
        return self._shift(moment, -1)

    def _shift(self, moment: datetime, sign: int) -> datetime:
        try:
            if self.unit in _UNIT_SECONDS:
                return moment + sign * timedelta(seconds=self.count * _UNIT_SECONDS[self.unit])
            return _add_months(moment, sign * self.count * _CALENDAR_MONTHS[self.unit])
        except (OverflowError, ValueError):
            raise ValueError(
                f"{self.count}{self.unit} reaches beyond the years 1-9999; units: {UNITS_TEXT}"
            ) from None


def parse_duration(
    text: str, what: str = "duration", examples: str = "30s, 12h, 90d or 13mo"
) -> Duration:
    """`30s`, `15m`, `12h`, `90d`, `2w`, `13mo`, `7y`; ValueError naming the units otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(
            f"invalid {what} {text!r}: expected a number and a unit such as {examples};"
            f" units: {UNITS_TEXT}"
        )
    count = int(match.group(1))
    if count == 0:
        raise ValueError(
            f"invalid {what} {text!r}: it must be more than zero (e.g. {examples});"
            f" units: {UNITS_TEXT}"
        )
    return Duration(count, match.group(2))


def lifetime_seconds(text: str, now: datetime) -> int:
    """Seconds from now until a token of this lifetime expires (`--expires-in`)."""
    return int((parse_duration(text).after(now) - now).total_seconds())


def age_cutoff(text: str, now: datetime) -> datetime:
    """The instant a retention age (`90d`, `6w`, `13mo`, `7y`) before now; a day at least."""
    age = parse_duration(text, "age", "90d, 6w, 13mo or 7y")
    if age.unit in _SHORTER_THAN_A_DAY:
        raise ValueError(
            f"invalid age {text!r}: retention ages are a day or more (d, w, mo or y; months are"
            f" mo, so 13mo, not 13m); units: {UNITS_TEXT}"
        )
    return age.before(now)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    return moment.replace(year=year, month=month + 1, day=day)


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
