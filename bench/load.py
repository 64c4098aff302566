"""Bounded mixed load on loopback: concurrent readers and writers against a live server, then a check
that the database holds exactly what the server acknowledged.

    python -m bench.load [--seconds 60] [--readers 8] [--writers 2] [--batch 500]
                         [--seed-records 20000] [--workers 2] [--db URL]

Starts `cdrstore serve` (cdrstore.testing.start_server, rate limit off) on a fresh database: an SQLite
file in a temporary directory, or with `--db postgresql://.../NAME` that database, dropped and created
anew, and dropped again at the end. Creates an app and a read+ingest token through the store, POSTs
`--seed-records` synthetic records (cdrstore.synth), then for `--seconds`:
- readers GET random filtered pages (callType, status, startAt/endAt, offset, limit);
- writers POST batches of new records, and every `--resend-every`th time resend one of their own
  acknowledged batches, which must insert nothing (POST is an idempotent replace).
Prints requests/s and p50/p99 latency per kind, answers by status, errors, and the verification:
every acknowledged record stored once with the bytes sent (canonicalised), nothing stored that was
never acknowledged except batches whose POST got no answer ("uncertain"), counted separately.
Ends with PASS or FAIL; exits 1 on FAIL (any 5xx, transport error, unexpected answer, lost,
duplicated, altered or unexpected record).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import msgspec
from tests.support.postgres import create_postgres_database, drop_postgres_database

from bench.__main__ import percentile
from cdrstore.query import PageQuery
from cdrstore.record import CALL_TYPES, STATUSES, IngestSummary
from cdrstore.store import open_store
from cdrstore.synth import DEFAULT_DAYS, DEFAULT_START, Generator
from cdrstore.testing import app_with_token, start_server
from cdrstore.timestamps import format_timestamp
from cdrstore.validation import decode_record

KINDS = ("read", "write", "resend")  # the timed kinds; "seed" POSTs come before the clock starts
WINDOW_START_MS = int(DEFAULT_START.timestamp() * 1000)
WINDOW_MS = DEFAULT_DAYS * 86_400_000  # synth spreads every batch's calls over these days
KEEP_FOR_RESEND = 20  # a writer keeps its last few acknowledged bodies, not all of them


class _PageBody(msgspec.Struct):
    code: int
    result: list[msgspec.Raw]


class _IngestBody(msgspec.Struct):
    code: int
    result: IngestSummary


class _Id(msgspec.Struct):
    id: str


_PAGE = msgspec.json.Decoder(_PageBody)
_INGEST = msgspec.json.Decoder(_IngestBody)
_ID = msgspec.json.Decoder(_Id)


# --- what was sent and what the server said -------------------------------------------------------
@dataclass
class Batch:
    body: bytes  # the JSON array POSTed
    digests: dict[str, bytes]  # id -> sha256 of the record's canonical stored form


@dataclass
class Ledger:
    """Every record a writer sent, by outcome: the truth the store is checked against."""

    acknowledged: dict[str, bytes] = field(default_factory=dict)  # id -> digest; answered 200
    uncertain: dict[str, bytes] = field(default_factory=dict)  # no answer: stored or not
    rejected: int = 0  # records of batches answered with an error: must not be stored
    acknowledged_by_kind: Counter[str] = field(default_factory=Counter)  # "seed" or "write"
    resends: int = 0
    resend_inserted: int = 0  # records a resend inserted: each was lost before it, or duplicated


@dataclass
class Stats:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (kind, HTTP status)
    transport_errors: Counter[str] = field(default_factory=Counter)  # kind -> count
    bad_answers: int = 0  # 200s whose body breaks the contract
    notes: list[str] = field(default_factory=list)  # what went wrong, first few

    def note(self, message: str) -> None:
        if len(self.notes) < 10:
            self.notes.append(message)

    def record(self, kind: str, started: float, status: int) -> None:
        if kind in self.latencies_ms:
            self.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
        self.statuses[(kind, status)] += 1


def make_batch(generator: Generator, size: int) -> Batch:
    raws = [msgspec.json.encode(rec) for rec in generator.records(size)]
    # The server canonicalises what it stores (e.g. fills in `date`); the same code gives the bytes
    # it must hold, so a changed, truncated or mixed-up record shows as a different digest.
    digests = {}
    for raw in raws:
        stored = decode_record(raw)
        digests[stored.id] = hashlib.sha256(stored.doc).digest()
    return Batch(b"[" + b",".join(raws) + b"]", digests)


# --- the load -------------------------------------------------------------------------------------
def random_query(rng: random.Random) -> dict[str, str]:
    """A page request as a dashboard or an export would make it, any mix of the six parameters."""
    params: dict[str, str] = {}
    if call_type := rng.choice((None, None, *CALL_TYPES)):
        params["callType"] = call_type
    if status := rng.choice((None, None, None, *STATUSES)):
        params["status"] = status
    if rng.random() < 0.5:
        start = WINDOW_START_MS + rng.randrange(WINDOW_MS)
        params["startAt"] = format_timestamp(start)
        if rng.random() < 0.7:
            length = rng.randrange(3_600_000, 14 * 86_400_000)
            params["endAt"] = format_timestamp(start + length)
    # Mostly first pages, some a little way in, a few deep (where offset paging costs most).
    params["offset"] = str(rng.choice((0, 0, rng.randrange(2_000), rng.randrange(50_000))))
    params["limit"] = str(rng.choice((100, 500, rng.randint(1, 500))))
    return params


async def reader(
    client: httpx.AsyncClient, path: str, deadline: float, rng: random.Random, stats: Stats
) -> None:
    while time.perf_counter() < deadline:
        params = random_query(rng)
        started = time.perf_counter()
        try:
            r = await client.get(path, params=params)
        except httpx.TransportError as exc:
            stats.transport_errors["read"] += 1
            stats.note(f"read: {type(exc).__name__}: {exc}")
            continue
        stats.record("read", started, r.status_code)
        if r.status_code == 200:
            check_page(r.content, int(params["limit"]), stats)


def check_page(content: bytes, limit: int, stats: Stats) -> None:
    try:
        page = _PAGE.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        stats.bad_answers += 1
        stats.note(f"read: 200 with a malformed page: {exc}")
        return
    if page.code != 0 or len(page.result) > limit:
        stats.bad_answers += 1
        stats.note(f"read: 200 with code {page.code} and {len(page.result)} records, limit {limit}")


async def post_batch(
    client: httpx.AsyncClient, path: str, kind: str, batch: Batch, stats: Stats
) -> IngestSummary | None:
    """The server's summary of a POST; None if it answered with an error or not at all."""
    started = time.perf_counter()
    try:
        r = await client.post(path, content=batch.body)
    except httpx.TransportError as exc:
        stats.transport_errors[kind] += 1
        stats.note(f"{kind}: {type(exc).__name__}: {exc}")
        raise
    stats.record(kind, started, r.status_code)
    if r.status_code != 200:
        stats.note(f"{kind}: {r.status_code} {r.text[:200]}")
        return None
    try:
        summary = _INGEST.decode(r.content).result
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        stats.bad_answers += 1
        stats.note(f"{kind}: 200 with a malformed summary: {exc}")
        return None
    if summary.received != len(batch.digests):
        stats.bad_answers += 1
        stats.note(f"{kind}: 200 with received {summary.received} of {len(batch.digests)}")
    return summary


