"""Structured access logs: one JSON line a request (time, request ID, method, route, app, status,
duration), never a token or a query string's secrets, on the `cdrstore.access` logger; and the same
measurement into the request metrics."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Final

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .errors import code_for
from .headers import request_id
from .metrics import observe_request

log: Final = logging.getLogger("cdrstore.access")
_ENCODER: Final = msgspec.json.Encoder()


def record_request(
    request_id: str,
    method: str,
    route: str,
    path: str,
    app: str,
    status: int,
    seconds: float,
    observe: bool = True,
) -> None:
    """One answered request: its access line, and its count and latency in the metrics."""
    if observe:
        observe_request(method, route, status, seconds)
    if log.isEnabledFor(logging.INFO):
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request_id": request_id,
            "method": method,
            "route": route,
            "path": path,
            "app": app,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "pid": os.getpid(),  # which worker served it
        }
        log.info(_ENCODER.encode(line).decode())


async def _send_internal_error(send: Send) -> None:
    body = _ENCODER.encode({"code": code_for(500), "message": "internal error"})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class AccessLog:
    """Wraps the whole ASGI app, so that 404s and errors raised before routing are logged too."""

    def __init__(self, app: ASGIApp, observe: bool = True) -> None:
        self.app = app
        self.observe = observe  # into the metrics (only when they are served)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            # Nothing should get here (the app answers every error itself); if something does, the
            # client still gets the contract's shape, not the server's plain-text 500.
            log.exception("unanswered error on %s %s", scope.get("method"), scope.get("path"))
            if not status:
                status = 500
                await _send_internal_error(send)
        finally:
            fields: dict[str, Any] = dict(scope)  # the http scope's keys, read loosely
            record_request(
                request_id(fields),
                fields.get("method", ""),
                fields.get("path_template") or "",
                fields.get("path", ""),
                (fields.get("path_params") or {}).get("appID", ""),
                status or 500,
                time.perf_counter() - started,
                self.observe,
            )
