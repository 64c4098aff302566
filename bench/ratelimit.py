"""What the shared rate limit costs a read: req/s with the limit off, counted in the database, and
counted in Redis, side by side on one server configuration (2 workers, wrk, pages of 100).

    python -m bench.ratelimit [--records 20000] [--seconds 10] [--rounds 3] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.__main__ import APP, cli, fresh_database, write_ndjson, wrk_load
from cdrstore.testing import live_server

QUERY = "limit=100"
REDIS_URL = os.environ.get("CDRSTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# High enough never to refuse: what is measured is the counting, not the refusing.
MODES: dict[str, tuple[list[str], dict[str, str]]] = {
    "off": (["--rate-limit", "off"], {}),
    "database": (["--rate-limit", "1000000000"], {}),
    "redis": (["--rate-limit", "1000000000"], {"CDRSTORE_REDIS_URL": REDIS_URL}),
}


def count_cost_us(url: str, n: int = 2000) -> dict[str, float]:
    """One request counted, in process, microseconds: the database's way and Redis's."""
    from cdrstore.api.ratelimit import RedisCounter
    from cdrstore.store import WindowCounter, open_store

    store = open_store(url)
    costs = {}
    counters: tuple[tuple[str, WindowCounter], ...] = (
        ("database", store.windows),
        ("redis", RedisCounter(REDIS_URL)),
    )
    for mode, counter in counters:
        start = time.perf_counter()
        for _ in range(n):
            counter.hit("bench-cost", time.time(), 60)
        costs[mode] = (time.perf_counter() - start) / n * 1e6
    store.close()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="postgresql://.../DBNAME (dropped and made anew)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.db, Path(tmp), args.records)
        env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
        source = Path(tmp) / "records.ndjson"
        write_ndjson(source, args.records, 1)
        cli("db", "upgrade", env=env)
        cli("apps", "create", "Bench", "--id", APP, env=env)
        cli("import", "--app", APP, str(source), env=env)
        token = cli("tokens", "create", "--app", APP, "--scope", "read", env=env).stdout.strip()
        rates: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):  # interleaved, so drift in the machine hits every mode alike
            for mode, (flags, extra_env) in MODES.items():
                with live_server(url, workers=2, cwd=Path(tmp), args=flags, env=extra_env) as base:
                    wrk_load(base, QUERY, token, 2, 16)  # warm-up
                    done, bad = wrk_load(base, QUERY, token, args.seconds, 16)
                assert bad == 0, f"{mode}: {bad} non-2xx answers"
                rates[mode].append(done / args.seconds)
        costs = count_cost_us(url)
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(
        f"rate-limit cost, {backend}, {args.records:,} records, GET ?{QUERY}, 2 workers, wrk -c16"
    )
    off = statistics.median(rates["off"])
    for mode, values in rates.items():
        median = statistics.median(values)
        print(
            f"{mode:>9}: median {median:7.1f} req/s (ratio to off {median / off:.2f}); runs {values}"
        )
    for mode, us in costs.items():
        print(f"one request counted in {mode}, in process: {us:,.0f} us")


if __name__ == "__main__":
    main()
