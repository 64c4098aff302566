"""Headers every response carries: `X-Request-ID` (echoed or made) and, once a token is known,
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; and the right `Allow` on OPTIONS."""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from .. import contract
from .ratelimit import Verdict

REQUEST_ID_HEADER: Final = b"x-request-id"
RATE_LIMIT_STATE: Final = "cdrstore_rate_limit"
RATE_LIMIT_HEADERS: Final = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
# What a browser page on another origin may read of a response (CORS, api/cors.py).
EXPOSED_HEADERS: Final = (*RATE_LIMIT_HEADERS, "Retry-After", "Link", "X-Request-ID")
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}\Z")


# The call-detail route, its `{appID}` matching any one path segment.
def _route(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{appID}"), "[^/]+") + r"/?\Z")


# (route, what `Allow` lists for it); any other path takes GET alone. HEAD wherever GET is.
_METHODS: Final = (
    (_route(contract.CALL_DETAIL_ROUTE), "GET, HEAD, POST, OPTIONS"),
    (_route(contract.FREESWITCH_INGEST_ROUTE), "POST, OPTIONS"),
    (_route(contract.CALL_EVENT_SUB_PATH.replace(":str}", "}")), "GET, HEAD, PATCH, OPTIONS"),
    (_route(contract.RECORDING_EVENT_SUB_PATH.replace(":str}", "}")), "GET, HEAD, PATCH, OPTIONS"),
)


def allowed_methods(path: str) -> str:
    """What `Allow` lists (RFC 9110) for a path."""
    return next((methods for route, methods in _METHODS if route.match(path)), "GET, HEAD, OPTIONS")


def request_id(scope: dict[str, Any]) -> str:
    """The caller's X-Request-ID if it is a sane token, else a new one (kept for the request)."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        given = next((v for k, v in scope.get("headers", ()) if k == REQUEST_ID_HEADER), b"")
        state["request_id"] = given.decode() if _SAFE_ID.match(given) else uuid.uuid4().hex
    return str(state["request_id"])


def _answered_by_cors(scope: Any) -> bool:
    """A preflight (OPTIONS with Origin and Access-Control-Request-Method) with CORS on: only a
    listed origin's comes this far with its Origin (api/cors.py)."""
    app = scope.get("litestar_app")
    if app is None or app.cors_config is None:
        return False
    names = {k.lower() for k, _ in scope.get("headers", ())}
    return b"origin" in names and b"access-control-request-method" in names


async def add_headers(message: Any, scope: Any) -> None:
    """Litestar `before_send` hook: runs for every response, errors and 404s included."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    # Litestar's own answer to OPTIONS lists only the first handler's methods; a CORS preflight's
    # answer is Litestar's CORS handling's, and says what it must in its own headers.
    if scope.get("method") == "OPTIONS" and not _answered_by_cors(scope):
        headers = [(k, v) for k, v in headers if k.lower() != b"allow"]
        headers.append((b"allow", allowed_methods(scope.get("path", "")).encode()))
    headers.append((REQUEST_ID_HEADER, request_id(scope).encode()))
    verdict: Verdict | None = scope.get("state", {}).get(RATE_LIMIT_STATE)
    if verdict is not None:
        values = (verdict.limit, max(0, verdict.remaining), verdict.reset_after)
        headers += [
            (name.lower().encode(), str(value).encode())
            for name, value in zip(RATE_LIMIT_HEADERS, values, strict=True)
        ]
    message["headers"] = headers
