"""Run a real `cdrstore serve` in a subprocess: for tests, benchmarks and scripts that need a live
server on loopback (a port of its own, the rate limit off, ready before it is handed over); and the
databases and tokens such a server is started on."""

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
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database_url: str,
    workers: int = 1,
    cwd: Path | None = None,
    timeout: float = 60,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """A started server process and its base URL, once /readyz answers; stopping it is the caller's.
    Its stderr (one access line a request) is a pipe: the caller must read it or discard it."""
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
    workers: int = 1,
    cwd: Path | None = None,
    timeout: float = 60,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    on_access: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[str]:
    """The base URL of a server on this database, stopped when the block ends; each of its
    access lines (JSON, one a request) is handed to on_access as it is written."""
    proc, base = start_server(database_url, workers, cwd, timeout, args, env)
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
    from .store import open_store
    from .tokens import hash_secret, new_secret

    store = open_store(database_url)
    try:
        store.upgrade()
        if store.get_app(app_id) is None:
            store.create_app(app_id.title(), app_id)
        secret = new_secret()
        store.add_token(app_id, hash_secret(secret), frozenset(scopes), "testing", None)
        return secret
    finally:
        store.close()


def _postgres_admin(url: str, admin_url: str | None) -> tuple[str, str]:
    """(where to connect to create or drop it: admin_url, else the same server's `postgres`
    database; the database name) for a postgresql:// URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = admin_url or parsed.set(database="postgres").render_as_string(hide_password=False)
    return admin, str(parsed.database)


def create_postgres_database(url: str, admin_url: str | None = None) -> None:
    """Make the database the URL names anew: dropped first if it exists."""
    import psycopg

    admin, name = _postgres_admin(url, admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(url: str, admin_url: str | None = None) -> None:
    import psycopg

    admin, name = _postgres_admin(url, admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
