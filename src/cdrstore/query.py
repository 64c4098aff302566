"""The GET queries of docs/api.md#reading-call-details and docs/api.md#statistics, checked: every
malformed, out-of-range or unknown parameter is refused with a message that names it, never
silently ignored.

`CallFilters` is a filter set as a user gives it (the CLI's options, the client's arguments) and as
it travels in a query string; `PageQuery` is the checked form the store pages by, `StatsQuery` the
checked form of a statistics request.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .contract import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from .errors import DomainError
from .record import CALL_TYPES, DIRECTIONS, STATUSES, normal_number
from .timestamps import parse_exact

QUERY_PARAMETERS: Final = ("callType", "status", "startAt", "endAt", "offset", "limit", "number")
STATS_PARAMETERS: Final = (
    "startAt",
    "endAt",
    "callType",
    "status",
    "callDirection",
    "groupBy",
    "tz",
)
# docs/api.md#statistics: what a statistics request may group by.
TIME_GROUPS: Final = ("day", "hour", "week", "month", "hourOfDay", "weekday")
FIELD_GROUPS: Final = ("status", "callType", "callDirection", "agent", "department")
GROUPS: Final = (*TIME_GROUPS, *FIELD_GROUPS)
NUMBER_MAX_LENGTH: Final = 256
INGEST_PARAMETERS: Final = ("ignoreUnknown",)  # POST's only one: drop keys the model does not know
OFFSET_MAX: Final = 2**53  # beyond any store's row count; keeps SQL integers in range
_INTEGER = re.compile(r"-?[0-9]{1,30}\Z")  # ASCII digits only (\d would take any script's)
# "+08:00" arrives as " 08:00" when a client leaves the "+" unencoded in the query string.
_UNENCODED_PLUS = re.compile(r"(.*\d) (\d\d:\d\d)\Z")


class QueryError(DomainError):
    """A query parameter breaks a rule of docs/api.md#reading-call-details; the message names it."""


@dataclass(frozen=True)
class PageQuery:
    """One page of an app's records in (callDate, id) order, checked."""

    call_type: str | None = None  # one of record.CALL_TYPES; None: all
    status: str | None = None  # one of record.STATUSES; None: all
    start_ms: int | None = None  # callDate >= start
    end_ms: int | None = None  # callDate < end
    offset: int = 0
    limit: int = PAGE_LIMIT_DEFAULT
    number: str | None = None  # caller or callee, as record.normal_number makes it; None: any


@dataclass(frozen=True)
class StatsQuery:
    """A statistics request (docs/api.md#statistics), checked."""

    call_type: str | None = None
    status: str | None = None
    call_direction: str | None = None  # one of record.DIRECTIONS; None: both
    start_ms: int | None = None  # callDate >= start
    end_ms: int | None = None  # callDate < end
    group_by: str | None = None  # one of GROUPS; None: one total row
    tz: str = "UTC"  # an IANA zone: where the time groups' days and hours are

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(frozen=True)
class CallFilters:
    """A filter set as given, before it is checked: the same object from the options or arguments
    to the query string of the request."""

    call_type: str | None = None
    status: str | None = None
    start_at: str | None = None  # RFC3339, any offset
    end_at: str | None = None
    offset: int = 0
    limit: int | None = None  # None: the server's default
    number: str | None = None

    def params(self) -> list[tuple[str, str]]:
        """The query string's (name, value) pairs: only what was given."""
        pairs = [
            ("callType", self.call_type),
            ("status", self.status),
            ("startAt", self.start_at),
            ("endAt", self.end_at),
            ("offset", str(self.offset)),
            ("limit", None if self.limit is None else str(self.limit)),
            ("number", self.number),
        ]
        return [(name, value) for name, value in pairs if value is not None]

    def stats_params(
        self, call_direction: str | None, group_by: str | None, tz: str | None
    ) -> list[tuple[str, str]]:
        """A statistics request's query string for these filters (offset, limit and number are
        not statistics' filters)."""
        pairs = [
            ("startAt", self.start_at),
            ("endAt", self.end_at),
            ("callType", self.call_type),
            ("status", self.status),
            ("callDirection", call_direction),
            ("groupBy", group_by),
            ("tz", tz),
        ]
        return [(name, value) for name, value in pairs if value is not None]

    def checked(self) -> PageQuery:
        """The filters checked by the contract's rules; QueryError names what is wrong."""
        return parse_call_query(self.params())

    def at(self, offset: int) -> CallFilters:
        return dataclasses.replace(self, offset=offset)


def _integer(name: str, text: str) -> int:
    if _INTEGER.match(text) is None:
        raise QueryError(f"invalid {name}: {text!r} is not an integer")
    return int(text)


