"""Shared fixtures: a fresh store per test, an in-process client, tokens, and record builders."""

from __future__ import annotations

import copy
import functools
import logging
import logging.config
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import psycopg
import pytest
from litestar.testing import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

import cdrstore.api.errors
import cdrstore.tokens
import cdrstore.webhooks.signing
from cdrstore.api import create_app
from cdrstore.contract import TOKEN_PREFIX
from cdrstore.ops.accounts import ensure_app, issue_token
from cdrstore.settings import Settings
from cdrstore.store import Store, migrate, open_store, redact_url, schema
from cdrstore.tokens import hash_secret
from tests.support.postgres import create_postgres_database, drop_postgres_database

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


def require(missing: str | None, what: str) -> None:
    """Skip with the reason when something a test needs is missing; under CI=true, fail: there
    every test must run."""
    if missing:
        if IN_CI:
            pytest.fail(f"{missing} (CI=true: {what} must run)")
        pytest.skip(missing)


# `make test-citus` (pytest --citus): every PostgreSQL test, against the Citus coordinator at
# CDRSTORE_CITUS_URL (docs/scale-out.md): a database of the tests' own, emptied and distributed anew.
CITUS_URL = os.environ.get("CDRSTORE_CITUS_URL")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--citus",
        action="store_true",
        help="run only the PostgreSQL tests, against the Citus coordinator at CDRSTORE_CITUS_URL",
    )


def on_postgres(item: pytest.Item) -> bool:
    """Whether a test runs on PostgreSQL: the postgresql side of a backend parameter, or a test
    asking for the PostgreSQL database itself."""
    params = getattr(item, "callspec", None)
    values = [v for v in params.params.values() if isinstance(v, str)] if params else []
    if "sqlite" in values:
        return False
    return "postgresql" in values or "postgres_url" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--citus"):
        return
    kept = [item for item in items if on_postgres(item)]
    config.hook.pytest_deselected(items=[item for item in items if not on_postgres(item)])
    items[:] = kept


