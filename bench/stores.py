"""Benchmark stores, built once and kept: N synthetic records of the app `bench`, on SQLite or
PostgreSQL, imported part by part with `cdrstore import`, resumable.

    python -m bench.stores --records 1000000 [--backend sqlite|postgresql] [--part 1000000]

A store of N records is N / part parts; part k holds `part` records (synth.py, seed k + 1) spread over
the 60 days after DEFAULT_START + k * 60 days, so a larger store is a longer history of the same
traffic (and, on PostgreSQL, more monthly partitions). Each part's NDJSON is generated once into
`--workdir`; each part imported is written to the store's progress file with its import rate, so a
build stopped at any point resumes at the part it was in (importing a part again is idempotent: its
records come back unchanged). The SQLite file is `WORKDIR/store-N.db`; the PostgreSQL database is
`cdrstore_perf_N` on `--pg` (default postgresql://postgres@127.0.0.1:5432). The read+ingest token is
kept beside the progress file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec

from cdrstore.synth import DEFAULT_DAYS, DEFAULT_START, generate

APP = "bench"
PATH = f"/v1/api/apps/{APP}/data/call-detail"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
WORKDIR = Path("bench/data")


def part_file(workdir: Path, part: int, k: int) -> Path:
    """Part k's NDJSON, generated the first time it is asked for (written aside, then renamed)."""
    path = workdir / f"synth-{part}-part{k}.ndjson"
    if path.exists():
        return path
    print(f"generating {path} ...", file=sys.stderr, flush=True)
    encoder = msgspec.json.Encoder()
    tmp = path.with_suffix(".tmp")
    start = DEFAULT_START + timedelta(days=k * DEFAULT_DAYS)
    with tmp.open("wb") as f:
        for rec in generate(part, k + 1, start=start):
            f.write(encoder.encode(rec) + b"\n")
    tmp.rename(path)
    return path


def window_query(k: int = 0, days: int = 51) -> str:
    """The query string of a `days`-day window starting with part k's first day."""
    start = DEFAULT_START + timedelta(days=k * DEFAULT_DAYS)
    end = start + timedelta(days=days)
    return f"startAt={start:%Y-%m-%dT%H:%M:%SZ}&endAt={end:%Y-%m-%dT%H:%M:%SZ}"


def run_cli(*args: str, url: str) -> str:
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "cdrstore", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"cdrstore {' '.join(args)}: {done.stderr[-2000:]}")
    return done.stdout


@dataclass
class BenchStore:
    backend: str  # "sqlite" or "postgresql"
    records: int
    part: int
    workdir: Path = WORKDIR
    pg_server: str = PG_SERVER

    @property
    def name(self) -> str:
        return f"store-{self.records}-{self.backend}"

    @property
    def url(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir.resolve() / f'store-{self.records}.db'}"
        return f"{self.pg_server}/cdrstore_perf_{self.records}"

    @property
    def progress_file(self) -> Path:
        return self.workdir / f"{self.name}.progress"

    @property
    def token_file(self) -> Path:
        return self.workdir / f"{self.name}.token"

    def progress(self) -> dict[str, float]:
        """Import rate (records/s) of every part imported so far, by part number."""
        if not self.progress_file.exists():
            return {}
        return dict(json.loads(self.progress_file.read_text()))

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def create(self) -> None:
        """An empty store with the app and a token (once; the token file says it was done)."""
        if self.token_file.exists():
            return
        if self.backend == "postgresql":
            from tests.support.postgres import create_postgres_database

            create_postgres_database(self.url)
        run_cli("db", "upgrade", url=self.url)
        run_cli("apps", "create", "Bench", "--id", APP, url=self.url)
        token = run_cli(
            "tokens", "create", "--app", APP, "--scope", "read", "--scope", "ingest", url=self.url
        ).strip()
        self.token_file.write_text(token + "\n")

    def build(self) -> dict[str, float]:
        """Import every part not yet imported; the import rate of every part."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.create()
        done = self.progress()
        parts = self.records // self.part
        for k in range(parts):
            if str(k) in done:
                continue
            source = part_file(self.workdir, self.part, k)
            print(
                f"{self.name}: importing part {k + 1} of {parts} ...", file=sys.stderr, flush=True
            )
            started = time.perf_counter()
            run_cli("import", "--app", APP, str(source), url=self.url)
            done[str(k)] = self.part / (time.perf_counter() - started)
            if self.backend == "postgresql":
                self.vacuum()  # as autovacuum would after a bulk load: index-only scans need it
            tmp = self.progress_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(done))
            tmp.rename(self.progress_file)
        return done

    def vacuum(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stores", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--part", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    args = parser.parse_args()
    store = BenchStore(args.backend, args.records, min(args.part, args.records), args.workdir)
    rates = store.build()
    print(f"{store.name}: {store.url}")
    for k, rate in sorted(rates.items(), key=lambda kv: int(kv[0])):
        print(f"  part {k}: imported at {rate:,.0f} records/s")


if __name__ == "__main__":
    main()
