"""The console's routes over HTTP, on both backends (what needs a browser is in
tests/browser/test_console_browser.py): where `/` goes, sign-in and its refusals, the session's
cookie and its end (sign-out, a revoked token), the cross-site guard, the filters' errors."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from cdrstore import synth
from cdrstore.api.app import create_app
from cdrstore.ops.accounts import revoke_token
from cdrstore.settings import Settings
from cdrstore.store.schema import console_sessions
from cdrstore.testing import live_server
from tests.conftest import calls_path, record

COOKIE = "cdrstore_console"


def sign_in(client: TestClient[Any], app_id: str, token: str, **headers: str) -> Any:
    return client.post(
        "/console/sign-in",
        data={"appId": app_id, "token": token},
        headers=headers,
        follow_redirects=False,
    )


def alert(page: str) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', page)
    assert found, page
    return found.group(1)


def signed_in(page: str) -> bool:
    return 'id="app-id"' in page


def test_the_root_goes_to_the_console_and_docs_stay(client):
    r = client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "/console/")
    assert client.get("/docs").status_code == 200
    page = client.get("/console/").text
    assert '<a href="/docs">API docs</a>' in page


def test_with_the_console_off_the_root_goes_to_the_docs(store, db_url):
    app = create_app(Settings(db_url, rate_limit_per_minute=0, console=False), store)
    with TestClient(app) as off:
        r = off.get("/", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (302, "/docs")
        assert off.get("/console/").status_code == 404
        assert off.get("/console/static/console.js").status_code == 404


def test_sign_in_sets_a_strict_http_only_cookie_and_keeps_only_its_hash(client, tokens, store):
    token = tokens.token("acme", ("read",))
    r = sign_in(client, "acme", token)
    assert (r.status_code, r.headers["location"]) == (303, "/console/")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    session_id = re.search(COOKIE + r"=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    assert token not in cookie
    with store.engine.connect() as connection:
        rows = connection.execute(select(console_sessions)).all()
    assert [(row.app_id, session_id in str(row)) for row in rows] == [("acme", False)]
    page = client.get("/console/")
    assert signed_in(page.text) and token not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_cookie_is_secure_over_https(store, db_url, tokens, client):
    app = create_app(Settings(db_url, rate_limit_per_minute=0), store)
    with TestClient(app, base_url="https://testserver.local") as secure:
        r = sign_in(secure, "acme", tokens.token("acme", ("read",)))
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
    # Behind a proxy that ends TLS: plain http here, https in the browser (its Origin says so).
    r = sign_in(client, "acme", tokens.token("acme", ("read",)), origin="https://testserver.local")
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unknown", 401, "Wrong app ID or token: check both and try again."),
        ("malformed", 401, "Wrong app ID or token: check both and try again."),
        ("other app", 403, "That token is not valid for this app ID."),
        ("no read scope", 403, "That token cannot read calls: it lacks the read scope."),
        ("revoked", 401, "That token has been revoked. Ask for a new one."),
        ("bad app ID", 403, "That token is not valid for this app ID."),
        ("empty", 400, "Enter both the app ID and a token."),
    ],
)
def test_a_refused_sign_in_says_why_and_opens_nothing(client, tokens, store, case, status, message):
    app_id, token = "acme", tokens.token("acme", ("read",))
    if case == "unknown":
        token = "cdr_" + "A" * 43
    elif case == "malformed":
        token = "not a token"
    elif case == "other app":
        token = tokens.token("globex", ("read",))
    elif case == "no read scope":
        token = tokens.token("acme", ("ingest",))
    elif case == "revoked":
        revoke_token(store, token)
    elif case == "bad app ID":
        app_id = "no such/app"
    elif case == "empty":
        token = " "
    r = sign_in(client, app_id, token)
    assert r.status_code == status
    assert alert(r.text) == message
    assert COOKIE not in r.headers.get("set-cookie", "")
    assert token.strip() == "" or token not in r.text
    assert not signed_in(client.get("/console/").text)


def test_sign_out_ends_the_session_on_the_server(client, tokens):
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    session_id = client.cookies[COOKIE]
    r = client.post("/console/sign-out", follow_redirects=False)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]
    client.cookies.set(COOKIE, session_id)  # the old cookie, kept and sent again
    page = client.get("/console/").text
    assert not signed_in(page) and "Your session has ended" in page
    assert client.get("/console/export?format=csv", follow_redirects=False).status_code == 303


def test_signing_in_again_ends_the_previous_session(client, tokens, store):
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    with store.engine.connect() as connection:
        assert len(connection.execute(select(console_sessions)).all()) == 1


def test_revoking_the_token_ends_its_sessions(client, tokens, store):
    token = tokens.token("acme", ("read",))
    sign_in(client, "acme", token)
    assert signed_in(client.get("/console/").text)
    revoke_token(store, token)
    assert not signed_in(client.get("/console/").text)


def test_a_post_from_another_origin_is_refused(client, tokens):
    token = tokens.token("acme", ("read",))
    for evil in ("https://evil.example", "http://testserver.local.evil.example", "null"):
        r = sign_in(client, "acme", token, origin=evil)
        assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", ""), evil
    sign_in(client, "acme", token, origin="http://testserver.local")
    assert signed_in(client.get("/console/").text)
    r = client.post(
        "/console/sign-out", headers={"origin": "https://evil.example"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert signed_in(client.get("/console/").text)  # still signed in


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "invalid from: '2026-13-01' is not a date (YYYY-MM-DD)"),
        ("tz=Mars/Olympus", "invalid tz: 'Mars/Olympus' is not an IANA time zone"),
        ("status=Lost", "invalid status: 'Lost'"),
        ("callDirection=Sideways", "invalid callDirection: 'Sideways' (Inbound or Outbound)"),
        ("from=2026-02-02&to=2026-02-01", "the 'to' day is before the 'from' day"),
        ("appID=globex", "unknown filter: appID"),
        ("offset=-1", "invalid offset: '-1'"),
    ],
)
def test_a_bad_filter_is_named(client, tokens, query, message):
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    r = client.get(f"/console/?{query}")
    assert r.status_code == 400
    assert alert(r.text).startswith(message.replace("'", "&#39;"))


def test_the_days_are_taken_in_the_chosen_zone(client, tokens, auth):
    records = [
        record(id="hk-before", callDate="2026-03-01T15:59:59Z"),  # 23:59:59 in Hong Kong
        record(id="hk-first", callDate="2026-03-01T16:00:00Z"),  # 00:00 on 2 March there
        record(id="hk-last", callDate="2026-03-02T15:59:59Z"),
        record(id="hk-after", callDate="2026-03-02T16:00:00Z"),
    ]
    assert client.post(calls_path("acme"), json=records, headers=auth).status_code == 200
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    page = client.get("/console/?from=2026-03-02&to=2026-03-02&tz=Asia/Hong_Kong").text
    assert re.findall(r'data-id="([^"]+)"', page) == ["hk-first", "hk-last"]
    assert "2026-03-02 00:00:00" in page and "2026-03-02 23:59:59" in page


def test_an_export_in_an_unknown_format_is_refused(client, tokens):
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    r = client.get("/console/export?format=xlsx")
    assert r.status_code == 400 and "invalid format: &#39;xlsx&#39; (csv or parquet)" in r.text


ROOT = Path(__file__).resolve().parents[2]


def test_the_console_files_ship_in_the_wheel_with_the_vendored_licence(client):
    """Every file of the console (templates, script, style, Chart.js) matches a package-data
    pattern of pyproject.toml, and cdrstore serves the chart library itself."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["cdrstore"]
    package = ROOT / "src" / "cdrstore"
    console = package / "console"
    files = [
        p.relative_to(package).as_posix()
        for p in console.rglob("*")
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    ]
    assert len(files) >= 10
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, missing
    vendor = console / "static" / "vendor" / "chartjs"
    version = (vendor / "VERSION").read_text().strip()
    assert f"`chart.js`\n{version}" in (vendor / "README.md").read_text()
    assert "MIT License" in (vendor / "LICENSE.md").read_text()
    r = client.get("/console/static/vendor/chartjs/chart.umd.min.js")
    assert r.status_code == 200 and f"Chart.js v{version}" in r.text[:200]


