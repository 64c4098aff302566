"""SQLite ingest beside what a user would otherwise reach for, and beside its own floor, in one run.

    python -m bench.ingest [--records 200000] [--rounds 3] [--post-clients 2]
    python -m bench.ingest --breakdown      (the write floor, each statement timed)

On the same NDJSON (`--records` synthetic records, bench.stores' first part), each round, in turn:
- `cdrstore import` into a fresh SQLite store (the whole command, as a user runs it);
- `sqlite-utils insert --nl` into a fresh file (the peer; from `.venv-peers`, see bench/tools.py);
- the floor: the same records, already validated and encoded, inserted with `executemany` in one
  transaction into a fresh database with cdrstore's schema (`cdrstore db upgrade`), sorted as the
  store sorts them, with the per-hour counts: what the database alone costs;
- the write's floor: every table a write touches (records, counts, statistics, number search,
  change log), from batches already decoded, prepared and staged (`BatchWriter.write_staged` in
  one transaction): what the database costs the import, with none of the work around it;
- POST: a server with 2 workers on the imported store, `--post-clients` clients each sending
  10,000-record NDJSON batches of the weeks after (new calls, as a phone system sends them).
Medians over rounds; every figure beside the peer and the floor.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.statements import StatementTimes, TimedSqliteCursor
from bench.stores import APP, PATH, WORKDIR, part_file, run_cli
from bench.tools import peer
from cdrstore.store.plan import row_of
from cdrstore.store.schema import COUNT_BUCKET_MS
from cdrstore.synth import DEFAULT_DAYS, DEFAULT_START, generate
from cdrstore.testing import app_with_token, live_server
from cdrstore.validation import decode_record

BATCH = 10_000


def first_lines(source: Path, n: int, into: Path) -> Path:
    if not into.exists():
        with source.open("rb") as f, into.open("wb") as out:
            for _, line in zip(range(n), f, strict=False):
                out.write(line)
    return into


def import_rate(ndjson: Path, n: int, tmp: Path) -> float:
    url = f"sqlite:///{tmp / 'import.db'}"
    run_cli("db", "upgrade", url=url)
    run_cli("apps", "create", "Bench", "--id", APP, url=url)
    start = time.perf_counter()
    run_cli("import", "--app", APP, str(ndjson), url=url)
    return n / (time.perf_counter() - start)


def sqlite_utils_rate(ndjson: Path, n: int, tmp: Path) -> float:
    utils = peer("sqlite-utils")
    start = time.perf_counter()
    subprocess.run(
        [utils, "insert", str(tmp / "flat.db"), "calls", str(ndjson), "--nl"], check=True
    )
    return n / (time.perf_counter() - start)


Row = tuple[Any, ...]  # calls' columns: app_id, then store.plan.CALL_COLUMNS


def encoded_rows(ndjson: Path) -> list[Row]:
    with ndjson.open("rb") as f:
        rows = [(APP, *row_of(decode_record(line))) for line in f]
    rows.sort(key=lambda row: (row[1], row[2]))
    return rows


def floor_rate(rows: list[Row], tmp: Path) -> float:
    """Insert validated, encoded rows into cdrstore's schema through the store's own connection
    settings, with their counts, in one transaction: no decoding, no validation, no identity check."""
    from cdrstore.store import open_store

    url = f"sqlite:///{tmp / 'floor.db'}"
    run_cli("db", "upgrade", url=url)
    run_cli("apps", "create", "Bench", "--id", APP, url=url)
    store = open_store(url)
    counts = Counter((row[1] // COUNT_BUCKET_MS, row[3], row[4]) for row in rows)
    raw = store.engine.raw_connection()
    conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for i in range(0, len(rows), BATCH):
        conn.executemany(
            f"INSERT INTO calls VALUES ({', '.join('?' * len(rows[0]))})", rows[i : i + BATCH]
        )
    conn.executemany(
        "INSERT INTO call_counts (app_id, bucket, call_type, status, n) VALUES (?, ?, ?, ?, ?)",
        [(APP, *key, n) for key, n in counts.items()],
    )
    conn.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - start)
    raw.close()
    store.close()
    return rate


def write_floor_rate(records: list[Any], tmp: Path, times: StatementTimes | None = None) -> float:
    """Batches decoded, prepared and staged beforehand, written by the store's writer in one
    transaction: the database's share of an import of every table it touches (with `times`,
    each statement timed)."""
    from cdrstore.store import open_store, prepare
    from cdrstore.store.sqlite import SqliteWriter

    url = f"sqlite:///{tmp / 'write-floor.db'}"
    run_cli("db", "upgrade", url=url)
    run_cli("apps", "create", "Bench", "--id", APP, url=url)
    store = open_store(url)
    batches = [prepare(records[i : i + BATCH]) for i in range(0, len(records), BATCH)]
    with store.records.writer(APP) as writer:
        staged = [writer.stage(batch) for batch in batches]
        if times is not None:
            assert isinstance(writer, SqliteWriter)
            writer.cursor = TimedSqliteCursor(writer.cursor, times)  # type: ignore[assignment]
        start = time.perf_counter()
        for one in staged:
            writer.write_staged(one)
        committing = time.perf_counter()
    rate = len(records) / (time.perf_counter() - start)  # with the commit
    if times is not None:
        times.seconds["COMMIT (WAL, checkpoint)"] += time.perf_counter() - committing
    store.close()
    return rate


# What each of the calls table's structures costs a write: the floor's insert into variants of the
# schema (`--schema-study`). SQLite makes the WITHOUT ROWID table's key part of every index.
CALLS = (
    "CREATE TABLE calls (app_id VARCHAR(64) NOT NULL, call_date BIGINT NOT NULL,"
    " id VARCHAR(128) NOT NULL, call_type SMALLINT NOT NULL, status SMALLINT NOT NULL,"
    " doc BLOB NOT NULL, PRIMARY KEY (app_id, call_date, id){unique}) WITHOUT ROWID"
)
FILTER_INDEXES = (
    "CREATE INDEX calls_type_status_order ON calls (app_id, call_type, status, call_date, id)",
    # Dropped by migration 0009 (a filter on one is merged from the first's ranges):
    "CREATE INDEX calls_status_order ON calls (app_id, status, call_date, id)",
    "CREATE INDEX calls_type_order ON calls (app_id, call_type, call_date, id)",
)
VARIANTS = {
    "as stored (key, identity, 1 filter index), 16 KiB pages": (True, 1, 16384),
    "with the status-only and callType-only indexes (before 0009)": (True, 3, 16384),
    "without any filter index": (True, 0, 16384),
    "without the identity index (app_id, id)": (False, 1, 16384),
    "the clustered table alone": (False, 0, 16384),
    "as stored, 4 KiB pages": (True, 1, 4096),
    "as stored, 64 KiB pages": (True, 1, 65536),
}


def variant_rate(rows: list[Row], tmp: Path, variant: tuple[bool, int, int]) -> float:
    unique, indexes, page_size = variant
    path = tmp / f"variant-{unique}-{indexes}-{page_size}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        f"page_size = {page_size}",
        "journal_mode = WAL",
        "synchronous = FULL",
        "cache_size = -65536",
    ):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(CALLS.format(unique=", UNIQUE (app_id, id)" if unique else ""))
    for index in FILTER_INDEXES[:indexes]:
        conn.execute(index)
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for i in range(0, len(rows), BATCH):
        conn.executemany(
            "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?)", [row[:6] for row in rows[i : i + BATCH]]
        )
    conn.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - start)
    conn.close()
    return rate


def schema_study(rows: list[Row], rounds: int) -> None:
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, variant in VARIANTS.items():
            with tempfile.TemporaryDirectory(dir=WORKDIR) as tmp:
                rates[name].append(variant_rate(rows, Path(tmp), variant))
    print(f"\nraw insert of {len(rows):,} encoded rows into variants of the calls table, records/s")
    full = statistics.median(rates[next(iter(VARIANTS))])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:60} {median:9,.0f}  ({median / full:.2f}x)")


def post_batches(n: int) -> list[bytes]:
    import msgspec

    encoder = msgspec.json.Encoder()
    start = DEFAULT_START + timedelta(days=DEFAULT_DAYS)
    lines = [encoder.encode(rec) for rec in generate(n, 99, start=start)]
    return [b"\n".join(lines[i : i + BATCH]) for i in range(0, n, BATCH)]


def post_rate(batches: list[bytes], clients: int, tmp: Path, ndjson: Path) -> float:
    url = f"sqlite:///{tmp / 'import.db'}"  # the store just imported
    token = app_with_token(url, APP)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    with live_server(url, workers=2) as base:

        def send(mine: list[bytes]) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
                for body in mine:
                    client.post(PATH, content=body).raise_for_status()

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, [batches[i::clients] for i in range(clients)]))
        elapsed = time.perf_counter() - start
    return sum(body.count(b"\n") + 1 for body in batches) / elapsed


def breakdown(records: list[Any]) -> None:
    """Where the write floor's time goes, statement by statement."""
    times = StatementTimes()
    with tempfile.TemporaryDirectory(dir=WORKDIR) as name:
        rate = write_floor_rate(records, Path(name), times)
    total = len(records) / rate
    print(f"SQLite write floor, {len(records):,} records: {rate:,.0f} records/s ({total:.2f} s)")
    print(times.report(len(records), total, "the rest (planning, in Python)"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--post-records", type=int, default=100_000)
    parser.add_argument("--post-clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--schema-study", action="store_true", help="only the floor, into variants of the schema"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="only the write floor, each statement timed"
    )
    args = parser.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    source = part_file(WORKDIR, 1_000_000, 0) if args.records <= 1_000_000 else None
    assert source is not None, "at most 1,000,000 records"
    ndjson = first_lines(source, args.records, WORKDIR / f"synth-{args.records}-first.ndjson")
    rows = encoded_rows(ndjson)
    if args.schema_study:
        schema_study(rows, args.rounds)
        return
    if args.breakdown:
        breakdown([decode_record(line) for line in ndjson.read_bytes().splitlines()])
        return
    batches = post_batches(args.post_records)
    peer("sqlite-utils")
    figures: dict[str, list[float]] = {
        "import": [],
        "sqlite-utils": [],
        "floor": [],
        "write floor": [],
        "POST": [],
    }
    records = [decode_record(line) for line in ndjson.read_bytes().splitlines()]
    for rnd in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=WORKDIR) as name:
            tmp = Path(name)
            figures["import"].append(import_rate(ndjson, args.records, tmp))
            figures["sqlite-utils"].append(sqlite_utils_rate(ndjson, args.records, tmp))
            figures["floor"].append(floor_rate(rows, tmp))
            figures["write floor"].append(write_floor_rate(records, tmp))
            figures["POST"].append(post_rate(batches, args.post_clients, tmp, ndjson))
        print(
            f"round {rnd + 1}: "
            + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in figures.items())
            + " records/s",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(
        f"\nSQLite ingest, {args.records:,} records ({ndjson.stat().st_size / args.records:,.0f} bytes"
        f" a record as NDJSON), medians of {args.rounds} interleaved rounds, records/s"
    )
    print(
        f"cdrstore import           {med['import']:9,.0f}   / sqlite-utils insert --nl"
        f" {med['sqlite-utils']:,.0f} = {med['import'] / med['sqlite-utils']:.1f}x;"
        f" / floor {med['floor']:,.0f} = {med['import'] / med['floor']:.2f}"
        f" / write floor {med['write floor']:,.0f} = {med['import'] / med['write floor']:.2f}"
    )
    print(
        f"POST, {args.post_clients} clients x 10,000-record batches, 2 workers: {med['POST']:9,.0f}"
        f"   / floor = {med['POST'] / med['floor']:.2f}"
    )


if __name__ == "__main__":
    main()
