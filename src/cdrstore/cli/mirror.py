"""`cdrstore mirror`: an account's call details from a CINNOX-compatible server into a local app."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TextColumn

from .common import EXIT_USAGE, DbOption, err, fail, out, plural, refusals
from .database import open_db
from .output import progress


def _duration_seconds(text: str, option: str, *, zero_allowed: bool = False) -> int:
    from datetime import UTC, datetime

    from ..durations import parse_duration

    if zero_allowed and re.fullmatch(r"0+(s|m|h|d|w|mo|y)?", text.strip()):
        return 0
    now = datetime.now(UTC)
    try:
        return int((parse_duration(text).after(now) - now).total_seconds())
    except ValueError as exc:
        raise fail(f"{option}: {exc}", EXIT_USAGE) from None


def mirror(
    base_url: Annotated[str, typer.Option("--from", help="The remote API's base URL.")],
    remote_app: Annotated[str, typer.Option(help="The app ID on the remote server.")],
    token_file: Annotated[
        Path,
        typer.Option(help="A file holding the remote token (never put a token on a command line)."),
    ],
    app_id: Annotated[str, typer.Option("--app", help="The local app to copy into.")],
    since: Annotated[
        str | None,
        typer.Option(help="Copy calls from this instant (RFC3339 or a date); default: all."),
    ] = None,
    follow: Annotated[bool, typer.Option(help="Keep copying, every --interval.")] = False,
    interval: Annotated[str, typer.Option(help="With --follow: the pause between runs.")] = "60s",
    overlap: Annotated[
        str, typer.Option(help="Re-read this much of the recent past on every run (late records).")
    ] = "2h",
    max_rate: Annotated[
        int, typer.Option(min=1, help="Requests a minute at most (the reference API allows 500).")
    ] = 500,
    db: DbOption = None,
) -> None:
    """Copy an app's call details from a CINNOX-compatible server, resuming where it stopped."""
    from ..ops.mirror import MirrorRun, Remote
    from ..ops.mirror import mirror as run_mirror
    from ..query import CallFilters, QueryError
    from .filters import as_instant

    if not base_url.startswith(("http://", "https://")):
        raise fail(f"--from must be an http:// or https:// URL, got {base_url!r}", EXIT_USAGE)
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise fail(f"--token-file: cannot read {token_file}: {exc.strerror}", EXIT_USAGE) from None
    since_ms = None
    if since is not None:
        try:
            since_ms = CallFilters(start_at=as_instant(since)).checked().start_ms
        except QueryError as exc:
            raise fail(f"--since: {exc.message}", EXIT_USAGE) from None
    overlap_ms = _duration_seconds(overlap, "--overlap", zero_allowed=True) * 1000
    every = _duration_seconds(interval, "--interval") if follow else None
    store = open_db(db, creates=False)

    def said(run: MirrorRun) -> None:
        s = run.summary
        out.print(
            f"mirrored {s.received:,} {plural(s.received, 'record')} into {app_id}: "
            f"{s.inserted:,} inserted, {s.updated:,} updated, {s.unchanged:,} unchanged",
            markup=False,
        )

    remote = Remote(base_url, remote_app, token)
    try:
        with progress(TextColumn("mirroring"), TextColumn("{task.completed:,} records")) as bar:
            task = bar.add_task("mirror", total=None)
            with refusals():
                run_mirror(
                    store,
                    app_id,
                    remote,
                    since_ms=since_ms,
                    overlap_ms=overlap_ms,
                    follow_every=every,
                    per_minute=max_rate,
                    progress=lambda n: bar.update(task, completed=n),
                    on_run=said,
                )
    except KeyboardInterrupt:  # what was stored, with its position, stays: a rerun resumes
        err.print("mirror stopped; run it again to resume")
        raise typer.Exit(130) from None
