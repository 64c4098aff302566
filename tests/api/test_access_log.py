"""Access logs: one JSON line a request, 404s included; no token, no token hash, in any log line."""

from __future__ import annotations

import json
import logging

from cdrstore.tokens import hash_secret
from tests.conftest import calls_path, record


def test_one_json_line_a_request_and_no_secret_in_any_log(client, tokens, caplog):
    secret = tokens.token("acme")
    headers = {"Authorization": f"Bearer {secret}", "X-Request-ID": "req-7"}
    caplog.set_level(logging.DEBUG)
    client.post(calls_path("acme"), json=[record()], headers=headers)
    client.get(calls_path("acme") + "?limit=1", headers=headers)
    client.get(calls_path("acme") + "?limit=0", headers=headers)
    client.get(calls_path("other"), headers=headers)
    client.get("/nope", headers=headers)
    client.get(calls_path("acme"), headers={"Authorization": f"Bearer {secret}x"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cdrstore.access"]
    assert [(line["method"], line["status"]) for line in lines] == [
        ("POST", 200),
        ("GET", 200),
        ("GET", 400),
        ("GET", 403),
        ("GET", 404),
        ("GET", 401),
    ]
    first = lines[0]
    assert first["request_id"] == "req-7" and first["app"] == "acme"
    assert first["route"] == "/v1/api/apps/{appID}/data/call-detail"
    assert first["duration_ms"] >= 0 and first["time"].endswith("Z")
    everything = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert secret not in everything and hash_secret(secret) not in everything