def test_the_dashboard_needs_a_session_and_shows_the_apis_totals(client, tokens, auth):
    assert client.get("/console/dashboard", follow_redirects=False).status_code == 303
    records = [
        record(id="d1", status="Call Ended", callEndTime="2026-03-01T10:01:00Z"),
        record(id="d2", status="Busy"),
        record(id="d3", status="Abandoned", callDirection="Outbound"),
    ]
    records = [{**r, "callDate": "2026-03-01T10:00:00Z"} for r in records]
    assert client.post(calls_path("acme"), json=records, headers=auth).status_code == 200
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    page = client.get("/console/dashboard?callDirection=Inbound").text
    (total,) = client.get(
        "/v1/api/apps/acme/data/call-stats?callDirection=Inbound", headers=auth
    ).json()["result"]
    assert (total["calls"], total["answered"], total["acdMs"]) == (2, 1, 60_000)
    shown = dict(re.findall(r'id="kpi-(\w+)" data-value="([^"]+)"', page))
    assert shown == {
        "calls": "2",
        "answered": "1",
        "asr": "0.5",
        "acd": "60000",
        "abandoned": "0",
    }
    assert client.get("/console/dashboard?tz=Nowhere").status_code == 400


def test_a_direction_page_at_any_offset_is_the_apis_order_filtered(client, tokens, auth):
    """The direction is the console's own filter: its pages (found through the hourly statistics
    at a deep offset) are the API's records of that direction, in order, at those offsets."""
    records = list(synth.generate(700, seed=5, days=2))
    assert client.post(calls_path("acme"), json=records, headers=auth).status_code == 200
    sign_in(client, "acme", tokens.token("acme", ("read",)))
    window = "from=2026-09-01&to=2026-09-01&tz=Asia/Kolkata"  # starts at a half hour in UTC
    start, end = "2026-08-31T18:30:00Z", "2026-09-01T18:30:00Z"
    for query, api in (("", {}), (window, {"startAt": start, "endAt": end})):
        served = client.get(calls_path("acme"), params={**api, "limit": 500}, headers=auth).json()[
            "result"
        ]
        served += client.get(
            calls_path("acme"), params={**api, "limit": 500, "offset": 500}, headers=auth
        ).json()["result"]
        inbound = [r["id"] for r in served if r["callDirection"] == "Inbound"]
        assert len(inbound) > 120
        for offset in (0, 1, 49, 50, 77, 120, len(inbound) - 3, len(inbound), len(inbound) + 9):
            page = client.get(f"/console/?{query}&callDirection=Inbound&offset={offset}").text
            assert re.findall(r'data-id="([^"]+)"', page) == inbound[offset : offset + 50], offset
            assert ('rel="next"' in page) == (offset + 50 < len(inbound)), offset


def test_serve_no_console_turns_it_off_and_a_bad_switch_is_named(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with live_server(url, cwd=tmp_path, args=("--no-console",)) as base:
        assert httpx.get(f"{base}/console/").status_code == 404
        assert httpx.get(f"{base}/").headers["location"] == "/docs"
    with live_server(url, cwd=tmp_path) as base:
        assert httpx.get(f"{base}/").headers["location"] == "/console/"
        assert "Sign in" in httpx.get(f"{base}/console/").text
    refused = subprocess.run(
        [sys.executable, "-m", "cdrstore", "serve", "--check", "--port", "1"],
        env={**os.environ, "CDRSTORE_DATABASE_URL": url, "CDRSTORE_CONSOLE": "maybe"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert (
        "CDRSTORE_CONSOLE must be on or off (1/0, true/false, yes/no), got 'maybe'"
        in refused.stderr
    )