async def send_new(
    client: httpx.AsyncClient, path: str, kind: str, batch: Batch, stats: Stats, ledger: Ledger
) -> bool:
    """POST a batch of new records and file them by outcome; whether it was acknowledged."""
    try:
        summary = await post_batch(client, path, kind, batch, stats)
    except httpx.TransportError:
        ledger.uncertain.update(batch.digests)
        return False
    if summary is None:
        ledger.rejected += len(batch.digests)
        return False
    ledger.acknowledged.update(batch.digests)
    ledger.acknowledged_by_kind[kind] += len(batch.digests)
    return True


async def resend(
    client: httpx.AsyncClient, path: str, batch: Batch, stats: Stats, ledger: Ledger
) -> None:
    """Send an acknowledged batch again: it is all there already, so nothing may be inserted."""
    ledger.resends += 1
    try:
        summary = await post_batch(client, path, "resend", batch, stats)
    except httpx.TransportError:
        return  # its records stay acknowledged from the first time
    if summary is not None:
        ledger.resend_inserted += summary.inserted


async def writer(
    client: httpx.AsyncClient,
    path: str,
    deadline: float,
    generator: Generator,
    size: int,
    resend_every: int,
    stats: Stats,
    ledger: Ledger,
) -> None:
    sent: deque[Batch] = deque(maxlen=KEEP_FOR_RESEND)
    pick = random.Random(generator.rng.random())  # records then never depend on the picks
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        if resend_every and n % resend_every == 0 and sent:
            await resend(client, path, pick.choice(sent), stats, ledger)
            continue
        batch = make_batch(generator, size)
        if await send_new(client, path, "write", batch, stats, ledger):
            sent.append(batch)


