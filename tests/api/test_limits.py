"""Request limits on a live server: a huge body is refused while it arrives (never buffered whole),
a stalled body or head gets a 408 after its timeout, and stalled clients do not hold up anyone else."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cdrstore.contract import BATCH_MAX_BYTES, CODE_BAD_REQUEST
from cdrstore.testing import app_with_token, start_server
from tests.conftest import calls_path, record

BODY_TIMEOUT = 5
HEADER_TIMEOUT = 3
STALLED = 20


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    url = f"sqlite:///{tmp_path / 'limits.db'}"
    secret = app_with_token(url, "acme")
    timeouts = ["--body-timeout", str(BODY_TIMEOUT), "--header-timeout", str(HEADER_TIMEOUT)]
    proc, base = start_server(url, cwd=tmp_path, args=timeouts)
    try:
        yield base, secret, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _post_head(secret: str, extra: str) -> bytes:
    return (
        f"POST {calls_path('acme')} HTTP/1.1\r\nHost: cdrstore\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Type: application/x-ndjson\r\n{extra}\r\n"
    ).encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    payload = body[body.find(b"{") : body.rfind(b"}") + 1]  # chunked framing around the JSON
    return status, json.loads(payload)


def test_a_body_past_the_limit_is_refused_while_it_arrives(server):
    base, secret, _ = server
    sock = _connect(base)
    sock.sendall(_post_head(secret, "Transfer-Encoding: chunked\r\n"))
    line = json.dumps(record()).encode() + b"\n"
    piece = line * (1024 * 1024 // len(line))
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    try:
        while sent < 4 * BATCH_MAX_BYTES:  # a client that would send 128 MiB
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered before the end of the body
            sock.sendall(chunk)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed; the answer is still to be read
    status, body = _read_response(sock)
    sock.close()
    assert status == 413 and body["code"] == CODE_BAD_REQUEST
    # Refused at the limit: what was sent past it is at most what the socket buffers held.
    assert sent < BATCH_MAX_BYTES + 16 * 1024 * 1024


def test_stalled_bodies_get_408_and_stall_nobody_else(server):
    base, secret, proc = server
    stalled = []
    for _ in range(STALLED):
        sock = _connect(base)
        sock.sendall(_post_head(secret, "Content-Length: 100000\r\n") + b'{"id": "x')
        stalled.append(sock)
    gone = _connect(base)  # one client goes away mid-body
    gone.sendall(_post_head(secret, "Content-Length: 100000\r\n") + b"{")
    gone.close()

    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        posted = http.post(calls_path("acme"), json=[record()], headers=headers)
        read = [http.get(calls_path("acme"), headers=headers) for _ in range(5)]
    assert posted.status_code == 200 and all(r.status_code == 200 for r in read)
    # Served while every stalled request was still waiting for its body:
    assert select.select(stalled, [], [], 0)[0] == []

    answers = [_read_response(sock) for sock in stalled]
    for sock in stalled:
        sock.close()
    assert {status for status, _ in answers} == {408}
    assert all(body["code"] == CODE_BAD_REQUEST for _, body in answers)
    assert "nothing received for 5 s" in str(answers[0][1]["message"])

    proc.terminate()
    _, log = proc.communicate(timeout=30)
    statuses = [
        json.loads(line)["status"] for line in log.decode().splitlines() if '"route"' in line
    ]
    assert statuses.count(408) == STALLED and 500 not in statuses
    assert statuses.count(400) == 1  # the client that went away: a client error, not a fault


def test_stalled_headers_get_408_and_keep_alive_still_works(server):
    base, _, _ = server
    slow = [_connect(base) for _ in range(STALLED)]
    for sock in slow:  # a head begun and never finished (slowloris)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: cdrstore\r\nX-Slow: ")
    with httpx.Client(base_url=base, timeout=30) as http:  # one connection, kept alive
        assert all(http.get("/healthz").status_code == 200 for _ in range(5))
    assert select.select(slow, [], [], 0)[0] == []  # served while the slow ones waited
    answers = [_read_response(sock) for sock in slow]
    assert all(sock.recv(1) == b"" for sock in slow)  # and then closed
    for sock in slow:
        sock.close()
    assert {status for status, _ in answers} == {408}
    assert all(body["code"] == CODE_BAD_REQUEST for _, body in answers)


def test_a_pipelined_request_slower_than_the_header_timeout_is_answered(server):
    """The header deadline covers heads only: a request queued behind another on one connection,
    whose body takes longer than the header timeout to arrive, still gets its answer."""
    base, secret, _ = server
    body = json.dumps(record(id="piped")).encode() + b"\n"
    sock = _connect(base)
    sock.sendall(
        b"GET /healthz HTTP/1.1\r\nHost: cdrstore\r\n\r\n"
        + _post_head(secret, f"Content-Length: {len(body)}\r\n")
    )
    for i in range(0, len(body), len(body) // 8 + 1):  # over HEADER_TIMEOUT + 1 seconds
        sock.sendall(body[i : i + len(body) // 8 + 1])
        time.sleep((HEADER_TIMEOUT + 1) / 9)
    data = b""
    while data.count(b"HTTP/1.1 ") < 2 or not data.rstrip().endswith(b"}}"):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 200") and b'"inserted":1' in data
