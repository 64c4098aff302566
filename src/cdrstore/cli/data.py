"""An app's records in the local database: `import`, `export`, `demo`, `retention apply`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.progress import BarColumn, TaskProgressColumn, TextColumn

from ..contract import BATCH_MAX_REPORTED_ERRORS, call_detail_path
from ..errors import DomainError
from ..ingest.importer import (
    CACHE_MB_MAX,
    ImportOptions,
    ImportResult,
    ImportSource,
    default_cache_mb,
    default_jobs,
)
from ..ingest.sources import SourceFormat
from ..query import CallFilters
from .common import EXIT_USAGE, DbOption, err, fail, out, plural, refusals
from .database import open_db
from .filters import ExcelOption, FormatOption, OutputOption, checked, takes_filters
from .output import choose_format, progress, write_docs

retention_cli = typer.Typer(help="Remove records past their retention age.", no_args_is_help=True)

DEMO_TOKEN_FILE: Final = "cdrstore-demo.token"
JSON_FORMAT: Final = (
    "json"  # JSON array, {"result": [...]} or NDJSON; the sources' formats beside it
)


# --- import -----------------------------------------------------------------------------------
DIRECTORY_PATTERNS: Final = ("*.json", "*.cdr.json")  # a source's log directory (FreeSWITCH's)


def _expand(name: str, directories: bool) -> list[Path]:
    """A file, or (for a source format) every `*.json` file of a directory, sorted by name."""
    path = Path(name)
    if directories and path.is_dir():
        found = {p for pattern in DIRECTORY_PATTERNS for p in path.glob(pattern) if p.is_file()}
        if not found:
            raise fail(f"no *.json files in the directory {name}")
        return sorted(found)
    if not path.is_file():
        raise fail(f"no such file: {name}")
    return [path]


def _open_sources(files: list[str], directories: bool = False) -> list[ImportSource]:
    sources: list[ImportSource] = []
    for name in files:
        if name == "-":
            sources.append(ImportSource("-", sys.stdin.buffer))
            continue
        for path in _expand(name, directories):
            sources.append(ImportSource(str(path), path.open("rb"), path.stat().st_size))
    return sources


def _report_invalid(result: ImportResult) -> typer.Exit:
    for where, error in result.errors:
        field = f"{error.field}: " if error.field else ""
        err.print(f"{where}: {field}{error.message}", markup=False, highlight=False)
    bounded = len(result.errors) >= BATCH_MAX_REPORTED_ERRORS
    listed = f" (the first {BATCH_MAX_REPORTED_ERRORS} errors listed)" if bounded else ""
    return fail(f"{result.invalid} invalid record(s){listed}; nothing imported")


def _csv_format(files: list[str], mapping: Path | None, infer: bool) -> SourceFormat:
    """The csv format bound to its mapping; with --infer, the starting mapping printed instead."""
    from ..ingest.sources.csvmap import MappedCsv, Mapping, MappingError, infer_from

    if infer:
        out.print(infer_from(Path(files[0])), markup=False, end="")
        raise typer.Exit()
    if mapping is None:
        raise fail(
            "--format csv needs --mapping FILE.toml (`cdrstore import --format csv --infer FILE`"
            " prints a starting one)",
            EXIT_USAGE,
        )
    try:
        return MappedCsv(Mapping.load(mapping))
    except MappingError as exc:
        raise fail(exc.message, EXIT_USAGE) from None


def import_(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE",
            help='JSON array, {"result": [...]} or NDJSON files; - for stdin. With a source'
            " --format, a directory means its *.json files.",
        ),
    ],
    app_id: Annotated[
        str | None, typer.Option("--app", help="The app to import into (required).")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes decoding and validating in parallel.",
            show_default="the CPUs, at most 4",
        ),
    ] = default_jobs(),
    cache_mb: Annotated[
        int,
        typer.Option(
            min=16,
            help="SQLite: the megabytes (MiB) of pages the import may keep in memory; more keeps"
            " an import into a large store fast.",
            show_default=f"a quarter of the memory, at most {CACHE_MB_MAX}",
        ),
    ] = default_cache_mb(),
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help='json: a JSON array, {"result": [...]} or NDJSON (told apart by the first byte);'
            " or a CDR source's format (docs/sources/).",
        ),
    ] = JSON_FORMAT,
    ignore_unknown: Annotated[
        bool,
        typer.Option(
            "--ignore-unknown", help="Drop keys the record model does not know instead of failing."
        ),
    ] = False,
    internal: Annotated[
        str | None,
        typer.Option(
            help="Sources: a regular expression for the internal extensions (direction, onnet)."
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(help="Sources: the time zone of times written without an offset (UTC)."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="--format csv: the TOML file mapping columns to record fields."),
    ] = None,
    infer: Annotated[
        bool,
        typer.Option(
            help="--format csv: print a starting mapping from the file's header, and stop."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Import records with POST's validation and idempotency, all files in one transaction."""
    from ..ingest.sources import FORMATS, Policy
    from ..ingest.sources.policy import PolicyError
    from ..ops.imports import import_files
    from ..store import UnknownApp

    known = (JSON_FORMAT, *sorted(FORMATS))
    if fmt not in known:
        raise fail(f"--format must be one of {', '.join(known)}, got {fmt!r}", EXIT_USAGE)
    try:
        policy = Policy.from_options(internal, tz)
    except PolicyError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    source_format = _csv_format(files, mapping, infer) if fmt == "csv" else FORMATS.get(fmt)
    if app_id is None:
        raise fail("missing option --app: the app to import into", EXIT_USAGE)
    store = open_db(db, creates=False)  # an import needs an app, so an existing database
    sources = _open_sources(files, directories=fmt != JSON_FORMAT)
    total_bytes = sum(s.size or 0 for s in sources) if all(s.size for s in sources) else None
    started = time.perf_counter()
    columns = (BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[records]:,} records"))
    with progress(TextColumn("importing"), *columns) as bar:
        task = bar.add_task("import", total=total_bytes, records=0)
        try:
            options = ImportOptions(jobs, ignore_unknown, source_format, policy, cache_mb)
            result = import_files(
                store,
                app_id,
                sources,
                options,
                lambda done, read: bar.update(task, completed=read, records=done),
            )
        except UnknownApp as exc:
            hint = f"create it with `cdrstore apps create NAME --id {app_id}`"
            raise fail(f"{exc.message}: {hint}") from None
        except DomainError as exc:
            raise fail(exc.message) from None
        finally:
            for source in sources:
                if source.name != "-":
                    source.stream.close()
    elapsed = time.perf_counter() - started
    if result.invalid:
        raise _report_invalid(result)
    c = result.counts
    rate = c.received / elapsed if elapsed > 0 else 0.0
    out.print(
        f"imported {c.received:,} {plural(c.received, 'record')} into {app_id}: {c.inserted:,} inserted, "
        f"{c.updated:,} updated, {c.unchanged:,} unchanged ({elapsed:.1f} s, {rate:,.0f} records/s)"
    )


