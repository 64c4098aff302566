"""Shared fixtures: a fresh store per test, an in-process client, tokens, and record builders."""

from __future__ import annotations

import copy
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import Store, open_store, redact_url
from cdrstore.tokens import hash_secret, new_secret

BASE_RECORD: dict[str, Any] = {
    "id": "rec-0001",
    "callDirection": "Inbound",
    "callType": "offnet",
    "callDate": "2022-11-07T00:00:00.000Z",
    "status": "Call Ended",
}


def record(**overrides: Any) -> dict[str, Any]:
    """A minimal valid wire record with the given keys replaced."""
    rec = copy.deepcopy(BASE_RECORD)
    rec.update(overrides)
    return rec


def calls_path(app_id: str) -> str:
    return f"/v1/api/apps/{app_id}/data/call-detail"


POSTGRES_ADMIN_URL = os.environ.get(
    "CDRSTORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_unreachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {redact_url(POSTGRES_ADMIN_URL)} unreachable: {str(exc).strip()}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own, created here and dropped at the end."""
    reason = _postgres_unreachable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    name = f"cdrstore_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = str(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    store = open_store(url)
    store.upgrade()
    store.close()
    yield url
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE apps, tokens, calls, call_ids, call_counts CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that uses the database runs once on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cdrstore.db'}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.upgrade()
    yield s
    s.close()


class Tokens:
    """Makes apps and tokens directly in the store (the CLI does the same; see test_cli)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def app(self, app_id: str) -> str:
        if self.store.get_app(app_id) is None:
            self.store.create_app(app_id.title(), app_id)
        return app_id

    def token(
        self,
        app_id: str,
        scopes: tuple[str, ...] = ("read", "ingest"),
        expires_at: int | None = None,
    ) -> str:
        self.app(app_id)
        secret = new_secret()
        self.store.add_token(app_id, hash_secret(secret), frozenset(scopes), "test", expires_at)
        return secret

    def headers(self, app_id: str, scopes: tuple[str, ...] = ("read", "ingest")) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(app_id, scopes)}"}


@pytest.fixture
def tokens(store: Store) -> Tokens:
    return Tokens(store)


@pytest.fixture
def client(store: Store, db_url: str) -> Iterator[TestClient[Any]]:
    app = create_app(Settings(db_url, rate_limit_per_minute=0), store)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def auth(tokens: Tokens) -> dict[str, str]:
    """Headers with a read+ingest token for app "acme"."""
    return tokens.headers("acme")


def run_cli(
    args: tuple[str, ...],
    env: dict[str, str],
    cwd: Path,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`cdrstore ARGS` as a user runs it; asserts success unless check=False."""
    proc = subprocess.run(
        [sys.executable, "-m", "cdrstore", *args],
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def cli(tmp_path: Path, db_url: str):
    url = db_url

    def run(
        *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CDRSTORE_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
        return run_cli(args, env, tmp_path, input=input, check=check)

    run.url = url  # type: ignore[attr-defined]
    run.dir = tmp_path  # type: ignore[attr-defined]
    return run


# --- every statement that touches app data names one app (Citus-ready, issue 3) -------------------
APP_TABLES = re.compile(r"\b(calls|call_ids|call_counts|calls_y\d{4}m\d\d)\b", re.IGNORECASE)
NOT_DATA = re.compile(
    r"^\s*(CREATE|ALTER|DROP|TRUNCATE|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET)\b",
    re.IGNORECASE,
)
_statements: list[str] = []


def unscoped(sql: str) -> bool:
    """Whether a statement reads or writes app data without naming one app."""
    text = re.sub(r"'[^']*'", "''", " ".join(sql.split()))  # a name in a literal is not a read
    if not APP_TABLES.search(text) or NOT_DATA.match(text):
        return False
    if text.upper().startswith(("INSERT", "COPY")):
        return "app_id" not in text
    return re.search(r"\bapp_id = ", text) is None


class TracingCursor(psycopg.Cursor):  # type: ignore[type-arg]
    def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        _statements.append(str(query))
        return super().execute(query, params, **kwargs)

    def executemany(self, query, params_seq, **kwargs):  # type: ignore[no-untyped-def]
        _statements.append(str(query))
        return super().executemany(query, params_seq, **kwargs)

    def copy(self, statement, params=None, **kwargs):  # type: ignore[no-untyped-def]
        _statements.append(str(statement))
        return super().copy(statement, params, **kwargs)


@event.listens_for(Engine, "connect")
def _trace(dbapi_connection: object, _record: object) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.set_trace_callback(_statements.append)
    elif isinstance(dbapi_connection, psycopg.Connection):
        dbapi_connection.cursor_factory = TracingCursor


@pytest.fixture(autouse=True)
def every_statement_names_its_app() -> Iterator[None]:
    """After each test: no SQL it caused (in this process) touched app data without an app ID."""
    _statements.clear()
    yield
    bad = sorted({" ".join(s.split()) for s in _statements if unscoped(s)})
    assert not bad, "statements touching app data without an app_id condition:\n" + "\n".join(bad)