def _instant(name: str, text: str) -> Fraction:
    """The bound exactly, in epoch milliseconds: every digit of its fraction counts."""
    repaired = _UNENCODED_PLUS.sub(r"\1+\2", text)
    try:
        return parse_exact(repaired)
    except ValueError as exc:
        raise QueryError(f"invalid {name}: {text!r}: {exc}") from None


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str | None:
    if not value:  # empty means all
        return None
    if value not in allowed:
        raise QueryError(f"invalid {name}: {value!r} (one of {', '.join(allowed)})")
    return value


def _named(pairs: Iterable[tuple[str, str]], known: tuple[str, ...]) -> dict[str, str]:
    """The query's parameters by name: each known, and given once."""
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise QueryError(f"invalid query: {name}{hint}")
        if name in given:
            raise QueryError(f"invalid query: {name} given more than once")
        given[name] = value
    return given


def parse_ingest_query(pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether a POST asks to drop unknown keys (`ignoreUnknown=true`)."""
    value = _named(pairs, INGEST_PARAMETERS).get("ignoreUnknown", "false")
    if value not in ("true", "false"):
        raise QueryError(f"invalid ignoreUnknown: {value!r} (true or false)")
    return value == "true"


# `uuid`: FreeSWITCH's mod_json_cdr appends `?uuid=<leg uuid>` to its url (`?uuid` when the
# configured url already ends with `...&`); it is not used.
SOURCE_PARAMETERS: Final = ("internal", "tz", "uuid", "?uuid")


def parse_source_query(pairs: Iterable[tuple[str, str]]) -> tuple[str | None, str | None]:
    """(internal, tz) of a source's ingest POST (docs/sources/README.md); others refused."""
    given = _named(pairs, SOURCE_PARAMETERS)
    return given.get("internal") or None, given.get("tz") or None


def _window(given: dict[str, str]) -> tuple[int | None, int | None]:
    """[startAt, endAt) in whole epoch milliseconds."""
    start = _instant("startAt", given["startAt"]) if "startAt" in given else None
    end = _instant("endAt", given["endAt"]) if "endAt" in given else None
    if start is not None and end is not None and end < start:
        raise QueryError("endAt is prior to startAt")
    # Records are filed at whole milliseconds: callDate >= t and callDate < t both hold exactly
    # when they hold for t rounded up to its millisecond.
    return (None if start is None else math.ceil(start)), (None if end is None else math.ceil(end))


def _number(text: str) -> str | None:
    """The number to search for, compared as stored (record.normal_number); "" means any."""
    number = normal_number(text)
    if not text:
        return None
    if not number or len(number) > NUMBER_MAX_LENGTH or not number.isprintable():
        raise QueryError(
            f"invalid number: {text!r} (a phone number: digits, with spaces, dashes and a"
            f" leading + ignored; at most {NUMBER_MAX_LENGTH} characters)"
        )
    return number


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(
            f"invalid tz: {text!r} (an IANA time zone such as UTC or Asia/Hong_Kong)"
        ) from None
    return text


def parse_stats_query(pairs: Iterable[tuple[str, str]]) -> StatsQuery:
    """A StatsQuery from the query string's (name, value) pairs (or a mapping's items)."""
    given = _named(pairs, STATS_PARAMETERS)
    start, end = _window(given)
    return StatsQuery(
        call_type=_one_of("callType", given.get("callType", ""), CALL_TYPES),
        status=_one_of("status", given.get("status", ""), STATUSES),
        call_direction=_one_of("callDirection", given.get("callDirection", ""), DIRECTIONS),
        start_ms=start,
        end_ms=end,
        group_by=_one_of("groupBy", given.get("groupBy", ""), GROUPS),
        tz=_zone(given.get("tz") or "UTC"),
    )


def parse_call_query(pairs: Iterable[tuple[str, str]]) -> PageQuery:
    """A PageQuery from the query string's (name, value) pairs, in any order."""
    given = _named(pairs, QUERY_PARAMETERS)

    call_type = _one_of("callType", given.get("callType", ""), CALL_TYPES)
    status = _one_of("status", given.get("status", ""), STATUSES)
    start, end = _window(given)

    offset = _integer("offset", given["offset"]) if "offset" in given else 0
    if offset < 0:
        raise QueryError("negative offset")
    if offset > OFFSET_MAX:
        raise QueryError(f"offset too large: at most {OFFSET_MAX}")

    limit = _integer("limit", given["limit"]) if "limit" in given else PAGE_LIMIT_DEFAULT
    if limit > PAGE_LIMIT_MAX:
        raise QueryError(f"exceed maximum limit {PAGE_LIMIT_MAX}")
    if limit < 1:
        raise QueryError("limit must be at least 1")

    return PageQuery(call_type, status, start, end, offset, limit, _number(given.get("number", "")))
