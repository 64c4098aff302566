"""The GET query string of spec section 1, checked: every malformed, out-of-range or unknown
parameter is refused with a message that names it, never silently ignored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from .contract import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from .record import CALL_TYPES, STATUSES, parse_timestamp
from .store import PageQuery

QUERY_PARAMETERS: Final = ("callType", "status", "startAt", "endAt", "offset", "limit")
OFFSET_MAX: Final = 2**53  # beyond any store's row count; keeps SQL integers in range
_INTEGER = re.compile(r"-?\d{1,30}\Z")
# "+08:00" arrives as " 08:00" when a client leaves the "+" unencoded in the query string.
_UNENCODED_PLUS = re.compile(r"(.*\d) (\d\d:\d\d)\Z")


class QueryError(ValueError):
    """A query parameter breaks a rule of spec section 1; the message names it."""


def _integer(name: str, text: str) -> int:
    if _INTEGER.match(text) is None:
        raise QueryError(f"invalid {name}: {text!r} is not an integer")
    return int(text)


def _instant(name: str, text: str) -> int:
    repaired = _UNENCODED_PLUS.sub(r"\1+\2", text)
    try:
        return parse_timestamp(repaired)
    except ValueError as exc:
        raise QueryError(f"invalid {name}: {text!r}: {exc}") from None


def parse_call_query(pairs: Iterable[tuple[str, str]]) -> PageQuery:
    """A PageQuery from the query string's (name, value) pairs, in any order."""
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in QUERY_PARAMETERS:
            raise QueryError(f"invalid query: {name}")
        if name in given:
            raise QueryError(f"invalid query: {name} given more than once")
        given[name] = value

    call_type = status = None
    if given.get("callType"):
        if given["callType"] not in CALL_TYPES:
            raise QueryError(
                f"invalid callType: {given['callType']!r} (one of {', '.join(CALL_TYPES)})"
            )
        call_type = CALL_TYPES.index(given["callType"])
    if given.get("status"):
        if given["status"] not in STATUSES:
            raise QueryError(f"invalid status: {given['status']!r} (one of {', '.join(STATUSES)})")
        status = STATUSES.index(given["status"])

    start = _instant("startAt", given["startAt"]) if "startAt" in given else None
    end = _instant("endAt", given["endAt"]) if "endAt" in given else None
    if start is not None and end is not None and end < start:
        raise QueryError("endAt is prior to startAt")

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

    return PageQuery(call_type, status, start, end, offset, limit)
