"""PostgreSQL's calls are partitioned by month of call_date: which month a date falls in, a month's
bounds, and its partition's name."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from ..zones import DAY_MS

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def months_of(dates: Iterable[int]) -> set[int]:
    """The months these epoch ms fall in (each day's month worked out once)."""
    return {month_of(day * DAY_MS) for day in {date // DAY_MS for date in dates}}


def month_of(epoch_ms: int) -> int:
    """Months since year 0: the partition a call_date belongs to."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.year * 12 + moment.month - 1


def month_bounds(month: int) -> tuple[int, int]:
    """[start, end) of a month in epoch ms; days counted, not dates, so that December 9999 (the
    last month a record may fall in) ends where year 10000, which no datetime holds, would begin."""
    year, index = divmod(month, 12)
    start = datetime(year, index + 1, 1, tzinfo=UTC)
    days = calendar.monthrange(year, index + 1)[1]
    end = start - _EPOCH + timedelta(days=days)
    return (start - _EPOCH) // timedelta(milliseconds=1), end // timedelta(milliseconds=1)


def partition_name(month: int) -> str:
    year, index = divmod(month, 12)
    return f"calls_y{year:04d}m{index + 1:02d}"


def partition_month(name: str) -> int:
    """The month of a partition, by its name (`partition_name`'s inverse)."""
    return int(name[7:11]) * 12 + int(name[12:14]) - 1
