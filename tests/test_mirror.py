"""`cdrstore mirror`: a local app ends equal to a remote one served by a live cdrstore playing
CINNOX, through late records, updates, a kill and a resume, and a storm of 429s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cdrstore.client import Client
from cdrstore.ops.accounts import ensure_app
from cdrstore.ops.mirror import Remote, mirror_once
from cdrstore.query import CallFilters, PageQuery
from cdrstore.store import open_store
from cdrstore.synth import Generator
from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path

DAY = timedelta(days=1)


class RemoteServer:
    def __init__(self, base: str, token: str, url: str) -> None:
        self.base, self.token, self.url = base, token, url

    def post(self, records: list[dict[str, Any]]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        for start in range(0, len(records), 5000):
            r = httpx.post(
                self.base + calls_path("remote"),
                json=records[start : start + 5000],
                headers=headers,
                timeout=60,
            )
            assert r.status_code == 200, r.text

    def docs(self) -> list[bytes]:
        with Client(self.base, "remote", self.token) as client:
            return list(client.iter_raw(CallFilters()))


def recent(n: int, seed: int, days: int = 5) -> list[dict[str, Any]]:
    """n calls over the `days` days that end two hours ago (all in the past, whatever the hour)."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    return list(Generator(seed, start=end - days * DAY, days=days).records(n))


@pytest.fixture
def remote(tmp_path) -> Iterator[RemoteServer]:
    url = f"sqlite:///{tmp_path / 'remote.db'}"
    token = app_with_token(url, "remote", ("read", "ingest"))
    with live_server(url, cwd=tmp_path) as base:
        yield RemoteServer(base, token, url)


def local_docs(cli) -> list[bytes]:
    out = cli("export", "--app", "acme", "--format", "ndjson").stdout
    return [line.encode() for line in out.splitlines()]


def mirror_args(cli, remote: RemoteServer) -> list[str]:
    """`cdrstore mirror` of the remote app into acme (its token in a file, as users keep it)."""
    (cli.dir / "remote.token").write_text(remote.token + "\n")
    remote_app = ["--from", remote.base, "--remote-app", "remote", "--token-file", "remote.token"]
    return ["mirror", *remote_app, "--app", "acme"]


def run_mirror(cli, remote: RemoteServer, *args: str, check: bool = True):
    return cli(
        *mirror_args(cli, remote),
        *args,
        check=check,
    )


def test_the_mirror_ends_equal_through_late_records_and_updates(cli, remote):
    cli("apps", "create", "Acme", "--id", "acme")
    first = recent(1_200, seed=3)
    remote.post(first)
    proc = run_mirror(cli, remote, "--overlap", "2d")
    assert "mirrored 1,200 records into acme: 1,200 inserted" in proc.stdout
    assert remote.token not in proc.stdout + proc.stderr
    assert local_docs(cli) == remote.docs()

    late = recent(30, seed=4, days=1)  # calls of the last day, arriving late
    changed = {**first[-1], "status": "Abandoned"}  # a recent record updated at the source
    remote.post([*late, changed])
    again = run_mirror(cli, remote, "--overlap", "2d")
    assert "30 inserted, 1 updated" in again.stdout
    assert local_docs(cli) == remote.docs()


def test_a_killed_mirror_resumes_without_loss_or_duplicates(cli, remote):
    cli("apps", "create", "Acme", "--id", "acme")
    remote.post(recent(2_000, seed=5, days=10))
    env = {**os.environ, "CDRSTORE_DATABASE_URL": cli.url, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "cdrstore", *mirror_args(cli, remote), "--max-rate", "240"]
    proc = subprocess.Popen(
        command, cwd=cli.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    store = open_store(cli.url)
    try:  # kill it once some of its pages are in: 240 requests a minute, 4 pages in all
        deadline = time.monotonic() + 60
        while store.records.count_records("acme") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        store.close()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    held = len(local_docs(cli))
    assert 0 < held < 2_000, held  # killed part-way, with what it had acknowledged kept
    resumed = run_mirror(cli, remote, "--overlap", "0s")
    assert local_docs(cli) == remote.docs()
    assert "mirrored" in resumed.stdout


def test_a_storm_of_429s_is_waited_out(store, remote):
    ensure_app(store, "acme", "Acme")
    remote.post(recent(1_100, seed=6))
    calls = {"n": 0}

    def storm(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] % 3:  # two of every three requests refused
            return httpx.Response(
                429, json={"code": 6451010, "message": "too many"}, headers={"Retry-After": "0"}
            )
        # Identity: the answer's body is handed on decoded, under the answer's own headers.
        headers = {**dict(request.headers), "accept-encoding": "identity"}
        proxied = httpx.request(request.method, str(request.url), headers=headers, timeout=30)
        return httpx.Response(proxied.status_code, content=proxied.content, headers=proxied.headers)

    source = Remote(remote.base, "remote", remote.token)
    with Client(
        remote.base, "remote", remote.token, transport=httpx.MockTransport(storm), max_retries=10
    ) as c:
        run = mirror_once(store, "acme", source, c)
    assert run.summary.inserted == 1_100 and calls["n"] >= 9  # 3 pages, each refused twice
    mine = [bytes(d) for d in store.records.iter_docs("acme", PageQuery())]
    assert mine == remote.docs()
