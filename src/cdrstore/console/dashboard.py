"""The dashboard's figures, from the statistics the API serves (`GET .../call-stats`, through the
same operation): the totals for the KPI cards, and the hourly rows from which the days, the ASR and
ACD per day and the hour-of-day by weekday heatmap are summed (exact: they are counts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..record import STATUSES
from .filters import ConsoleFilters

Row = Mapping[str, Any]  # one statistics row as served: key, calls, answered, asr, ... byStatus
# Statistics query strings -> the rows of each (they may be asked for side by side).
StatsOf = Callable[[list[list[tuple[str, str]]]], list[list[Row]]]
TOP: Final = 10  # agents and departments shown
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# What the dashboard asks for: the total, the hours, and the splits.
SPLITS: Final = ("callDirection", "callType", "agent", "department")
GROUPINGS: Final = (None, "hour", *SPLITS)


def percent(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def clock(ms: int) -> str:
    """Milliseconds as m:ss (h:mm:ss from an hour)."""
    seconds = round(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@dataclass
class Dashboard:
    total: Row
    kpis: list[tuple[str, str, str, float]]  # (id, label, shown, value)
    days: list[str] = field(default_factory=list)
    calls_by_status: dict[str, list[int]] = field(default_factory=dict)
    asr_per_day: list[float] = field(default_factory=list)  # percent
    acd_per_day: list[float] = field(default_factory=list)  # seconds
    heatmap: list[list[int]] = field(default_factory=list)  # [weekday 0-6][hour 0-23]
    heat_max: int = 0
    splits: dict[str, list[Row]] = field(default_factory=dict)

    def chart_data(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "callsByStatus": self.calls_by_status,
            "asr": self.asr_per_day,
            "acd": self.acd_per_day,
        }


def stats_pairs(filters: ConsoleFilters, group_by: str | None) -> list[tuple[str, str]]:
    """The statistics query string of the console's filters (the API's parameters)."""
    start, end = filters.bounds()
    pairs = [
        ("startAt", start),
        ("endAt", end),
        ("callType", filters.call_type or None),
        ("status", filters.status or None),
        ("callDirection", filters.direction or None),
        ("groupBy", group_by),
        ("tz", filters.tz),
    ]
    return [(name, value) for name, value in pairs if value is not None]


def _kpis(total: Row) -> list[tuple[str, str, str, float]]:
    return [
        ("calls", "Calls", f"{total['calls']:,}", total["calls"]),
        ("answered", "Answered", f"{total['answered']:,}", total["answered"]),
        ("asr", "ASR (answered ÷ calls)", percent(total["asr"]), total["asr"]),
        ("acd", "ACD (average talk time)", clock(total["acdMs"]), total["acdMs"]),
        ("abandoned", "Abandoned", f"{total['abandoned']:,}", total["abandoned"]),
    ]


def build(filters: ConsoleFilters, stats_of: StatsOf) -> Dashboard:
    """Ask for the total, the hours and the splits, and sum the hours into days and a heatmap."""
    answers = stats_of([stats_pairs(filters, group) for group in GROUPINGS])
    (total,), hours, *splits = answers
    board = Dashboard(total=total, kpis=_kpis(total))
    by_day: dict[str, dict[str, int]] = {}
    board.heatmap = [[0] * 24 for _ in WEEKDAYS]
    for row in hours:
        day, hour = str(row["key"]).split("T")
        sums = by_day.setdefault(day, {"calls": 0, "answered": 0, "talk": 0})
        sums["calls"] += row["calls"]
        sums["answered"] += row["answered"]
        sums["talk"] += row["talkTimeMs"]
        for status, n in row["byStatus"].items():
            sums[status] = sums.get(status, 0) + n
        weekday = dt.date.fromisoformat(day).weekday()
        board.heatmap[weekday][int(hour)] += row["calls"]
    board.days = sorted(by_day)
    board.calls_by_status = {
        status: [by_day[d].get(status, 0) for d in board.days]
        for status in STATUSES
        if any(by_day[d].get(status) for d in board.days)
    }
    board.asr_per_day = [
        round(100 * by_day[d]["answered"] / by_day[d]["calls"], 2) for d in board.days
    ]
    board.acd_per_day = [
        round(by_day[d]["talk"] / by_day[d]["answered"] / 1000, 1) if by_day[d]["answered"] else 0
        for d in board.days
    ]
    board.heat_max = max((n for hours in board.heatmap for n in hours), default=0)
    for split, rows in zip(SPLITS, splits, strict=True):
        if split in ("agent", "department"):
            rows = sorted(rows, key=lambda r: (-r["calls"], str(r["key"])))[:TOP]
        board.splits[split] = rows
    return board
