"""Ten times the data: the same figures on a store of `--base` records and on one `--factor` times
larger, side by side, on each backend (`make bench-10m`: 1,000,000 and 10,000,000).

    python -m bench.scale [--base 1000000] [--factor 10] [--backend sqlite --backend postgresql]
                          [--repeat 30]

Both stores come from bench.stores (built part by part, resumable: run it again after a stop and it
goes on with the part it was in); the larger one is `factor` parts of `base` records, each part the
60 days after the one before, so it holds a history ten times longer. Printed for each store:
- import rate: `cdrstore import` of one part of `base` records; for the larger store the first part
  (into an empty store) and the last (into a store holding all the others);
- page latency, ms, median of `--repeat`, in process (the store's page and its body, no HTTP) and
  over HTTP (one client, one worker), for 500-record pages of the whole history at offset 0 and
  offset `base` (on the smaller store, which holds only `base`, its last full page instead), and
  in process the first page of one status and of one callType (each merged from the ranges of the
  one filter index, on PostgreSQL over every monthly partition);
- the app's record count, and the count of one status in a 51-day window, both from the per-hour
  counts (what a deep page's seek sums);
- the statistics API (`GET .../call-stats`, the whole answer without HTTP: `ops.stats.call_stats`
  and its body) for the same 51-day window by day, by hour and by agent in Asia/Kolkata (+05:30:
  the half-hour buckets), and over the whole history by month (ten times the months on the
  larger store: it grows with them, by design).
Then the ratio larger / smaller for each figure (the target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.stores import APP, PATH, BenchStore, window_query
from cdrstore.contract import page_body
from cdrstore.ops.stats import call_stats, stats_body
from cdrstore.query import parse_call_query, parse_stats_query
from cdrstore.store import open_store
from cdrstore.store.paging import bucket_of
from cdrstore.store.sql import bucket_counts
from cdrstore.testing import live_server


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def figures(store: BenchStore, deep: int, repeat: int) -> dict[str, float]:
    """Every figure of one store, by name."""
    rates = store.progress()
    out = {
        "import, first part, records/s": rates["0"],
        "import, last part, records/s": rates[str(len(rates) - 1)],
    }
    opened = open_store(store.url)
    offsets = {"offset 0": 0, "deep offset": min(deep, store.records - 500)}
    queries = {
        name: parse_call_query([("offset", str(offset)), ("limit", "500")])
        for name, offset in offsets.items()
    }
    for label, filtered in (
        ("one status", ("status", "Busy")),
        ("one callType", ("callType", "smartcall")),
    ):
        queries[f"{label}, offset 0"] = parse_call_query([filtered, ("limit", "500")])
    for name, query in queries.items():
        out[f"page, {name}, in process, ms"] = median_ms(
            lambda q=query: page_body(opened.records.page(APP, q).docs), repeat
        )
    out["count of the app's records, ms"] = median_ms(
        lambda: opened.records.count_records(APP), repeat
    )
    window = parse_call_query(
        [(k, v) for k, v in (p.split("=") for p in window_query(0, 51).split("&"))]
        + [("status", "Busy"), ("offset", "0"), ("limit", "1")]
    )
    assert window.start_ms is not None and window.end_ms is not None
    records: Any = opened.records

    def status_count() -> int:
        with records._reading() as cursor:
            return sum(
                n
                for _, n in bucket_counts(
                    records._streaming_cursor(cursor),
                    APP,
                    window,
                    bucket_of(window.start_ms),
                    bucket_of(window.end_ms),
                    records.mark,
                )
            )

    out["count of one status in a 51-day window, ms"] = median_ms(status_count, repeat)
    window_params = [tuple(p.split("=")) for p in window_query(0, 51).split("&")]
    for label, params in (
        ("51-day window by day", [*window_params, ("groupBy", "day")]),
        ("51-day window by hour", [*window_params, ("groupBy", "hour")]),
        ("51-day window by agent", [*window_params, ("groupBy", "agent")]),
        ("whole history by month", [("groupBy", "month")]),
    ):
        query = parse_stats_query([*params, ("tz", "Asia/Kolkata")])
        out[f"call-stats, {label}, ms"] = median_ms(
            lambda q=query: stats_body(call_stats(opened, APP, q)), repeat
        )
    opened.close()
    headers = {"Authorization": f"Bearer {store.token}"}
    with (
        live_server(store.url, workers=1) as base,
        httpx.Client(base_url=base, headers=headers) as client,
    ):
        for name, offset in offsets.items():
            out[f"page, {name}, HTTP, ms"] = median_ms(
                lambda o=offset: client.get(f"{PATH}?offset={o}&limit=500").raise_for_status(),
                repeat,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--base", type=int, default=1_000_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    for backend in args.backend or ["sqlite", "postgresql"]:
        small = BenchStore(backend, args.base, args.base)
        large = BenchStore(backend, args.base * args.factor, args.base)
        small.build()
        large.build()
        before = figures(small, args.base, args.repeat)
        after = figures(large, args.base, args.repeat)
        print(
            f"\n{backend}: {args.base:,} records beside {args.base * args.factor:,}"
            f" (deep offset {args.base:,}; on the smaller store its last full page)"
        )
        print(f"{'':46} {args.base:>12,} {args.base * args.factor:>12,}  ratio")
        for name, value in before.items():
            ratio = after[name] / value
            if "records/s" in name:
                ratio = value / after[name]  # slower is higher, as for times
            print(f"{name:46} {value:12,.2f} {after[name]:12,.2f}  {ratio:5.2f}x")


if __name__ == "__main__":
    main()
