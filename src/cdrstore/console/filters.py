"""The console's filters as its URL carries them (so that a view can be bookmarked and shared):
days in a time zone rather than instants, a direction and a number beside the API's own filters.
Turned here into the API's query pairs, checked by the API's own rules (`query.py`)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urlencode

from ..errors import DomainError
from ..query import PageQuery, QueryError, parse_call_query

PAGE_SIZE: Final = 50
DIRECTIONS: Final = ("Inbound", "Outbound")
FILTER_PARAMETERS: Final = ("from", "to", "tz", "callType", "status", "callDirection", "number")
PARAMETERS: Final = (*FILTER_PARAMETERS, "offset")


class FilterError(DomainError):
    """A console filter that cannot be used; the message names it."""


@dataclass(frozen=True)
class ConsoleFilters:
    day_from: str = ""  # YYYY-MM-DD, the first day shown, in tz
    day_to: str = ""  # YYYY-MM-DD, the last day shown (inclusive), in tz
    tz: str = "UTC"
    call_type: str = ""
    status: str = ""
    direction: str = ""
    number: str = ""
    offset: int = 0

    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.tz)

    def pairs(self) -> list[tuple[str, str]]:
        """The filters in the console's URL (only those given; the default zone left out)."""
        given = [
            ("from", self.day_from),
            ("to", self.day_to),
            ("tz", "" if self.tz == "UTC" else self.tz),
            ("callType", self.call_type),
            ("status", self.status),
            ("callDirection", self.direction),
            ("number", self.number),
        ]
        return [(name, value) for name, value in given if value]

    def query_string(self, offset: int | None = None) -> str:
        pairs = self.pairs()
        if offset:
            pairs.append(("offset", str(offset)))
        return urlencode(pairs)

    def at(self, offset: int) -> ConsoleFilters:
        return replace(self, offset=offset)

    def bounds(self) -> tuple[str | None, str | None]:
        """(startAt, endAt) of the days chosen, as RFC3339 instants: midnight of the first day and
        midnight after the last, in the zone (half-open, as the API's bounds)."""
        zone = self.zone()
        start = end = None
        if self.day_from:
            start = _midnight(self.day_from, zone).isoformat()
        if self.day_to:
            end = (_midnight(self.day_to, zone, days_after=1)).isoformat()
        return start, end

    def api_pairs(self, limit: int = PAGE_SIZE) -> list[tuple[str, str]]:
        """The same filters as the API's query string (docs/api.md#reading-call-details)."""
        start, end = self.bounds()
        pairs = [
            ("startAt", start),
            ("endAt", end),
            ("callType", self.call_type or None),
            ("status", self.status or None),
            ("number", self.number or None),
            ("offset", str(self.offset)),
            ("limit", str(limit)),
        ]
        return [(name, value) for name, value in pairs if value is not None]

    def page_query(self, limit: int = PAGE_SIZE) -> PageQuery:
        try:
            return parse_call_query(self.api_pairs(limit))
        except QueryError as exc:
            raise FilterError(str(exc).replace("startAt", "from").replace("endAt", "to")) from None


def _midnight(day: str, zone: zoneinfo.ZoneInfo, days_after: int = 0) -> dt.datetime:
    date = dt.date.fromisoformat(day) + dt.timedelta(days=days_after)
    return dt.datetime.combine(date, dt.time(), zone)


def _day(name: str, text: str) -> str:
    try:
        day = dt.date.fromisoformat(text).isoformat()
    except ValueError:
        day = ""
    if day != text:  # fromisoformat also takes 20260301 and 2026-W09-7
        raise FilterError(f"invalid {name}: {text!r} is not a date (YYYY-MM-DD)")
    return day


def _zone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FilterError(
            f"invalid tz: {text!r} is not an IANA time zone (e.g. Asia/Hong_Kong)"
        ) from None
    return text


def parse_filters(pairs: Iterable[tuple[str, str]]) -> ConsoleFilters:
    """The console's filters from its URL; FilterError names what is wrong. Empty values mean
    'any' (as a form sends an untouched field)."""
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            raise FilterError(f"unknown filter: {name}")
        if name in given:
            raise FilterError(f"{name} given more than once")
        given[name] = value.strip()
    offset_text = given.get("offset") or "0"
    if not offset_text.isascii() or not offset_text.isdigit() or len(offset_text) > 15:
        raise FilterError(f"invalid offset: {offset_text!r}")
    direction = given.get("callDirection", "")
    if direction and direction not in DIRECTIONS:
        raise FilterError(f"invalid callDirection: {direction!r} (Inbound or Outbound)")
    filters = ConsoleFilters(
        day_from=_day("from", given["from"]) if given.get("from") else "",
        day_to=_day("to", given["to"]) if given.get("to") else "",
        tz=_zone(given["tz"]) if given.get("tz") else "UTC",
        call_type=given.get("callType", ""),
        status=given.get("status", ""),
        direction=direction,
        number=given.get("number", ""),
        offset=int(offset_text),
    )
    if filters.day_from and filters.day_to and filters.day_to < filters.day_from:
        raise FilterError("the 'to' day is before the 'from' day")
    filters.page_query()  # the API's own checks of the rest
    return filters
