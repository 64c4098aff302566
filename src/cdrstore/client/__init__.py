"""A client for the call-detail API: cdrstore's, or any CINNOX-compatible server's (docs/client.md).

    from cdrstore.client import Client
    with Client("http://127.0.0.1:8080", "demo", token) as client:
        page = client.list_calls(status="Busy", start_at=datetime(2026, 9, 1, tzinfo=UTC), limit=500)
        for call in client.iter_calls(call_type="offnet"):   # every page, lazily
            print(call.id, call.call_datetime())
        client.ingest(records)                               # cdrstore's POST extension
        for row in client.call_stats(group_by="day", tz="Asia/Hong_Kong"):  # an extension
            print(row.key, row.calls, row.asr)

`AsyncClient` has the same methods, awaitable (`iter_calls` is an async iterator). Only the
reference API is relied on (offset paging, stopping on a short page); cdrstore's `Link: rel="next"`
is followed when a server sends it. Records come back as `record.Record` (keys as served; unknown
keys from other servers are ignored); `call_datetime()`/`call_end_datetime()` give aware datetimes.

Errors: one tree mirroring the contract's error table, drawn in `client/errors.py`.

Retries: 429, 5xx and connection errors are retried with exponential backoff and full jitter,
waiting at least what `Retry-After` says, up to `max_retries` times and `max_wait` seconds in all;
other 4xx never. The token is never part of a repr, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

import httpx
import msgspec

from ..contract import PAGE_LIMIT_MAX, call_detail_path, call_stats_path
from ..query import CallFilters
from ..record import IngestSummary, Record
from ..statistics import StatsBody, StatsRow
from ..timestamps import format_timestamp
from .errors import (
    ApiError,
    AuthenticationError,
    CdrstoreError,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    error_for,
    retry_after,
)

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_MAX_RETRIES: Final = 4
DEFAULT_MAX_WAIT: Final = 60.0
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_JSON_BODY: Final = {"Content-Type": "application/json"}


class ServedRecord(Record, forbid_unknown_fields=False, gc=False):
    """A record as a server serves it; keys this model does not know are ignored."""


class _Page(msgspec.Struct):
    result: list[msgspec.Raw]
    code: int = 0


_PAGE = msgspec.json.Decoder(_Page)
_STATS = msgspec.json.Decoder(StatsBody)
_RECORD = msgspec.json.Decoder(ServedRecord)


def decode_served(raw: bytes | msgspec.Raw) -> ServedRecord:
    """One served record, typed; nulls from servers that send them read as absent values."""
    try:
        return _RECORD.decode(raw)
    except msgspec.ValidationError:
        data = msgspec.json.decode(raw)
        cleaned = _drop_nulls(data)
        return msgspec.convert(cleaned, ServedRecord)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _instant(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("datetime filters must be timezone-aware")
    return format_timestamp(int(value.timestamp() * 1000))


def call_filters(
    call_type: str | None = None,
    status: str | None = None,
    start_at: datetime | str | None = None,
    end_at: datetime | str | None = None,
    offset: int = 0,
    limit: int | None = None,
    number: str | None = None,
) -> CallFilters:
    """The filters of the client's keyword arguments (datetimes must be timezone-aware)."""
    return CallFilters(
        call_type, status, _instant(start_at), _instant(end_at), offset, limit, number
    )


def stats_params(
    group_by: str | None = None,
    tz: str | None = None,
    call_type: str | None = None,
    status: str | None = None,
    call_direction: str | None = None,
    start_at: datetime | str | None = None,
    end_at: datetime | str | None = None,
) -> list[tuple[str, str]]:
    """The query string of a statistics request from the client's keyword arguments."""
    filters = call_filters(call_type, status, start_at, end_at)
    return filters.stats_params(call_direction, group_by, tz)


def _next_link(response: httpx.Response) -> str | None:
    link = response.links.get("next")
    return str(response.url.join(link["url"])) if link and link.get("url") else None


class _Walk:
    """Where the next page of a walk is: the server's `Link: rel="next"` when it sends one, else
    the next offset; a page shorter than the limit is the last (the reference API's only rule)."""

    def __init__(self, path: str, filters: CallFilters) -> None:
        self.path = path
        self.filters = (
            filters if filters.limit is not None else replace(filters, limit=PAGE_LIMIT_MAX)
        )
        self.url = path
        self.params: list[tuple[str, str]] | None = self.filters.params()

    def advance(self, got: int, link: str | None) -> bool:
        """Move past a page of `got` records; False when that page was the last."""
        if got < (self.filters.limit or PAGE_LIMIT_MAX):
            return False
        self.filters = self.filters.at(self.filters.offset + got)
        if link is not None:
            self.url, self.params = link, None
        else:
            self.url, self.params = self.path, self.filters.params()
        return True


class _Retry:
    """Backoff bookkeeping shared by both clients."""

    def __init__(self, max_retries: int, max_wait: float) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.attempt = 0
        self.waited = 0.0

    def delay(self, retry_after: float | None) -> float | None:
        """Seconds to wait before the next try, or None to give up."""
        if self.attempt >= self.max_retries:
            return None
        backoff = random.uniform(0, min(8.0, 0.25 * 2**self.attempt))
        wait = max(backoff, retry_after or 0.0)
        if self.waited + wait > self.max_wait:
            return None
        self.attempt += 1
        self.waited += wait
        return wait


