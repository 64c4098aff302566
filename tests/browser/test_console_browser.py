"""The console (/console/) in a real Chromium with no network: sign in, filter, page, open a call,
export, sign out; the session's cookie and where the token never goes; one app never sees another's
calls; and an axe-core check of every page. With CDRSTORE_SCREENSHOTS=DIR it also writes the
screenshots the docs show (`make screenshots`)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdrstore import synth
from cdrstore.record import FIELDS
from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path

APP, OTHER = "acme", "globex"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = os.environ.get("CDRSTORE_SCREENSHOTS")


def stats(server: Server, **params: str) -> list[dict[str, Any]]:
    r = httpx.get(
        server.base + f"/v1/api/apps/{APP}/data/call-stats",
        params=params,
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["result"]
    return rows


class Server:
    def __init__(self, base: str, token: str, other_token: str, access: list[str]) -> None:
        self.base = base
        self.token = token
        self.other_token = other_token
        self.access = access

    def api(self, app_id: str, token: str, **params: Any) -> list[dict[str, Any]]:
        """Every record the API gives for these filters, all pages."""
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            r = httpx.get(
                self.base + calls_path(app_id),
                params={**params, "offset": offset, "limit": 500},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            page = r.json()["result"]
            found += page
            if "link" not in r.headers:
                return found
            offset += len(page)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work: Path = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{work / 'c.db'}"
    token = app_with_token(url, APP)
    other_token = app_with_token(url, OTHER)
    access: list[str] = []
    with live_server(url, on_access=lambda line: access.append(json.dumps(line)), cwd=work) as base:
        for app_id, secret, n, seed in ((APP, token, 1500, 1), (OTHER, other_token, 120, 2)):
            r = httpx.post(
                base + calls_path(app_id),
                json=list(synth.generate(n, seed=seed)),
                headers={"Authorization": f"Bearer {secret}"},
                timeout=60,
            )
            assert r.status_code == 200, r.text
        yield Server(base, token, other_token, access)


def sign_in(page: Any, base: str, app_id: str, token: str) -> None:
    page.goto(f"{base}/console/")
    page.get_by_label("App ID").fill(app_id)
    page.get_by_label("Token").fill(token)
    # Until the next page's load event its script may not have bound its handlers yet: a key
    # pressed that early went nowhere (a CI run, on a busy machine).
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def row_ids(page: Any) -> list[str]:
    return page.locator("table.calls tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")


def axe_violations(page: Any) -> list[str]:
    # Evaluated by the browser's debugging protocol: the page's Content-Security-Policy (scripts
    # from the server only) would refuse it as a script tag.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


def test_sign_in_shows_the_calls_and_the_token_goes_nowhere(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    page.locator("table.calls").wait_for()
    assert page.url == f"{server.base}/console/"
    expected = [r["id"] for r in server.api(APP, server.token)[:50]]
    assert row_ids(page) == expected
    assert page.locator("#app-id").inner_text() == APP

    # The cookie: HttpOnly, SameSite=Strict, out of JavaScript's reach.
    (cookie,) = offline_page.context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["value"] not in page.evaluate("document.cookie")
    assert page.evaluate("document.cookie") == ""
    # The token: in no page, URL, storage, or access-log line.
    assert server.token not in page.content()
    assert server.token not in page.url
    assert page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)") == "{}{}"
    assert not [line for line in server.access if server.token in line]
    assert offline_page.left_loopback == []
    assert offline_page.console_errors == []


def test_a_wrong_token_is_refused_with_its_message(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, "cdr_" + "x" * 43)
    assert page.get_by_role("alert").inner_text() == (
        "Wrong app ID or token: check both and try again."
    )
    assert page.locator("table.calls").count() == 0
    # Another app's token, valid as it is, does not open this app.
    sign_in(page, server.base, APP, server.other_token)
    assert page.get_by_role("alert").inner_text() == "That token is not valid for this app ID."
    assert page.get_by_label("Token").input_value() == ""  # the token is not given back
    assert server.other_token not in page.content()
    assert offline_page.context.cookies() == []


def test_filter_page_and_the_url_keeps_the_filters(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    page.get_by_label("Status").select_option("Call Ended")
    page.get_by_label("Direction", exact=True).select_option("Inbound")
    page.get_by_label("Time zone").fill("Asia/Hong_Kong")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"status=Call\+Ended"))
    assert "callDirection=Inbound" in page.url and "tz=Asia%2FHong_Kong" in page.url
    wanted = [
        r["id"]
        for r in server.api(APP, server.token, status="Call Ended")
        if r["callDirection"] == "Inbound"
    ]
    assert len(wanted) > 50, "the data set must span two pages"
    assert row_ids(page) == wanted[:50]
    statuses = page.locator("table.calls tbody .status").all_inner_texts()
    assert set(statuses) == {"Call Ended"}

    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"offset=50"))
    assert row_ids(page) == wanted[50:100]
    shared = page.url  # the filters travel with the URL: opened afresh, the same rows
    page.get_by_role("link", name="← Previous").click()
    page.wait_for_url(re.compile(r"^(?!.*offset=)"))
    assert row_ids(page) == wanted[:50]
    page.goto(shared)
    assert row_ids(page) == wanted[50:100]
    assert page.get_by_label("Status").input_value() == "Call Ended"
    # Times are shown in the chosen zone.
    first = server.api(APP, server.token, status="Call Ended")
    first_inbound = next(r for r in first if r["id"] == wanted[50])
    shown = page.locator("table.calls tbody tr button.open").first.inner_text()
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(first_inbound["callDate"]).astimezone(ZoneInfo("Asia/Hong_Kong"))
    assert shown == local.strftime("%Y-%m-%d %H:%M:%S")
    shot(page, "console-calls.png")


def test_a_row_opens_every_field_grouped_with_the_recordings(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    records = server.api(APP, server.token)[:50]
    index = next(i for i, r in enumerate(records) if r["recordingEventList"])
    chosen = records[index]
    button = page.locator("table.calls tbody tr button.open").nth(index)
    button.focus()
    page.keyboard.press("Enter")  # the keyboard opens it
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert dialog.get_by_role("heading", level=2).inner_text() == f"Call {chosen['id']}"
    headings = dialog.get_by_role("heading", level=3).all_inner_texts()
    assert headings == ["Call", "Parties", "Recordings"]
    names = set(dialog.locator("dt").all_inner_texts())
    assert set(FIELDS) - {"recordingEventList"} <= names
    files = [f for e in chosen["recordingEventList"] for f in e["files"]]
    links = dialog.locator("ul.files a").evaluate_all("links => links.map(a => a.href)")
    assert links == [f["downloadUrl"] for f in files]
    dialog.locator("section.recordings").scroll_into_view_if_needed()
    shot(page, "console-detail.png")
    assert axe_violations(page) == []
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.index") == str(index)


def test_export_downloads_the_filtered_rows(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    page.get_by_label("Type").select_option("offnet")
    page.get_by_label("Direction", exact=True).select_option("Outbound")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"callType=offnet"))
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = Path(download.value.path()).read_text()
    exported = [row["id"] for row in csv.DictReader(io.StringIO(text))]
    wanted = [
        r["id"]
        for r in server.api(APP, server.token, callType="offnet")
        if r["callDirection"] == "Outbound"
    ]
    assert exported == wanted and len(wanted) > 50  # every page, not the one shown

    import pyarrow.parquet as pq

    with page.expect_download() as download:
        page.get_by_role("link", name="Parquet").click()
    table = pq.read_table(download.value.path())
    assert table.column("id").to_pylist() == wanted


def test_sign_out_ends_the_session_server_side(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    page.locator("table.calls").wait_for()
    (cookie,) = offline_page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert offline_page.context.cookies() == []
    # The old cookie, sent again, opens nothing.
    old = httpx.get(f"{server.base}/console/", cookies={cookie["name"]: cookie["value"]})
    assert 'table class="calls"' not in old.text
    assert "Your session has ended" in old.text
    offline_page.context.add_cookies([cookie])
    page.goto(f"{server.base}/console/")
    assert page.locator("table.calls").count() == 0


def test_a_token_of_one_app_never_shows_another(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    others = {r["id"] for r in server.api(OTHER, server.other_token)}
    assert not others & set(row_ids(page))
    # Editing the URL: there is no app in it to change, and what is added is refused.
    for edit in ("appID=globex", "app=globex", "appId=globex"):
        page.goto(f"{server.base}/console/?{edit}")
        assert page.get_by_role("alert").inner_text().startswith("unknown filter")
        assert row_ids(page) == []
    for path in ("/console/globex", "/console/?../globex"):
        response = page.goto(server.base + path)
        assert response is not None and not others & set(row_ids(page))
    with page.expect_download() as download:
        page.goto(f"{server.base}/console/")
        page.get_by_role("link", name="CSV").click()
    exported = {
        row["id"] for row in csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))
    }
    assert exported and not exported & others
    assert page.locator("#app-id").inner_text() == APP


def test_the_dashboard_shows_the_stats_apis_figures_and_draws_its_charts(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_label("Time zone").fill("Asia/Hong_Kong")
    page.get_by_label("Direction", exact=True).select_option("Inbound")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"/console/dashboard\?.*callDirection=Inbound"))
    (total,) = stats(server, tz="Asia/Hong_Kong", callDirection="Inbound")
    for kpi in ("calls", "answered", "asr", "abandoned"):
        shown = page.locator(f"#kpi-{kpi}").get_attribute("data-value")
        assert float(shown) == total[kpi], kpi
    assert page.locator("#kpi-acd").get_attribute("data-value") == str(total["acdMs"])
    assert page.locator("#kpi-calls p").inner_text() == f"{total['calls']:,}"
    assert page.locator("#kpi-asr p").inner_text() == f"{total['asr'] * 100:.1f} %"

    # The charts are drawn: each canvas holds coloured pixels.
    for chart in ("chart-calls", "chart-quality"):
        painted = page.evaluate(
            """id => { const c = document.getElementById(id);
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
            chart,
        )
        assert painted > 1000, chart
    # The charts' and heatmap's numbers: the per-day and per-hour statistics summed.
    data = json.loads(page.locator("#dashboard-data").inner_text())
    by_day = stats(server, tz="Asia/Hong_Kong", callDirection="Inbound", groupBy="day")
    assert data["days"] == [row["key"] for row in by_day]
    per_day = [sum(day) for day in zip(*data["callsByStatus"].values(), strict=True)]
    assert per_day == [row["calls"] for row in by_day]
    assert data["asr"] == [round(100 * row["asr"], 2) for row in by_day]
    heat = page.locator("#heatmap tbody td").all_inner_texts()
    by_weekday = stats(server, tz="Asia/Hong_Kong", callDirection="Inbound", groupBy="weekday")
    for weekday in by_weekday:
        cells = heat[(weekday["key"] - 1) * 24 : weekday["key"] * 24]
        assert sum(int(n) for n in cells) == weekday["calls"]
    agents = stats(server, tz="Asia/Hong_Kong", callDirection="Inbound", groupBy="agent")
    top = sorted(agents, key=lambda r: (-r["calls"], r["key"]))[:10]
    shown_agents = page.locator("#top-agents tbody th").all_inner_texts()
    assert shown_agents == [row["key"] or "(none)" for row in top]
    assert page.locator("#split-direction tbody th").all_inner_texts() == ["Inbound"]
    shot(page, "console-dashboard.png")
    assert axe_violations(page) == []
    assert offline_page.left_loopback == [] and offline_page.console_errors == []


def test_the_number_filter_finds_the_calls_of_a_number(server, offline_page):
    page = offline_page.page
    sign_in(page, server.base, APP, server.token)
    number = server.api(APP, server.token)[7]["caller"]
    page.get_by_label("Number").fill(number)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"number="))
    wanted = [r["id"] for r in server.api(APP, server.token, number=number)]
    assert wanted and row_ids(page) == wanted[:50]


def test_every_page_passes_axe_at_laptop_and_phone_widths(server, browser):
    for width, height in ((1280, 800), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        try:
            page.goto(f"{server.base}/console/")
            assert axe_violations(page) == [], f"sign-in at {width}px"
            sign_in(page, server.base, APP, server.token)
            page.locator("table.calls").wait_for()
            assert axe_violations(page) == [], f"calls at {width}px"
            # Readable: nothing wider than the screen but the table's own scroller.
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"the calls page scrolls sideways at {width}px"
            page.goto(f"{server.base}/console/dashboard")
            page.locator("#kpi-calls").wait_for()
            assert axe_violations(page) == [], f"dashboard at {width}px"
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"the dashboard scrolls sideways at {width}px"
        finally:
            context.close()
