"""Fixtures for the webhook tests: a receiver on loopback, and in-process apps configured to
allow it (or, for the SSRF checks, not)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import Store
from tests import conftest
from tests.conftest import calls_path, record
from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def in_process(store: Store, db_url: str, **settings: Any) -> TestClient[Any]:
    options = {
        "rate_limit_per_minute": 0,
        "webhook_delivery": False,
        "webhooks_allow_private": True,
        "webhooks_challenge_timeout": 1.0,
        **settings,
    }
    return TestClient(create_app(Settings(db_url, **options), store))


@pytest.fixture
def hooks(store: Store, db_url: str) -> Iterator[TestClient[Any]]:
    """The API with private receivers allowed (the receiver is on loopback), no delivery loop."""
    with in_process(store, db_url) as c:
        yield c


@pytest.fixture
def strict(store: Store, db_url: str) -> Iterator[TestClient[Any]]:
    """The API as deployed: public https receivers only."""
    with in_process(store, db_url, webhooks_allow_private=False) as c:
        yield c


def sub_path(app_id: str, kind: str = "call") -> str:
    return f"/v1/api/apps/{app_id}/{kind}-event-sub"


@contextmanager
def delivery_process(db_url: str, cwd: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`cdrstore webhooks run` on the test's database, private receivers allowed; its stderr goes
    to the secret guard as a CLI's does."""
    variables = {
        **os.environ,
        "CDRSTORE_DATABASE_URL": db_url,
        "CDRSTORE_WEBHOOKS_ALLOW_PRIVATE": "1",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdrstore", "webhooks", "run"],
        env=variables,
        cwd=cwd,
        stderr=subprocess.PIPE,
    )
    said: list[bytes] = []
    reader = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        reader.join(timeout=5)
        if conftest._active_guard is not None:
            conftest._active_guard.saw_cli("", b"".join(said).decode(errors="replace"))


@pytest.fixture
def delivering(store: Store, db_url: str, tmp_path: Path) -> Iterator[TestClient[Any]]:
    """The API in process, and the delivery loop running beside it (`cdrstore webhooks run`)."""
    with in_process(store, db_url) as c, delivery_process(db_url, tmp_path):
        yield c


def subscribe(client, tokens, receiver: Receiver, app_id="acme", kind="call") -> str:
    answer = client.patch(
        sub_path(app_id, kind),
        json={"enabled": True, "url": receiver.url},
        headers=tokens.headers(app_id, ("webhooks",)),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["secret"]


def ingest(client, tokens, records, app_id="acme") -> None:
    answer = client.post(calls_path(app_id), json=records, headers=tokens.headers(app_id))
    assert answer.status_code == 200, answer.text


def numbered(start: int, n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        record(
            id=f"rec-{i:05d}",
            svcID=f"svc-{i % 7}",
            callDate=f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
            **extra,
        )
        for i in range(start, start + n)
    ]