# --- export -----------------------------------------------------------------------------------
@takes_filters
def export_(
    filters: CallFilters,
    app_id: Annotated[str, typer.Option("--app", help="The app to export.")],
    fmt: FormatOption = None,
    output: OutputOption = None,
    excel: ExcelOption = False,
    db: DbOption = None,
) -> None:
    """Export an app's records straight from the database (for operators), streaming."""
    from ..ops.records import export_docs

    chosen = choose_format(fmt, output, excel, "ndjson")
    query = checked(filters)
    store = open_db(db, creates=False)
    with refusals():
        docs = export_docs(store, app_id, query)
        write_docs(docs, chosen, output, "exporting", excel)


# --- retention --------------------------------------------------------------------------------
@retention_cli.command("apply")
def retention_apply(
    older_than: Annotated[
        str,
        typer.Option(
            help="Remove records whose callDate is older than this: a number and a unit,"
            " d w mo y (90d, 6w, 13mo, 7y)."
        ),
    ],
    app_id: Annotated[
        str | None, typer.Option("--app", help="Only this app (default: all).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Say what would be removed; remove nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Remove old records: whole monthly partitions where every app allows (PostgreSQL), rows
    otherwise; then trim the change log to its retention ($CDRSTORE_CHANGE_LOG_RETENTION)."""
    from datetime import UTC, datetime

    from ..durations import age_cutoff
    from ..ops.changes import trim_change_log
    from ..ops.retention import apply_retention
    from ..settings import CHANGE_LOG_RETENTION_ENV, change_log_retention
    from ..store import StoreFault, StoreUnavailable
    from ..timestamps import format_timestamp

    now = datetime.now(UTC)
    log_retention = change_log_retention()
    try:
        cutoff = age_cutoff(older_than, now)
    except ValueError as exc:
        raise fail(f"--older-than: {exc}", EXIT_USAGE) from None
    try:
        age_cutoff(log_retention, now)
    except ValueError as exc:
        raise fail(f"{CHANGE_LOG_RETENTION_ENV}: {exc}", EXIT_USAGE) from None
    cutoff_ms = int(cutoff.timestamp() * 1000)
    store = open_db(db, creates=False)
    with refusals():
        try:
            report = apply_retention(store, cutoff_ms, app_id, dry_run)
        except (StoreFault, StoreUnavailable) as exc:
            # An operator's command: the database's own words say what stopped it.
            raise fail(f"retention stopped: {exc.message}: {exc.detail}") from None
    verb = "would remove" if dry_run else "removed"
    for name in report.dropped_partitions:
        out.print(f"{'would drop' if dry_run else 'dropped'} partition {name}", markup=False)
    for app, n in sorted(report.removed.items()):
        out.print(
            f"{verb} {n:,} records of app {app} older than {format_timestamp(cutoff_ms)}",
            markup=False,
        )
    out.print(f"{verb} {sum(report.removed.values()):,} records in all", markup=False)
    if dry_run:
        return
    with refusals():
        trimmed, log_cutoff = trim_change_log(store, log_retention, now)
    out.print(
        f"trimmed {trimmed:,} change log {'entry' if trimmed == 1 else 'entries'} older than"
        f" {format_timestamp(log_cutoff)} ({CHANGE_LOG_RETENTION_ENV}={log_retention})",
        markup=False,
    )


# --- demo -------------------------------------------------------------------------------------
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
    from ..ops.demo import DEMO_APP_ID, demo_token, seed_demo

    store = open_db(db)
    with refusals():
        data = seed_demo(store, records, seed)
        token = demo_token(store, token_file)
    if data.created_app:
        err.print(f"created app {DEMO_APP_ID}")
    if data.held:
        err.print(f"app {DEMO_APP_ID} already holds {data.held:,} records; adding none")
    elif data.added:
        err.print(f"added {data.added:,} synthetic records to app {DEMO_APP_ID} (seed {seed})")
    if token.reused:
        err.print(f"reusing the demo token in {token_file}")
    else:
        if token.replaced:
            err.print(f"the token in {token_file} is no longer valid; creating a new one")
        err.print(f"created a new demo token (saved to {token_file}, readable only by you)")
    url = f"{base_url.rstrip('/')}{call_detail_path(DEMO_APP_ID)}?offset=0&limit=2"
    out.print(f"docs:    {base_url.rstrip('/')}/docs", markup=False)
    out.print(
        f"console: {base_url.rstrip('/')}/console/  (sign in with this app and token)", markup=False
    )
    out.print(f"app:     {DEMO_APP_ID}", markup=False)
    out.print(f"token:   {token.secret}", markup=False)
    out.print("try:", markup=False)
    out.print(
        f"  curl --request GET --url '{url}' --header 'Authorization: Bearer {token.secret}' "
        "--header 'accept: application/json'",
        markup=False,
    )