async def seed(
    client: httpx.AsyncClient, path: str, records: int, size: int, stats: Stats, ledger: Ledger
) -> None:
    generator = Generator(seed=0)  # writers use seeds 1, 2, ...: ids never collide across them
    while records > 0:
        await send_new(
            client, path, "seed", make_batch(generator, min(size, records)), stats, ledger
        )
        records -= size


@dataclass
class LoadConfig:
    seconds: float = 60.0
    readers: int = 8
    writers: int = 2
    batch: int = 500
    seed_records: int = 20_000
    workers: int = 2
    resend_every: int = 10  # every Nth request of a writer resends (0: never)
    seed: int = 1


async def drive(
    base: str, app_id: str, token: str, config: LoadConfig, stats: Stats, ledger: Ledger
) -> float:
    """Seed, then run readers and writers until the deadline; the timed phase's length in seconds."""
    path = f"/v1/api/apps/{app_id}/data/call-detail"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=config.readers + config.writers + 1)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:
        await seed(client, path, config.seed_records, config.batch, stats, ledger)
        started = time.perf_counter()
        deadline = started + config.seconds
        tasks = [
            reader(client, path, deadline, random.Random(config.seed * 1000 + i), stats)
            for i in range(config.readers)
        ]
        tasks += [
            writer(
                client,
                path,
                deadline,
                Generator(seed=config.seed * 1000 + i + 1),
                config.batch,
                config.resend_every,
                stats,
                ledger,
            )
            for i in range(config.writers)
        ]
        await asyncio.gather(*tasks)
        return time.perf_counter() - started


# --- the server -----------------------------------------------------------------------------------
@dataclass
class ServerLog:
    """What the server wrote on stderr: access lines counted by status, anything else kept."""

    statuses: Counter[int] = field(default_factory=Counter)
    other: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    other_count: int = 0
    exited_early: int | None = None  # the server's exit code if it died during the run


class _AccessLine(msgspec.Struct):
    status: int


def drain(stream: Iterator[bytes], log: ServerLog) -> None:
    # start_server pipes stderr and one access line a request would fill the pipe and stall the
    # server within seconds, so it is read all the time, and kept as the server's own account.
    for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        try:
            log.statuses[msgspec.json.decode(line, type=_AccessLine).status] += 1
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.other_count += 1
            log.other.append(line)


@contextmanager
def server(database_url: str, workers: int, log: ServerLog) -> Iterator[str]:
    proc, base = start_server(database_url, workers=workers)
    assert proc.stderr is not None
    reading = threading.Thread(target=drain, args=(proc.stderr, log), daemon=True)
    reading.start()
    try:
        yield base
    finally:
        log.exited_early = proc.poll()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reading.join(timeout=10)


def create_app_and_token(database_url: str) -> tuple[str, str]:
    """A new app (an ID of its own, so any database will do) and a read+ingest token for it."""
    app_id = f"load-{secrets.token_hex(4)}"
    return app_id, app_with_token(database_url, app_id)


# --- verification ---------------------------------------------------------------------------------
def set_digest(entries: dict[str, bytes], with_records: bool) -> str:
    """sha256 over the ids in code-point order, and with each record's digest if with_records."""
    h = hashlib.sha256()
    for rid in sorted(entries):
        h.update(rid.encode() + b"\n")
        if with_records:
            h.update(entries[rid])
    return h.hexdigest()


@dataclass
class Verification:
    acknowledged: int
    uncertain: int
    stored_rows: int  # records read back, duplicates included
    counted: int  # the store's own count (its per-hour counts table)
    uncertain_stored: int
    lost: list[str]  # acknowledged, not stored
    unexpected: list[str]  # stored, never acknowledged nor uncertain
    duplicated: list[str]  # stored more than once
    altered: list[str]  # stored with bytes other than those sent
    ids_sha: tuple[str, str]  # (acknowledged, stored minus the uncertain ones stored)
    records_sha: tuple[str, str]

    @property
    def ok(self) -> bool:
        return (
            not (self.lost or self.unexpected or self.duplicated or self.altered)
            and self.ids_sha[0] == self.ids_sha[1]
            and self.records_sha[0] == self.records_sha[1]
            and self.stored_rows == self.counted == self.acknowledged + self.uncertain_stored
        )


