"""Every error path answers in the one shape of docs/api.md#errors, with the right status and code."""

from __future__ import annotations

import msgspec
import pytest

from cdrstore import contract
from tests.conftest import calls_path, record

PATH = calls_path("acme")


def error_cases(auth, read_only):
    big = b"\n".join(
        msgspec.json.encode(record(id=f"r{i}")) for i in range(contract.BATCH_MAX_RECORDS + 1)
    )
    return [
        ("GET", PATH + "?foo=1", auth, None, None, 400),
        ("POST", PATH, auth, b"[{", "application/json", 400),
        ("POST", PATH, auth, msgspec.json.encode([record(status="x")]), "application/json", 400),
        ("GET", PATH, {}, None, None, 401),
        ("GET", calls_path("other"), auth, None, None, 403),
        ("POST", PATH, read_only, msgspec.json.encode([record()]), "application/json", 403),
        ("GET", "/v1/api/apps/acme/data/nothing", auth, None, None, 404),
        ("GET", "/nope", {}, None, None, 404),
        ("DELETE", PATH, auth, None, None, 405),
        ("PUT", PATH, auth, b"[]", "application/json", 405),
        ("POST", PATH, auth, big, "application/x-ndjson", 413),
        ("POST", PATH, auth, b"[]", "text/csv", 415),
    ]


def test_every_error_has_the_contract_shape(client, tokens):
    auth = tokens.headers("acme")
    read_only = tokens.headers("acme", ("read",))
    for method, url, headers, body, content_type, status in error_cases(auth, read_only):
        h = dict(headers)
        if content_type:
            h["Content-Type"] = content_type
        r = client.request(method, url, content=body, headers=h)
        assert r.status_code == status, (method, url, r.text)
        assert r.headers["content-type"].startswith("application/json"), (method, url)
        payload = r.json()
        assert set(payload) <= {"code", "message", "errors"}, payload
        assert isinstance(payload["message"], str) and payload["message"]
        expected = {
            400: contract.CODE_BAD_REQUEST,
            401: contract.CODE_UNAUTHENTICATED,
            403: contract.CODE_FORBIDDEN,
            404: contract.CODE_NOT_FOUND,
            405: contract.CODE_NOT_FOUND,
            413: contract.CODE_BAD_REQUEST,
            415: contract.CODE_BAD_REQUEST,
        }[status]
        assert payload["code"] == expected, (method, url, payload)


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "PUT"])
def test_404_405_message_names_method_and_url(client, auth, method):
    r = client.request(method, PATH, headers=auth)
    assert r.json()["message"] == f"method not found, method: {method} url: {PATH}"


def test_405_says_which_methods_are_allowed(client, auth):
    assert client.put(PATH, headers=auth).headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert client.post("/healthz").headers["allow"] == "GET, HEAD, OPTIONS"


def test_unknown_path_message(client):
    """The path is what is wrong, and the message says so; the code, and the reference's words
    "method not found" that its clients may look for, stay."""
    r = client.get("/v1/api/apps/acme/data/call-details")
    assert r.status_code == 404
    assert r.json() == {
        "code": contract.CODE_NOT_FOUND,
        "message": "unknown path: GET /v1/api/apps/acme/data/call-details (method not found)",
    }
    assert client.post("/nope").json()["message"] == "unknown path: POST /nope (method not found)"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_root_sends_a_browser_to_the_console(client, method):
    r = client.request(method, "/", follow_redirects=False)
    assert r.status_code in (302, 307)
    assert r.headers["location"] == "/console/"
    followed = client.get("/")
    assert followed.status_code == 200 and "Sign in" in followed.text


def test_internal_fault_is_500_without_a_trace(client, auth, store, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr(store.records, "page", explode)
    r = client.get(PATH, headers=auth)
    assert r.status_code == 500
    assert r.json() == {"code": contract.CODE_INTERNAL, "message": "internal error"}
    assert "secret detail" not in r.text


def test_database_unavailable_is_503(client, auth, store, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def locked(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))

    # Beneath the store's public methods: the driver's error is translated on its way out.
    monkeypatch.setattr(store.records, "_reading", locked)
    r = client.get(PATH, headers=auth)
    assert r.status_code == 503
    assert r.json()["code"] == contract.CODE_INTERNAL
    assert "Retry-After" in r.headers
