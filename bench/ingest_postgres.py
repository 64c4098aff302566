"""PostgreSQL ingest beside its floors: `cdrstore import`, POST and the store's write path.

    python -m bench.ingest_postgres [--records 200000] [--db postgresql://.../cdrstore_bench]
                                    [--citus postgresql://coordinator/cdrstore_bench] [--rounds 3]
    python -m bench.ingest_postgres --breakdown   (the write path, each statement timed)

On the same NDJSON file of synthetic CDRs, in one run, interleaved round by round (each round's
figures printed as it ends, with its import / jsonb ratio; then medians):
- jsonb COPY: the NDJSON lines COPYed as they are into a table of one `jsonb` column: what a user
  would otherwise reach for (the peer);
- floor: the same records, already validated and encoded, COPYed (binary) into `calls` and
  `call_ids` of the real schema, with its indexes: the least any writer of this schema pays;
- write path: `store.records.ingest` of those already validated records, 10,000 a batch;
- import: `cdrstore import` of the file, the whole command;
- POST: 10,000-record NDJSON batches to a live server (2 workers), 2 clients, new records.
Each figure is printed beside the floors with its ratio. `--db` is dropped and made anew each
round. `--citus` names a database on a Citus coordinator (its schema is dropped, made and
distributed anew each round; see docs/scale-out.md): the same figures there, and the ratio of
each to plain PostgreSQL's. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
from tests.support.postgres import create_postgres_database

from bench.__main__ import write_ndjson
from bench.statements import StatementTimes, timed_pg_cursor
from cdrstore.record import StoredRecord
from cdrstore.store import open_store, prepare
from cdrstore.store.partitions import month_of
from cdrstore.store.pgwriter import COPY_CALL_TYPES, COPY_CALLS, PostgresWriter
from cdrstore.store.plan import row_of
from cdrstore.store.schema import metadata
from cdrstore.synth import DEFAULT_DAYS, DEFAULT_START
from cdrstore.testing import live_server
from cdrstore.validation import decode_record

APP = "bench"
PATH = f"/v1/api/apps/{APP}/data/call-detail"
BATCH = 10_000


def fresh(url: str, citus: bool) -> None:
    """An empty, current schema with the bench app: a new database, or on Citus the schema
    dropped, made and distributed anew (a database there needs its workers registered)."""
    if citus:
        with psycopg.connect(url, autocommit=True) as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
            conn.execute("DROP TABLE IF EXISTS alembic_version")
            conn.execute("DROP TABLE IF EXISTS jsonb_copy")
    else:
        create_postgres_database(url)
    store = open_store(url)
    store.upgrade()
    if citus:
        store.distribute()
    store.accounts.create_app("Bench", APP)
    store.close()


def jsonb_copy(url: str, lines: Sequence[bytes]) -> float:
    """Seconds to COPY the lines as they are into one jsonb column."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS jsonb_copy")
        conn.execute("CREATE TABLE jsonb_copy (doc jsonb)")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY jsonb_copy (doc) FROM STDIN") as copy:
            for i in range(0, len(lines), BATCH):
                copy.write(b"\n".join(lines[i : i + BATCH]) + b"\n")
        conn.commit()
        took = time.perf_counter() - start
        conn.execute("DROP TABLE jsonb_copy")
        conn.commit()
    return took


def floor(url: str, records: Sequence[StoredRecord]) -> float:
    """Seconds to COPY validated rows (binary) into `call_ids` and `calls`, 10,000 a transaction,
    as the store's writer does for new records (partitions made beforehand)."""
    store = open_store(url)
    ensure = store.records.ensure_partitions
    ensure({month_of(r.call_date_ms) for r in records})
    store.close()
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for i in range(0, len(records), BATCH):
            batch = records[i : i + BATCH]
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY call_ids (app_id, id, call_date) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(("text", "text", "int8"))
                    for r in sorted(batch, key=lambda r: r.id.encode()):
                        copy.write_row((APP, r.id, r.call_date_ms))
                with cur.copy(COPY_CALLS) as copy:
                    copy.set_types(COPY_CALL_TYPES)
                    for r in batch:
                        copy.write_row((APP, *row_of(r)))
            conn.commit()
        return time.perf_counter() - start


def write_path(url: str, records: Sequence[StoredRecord]) -> float:
    store = open_store(url)
    try:
        start = time.perf_counter()
        for i in range(0, len(records), BATCH):
            store.records.ingest(APP, records[i : i + BATCH])
        return time.perf_counter() - start
    finally:
        store.close()


def breakdown(url: str, records: Sequence[StoredRecord]) -> None:
    """Where the write path's time goes, statement by statement: the batches prepared and staged
    first (an import does both beside the writer), then written in one transaction."""
    fresh(url, False)
    times = StatementTimes()
    store = open_store(url)
    try:
        batches = [prepare(list(records[i : i + BATCH])) for i in range(0, len(records), BATCH)]
        with store.records.writer(APP) as writer:
            assert isinstance(writer, PostgresWriter)
            staged = [writer.stage(batch) for batch in batches]
            writer.connection.cursor_factory = timed_pg_cursor(times)
            start = time.perf_counter()
            for one in staged:
                writer.write_staged(one)
            committing = time.perf_counter()
        total = time.perf_counter() - start
        times.seconds["COMMIT (the change log, WAL)"] += time.perf_counter() - committing
    finally:
        store.close()
    print(
        f"PostgreSQL write path, {len(records):,} records, staged beforehand:"
        f" {len(records) / total:,.0f} records/s ({total:.2f} s)"
    )
    print(times.report(len(records), total, "the rest (planning, in Python)"))


