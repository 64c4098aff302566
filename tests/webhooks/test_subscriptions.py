"""The subscriptions' API as CINNOX configures it: PATCH and GET of call-event-sub and
recording-event-sub, the challenge, the SSRF refusals, the scope, the secret shown once."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from cdrstore.contract import CODE_BAD_REQUEST, CODE_FORBIDDEN
from tests.webhooks.conftest import sub_path

RFC3339_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def webhook_headers(tokens, app_id="acme"):
    return tokens.headers(app_id, ("webhooks",))


@pytest.mark.parametrize("kind", ["call", "recording"])
def test_enable_shows_the_secret_once_then_get_disable_reenable(
    hooks, tokens, receiver, kind, db_url
):
    auth = webhook_headers(tokens)
    enabled = hooks.patch(
        sub_path("acme", kind), json={"enabled": True, "url": receiver.url}, headers=auth
    )
    assert enabled.status_code == 200, enabled.text
    body = enabled.json()
    assert body["code"] == 0
    result = body["result"]
    assert set(result) == {"enabled", "url", "updatedAt", "secret"}
    assert result["enabled"] is True and result["url"] == receiver.url
    assert RFC3339_MS_Z.match(result["updatedAt"])
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", result["secret"])
    assert receiver.challenges == 1

    shown = hooks.get(sub_path("acme", kind), headers=auth).json()
    assert shown == {
        "code": 0,
        "result": {"enabled": True, "url": receiver.url, "updatedAt": result["updatedAt"]},
    }

    off = hooks.patch(sub_path("acme", kind), json={"enabled": False}, headers=auth).json()[
        "result"
    ]
    assert off["enabled"] is False and off["url"] == receiver.url and "secret" not in off

    again = hooks.patch(sub_path("acme", kind), json={"enabled": True}, headers=auth).json()[
        "result"
    ]
    assert again["enabled"] is True and "secret" not in again  # the secret stays the one shown
    assert receiver.challenges == 2

    other = "recording" if kind == "call" else "call"
    untouched = hooks.get(sub_path("acme", other), headers=auth).json()
    assert untouched == {"code": 0, "result": {"enabled": False, "url": "", "updatedAt": None}}

    if db_url.startswith("sqlite"):  # encrypted at rest: the file never holds the secret
        database = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert result["secret"].encode() not in raw
        assert result["secret"].removeprefix("whsec_").encode() not in raw
        key = Path(str(database) + ".webhooks-key")
        assert key.stat().st_mode & 0o777 == 0o600


def test_the_challenge_must_be_echoed(hooks, tokens, receiver):
    auth = webhook_headers(tokens)
    cases = {
        "wrong": "another challenge than the one sent",
        "status500": "HTTP 500 'receiver exploded'",
        "not-json": "HTTP 200 '<html>hello</html>'",
        "slow": "no answer from 127.0.0.1 within 1 s",
    }
    for mode, said in cases.items():
        receiver.challenge = mode
        answer = hooks.patch(
            sub_path("acme"), json={"enabled": True, "url": receiver.url}, headers=auth
        )
        assert answer.status_code == 400, (mode, answer.text)
        assert answer.json()["code"] == CODE_BAD_REQUEST
        assert said in answer.json()["message"], (mode, answer.json())
        assert "whsec_" not in answer.text
    shown = hooks.get(sub_path("acme"), headers=auth).json()["result"]
    assert shown["enabled"] is False and shown["url"] == ""  # nothing stored by a refusal


def test_a_receiver_that_cannot_be_reached_is_said(hooks, tokens):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens there
    answer = hooks.patch(
        sub_path("acme"),
        json={"enabled": True, "url": f"http://127.0.0.1:{port}/x"},
        headers=webhook_headers(tokens),
    )
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("challenge failed: cannot reach 127.0.0.1:")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost/hook", "localhost resolves to"),
        ("https://[::1]/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://169.254.10.10/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fc00::5]/", "private"),
        ("https://224.0.0.1/", "multicast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://100.64.0.1/", "address"),
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("not a url", "https"),
    ],
)
def test_ssrf_targets_are_refused_before_any_connection(strict, tokens, url, said):
    answer = strict.patch(
        sub_path("acme"), json={"enabled": True, "url": url}, headers=webhook_headers(tokens)
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == CODE_BAD_REQUEST
    assert said in answer.json()["message"]


def test_a_loopback_receiver_is_refused_without_allow_private_and_never_contacted(
    strict, tokens, receiver
):
    https_url = receiver.url.replace("http://", "https://")
    answer = strict.patch(
        sub_path("acme"), json={"enabled": True, "url": https_url}, headers=webhook_headers(tokens)
    )
    assert answer.status_code == 400
    assert "127.0.0.1 is a loopback address" in answer.json()["message"]
    assert receiver.challenges == 0


def test_wrong_scope_or_app_is_forbidden(hooks, tokens, receiver):
    read_ingest = tokens.headers("acme", ("read", "ingest"))
    others = tokens.headers("globex", ("webhooks",))
    for headers in (read_ingest, others):
        for kind in ("call", "recording"):
            got = hooks.get(sub_path("acme", kind), headers=headers)
            assert got.status_code == 403 and got.json()["code"] == CODE_FORBIDDEN
            patched = hooks.patch(
                sub_path("acme", kind), json={"enabled": True, "url": receiver.url}, headers=headers
            )
            assert patched.status_code == 403
    assert receiver.challenges == 0
    assert hooks.get(sub_path("acme")).status_code == 401


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"not json", "invalid body"),
        (b"[]", "invalid body"),
        (b'{"url": "https://example.com"}', "enabled"),
        (b'{"enabled": "yes"}', "enabled"),
        (b'{"enabled": true, "url": "https://example.com", "extra": 1}', "extra"),
        (b'{"enabled": true}', "url is required"),
        (b'{"enabled": true, "url": 5}', "url"),
    ],
)
def test_bad_bodies_are_400_in_the_contract_shape(hooks, tokens, body, said):
    answer = hooks.patch(
        sub_path("acme"),
        content=body,
        headers={**webhook_headers(tokens), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "message"}
    assert said in answer.json()["message"]


def test_the_openapi_document_lists_the_subscriptions(hooks):
    paths = hooks.get("/openapi.json").json()["paths"]
    for kind in ("call", "recording"):
        item = paths[f"/v1/api/apps/{{appID}}/{kind}-event-sub"]
        assert set(item) >= {"get", "patch"}
        assert item["patch"]["requestBody"]["content"]["application/json"]["schema"][
            "required"
        ] == ["enabled"]
        assert item["get"]["security"] == [{"bearerAuth": []}]
