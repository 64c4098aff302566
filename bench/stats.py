"""cdrstore statistics benchmark: every groupBy and the number search on an N-record app, each
figure beside its target and its floor, on SQLite and PostgreSQL.

    python -m bench.stats [--records 1000000] [--backends sqlite,postgresql] [--workdir bench/data]

Builds the app once per backend with `cdrstore import` of synthetic CDRs (synth.py: 60 days, 60
agents in 5 departments) and keeps it in --workdir (SQLite) or the database
cdrstore_bench_stats_N (PostgreSQL) for the next run. Then prints, as medians of --repeat runs:
- each groupBy (and none) over all the app's calls, with the zone's days in UTC, Asia/Kolkata
  (+05:30) and America/New_York (summer time), and over a window whose edges cut buckets: the whole
  operation the API answers with (`ops.stats.call_stats`, plus encoding the body), the store's
  part of it (SQL and fetching), and the target (50 ms; 500 ms for agent and department);
- agent and department summed straight from the columns of `calls` (what answering without the
  day rollup would cost: the alternative measured, not used);
- a 100-record page of a busy number's calls (an agent's line) and of a rare one's, at offset 0 and
  deep, beside the same page without `number=` (target: at most 2x).
Each figure is the median of --repeat runs, with the fastest beside it (on a shared machine the
fastest is what the work costs with a core to itself). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.__main__ import cli, write_ndjson
from cdrstore.ops.stats import call_stats, stats_body
from cdrstore.query import GROUPS, parse_call_query, parse_stats_query
from cdrstore.store import Store, open_store

APP = "bench"
POSTGRES_ADMIN = os.environ.get(
    "CDRSTORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
STATS_TARGET_MS = 50.0
PARTY_TARGET_MS = 500.0
NUMBER_TARGET_RATIO = 2.0
# A window inside the 60 days whose edges fall mid-bucket (and mid-day).
WINDOW = [("startAt", "2026-09-10T12:34:56.789Z"), ("endAt", "2026-10-20T07:08:09.123Z")]


def timings_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median, fastest) of `repeat` runs after one to warm: on a shared machine the fastest says
    what the work costs when it has a core to itself."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples)


def shown(timing: tuple[float, float]) -> str:
    return f"{timing[0]:8.2f} ({timing[1]:7.2f})"


def postgres_url(records: int) -> str:
    from sqlalchemy.engine import make_url

    name = f"cdrstore_bench_stats_{records}"
    return str(make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False))


def built(url: str, source: Path, records: int) -> Store:
    """The store with the app of `records` synthetic calls: reused when it is there, else made."""
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
    if url.startswith("postgresql"):
        import psycopg
        from tests.support.postgres import create_postgres_database

        try:
            with psycopg.connect(url):
                pass
        except psycopg.OperationalError:
            create_postgres_database(url, POSTGRES_ADMIN)
    cli("db", "upgrade", env=env)
    store = open_store(url)
    if store.accounts.get_app(APP) is not None and store.records.count_records(APP) == records:
        print(f"reusing {records:,} records in {store.engine.url.render_as_string()}", flush=True)
        return store
    if store.accounts.get_app(APP) is not None:
        cli("apps", "delete", APP, "--force", env=env)
    cli("apps", "create", "Bench", "--id", APP, env=env)
    print(f"importing {records:,} records ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    cli("import", "--app", APP, str(source), env=env)
    took = time.perf_counter() - start
    print(
        f"built: cdrstore import {records:,} records, {records / took:,.0f} records/s", flush=True
    )
    store.records.refresh_statistics()
    if url.startswith("postgresql"):
        import psycopg

        # As autovacuum leaves a bulk load: the number search's index-only scan needs the
        # visibility map (without it each key costs a heap visit).
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return store


def bench_groups(store: Store, repeat: int) -> None:
    print(
        f"\n{'groupBy':14} {'tz':17} {'window':7} {'ms, median (fastest)':>18}"
        f" {'store alone':>18} {'target':>7} {'rows':>5}"
    )
    cases: list[tuple[str | None, str, bool]] = [(g, "UTC", False) for g in (None, *GROUPS)]
    cases += [
        (g, z, False) for g in ("day", "hour", "week") for z in ("Asia/Kolkata", "America/New_York")
    ]
    cases += [(g, "Asia/Kolkata", True) for g in (None, "day", "hourOfDay", "status", "agent")]
    for group, zone, windowed in cases:
        params = [("tz", zone), *(WINDOW if windowed else [])]
        if group is not None:
            params.append(("groupBy", group))
        query = parse_stats_query(params)
        rows = call_stats(store, APP, query)
        whole = timings_ms(lambda query=query: stats_body(call_stats(store, APP, query)), repeat)
        sql = timings_ms(lambda query=query: store.records.stats(APP, query), repeat)
        target = PARTY_TARGET_MS if group in ("agent", "department") else STATS_TARGET_MS
        print(
            f"{group or '(total)':14} {zone:17} {'cut' if windowed else 'all':7} {shown(whole)}"
            f" {shown(sql)} {target:7.0f} {len(rows):5d}",
            flush=True,
        )


def bench_columns(store: Store, repeat: int) -> None:
    """agent and department summed from `calls` itself: the option not taken, measured."""
    mark = "%s" if store.engine.dialect.name == "postgresql" else "?"
    for column in ("agent", "department"):
        sql = (
            f"SELECT {column}, count(*), sum(talk_ms) FROM calls WHERE app_id = {mark}"
            f" GROUP BY {column}"
        )

        def run(sql: str = sql) -> None:
            with store.engine.connect() as connection:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                cursor.execute(sql, (APP,))
                cursor.fetchall()
                cursor.close()

        print(
            f"{column} from the columns of calls (no rollup): {shown(timings_ms(run, max(3, repeat // 4)))} ms"
        )


def bench_numbers(store: Store, repeat: int) -> None:
    """A page of a busy and of a rare number, beside the same page without the number."""
    from collections import Counter

    import msgspec

    page = store.records.page(APP, parse_call_query([("limit", "500")]))
    seen = Counter(str(msgspec.json.decode(doc)["caller"]) for doc in page.docs)
    busy = seen.most_common(1)[0][0]
    rare = next(n for n, c in seen.items() if c == 1)
    print(
        f"\n{'number page (limit 100)':34} {'ms, median (fastest)':>18} {'without number':>18}"
        f" {'ratio':>6} {'target':>6}"
    )
    for label, number, offset in (
        ("busy number, offset 0", busy, 0),
        ("busy number, offset 1000", busy, 1000),
        ("rare number, offset 0", rare, 0),
        ("busy number + status, offset 0", busy, 0),
    ):
        base = [("limit", "100"), ("offset", str(offset))]
        if "status" in label:
            base.append(("status", "Call Ended"))
        with_number = parse_call_query([*base, ("number", number)])
        without = parse_call_query(base)
        got = len(store.records.page(APP, with_number).docs)
        ms = timings_ms(lambda q=with_number: store.records.page(APP, q), repeat)
        plain = timings_ms(lambda q=without: store.records.page(APP, q), repeat)
        print(
            f"{label:34} {shown(ms)} {shown(plain)} {ms[0] / plain[0]:6.2f}"
            f" {NUMBER_TARGET_RATIO:6.1f}  ({got} records)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stats", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="runs a median is taken of")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.workdir / f"synth-{args.records}-seed1.ndjson"
    write_ndjson(source, args.records, 1)
    for backend in args.backends.split(","):
        url = (
            f"sqlite:///{args.workdir / f'stats-{args.records}.db'}"
            if backend == "sqlite"
            else postgres_url(args.records)
        )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"\n# {backend}: {args.records:,} records, {os.cpu_count()} cores, load average {load}",
            flush=True,
        )
        store = built(url, source, args.records)
        try:
            bench_groups(store, args.repeat)
            bench_columns(store, args.repeat)
            bench_numbers(store, args.repeat)
        finally:
            store.close()


if __name__ == "__main__":
    main()
