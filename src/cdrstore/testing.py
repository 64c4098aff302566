"""A test kit for code that talks to cdrstore: a real `cdrstore serve` in a subprocess, on loopback,
on a port of its own, the rate limit off, ready before it is handed over; and an app with a token
to call it with. Used by cdrstore's own tests and benchmarks; documented in docs/testing.md.

    from cdrstore.testing import app_with_token, live_server

    url = f"sqlite:///{tmp_path / 'cdr.db'}"
    token = app_with_token(url, "acme")
    with live_server(url) as base_url:
        ...  # call base_url + "/v1/api/apps/acme/data/call-detail" with the token
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict, Unpack

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerOptions(TypedDict, total=False):
    workers: int  # worker processes (default 1)
    cwd: Path | None  # where the server runs
    timeout: float  # seconds to wait for it to be ready (default 60)
    args: Sequence[str]  # more `cdrstore serve` options (the rate limit is off unless given)
    env: Mapping[str, str] | None  # more environment variables


def start_server(
    database_url: str, **options: Unpack[ServerOptions]
) -> tuple[subprocess.Popen[bytes], str]:
    """A started server process and its base URL, once /readyz answers; stopping it is the caller's.
    Its stderr (one access line a request) is a pipe: the caller must read it or discard it."""
    workers = options.get("workers", 1)
    cwd, timeout = options.get("cwd"), options.get("timeout", 60)
    args, env = options.get("args", ()), options.get("env")
    port = free_port()
    env = {**os.environ, **(env or {}), "CDRSTORE_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "cdrstore", "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", *args]
    if "--rate-limit" not in args:
        command += ["--rate-limit", "off"]
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, errors = proc.communicate()
            raise RuntimeError(
                f"cdrstore serve did not start: {errors.decode(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)


@contextmanager
def live_server(
    database_url: str,
    on_access: Callable[[dict[str, Any]], None] | None = None,
    **options: Unpack[ServerOptions],
) -> Iterator[str]:
    """The base URL of a server on this database, stopped when the block ends; each of its
    access lines (JSON, one a request) is handed to on_access as it is written."""
    proc, base = start_server(database_url, **options)
    assert proc.stderr is not None
    stderr = proc.stderr

    def read() -> None:  # all the time: a full pipe would stall the server at its next line
        for line in stderr:
            if on_access is not None and line.startswith(b"{") and b'"route"' in line:
                on_access(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        yield base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def demo_token(database_url: str, records: int, cwd: Path, seed: int = 1) -> str:
    """Run `cdrstore demo` on this database and return the demo app's token."""
    env = {**os.environ, "CDRSTORE_DATABASE_URL": database_url, "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "cdrstore", "demo", "--records", str(records), "--seed", str(seed)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    return out.split("token: ")[1].split()[0]


def app_with_token(
    database_url: str, app_id: str, scopes: Sequence[str] = ("read", "ingest")
) -> str:
    """Migrate the database, make sure it holds the app, and return a new token's secret for it."""
    from .ops.accounts import ensure_app, issue_token
    from .store import open_store

    store = open_store(database_url)
    try:
        store.upgrade()
        ensure_app(store, app_id, app_id.title())
        return issue_token(store, app_id, frozenset(scopes), "testing").secret
    finally:
        store.close()
