"""The console's server time on a large store: the calls page and the dashboard, beside the API
requests that carry the same data (their floor: the console adds its rendering to them).

    python -m bench.console [--records 1000000] [--workdir bench/data] [--db URL] [--runs 15]

Builds (once, reused while `--workdir` keeps it) an SQLite store of `--records` synthetic CDRs
(synth.py) with `cdrstore import`, then times each scenario in process (the whole app through an
in-process ASGI client, no network), signed in as a browser would be. Prints the median and p95 in
ms beside the target (calls page 300 ms, dashboard 500 ms) and beside the API's own time for the
same data: for a calls page, the GET of the same 50 records; for the dashboard, the six call-stats
requests it makes. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from tests.support.postgres import create_postgres_database

from bench.__main__ import cli, write_ndjson
from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import open_store

APP = "bench"
CALLS_TARGET_MS = 300.0
DASHBOARD_TARGET_MS = 500.0
CALLS = "/v1/api/apps/bench/data/call-detail"
STATS = "/v1/api/apps/bench/data/call-stats"
WEEK = "from=2026-10-05&to=2026-10-11&tz=Asia/Hong_Kong"
WEEK_API = "startAt=2026-10-05T00:00:00%2B08:00&endAt=2026-10-12T00:00:00%2B08:00"
# (name, console query, the API requests that carry the same data)
CALLS_PAGES = [
    ("first page", "", [f"{CALLS}?limit=50"]),
    ("page at offset 100,000", "offset=100000", [f"{CALLS}?offset=100000&limit=50"]),
    (
        "status + type, offset 10,000",
        "status=Busy&callType=offnet&offset=10000",
        [f"{CALLS}?status=Busy&callType=offnet&offset=10000&limit=50"],
    ),
    ("a week in Hong Kong", WEEK, [f"{CALLS}?{WEEK_API}&limit=50"]),
    ("direction Inbound, first page", "callDirection=Inbound", [f"{CALLS}?limit=100"]),
    (
        "direction Inbound, offset 10,000",
        "callDirection=Inbound&offset=10000",
        [f"{CALLS}?offset=20000&limit=100"],
    ),
]
GROUPS = ("", "hour", "callDirection", "callType", "agent", "department")


def _stats(api: str, tz: str) -> list[str]:
    return [
        f"{STATS}?{'&'.join(p for p in (api, f'groupBy={g}' if g else '', f'tz={tz}') if p)}"
        for g in GROUPS
    ]


DASHBOARDS = [
    ("all 60 days", "", _stats("", "UTC")),
    ("a week in Hong Kong", WEEK, _stats(WEEK_API, "Asia/Hong_Kong")),
    (
        "all, Inbound, offnet",
        "callDirection=Inbound&callType=offnet",
        _stats("callDirection=Inbound&callType=offnet", "UTC"),
    ),
]


def timed(runs: int, request: Any) -> list[float]:
    request()  # warm
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        request()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _reachable(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def build(workdir: Path, records: int, db: str | None) -> tuple[str, str]:
    """The database (built unless it holds the records) and a read token."""
    url = db or f"sqlite:///{workdir / f'console-{records}.db'}"
    if url.startswith("postgres") and not _reachable(url):
        create_postgres_database(url)
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
    cli("db", "upgrade", env=env)
    store = open_store(url)
    try:
        held = store.records.count_records(APP) if store.accounts.get_app(APP) else 0
    finally:
        store.close()
    if held != records:
        source = workdir / f"synth-{records}-seed1.ndjson"
        write_ndjson(source, records, 1)
        if held == 0:
            cli("apps", "create", "Bench", "--id", APP, env=env)
        print(f"importing {records:,} records ...", flush=True)
        cli("import", "--app", APP, str(source), env=env)
    token = cli("tokens", "create", "--app", APP, "--scope", "read", env=env).stdout.strip()
    return url, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    parser.add_argument(
        "--db",
        help="a database URL to use instead (postgresql://...: created if missing); the records"
        " are imported unless it already holds them",
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # one access line a request would drown the figures
    args.workdir.mkdir(parents=True, exist_ok=True)
    url, token = build(args.workdir, args.records, args.db)
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    store = open_store(url)
    app = create_app(Settings(url, rate_limit_per_minute=0), store)
    auth = {"Authorization": f"Bearer {token}"}
    print(
        f"cdrstore console benchmark: {args.records:,} records, {backend}, {os.cpu_count()} cores,"
        f" {args.runs} runs each; ms, median / p95; load average before:"
        f" {os.getloadavg()[0]:.1f}"
    )
    with TestClient(app) as client:
        signed = client.post("/console/sign-in", data={"appId": APP, "token": token})
        assert signed.status_code == 200, signed.text

        def show(path: str) -> None:
            r = client.get(path)
            assert r.status_code == 200 and 'id="app-id"' in r.text, (path, r.status_code)

        def ask(paths: list[str]) -> None:
            for path in paths:
                r = client.get(path, headers=auth)
                assert r.status_code == 200, (path, r.text)

        header = f"{'scenario':38} {'console':>17} {'target':>7} {'API, same data':>17}"
        for title, target, pages, prefix in (
            ("calls page (50 calls)", CALLS_TARGET_MS, CALLS_PAGES, "/console/?"),
            ("dashboard", DASHBOARD_TARGET_MS, DASHBOARDS, "/console/dashboard?"),
        ):
            print(f"\n## {title}\n{header}")
            for name, query, api in pages:
                console = timed(args.runs, lambda q=prefix + query: show(q))
                floor = timed(args.runs, lambda a=api: ask(a))
                print(
                    f"{name:38} {statistics.median(console):7.1f} / {p95(console):7.1f}"
                    f" {target:7.0f} {statistics.median(floor):7.1f} / {p95(floor):7.1f}",
                    flush=True,
                )
    store.close()


if __name__ == "__main__":
    main()
