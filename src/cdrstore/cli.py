"""The `cdrstore` command: serve, migrate, manage apps and tokens, import, demo.

Commands print their result (an app ID, a token, a summary) on stdout and everything else (progress,
notices, errors) on stderr, so `TOKEN=$(cdrstore tokens create ...)` captures just the token.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .batch import BatchError
from .contract import APP_ID_PATTERN, CALL_DETAIL_PATH, SCOPES
from .durations import age_cutoff, parse_duration
from .importer import ImportSource, default_jobs, import_files
from .settings import (
    BODY_TIMEOUT_ENV,
    HEADER_TIMEOUT_ENV,
    METRICS_ENV,
    MULTIPROC_DIR_ENV,
    RATE_LIMIT_ENV,
    REDIS_URL_ENV,
    Settings,
)
from .store import (
    DATABASE_URL_ENV,
    AppExists,
    Store,
    StoreError,
    UnknownApp,
    database_url,
    open_store,
    redact_url,
)
from .tokens import hash_secret, looks_like_secret, new_secret

app = typer.Typer(
    name="cdrstore",
    help="Store call detail records and serve them through the CINNOX-compatible call-detail API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
apps_cli = typer.Typer(help="Create and list apps.", no_args_is_help=True)
tokens_cli = typer.Typer(help="Create, list and revoke bearer tokens.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
retention_cli = typer.Typer(help="Remove records past their retention age.", no_args_is_help=True)
calls_cli = typer.Typer(
    help="Read calls from a call-detail API: this server or any CINNOX-compatible one.",
    no_args_is_help=True,
)
app.add_typer(apps_cli, name="apps")
app.add_typer(tokens_cli, name="tokens")
app.add_typer(db_cli, name="db")
app.add_typer(retention_cli, name="retention")
app.add_typer(calls_cli, name="calls")

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=f"Database URL (default: ${DATABASE_URL_ENV} or sqlite:///cdrstore.db).",
        show_default=False,
    ),
]
_global: dict[str, str | None] = {"db": None}

DEMO_APP_ID = "demo"
DEMO_TOKEN_FILE = "cdrstore-demo.token"


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def _open(db: str | None, *, migrate: bool = True) -> Store:
    url = database_url(db or _global["db"])
    try:
        store = open_store(url)
        if migrate and store.engine.dialect.name == "sqlite":
            store.upgrade()
        elif migrate and not store.is_current():
            raise fail(
                f"the database schema is not current: run `cdrstore db upgrade --db {redact_url(url)}`"
            )
    except StoreError as exc:
        raise fail(str(exc)) from None
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(f"cannot open database {redact_url(url)}: {type(exc).__name__}: {exc}") from None
    return store


@app.callback()
def main_options(
    db: DbOption = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()
    _global["db"] = db


# --- serve ------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            help=f"Requests a minute a token, or 'off' (default: ${RATE_LIMIT_ENV} or 500)."
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help=f"Count rate limits in this Redis (default: ${REDIS_URL_ENV}; else in the database).",
            show_default=False,
        ),
    ] = None,
    body_timeout: Annotated[
        str | None,
        typer.Option(
            help=f"Seconds a request body may stall before a 408 (default: ${BODY_TIMEOUT_ENV} or 30).",
            show_default=False,
        ),
    ] = None,
    header_timeout: Annotated[
        str | None,
        typer.Option(
            help=f"Seconds for a request's headers before a 408 (default: ${HEADER_TIMEOUT_ENV} or 10).",
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        bool | None,
        typer.Option(
            "--metrics/--no-metrics",
            help=f"Serve Prometheus metrics at /metrics (default: ${METRICS_ENV}, else off).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    db: DbOption = None,
) -> None:
    """Serve the API (and /docs, /openapi.json, /healthz, /readyz; /metrics with --metrics)."""
    import uvicorn

    url = database_url(db or _global["db"])
    # Every worker reads its settings from the environment: the options go there, and are
    # checked once, here, as the workers will read them.
    for env_name, value in (
        (RATE_LIMIT_ENV, rate_limit),
        (REDIS_URL_ENV, redis_url),
        (BODY_TIMEOUT_ENV, body_timeout),
        (HEADER_TIMEOUT_ENV, header_timeout),
        (METRICS_ENV, None if metrics is None else "on" if metrics else "off"),
    ):
        if value is not None:
            os.environ[env_name] = value
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise fail(str(exc)) from None
    if settings.metrics:
        _share_metrics_between_workers()
    else:  # values stay in each process's memory: nothing on disk to go wrong
        os.environ.pop(MULTIPROC_DIR_ENV, None)
    store = _open(url)  # migrates once here, before any worker starts
    store.close()
    os.environ[DATABASE_URL_ENV] = url  # every worker builds its app from the environment
    err.print(
        f"cdrstore {__version__} serving {redact_url(url)} on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); API docs at http://{host}:{port}/docs"
        + (f", metrics at http://{host}:{port}/metrics" if settings.metrics else "")
    )
    from .api.protocol import HeaderDeadlineProtocol  # reads its timeout from the environment

    uvicorn.run(
        "cdrstore.api.app:create_app",
        http=HeaderDeadlineProtocol,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
        access_log=False,  # cdrstore.access writes one JSON line a request instead
        log_config=_log_config(),
    )


def _share_metrics_between_workers() -> None:
    """Give the worker processes a fresh directory to keep metric values in, so that /metrics
    adds up all of them (prometheus_client's multiprocess mode), removed when the server stops."""
    import atexit
    import shutil
    import tempfile

    chosen = os.environ.get(MULTIPROC_DIR_ENV)
    if not chosen:
        directory = tempfile.mkdtemp(prefix="cdrstore-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ[MULTIPROC_DIR_ENV] = directory
        return
    # The operator's directory: it must exist, and last run's values go (prometheus_client
    # would otherwise add them to this run's).
    path = Path(chosen)
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise fail(f"{MULTIPROC_DIR_ENV}={chosen} is not a writable directory")
    for stale in path.glob("*.db"):
        stale.unlink()


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus cdrstore's own loggers (access lines, errors) on stderr, one message
    a line; uvicorn applies it in every worker process."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["cdrstore"] = {"format": "%(message)s"}
    config["handlers"]["cdrstore"] = {
        "class": "logging.StreamHandler",
        "formatter": "cdrstore",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["cdrstore"] = {"handlers": ["cdrstore"], "level": "INFO", "propagate": False}
    return config


# --- db ---------------------------------------------------------------------------------------
@db_cli.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema to the newest revision."""
    store = _open(db, migrate=False)
    before, after = store.upgrade()
    if before == after:
        err.print(f"schema already at revision {after}")
    else:
        err.print(f"schema upgraded from {before or 'empty'} to {after}")


# --- apps -------------------------------------------------------------------------------------
@apps_cli.command("create")
def apps_create(
    name: Annotated[str, typer.Argument(help="A name for people.")],
    app_id: Annotated[
        str | None, typer.Option("--id", help="The app ID ([A-Za-z0-9_-], 1-64); random if absent.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create an app; prints its ID alone on stdout."""
    import re

    if app_id is not None and not re.match(APP_ID_PATTERN, app_id):
        raise fail(f"invalid app ID {app_id!r}: 1-64 of A-Z a-z 0-9 _ -", 2)
    if not name.strip():
        raise fail("the app name must not be empty", 2)
    store = _open(db)
    try:
        created = store.create_app(name, app_id)
    except AppExists as exc:
        raise fail(str(exc)) from None
    out.print(created.app_id)


@apps_cli.command("list")
def apps_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List apps with how many records each holds."""
    store = _open(db)
    rows = store.list_apps()
    if as_json:
        for a, n in rows:
            out.print(
                msgspec.json.encode(
                    {"id": a.app_id, "name": a.name, "records": n, "created": _iso(a.created_at)}
                ).decode(),
                markup=False,
            )
        return
    table = Table("ID", "Name", "Records", "Created")
    for a, n in rows:
        table.add_row(a.app_id, a.name, f"{n:,}", _iso(a.created_at))
    out.print(table)


def _iso(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --- tokens -----------------------------------------------------------------------------------
@tokens_cli.command("create")
def tokens_create(
    app_id: Annotated[str, typer.Option("--app", help="The app the token is for.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="read or ingest; repeat (or read,ingest) for both."),
    ],
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime such as 30s, 15m, 12h or 90d; none if absent.")
    ] = None,
    name: Annotated[str, typer.Option(help="A label, to tell tokens apart.")] = "",
    db: DbOption = None,
) -> None:
    """Create a token; prints the secret alone on stdout (shown once, stored hashed)."""
    scopes = frozenset(part.strip() for value in scope for part in value.split(",") if part.strip())
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise fail(
            f"--scope must be one of {', '.join(SCOPES)} (got {', '.join(sorted(unknown)) or 'none'})",
            2,
        )
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = int(time.time()) + parse_duration(expires_in)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    store = _open(db)
    secret = new_secret()
    try:
        info = store.add_token(app_id, hash_secret(secret), scopes, name, expires_at)
    except UnknownApp as exc:
        raise fail(str(exc)) from None
    err.print(
        f"token {info.token_id} for app {app_id} ({', '.join(sorted(scopes))}"
        f"{', expires ' + _iso(expires_at) if expires_at else ''}); it is shown only once"
    )
    out.print(secret, markup=False)


@tokens_cli.command("list")
def tokens_list(
    app_id: Annotated[str, typer.Option("--app", help="The app whose tokens to list.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List an app's tokens (never their secrets)."""
    store = _open(db)
    if store.get_app(app_id) is None:
        raise fail(f"no app {app_id!r}")
    now = time.time()
    rows: list[dict[str, Any]] = [
        {
            "id": t.token_id,
            "name": t.name,
            "scopes": sorted(t.scopes),
            "created": _iso(t.created_at),
            "expires": _iso(t.expires_at),
            "state": "revoked" if t.revoked_at else ("active" if t.is_active(now) else "expired"),
        }
        for t in store.list_tokens(app_id)
    ]
    if as_json:
        for row in rows:
            out.print(msgspec.json.encode(row).decode(), markup=False)
        return
    table = Table("ID", "Name", "Scopes", "Created", "Expires", "State")
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            ",".join(row["scopes"]),
            row["created"],
            row["expires"],
            row["state"],
        )
    out.print(table)


@tokens_cli.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="The token's ID (tok_...) or the token itself.")],
    db: DbOption = None,
) -> None:
    """Revoke a token; takes effect on the next request."""
    store = _open(db)
    if looks_like_secret(token):
        info = store.revoke_token(None, hash_secret(token))
    else:
        info = store.revoke_token(token, None)
    if info is None:
        raise fail("no such token")
    err.print(f"token {info.token_id} of app {info.app_id} revoked")


