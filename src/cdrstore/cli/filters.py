"""The call filters as options (`--type`, `--status`, `--since`, `--until`, `--offset`,
`--number`), declared once: a command decorated with `takes_filters` gets them all and receives one
`CallFilters`, checked by the contract's own rules before anything is asked. `takes_stats_filters`
gives the ones statistics take (`--type`, `--status`, `--since`, `--until`, `--direction`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from ..query import CallFilters, PageQuery, QueryError, StatsQuery, parse_stats_query
from .common import EXIT_USAGE, fail
from .signatures import option, with_options

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write here instead of standard output; its extension (.ndjson, .jsonl, .json, .csv,"
        " .parquet) sets the format when --format is absent.",
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="ndjson, json, csv or parquet (default: from -o's extension, else ndjson).",
        show_default=False,
    ),
]
ExcelOption = Annotated[
    bool,
    typer.Option(
        "--excel",
        help='CSV for spreadsheets: a UTF-8 BOM, a leading + kept as text (="+852..."), and a'
        " talkTimeSeconds column.",
    ),
]

_FILTER_OPTIONS = (
    option(
        "call_type",
        Annotated[str | None, typer.Option("--type", help="onnet, offnet or smartcall.")],
        None,
    ),
    option(
        "status",
        Annotated[str | None, typer.Option(help="One of the 8 call statuses, e.g. 'Call Ended'.")],
        None,
    ),
    option(
        "since",
        Annotated[
            str | None,
            typer.Option(
                help="callDate >= this: RFC3339 (2026-11-01T09:00:00+08:00), or a date"
                " (2026-11-01) meaning its midnight UTC."
            ),
        ],
        None,
    ),
    option(
        "until",
        Annotated[
            str | None,
            typer.Option(
                help="callDate < this: RFC3339, or a date (2026-11-02) meaning its midnight UTC."
            ),
        ],
        None,
    ),
    option("offset", Annotated[int, typer.Option(help="Records to skip.")], 0),
    option(
        "number",
        Annotated[
            str | None,
            typer.Option(
                help="Calls whose caller or callee is this number (spaces, dashes and a leading"
                " + ignored)."
            ),
        ],
        None,
    ),
)
_WINDOW = 4  # the first options: type, status, since, until
_STATS_OPTIONS = (
    *_FILTER_OPTIONS[:_WINDOW],
    option("direction", Annotated[str | None, typer.Option(help="Inbound or Outbound.")], None),
)

# The query's parameter names as the options that set them, so that an error names what was typed.
OPTION_OF_PARAMETER: Final = {
    "callType": "--type",
    "status": "--status",
    "startAt": "--since",
    "endAt": "--until",
    "offset": "--offset",
    "limit": "--limit",
    "number": "--number",
    "callDirection": "--direction",
    "groupBy": "--group-by",
    "tz": "--tz",
}
_PARAMETER = re.compile(r"\b(" + "|".join(OPTION_OF_PARAMETER) + r")\b")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def as_instant(text: str | None) -> str | None:
    """A plain date (`2026-11-01`) as its midnight UTC; anything else as given, for the contract's
    rules to judge."""
    if text is None or not _DATE.match(text.strip()):
        return text
    try:
        date.fromisoformat(text.strip())
    except ValueError:  # 2026-13-01: refused by the contract's rules, as typed
        return text
    return f"{text.strip()}T00:00:00Z"


def in_option_names(message: str) -> str:
    """A query error's message with the parameters it names as their options. Only the part before
    the first quoted value is the query's own wording ("invalid startAt: 'x': ..."); the value and
    the reason after it (a timestamp's "offset") stay as they are."""
    head, quote, rest = message.partition("'")
    return _PARAMETER.sub(lambda m: OPTION_OF_PARAMETER[m.group(1)], head) + quote + rest


def _usage(exc: QueryError) -> typer.Exit:
    message = in_option_names(exc.message)
    if message.startswith(("invalid --since:", "invalid --until:")):
        message += "; or a date, 2026-11-01, meaning its midnight UTC"
    return fail(message, EXIT_USAGE)


def checked(filters: CallFilters) -> PageQuery:
    """The filters as the contract's rules read them (bad usage if they refuse them)."""
    try:
        return filters.checked()
    except QueryError as exc:
        raise _usage(exc) from None


def _gather(values: dict[str, Any], own: dict[str, Any]) -> CallFilters:
    filters = CallFilters(
        values["call_type"],
        values["status"],
        as_instant(values["since"]),
        as_instant(values["until"]),
        values["offset"],
        own.get("limit"),
        values["number"],
    )
    checked(filters)
    return filters


def _gather_stats(values: dict[str, Any], own: dict[str, Any]) -> StatsQuery:
    filters = CallFilters(
        values["call_type"],
        values["status"],
        as_instant(values["since"]),
        as_instant(values["until"]),
    )
    params = filters.stats_params(values["direction"], own.get("group_by"), own.get("tz"))
    try:
        return parse_stats_query(params)
    except QueryError as exc:
        raise _usage(exc) from None


def takes_filters(command: Callable[..., None]) -> Callable[..., None]:
    """The command with the filter options added; called with them as `filters: CallFilters` (a
    `limit` option of its own, if any, goes in too), once they are checked."""
    return with_options(command, _FILTER_OPTIONS, "filters", _gather)


def takes_stats_filters(command: Callable[..., None]) -> Callable[..., None]:
    """The command with the statistics' filter options added; called with `query: StatsQuery`
    (its own `group_by` and `tz` options go in too), checked."""
    return with_options(command, _STATS_OPTIONS, "query", _gather_stats)
