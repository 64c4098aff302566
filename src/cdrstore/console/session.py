"""The console's session cookie and its guard against cross-site requests.

The cookie holds only a random session id (the database keeps its hash): HttpOnly, so that no
script reads it; SameSite=Strict, so that no other site's page or link sends it; Secure when the
request came over https. A POST must also come from a page of this origin (`Origin`), a second
lock beside SameSite."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie

from ..ops.console import SESSION_SECONDS

COOKIE: Final = "cdrstore_console"
COOKIE_PATH: Final = "/console"


def session_id(request: Request[Any, Any, Any]) -> str:
    return request.cookies.get(COOKIE, "")


def _secure(request: Request[Any, Any, Any]) -> bool:
    """Whether the browser is on https: this server's own TLS, or, behind a proxy that ends TLS
    and forwards plain http, the scheme of the page the browser posts from (`Origin`)."""
    origin = request.headers.get("origin", "")
    return request.url.scheme == "https" or origin.lower().startswith("https://")


def session_cookie(request: Request[Any, Any, Any], value: str) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        path=COOKIE_PATH,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def ended_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return Cookie(
        key=COOKIE,
        value="",
        path=COOKIE_PATH,
        max_age=0,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """Whether a POST came from this server's own pages: its Origin (which every browser sends
    with a POST) names the host the request was sent to. The scheme is not compared: behind a
    proxy that ends TLS, the browser's https reaches us as http. A request with no Origin is no
    browser's, and carries no session a browser was tricked into sending."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    try:
        host = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(host) and host.lower() == request.headers.get("host", "").lower()
