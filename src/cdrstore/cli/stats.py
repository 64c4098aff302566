"""`cdrstore stats`: an app's call statistics from the local database (docs/api.md#statistics)."""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING, Annotated, Final

import msgspec
import typer
from rich.table import Table

from ..query import GROUPS, StatsQuery
from ..record import STATUSES
from .common import EXIT_USAGE, DbOption, fail, out, refusals
from .database import open_db
from .filters import takes_stats_filters

if TYPE_CHECKING:
    from ..ops.stats import StatsRow

STATS_FORMATS: Final = ("table", "json", "csv")
CSV_COLUMNS: Final = (
    "key",
    "calls",
    "answered",
    "asr",
    "talkTimeMs",
    "acdMs",
    "abandoned",
    *STATUSES,
)


def _print_table(rows: list[StatsRow]) -> None:
    table = Table("key", "calls", "answered", "ASR", "talk time", "ACD", "abandoned")
    for row in rows:
        table.add_row(
            str(row.key),
            f"{row.calls:,}",
            f"{row.answered:,}",
            f"{row.asr:.1%}",
            _duration(row.talkTimeMs),
            _duration(row.acdMs),
            f"{row.abandoned:,}",
        )
    out.print(table)


def _duration(ms: int) -> str:
    """h:mm:ss of a number of milliseconds (rounded down to the second)."""
    hours, rest = divmod(ms // 1000, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _write_csv(rows: list[StatsRow]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.key,
                row.calls,
                row.answered,
                repr(row.asr),
                row.talkTimeMs,
                row.acdMs,
                row.abandoned,
                *(row.byStatus[status] for status in STATUSES),
            ]
        )


@takes_stats_filters
def stats(
    query: StatsQuery,
    app_id: Annotated[str, typer.Option("--app", help="The app.")],
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help=f"One of {', '.join(GROUPS)} (default: one total row).",
            show_default=False,
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(help="IANA time zone of the days and hours (UTC).", show_default=False),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, json (an array of rows) or csv.")
    ] = "table",
    db: DbOption = None,
) -> None:
    """Calls, answered, ASR, talk time, ACD and abandoned calls, in total or by a group,
    straight from the database (the numbers of GET .../call-stats)."""
    from ..ops.stats import call_stats

    if fmt not in STATS_FORMATS:
        raise fail(f"--format must be one of {', '.join(STATS_FORMATS)}, got {fmt!r}", EXIT_USAGE)
    store = open_db(db, creates=False)
    with refusals():
        rows = call_stats(store, app_id, query)
    if fmt == "json":
        sys.stdout.write(msgspec.json.encode(rows).decode() + "\n")
    elif fmt == "csv":
        _write_csv(rows)
    else:
        _print_table(rows)
