"""An app's records: read a page, ingest a request body, export (docs/api.md)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

from ..gcpause import gc_paused
from ..ingest.batch import BatchValidator, parse_body
from ..ingest.sources import FORMATS, Policy
from ..ingest.sources.policy import PolicyError
from ..query import PageQuery, QueryError, parse_call_query
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
        summary = store.records.ingest(app_id, records)
        # Gone before the collector wakes: it would walk every record still held (20-60 ms a
        # 10,000-record body, each time).
        del records
    return summary


def source_policy(internal: str | None, tz: str | None) -> Policy:
    """The direction and time-zone policy a request names (QueryError when unusable)."""
    try:
        return Policy.from_options(internal, tz)
    except PolicyError as exc:
        raise QueryError(str(exc).replace("--", "", 1)) from None


def ingest_source_document(
    store: Store, app_id: str, format_name: str, document: bytes, policy: Policy
) -> IngestSummary:
    """One document in a CDR source's own format (docs/sources/), converted, validated like a
    POST and stored (BatchError when it cannot be); posting it again changes nothing."""
    source_format = FORMATS[format_name]
    with gc_paused():
        validator = BatchValidator()
        records = validator.validate(source_format.convert(io.BytesIO(document), "-", policy))
        validator.raise_if_invalid()
        summary = store.records.ingest(app_id, records)
        del records  # before the collector wakes (ingest_body)
    return summary


def export_docs(store: Store, app_id: str, query: PageQuery) -> Iterator[bytes]:
    """Every record matching the query, from its offset on, streamed."""
    require_app(store, app_id)
    return store.records.iter_docs(app_id, query)
