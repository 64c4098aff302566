"""/docs in a real Chromium with no network: the page renders the operations from cdrstore's own
files, and "Authorize", "Try it out", "Execute" bring back a page of records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path, record

APP = "acme"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    import httpx

    work: Path = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{work / 'd.db'}"
    token = app_with_token(url, APP)
    with live_server(url, cwd=work) as base:
        records = [record(id="docs-1"), record(id="docs-2", callDate="2022-11-08T00:00:00Z")]
        r = httpx.post(
            base + calls_path(APP), json=records, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        yield base, token


def test_the_docs_page_renders_offline(server, offline_page):
    base, _ = server
    page = offline_page.page
    page.goto(f"{base}/docs")
    for method in ("get", "post"):
        block = page.locator(f".opblock-{method}").filter(
            has_text="/v1/api/apps/{appID}/data/call-detail"
        )
        block.first.wait_for(state="visible", timeout=30_000)
    page.get_by_text("Get call details").first.wait_for(state="visible")
    page.locator("button.authorize").first.wait_for(state="visible")
    assert offline_page.left_loopback == []
    assert offline_page.failed == []
    assert offline_page.console_errors == []


def test_try_it_out_with_a_token(server, offline_page):
    base, token = server
    page = offline_page.page
    page.goto(f"{base}/docs")
    page.locator("button.authorize").first.click()
    # The bearer scheme's form (the FreeSWITCH route also offers Basic): its input, its button.
    bearer = page.locator(".dialog-ux form").filter(has_text="bearerAuth")
    bearer.locator("input").first.fill(token)
    bearer.locator("button.modal-btn.authorize").click()
    page.locator(".dialog-ux button.btn-done").first.click()

    operation = page.locator(".opblock-get").first
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("tr[data-param-name='appID'] input").fill(APP)
    operation.get_by_role("button", name="Execute").click()

    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(state="visible", timeout=30_000)
    assert status.inner_text().strip() == "200"
    body = operation.locator(".live-responses-table .microlight").first.inner_text()
    page_of_records = json.loads(body)
    assert page_of_records["code"] == 0
    assert [r["id"] for r in page_of_records["result"]] == ["docs-1", "docs-2"]
    # The token went in the header, never in the URL shown for the request.
    assert token not in operation.locator(".request-url").inner_text()
    assert offline_page.left_loopback == []
    assert offline_page.console_errors == []