def read_stored(database_url: str, app_id: str) -> tuple[dict[str, bytes], list[str], int]:
    """Every record of the app straight from the database: (id -> digest, ids seen twice, count)."""
    stored: dict[str, bytes] = {}
    duplicated: list[str] = []
    store = open_store(database_url)
    try:
        for doc in store.records.iter_docs(app_id, PageQuery()):
            rid = _ID.decode(doc).id
            if rid in stored:
                duplicated.append(rid)
            stored[rid] = hashlib.sha256(doc).digest()
        counted = store.records.count_records(app_id)
    finally:
        store.close()
    return stored, duplicated, counted


def verify(database_url: str, app_id: str, ledger: Ledger) -> Verification:
    stored, duplicated, counted = read_stored(database_url, app_id)
    acknowledged, uncertain = ledger.acknowledged, ledger.uncertain
    settled = {rid: d for rid, d in stored.items() if rid not in uncertain or rid in acknowledged}
    expected = {**uncertain, **acknowledged}
    return Verification(
        acknowledged=len(acknowledged),
        uncertain=len(uncertain),
        stored_rows=len(stored) + len(duplicated),
        counted=counted,
        uncertain_stored=len(stored) - len(settled),
        lost=sorted(acknowledged.keys() - stored.keys()),
        unexpected=sorted(stored.keys() - expected.keys()),
        duplicated=sorted(set(duplicated)),
        altered=sorted(rid for rid, d in stored.items() if rid in expected and expected[rid] != d),
        ids_sha=(set_digest(acknowledged, False), set_digest(settled, False)),
        records_sha=(set_digest(acknowledged, True), set_digest(settled, True)),
    )


# --- the report -----------------------------------------------------------------------------------
@dataclass
class LoadReport:
    backend: str
    config: LoadConfig
    elapsed: float  # the timed phase, from the first request to the last answer
    stats: Stats
    ledger: Ledger
    server_log: ServerLog
    verification: Verification
    client_cpu: float  # the load generator's share of one core while it ran: is it the limit?

    def requests(self, kind: str | None = None) -> int:
        kinds = KINDS if kind is None else (kind,)
        answered = sum(n for (k, _), n in self.stats.statuses.items() if k in kinds)
        return answered + sum(self.stats.transport_errors[k] for k in kinds)

    def rate(self, kind: str | None = None) -> float:
        return self.requests(kind) / self.elapsed if self.elapsed else 0.0

    def p50(self, kind: str) -> float:
        return percentile(self.stats.latencies_ms[kind], 50)

    def p99(self, kind: str) -> float:
        return percentile(self.stats.latencies_ms[kind], 99)

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.stats.statuses.items() if status >= 500)

    @property
    def transport_errors(self) -> int:
        return sum(self.stats.transport_errors.values())

    @property
    def unexpected_answers(self) -> int:
        """Answers other than 200 below 500, and 200s whose body breaks the contract."""
        others = sum(n for (_, s), n in self.stats.statuses.items() if s != 200 and s < 500)
        return others + self.stats.bad_answers

    @property
    def records_acknowledged(self) -> int:
        return len(self.ledger.acknowledged)

    def failures(self) -> list[str]:
        v = self.verification
        checks = {
            "server errors (5xx)": self.server_errors,
            "transport errors": self.transport_errors,
            "unexpected answers": self.unexpected_answers,
            "records inserted by a resend": self.ledger.resend_inserted,
            "lost records": len(v.lost),
            "duplicated records": len(v.duplicated),
            "unexpected records": len(v.unexpected),
            "altered records": len(v.altered),
        }
        out = [f"{n} {what}" for what, n in checks.items() if n]
        if self.server_log.exited_early is not None:
            out.append(f"the server exited during the run (code {self.server_log.exited_early})")
        if not v.ok and not out:
            out.append("stored set differs from the acknowledged set (count or checksum)")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures()

    def lines(self) -> list[str]:
        c, v = self.config, self.verification
        out = [
            f"cdrstore load: {self.backend}, {c.workers} server workers, {c.readers} readers,"
            f" {c.writers} writers, {c.batch}-record batches, resend every {c.resend_every},"
            f" {self.elapsed:.1f} s, {os.cpu_count()} cores",
            f"seed: {c.seed_records:,} records in {self.stats.statuses[('seed', 200)]} POSTs"
            " (before the clock)",
            "",
            f"{'kind':8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}",
        ]
        for kind in KINDS:
            samples = self.stats.latencies_ms[kind]
            out.append(
                f"{kind:8} {self.requests(kind):9,} {self.rate(kind):8.1f} {self.p50(kind):8.1f}"
                f" {self.p99(kind):8.1f} {max(samples, default=float('nan')):8.1f}"
            )
        out.append(f"{'all':8} {self.requests():9,} {self.rate():8.1f}")
        load_records = self.ledger.acknowledged_by_kind["write"]
        by_status = ", ".join(
            f"{kind} {status}: {n:,}" for (kind, status), n in sorted(self.stats.statuses.items())
        )
        out += [
            "",
            f"answers: {by_status}",
            f"errors: 5xx {self.server_errors}, transport {self.transport_errors},"
            f" unexpected answers {self.unexpected_answers}",
            *(f"  {line}" for line in self.stats.notes),
            f"records: {self.records_acknowledged:,} acknowledged ({load_records:,} under load,"
            f" {load_records / self.elapsed if self.elapsed else 0:,.0f} records/s),"
            f" {len(self.ledger.uncertain):,} uncertain, {self.ledger.rejected:,} rejected;"
            f" {self.ledger.resends} resends inserted {self.ledger.resend_inserted} records",
            f"server log: {sum(self.server_log.statuses.values()):,} access lines"
            f" ({sum(n for s, n in self.server_log.statuses.items() if s >= 500)} with 5xx),"
            f" {self.server_log.other_count} other lines",
            *(f"  {line}" for line in self.server_log.other),
            f"load generator (this process): {self.client_cpu:.0%} of one core, seed included",
            "",
            f"verification: stored {v.stored_rows:,} (store's count {v.counted:,})"
            f" = acknowledged {v.acknowledged:,} + uncertain stored {v.uncertain_stored:,}"
            f" (of {v.uncertain:,}); lost {len(v.lost)}, unexpected {len(v.unexpected)},"
            f" duplicated {len(v.duplicated)}, altered {len(v.altered)}",
            f"  ids sha256:     acknowledged {v.ids_sha[0][:16]}  stored {v.ids_sha[1][:16]}",
            f"  records sha256: acknowledged {v.records_sha[0][:16]}  stored {v.records_sha[1][:16]}",
        ]
        for what, ids in (("lost", v.lost), ("unexpected", v.unexpected), ("altered", v.altered)):
            if ids:
                out.append(f"  {what}, first: {', '.join(ids[:5])}")
        failures = self.failures()
        out.append(
            "PASS: stored == acknowledged, no server or transport error"
            if not failures
            else "FAIL: " + "; ".join(failures)
        )
        return out