def import_command(url: str, source: Path) -> float:
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cdrstore", "import", "--app", APP, str(source)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def post(url: str, lines: Sequence[bytes], clients: int = 2) -> float:
    """Seconds to POST the lines in 10,000-record batches from `clients` clients at once."""
    store = open_store(url)
    from cdrstore.ops.accounts import issue_token

    secret = issue_token(store, APP, frozenset({"ingest"}), "bench", None).secret
    store.close()
    batches = [b"\n".join(lines[i : i + BATCH]) for i in range(0, len(lines), BATCH)]
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}
    with live_server(url, workers=2) as base:

        def send(share: list[bytes]) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
                for body in share:
                    client.post(PATH, content=body).raise_for_status()

        threads = [
            threading.Thread(target=send, args=(batches[k::clients],)) for k in range(clients)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start


def median_rate(n: int, seconds: list[float]) -> float:
    return n / statistics.median(seconds)


def measure(
    url: str,
    citus: bool,
    lines: list[bytes],
    records: list[StoredRecord],
    source: Path,
    post_lines: list[bytes],
    rounds: int,
) -> dict[str, float]:
    runs: dict[str, list[float]] = {k: [] for k in ("jsonb", "floor", "write", "import", "post")}
    steps: list[tuple[str, Callable[[], float]]] = [
        ("jsonb", lambda: jsonb_copy(url, lines)),
        ("floor", lambda: floor(url, records)),
        ("write", lambda: write_path(url, records)),
        ("import", lambda: import_command(url, source)),
        ("post", lambda: post(url, post_lines)),
    ]
    sizes = {"post": len(post_lines)}
    for rnd in range(rounds):
        for name, step in steps:
            fresh(url, citus)
            runs[name].append(step())
        rates = {k: sizes.get(k, len(records)) / v[-1] for k, v in runs.items()}
        print(
            f"round {rnd + 1}: "
            + ", ".join(f"{k} {rate:,.0f}" for k, rate in rates.items())
            + f" records/s; import / jsonb {rates['import'] / rates['jsonb']:.2f}",
            flush=True,
        )
    return {k: median_rate(sizes.get(k, len(records)), v) for k, v in runs.items()}


def report(title: str, rates: dict[str, float], peer: dict[str, float] | None) -> None:
    print(f"\n## {title}: records/s (median), ratio to the jsonb COPY and to the floor")
    header = f"{'':44} {'records/s':>10} {'/ jsonb':>8} {'/ floor':>8}"
    print(header + ("  / PostgreSQL" if peer else ""))
    names = {
        "jsonb": "jsonb COPY of the NDJSON lines (peer)",
        "floor": "floor: binary COPY into calls + call_ids",
        "write": "write path (store.records.ingest)",
        "import": "cdrstore import (whole command)",
        "post": "POST, 10,000-record batches, 2 clients",
    }
    for key, label in names.items():
        rate = rates[key]
        line = (
            f"{label:44} {rate:>10,.0f} {rate / rates['jsonb']:>8.2f} {rate / rates['floor']:>8.2f}"
        )
        if peer:
            line += f"  {rate / peer[key]:>12.2f}"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_postgres", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--post-records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    parser.add_argument(
        "--db",
        default="postgresql://postgres@127.0.0.1:5432/cdrstore_bench_ingest",
        help="a PostgreSQL database to drop and make anew (default: %(default)s)",
    )
    parser.add_argument("--citus", help="a database on a Citus coordinator to measure too")
    parser.add_argument(
        "--breakdown", action="store_true", help="only the write path, each statement timed"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.workdir / f"synth-{args.records}-seed1.ndjson"
    extra = args.workdir / f"synth-{args.post_records}-seed2-after.ndjson"
    write_ndjson(source, args.records, 1)
    write_ndjson(extra, args.post_records, 2, DEFAULT_START + timedelta(days=DEFAULT_DAYS))
    lines = source.read_bytes().splitlines()
    records = [decode_record(line) for line in lines]
    post_lines = extra.read_bytes().splitlines()
    if args.breakdown:
        breakdown(args.db, records)
        return
    print(
        f"PostgreSQL ingest: {len(records):,} records ({source.stat().st_size / len(records):,.0f}"
        f" bytes each as NDJSON), {len(post_lines):,} POSTed, {os.cpu_count()} cores,"
        f" {args.rounds} rounds"
    )
    plain = measure(args.db, False, lines, records, source, post_lines, args.rounds)
    report("PostgreSQL", plain, None)
    if args.citus:
        with psycopg.connect(args.citus) as conn:
            version = conn.execute("SELECT citus_version()").fetchone()
        print(f"\n{version[0] if version else 'Citus'}")
        on_citus = measure(args.citus, True, lines, records, source, post_lines, args.rounds)
        report("Citus coordinator", on_citus, plain)


if __name__ == "__main__":
    main()
