"""Compressed responses over real HTTP (docs/api.md#compression): zstd or gzip as Accept-Encoding
allows, q-values honoured, nothing under 1 KiB compressed."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from backports import zstd

from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path, record

PATH = calls_path("acme")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('compression')) / 'cdr.db'}"
    token = app_with_token(url, "acme")
    auth = {"Authorization": f"Bearer {token}"}
    with live_server(url) as base:
        records = [record(id=f"r{i:03d}") for i in range(50)]
        httpx.post(base + PATH, json=records, headers=auth).raise_for_status()
        yield base, auth


def raw_get(
    server: tuple[str, dict[str, str]], accept: str | None, path: str = PATH
) -> tuple[httpx.Response, bytes]:
    """The answer and its body exactly as sent (not decoded)."""
    base, auth = server
    headers = dict(auth)
    with httpx.Client(base_url=base) as client:
        request = client.build_request("GET", path, params={"limit": 50}, headers=headers)
        del request.headers["accept-encoding"]  # httpx's own default would be sent otherwise
        if accept is not None:
            request.headers["accept-encoding"] = accept
        response = client.send(request, stream=True)
        body = b"".join(response.iter_raw())
        response.close()
    return response, body


def plain(server: tuple[str, dict[str, str]]) -> bytes:
    response, body = raw_get(server, None)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    return body


def test_gzip_when_asked_for_it(server):
    identity = plain(server)
    assert len(identity) > 1024
    response, body = raw_get(server, "gzip")
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert int(response.headers["content-length"]) == len(body) < len(identity) / 3
    assert gzip.decompress(body) == identity


def test_zstd_preferred_when_both_are_accepted(server):
    identity = plain(server)
    response, body = raw_get(server, "gzip, deflate, br, zstd")
    assert response.headers["content-encoding"] == "zstd"
    assert zstd.decompress(body) == identity


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("identity", None),
        ("gzip;q=0", None),
        ("GZIP ; Q=0.000, identity", None),
        ("*;q=0", None),
        ("gzip;q=0, *", "zstd"),
        ("zstd;q=0, gzip;q=0.5", "gzip"),
        ("zstd;q=0.2, gzip;q=0.9", "gzip"),
        ("*", "zstd"),
        ("br", None),
        ("gzip;q=bogus", None),
    ],
)
def test_q_values_are_honoured(server, accept, expected):
    identity = plain(server)
    response, body = raw_get(server, accept)
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == expected
    decoded = {None: bytes, "gzip": gzip.decompress, "zstd": zstd.decompress}[expected](body)
    assert decoded == identity


def test_small_answers_are_sent_as_they_are(server):
    base, _ = server
    with httpx.Client(base_url=base) as client:
        request = client.build_request("GET", PATH, headers={"Accept-Encoding": "gzip, zstd"})
        response = client.send(request, stream=True)
        body = b"".join(response.iter_raw())
    assert response.status_code == 401
    assert len(body) < 1024
    assert "content-encoding" not in response.headers
    assert httpx.Response(401, content=body).json()["code"] != 0
