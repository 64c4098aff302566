"""The programs in examples/ run against a live server and print what the server holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cdrstore.record import STATUSES
from cdrstore.testing import app_with_token, live_server

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WALK_RECORDS = 1_234  # three pages of 500: the walk must follow pages to count them all


@dataclass(frozen=True)
class Server:
    base_url: str
    tokens: dict[str, str]  # app ID -> token with read and ingest

    def env(self, app_id: str, token: str | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "CDRSTORE_URL": self.base_url,
            "CDRSTORE_APP": app_id,
            "CDRSTORE_TOKEN": token or self.tokens[app_id],
        }

    def path(self, app_id: str) -> str:
        return f"{self.base_url}/v1/api/apps/{app_id}/data/call-detail"

    def headers(self, app_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[app_id]}"}


def walk_records() -> list[dict[str, object]]:
    """Every status, with uneven counts, and every call type, over four weeks."""
    return [
        {
            "id": f"walk-{i:05d}",
            "callDirection": "Outbound" if i % 3 else "Inbound",
            "callType": ("onnet", "offnet", "smartcall")[i % 3],
            "callDate": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000Z",
            "status": STATUSES[(i * i + i // 7) % len(STATUSES)],
        }
        for i in range(WALK_RECORDS)
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("examples")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    tokens = {app: app_with_token(url, app) for app in ("walk", "ingest", "page")}
    with live_server(url, cwd=tmp_path) as base_url:
        srv = Server(base_url, tokens)
        for app in ("walk", "page"):
            answer = httpx.post(
                srv.path(app), json=walk_records(), headers=srv.headers(app), timeout=60
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["inserted"] == WALK_RECORDS
        yield srv


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_client_walk_counts_every_record_by_status(server: Server) -> None:
    done = run([sys.executable, str(EXAMPLES / "client_walk.py")], server.env("walk"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"{WALK_RECORDS} in all"
    printed = {}
    for line in lines[:-1]:
        count, status = line.split(" ", 1)
        printed[status] = int(count)
    expected = Counter(str(r["status"]) for r in walk_records())
    assert printed == dict(expected)
    assert len(expected) == len(STATUSES)


def test_client_walk_applies_filters(server: Server) -> None:
    env = {**server.env("walk"), "CALL_TYPE": "offnet", "STATUS": "Busy"}
    done = run([sys.executable, str(EXAMPLES / "client_walk.py")], env)
    assert done.returncode == 0, done.stderr
    expected = sum(1 for r in walk_records() if r["callType"] == "offnet" and r["status"] == "Busy")
    assert expected > 0
    assert done.stdout.splitlines() == [f"{expected} Busy", f"{expected} in all"]


def test_client_walk_fails_on_a_bad_token(server: Server) -> None:
    env = server.env("walk", token="cdr_" + "x" * 43)
    done = run([sys.executable, str(EXAMPLES / "client_walk.py")], env)
    assert done.returncode != 0
    assert "AuthenticationError" in done.stderr
    assert "in all" not in done.stdout


def test_ndjson_ingest_inserts_then_changes_nothing(server: Server) -> None:
    done = run([sys.executable, str(EXAMPLES / "ndjson_ingest.py")], server.env("ingest"))
    assert done.returncode == 0, done.stdout + done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["code"] == 0 and second["code"] == 0
    n = first["result"]["received"]
    assert n > 0
    assert first["result"] == {"received": n, "inserted": n, "updated": 0, "unchanged": 0}
    assert second["result"] == {"received": n, "inserted": 0, "updated": 0, "unchanged": n}
    stored = httpx.get(server.path("ingest"), headers=server.headers("ingest")).json()["result"]
    assert len(stored) == n
    assert all(r["id"].startswith("example-ndjson-") for r in stored)


def test_curl_prints_one_page_of_two(server: Server) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    done = run(["sh", str(EXAMPLES / "curl.sh")], server.env("page"))
    assert done.returncode == 0, done.stdout + done.stderr
    page = json.loads(done.stdout)
    assert page["code"] == 0
    expected = httpx.get(
        server.path("page"), params={"limit": 2}, headers=server.headers("page")
    ).json()["result"]
    assert len(expected) == 2
    assert page["result"] == expected
