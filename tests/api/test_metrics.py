"""Prometheus metrics: off by default (404), and when on, requests by route and status with their
latency, records ingested and database faults; added up over every worker process."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from cdrstore.api import create_app
from cdrstore.contract import CODE_NOT_FOUND
from cdrstore.settings import Settings
from cdrstore.testing import app_with_token, live_server, start_server
from tests.conftest import calls_path, record

ROUTE = "/v1/api/apps/{appID}/data/call-detail"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_not_served_unless_enabled(client):
    r = client.get("/metrics")
    assert r.status_code == 404 and r.json()["code"] == CODE_NOT_FOUND


def test_requests_records_and_database_faults_are_counted(store, db_url, auth, monkeypatch):
    app = create_app(Settings(db_url, metrics=True), store)
    with TestClient(app) as client:
        before = client.get("/metrics").text
        assert client.post(calls_path("acme"), json=[record(id="a"), record(id="b")], headers=auth)
        assert client.post(calls_path("acme"), json=[record(id="a")], headers=auth)
        for _ in range(3):
            assert client.get(calls_path("acme"), headers=auth).status_code == 200
        assert client.get(calls_path("acme") + "?limit=0", headers=auth).status_code == 400
        assert client.get("/no/such/path").status_code == 404

        def unavailable(*_args: object) -> None:
            raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))

        monkeypatch.setattr(store.records, "_reading", unavailable)  # translated on its way out
        assert client.get(calls_path("acme"), headers=auth).status_code == 503
        after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def delta(name: str, **labels: str) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    get = {"method": "GET", "route": ROUTE}
    assert delta("cdrstore_http_requests_total", **get, status="200") == 3
    assert delta("cdrstore_http_requests_total", **get, status="400") == 1
    assert delta("cdrstore_http_requests_total", **get, status="503") == 1
    assert delta("cdrstore_http_requests_total", method="POST", route=ROUTE, status="200") == 2
    assert delta("cdrstore_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("cdrstore_http_request_duration_seconds_count", **get, status="200") == 3
    assert delta("cdrstore_http_request_duration_seconds_sum", **get, status="200") > 0
    assert delta("cdrstore_records_ingested_total", outcome="inserted") == 2
    assert delta("cdrstore_records_ingested_total", outcome="unchanged") == 1
    assert delta("cdrstore_database_errors_total", kind="unavailable") == 1


def test_metrics_add_up_over_two_workers(tmp_path):
    """Requests spread over 2 workers (rounds of 40 at once until both have served some: which
    worker takes a connection is the kernel's choice); every scrape shows the total."""
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    secret = app_with_token(url, "acme", ("read",))
    pids: set[int] = set()
    sent = 0
    with live_server(
        url,
        workers=2,
        cwd=tmp_path,
        args=["--metrics"],
        on_access=lambda line: pids.add(line["pid"]),
    ) as base:
        headers = {"Authorization": f"Bearer {secret}"}

        def one(_: int) -> int:
            with httpx.Client(base_url=base, timeout=30) as http:  # a connection of its own
                return http.get(calls_path("acme"), headers=headers).status_code

        for _ in range(8):
            with ThreadPoolExecutor(40) as pool:
                assert set(pool.map(one, range(40))) == {200}
            sent += 40
            time.sleep(0.5)  # the access lines of this round
            if len(pids) == 2:
                break
        scraped = [httpx.get(f"{base}/metrics", timeout=30).text for _ in range(4)]
    assert len(pids) == 2, "no round was served by both workers"
    for text in scraped:  # whichever worker answers, the total is the same
        got = value(text, "cdrstore_http_requests_total", method="GET", route=ROUTE, status="200")
        assert got == sent


def test_serve_checks_an_operators_metrics_directory(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    proc = cli("serve", "--metrics", "--port", "1", check=False)
    assert proc.returncode == 1 and "is not a writable directory" in proc.stderr


def test_a_stray_metrics_directory_is_ignored_when_metrics_are_off(tmp_path):
    url = f"sqlite:///{tmp_path / 'off.db'}"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")}
    proc, base = start_server(url, cwd=tmp_path, env=env)
    try:
        statuses = [httpx.get(f"{base}/healthz", timeout=30).status_code for _ in range(3)]
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 404
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=30)
    assert statuses == [200, 200, 200] and b"Traceback" not in log
