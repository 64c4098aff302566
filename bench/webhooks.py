"""Webhook delivery on loopback: how fast events reach a receiver, how long after the ingest was
acknowledged, and what an enabled subscription costs ingest.

    python -m bench.webhooks [--records 5000] [--batch 500] [--rounds 3] [--db URL]

Starts `cdrstore serve` (cdrstore.testing.start_server; private receivers allowed) on a fresh
database (an SQLite file in a temporary directory, or `--db postgresql://.../NAME`, created anew and
dropped at the end) and a receiver on loopback (a threaded HTTP server that answers 200 and notes
when each event arrived). Two apps: `plain`, with no subscription, and `hooked`, whose call events
go to the receiver. Each round POSTs `--records` new records in batches of `--batch` to each app in
turn, so both meet the same database; the delivery loop runs all along.

Prints: ingest records/s for each app (best round) and their ratio (the median over the rounds of
each round's ratio, the two apps' order alternating; target >= 0.85); the delivery rate (events/s
from the first ingest of a round to the last event of it arriving); the p50/p99 delay from a
batch's acknowledgement to each of its events arriving, during the rounds (a backlog forms: records
come faster than one receiver takes them) and at 100 records/s (deliveries keep up). The receiver
runs in a process of its own at a low priority, standing for another machine. Checks that every event arrived,
verified with `standardwebhooks`, and exits 1 if any is missing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook
from tests.support.postgres import create_postgres_database, drop_postgres_database

from bench.__main__ import percentile
from cdrstore.synth import Generator
from cdrstore.testing import app_with_token, start_server

TARGET_RATIO = 0.85


class Arrivals:
    """What the receiver saw, read back from the file it writes: each event's arrival time, body
    and headers, one line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[tuple[float, bytes, dict[str, str]]] = []
        self._read = 0

    def count(self) -> int:
        with self.path.open("rb") as file:
            file.seek(self._read)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._read += len(complete)
        for line in complete.splitlines():
            at, headers, body = line.split(b"\t", 2)
            self.events.append((float(at), body, json.loads(headers)))
        return len(self.events)


def run_receiver(port: Any, path: Path) -> None:
    """The receiver, in a process of its own (so that it takes no time from the bench's own
    client), at a low priority (it stands for another machine): answers 200 at once, writes a
    line an event."""
    os.nice(10)
    log = path.open("ab", buffering=0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            document = json.loads(body)
            if set(document) == {"challenge"}:
                answer = json.dumps({"code": 0, "result": document}).encode()
            else:
                answer = b'{"code":0}'
                line = b"%f\t%s\t%s\n" % (
                    time.time(),
                    json.dumps(dict(self.headers)).encode(),
                    body,
                )
                with lock:
                    log.write(line)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


def start_receiver(path: Path) -> tuple[multiprocessing.Process, int]:
    path.touch()
    port = multiprocessing.Value("i", 0)
    process = multiprocessing.get_context("fork").Process(
        target=run_receiver, args=(port, path), daemon=True
    )
    process.start()
    while not port.value:
        time.sleep(0.01)
    return process, int(port.value)


def ingest(
    client: httpx.Client, base: str, app_id: str, token: str, batches: list[bytes]
) -> tuple[float, list[float]]:
    """POST each batch; (seconds taken, each batch's acknowledgement time)."""
    acks = []
    started = time.perf_counter()
    for body in batches:
        answer = client.post(
            f"{base}/v1/api/apps/{app_id}/data/call-detail",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )
        answer.raise_for_status()
        acks.append(time.time())
    return time.perf_counter() - started, acks


def batches_of(
    generator: Generator, records: int, batch: int
) -> tuple[list[bytes], list[list[str]]]:
    bodies, ids = [], []
    for start in range(0, records, batch):
        chunk = list(generator.records(min(batch, records - start)))
        bodies.append(b"\n".join(json.dumps(r).encode() for r in chunk))
        ids.append([r["id"] for r in chunk])
    return bodies, ids


def delays_of(
    got: list[tuple[float, bytes, dict[str, str]]],
    ids: list[list[str]],
    acks: list[float],
    secret: str,
) -> list[float]:
    """Seconds from each record's acknowledgement to its event's first arrival, every event
    verified as a receiver would."""
    ack_of = {rid: ack for batch, ack in zip(ids, acks, strict=True) for rid in batch}
    arrived: dict[str, float] = {}
    webhook = Webhook(secret)
    for at, body, headers in got:
        arrived.setdefault(webhook.verify(body, headers)["message"]["id"], at)
    return [arrived[rid] - ack_of[rid] for rid in ack_of]


PACED_RATE = 100  # records/s, in batches of 10: well below the delivery rate
PACED_SECONDS = 10


def paced(
    client: httpx.Client,
    base: str,
    token: str,
    generator: Generator,
    arrivals: Arrivals,
    secret: str,
) -> list[float]:
    """The delay when deliveries keep up: 10-record batches at PACED_RATE records/s."""
    batches = PACED_RATE * PACED_SECONDS // 10
    bodies, ids = batches_of(generator, batches * 10, 10)
    before = arrivals.count()
    acks = []
    started = time.monotonic()
    for i, body in enumerate(bodies):
        time.sleep(max(0.0, started + i * 10 / PACED_RATE - time.monotonic()))
        acks += ingest(client, base, "hooked", token, [body])[1]
    deadline = time.monotonic() + 120
    while arrivals.count() < before + len(bodies) * 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    got = arrivals.events[before:]
    return delays_of(got, ids, acks, secret) if len(got) >= len(bodies) * 10 else []


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=5000, help="records a round, to each app")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="postgresql://.../NAME (created anew, dropped at the end)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cdrstore-bench-webhooks-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.db:
            create_postgres_database(url, url.rsplit("/", 1)[0] + "/postgres")
        try:
            return run(url, args, Path(tmp))
        finally:
            if args.db:
                drop_postgres_database(url, url.rsplit("/", 1)[0] + "/postgres")


