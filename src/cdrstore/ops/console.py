"""The web console's operations: sign in with a token, find and end the session, read a page of
calls and export them. The console calls these as the API calls its own (the same `read_page` and
`export_docs` underneath), so that what it shows is what the API serves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Final

import msgspec

from ..errors import Forbidden, Unauthenticated
from ..query import PageQuery, StatsQuery
from ..store import Page, SessionInfo, Store
from .accounts import InvalidAccount, authenticate, authorize, check_app_id
from .records import export_docs
from .stats import call_stats

SESSION_SECONDS: Final = 12 * 3600  # a working day: then sign in again


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def sign_in(store: Store, app_id: str, secret: str) -> str:
    """A new session for a token of this app with the `read` scope: its random id, which only the
    browser keeps (the database keeps its hash). Unauthenticated or Forbidden say why not."""
    try:
        check_app_id(app_id)
    except InvalidAccount:  # no token is valid for an app that cannot exist
        raise Forbidden("token is not valid for this app") from None
    token = authenticate(store, secret.strip())
    authorize(token, app_id, "read")
    session_id = secrets.token_urlsafe(32)
    now = int(time.time())
    store.sessions.add(
        _session_hash(session_id), app_id, token.token_id, now, now + SESSION_SECONDS
    )
    return session_id


def current_session(store: Store, session_id: str) -> SessionInfo:
    """The live session with this id; Unauthenticated once it ended, ran out or its token did."""
    if not session_id:
        raise Unauthenticated("not signed in", presented=False)
    found = store.sessions.find(_session_hash(session_id), int(time.time()))
    if found is None:
        raise Unauthenticated("session ended: sign in again")
    return found


def sign_out(store: Store, session_id: str) -> None:
    if session_id:
        store.sessions.remove(_session_hash(session_id))


class _Direction(msgspec.Struct):
    callDirection: str = ""


_direction_of = msgspec.json.Decoder(_Direction).decode


def _matching(docs: Iterator[bytes], direction: str | None) -> Iterator[bytes]:
    if direction is None:
        yield from docs
        return
    for doc in docs:
        if _direction_of(doc).callDirection == direction:
            yield doc


def _hour_of(key: str) -> int:
    """The epoch milliseconds of an hourly statistics key (`YYYY-MM-DDTHH`, in UTC)."""
    return int(dt.datetime.fromisoformat(key + ":00+00:00").timestamp() * 1000)


def _seek(
    store: Store, app_id: str, query: PageQuery, direction: str
) -> tuple[int | None, int] | None:
    """Where a page of one direction at a deep offset starts reading: (from this instant, skip
    this many of the direction's calls). The hourly statistics (kept at ingest, exact at the
    window's edges) say in which hour the offset falls, so that only that hour is read through."""
    hours = call_stats(
        store,
        app_id,
        StatsQuery(
            call_type=query.call_type,
            status=query.status,
            call_direction=direction,
            start_ms=query.start_ms,
            end_ms=query.end_ms,
            group_by="hour",
        ),
    )
    before = 0
    for row in hours:
        if before + row.calls > query.offset:
            start = _hour_of(str(row.key))
            return max(start, query.start_ms or start), query.offset - before
        before += row.calls
    return None  # past the last call


def call_page(store: Store, app_id: str, query: PageQuery, direction: str | None = None) -> Page:
    """One page of the app's calls, as the API's GET gives it; with a direction, the same order
    and offsets counted among the calls of that direction: the page's hour found from the hourly
    statistics, then read through (a number search, being narrow, is read through from its
    start)."""
    if direction is None:
        return store.records.page(app_id, query)
    start_ms, skip = query.start_ms, query.offset
    if query.offset and query.number is None:
        found = _seek(store, app_id, query, direction)
        if found is None:
            return Page([], False)
        start_ms, skip = found
    scan = dataclasses.replace(query, offset=0, start_ms=start_ms)
    docs: list[bytes] = []
    skipped = 0
    for doc in _matching(store.records.iter_docs(app_id, scan), direction):
        if skipped < skip:
            skipped += 1
            continue
        docs.append(doc)
        if len(docs) > query.limit:
            break
    return Page(docs[: query.limit], len(docs) > query.limit)


def export_calls(
    store: Store, app_id: str, query: PageQuery, direction: str | None = None
) -> Iterator[bytes]:
    """Every call matching the filters (from the first, whatever the query's offset), streamed."""
    return _matching(export_docs(store, app_id, dataclasses.replace(query, offset=0)), direction)
