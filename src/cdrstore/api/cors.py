"""CORS (docs/api.md#browsers-on-another-origin): browser pages from the origins listed in
`cors_origins` may call the API; bearer tokens only, never cookies, so never credentials.

Litestar's CORS handling answers preflights and adds the headers for a listed origin. A request
from any other origin is handed on as if it carried no `Origin` at all: it gets no CORS header,
and an `OPTIONS` from it is answered as any `OPTIONS` is (with `Allow`), not with an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .headers import EXPOSED_HEADERS, REQUEST_ID_HEADER

ALLOWED_METHODS: Final = ["GET", "HEAD", "POST", "OPTIONS"]
ALLOWED_HEADERS: Final = ["Authorization", "Content-Type", "Accept", REQUEST_ID_HEADER.decode()]
PREFLIGHT_MAX_AGE: Final = 600  # seconds a browser may reuse a preflight's answer


def cors_config(origins: tuple[str, ...]) -> CORSConfig | None:
    """The app's CORS configuration; None (no CORS headers at all) when no origin is listed."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=ALLOWED_METHODS,  # type: ignore[arg-type]
        allow_headers=ALLOWED_HEADERS,
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
    )


_CORS_REQUEST_HEADERS: Final = (
    b"origin",
    b"access-control-request-method",
    b"access-control-request-headers",
)
_ALLOWED_HEADER_NAMES: Final = frozenset(name.lower() for name in ALLOWED_HEADERS)


def _preflight_allowed(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a preflight (if this is one) asks only for what is allowed."""
    found = dict(headers)
    method = found.get(b"access-control-request-method")
    if method is None:
        return True
    asked = found.get(b"access-control-request-headers", b"").decode("latin-1")
    names = {name.strip().lower() for name in asked.split(",") if name.strip()}
    return method.decode("latin-1") in ALLOWED_METHODS and names <= _ALLOWED_HEADER_NAMES


class UnlistedOrigins:
    """Wraps the app's ASGI handler (outside Litestar's CORS handling): drops the `Origin` of a
    request from an origin not listed, and says on every response that it varies by `Origin`."""

    def __init__(self, app: ASGIApp, config: CORSConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        origin = next((v for k, v in headers if k == b"origin"), None)
        listed = origin is not None and self.config.is_origin_allowed(origin.decode("latin-1"))
        if origin is not None and (not listed or not _preflight_allowed(headers)):
            # Answered as a request from no browser: a preflight for a method or header not
            # allowed gets a plain OPTIONS answer (the browser then refuses the call), never
            # Litestar's text/plain 400.
            scope["headers"] = [(k, v) for k, v in headers if k not in _CORS_REQUEST_HEADERS]

        async def vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent = list(message.get("headers", ()))
                if not any(k.lower() == b"vary" and b"origin" in v.lower() for k, v in sent):
                    sent.append((b"vary", b"Origin"))
                message["headers"] = sent
            await send(message)

        await self.app(scope, receive, vary)
