"""cdrstore benchmark: ingest rates and page latency/throughput, each beside its floor.

    python -m bench [--records 1000000] [--post-records 100000] [--seconds 10] [--workdir bench/data]

Builds an SQLite store of `--records` synthetic CDRs (synth.py) with `cdrstore import`, then prints:
- import rate of an NDJSON file (`cdrstore import`) and POST rate (10,000-record batches, one client,
  of calls in the weeks after the imported ones, as a phone system sends them);
- for 500-record pages at offset 0 and 100,000, with and without callType+status filters:
  floor (the store's own SQL fetch of the stored JSON plus the join, in process, no HTTP),
  in-process (the whole app through an in-process ASGI client), and HTTP (one client on loopback):
  median and p99 in ms, and the ratio to the floor;
- requests/s with 2 server workers under a concurrent load generator, beside the floor's requests/s
  (1 / floor median, one core) and their ratio.
Figures are medians of repeated runs measured side by side in one process; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
from tests.support.postgres import create_postgres_database

from cdrstore.api import create_app
from cdrstore.contract import page_body
from cdrstore.query import parse_call_query
from cdrstore.settings import Settings
from cdrstore.store import open_store
from cdrstore.synth import DEFAULT_DAYS, DEFAULT_START, generate
from cdrstore.testing import live_server

APP = "bench"
PATH = f"/v1/api/apps/{APP}/data/call-detail"
SCENARIOS = {
    "offset 0": "offset=0&limit=500",
    "offset 100k": "offset=100000&limit=500",
    "filtered, offset 0": "callType=offnet&status=Call%20Ended&offset=0&limit=500",
    "filtered, offset 100k": "callType=offnet&status=Call%20Ended&offset=100000&limit=500",
}


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def write_ndjson(path: Path, n: int, seed: int, start: datetime = DEFAULT_START) -> None:
    if path.exists():
        return
    print(f"generating {n:,} synthetic records into {path} ...", file=sys.stderr)
    encoder = msgspec.json.Encoder()
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        for rec in generate(n, seed, start=start):
            f.write(encoder.encode(rec) + b"\n")
    tmp.rename(path)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdrstore", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def wrk_load(
    base: str, query: str, token: str, seconds: float, concurrency: int
) -> tuple[int, int]:
    """(requests done, non-2xx) from wrk, a load generator in C that leaves the CPU to the server."""
    wrk = shutil.which("wrk")
    assert wrk is not None
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds:.0f}s",
            "-H",
            f"Authorization: Bearer {token}",
            f"{base}{PATH}?{query}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    done = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (int(done.group(1)) if done else 0), (int(bad.group(1)) if bad else 0)


async def load(
    base: str, query: str, token: str, seconds: float, concurrency: int
) -> tuple[int, int]:
    headers = {"Authorization": f"Bearer {token}"}
    done = errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                r = await client.get(f"{PATH}?{query}")
                await r.aread()
                if r.status_code == 200:
                    done += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors


def fresh_database(db: str | None, workdir: Path, records: int) -> str:
    if db is None:
        path = workdir / f"bench-{records}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    create_postgres_database(db)
    return db


def raw_copy_rate(url: str, source: Path, n: int) -> float:
    """COPY n validated rows straight into a plain table with the calls table's keys and indexes."""
    import psycopg

    from cdrstore.validation import decode_record

    rows = []
    with source.open("rb") as f:
        for _, line in zip(range(n), f, strict=False):
            r = decode_record(line)
            rows.append((APP, r.call_date_ms, r.id, r.call_type, r.status, r.doc))
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS copy_floor")
        conn.execute(
            'CREATE TABLE copy_floor (app_id varchar(64) COLLATE "C", call_date bigint,'
            ' id varchar(128) COLLATE "C", call_type smallint, status smallint, doc bytea,'
            " PRIMARY KEY (app_id, call_date, id), UNIQUE (app_id, id))"
        )
        for columns in (
            "call_type, status, call_date, id",
            "status, call_date, id",
            "call_type, call_date, id",
        ):
            conn.execute(f"CREATE INDEX ON copy_floor (app_id, {columns})")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY copy_floor FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        rate = n / (time.perf_counter() - start)
        conn.execute("DROP TABLE copy_floor")
        conn.commit()
    return rate


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--post-records", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--repeat", type=int, default=40, help="samples per latency figure")
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    parser.add_argument(
        "--db",
        help="postgresql://.../DBNAME to benchmark PostgreSQL (that database is dropped and made"
        " anew); default: an SQLite file in --workdir",
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    source = args.workdir / f"synth-{args.records}-seed1.ndjson"
    # POSTed records are the weeks after the imported ones, as a phone system sends new calls.
    extra = args.workdir / f"synth-{args.post_records}-seed2-after.ndjson"
    write_ndjson(source, args.records, 1)
    write_ndjson(extra, args.post_records, 2, DEFAULT_START + timedelta(days=DEFAULT_DAYS))
    url = fresh_database(args.db, args.workdir, args.records)
    postgres = url.startswith("postgres")
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
    cli("db", "upgrade", env=env)
    cli("apps", "create", "Bench", "--id", APP, env=env)
    token = cli(
        "tokens", "create", "--app", APP, "--scope", "read", "--scope", "ingest", env=env
    ).stdout.strip()

    print(
        f"cdrstore benchmark: {args.records:,} records,"
        f" {'PostgreSQL' if postgres else 'SQLite'}, {os.cpu_count()} cores",
        flush=True,
    )
    print(f"\n## ingest ({source.stat().st_size / args.records:,.0f} bytes a record as NDJSON)")
    start = time.perf_counter()
    cli("import", "--app", APP, str(source), env=env)
    import_rate = args.records / (time.perf_counter() - start)
    print(f"cdrstore import (NDJSON, whole command): {import_rate:,.0f} records/s")

    with live_server(url, workers=1) as base:
        lines = extra.read_bytes().splitlines()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        start = time.perf_counter()
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            for i in range(0, len(lines), 10_000):
                r = client.post(PATH, content=b"\n".join(lines[i : i + 10_000]))
                r.raise_for_status()
        post_rate = len(lines) / (time.perf_counter() - start)
        print(f"POST, 10,000-record NDJSON batches, one client: {post_rate:,.0f} records/s")
    if postgres:
        import psycopg

        with psycopg.connect(
            url, autocommit=True
        ) as conn:  # as autovacuum would, after a bulk load
            conn.execute("VACUUM ANALYZE")
        raw = raw_copy_rate(url, source, min(args.records, 200_000))
        print(
            f"raw COPY of the same rows into a table of the same layout: {raw:,.0f} records/s"
            f" (import / raw COPY = {import_rate / raw:.2f})"
        )

    store = open_store(url)
    total = args.records + args.post_records
    print(
        f"\n## one 500-record page ({total:,} records stored); ms, median / p99, ratio of medians to floor"
    )
    print(
        f"{'scenario':24} {'floor':>15} {'in-process':>15} {'ratio':>6} {'HTTP':>15} {'ratio':>6}"
    )
    secret_headers = {"Authorization": f"Bearer {token}"}
    app = create_app(Settings(url, 0), store)
    from litestar.testing import TestClient

    floors: dict[str, float] = {}
    with live_server(url, workers=2) as base:
        with (
            TestClient(app) as local,
            httpx.Client(base_url=base, headers=secret_headers) as remote,
        ):
            for name, query in SCENARIOS.items():
                q = parse_call_query(
                    [tuple(p.split("=")) for p in query.replace("%20", " ").split("&")]
                )  # type: ignore[misc]

                def floor(q: Any = q) -> bytes:
                    return page_body(store.records.page(APP, q).docs)

                if len(msgspec.json.decode(floor())["result"]) < 500:
                    print(
                        f"{name:24} (fewer than offset + 500 matching records: use more --records)"
                    )
                    continue
                f = timed(floor, args.repeat)
                ip = timed(
                    lambda query=query: local.get(f"{PATH}?{query}", headers=secret_headers),
                    args.repeat,
                )
                h = timed(lambda query=query: remote.get(f"{PATH}?{query}"), args.repeat)
                fm, im, hm = statistics.median(f), statistics.median(ip), statistics.median(h)
                floors[name] = fm
                print(
                    f"{name:24} {fm:6.2f} / {percentile(f, 99):6.2f} {im:6.2f} / {percentile(ip, 99):6.2f} "
                    f"{im / fm:6.2f} {hm:6.2f} / {percentile(h, 99):6.2f} {hm / fm:6.2f}",
                    flush=True,
                )
        for kind in ("", "filtered, "):
            if f"{kind}offset 100k" in floors:
                deep = floors[f"{kind}offset 100k"] / floors[f"{kind}offset 0"]
                print(
                    f"{kind or 'unfiltered, '}offset 100k / offset 0 (floor medians): {deep:.2f}x"
                )

        generator = (
            "wrk" if shutil.which("wrk") else "httpx (Python: install wrk for a lighter one)"
        )
        print(
            f"\n## throughput, 2 workers, 16 concurrent connections, {args.seconds:.0f} s each,"
            f" load from {generator}"
        )
        print(f"{'scenario':24} {'HTTP req/s':>10} {'floor req/s':>12} {'ratio':>6} {'errors':>6}")
        for name, query in SCENARIOS.items():
            if name not in floors:
                continue
            if shutil.which("wrk"):
                done, errors = wrk_load(base, query, token, args.seconds, 16)
            else:
                done, errors = asyncio.run(load(base, query, token, args.seconds, 16))
            rps, floor_rps = done / args.seconds, 1000 / floors[name]
            print(
                f"{name:24} {rps:10.1f} {floor_rps:12.1f} {rps / floor_rps:6.2f} {errors:6d}",
                flush=True,
            )
    store.close()


if __name__ == "__main__":
    main()
