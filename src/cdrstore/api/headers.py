"""Headers every response carries: `X-Request-ID` (echoed or made) and, once a token is known,
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; and the right `Allow` on OPTIONS."""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from .ratelimit import Verdict

REQUEST_ID_HEADER: Final = b"x-request-id"
RATE_LIMIT_STATE: Final = "cdrstore_rate_limit"
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}\Z")


_CALL_DETAIL = re.compile(r"/v1/api/apps/[^/]+/data/call-detail/?\Z")


def allowed_methods(path: str) -> str:
    """What `Allow` lists (RFC 9110): call-detail takes GET and POST, every other path GET only;
    HEAD wherever GET is."""
    return "GET, HEAD, POST, OPTIONS" if _CALL_DETAIL.match(path) else "GET, HEAD, OPTIONS"


def request_id(scope: dict[str, Any]) -> str:
    """The caller's X-Request-ID if it is a sane token, else a new one (kept for the request)."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        given = next((v for k, v in scope.get("headers", ()) if k == REQUEST_ID_HEADER), b"")
        state["request_id"] = given.decode() if _SAFE_ID.match(given) else uuid.uuid4().hex
    return str(state["request_id"])


async def add_headers(message: Any, scope: Any) -> None:
    """Litestar `before_send` hook: runs for every response, errors and 404s included."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    if scope.get("method") == "OPTIONS":  # Litestar's own answer lists only the first handler's
        headers = [(k, v) for k, v in headers if k.lower() != b"allow"]
        headers.append((b"allow", allowed_methods(scope.get("path", "")).encode()))
    headers.append((REQUEST_ID_HEADER, request_id(scope).encode()))
    verdict: Verdict | None = scope.get("state", {}).get(RATE_LIMIT_STATE)
    if verdict is not None:
        headers += [
            (b"ratelimit-limit", str(verdict.limit).encode()),
            (b"ratelimit-remaining", str(max(0, verdict.remaining)).encode()),
            (b"ratelimit-reset", str(verdict.reset_after).encode()),
        ]
    message["headers"] = headers
