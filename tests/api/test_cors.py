"""CORS (docs/api.md#browsers-on-another-origin-cors): off by default; for a listed origin,
preflights answered and every answer readable; for any other origin, no CORS header at all.
The same in a real browser: tests/browser/test_cors_browser.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.settings import CORS_ORIGINS_ENV, Settings, parse_cors_origins
from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path, record, run_cli

LISTED = "http://localhost:3000"
OTHER = "https://app.example.com"
UNLISTED = "http://evil.example:3000"
PATH = calls_path("acme")


def preflight(origin: str, method: str = "GET") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
    }


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.fixture
def cors_client(store, db_url) -> Iterator[TestClient[Any]]:
    settings = Settings(db_url, rate_limit_per_minute=60, cors_origins=(LISTED, OTHER))
    with TestClient(create_app(settings, store)) as c:
        yield c


@pytest.mark.parametrize("origin", [LISTED, OTHER])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_listed_origins_preflight_is_answered(cors_client, origin, method):
    r = cors_client.options(PATH, headers=preflight(origin, method))
    assert r.status_code in (200, 204), r.text
    h = cors_headers(r)
    assert h["access-control-allow-origin"] == origin
    assert method in h["access-control-allow-methods"]
    allowed = {v.strip().lower() for v in h["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-request-id"} <= allowed
    assert "access-control-allow-credentials" not in h
    assert "origin" in r.headers["vary"].lower()
    assert "allow" not in r.headers  # the preflight's answer, not our OPTIONS answer


def test_a_listed_origin_can_read_answers_and_their_headers(cors_client, auth):
    assert cors_client.post(PATH, json=[record()], headers=auth).status_code == 200
    r = cors_client.get(PATH + "?limit=0", headers={**auth, "Origin": LISTED})
    assert r.status_code == 400  # errors too: a page must be able to read what went wrong
    assert r.headers["access-control-allow-origin"] == LISTED
    r = cors_client.get(PATH, headers={**auth, "Origin": LISTED})
    assert r.status_code == 200 and len(r.json()["result"]) == 1
    assert r.headers["access-control-allow-origin"] == LISTED
    exposed = {v.strip().lower() for v in r.headers["access-control-expose-headers"].split(",")}
    assert {
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "link",
        "x-request-id",
        "retry-after",
    } <= exposed
    assert "ratelimit-remaining" in r.headers
    assert "access-control-allow-credentials" not in r.headers


def test_an_unlisted_origin_gets_no_cors_header(cors_client, auth):
    r = cors_client.options(PATH, headers=preflight(UNLISTED))
    assert not cors_headers(r), r.headers
    assert r.headers["allow"] == "GET, HEAD, POST, OPTIONS"  # an OPTIONS like any other
    r = cors_client.get(PATH, headers={**auth, "Origin": UNLISTED})
    assert r.status_code == 200
    assert not cors_headers(r), r.headers
    assert "origin" in r.headers["vary"].lower()  # a cache must not hand it to a listed origin


def test_plain_options_still_lists_the_methods(cors_client):
    assert cors_client.options(PATH).headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert cors_client.options("/healthz").headers["allow"] == "GET, HEAD, OPTIONS"


def test_off_by_default(client, auth):
    assert Settings("sqlite://").cors_origins == ()
    r = client.options(PATH, headers=preflight(LISTED))
    assert not cors_headers(r), r.headers
    r = client.get(PATH, headers={**auth, "Origin": LISTED})
    assert r.status_code == 200 and not cors_headers(r)


def test_any_origin_never_with_credentials(store, db_url, auth):
    settings = Settings(db_url, rate_limit_per_minute=0, cors_origins=("*",))
    with TestClient(create_app(settings, store)) as c:
        r = c.options(PATH, headers=preflight(UNLISTED))
        assert r.headers["access-control-allow-origin"] == "*"
        r = c.get(PATH, headers={**auth, "Origin": UNLISTED, "Cookie": "a=b"})
        assert r.headers["access-control-allow-origin"] in ("*", UNLISTED)
        assert "access-control-allow-credentials" not in r.headers


def test_origins_are_parsed_and_checked():
    assert parse_cors_origins("") == ()
    assert parse_cors_origins(" HTTPS://App.Example.com , http://localhost:3000,") == (
        "https://app.example.com",
        "http://localhost:3000",
    )
    assert parse_cors_origins("http://[::1]:8080") == ("http://[::1]:8080",)
    assert parse_cors_origins("*") == ("*",)
    for bad in (
        "app.example.com",
        "ftp://x.example",
        "https://x.example/",
        "https://x.example/app",
        "https://x.example?q=1",
        "https://user@x.example",
        "https://x.example:99999",
        "https://x.example:",
        "http://",
        "*,https://x.example",
    ):
        with pytest.raises(ValueError, match=CORS_ORIGINS_ENV) as raised:
            parse_cors_origins(bad)
        assert "--cors-origin" in str(raised.value)


def test_serve_refuses_a_bad_origin_naming_the_variable_and_option(tmp_path):
    env = {**os.environ, "CDRSTORE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    env.pop(CORS_ORIGINS_ENV, None)
    proc = run_cli(("serve", "--cors-origin", "https://x.example/app"), env, tmp_path, check=False)
    assert proc.returncode != 0
    assert CORS_ORIGINS_ENV in proc.stderr and "--cors-origin" in proc.stderr
    assert "'https://x.example/app'" in proc.stderr


def test_serve_takes_the_option_repeated(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    token = app_with_token(url, "acme")
    args = ("--cors-origin", LISTED, "--cors-origin", OTHER)
    with live_server(url, cwd=tmp_path, args=args) as base:
        for origin in (LISTED, OTHER):
            r = httpx.options(base + PATH, headers=preflight(origin))
            assert r.headers["access-control-allow-origin"] == origin
        r = httpx.options(base + PATH, headers=preflight(UNLISTED))
        assert "access-control-allow-origin" not in r.headers
        r = httpx.get(base + PATH, headers={"Authorization": f"Bearer {token}", "Origin": OTHER})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == OTHER


@pytest.mark.parametrize(
    "asked",
    [
        {"Access-Control-Request-Method": "DELETE"},
        {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-Secret"},
    ],
)
def test_a_preflight_for_what_is_not_allowed_gets_no_approval_and_no_text_error(cors_client, asked):
    r = cors_client.options(PATH, headers={"Origin": LISTED, **asked})
    assert r.status_code < 400, r.text
    assert "access-control-allow-origin" not in r.headers
    assert not r.headers.get("content-type", "").startswith("text/plain")