def _settle(
    retry: _Retry,
    method: str,
    base_url: str,
    response: httpx.Response | None,
    failure: Exception | None,
) -> float:
    """Seconds to wait before trying again; raises the error to give up with."""
    if response is None:
        wait = retry.delay(None)
        if wait is None:
            raise TransportError(f"{method} {base_url}: {type(failure).__name__}") from None
        return wait
    error = error_for(response)
    retryable = response.status_code in _RETRY_STATUSES
    wait = retry.delay(retry_after(response)) if retryable else None
    if wait is None:
        raise error
    return wait


class _Base(ABC):
    def __init__(
        self,
        base_url: str,
        app_id: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        transport: Any = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.__token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.path = call_detail_path(app_id)
        self.stats_path = call_stats_path(app_id)
        self._http = self._open(transport)

    @abstractmethod
    def _open(self, transport: Any) -> Any:
        """The httpx client requests go through (a test may hand in its own transport)."""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__token}", "accept": "application/json"}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, app_id={self.app_id!r}, token=***)"
        )

    @staticmethod
    def _ingest_body(records: Iterable[Record | Mapping[str, Any]]) -> bytes:
        return msgspec.json.encode(list(records))


class Client(_Base):
    """Synchronous client (httpx). Use as a context manager, or call `close()`."""

    _http: httpx.Client

    def _open(self, transport: httpx.BaseTransport | None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=self.timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        retry = _Retry(self.max_retries, self.max_wait)
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        while True:
            try:
                response = self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                time.sleep(_settle(retry, method, self.base_url, None, exc))
                continue
            if response.status_code < 400:
                return response
            time.sleep(_settle(retry, method, self.base_url, response, None))

    def _page(
        self, url: str, params: list[tuple[str, str]] | None
    ) -> tuple[list[msgspec.Raw], str | None]:
        response = self._send("GET", url, params=params)
        return _PAGE.decode(response.content).result, _next_link(response)

    def page_raw(self, filters: CallFilters) -> list[bytes]:
        """One page's records as served (JSON), for these filters."""
        raws, _ = self._page(self.path, filters.params())
        return [bytes(raw) for raw in raws]

    def iter_raw(self, filters: CallFilters) -> Iterator[bytes]:
        """Every matching record's JSON, page by page (limit 500 unless given), lazily."""
        walk = _Walk(self.path, filters)
        while True:
            raws, link = self._page(walk.url, walk.params)
            for raw in raws:
                yield bytes(raw)
            if not walk.advance(len(raws), link):
                return

    def list_calls(self, **filters: Any) -> list[ServedRecord]:
        """One page (default limit: the server's, 100 on cdrstore)."""
        return [decode_served(raw) for raw in self.page_raw(call_filters(**filters))]

    def iter_calls(self, **filters: Any) -> Iterator[ServedRecord]:
        """Every matching record, page by page (limit 500 unless given), lazily."""
        for raw in self.iter_raw(call_filters(**filters)):
            yield decode_served(raw)

    def ingest(self, records: Iterable[Record | Mapping[str, Any]]) -> IngestSummary:
        """POST records (cdrstore's extension); safe to retry: a known id replaces its record."""
        response = self._send(
            "POST", self.path, content=self._ingest_body(records), headers=_JSON_BODY
        )
        return msgspec.convert(msgspec.json.decode(response.content)["result"], IngestSummary)

    def call_stats(self, **query: Any) -> list[StatsRow]:
        """Call statistics (cdrstore's extension, docs/api.md#statistics): keyword arguments
        group_by, tz, call_type, status, call_direction, start_at, end_at; one row a group."""
        response = self._send("GET", self.stats_path, params=stats_params(**query))
        return _STATS.decode(response.content).result


class AsyncClient(_Base):
    """The asynchronous twin of `Client`."""

    _http: httpx.AsyncClient

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        retry = _Retry(self.max_retries, self.max_wait)
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        while True:
            try:
                response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                await asyncio.sleep(_settle(retry, method, self.base_url, None, exc))
                continue
            if response.status_code < 400:
                return response
            await asyncio.sleep(_settle(retry, method, self.base_url, response, None))

    async def list_calls(self, **filters: Any) -> list[ServedRecord]:
        response = await self._send("GET", self.path, params=call_filters(**filters).params())
        return [decode_served(raw) for raw in _PAGE.decode(response.content).result]

    async def iter_calls(self, **filters: Any) -> AsyncIterator[ServedRecord]:
        walk = _Walk(self.path, call_filters(**filters))
        while True:
            response = await self._send("GET", walk.url, params=walk.params)
            raws = _PAGE.decode(response.content).result
            for raw in raws:
                yield decode_served(raw)
            if not walk.advance(len(raws), _next_link(response)):
                return

    async def ingest(self, records: Iterable[Record | Mapping[str, Any]]) -> IngestSummary:
        response = await self._send(
            "POST", self.path, content=self._ingest_body(records), headers=_JSON_BODY
        )
        return msgspec.convert(msgspec.json.decode(response.content)["result"], IngestSummary)

    async def call_stats(self, **query: Any) -> list[StatsRow]:
        response = await self._send("GET", self.stats_path, params=stats_params(**query))
        return _STATS.decode(response.content).result


__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "CdrstoreError",
    "Client",
    "InvalidRequest",
    "PermissionDenied",
    "RateLimited",
    "ServedRecord",
    "ServerError",
    "StatsRow",
    "TransportError",
    "call_filters",
]
