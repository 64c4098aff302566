"""The console's routes under /console/: sign in and out, the calls, the dashboard, the export.
Every page reads the app from its session, never from the URL, so that a session shows its own
app's data only."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import anyio.to_thread
import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.response import Redirect, Stream
from litestar.static_files import create_static_files_router

from ..errors import DomainError, Forbidden, Unauthenticated
from ..ops.console import call_page, current_session, export_calls, sign_in, sign_out
from ..ops.stats import stats_for_params
from ..record import CALL_TYPES, STATUSES
from ..store import SessionInfo, Store
from .dashboard import WEEKDAYS, Dashboard, Row, build, clock, percent
from .download import DOWNLOAD_FORMATS, stream_export
from .filters import DIRECTIONS, PAGE_SIZE, ConsoleFilters, FilterError, parse_filters
from .pages import render
from .session import ended_cookie, same_origin, session_cookie, session_id
from .views import FIELD_GROUPS, rows

CONSOLE_PATH: Final = "/console"
STATIC_DIR: Final = Path(__file__).parent / "static"
HTML: Final = "text/html"
# Pages hold an app's calls: never kept by a browser's or a proxy's cache, nor framed by another
# site; scripts and styles only from this server.
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _store(request: Request[Any, Any, Any]) -> Store:
    store: Store = request.app.state.store
    return store


def _page(html: str, status: int = 200, **kwargs: Any) -> Response[str]:
    return Response(html, media_type=HTML, status_code=status, headers=PAGE_HEADERS, **kwargs)


async def _session(request: Request[Any, Any, Any]) -> SessionInfo | None:
    try:
        return await anyio.to_thread.run_sync(current_session, _store(request), session_id(request))
    except Unauthenticated:
        return None


def _sign_in_page(
    request: Request[Any, Any, Any], status: int = 200, app_id: str = "", message: str = ""
) -> Response[str]:
    html = render(
        "signin.html", given_app_id=app_id, message=message, ended=bool(session_id(request))
    )
    return _page(html, status, cookies=[ended_cookie(request)] if session_id(request) else [])


def _common(session: SessionInfo, filters: ConsoleFilters, view: str) -> dict[str, Any]:
    return {
        "app_id": session.app_id,
        "filters": filters,
        "view": view,
        "call_types": CALL_TYPES,
        "statuses": STATUSES,
        "directions": DIRECTIONS,
        "query": filters.query_string(),
        "groups": FIELD_GROUPS,
        "csv_link": export_link(filters, "csv"),
        "parquet_link": export_link(filters, "parquet"),
    }


def _sign_in_message(exc: DomainError) -> str:
    text = str(exc)
    if text == "token revoked":
        return "That token has been revoked. Ask for a new one."
    if text == "token expired":
        return "That token has expired. Ask for a new one."
    if isinstance(exc, Forbidden) and "scope" in text:
        return "That token cannot read calls: it lacks the read scope."
    if isinstance(exc, Forbidden):
        return "That token is not valid for this app ID."
    return "Wrong app ID or token: check both and try again."


@get("/", name="console")
async def console_home(request: Request[Any, Any, Any]) -> Response[str]:
    """Signed in: the calls. Else: the sign-in form."""
    session = await _session(request)
    if session is None:
        return _sign_in_page(request)
    try:
        filters = parse_filters(request.query_params.multi_items())
    except FilterError as exc:
        html = render(
            "calls.html",
            rows=[],
            records=b"[]",
            error=str(exc),
            **_common(session, ConsoleFilters(), "calls"),
        )
        return _page(html, 400)
    page = await anyio.to_thread.run_sync(
        call_page, _store(request), session.app_id, filters.page_query(), filters.direction or None
    )
    table, records = rows(page.docs, filters.zone())
    previous = max(filters.offset - PAGE_SIZE, 0) if filters.offset else None
    html = render(
        "calls.html",
        rows=table,
        records=records.replace(b"<", b"\\u003c").decode(),
        first=filters.offset + 1,
        previous=None if previous is None else filters.query_string(previous),
        next=filters.query_string(filters.offset + PAGE_SIZE) if page.has_more else None,
        error="",
        **_common(session, filters, "calls"),
    )
    return _page(html)


def _dashboard(store: Store, app_id: str, filters: ConsoleFilters) -> Dashboard:
    def one(pairs: list[tuple[str, str]]) -> list[Row]:
        _, rows = stats_for_params(store, app_id, pairs)
        return [msgspec.structs.asdict(row) for row in rows]

    # One after the other: measured side by side in threads they were no faster (the work is
    # Python's as much as the database's).
    return build(filters, lambda queries: [one(pairs) for pairs in queries])


@get("/dashboard")
async def console_dashboard(request: Request[Any, Any, Any]) -> Response[str]:
    """The figures of the chosen range, zone and filters, from the statistics the API serves."""
    session = await _session(request)
    if session is None:
        return Redirect(f"{CONSOLE_PATH}/", status_code=303)
    try:
        filters = parse_filters(request.query_params.multi_items())
    except FilterError as exc:
        common = _common(session, ConsoleFilters(), "dashboard")
        return _page(render("dashboard.html", error=str(exc), **common), 400)
    board = await anyio.to_thread.run_sync(_dashboard, _store(request), session.app_id, filters)
    html = render(
        "dashboard.html",
        board=board,
        error="",
        weekdays=WEEKDAYS,
        percent=percent,
        clock=clock,
        **_common(session, filters, "dashboard"),
    )
    return _page(html)


@post("/sign-in", status_code=303)
async def console_sign_in(request: Request[Any, Any, Any]) -> Response[str]:
    if not same_origin(request):
        return _page(render("refused.html"), 403)
    form = await request.form()
    app_id = str(form.get("appId", "")).strip()
    secret = str(form.get("token", ""))
    if not app_id or not secret.strip():
        return _sign_in_page(request, 400, app_id, "Enter both the app ID and a token.")
    # A new sign-in ends the session this browser had, if any, rather than leaving it behind.
    await anyio.to_thread.run_sync(sign_out, _store(request), session_id(request))
    try:
        new_id = await anyio.to_thread.run_sync(sign_in, _store(request), app_id, secret)
    except (Unauthenticated, Forbidden) as exc:
        status = 401 if isinstance(exc, Unauthenticated) else 403
        return _sign_in_page(request, status, app_id, _sign_in_message(exc))
    response: Response[str] = Redirect(f"{CONSOLE_PATH}/", status_code=303)
    response.set_cookie(session_cookie(request, new_id))
    return response


@post("/sign-out", status_code=303)
async def console_sign_out(request: Request[Any, Any, Any]) -> Response[str]:
    if not same_origin(request):
        return _page(render("refused.html"), 403)
    await anyio.to_thread.run_sync(sign_out, _store(request), session_id(request))
    response: Response[str] = Redirect(f"{CONSOLE_PATH}/", status_code=303)
    response.set_cookie(ended_cookie(request))
    return response


@get("/export")
async def console_export(request: Request[Any, Any, Any]) -> Response[Any]:
    """The current filter's calls, every page of them, as CSV or Parquet, streamed."""
    session = await _session(request)
    if session is None:
        return Redirect(f"{CONSOLE_PATH}/", status_code=303)
    pairs = list(request.query_params.multi_items())
    fmt = next((value for name, value in pairs if name == "format"), "csv")
    try:
        if fmt not in DOWNLOAD_FORMATS:
            raise FilterError(f"invalid format: {fmt!r} (csv or parquet)")
        filters = parse_filters((name, value) for name, value in pairs if name != "format")
    except FilterError as exc:
        return _page(render("refused.html", message=str(exc)), 400)
    store, query, direction = _store(request), filters.page_query(), filters.direction or None

    def records() -> Any:
        return stream_export(export_calls(store, session.app_id, query, direction), fmt)

    return Stream(
        records,
        media_type=DOWNLOAD_FORMATS[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="calls-{session.app_id}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


def console_router() -> Router:
    handlers = [console_home, console_dashboard, console_sign_in, console_sign_out, console_export]
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
        name="console-static",
    )
    return Router(path=CONSOLE_PATH, route_handlers=[*handlers, static], include_in_schema=False)


def export_link(filters: ConsoleFilters, fmt: str) -> str:
    return f"{CONSOLE_PATH}/export?{urlencode([*filters.pairs(), ('format', fmt)])}"
