"""Below the app: requests the HTTP parser refuses, and headers as a real server receives them. Every
answer the server gives is in the contract's shape (JSON `{"code", "message"}`), even one the app
never sees; checked over raw sockets against a live `cdrstore serve`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdrstore.contract import CODE_BAD_REQUEST, CODE_BY_STATUS, CODE_UNAUTHENTICATED
from cdrstore.testing import app_with_token, live_server

PATH = "/v1/api/apps/acme/data/call-detail"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, int, str]]:
    work = tmp_path_factory.mktemp("protocol")
    url = f"sqlite:///{work / 'p.db'}"
    token = app_with_token(url, "acme")
    with live_server(url, cwd=work) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port), token


def exchange(server: tuple[str, int, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a new connection; the first answer's status, headers and body."""
    host, port, _ = server
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = [
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")[1:]
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(rest) >= length[0]:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    return status, headers, body


def assert_contract_error(
    answer: tuple[int, dict[str, str], bytes], status: int, code: int
) -> None:
    got, headers, body = answer
    assert got == status, (got, body)
    assert headers["content-type"].startswith("application/json"), headers
    payload = json.loads(body)
    assert payload["code"] == code and payload["message"]
    assert "x-request-id" in headers


def test_a_query_string_too_long_for_the_parser(server):
    raw = f"GET {PATH}?offset={'0' * 70_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    assert_contract_error(exchange(server, raw), 400, CODE_BAD_REQUEST)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n",  # a bare CR in a header
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: \xef\xbc\x91\r\n\r\n",  # fullwidth 1
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
    ids=["bare CR", "two lengths", "length in other digits", "space in name", "garbage", "version"],
)
def test_what_the_parser_refuses_gets_the_contract_shape(server, raw):
    assert_contract_error(exchange(server, raw), 400, CODE_BAD_REQUEST)


@settings(max_examples=80, deadline=None)
@given(
    cut=st.integers(0, 60),
    junk=st.binary(min_size=1, max_size=8).filter(lambda b: b"\n" not in b or b"\r" in b),
)
def test_any_corrupted_head_gets_the_contract_shape_or_an_answer_from_the_app(server, cut, junk):
    good = b"GET /healthz?x=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
    raw = good[:cut] + junk + good[cut:]
    status, headers, body = exchange(server, raw)
    # Whoever answers (the parser or the app), the answer is JSON; an error is the contract's.
    assert headers.get("content-type", "").startswith("application/json"), (raw, status, body)
    if status >= 400:
        assert json.loads(body)["code"] == CODE_BY_STATUS[status], (raw, status, body)


def test_two_authorization_lines_are_a_401_over_the_wire(server):
    _, _, token = server
    raw = (
        f"GET {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Authorization: Bearer cdr_{'x' * 43}\r\n\r\n"
    ).encode()
    assert_contract_error(exchange(server, raw), 401, CODE_UNAUTHENTICATED)


def test_a_websocket_upgrade_is_answered_as_plain_http(server):
    raw = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    status, _, body = exchange(server, raw)
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_head_over_the_wire_has_no_body(server):
    _, _, token = server
    raw = f"HEAD {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    status, headers, body = exchange(server, raw.encode())
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
