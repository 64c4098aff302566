"""Page throughput over HTTP beside its floor or peer, measured in the same run, interleaved.

    python -m bench.reads --backend postgresql|sqlite [--records 1000000] [--seconds 15]
                          [--rounds 3] [--encoding gzip]

On a store of bench.stores (built first if missing), 2 server workers, `wrk -t2 -c8`, for three
500-record pages of a 51-day window: offset 0, callType+status filtered, offset 100,000. Beside each:
- PostgreSQL: the floor, `pgbench -c2` running the statements the store ran for that page (traced
  from the store itself, parameters inlined), and the row-fetching deferred join the store ran
  before (the floor quoted when this was first measured); the higher of the two is the floor.
- SQLite: Datasette serving the same records from a flat table (`sqlite-utils insert --nl`, an index
  on callDate), the same window and order, one process, counting off (`_nocount=1`); and the store's
  own page in process (no HTTP) as the single-core floor.
Each round runs every scenario's HTTP figure and its floor back to back; medians over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench.stores import APP, PATH, BenchStore, window_query
from bench.tools import WrkResult, datasette, peer, pgbench, wrk
from cdrstore.contract import page_body
from cdrstore.query import parse_call_query
from cdrstore.store import open_store
from cdrstore.synth import DEFAULT_DAYS, DEFAULT_START
from cdrstore.testing import live_server

WINDOW = window_query(0, 51)
SCENARIOS = {
    "window page": f"{WINDOW}&offset=0&limit=500",
    "window + callType + status": f"{WINDOW}&callType=offnet&status=Call%20Ended&offset=0&limit=500",
    "window, offset 100,000": f"{WINDOW}&offset=100000&limit=500",
}


def pairs(query: str) -> list[tuple[str, str]]:
    return [(k, v.replace("%20", " ")) for k, v in (p.split("=", 1) for p in query.split("&"))]


# --- PostgreSQL: the statements a page runs, for pgbench ----------------------------------------
class _Tracer:
    """A cursor that records each statement it runs with its parameters inlined."""

    def __init__(self, cursor: Any, statements: list[str]) -> None:
        self._cursor = cursor
        self._statements = statements

    def execute(self, sql: str, params: Any = None) -> Any:
        import psycopg

        client = psycopg.ClientCursor(self._cursor.connection)
        statement = client.mogrify(sql, params)
        if isinstance(self._cursor, psycopg.ServerCursor):  # read a batch at a time, as the store
            name = self._cursor.name
            statement = f"DECLARE {name} NO SCROLL CURSOR FOR {statement};\n"
            statement += f"FETCH {self._cursor.itersize} FROM {name}"
        self._statements.append(statement)
        return self._cursor.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


def traced_statements(url: str, query: str) -> list[str]:
    """The SQL the store runs for this page, as pgbench can replay it."""
    store = open_store(url)
    records: Any = store.records
    statements: list[str] = []
    reading, streaming = records._reading, records._streaming_cursor

    @contextmanager
    def traced_reading(*args: Any) -> Iterator[_Tracer]:
        with reading(*args) as cursor:
            yield _Tracer(cursor, statements)

    records._reading = traced_reading
    records._streaming_cursor = lambda cursor: _Tracer(streaming(cursor._cursor), statements)
    records.page(APP, parse_call_query(pairs(query)))
    store.close()
    return statements


def deferred_join_sql(query: str) -> str:
    """The row-fetching deferred join the store ran before, at plain OFFSET (as first measured)."""
    q = parse_call_query(pairs(query))
    where = f"app_id = '{APP}' AND call_date >= {q.start_ms} AND call_date < {q.end_ms}"
    if q.call_type:
        from cdrstore.store.sql import coded_filters

        where += "".join(f" AND {c} = {v}" for c, v in coded_filters(q))
    order = " ORDER BY call_date, id"
    return (
        f"SELECT doc FROM calls WHERE app_id = '{APP}' AND (call_date, id) IN"
        f" (SELECT call_date, id FROM calls WHERE {where}{order} LIMIT 501 OFFSET {q.offset})"
        f"{order};\n"
    )


def pgbench_script(statements: list[str]) -> str:
    # A deep page runs in one REPEATABLE READ transaction, as the store does.
    body = "".join(s.replace("\n", " ") + ";\n" for s in statements)
    if len(statements) > 1:
        body = f"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n{body}ROLLBACK;\n"
    return body


# --- SQLite: the peer ------------------------------------------------------------------------------
def flat_table(store: BenchStore) -> Path:
    """The same records in the table `sqlite-utils insert --nl` makes of them (one column a key,
    lists as JSON text, booleans as 0/1), with an index on callDate (whose entries end in the rowid, Datasette's tie order).

    sqlite-utils makes the table from the first 1,000 records; the rest are copied in from the
    store with json_extract, the values sqlite-utils would write, because sqlite-utils inserts
    about 1,000 records/s on this machine (bench.ingest) and a million would take a quarter hour.
    """
    import sqlite3

    from bench.stores import part_file

    path = store.workdir / f"flat-{store.records}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    sample = store.workdir / "flat-sample.ndjson"
    with part_file(store.workdir, store.part, 0).open("rb") as f, sample.open("wb") as out:
        out.writelines(line for _, line in zip(range(1000), f, strict=False))
    subprocess.run(
        [peer("sqlite-utils"), "insert", str(tmp), "calls", str(sample), "--nl"], check=True
    )
    conn = sqlite3.connect(tmp, isolation_level=None)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(calls)")]
    conn.execute("DELETE FROM calls")
    conn.execute("ATTACH ? AS store", (store.url.removeprefix("sqlite:///"),))
    extracted = ", ".join(f"json_extract(doc, '$.{c}')" for c in columns)
    conn.execute("BEGIN")
    conn.execute(
        f"INSERT INTO calls ({', '.join(columns)}) SELECT {extracted} FROM store.calls"
        " WHERE app_id = ? ORDER BY call_date, id",
        (APP,),
    )
    conn.execute("COMMIT")
    conn.execute('CREATE INDEX calls_date ON calls ("callDate")')  # rowid: the tie order
    conn.close()
    tmp.rename(path)
    return path


def datasette_query(query: str) -> str:
    q = dict(pairs(query))
    args = f"callDate__gte={q['startAt']}&callDate__lt={q['endAt']}"
    args += "&_sort=callDate&_size=500&_shape=array&_nocount=1&_nofacet=1"
    if "callType" in q:
        args += f"&callType={q['callType']}&status={q['status'].replace(' ', '%20')}"
    return args


def in_process_floor(url: str, query: str, repeat: int = 40) -> float:
    """Pages/s of the store's own page and body, in process, one core (median of `repeat`)."""
    store = open_store(url)
    q = parse_call_query(pairs(query))
    page_body(store.records.page(APP, q).docs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        page_body(store.records.page(APP, q).docs)
        times.append(time.perf_counter() - start)
    store.close()
    return 1 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoding", default="", help="Accept-Encoding the HTTP client sends")
    parser.add_argument(
        "--baseline",
        help="a source tree (its src/) to serve from as well, measured in the same rounds"
        " (a regression check against another version, e.g. the main branch's)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip Datasette / pgbench")
    args = parser.parse_args()
    store = BenchStore(args.backend, args.records, min(args.records, 1_000_000))
    store.build()
    headers = {"Authorization": f"Bearer {store.token}"}
    if args.encoding:
        headers["Accept-Encoding"] = args.encoding
    postgres = args.backend == "postgresql"
    scripts: dict[str, tuple[str, str, str]] = {}
    if postgres:
        for name, q in SCENARIOS.items():
            traced = pgbench_script(traced_statements(store.url, q))
            # pgbench reads text: bytea comes as hex, twice the bytes, so the documents are also
            # fetched as text, whichever is faster counting as the floor.
            as_text = traced.replace("SELECT doc FROM", "SELECT convert_from(doc, 'UTF8') FROM")
            scripts[name] = (traced, as_text, deferred_join_sql(q))
    flat = None if postgres else flat_table(store)
    http: dict[str, list[WrkResult]] = {name: [] for name in SCENARIOS}
    floors: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    before: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    own: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    baseline: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    other = {"PYTHONPATH": args.baseline} if args.baseline else {}
    with (
        live_server(store.url, workers=2) as base,
        live_server(store.url, workers=2, env=other) if args.baseline else nullcontext("") as old,
    ):
        for q in SCENARIOS.values():  # warm both
            wrk(f"{base}{PATH}?{q}", 2, headers)
            if old:
                wrk(f"{old}{PATH}?{q}", 2, headers)
        for rnd in range(args.rounds):
            for name, q in SCENARIOS.items():
                http[name].append(wrk(f"{base}{PATH}?{q}", args.seconds, headers))
                if old:
                    baseline[name].append(
                        wrk(f"{old}{PATH}?{q}", args.seconds, headers).requests_per_s
                    )
                    print(f"round {rnd + 1}: {name}: baseline {baseline[name][-1]:.1f} req/s")
                if args.no_peer:
                    floors[name].append(float("nan"))
                    own[name].append(float("nan"))
                    before[name].append(float("nan"))
                elif postgres:
                    current, as_text, deferred = scripts[name]
                    floors[name].append(
                        max(
                            pgbench(store.url, current, args.seconds),
                            pgbench(store.url, as_text, args.seconds),
                        )
                    )
                    before[name].append(pgbench(store.url, deferred, args.seconds))
                else:
                    assert flat is not None
                    with datasette(flat) as peer_base:
                        url = f"{peer_base}/{flat.stem}/calls.json?{datasette_query(q)}"
                        wrk(url, 2, {})
                        floors[name].append(wrk(url, args.seconds, {}).requests_per_s)
                    own[name].append(in_process_floor(store.url, q))
                print(
                    f"round {rnd + 1}: {name}: HTTP {http[name][-1].requests_per_s:.1f} req/s,"
                    f" {'pgbench' if postgres else 'Datasette'} {floors[name][-1]:.1f}",
                    flush=True,
                )
    window = f"{DEFAULT_START:%Y-%m-%d} + 51 days of {DEFAULT_DAYS}"
    print(
        f"\n{args.backend}, {args.records:,} records, 500-record pages of a window ({window}),"
        f" 2 workers, wrk -t2 -c8 -d{args.seconds:.0f}s, medians of {args.rounds} interleaved"
        f" rounds{', Accept-Encoding: ' + args.encoding if args.encoding else ''}"
    )
    for name in SCENARIOS:
        if args.baseline:
            was = statistics.median(baseline[name])
            now = statistics.median(r.requests_per_s for r in http[name])
            print(
                f"{name:28} this tree {now:7.1f} req/s, {args.baseline} {was:7.1f}: {now / was:.2f}x"
            )
    for name in SCENARIOS:
        rps = statistics.median(r.requests_per_s for r in http[name])
        wire = statistics.median(
            r.bytes_per_s / r.requests_per_s for r in http[name] if r.requests_per_s
        )
        errors = sum(r.errors for r in http[name])
        floor = statistics.median(floors[name])
        if postgres:
            old = statistics.median(before[name])
            best = max(floor, old)
            print(
                f"{name:28} HTTP {rps:7.1f} req/s ({wire / 1024:,.0f} KiB a response, {errors} errors);"
                f" pgbench -c2 the store's SQL {floor:7.1f} (bytea or text, the faster), the old deferred join {old:7.1f};"
                f" HTTP / floor {rps / best:.2f}"
            )
        else:
            mine = statistics.median(own[name])
            print(
                f"{name:28} HTTP {rps:7.1f} req/s ({wire / 1024:,.0f} KiB a response, {errors} errors);"
                f" Datasette {floor:6.1f} req/s, ratio {rps / floor:5.1f}x;"
                f" in-process floor {mine:6.1f} pages/s (one core)"
            )


if __name__ == "__main__":
    main()
