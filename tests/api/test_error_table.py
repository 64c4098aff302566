"""The one table that maps domain errors to HTTP: every entry answers with its status, the
contract's code for that status, the one body shape, and the headers the status calls for."""

from __future__ import annotations

import msgspec
import pytest

from cdrstore import contract
from cdrstore.api.errors import HTTP_STATUS, answer
from cdrstore.errors import (
    MethodNotAllowed,
    RateLimited,
    RouteNotFound,
    Unauthenticated,
)
from cdrstore.store import StoreFault, StoreUnavailable, UnknownApp

SAMPLES = {
    RouteNotFound: lambda: RouteNotFound("GET", "/nope"),
    MethodNotAllowed: lambda: MethodNotAllowed("PUT", "/healthz", "GET, OPTIONS"),
    RateLimited: lambda: RateLimited("too many requests", 17),
    UnknownApp: lambda: UnknownApp("ghost"),
    StoreUnavailable: lambda: StoreUnavailable("OperationalError: database is locked"),
    StoreFault: lambda: StoreFault("IntegrityError: secret detail"),
}
HEADERS = {
    401: "www-authenticate",
    405: "allow",
    408: "connection",
    429: "retry-after",
}


@pytest.mark.parametrize(
    ("cls", "status"), HTTP_STATUS.items(), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_each_domain_error_answers_as_the_table_says(cls, status):
    error = SAMPLES.get(cls, lambda: cls("what went wrong"))()
    response = answer(error)
    body = msgspec.json.decode(response.content)
    assert response.status_code == status
    assert body["code"] == contract.CODE_BY_STATUS[status]
    assert set(body) <= {"code", "message", "errors"} and body["message"]
    if status in HEADERS:
        assert HEADERS[status] in {k.lower() for k in response.headers}
    if status == 500:  # a fault's detail is for the log, never the client
        assert body["message"] == "internal error" and "secret" not in response.content.decode()


def test_a_subclass_takes_its_nearest_listed_base():
    class Stale(StoreUnavailable):
        pass

    assert answer(Stale("gone")).status_code == 503


def test_credentials_never_presented_get_a_bare_challenge():
    missing = answer(Unauthenticated("missing bearer token", presented=False))
    wrong = answer(Unauthenticated("invalid token"))
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="cdrstore"'
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="cdrstore", error="invalid_token"'
