"""One error shape for every failure (spec section 5): `{"code": ..., "message": ...}`.

Handlers raise `ApiError`; whatever else escapes (Litestar's own 404/405/413, a database fault, a
bug) is mapped here too, so no response ever carries another shape, a stack trace or a secret.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any, Final

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException
from sqlalchemy.exc import DBAPIError, OperationalError

from .. import contract
from ..batch import RecordError
from .headers import allowed_methods
from .metrics import DATABASE_ERRORS

log = logging.getLogger("cdrstore.api")

JSON: Final = "application/json"

_CODE_BY_STATUS: Final = {
    400: contract.CODE_BAD_REQUEST,
    401: contract.CODE_UNAUTHENTICATED,
    403: contract.CODE_FORBIDDEN,
    404: contract.CODE_NOT_FOUND,
    405: contract.CODE_NOT_FOUND,
    408: contract.CODE_BAD_REQUEST,
    413: contract.CODE_BAD_REQUEST,
    415: contract.CODE_BAD_REQUEST,
    429: contract.CODE_RATE_LIMITED,
    500: contract.CODE_INTERNAL,
    503: contract.CODE_INTERNAL,
}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error response; `errors` only on an ingest request with invalid records."""

    code: int
    message: str
    errors: list[RecordError] = msgspec.field(default_factory=list)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[RecordError] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.errors = errors or []


def code_for(status: int) -> int:
    if status in _CODE_BY_STATUS:
        return _CODE_BY_STATUS[status]
    return contract.CODE_INTERNAL if status >= 500 else contract.CODE_BAD_REQUEST


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    errors: list[RecordError] | None = None,
) -> Response[bytes]:
    body = msgspec.json.encode(ErrorBody(code_for(status), message, errors or []))
    return Response(content=body, status_code=status, media_type=JSON, headers=headers)


def handle_api_error(_request: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return error_response(exc.status, exc.message, exc.headers, exc.errors)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status in (404, 405):
        message = f"method not found, method: {request.method} url: {request.url.path}"
    elif status == 413:
        message = f"request too large: at most {contract.BATCH_MAX_BYTES} bytes a request"
    elif status >= 500:
        log.error("internal error on %s %s: %s", request.method, request.url.path, exc.detail)
        message = "internal error"
    else:
        message = str(exc.detail)
    headers = {"Allow": allowed_methods(request.url.path)} if status == 405 else None
    return error_response(status, message, headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if _is_unavailable(exc):
        DATABASE_ERRORS.labels("unavailable").inc()
        log.error(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return error_response(503, "database unavailable, try again later", {"Retry-After": "1"})
    if isinstance(exc, _DATABASE_ERRORS):
        DATABASE_ERRORS.labels("error").inc()
    log.exception("internal error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


# The stores use the drivers directly for bulk work, so driver errors arrive unwrapped too.
_DATABASE_ERRORS: Final = (DBAPIError, psycopg.Error, sqlite3.Error)
# A fault of the moment, worth a retry (503): words of the drivers' messages, whole words only
# ("locked" is not "blocked").
_UNAVAILABLE: Final = re.compile(
    r"\b(locked|busy|unable to open|connection|disk i/o|deadlock detected)\b", re.IGNORECASE
)


def _is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if isinstance(exc.orig, Exception) else exc
    if not isinstance(exc, psycopg.OperationalError | sqlite3.OperationalError | OperationalError):
        return False
    return _UNAVAILABLE.search(str(exc)) is not None


EXCEPTION_HANDLERS: Final = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
