"""`cdrstore tokens create --scope webhooks` and `cdrstore webhooks list | rotate-secret | key`, and
what a rotated secret signs; `/metrics` counting deliveries."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path, record
from tests.webhooks.conftest import ingest, subscribe


def test_tokens_with_the_webhooks_scope(cli, hooks, receiver):
    cli("apps", "create", "Acme", "--id", "acme")
    token = cli("tokens", "create", "--app", "acme", "--scope", "webhooks").stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    answer = hooks.patch(
        "/v1/api/apps/acme/call-event-sub",
        json={"enabled": True, "url": receiver.url},
        headers=auth,
    )
    assert answer.status_code == 200
    assert hooks.get(calls_path("acme"), headers=auth).status_code == 403  # webhooks only
    listed = cli("tokens", "list", "--app", "acme", "--json").stdout
    assert json.loads(listed)["scopes"] == ["webhooks"]
    refused = cli("tokens", "create", "--app", "acme", "--scope", "hooks", check=False)
    assert refused.returncode == 2 and "read, ingest, webhooks" in refused.stderr


def test_list_shows_subscriptions_without_secrets(cli, hooks, tokens, receiver):
    secret = subscribe(hooks, tokens, receiver)
    subscribe(hooks, tokens, receiver, app_id="globex", kind="recording")
    rows = [json.loads(line) for line in cli("webhooks", "list", "--json").stdout.splitlines()]
    assert [(r["app"], r["kind"], r["enabled"], r["url"]) for r in rows] == [
        ("acme", "call", True, receiver.url),
        ("globex", "recording", True, receiver.url),
    ]
    table = cli("webhooks", "list", "--app", "acme").stdout
    assert receiver.url in table and "globex" not in table
    assert secret not in table and secret[6:] not in table


def test_rotate_secret_signs_from_then_on(delivering, tokens, receiver, cli):
    old = subscribe(delivering, tokens, receiver)
    ingest(delivering, tokens, [record(id="before")])
    receiver.wait_for(1)
    rotated = cli("webhooks", "rotate-secret", "--app", "acme", "--kind", "call")
    new = rotated.stdout.strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", new) and new != old
    assert "shown only once" in rotated.stderr and new not in rotated.stderr
    time.sleep(2.5)  # the delivery loop picks up the new secret
    ingest(delivering, tokens, [record(id="after")])
    events = receiver.wait_for(2)
    assert Webhook(old).verify(events[0].body, events[0].headers)["message"]["id"] == "before"
    assert Webhook(new).verify(events[1].body, events[1].headers)["message"]["id"] == "after"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(events[1].body, events[1].headers)
    shown = delivering.get(
        "/v1/api/apps/acme/call-event-sub", headers=tokens.headers("acme", ("webhooks",))
    )
    assert "secret" not in shown.json()["result"]


def test_rotate_without_a_subscription_and_bad_kinds_are_refused(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    missing = cli("webhooks", "rotate-secret", "--app", "acme", check=False)
    assert missing.returncode == 1 and "has no call event subscription" in missing.stderr
    wrong = cli("webhooks", "deliveries", "--app", "acme", "--kind", "sms", check=False)
    assert wrong.returncode == 2 and "--kind must be call or recording" in wrong.stderr
    unknown = cli("webhooks", "replay", "--app", "nobody", check=False)
    assert unknown.returncode == 1


def test_key_prints_a_usable_key(cli):
    key = cli("webhooks", "key").stdout.strip()
    Fernet(key.encode())  # raises unless a Fernet key


def test_metrics_count_deliveries_by_outcome(db_url, tmp_path, receiver):
    token = app_with_token(db_url, "acme", ("read", "ingest", "webhooks"))
    auth = {"Authorization": f"Bearer {token}"}
    env = {"CDRSTORE_WEBHOOKS_ALLOW_PRIVATE": "1"}
    with live_server(db_url, cwd=tmp_path, env=env, args=["--metrics"]) as base:
        assert (
            httpx.patch(
                f"{base}/v1/api/apps/acme/call-event-sub",
                json={"enabled": True, "url": receiver.url},
                headers=auth,
            ).status_code
            == 200
        )
        receiver.statuses = [500]
        posted = httpx.post(
            f"{base}{calls_path('acme')}", json=[record(id="a"), record(id="b")], headers=auth
        )
        assert posted.status_code == 200
        receiver.wait_for(3, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = httpx.get(f"{base}/metrics").text
            if 'cdrstore_webhook_deliveries_total{kind="call",outcome="delivered"} 2.0' in text:
                break
            time.sleep(0.5)
        assert 'cdrstore_webhook_deliveries_total{kind="call",outcome="delivered"} 2.0' in text
        assert 'cdrstore_webhook_deliveries_total{kind="call",outcome="retried"} 1.0' in text
        assert "cdrstore_webhook_oldest_undelivered_seconds" in text
