"""uvicorn's HTTP/1.1 protocol with a deadline for request headers.

uvicorn times out idle keep-alive connections but not a request whose head never finishes, so a
client can hold a connection open for ever by sending a header line now and then (slowloris). Here
a request's head must be complete within the header timeout of the connection opening or of the
previous response ending; otherwise the answer is a 408 in the contract's error shape and the
connection is closed. (Bodies have their own timeout, in the request handler.)
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Final

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .. import contract
from ..settings import HEADER_TIMEOUT_ENV, parse_header_timeout

_BODY: Final = msgspec.json.encode(
    {"code": contract.CODE_BAD_REQUEST, "message": "request headers too slow"}
)
_RESPONSE: Final = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _BODY
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout: float = parse_header_timeout(os.environ.get(HEADER_TIMEOUT_ENV))

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.pipeline and not self.transport.is_closing():
            self._arm_head_deadline()  # for the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_RESPONSE)
        self.transport.close()
