"""An app's records: read a page, ingest a request body, export (docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..gcpause import gc_paused
from ..ingest.batch import parse_body
from ..query import PageQuery, parse_call_query
from ..store import IngestSummary, Page, Store
from .accounts import require_app


def read_page(
    store: Store, app_id: str, pairs: Iterable[tuple[str, str]]
) -> tuple[PageQuery, Page]:
    """The page a GET query string asks for (QueryError names what is wrong with it)."""
    query = parse_call_query(pairs)
    return query, store.records.page(app_id, query)


def ingest_body(
    store: Store, app_id: str, body: bytes, media_type: str, ignore_unknown: bool = False
) -> IngestSummary:
    """Validate a whole request body and store it in one transaction, or nothing."""
    with gc_paused():
        records = parse_body(body, media_type, ignore_unknown)
        return store.records.ingest(app_id, records)


def export_docs(store: Store, app_id: str, query: PageQuery) -> Iterator[bytes]:
    """Every record matching the query, from its offset on, streamed."""
    require_app(store, app_id)
    return store.records.iter_docs(app_id, query)