def run_load(
    database_url: str,
    seconds: float = 60.0,
    readers: int = 8,
    writers: int = 2,
    batch: int = 500,
    seed_records: int = 20_000,
    workers: int = 2,
    resend_every: int = 10,
    seed: int = 1,
) -> LoadReport:
    """Load a live server on this (migrated or empty) database, then verify what it stored."""
    config = LoadConfig(seconds, readers, writers, batch, seed_records, workers, resend_every, seed)
    app_id, token = create_app_and_token(database_url)
    stats, ledger, log = Stats(), Ledger(), ServerLog()
    with server(database_url, workers, log) as base:
        cpu, wall = time.process_time(), time.perf_counter()
        elapsed = asyncio.run(drive(base, app_id, token, config, stats, ledger))
        cpu = (time.process_time() - cpu) / (time.perf_counter() - wall)
    backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    verification = verify(database_url, app_id, ledger)
    return LoadReport(backend, config, elapsed, stats, ledger, log, verification, cpu)


# --- the command ----------------------------------------------------------------------------------
@contextmanager
def scratch_database(db: str | None) -> Iterator[str]:
    """The database to load: a new SQLite file, or the PostgreSQL one made anew and then dropped;
    a given SQLite URL is used as it is (the run's app has an ID of its own)."""
    if db is None:
        with tempfile.TemporaryDirectory(prefix="cdrstore-load-") as tmp:
            yield f"sqlite:///{tmp}/load.db"
        return
    if not db.startswith("postgres"):
        yield db
        return
    create_postgres_database(db)
    try:
        yield db
    finally:
        drop_postgres_database(db)


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500, help="records a POST")
    parser.add_argument("--seed-records", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--resend-every", type=int, default=10, help="0: never resend")
    parser.add_argument("--seed", type=int, default=1, help="seed of queries and records")
    parser.add_argument(
        "--db",
        help="postgresql://.../NAME (dropped, made anew and dropped after) or sqlite:///PATH;"
        " default: a new SQLite file in a temporary directory",
    )
    args = parser.parse_args()
    with scratch_database(args.db) as url:
        report = run_load(
            url,
            args.seconds,
            args.readers,
            args.writers,
            args.batch,
            args.seed_records,
            args.workers,
            args.resend_every,
            args.seed,
        )
    print("\n".join(report.lines()), flush=True)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
