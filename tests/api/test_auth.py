"""Bearer tokens (docs/api.md#errors, #apps-and-tokens) through HTTP."""

from __future__ import annotations

import time

import pytest

from cdrstore.contract import CODE_FORBIDDEN, CODE_UNAUTHENTICATED
from cdrstore.tokens import hash_secret
from tests.conftest import calls_path, record

PATH = calls_path("acme")


def assert_401(r):
    assert r.status_code == 401
    assert r.json()["code"] == CODE_UNAUTHENTICATED
    assert r.headers["www-authenticate"].startswith("Bearer")


def assert_403(r):
    assert r.status_code == 403
    assert r.json() == {"code": CODE_FORBIDDEN, "message": r.json()["message"]}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "cdr_abc",
        "Bearer cdr_" + "x" * 43,
        "Bearer nonsense",
    ],
    ids=[
        "absent",
        "empty",
        "no token",
        "blank token",
        "basic",
        "no scheme",
        "unknown",
        "malformed",
    ],
)
def test_missing_malformed_or_unknown_token_is_401(client, tokens, header):
    tokens.app("acme")
    headers = {"Authorization": header} if header is not None else {}
    assert_401(client.get(PATH, headers=headers))
    assert_401(client.post(PATH, json=[record()], headers=headers))


def test_scheme_is_case_insensitive(client, tokens):
    secret = tokens.token("acme")
    assert client.get(PATH, headers={"Authorization": f"bearer {secret}"}).status_code == 200


def test_revoked_token_is_401_on_the_next_request(client, tokens, store):
    secret = tokens.token("acme")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get(PATH, headers=headers).status_code == 200
    store.accounts.revoke_token(None, hash_secret(secret))
    r = client.get(PATH, headers=headers)
    assert_401(r)
    assert "revoked" in r.json()["message"]


def test_expired_token_is_401(client, tokens):
    secret = tokens.token("acme", expires_at=int(time.time()) - 1)
    r = client.get(PATH, headers={"Authorization": f"Bearer {secret}"})
    assert_401(r)
    assert "expired" in r.json()["message"]


def test_token_of_another_app_is_403_whether_or_not_the_app_exists(client, tokens):
    headers = tokens.headers("acme")
    tokens.app("globex")
    client.post(calls_path("globex"), json=[record()], headers=tokens.headers("globex"))
    for app_id in ("globex", "no-such-app", "ACME", "acme2", "a" * 65):
        assert_403(client.get(calls_path(app_id), headers=headers))
        assert_403(client.post(calls_path(app_id), json=[record()], headers=headers))
    # globex's record is untouched and unseen
    assert [
        r["id"]
        for r in client.get(calls_path("globex"), headers=tokens.headers("globex")).json()["result"]
    ] == ["rec-0001"]


def test_403_messages_are_the_same_for_existing_and_missing_apps(client, tokens):
    headers = tokens.headers("acme")
    tokens.app("globex")
    a = client.get(calls_path("globex"), headers=headers).json()
    b = client.get(calls_path("nothing-here"), headers=headers).json()
    assert a == b


def test_read_scope_cannot_ingest(client, tokens):
    headers = tokens.headers("acme", ("read",))
    r = client.post(PATH, json=[record()], headers=headers)
    assert_403(r)
    assert "ingest" in r.json()["message"]
    assert client.get(PATH, headers=headers).json()["result"] == []


def test_ingest_scope_cannot_read(client, tokens):
    headers = tokens.headers("acme", ("ingest",))
    assert client.post(PATH, json=[record()], headers=headers).status_code == 200
    assert_403(client.get(PATH, headers=headers))


def test_auth_is_checked_before_the_query_and_body(client, tokens):
    tokens.app("acme")
    assert_401(client.get(PATH + "?limit=9999"))
    assert_401(client.post(PATH, content=b"[{", headers={"Content-Type": "text/plain"}))


def test_tokens_are_stored_hashed(tokens, store):
    secret = tokens.token("acme")
    with store.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM tokens"))
    assert secret not in dump
    assert hash_secret(secret) in dump
    assert secret.startswith("cdr_")