# --- import -----------------------------------------------------------------------------------
@app.command("import")
def import_(
    app_id: Annotated[str, typer.Option("--app", help="The app to import into.")],
    files: Annotated[
        list[str],
        typer.Argument(help='JSON array, {"result": [...]} or NDJSON files; - for stdin.'),
    ],
    jobs: Annotated[
        int, typer.Option(min=1, help="Processes decoding and validating in parallel.")
    ] = default_jobs(),
    db: DbOption = None,
) -> None:
    """Import records with POST's validation and idempotency, all files in one transaction."""
    store = _open(db)
    sources: list[ImportSource] = []
    for name in files:
        if name == "-":
            sources.append(ImportSource("-", sys.stdin.buffer))
            continue
        path = Path(name)
        if not path.is_file():
            raise fail(f"no such file: {name}")
        sources.append(ImportSource(name, path.open("rb"), path.stat().st_size))
    total_bytes = sum(s.size or 0 for s in sources) if all(s.size for s in sources) else None
    started = time.perf_counter()
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[records]:,} records"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=total_bytes, records=0)
        try:
            result = import_files(
                store,
                app_id,
                sources,
                jobs,
                lambda done, read: bar.update(task, completed=read, records=done),
            )
        except (UnknownApp, BatchError) as exc:
            raise fail(str(exc)) from None
        finally:
            for source in sources:
                if source.name != "-":
                    source.stream.close()
    elapsed = time.perf_counter() - started
    if result.invalid:
        for source_name, error in result.errors:
            where = f"{source_name}: " if len(sources) > 1 else ""
            field = f"{error.field}: " if error.field else ""
            err.print(
                f"{where}record {error.index}: {field}{error.message}",
                markup=False,
                highlight=False,
            )
        more = result.invalid - len(result.errors)
        raise fail(
            f"{result.invalid} invalid record(s){f' ({more} not listed)' if more > 0 else ''}; nothing imported"
        )
    c = result.counts
    rate = c.received / elapsed if elapsed > 0 else 0.0
    out.print(
        f"imported {c.received:,} records into {app_id}: {c.inserted:,} inserted, "
        f"{c.updated:,} updated, {c.unchanged:,} unchanged ({elapsed:.1f} s, {rate:,.0f} records/s)"
    )


