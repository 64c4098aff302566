"""What the change log costs ingest, and how fast the change feed reads, on one backend:

- ingest of the same synthetic records into a fresh app, with the change log and with its append
  switched off (in this process only: the benchmark replaces the append with nothing), rounds
  interleaved so that drift in the machine hits both alike; the ratio is the issue's "within 15%";
- the time spent inside the change log's own statements, as a share of each batch;
- the feed read rate, changes/s: in process (the operation and the body as served) and over HTTP
  (one `cdrstore serve` worker, pages of 1,000).

    python -m bench.changes [--records 50000] [--batch 1000] [--rounds 3] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.__main__ import fresh_database
from cdrstore.api.changes import changes_body
from cdrstore.contract import changes_path
from cdrstore.ops.accounts import ensure_app
from cdrstore.ops.changes import read_changes
from cdrstore.record import StoredRecord
from cdrstore.store import Store, changelog, open_store
from cdrstore.synth import generate
from cdrstore.testing import app_with_token, live_server
from cdrstore.validation import decode_record

FEED_PAGE = 1000


class Clock:
    """Seconds spent inside the wrapped functions."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def _log_functions(store: Store) -> list[tuple[Any, str]]:
    """(owner, name) of what appends to the change log on this store's backend."""
    if store.engine.dialect.name == "postgresql":
        from cdrstore.store.pgwriter import PostgresWriter

        return [(PostgresWriter, "_hold_changes"), (PostgresWriter, "log_changes")]
    return [(changelog, "append_changes")]


@contextmanager
def log_mode(store: Store, mode: str, clock: Clock) -> Iterator[None]:
    """`timed`: the append runs, its time counted; `off`: the append does nothing."""
    saved = [(owner, name, getattr(owner, name)) for owner, name in _log_functions(store)]
    try:
        for owner, name, fn in saved:
            setattr(owner, name, clock.wrap(fn) if mode == "timed" else (lambda *a, **k: None))
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def ingest_all(store: Store, app_id: str, batches: list[list[StoredRecord]]) -> float:
    ensure_app(store, app_id, app_id)
    start = time.perf_counter()
    for batch in batches:
        store.records.ingest(app_id, batch)
    return time.perf_counter() - start


def read_in_process(store: Store, app_id: str) -> tuple[int, float]:
    """(changes, seconds) to walk the app's whole feed through the operation, bodies built."""
    served, cursor = 0, None
    start = time.perf_counter()
    while True:
        pairs = [("limit", str(FEED_PAGE))] + ([("cursor", cursor)] if cursor else [])
        page = read_changes(store, app_id, pairs)
        changes_body(page)
        served += len(page.changes)
        cursor = page.cursor
        if not page.has_more:
            return served, time.perf_counter() - start


class _Feed(msgspec.Struct):
    result: list[msgspec.Raw]
    cursor: str
    hasMore: bool


def read_over_http(url: str, app_id: str, workdir: Path) -> tuple[int, float]:
    token = app_with_token(url, app_id, ("read",))
    served, cursor = 0, None
    with live_server(url, cwd=workdir) as base, httpx.Client(base_url=base) as http:
        headers = {"Authorization": f"Bearer {token}"}
        http.get(changes_path(app_id), params={"limit": 1}, headers=headers)  # warm
        start = time.perf_counter()
        while True:
            params = {"limit": str(FEED_PAGE), **({"cursor": cursor} if cursor else {})}
            response = http.get(changes_path(app_id), params=params, headers=headers)
            response.raise_for_status()
            feed = msgspec.json.decode(response.content, type=_Feed)
            served += len(feed.result)
            cursor = feed.cursor
            if not feed.hasMore:
                return served, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changes")
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="postgresql://.../DBNAME (dropped and made anew)")
    args = parser.parse_args()
    encoder = msgspec.json.Encoder()
    records = [decode_record(encoder.encode(r)) for r in generate(args.records, 5)]
    batches = [records[i : i + args.batch] for i in range(0, len(records), args.batch)]
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.db, Path(tmp), args.records)
        store = open_store(url)
        store.upgrade()
        ingest_all(store, "warm-up", batches[:5])  # caches, the file's first pages, partitions
        rates: dict[str, list[float]] = {"with": [], "without": []}
        shares: list[float] = []
        for round_ in range(args.rounds):  # interleaved, each mode first in turn
            for mode in ("with", "without") if round_ % 2 == 0 else ("without", "with"):
                clock = Clock()
                with log_mode(store, "timed" if mode == "with" else "off", clock):
                    seconds = ingest_all(store, f"{mode}-{round_}", batches)
                rates[mode].append(args.records / seconds)
                if mode == "with":
                    shares.append(clock.seconds / seconds)
        assert store.records.change_bounds("with-0") == (0, args.records)
        assert store.records.change_bounds("without-0") == (0, 0)
        in_process = read_in_process(store, "with-0")
        store.close()
        over_http = read_over_http(url, "with-0", Path(tmp))
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    with_log, without = statistics.median(rates["with"]), statistics.median(rates["without"])
    print(
        f"change log, {backend}, {args.records:,} synthetic records a round in batches of"
        f" {args.batch:,} (store.records.ingest, in process), median of {args.rounds} rounds"
    )
    print(f"ingest with the change log, records/s      {with_log:>10,.0f}")
    print(f"ingest without it (append off), records/s  {without:>10,.0f}")
    print(
        f"with / without                             {with_log / without:>10.2f}  (target >= 0.85)"
    )
    print(f"time inside the log's statements, share    {statistics.median(shares):>10.1%}")
    for mode, values in rates.items():
        print(f"  rounds, {mode:<7} records/s: " + ", ".join(f"{v:,.0f}" for v in values))
    for label, (n, seconds) in (("in process", in_process), ("over HTTP", over_http)):
        assert n == args.records, f"{label}: {n} changes read, {args.records} written"
        print(f"feed read {label:<11} pages of {FEED_PAGE:,}, changes/s {n / seconds:>10,.0f}")


if __name__ == "__main__":
    main()
