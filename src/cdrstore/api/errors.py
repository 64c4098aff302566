"""One error shape for every failure (docs/api.md#errors): `{"code": ..., "message": ...}`, and the
one table that says which HTTP status each domain error is answered with.

Handlers raise domain errors and never choose a status; Litestar's own refusals (no route, no
such method, a body over the limit) are turned into domain errors here; whatever else escapes (a
bug) is a 500. No response ever carries another shape, a stack trace or a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from .. import contract
from ..errors import (
    CursorExpired,
    DomainError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    RouteNotFound,
    Unauthenticated,
    UnsupportedMediaType,
)
from ..ingest.batch import BatchError, BatchTooLarge, RecordError
from ..ops.database import NotReady
from ..query import QueryError
from ..store import StoreFault, StoreUnavailable, UnknownApp
from .headers import allowed_methods
from .metrics import DATABASE_ERRORS

log = logging.getLogger("cdrstore.api")

JSON: Final = "application/json"

# The one table: each domain error, the HTTP status it is answered with. The contract code follows
# from the status (contract.CODE_BY_STATUS). A subclass not listed takes its nearest listed base.
HTTP_STATUS: Final[dict[type[DomainError], int]] = {
    QueryError: 400,
    BatchError: 400,
    InvalidRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    RouteNotFound: 404,
    UnknownApp: 404,
    MethodNotAllowed: 405,
    RequestTimeout: 408,
    CursorExpired: 410,
    BatchTooLarge: 413,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RateLimited: 429,
    StoreFault: 500,
    NotReady: 503,
    StoreUnavailable: 503,
}

_CHALLENGE: Final = 'Bearer realm="cdrstore"'


def _extra_headers(exc: DomainError) -> dict[str, str]:
    """Headers an answer to this error must carry (RFC 9110, RFC 6750)."""
    if isinstance(exc, Unauthenticated):
        challenge = f'{_CHALLENGE}, error="invalid_token"' if exc.presented else _CHALLENGE
        if exc.basic:
            challenge = f'{challenge}, Basic realm="cdrstore"'
        return {"WWW-Authenticate": challenge}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, MethodNotAllowed):
        return {"Allow": exc.allowed}
    if isinstance(exc, RequestTimeout):
        return {"Connection": "close"}
    if isinstance(exc, StoreUnavailable):
        return {"Retry-After": "1"}
    return {}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error response; `errors` only on an ingest request with invalid records."""

    code: int
    message: str
    errors: list[RecordError] = msgspec.field(default_factory=list)


def status_of(exc: DomainError) -> int:
    """The status of the nearest class in the table (500 for a domain error nobody listed)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def code_for(status: int) -> int:
    return contract.CODE_BY_STATUS.get(
        status, contract.CODE_INTERNAL if status >= 500 else contract.CODE_BAD_REQUEST
    )


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    errors: list[RecordError] | None = None,
) -> Response[bytes]:
    """The one renderer of error bodies."""
    body = msgspec.json.encode(ErrorBody(code_for(status), message, errors or []))
    return Response(content=body, status_code=status, media_type=JSON, headers=headers)


def answer(exc: DomainError) -> Response[bytes]:
    """The response to a domain error, as the table says."""
    status = status_of(exc)
    message = exc.message if status < 500 or status == 503 else "internal error"
    errors = exc.errors if isinstance(exc, BatchError) else None
    return error_response(status, message, _extra_headers(exc) or None, errors)


def _domain_error_of(request: Request[Any, Any, Any], exc: HTTPException) -> DomainError | None:
    """Litestar's own refusals, as domain errors."""
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return RouteNotFound(method, path)
    if exc.status_code == 405:
        return MethodNotAllowed(method, path, allowed_methods(path))
    if exc.status_code == 413:
        return PayloadTooLarge(
            f"request too large: at most {contract.BATCH_MAX_BYTES} bytes a request"
        )
    if exc.status_code == 400:
        return InvalidRequest(str(exc.detail))
    return None


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    if isinstance(exc, StoreUnavailable):
        DATABASE_ERRORS.labels("unavailable").inc()
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc.detail)
    elif isinstance(exc, StoreFault):
        DATABASE_ERRORS.labels("error").inc()
        log.error("database error on %s %s: %s", request.method, request.url.path, exc.detail)
    elif status_of(exc) >= 500:
        log.error("unanswerable %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return answer(exc)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    domain = _domain_error_of(request, exc)
    if domain is not None:
        return answer(domain)
    if exc.status_code >= 500:
        log.error("internal error on %s %s: %s", request.method, request.url.path, exc.detail)
        return error_response(exc.status_code, "internal error")
    return error_response(exc.status_code, str(exc.detail))


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


EXCEPTION_HANDLERS: Final[dict[type[Exception], Callable[..., Response[bytes]]]] = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
