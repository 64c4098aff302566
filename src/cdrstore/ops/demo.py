"""The demo app: synthetic CDRs and a read+ingest token, made once and reused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import msgspec

from ..record import StoredRecord
from ..store import Store
from ..synth import generate
from ..validation import decode_record
from .accounts import admits, ensure_app, issue_token

DEMO_APP_ID: Final = "demo"
DEMO_APP_NAME: Final = "Demo contact centre"
DEMO_SCOPES: Final = frozenset({"read", "ingest"})
SEED_BATCH: Final = 10_000
DEMO_DAYS: Final = 60  # the demo's weeks: the 60 days up to the present hour


@dataclass(frozen=True)
class DemoData:
    created_app: bool
    held: int  # records the app held before: none are added then
    added: int


@dataclass(frozen=True)
class DemoToken:
    secret: str
    reused: bool
    replaced: bool  # the token file held a token that is no longer valid


def demo_start(now: datetime) -> datetime:
    """Where the demo's weeks start for them to end at the hour `now` falls in."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        days=DEMO_DAYS
    )


def _batches(records: int, seed: int, start: datetime) -> Iterator[list[StoredRecord]]:
    encoder = msgspec.json.Encoder()
    batch: list[StoredRecord] = []
    for wire in generate(records, seed, start=start, days=DEMO_DAYS):
        batch.append(decode_record(encoder.encode(wire)))
        if len(batch) == SEED_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_demo(store: Store, records: int, seed: int, now: datetime | None = None) -> DemoData:
    """Create the demo app and fill it with synthetic records over the 60 days up to the present
    hour, unless it holds some already. The same seed in the same hour gives the same records."""
    created = ensure_app(store, DEMO_APP_ID, DEMO_APP_NAME)
    held = store.records.count_records(DEMO_APP_ID)
    if held:
        return DemoData(created, held, 0)
    start = demo_start(now or datetime.now(UTC))
    for batch in _batches(records, seed, start):
        store.records.ingest(DEMO_APP_ID, batch)
    return DemoData(created, 0, records)


def demo_token(store: Store, token_file: Path) -> DemoToken:
    """The token kept in token_file if it still admits reading and ingesting the demo app, else a
    new one, saved there readable only by its owner."""
    stale = token_file.is_file()
    if stale:
        secret = token_file.read_text().strip()
        if admits(store, secret, DEMO_APP_ID, DEMO_SCOPES):
            return DemoToken(secret, reused=True, replaced=False)
    issued = issue_token(store, DEMO_APP_ID, DEMO_SCOPES, "demo")
    _write_private(token_file, issued.secret + "\n")
    return DemoToken(issued.secret, reused=False, replaced=stale)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from its first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as file:
        file.write(text)
