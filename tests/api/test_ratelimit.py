"""Requests a minute a token (docs/api.md#rate-limit)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.api.ratelimit import RateLimiter, RedisCounter
from cdrstore.contract import CODE_RATE_LIMITED
from cdrstore.settings import Settings, parse_rate_limit
from cdrstore.store import open_store
from cdrstore.testing import app_with_token, free_port, live_server
from tests.conftest import calls_path


def test_limit_is_per_token_with_retry_after(store, db_url, tokens):
    first, second = tokens.headers("acme"), tokens.headers("acme")
    app = create_app(Settings(db_url, rate_limit_per_minute=5), store)
    with TestClient(app) as client:
        for _ in range(5):
            assert client.get(calls_path("acme"), headers=first).status_code == 200
        r = client.get(calls_path("acme"), headers=first)
        assert r.status_code == 429
        assert r.json()["code"] == CODE_RATE_LIMITED
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert client.get(calls_path("acme"), headers=second).status_code == 200


def test_default_is_500_a_minute_and_off_switch(monkeypatch):
    monkeypatch.delenv("CDRSTORE_RATE_LIMIT", raising=False)
    assert Settings.from_env().rate_limit_per_minute == 500
    monkeypatch.setenv("CDRSTORE_RATE_LIMIT", "off")
    assert Settings.from_env().rate_limit_per_minute == 0
    assert parse_rate_limit("120/min") == 120


def test_rate_limit_headers_on_every_authenticated_response(store, db_url, tokens):
    headers = tokens.headers("acme")
    app = create_app(Settings(db_url, rate_limit_per_minute=3), store)
    with TestClient(app) as client:
        seen = []
        for _ in range(4):
            r = client.get(calls_path("acme") + "?limit=1", headers=headers)
            seen.append(
                (r.status_code, r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"])
            )
            assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
        assert seen == [(200, "3", "2"), (200, "3", "1"), (200, "3", "0"), (429, "3", "0")]
        bad = client.get(calls_path("acme") + "?limit=0", headers=tokens.headers("acme"))
        assert bad.status_code == 400 and bad.headers["ratelimit-remaining"] == "2"


def _redis_unreachable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {REDIS_URL} unreachable: {exc}"
    return None


REDIS_URL = os.environ.get("CDRSTORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 20
ROUNDS = 8


@pytest.mark.parametrize("counted_in", ["database", "redis"])
def test_limit_holds_over_two_worker_processes(counted_in, db_url, tmp_path):
    """2*LIMIT requests at once on new connections to 2 workers: exactly LIMIT pass, and the
    RateLimit-Remaining values they carry are all different (one count, not one a worker). Which
    worker takes a connection is the kernel's choice, so rounds (a fresh token each) go on until
    one round was served by both."""
    env = {}
    if counted_in == "redis":
        reason = _redis_unreachable()
        if reason:
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        env["CDRSTORE_REDIS_URL"] = REDIS_URL
    secrets = [app_with_token(db_url, "acme", ("read",)) for _ in range(ROUNDS)]
    served_by: dict[str, int] = {}  # request ID -> pid, from the access lines
    with live_server(
        db_url,
        workers=2,
        cwd=tmp_path,
        args=["--rate-limit", str(LIMIT)],
        env=env,
        on_access=lambda line: served_by.__setitem__(line["request_id"], line["pid"]),
    ) as base:
        for round_, secret in enumerate(secrets):

            def one(i: int, secret: str = secret, round_: int = round_) -> httpx.Response:
                headers = {"Authorization": f"Bearer {secret}", "X-Request-ID": f"{round_}-{i}"}
                with httpx.Client(base_url=base, timeout=30) as http:  # a connection of its own
                    return http.get(calls_path("acme") + "?limit=1", headers=headers)

            with ThreadPoolExecutor(2 * LIMIT) as pool:
                answers = list(pool.map(one, range(2 * LIMIT)))
            check_one_shared_count(answers)
            ids = [f"{round_}-{i}" for i in range(2 * LIMIT)]
            deadline = time.monotonic() + 10
            while not all(i in served_by for i in ids) and time.monotonic() < deadline:
                time.sleep(0.05)
            if len({served_by.get(i) for i in ids} - {None}) == 2:
                return
    pytest.fail(f"in {ROUNDS} rounds, no round was served by both workers")


def check_one_shared_count(answers: list[httpx.Response]) -> None:
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * LIMIT + [429] * LIMIT
    passed = sorted(int(r.headers["ratelimit-remaining"]) for r in answers if r.status_code == 200)
    assert passed == list(range(LIMIT))
    for r in answers:
        assert r.headers["ratelimit-limit"] == str(LIMIT)
        assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
        if r.status_code == 429:
            assert r.json()["code"] == CODE_RATE_LIMITED and int(r.headers["retry-after"]) >= 1


def test_unreachable_redis_falls_back_to_counting_in_process(store, db_url, tokens):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    headers = tokens.headers("acme")
    app = create_app(Settings(db_url, rate_limit_per_minute=2, redis_url=closed), store)
    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("cdrstore.ratelimit").addHandler(handler)
    try:
        with TestClient(app) as client:
            got = [client.get(calls_path("acme"), headers=headers).status_code for _ in range(3)]
    finally:
        logging.getLogger("cdrstore.ratelimit").removeHandler(handler)
    assert got == [200, 200, 429]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0]


def test_a_hung_redis_is_asked_again_only_after_a_pause():
    """A Redis that accepts connections and never answers: the first request waits out the
    socket timeout, the next ones count in process without asking it again."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    counter = RedisCounter(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    try:
        limiter = RateLimiter(3, counter)
        verdicts = [limiter.hit("tok") for _ in range(5)]
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert len(accepted) == 1


def test_an_unreadable_counts_file_is_started_afresh(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Path(f"{tmp_path / 'c.db'}.ratelimit").write_bytes(b"not a database" * 500)
    secret = app_with_token(url, "acme", ("read",))
    store = open_store(url)
    app = create_app(Settings(url, rate_limit_per_minute=5), store)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        got = [client.get(calls_path("acme"), headers=headers) for _ in range(2)]
    store.close()
    assert [r.status_code for r in got] == [200, 200]
    assert [r.headers["ratelimit-remaining"] for r in got] == ["4", "3"]
