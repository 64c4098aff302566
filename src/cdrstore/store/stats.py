"""Statistics from the rollups (docs/api.md#statistics): exact for any window and zone.

A window [startAt, endAt) is cut into whole buckets of a rollup, summed from it, and the parts at
its edges that do not fill a bucket, summed from the records' own columns in `calls` (never from
their documents). Grouped by local day or hour, the window is first cut where the zone's offset
changes; a stretch whose offset is not a whole number of buckets (local mean time, before standard
time) is summed from the records throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..query import StatsQuery
from ..zones import DAY_MS, HOUR_MS, stretches
from .codes import CALL_TYPE_CODES, DIRECTION_CODES, STATUS_CODES
from .schema import PARTY_BUCKET_MS, STATS_BUCKET_MS, STATUS_COLUMNS

Vector = list[int]
"""A slice's calls by status code, then its talk time (ms)."""
VECTOR_LENGTH: Final = len(STATUS_COLUMNS) + 1
ANSWERED: Final = STATUS_CODES["Call Ended"]

# The local unit each time group counts in: days or hours since 1970-01-01, local time.
UNIT_MS: Final = {
    "day": DAY_MS,
    "week": DAY_MS,
    "month": DAY_MS,
    "weekday": DAY_MS,
    "hour": HOUR_MS,
    "hourOfDay": HOUR_MS,
}
# Added before dividing so that instants before 1970 divide downwards too: a whole number of days
# beyond the earliest callDate (year 1).
_SHIFT: Final = 800_000 * DAY_MS
_FIELD_COLUMNS: Final = {
    "callType": "call_type",
    "callDirection": "direction",
    "agent": "agent",
    "department": "department",
}
_STATUS_SUMS: Final = ", ".join(
    [f"sum(CASE WHEN status = {code} THEN 1 ELSE 0 END)" for code in sorted(STATUS_CODES.values())]
    + ["sum(talk_ms)"]
)
_ROLLUP_SUMS: Final = ", ".join(f"sum({c})" for c in (*STATUS_COLUMNS, "talk_ms"))

Piece = tuple[bool, int, int, int]
"""(from the rollup?, start ms, end ms, zone offset ms)."""


def _pieces(lo: int, hi: int, width: int, offset: int) -> Iterator[Piece]:
    """[lo, hi) as whole buckets and the edges around them; all from records when the offset
    would put local units across buckets."""
    first = -(-lo // width) * width
    last = hi // width * width
    if offset % width or first >= last:
        yield False, lo, hi, offset
        return
    if lo < first:
        yield False, lo, first, offset
    yield True, first, last, offset
    if last < hi:
        yield False, last, hi, offset


class StatsReader:
    """Sums one app's statistics over a read cursor (`mark`: the driver's placeholder)."""

    def __init__(self, cursor: Any, mark: str, app_id: str, query: StatsQuery) -> None:
        self.cursor = cursor
        self.mark = mark
        self.app_id = app_id
        self.query = query
        party = query.group_by in ("agent", "department")
        self.table = "call_party_stats" if party else "call_stats"
        self.width = PARTY_BUCKET_MS if party else STATS_BUCKET_MS

    def cells(self) -> dict[int | str, Vector]:
        """The sums by group key: local unit number for a time group, the stored value of a field
        (its code for callType and callDirection), 0 for no group and for status."""
        window = self._window()
        if window is None:
            return {}
        lo, hi = window
        group = self.query.group_by
        parts = stretches(self.query.zone(), lo, hi) if group in UNIT_MS else [(lo, hi, 0)]
        out: dict[int | str, Vector] = {}
        for start, end, offset in parts:
            for piece in _pieces(start, end, self.width, offset):
                for key, *sums in self._sum(piece):
                    vector = out.setdefault(key, [0] * VECTOR_LENGTH)
                    for i, value in enumerate(sums):
                        vector[i] += int(value or 0)
        if self.query.status is not None:  # the rollups hold every status of a slice
            wanted = STATUS_CODES[self.query.status]
            for vector in out.values():
                for i in range(len(STATUS_COLUMNS)):
                    if i != wanted:
                        vector[i] = 0
                if wanted != ANSWERED:
                    vector[-1] = 0
        return out

    def _window(self) -> tuple[int, int] | None:
        """The query's window within the app's data (whose ends bound an open window)."""
        mark, table = self.mark, self.table
        self.cursor.execute(
            f"SELECT (SELECT min(bucket) FROM {table} WHERE app_id = {mark}),"
            f" (SELECT max(bucket) FROM {table} WHERE app_id = {mark})",
            (self.app_id, self.app_id),
        )
        first, last = self.cursor.fetchone()
        if first is None:
            return None
        lo, hi = int(first) * self.width, (int(last) + 1) * self.width
        if self.query.start_ms is not None:
            lo = max(lo, self.query.start_ms)
        if self.query.end_ms is not None:
            hi = min(hi, self.query.end_ms)
        return (lo, hi) if lo < hi else None

    def _sum(self, piece: Piece) -> list[tuple[Any, ...]]:
        rollup, lo, hi, offset = piece
        mark, query = self.mark, self.query
        if rollup:
            table, when, sums = self.table, f"bucket * {self.width}", _ROLLUP_SUMS
            lo, hi = lo // self.width, hi // self.width
            span = f"bucket >= {mark} AND bucket < {mark}"
        else:
            table, when, sums = "calls", "call_date", _STATUS_SUMS
            span = f"call_date >= {mark} AND call_date < {mark}"
        clauses, params = [f"app_id = {mark}", span], [self.app_id, lo, hi]
        if query.call_type is not None:
            clauses.append(f"call_type = {mark}")
            params.append(CALL_TYPE_CODES[query.call_type])
        if query.call_direction is not None:
            clauses.append(f"direction = {mark}")
            params.append(DIRECTION_CODES[query.call_direction])
        if query.status is not None and not rollup:
            clauses.append(f"status = {mark}")
            params.append(STATUS_CODES[query.status])
        group = query.group_by
        if group in UNIT_MS:
            unit = UNIT_MS[group]
            # Integers inlined: computed here, never taken from the request.
            key = f"({when} + {offset + _SHIFT}) / {unit} - {_SHIFT // unit}"
        elif group in _FIELD_COLUMNS:
            key = _FIELD_COLUMNS[group]
        else:
            key = "0"
        grouping = "" if key == "0" else " GROUP BY 1"
        self.cursor.execute(
            f"SELECT {key}, {sums} FROM {table} WHERE {' AND '.join(clauses)}{grouping}", params
        )
        return [row for row in self.cursor.fetchall() if row[1] is not None]
