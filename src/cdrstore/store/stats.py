"""Statistics from the rollups (docs/api.md#statistics): exact for any window and zone.

A window [startAt, endAt) is cut into whole buckets of the widest grain of a rollup that fit
(days, then hours, then half and quarter hours at the edges left), each summed from the rollup,
and the parts at its edges that fill no bucket, summed from the records' own columns in `calls`
(never from their documents). Grouped by local day or hour, the window is first cut where the
zone's offset changes, and a grain is used only where its buckets lie inside local units
(Kolkata's +05:30 days are summed from half hours, Kathmandu's +05:45 from quarter hours); a
stretch whose offset is not a whole number of quarters (local mean time, before standard time) is
summed from the records throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from ..query import StatsQuery
from ..zones import DAY_MS, HOUR_MS, stretches
from .codes import CALL_TYPE_CODES, DIRECTION_CODES, STATUS_CODES
from .schema import PARTY_BUCKET_MS, STATS_GRAINS_MS, STATUS_COLUMNS

Vector = list[int]
"""A slice's calls by status code, then its talk time (ms)."""
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
# Cast: PostgreSQL sums bigints as numeric, which psycopg hands over as Decimal (about a fifth of
# the time of an hour-by-hour answer went on making them).
_STATUS_SUMS: Final = ", ".join(
    [
        f"CAST(sum(CASE WHEN status = {code} THEN 1 ELSE 0 END) AS BIGINT)"
        for code in sorted(STATUS_CODES.values())
    ]
    + ["CAST(sum(talk_ms) AS BIGINT)"]
)
_ROLLUP_SUMS: Final = ", ".join(f"CAST(sum({c}) AS BIGINT)" for c in (*STATUS_COLUMNS, "talk_ms"))

Piece = tuple[int | None, int, int, int]
"""(the rollup's bucket width, None: from the records; start ms, end ms, zone offset ms)."""


def _pieces(lo: int, hi: int, grains: tuple[int, ...], offset: int) -> Iterator[Piece]:
    """[lo, hi) as whole buckets of the widest grain that fit, then of the next at the edges
    left, down to the records themselves."""
    if lo >= hi:
        return
    if not grains:
        yield None, lo, hi, offset
        return
    width, finer = grains[0], grains[1:]
    first = -(-lo // width) * width
    last = hi // width * width
    if first >= last:
        yield from _pieces(lo, hi, finer, offset)
        return
    yield from _pieces(lo, first, finer, offset)
    yield width, first, last, offset
    yield from _pieces(last, hi, finer, offset)


def add(sums: dict[Any, Vector], key: Any, vector: Vector) -> None:
    """Add a vector to the sums of a key (most keys come once: their vector is taken as it is)."""
    total = sums.get(key)
    if total is None:
        sums[key] = vector
    else:
        for i, value in enumerate(vector):
            total[i] += value


class StatsReader:
    """Sums one app's statistics over a read cursor (`mark`: the driver's placeholder)."""

    def __init__(self, cursor: Any, mark: str, app_id: str, query: StatsQuery) -> None:
        self.cursor = cursor
        self.mark = mark
        self.app_id = app_id
        self.query = query
        party = query.group_by in ("agent", "department")
        self.table = "call_party_stats" if party else "call_stats"
        self.grains = (PARTY_BUCKET_MS,) if party else STATS_GRAINS_MS
        self.finest = self.grains[-1]
        # Only call_stats has buckets of several widths, told apart by its `grain` column.
        self.grained = not party

    def cells(self) -> dict[int | str, Vector]:
        """The sums by group key: local unit number for a time group, the stored value of a field
        (its code for callType and callDirection), 0 for no group and for status."""
        window = self._window()
        if window is None:
            return {}
        lo, hi = window
        group = self.query.group_by
        parts = stretches(self.query.zone(), lo, hi) if group in UNIT_MS else [(lo, hi, 0)]
        unit = UNIT_MS.get(group or "")
        out: dict[int | str, Vector] = {}
        for start, end, offset in parts:
            # A bucket must lie in one local unit: its width divides the unit and the offset.
            grains = tuple(
                g for g in self.grains if unit is None or (g <= unit and offset % g == 0)
            )
            for piece in _pieces(start, end, grains, offset):
                for key, *sums in self._sum(piece):
                    add(out, key, [int(value or 0) for value in sums])
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
        where = f"app_id = {mark}" + (f" AND grain = {self.finest}" if self.grained else "")
        # ORDER BY ... LIMIT 1 rather than min()/max(): PostgreSQL, not knowing the table yet,
        # aggregated every row of the app for them (42 ms at 100,000 records, not 0.1).
        self.cursor.execute(
            f"SELECT (SELECT bucket FROM {table} WHERE {where} ORDER BY bucket LIMIT 1),"
            f" (SELECT bucket FROM {table} WHERE {where} ORDER BY bucket DESC LIMIT 1)",
            (self.app_id, self.app_id),
        )
        first, last = self.cursor.fetchone()
        if first is None:
            return None
        lo, hi = int(first) * self.finest, (int(last) + 1) * self.finest
        if self.query.start_ms is not None:
            lo = max(lo, self.query.start_ms)
        if self.query.end_ms is not None:
            hi = min(hi, self.query.end_ms)
        return (lo, hi) if lo < hi else None

    def _sum(self, piece: Piece) -> list[tuple[Any, ...]]:
        width, lo, hi, offset = piece
        rollup = width is not None
        mark, query = self.mark, self.query
        if width is not None:
            table, when, sums = self.table, f"bucket * {width}", _ROLLUP_SUMS
            lo, hi = lo // width, hi // width
            grain = f"grain = {width} AND " if self.grained else ""
            span = f"{grain}bucket >= {mark} AND bucket < {mark}"
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
