"""uvicorn's HTTP/1.1 protocol with a deadline for request headers.

uvicorn times out idle keep-alive connections but not a request whose head never finishes, so a
client can hold a connection open for ever by sending a header line now and then (slowloris). Here
a request's head must be complete within the header timeout of the connection opening, or of the
first byte of the request on a kept-alive connection; otherwise the answer is a 408 in the
contract's error shape and the connection is closed. The deadline never runs while a request is
being answered or its body read (bodies have their own timeout, in the request handler).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Final

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..errors import DomainError, InvalidRequest, RequestTimeout
from ..settings import Settings
from .accesslog import record_request
from .errors import ErrorBody, code_for, status_of

_REASONS: Final = {400: b"Bad Request", 408: b"Request Timeout"}


def _closing_answer(error: DomainError, request_id: str) -> tuple[int, bytes]:
    """A whole HTTP answer to a request that never reached the app, in the contract's shape, that
    closes the connection: (status, bytes to write)."""
    status = status_of(error)
    body = msgspec.json.encode(ErrorBody(code_for(status), error.message))
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"x-request-id: %s\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body), request_id.encode())
    )
    return status, head + body


# Read when a worker imports this module: the settings `cdrstore serve` put in the environment.
_SETTINGS: Final = Settings.from_env()


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout: float = _SETTINGS.header_timeout
    observe: bool = _SETTINGS.metrics  # count the 408s it answers in the metrics

    _head_deadline: asyncio.TimerHandle | None = None
    _head_started: float = 0.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:  # a kept-alive connection's next request
            self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self, after: float | None = None) -> None:
        self._disarm_head_deadline()
        if after is None:
            self._head_started = time.perf_counter()
        delay = self.header_timeout if after is None else after
        self._head_deadline = self.loop.call_later(delay, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request (pipelined) is still being answered: look again afterwards.
            self._arm_head_deadline(after=1.0)
            return
        self._answer_and_close(RequestTimeout("request headers too slow"))

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refuses (a bare CR, a head too long, a
        malformed line), in the contract's shape instead of text/plain."""
        self._answer_and_close(InvalidRequest(f"invalid HTTP request: {msg.rstrip('.')}"))

    def _answer_and_close(self, error: DomainError) -> None:
        self._disarm_head_deadline()
        request_id = uuid.uuid4().hex
        status, answer = _closing_answer(error, request_id)
        self.transport.write(answer)
        self.transport.close()
        seconds = time.perf_counter() - self._head_started
        record_request(request_id, "", "", "", "", status, seconds, self.observe)
