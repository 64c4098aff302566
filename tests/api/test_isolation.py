"""Tenant isolation (OWASP API #1): no token ever reads or writes another app's records, whatever
the path looks like; every refusal is the contract's 401/403 and reveals nothing about other apps."""

from __future__ import annotations

from urllib.parse import quote

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdrstore.contract import CODE_FORBIDDEN, CODE_NOT_FOUND, CODE_UNAUTHENTICATED
from tests.conftest import record

APPS = ("alpha", "Beta_2", "gamma-3")


def path_variants(app_id: str) -> list[str]:
    """Ways to spell (or almost spell) an app in the path."""
    return [
        app_id,
        app_id.upper(),
        app_id.lower(),
        app_id + "/",
        quote(app_id, safe=""),
        "%2F" + app_id,
        app_id + "%2F..%2F" + APPS[0],
        "..%2F" + app_id,
        app_id + "%00",
        app_id + "%0A",  # control characters, as in record ids (tests/api/test_hostile.py)
        "%1F" + app_id + "%7F",
        app_id.replace("a", "\u0430"),  # Cyrillic a
        app_id + "\u200b",  # zero-width space
        app_id * 30,
        "",
    ]


@pytest.fixture
def secrets(client, tokens):
    """Three apps, each with a read, an ingest and a read+ingest token, and one record."""
    made = {}
    for app_id in APPS:
        made[app_id] = {
            "read": tokens.token(app_id, ("read",)),
            "ingest": tokens.token(app_id, ("ingest",)),
            "both": tokens.token(app_id, ("read", "ingest")),
        }
        headers = {"Authorization": f"Bearer {made[app_id]['both']}"}
        r = client.post(
            f"/v1/api/apps/{app_id}/data/call-detail",
            json=[record(id=f"{app_id}-seed")],
            headers=headers,
        )
        assert r.status_code == 200
    return made


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    owner=st.sampled_from(APPS),
    scope=st.sampled_from(["read", "ingest", "both"]),
    target=st.sampled_from(APPS),
    variant=st.integers(0, len(path_variants("x")) - 1),
    method=st.sampled_from(["GET", "POST"]),
)
def test_no_token_crosses_apps(client, store, secrets, owner, scope, target, variant, method):
    before = {app_id: store.records.count_records(app_id) for app_id in APPS}
    path_app = path_variants(target)[variant]
    url = f"/v1/api/apps/{path_app}/data/call-detail"
    headers = {"Authorization": f"Bearer {secrets[owner][scope]}"}
    marker = f"{owner}-probe-{scope}-{target}-{variant}"
    if method == "GET":
        r = client.get(url, headers=headers)
    else:
        r = client.post(url, json=[record(id=marker)], headers=headers)

    if r.status_code == 200:
        if method == "GET":
            ids = [rec["id"] for rec in r.json()["result"]]
            assert all(i.startswith(f"{owner}-") for i in ids), (url, ids)
        else:
            assert store.records.count_records(owner) == before[owner] + 1
    else:
        body = r.json()
        assert set(body) == {"code", "message"}
        assert (r.status_code, body["code"]) in {
            (401, CODE_UNAUTHENTICATED),
            (403, CODE_FORBIDDEN),
            (404, CODE_NOT_FOUND),
            (405, CODE_NOT_FOUND),
        }, (url, r.status_code, body)
        for other in APPS:
            if other != owner:
                assert other not in body["message"] or other in url, body
    for other in APPS:
        if other != owner:
            assert store.records.count_records(other) == before[other], (url, method)
    served = msgspec.json.decode(r.content)
    assert isinstance(served, dict)
