"""Call statistics (docs/api.md#statistics): the store's sums by group key turned into rows with
their keys, ASR and ACD, in key order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Final

import msgspec

from ..contract import CODE_OK
from ..query import StatsQuery, parse_stats_query
from ..record import STATUSES
from ..statistics import StatsBody, StatsRow
from ..store import Store
from ..store.codes import CALL_TYPE_CODES, DIRECTION_CODES, STATUS_CODES
from ..zones import day_key
from .accounts import require_app

Key = str | int
__all__ = ["StatsRow", "call_stats", "stats_body", "stats_for_params"]
TOTAL_KEY: Final = "total"  # the key of the one row of an ungrouped request


_ENCODER: Final = msgspec.json.Encoder()


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


# A time group's key from the local unit the store sums by (days or hours since 1970-01-01).
_TIME_KEYS: Final[dict[str, Callable[[int], Key]]] = {
    "day": lambda unit: day_key(unit).isoformat(),
    "week": lambda unit: _week(day_key(unit)),
    "month": lambda unit: day_key(unit).isoformat()[:7],
    "weekday": lambda unit: day_key(unit).isoweekday(),
    "hour": lambda unit: f"{day_key(unit // 24).isoformat()}T{unit % 24:02d}",
    "hourOfDay": lambda unit: unit % 24,
}
_NAME_OF_CODE: Final[dict[str, dict[int, str]]] = {
    "callType": {code: name for name, code in CALL_TYPE_CODES.items()},
    "callDirection": {code: name for name, code in DIRECTION_CODES.items()},
}


def _by_status(vector: list[int]) -> dict[str, int]:
    return {status: vector[STATUS_CODES[status]] for status in STATUSES}


def _rows(query: StatsQuery, cells: dict[int | str, list[int]]) -> list[StatsRow]:
    group = query.group_by
    if group is None:
        vector = cells.get(0, [0] * (len(STATUS_CODES) + 1))
        return [StatsRow.of(TOTAL_KEY, _by_status(vector), vector[-1])]
    if group == "status":
        vector = cells.get(0, [0] * (len(STATUS_CODES) + 1))
        rows = []
        for status in sorted(STATUSES):
            code = STATUS_CODES[status]
            talk_ms = vector[-1] if status == "Call Ended" else 0
            rows.append(StatsRow.of(status, {status: vector[code]}, talk_ms))
        return [row for row in rows if row.calls]
    to_key: Callable[[int | str], Key]
    if group in _TIME_KEYS:
        to_key = _TIME_KEYS[group]  # type: ignore[assignment]
    elif group in _NAME_OF_CODE:
        to_key = _NAME_OF_CODE[group].__getitem__  # type: ignore[assignment]
    else:
        to_key = str
    merged: dict[Key, list[int]] = {}
    for cell_key, vector in cells.items():
        total = merged.setdefault(to_key(cell_key), [0] * len(vector))
        for i, value in enumerate(vector):
            total[i] += value
    rows = [StatsRow.of(key, _by_status(vector), vector[-1]) for key, vector in merged.items()]
    return sorted((row for row in rows if row.calls), key=lambda row: row.key)


def call_stats(store: Store, app_id: str, query: StatsQuery) -> list[StatsRow]:
    """The app's statistics for a checked query: one row a group with calls, in key order (one
    total row when ungrouped)."""
    require_app(store, app_id)
    return _rows(query, store.records.stats(app_id, query))


def stats_for_params(
    store: Store, app_id: str, params: Iterable[tuple[str, str]] | Mapping[str, str]
) -> tuple[StatsQuery, list[StatsRow]]:
    """A statistics request's query string (pairs, or a mapping) checked (QueryError names what is
    wrong), and its rows."""
    pairs = params.items() if isinstance(params, Mapping) else params
    query = parse_stats_query(pairs)
    return query, call_stats(store, app_id, query)


def stats_body(rows: list[StatsRow]) -> bytes:
    """The 200 answer as served: `{"code":0,"result":[...]}`, encoded once."""
    return _ENCODER.encode(StatsBody(CODE_OK, rows))
