"""A live `cdrstore serve`, and the seed's own client snippets against it (only URL and token changed)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cdrstore.testing import demo_token, live_server


class Server:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.url = f"{base_url}/v1/api/apps/demo/data/call-detail?offset=0"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    work: Path = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{work / 'live.db'}"
    token = demo_token(url, 500, work)
    with live_server(url, workers=2, cwd=work) as base:
        yield Server(base, token)


def check_page(text: str) -> None:
    body = json.loads(text)
    assert body["code"] == 0
    assert len(body["result"]) == 100
    assert len(body["result"][0]) == 46


def test_health_and_docs(server):
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.base_url}/readyz").json() == {"status": "ready"}
    spec = httpx.get(f"{server.base_url}/openapi.json").json()
    assert "/v1/api/apps/{appID}/data/call-detail" in spec["paths"]
    get_op = spec["paths"]["/v1/api/apps/{appID}/data/call-detail"]["get"]
    assert {p["name"] for p in get_op["parameters"]} >= {
        "callType",
        "status",
        "startAt",
        "endAt",
        "offset",
        "limit",
    }
    assert {"400", "401", "403", "429"} <= set(get_op["responses"])
    docs = httpx.get(f"{server.base_url}/docs")
    assert docs.status_code == 200 and "<html" in docs.text.lower()


def test_seed_curl_snippet(server):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    out = subprocess.run(
        [
            curl,
            "--silent",
            "--show-error",
            "--fail",
            "--request",
            "GET",
            "--url",
            server.url,
            "--header",
            f"Authorization: Bearer {server.token}",
            "--header",
            "Content-Type: application/json",
            "--header",
            "accept: application/json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    check_page(out.stdout)


def test_seed_python_requests_snippet(server):
    requests = pytest.importorskip("requests")
    url = server.url
    headers = {
        "accept": "application/json",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {server.token}",
    }
    response = requests.get(url, headers=headers)
    check_page(response.text)


NODE_FETCH = """
const url = process.argv[1];
const options = {
method: 'GET',
headers: {
accept: 'application/json',
'Content-Type': 'application/json',
Authorization: 'Bearer ' + process.argv[2]
}
};
fetch(url, options)
.then(res => res.json())
.then(json => console.log(JSON.stringify(json)))
.catch(err => { console.error(err); process.exit(1); });
"""

NODE_HTTP = """
const http = require('http');
const u = new URL(process.argv[1]);
const options = {
method: 'GET',
hostname: u.hostname,
port: u.port,
path: u.pathname + u.search,
headers: {
accept: 'application/json',
'Content-Type': 'application/json',
Authorization: 'Bearer ' + process.argv[2]
}
};
const req = http.request(options, function (res) {
const chunks = [];
res.on('data', function (chunk) {
chunks.push(chunk);
});
res.on('end', function () {
const body = Buffer.concat(chunks);
console.log(body.toString());
});
});
req.end();
"""


@pytest.mark.parametrize("script", [NODE_FETCH, NODE_HTTP], ids=["fetch", "http"])
def test_seed_node_snippets(server, script):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run(
        [node, "-e", script, server.url, server.token],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    check_page(out.stdout)


def test_concurrent_writers_and_readers_through_two_workers(server):
    headers = {"Authorization": f"Bearer {server.token}"}
    path = f"{server.base_url}/v1/api/apps/demo/data/call-detail"
    batches = [
        [
            {
                "id": f"live-{b}-{i}",
                "callDirection": "Outbound",
                "callType": "onnet",
                "callDate": "2030-01-01T00:00:00Z",
                "status": "Busy",
            }
            for i in range(200)
        ]
        for b in range(6)
    ]
    import concurrent.futures

    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(6) as pool:
        posts = list(pool.map(lambda b: client.post(path, json=b, headers=headers), batches))
        assert [p.status_code for p in posts] == [200] * 6
        ids: list[str] = []
        for offset in (0, 500, 1000):
            params = {"startAt": "2030-01-01T00:00:00Z", "offset": offset, "limit": 500}
            ids += [
                r["id"] for r in client.get(path, params=params, headers=headers).json()["result"]
            ]
    assert len(ids) == len(set(ids)) == 1200


def test_two_workers_share_connections_that_arrive_together(tmp_path):
    """Connections opened at once (as a load balancer's or wrk's keep-alive pool) reach both
    workers: each worker listens on a socket of its own, so no one worker accepts them all."""
    pids: list[int] = []
    url = f"sqlite:///{tmp_path / 'cdr.db'}"
    with live_server(
        url,
        on_access=lambda line: pids.append(line["pid"]) if line["path"] == "/healthz" else None,
        workers=2,
    ) as base:
        host, port = base.removeprefix("http://").split(":")
        deadline = time.monotonic() + 60
        while len(set(pids)) < 2 and time.monotonic() < deadline:  # both workers listening
            httpx.get(f"{base}/healthz", headers={"Connection": "close"})
        time.sleep(0.5)  # the warm-up's access lines read before counting starts
        pids.clear()
        connections = [socket.create_connection((host, int(port))) for _ in range(24)]
        try:
            for conn in connections:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            for conn in connections:
                conn.settimeout(30)
                assert conn.recv(1024).startswith(b"HTTP/1.1 200")
        finally:
            for conn in connections:
                conn.close()
        deadline = time.monotonic() + 10
        while len(pids) < 24 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert len(pids) == 24
    assert len(set(pids)) == 2, f"every connection went to one worker: {pids}"
