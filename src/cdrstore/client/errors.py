"""The client's errors: one tree mirroring the contract's error table (docs/api.md#errors).

CdrstoreError
├── TransportError          the server could not be reached (after retries)
└── ApiError                the server answered with an error (.status, .code, .message)
    ├── InvalidRequest      400, 404, 405, 413, 415: the message says what is wrong
    │   └── CursorExpired   410: the change feed's cursor is older than the log kept
    ├── AuthenticationError 401: token missing, unknown, revoked or expired
    ├── PermissionDenied    403: token not valid for this app, or lacks the scope
    ├── RateLimited         429 (.retry_after, seconds)
    └── ServerError         500, 503 and other 5xx
"""

from __future__ import annotations

import httpx
import msgspec


class CdrstoreError(Exception):
    """Anything this client raises."""


class TransportError(CdrstoreError):
    """The server could not be reached, or the connection broke (after retries)."""


class ApiError(CdrstoreError):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(
            f"HTTP {status}" + (f" (code {code})" if code is not None else "") + f": {message}"
        )
        self.status = status
        self.code = code
        self.message = message


class InvalidRequest(ApiError):
    pass


class CursorExpired(InvalidRequest):
    """The change feed no longer holds what changed after this cursor: copy the records afresh
    (`iter_calls`), then follow the feed from no cursor."""


class AuthenticationError(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class RateLimited(ApiError):
    def __init__(
        self, status: int, code: int | None, message: str, retry_after: float | None
    ) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class ServerError(ApiError):
    pass


class _Error(msgspec.Struct):
    code: int | None = None
    message: str = ""


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for(response: httpx.Response) -> ApiError:
    """The error an answer of the server stands for."""
    try:
        body = msgspec.json.decode(response.content, type=_Error)
        code, message = body.code, body.message or response.reason_phrase
    except (msgspec.DecodeError, msgspec.ValidationError):
        code, message = None, response.reason_phrase or "error"
    status = response.status_code
    if status == 401:
        return AuthenticationError(status, code, message)
    if status == 403:
        return PermissionDenied(status, code, message)
    if status == 410:
        return CursorExpired(status, code, message)
    if status == 429:
        return RateLimited(status, code, message, retry_after(response))
    if status >= 500:
        return ServerError(status, code, message)
    return InvalidRequest(status, code, message)
