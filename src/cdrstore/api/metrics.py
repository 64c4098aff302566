"""Prometheus metrics: requests and their latency by route and status, records ingested, database
faults, webhook deliveries by outcome and the age of the oldest undelivered event. Served at `/metrics` only when enabled (`serve --metrics`, `CDRSTORE_METRICS=on`).

With several worker processes each writes its values to files in `PROMETHEUS_MULTIPROC_DIR`
(`cdrstore serve` makes one), and `/metrics`, whichever worker answers it, adds them all up.
"""

from __future__ import annotations

import os
from typing import Final

from litestar import Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from ..settings import MULTIPROC_DIR_ENV

UNMATCHED_ROUTE: Final = "unmatched"  # 404s and 405s: the raw path would make a value per URL
# Any other method is counted as "other": a label value per made-up method would have no end.
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS: Final = Counter(
    "cdrstore_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY: Final = Histogram(
    "cdrstore_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECORDS_INGESTED: Final = Counter(
    "cdrstore_records_ingested",
    "Records stored by ingest requests, by what became of them.",
    ["outcome"],  # inserted, updated, unchanged
)
DATABASE_ERRORS: Final = Counter(
    "cdrstore_database_errors",
    "Database faults met while answering requests.",
    ["kind"],  # unavailable (503), error (500)
)

WEBHOOK_DELIVERIES: Final = Counter(
    "cdrstore_webhook_deliveries",
    "Webhook delivery attempts, by kind of event and outcome.",
    ["kind", "outcome"],  # kind: call, recording; outcome: delivered, retried, failed
)
WEBHOOK_OLDEST_UNDELIVERED: Final = Gauge(
    "cdrstore_webhook_oldest_undelivered_seconds",
    "Age of the oldest event not yet delivered (0: none), as the delivering worker last saw it.",
    multiprocess_mode="livemax",  # only the worker holding the delivery lease sets it
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method if method in KNOWN_METHODS else "other", route or UNMATCHED_ROUTE, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def count_ingested(inserted: int, updated: int, unchanged: int) -> None:
    for outcome, n in (("inserted", inserted), ("updated", updated), ("unchanged", unchanged)):
        if n:
            RECORDS_INGESTED.labels(outcome).inc(n)


def count_webhook_attempt(kind: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(kind, outcome).inc()


def set_webhook_backlog(seconds: float) -> None:
    WEBHOOK_OLDEST_UNDELIVERED.set(seconds)


def _exposition() -> bytes:
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics() -> Response[bytes]:
    return Response(content=_exposition(), media_type=CONTENT_TYPE_LATEST)
