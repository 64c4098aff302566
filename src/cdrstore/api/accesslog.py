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

from .headers import request_id
from .metrics import observe_request

log: Final = logging.getLogger("cdrstore.access")
_ENCODER: Final = msgspec.json.Encoder()


class AccessLog:
    """Wraps the whole ASGI app, so that 404s and errors raised before routing are logged too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            seconds = time.perf_counter() - started
            fields: dict[str, Any] = dict(scope)  # the http scope's keys, read loosely
            observe_request(
                fields.get("method", ""), fields.get("path_template") or "", status, seconds
            )
            if log.isEnabledFor(logging.INFO):
                log.info(
                    _ENCODER.encode(
                        {
                            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "request_id": request_id(fields),
                            "method": fields.get("method", ""),
                            "route": fields.get("path_template") or "",
                            "path": fields.get("path", ""),
                            "app": (fields.get("path_params") or {}).get("app_id", ""),
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "pid": os.getpid(),  # which worker served it
                        }
                    ).decode()
                )
