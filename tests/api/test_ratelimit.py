"""Requests a minute a token (spec section 5)."""

from __future__ import annotations

from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.contract import CODE_RATE_LIMITED
from cdrstore.settings import Settings, parse_rate_limit
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
