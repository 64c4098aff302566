"""The call filters as options (`--type`, `--status`, `--since`, `--until`, `--offset`), declared
once: a command decorated with `takes_filters` gets them all and receives one `CallFilters`,
checked by the contract's own rules before anything is asked."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from ..query import CallFilters, PageQuery, QueryError
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
)

# The query's parameter names as the options that set them, so that an error names what was typed.
OPTION_OF_PARAMETER: Final = {
    "callType": "--type",
    "status": "--status",
    "startAt": "--since",
    "endAt": "--until",
    "offset": "--offset",
    "limit": "--limit",
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


def checked(filters: CallFilters) -> PageQuery:
    """The filters as the contract's rules read them (bad usage if they refuse them)."""
    try:
        return filters.checked()
    except QueryError as exc:
        message = in_option_names(exc.message)
        if message.startswith(("invalid --since:", "invalid --until:")):
            message += "; or a date, 2026-11-01, meaning its midnight UTC"
        raise fail(message, EXIT_USAGE) from None


def _gather(values: dict[str, Any], own: dict[str, Any]) -> CallFilters:
    filters = CallFilters(
        values["call_type"],
        values["status"],
        as_instant(values["since"]),
        as_instant(values["until"]),
        values["offset"],
        own.get("limit"),
    )
    checked(filters)
    return filters


def takes_filters(command: Callable[..., None]) -> Callable[..., None]:
    """The command with the filter options added; called with them as `filters: CallFilters` (a
    `limit` option of its own, if any, goes in too), once they are checked."""
    return with_options(command, _FILTER_OPTIONS, "filters", _gather)
