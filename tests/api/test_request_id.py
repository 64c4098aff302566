"""X-Request-ID: echoed when the caller sends a sane one, made up otherwise, on every response."""

from __future__ import annotations

from tests.conftest import calls_path


def test_request_id_is_echoed_or_generated_on_every_response(client, auth):
    ok = client.get(calls_path("acme"), headers={**auth, "X-Request-ID": "trace-42.a:b"})
    assert ok.headers["x-request-id"] == "trace-42.a:b"
    made = [client.get(calls_path("acme"), headers=auth).headers["x-request-id"] for _ in range(2)]
    assert len(set(made)) == 2 and all(len(m) == 32 for m in made)
    for r in (
        client.get("/nope"),
        client.get(calls_path("acme")),
        client.delete(calls_path("acme"), headers=auth),
        client.get(calls_path("acme"), headers={**auth, "X-Request-ID": "bad id!" * 3}),
    ):
        assert len(r.headers["x-request-id"]) == 32, r.headers
