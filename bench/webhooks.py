"""Webhook delivery on loopback: how fast events reach a receiver, how long after the ingest was
acknowledged, and what an enabled subscription costs ingest.

    python -m bench.webhooks [--records 5000] [--batch 500] [--rounds 3] [--db URL]

Starts `cdrstore serve` (cdrstore.testing.start_server; private receivers allowed) on a fresh
database (an SQLite file in a temporary directory, or `--db postgresql://.../NAME`, created anew and
dropped at the end) and a receiver on loopback (a threaded HTTP server that answers 200 and notes
when each event arrived). Two apps: `plain`, with no subscription, and `hooked`, whose call events
go to the receiver. Each round POSTs `--records` new records in batches of `--batch` to each app in
turn, so both meet the same database; the delivery loop runs all along.

Prints: ingest records/s for each app (best round) and their ratio (target >= 0.85); the delivery
rate (events/s from the first ingest of a round to the last event of it arriving); the p50/p99 delay
from a batch's acknowledgement to each of its events arriving. Checks that every event arrived,
verified with `standardwebhooks`, and exits 1 if any is missing.
"""

from __future__ import annotations

import argparse
import json
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
    """What the receiver saw: each event's body, headers and arrival time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[float, bytes, dict[str, str]]] = []

    def count(self) -> int:
        with self.lock:
            return len(self.events)


def start_receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
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
                with arrivals.lock:
                    arrivals.events.append((time.time(), body, dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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
    arrivals = Arrivals()
    receiver = start_receiver(arrivals)
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
                    "url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
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
                for app_id, token in (("plain", plain), ("hooked", hooked)):
                    bodies, ids = batches_of(generator, args.records, args.batch)
                    before = arrivals.count()
                    started = time.time()
                    seconds, acks = ingest(client, base, app_id, token, bodies)
                    rates[app_id].append(args.records / seconds)
                    if app_id != "hooked":
                        continue
                    deadline = time.monotonic() + 300
                    while arrivals.count() < before + args.records and time.monotonic() < deadline:
                        time.sleep(0.02)
                    with arrivals.lock:
                        got = arrivals.events[before:]
                    if len(got) < args.records:
                        print(
                            f"round {round_ + 1}: only {len(got)} of {args.records} events arrived"
                        )
                        failed = True
                        continue
                    ack_of = {
                        rid: ack for batch, ack in zip(ids, acks, strict=True) for rid in batch
                    }
                    arrived = {}
                    webhook = Webhook(secret)
                    for at, body, headers in got:
                        rid = webhook.verify(body, headers)["message"]["id"]
                        arrived.setdefault(rid, at)
                    delays += [arrived[rid] - ack_of[rid] for rid in ack_of]
                    delivery_rates.append(len(got) / (max(at for at, _, _ in got) - started))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        receiver.shutdown()
    best_plain, best_hooked = max(rates["plain"]), max(rates["hooked"])
    ratio = best_hooked / best_plain
    backend = url.split(":", 1)[0]
    print(
        f"webhooks on {backend}: {args.rounds} rounds of {args.records:,} records a round, batches of {args.batch}"
    )
    print(f"  ingest, no subscription:      {best_plain:10,.0f} records/s (best round)")
    print(f"  ingest, call events enabled:  {best_hooked:10,.0f} records/s (best round)")
    print(f"  ratio:                        {ratio:10.2f} (target >= {TARGET_RATIO})")
    if delivery_rates:
        print(
            f"  delivery rate:                {max(delivery_rates):10,.0f} events/s (best round; first POST to last arrival)"
        )
        print(
            f"  delay ingest ack -> delivery: p50 {percentile(delays, 50) * 1000:,.0f} ms, p99 {percentile(delays, 99) * 1000:,.0f} ms"
        )
    print(
        "  every event verified with standardwebhooks" if not failed else "  FAIL: events missing"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
