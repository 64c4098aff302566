"""A page on another origin runs the vendor's fetch snippet against cdrstore, in Chromium: it reads
the records when its origin is listed (`serve --cors-origin`), and the browser blocks it when not
(docs/api.md#browsers-on-another-origin-cors)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cdrstore.testing import app_with_token, free_port, live_server
from tests.conftest import calls_path, record

APP = "acme"
PAGE = "<!doctype html><html><head><title>another origin</title></head><body>client</body></html>"
# The vendor's fetch snippet, as a page would run it (only the URL and token are the test's).
FETCH = """async ([url, token]) => {
  try {
    const response = await fetch(url, {
      method: 'GET',
      headers: {Authorization: 'Bearer ' + token, accept: 'application/json'},
    });
    return {
      status: response.status,
      body: await response.json(),
      limit: response.headers.get('RateLimit-Limit'),
      requestId: response.headers.get('X-Request-ID'),
    };
  } catch (error) {
    return {error: String(error)};
  }
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def other_origin(tmp_path_factory) -> Iterator[str]:
    """A page served from another origin: same host, another port."""
    root: Path = tmp_path_factory.mktemp("origin")
    (root / "index.html").write_text(PAGE)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> tuple[Path, str, str]:
    import httpx

    work: Path = tmp_path_factory.mktemp("cors")
    url = f"sqlite:///{work / 'c.db'}"
    token = app_with_token(url, APP)
    with live_server(url, cwd=work) as base:
        r = httpx.post(
            base + calls_path(APP),
            json=[record(id="cors-1")],
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    return work, url, token


def run_snippet(offline_page: Any, origin: str, api: str, token: str) -> dict[str, Any]:
    page = offline_page.page
    page.goto(f"{origin}/index.html")
    result: dict[str, Any] = page.evaluate(FETCH, [api + calls_path(APP), token])
    return result


def test_a_listed_origin_reads_the_records(database, other_origin, offline_page):
    work, url, token = database
    args = ("--cors-origin", other_origin, "--rate-limit", "100")
    with live_server(url, cwd=work, args=args) as api:
        result = run_snippet(offline_page, other_origin, api, token)
    assert "error" not in result, result
    assert result["status"] == 200
    assert [r["id"] for r in result["body"]["result"]] == ["cors-1"]
    assert result["limit"] == "100"  # an exposed header, readable by the page
    assert result["requestId"]
    assert offline_page.left_loopback == []
    assert offline_page.console_errors == []


@pytest.mark.parametrize("listed", [None, "http://127.0.0.1:1"])
def test_an_origin_not_listed_is_blocked_by_the_browser(
    database, other_origin, offline_page, listed
):
    work, url, token = database
    args = ("--cors-origin", listed) if listed else ()
    with live_server(url, cwd=work, args=args) as api:
        result = run_snippet(offline_page, other_origin, api, token)
    assert "error" in result, result  # TypeError: Failed to fetch
    assert any("CORS" in e for e in offline_page.console_errors), offline_page.console_errors
    assert offline_page.left_loopback == []
