"""What compressed pages cost and save: req/s and bytes a response, identity beside gzip and zstd.

    python -m bench.compression [--backend sqlite|postgresql] [--records 1000000] [--seconds 15]
                                [--rounds 3]

On a store of bench.stores, 2 server workers, `wrk -t2 -c8`, the 500-record page of a 51-day window,
with `Accept-Encoding` absent (identity), `gzip` and `zstd`, interleaved; medians over rounds. The
levels are the server's (api/compression.py); the per-level cost of compressing one page in
process is printed first, which is how the levels were chosen.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time

from backports import zstd

from bench.reads import SCENARIOS, pairs
from bench.stores import APP, PATH, BenchStore
from bench.tools import WrkResult, wrk
from cdrstore.contract import page_body
from cdrstore.query import parse_call_query
from cdrstore.store import open_store
from cdrstore.testing import live_server

ENCODINGS = ("identity", "gzip", "zstd")


def level_costs(url: str) -> None:
    store = open_store(url)
    body = page_body(
        store.records.page(APP, parse_call_query(pairs(SCENARIOS["window page"]))).docs
    )
    store.close()
    print(f"one window page, {len(body):,} bytes; compressing it in process (median of 30):")
    coders = [(f"gzip {n}", lambda b, n=n: gzip.compress(b, compresslevel=n)) for n in (1, 3, 6, 9)]
    coders += [(f"zstd {n}", lambda b, n=n: zstd.compress(b, level=n)) for n in (1, 3, 9)]
    for name, coder in coders:
        times = []
        for _ in range(30):
            start = time.perf_counter()
            out = coder(body)
            times.append(time.perf_counter() - start)
        print(
            f"  {name:7} {statistics.median(times) * 1000:6.2f} ms, {len(out):9,} bytes"
            f" ({len(body) / len(out):.1f}x smaller)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compression", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store = BenchStore(args.backend, args.records, min(args.records, 1_000_000))
    store.build()
    level_costs(store.url)
    url_path = f"{PATH}?{SCENARIOS['window page']}"
    results: dict[str, list[WrkResult]] = {e: [] for e in ENCODINGS}
    with live_server(store.url, workers=2) as base:
        wrk(base + url_path, 2, {"Authorization": f"Bearer {store.token}"})
        for _ in range(args.rounds):
            for encoding in ENCODINGS:
                headers = {"Authorization": f"Bearer {store.token}"}
                if encoding != "identity":
                    headers["Accept-Encoding"] = encoding
                results[encoding].append(wrk(base + url_path, args.seconds, headers))
                r = results[encoding][-1]
                print(f"  {encoding}: {r.requests_per_s:.1f} req/s", flush=True)
    print(
        f"\n{args.backend}, {args.records:,} records, window page, 2 workers, wrk -t2 -c8"
        f" -d{args.seconds:.0f}s, medians of {args.rounds} interleaved rounds"
    )
    plain = statistics.median(r.requests_per_s for r in results["identity"])
    for encoding, runs in results.items():
        rps = statistics.median(r.requests_per_s for r in runs)
        size = statistics.median(r.bytes_per_s / r.requests_per_s for r in runs if r.requests_per_s)
        errors = sum(r.errors for r in runs)
        print(
            f"{encoding:9} {rps:7.1f} req/s ({rps / plain:.2f} of identity),"
            f" {size / 1024:7.1f} KiB a response on the wire, {errors} errors"
        )


if __name__ == "__main__":
    main()