def run(url: str, args: argparse.Namespace, tmp: Path) -> int:
    scopes = ("read", "ingest", "webhooks")
    plain, hooked = app_with_token(url, "plain", scopes), app_with_token(url, "hooked", scopes)
    arrivals = Arrivals(tmp / "arrivals.tsv")
    receiver, receiver_port = start_receiver(arrivals.path)
    env = {"CDRSTORE_WEBHOOKS_ALLOW_PRIVATE": "1"}
    proc, base = start_server(url, env=env, cwd=tmp)
    stderr = proc.stderr
    assert stderr is not None
    threading.Thread(target=lambda: [None for _ in stderr], daemon=True).start()
    failed = False
    try:
        with httpx.Client(timeout=60) as client:
            answer = client.patch(
                f"{base}/v1/api/apps/hooked/call-event-sub",
                json={
                    "enabled": True,
                    "url": f"http://127.0.0.1:{receiver_port}/hook",
                },
                headers={"Authorization": f"Bearer {hooked}"},
            )
            answer.raise_for_status()
            secret = answer.json()["result"]["secret"]
            time.sleep(3)  # the delivery loop takes the lease and starts the subscription's worker
            rates: dict[str, list[float]] = {"plain": [], "hooked": []}
            delivery_rates, delays = [], []
            generator = Generator(seed=7)
            for round_ in range(args.rounds):
                pair = [("plain", plain), ("hooked", hooked)]
                for app_id, token in pair if round_ % 2 == 0 else pair[::-1]:  # cancels drift
                    bodies, ids = batches_of(generator, args.records, args.batch)
                    before = arrivals.count()
                    started = time.time()
                    seconds, acks = ingest(client, base, app_id, token, bodies)
                    rates[app_id].append(args.records / seconds)
                    if app_id != "hooked":
                        continue
                    deadline = time.monotonic() + 300
                    while arrivals.count() < before + args.records and time.monotonic() < deadline:
                        time.sleep(0.05)
                    got = arrivals.events[before:]
                    if len(got) < args.records:
                        print(
                            f"round {round_ + 1}: only {len(got)} of {args.records} events arrived"
                        )
                        failed = True
                        continue
                    delays += delays_of(got, ids, acks, secret)
                    delivery_rates.append(len(got) / (max(at for at, _, _ in got) - started))
            paced_delays = paced(client, base, hooked, generator, arrivals, secret)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        receiver.kill()
    best_plain, best_hooked = max(rates["plain"]), max(rates["hooked"])
    ratios = [h / p for h, p in zip(rates["hooked"], rates["plain"], strict=True)]
    ratio = statistics.median(ratios)
    backend = url.split(":", 1)[0]
    print(
        f"webhooks on {backend}: {args.rounds} rounds of {args.records:,} records a round, batches of {args.batch}"
    )
    print(f"  ingest, no subscription:      {best_plain:10,.0f} records/s (best round)")
    print(f"  ingest, call events enabled:  {best_hooked:10,.0f} records/s (best round)")
    print(
        f"  ratio, median of the rounds:  {ratio:10.2f} (target >= {TARGET_RATIO}; rounds:"
        f" {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    if delivery_rates:
        print(
            f"  delivery rate:                {max(delivery_rates):10,.0f} events/s (best round; first POST to last arrival)"
        )
        print(
            f"  delay ingest ack -> delivery, during the rounds (a backlog): p50 {percentile(delays, 50) * 1000:,.0f} ms, p99 {percentile(delays, 99) * 1000:,.0f} ms"
        )
    if paced_delays:
        print(
            f"  delay ingest ack -> delivery at {PACED_RATE} records/s: p50 {percentile(paced_delays, 50) * 1000:,.0f} ms, p99 {percentile(paced_delays, 99) * 1000:,.0f} ms"
        )
    print(
        "  every event verified with standardwebhooks" if not failed else "  FAIL: events missing"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