def on_citus(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--citus"))


def _fresh_citus_database(url: str) -> None:
    """The schema made anew in the coordinator's test database, then distributed."""
    from cdrstore.store.schema import metadata

    with psycopg.connect(url, autocommit=True) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
        conn.execute("DROP TABLE IF EXISTS alembic_version")
    store = open_store(url)
    store.upgrade()
    # 4 shards, not 32: each test empties every shard of every partition (a TRUNCATE a shard).
    store.distribute(shard_count=4)
    store.close()


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this test run's own, created here and dropped at the end (under --citus:
    the coordinator's database at CDRSTORE_CITUS_URL, emptied and distributed)."""
    if on_citus(request):
        if not CITUS_URL:
            pytest.skip(
                "CDRSTORE_CITUS_URL is not set: --citus needs a Citus coordinator's database"
            )
        _fresh_citus_database(CITUS_URL)
        yield CITUS_URL
        return
    require(_postgres_unreachable(), "the PostgreSQL tests")
    name = f"cdrstore_test_{os.getpid()}_{secrets.token_hex(3)}"
    url = str(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    create_postgres_database(url, POSTGRES_ADMIN_URL)
    store = open_store(url)
    store.upgrade()
    store.close()
    yield url
    drop_postgres_database(url, POSTGRES_ADMIN_URL)


def empty_postgres(url: str) -> None:
    """Every table of the schema emptied (the rate-limit windows, keyed by fresh tokens, kept)."""
    tables = [
        table.name
        for table in schema.metadata.sorted_tables
        if schema.on_backend(table.info, "postgresql") and table.name != "rate_windows"
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that uses the database runs once on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cdrstore.db'}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


@contextmanager
def store_at_revision(backend: str, tmp_path: Path, revision: str) -> Iterator[Store]:
    """A store of its own on `backend` ("sqlite" or "postgresql"), migrated only up to
    `revision` (on PostgreSQL a database made here and dropped after)."""
    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'old.db'}", None
    else:
        require(_postgres_unreachable(), "the PostgreSQL tests")
        name = f"cdrstore_test_migration_{secrets.token_hex(3)}"
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        create_postgres_database(url, POSTGRES_ADMIN_URL)
        drop = url
    store = open_store(url)
    try:
        migrate.upgrade(store.engine, revision)
        yield store
    finally:
        store.close()
        if drop is not None:
            drop_postgres_database(drop, POSTGRES_ADMIN_URL)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.upgrade()
    yield s
    s.close()


class Tokens:
    """Makes apps and tokens through the operations the CLI uses (see test_cli)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def app(self, app_id: str) -> str:
        ensure_app(self.store, app_id, app_id.title())
        return app_id

    def token(
        self,
        app_id: str,
        scopes: tuple[str, ...] = ("read", "ingest"),
        expires_at: int | None = None,
    ) -> str:
        self.app(app_id)
        expires_in = None if expires_at is None else expires_at - int(time.time())
        return issue_token(self.store, app_id, frozenset(scopes), "test", expires_in).secret

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
    if _active_guard is not None:
        _active_guard.saw_cli(proc.stdout, proc.stderr)
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


# --- every statement that touches app data names one app (Citus-ready, docs/scale-out.md) -------------------
APP_TABLES = re.compile(
    r"\b(calls|call_ids|call_counts|call_stats|call_party_stats|call_numbers|change_log"
    r"|change_heads|change_marks|webhook_deliveries|calls_y\d{4}m\d\d)\b",
    re.IGNORECASE,
)
NOT_DATA = re.compile(
    r"^\s*(CREATE|ALTER|DROP|TRUNCATE|ANALYZE|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET)\b",
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


# --- no token, nor its hash, nor a webhook secret, in any log line or error body ----------------------
GUARDED_LOGGERS: Final = ("", "cdrstore", "uvicorn", "litestar", "httpx", "httpcore")
_PRINTED_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{20,100}")
_PRINTED_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,100}")
_PLAIN_RECORD_KEYS: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_FORMATTER: Final = logging.Formatter()


def log_record_text(record: logging.LogRecord) -> str:
    """All of a record that some handler could write out: its message with the arguments put in,
    its exception and stack text, and every extra field."""
    try:
        parts = [record.getMessage()]
    except Exception:  # arguments that do not fit the message: a handler would print both
        parts = [f"{record.msg!r} % {record.args!r}"]
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(_FORMATTER.formatException(record.exc_info))
    parts += [text for text in (record.exc_text, record.stack_info) if text]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _PLAIN_RECORD_KEYS]
    return "\n".join(parts)


def find_leaks(minted: Iterable[str], outputs: Iterable[tuple[str, str]]) -> list[str]:
    """Every place in outputs, (label, text) pairs, where a minted token or its hash shows; each
    described with the token masked, so that the report does not leak it in turn."""
    needles: dict[str, str] = {}
    for secret in minted:
        # the random part alone: a token with its prefix cut off is as good as the whole of it
        if secret.startswith("whsec_"):  # a webhook signing secret: its key is the base64 part
            needles[secret.removeprefix("whsec_")] = "webhook secret"
            continue
        needles[secret.removeprefix(TOKEN_PREFIX)] = "token"
        needles[hash_secret(secret)] = "token hash"
    found = []
    for label, text in outputs:
        for needle, kind in needles.items():
            at = text.find(needle)
            if at >= 0:
                around = text[max(0, at - 80) : at + len(needle) + 80].replace(needle, f"<{kind}>")
                found.append(f"{kind} in {label}: ...{around}...")
    return found


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        # by id: a record reaches this one handler once for each guarded logger it propagates to
        self.records: dict[int, logging.LogRecord] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records[id(record)] = record


class SecretGuard:
    """What one test exposed: the tokens minted, the log records, error responses and CLI stderr."""

    def __init__(self) -> None:
        self.minted: list[str] = []
        self.capture = _Capture()
        self.error_responses: list[str] = []
        self.cli_stderr: list[str] = []

    def saw_cli(self, stdout: str, stderr: str) -> None:
        """A `cdrstore` run: tokens it prints on stdout are its output; on stderr, a leak."""
        self.minted += _PRINTED_TOKEN.findall(stdout or "")
        self.minted += _PRINTED_WEBHOOK_SECRET.findall(stdout or "")
        self.cli_stderr.append(stderr or "")

    def outputs(self) -> Iterator[tuple[str, str]]:
        for record in self.capture.records.values():
            yield f"log record {record.name} {record.levelname}", log_record_text(record)
        for body in self.error_responses:
            yield "error response", body
        for stderr in self.cli_stderr:
            yield "cdrstore CLI stderr", stderr

    def leaks(self) -> list[str]:
        return find_leaks([*_MINTED_OUTSIDE_TESTS, *self.minted], self.outputs())


_active_guard: SecretGuard | None = None
_MINTED_OUTSIDE_TESTS: list[str] = []  # by a test module as it is imported, say


def _install_secret_hooks() -> None:
    """Route every token minted, and every error response rendered, in this process to the running
    test's guard: once, as this file is imported, so that a module imported later (or already, and
    holding its own reference) uses the recording versions too."""
    mint, render = cdrstore.tokens.new_secret, cdrstore.api.errors.error_response
    mint_webhook = cdrstore.webhooks.signing.new_secret

    @functools.wraps(mint)
    def new_secret() -> str:
        secret = mint()
        (_active_guard.minted if _active_guard else _MINTED_OUTSIDE_TESTS).append(secret)
        return secret

    @functools.wraps(mint_webhook)
    def new_webhook_secret() -> str:
        secret = mint_webhook()
        (_active_guard.minted if _active_guard else _MINTED_OUTSIDE_TESTS).append(secret)
        return secret

    @functools.wraps(render)
    def error_response(*args: Any, **kwargs: Any) -> Any:
        response = render(*args, **kwargs)
        if _active_guard is not None:
            content = response.content.decode("utf-8", "replace")
            _active_guard.error_responses.append(f"{content} headers={response.headers!r}")
        return response

    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in ("cdrstore", "tests", "bench"):
            for attr, value in list(vars(module).items()):
                if value is mint:
                    setattr(module, attr, new_secret)
                elif value is mint_webhook:
                    setattr(module, attr, new_webhook_secret)
                elif value is render:
                    setattr(module, attr, error_response)


_install_secret_hooks()


@pytest.fixture(autouse=True)
def secret_guard() -> Iterator[SecretGuard]:
    """Every test runs with debug logging on, and fails if a token it minted, or that token's hash,
    shows in any log record, error response or CLI stderr (stdout is where the CLI prints a token)."""
    global _active_guard
    guard = SecretGuard()
    loggers = [logging.getLogger(name) for name in GUARDED_LOGGERS]
    levels = [logger.level for logger in loggers]

    def watch() -> None:
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            if guard.capture not in logger.handlers:
                logger.addHandler(guard.capture)

    configure = logging.config.dictConfig

    def configure_then_watch(config: dict[str, Any]) -> None:
        configure(config)
        watch()  # Litestar configures logging as each app is made, resetting levels and handlers

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logging.config, "dictConfig", configure_then_watch)
        watch()
        _active_guard = guard
        try:
            yield guard
        finally:
            _active_guard = None
            for logger, level in zip(loggers, levels, strict=True):
                logger.removeHandler(guard.capture)
                logger.setLevel(level)
    leaks = guard.leaks()
    if leaks:
        pytest.fail("secret leaked:\n" + "\n".join(leaks), pytrace=False)
