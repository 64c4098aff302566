"""`cdrstore follow`: keep reading a PBX's CDR table into an app (docs/sources/kamailio.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..durations import parse_duration
from .common import EXIT_USAGE, DbOption, err, fail, out, plural, refusals
from .database import open_db

if TYPE_CHECKING:
    from ..ops.follow import FollowSummary

follow_cli = typer.Typer(
    help="Follow a PBX's CDR table: read new rows into an app, keeping the position.",
    no_args_is_help=True,
)


def _seconds(interval: str) -> float:
    try:
        duration = parse_duration(interval, "--interval", "5s, 30s or 1m")
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if duration.unit not in ("s", "m", "h"):
        raise fail(
            f"--interval: use seconds, minutes or hours (5s, 1m), got {interval!r}", EXIT_USAGE
        )
    return float(duration.count * {"s": 1, "m": 60, "h": 3600}[duration.unit])


def _progress(summary: FollowSummary, rows: int) -> None:
    if rows:
        err.print(
            f"read {rows} {plural(rows, 'row')} up to id {summary.position}: {summary.inserted}"
            f" inserted, {summary.updated} updated, {summary.unchanged} unchanged so far",
            markup=False,
        )


@follow_cli.command("kamailio")
def kamailio(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            metavar="URL",
            help="Kamailio's CDR database: sqlite:///PATH or postgresql://USER@HOST/DB"
            " (the cdrs table of contrib/kamailio/).",
        ),
    ],
    app_id: Annotated[
        str, typer.Option("--app", metavar="ID", help="The app to store the records in.")
    ],
    internal: Annotated[
        str | None,
        typer.Option(
            metavar="PATTERN",
            help="A regular expression for the internal extensions (direction, onnet).",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            metavar="ZONE", help="The time zone of times written without an offset (UTC)."
        ),
    ] = None,
    interval: Annotated[
        str,
        typer.Option(
            metavar="DURATION", help="How long to wait when there is nothing new (5s, 1m)."
        ),
    ] = "5s",
    once: Annotated[
        bool, typer.Option("--once", help="Read what is there, print a summary, and stop.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Read new rows of Kamailio's CDR table into an app, from where the last run stopped.

    Each batch is stored with its position in one transaction; an invalid row stops it (exit 1)
    with the rows before it stored.
    """
    from ..ingest.sources.policy import Policy, PolicyError
    from ..ops.follow import follow_kamailio, kamailio_source_name

    try:
        policy = Policy.from_options(internal, tz)
    except PolicyError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    seconds = _seconds(interval)
    store = open_db(db, creates=False)
    name = kamailio_source_name(source)
    if not once:
        err.print(f"following {name} into {app_id} (Ctrl-C to stop)", markup=False)
    try:
        with refusals():
            summary = follow_kamailio(
                store, app_id, source, policy, once=once, interval=seconds, progress=_progress
            )
    except KeyboardInterrupt:
        err.print("stopped; the next run goes on from the last stored row", markup=False)
        raise typer.Exit(130) from None
    finally:
        store.close()
    out.print(
        f"{summary.rows} {plural(summary.rows, 'row')} from {name} into {app_id}:"
        f" {summary.inserted} inserted, {summary.updated} updated, {summary.unchanged} unchanged;"
        f" position id {summary.position}",
        markup=False,
    )