# --- retention ------------------------------------------------------------------------------
@retention_cli.command("apply")
def retention_apply(
    older_than: Annotated[
        str,
        typer.Option(help="Remove records whose callDate is older than this: 90d, 6w, 13mo, 7y."),
    ],
    app_id: Annotated[
        str | None, typer.Option("--app", help="Only this app (default: all).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Say what would be removed; remove nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Remove old records: whole monthly partitions where every app allows (PostgreSQL), rows otherwise."""
    from datetime import UTC, datetime

    from .record import format_timestamp

    try:
        cutoff = age_cutoff(older_than, datetime.now(UTC))
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    store = _open(db)
    if app_id is not None and store.get_app(app_id) is None:
        raise fail(f"no app {app_id!r}")
    cutoff_ms = int(cutoff.timestamp() * 1000)
    report = store.apply_retention(cutoff_ms, app_id, dry_run)
    verb = "would remove" if dry_run else "removed"
    for name in report.dropped_partitions:
        out.print(f"{'would drop' if dry_run else 'dropped'} partition {name}", markup=False)
    for app, n in sorted(report.removed.items()):
        out.print(
            f"{verb} {n:,} records of app {app} older than {format_timestamp(cutoff_ms)}",
            markup=False,
        )
    total = sum(report.removed.values())
    out.print(f"{verb} {total:,} records in all", markup=False)


# --- calls (client mode) and export (server side) ---------------------------------------------
TypeOption = Annotated[str | None, typer.Option("--type", help="onnet, offnet or smartcall.")]
StatusOption = Annotated[
    str | None, typer.Option(help="One of the 8 call statuses, e.g. 'Call Ended'.")
]
SinceOption = Annotated[str | None, typer.Option(help="callDate >= this (RFC3339).")]
UntilOption = Annotated[str | None, typer.Option(help="callDate < this (RFC3339).")]
OffsetOption = Annotated[int, typer.Option(help="Records to skip.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
]
BaseUrlOption = Annotated[
    str, typer.Option(envvar="CDRSTORE_URL", help="The API's base URL ($CDRSTORE_URL).")
]
ClientAppOption = Annotated[
    str, typer.Option("--app", envvar="CDRSTORE_APP", help="App ID ($CDRSTORE_APP).")
]
TokenOption = Annotated[
    str,
    typer.Option(
        envvar="CDRSTORE_TOKEN",
        help="Bearer token ($CDRSTORE_TOKEN); never echoed.",
        show_default=False,
    ),
]


def _filters(
    call_type: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    offset: int,
    limit: int | None,
) -> list[tuple[str, str]]:
    """The filters as query pairs, checked by the contract's own rules before anything is sent."""
    from .query import QueryError, parse_call_query

    pairs = [
        (name, value)
        for name, value in (
            ("callType", call_type),
            ("status", status),
            ("startAt", since),
            ("endAt", until),
            ("offset", str(offset)),
            ("limit", None if limit is None else str(limit)),
        )
        if value is not None
    ]
    try:
        parse_call_query(pairs)
    except QueryError as exc:
        raise fail(str(exc), 2) from None
    return pairs


def _write_docs(docs: Iterator[bytes], fmt: str, output: Path | None, what: str) -> int:
    """Stream docs into the format; a progress line on a terminal. Returns how many."""
    from .export import open_writer

    if fmt == "parquet" and output is None:
        raise fail("--format parquet needs --output FILE", 2)
    stream = output.open("wb") if output is not None else sys.stdout.buffer
    writer = open_writer(fmt, stream)
    started = time.perf_counter()
    with Progress(
        TextColumn(what),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)
        try:
            for doc in docs:
                writer.write(doc)
                if writer.count % 1000 == 0:
                    bar.update(task, completed=writer.count)
        finally:
            writer.close()
            if output is not None:
                stream.close()
    elapsed = time.perf_counter() - started
    if output is not None:
        err.print(f"{what}: {writer.count:,} records to {output} ({elapsed:.1f} s)")
    return writer.count


def _client_docs(
    base_url: str, app_id: str, token: str, pairs: list[tuple[str, str]], walk: bool
) -> Iterator[bytes]:
    from .client import CdrstoreError, Client, call_query

    names = {"callType": "call_type", "status": "status", "startAt": "start_at", "endAt": "end_at"}
    kwargs: dict[str, Any] = {names[k]: v for k, v in pairs if k in names}
    given = dict(pairs)
    kwargs["offset"] = int(given.get("offset", "0"))
    if "limit" in given:
        kwargs["limit"] = int(given["limit"])
    try:
        with Client(base_url, app_id, token) as client:
            if walk:
                yield from client.iter_raw(**kwargs)
            else:
                raws, _ = client.raw_page(client.path, call_query(**kwargs))
                for raw in raws:
                    yield bytes(raw)
    except CdrstoreError as exc:
        raise fail(str(exc)) from None


def _print_table(docs: Iterator[bytes]) -> None:
    table = Table("id", "callDate", "type", "direction", "status", "caller", "callee", "seconds")
    for doc in docs:
        r = msgspec.json.decode(doc)
        seconds = ""
        if r.get("callEndTime"):
            from .record import parse_timestamp

            seconds = (
                f"{(parse_timestamp(r['callEndTime']) - parse_timestamp(r['callDate'])) / 1000:.0f}"
            )
        table.add_row(
            r["id"],
            r["callDate"],
            r["callType"],
            r["callDirection"],
            r["status"],
            str(r.get("caller", "")),
            str(r.get("callee", "")),
            seconds,
        )
    out.print(table)


@calls_cli.command("list")
def calls_list(
    token: TokenOption,
    app_id: ClientAppOption,
    base_url: BaseUrlOption = "http://127.0.0.1:8080",
    call_type: TypeOption = None,
    status: StatusOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    offset: OffsetOption = 0,
    limit: Annotated[
        int | None, typer.Option(help="Page size (1-500; the server's default if absent).")
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Walk every page, not just one.")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="table, json, ndjson, csv or parquet.")
    ] = "table",
    output: OutputOption = None,
) -> None:
    """One page of calls (or every page with --all), as a table or in an export format."""
    pairs = _filters(call_type, status, since, until, offset, limit)
    docs = _client_docs(base_url, app_id, token, pairs, all_pages)
    if fmt == "table":
        _print_table(docs)
        return
    _check_format(fmt)
    _write_docs(docs, fmt, output, "listing")


def _check_format(fmt: str) -> None:
    from .export import EXPORT_FORMATS

    if fmt not in EXPORT_FORMATS:
        raise fail(
            f"--format must be one of {', '.join(EXPORT_FORMATS)} (or table for list), got {fmt!r}",
            2,
        )


@calls_cli.command("export")
def calls_export(
    token: TokenOption,
    app_id: ClientAppOption,
    base_url: BaseUrlOption = "http://127.0.0.1:8080",
    call_type: TypeOption = None,
    status: StatusOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    offset: OffsetOption = 0,
    fmt: Annotated[str, typer.Option("--format", help="ndjson, json, csv or parquet.")] = "ndjson",
    output: OutputOption = None,
) -> None:
    """Every matching call, page by page, streamed into a file (memory stays flat)."""
    _check_format(fmt)
    pairs = _filters(call_type, status, since, until, offset, None)
    _write_docs(_client_docs(base_url, app_id, token, pairs, True), fmt, output, "exporting")


@app.command("export")
def export_(
    app_id: Annotated[str, typer.Option("--app", help="The app to export.")],
    call_type: TypeOption = None,
    status: StatusOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    offset: OffsetOption = 0,
    fmt: Annotated[str, typer.Option("--format", help="ndjson, json, csv or parquet.")] = "ndjson",
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Export an app's records straight from the database (for operators), streaming."""
    from .query import parse_call_query

    _check_format(fmt)
    query = parse_call_query(_filters(call_type, status, since, until, offset, None))
    store = _open(db)
    if store.get_app(app_id) is None:
        raise fail(f"no app {app_id!r}")
    _write_docs(store.iter_docs(app_id, query), fmt, output, "exporting")


# --- demo -------------------------------------------------------------------------------------
@app.command()
def demo(
    records: Annotated[int, typer.Option(min=0, help="Synthetic records to create.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic records.")] = 1,
    token_file: Annotated[Path, typer.Option(help="Where the demo token is kept.")] = Path(
        DEMO_TOKEN_FILE
    ),
    base_url: Annotated[
        str, typer.Option(help="Where the server will listen, for the curl example.")
    ] = "http://127.0.0.1:8080",
    db: DbOption = None,
) -> None:
    """Create the demo app with synthetic CDRs and a read+ingest token (reusing what exists)."""
    from .record import decode_record
    from .synth import generate

    store = _open(db)
    if store.get_app(DEMO_APP_ID) is None:
        store.create_app("Demo contact centre", DEMO_APP_ID)
        err.print(f"created app {DEMO_APP_ID}")
    held = store.count_records(DEMO_APP_ID)
    if held:
        err.print(f"app {DEMO_APP_ID} already holds {held:,} records; adding none")
    elif records:
        encoder = msgspec.json.Encoder()
        with store.writer(DEMO_APP_ID) as writer:
            batch = []
            for wire in generate(records, seed):
                batch.append(decode_record(encoder.encode(wire)))
                if len(batch) == 10_000:
                    writer.write(batch)
                    batch = []
            writer.write(batch)
        err.print(f"added {records:,} synthetic records to app {DEMO_APP_ID} (seed {seed})")
    secret = _demo_token(store, token_file)
    url = f"{base_url}{CALL_DETAIL_PATH.replace('{app_id:str}', DEMO_APP_ID)}?offset=0&limit=2"
    out.print(f"app:   {DEMO_APP_ID}", markup=False)
    out.print(f"token: {secret}", markup=False)
    out.print("try:", markup=False)
    out.print(
        f"  curl --request GET --url '{url}' --header 'Authorization: Bearer {secret}' "
        "--header 'accept: application/json'",
        markup=False,
    )


def _demo_token(store: Store, token_file: Path) -> str:
    if token_file.is_file():
        secret = token_file.read_text().strip()
        info = store.find_token(hash_secret(secret)) if looks_like_secret(secret) else None
        if (
            info
            and info.app_id == DEMO_APP_ID
            and info.is_active(time.time())
            and info.scopes >= {"read", "ingest"}
        ):
            err.print(f"reusing the demo token in {token_file}")
            return secret
        err.print(f"the token in {token_file} is no longer valid; creating a new one")
    secret = new_secret()
    store.add_token(DEMO_APP_ID, hash_secret(secret), frozenset({"read", "ingest"}), "demo", None)
    token_file.write_text(secret + "\n")
    token_file.chmod(0o600)
    err.print(f"created a new demo token (saved to {token_file}, readable only by you)")
    return secret


def main() -> None:
    app()


if __name__ == "__main__":
    main()
