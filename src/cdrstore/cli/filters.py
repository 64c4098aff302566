"""The call filters as options (`--type`, `--status`, `--since`, `--until`, `--offset`), declared
once: a command decorated with `takes_filters` gets them all and receives one `CallFilters`,
checked by the contract's own rules before anything is asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..query import CallFilters, PageQuery, QueryError
from .common import EXIT_USAGE, fail
from .signatures import option, with_options

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
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
    option("since", Annotated[str | None, typer.Option(help="callDate >= this (RFC3339).")], None),
    option("until", Annotated[str | None, typer.Option(help="callDate < this (RFC3339).")], None),
    option("offset", Annotated[int, typer.Option(help="Records to skip.")], 0),
)


def checked(filters: CallFilters) -> PageQuery:
    """The filters as the contract's rules read them (bad usage if they refuse them)."""
    try:
        return filters.checked()
    except QueryError as exc:
        raise fail(exc.message, EXIT_USAGE) from None


def _gather(values: dict[str, Any], own: dict[str, Any]) -> CallFilters:
    filters = CallFilters(
        values["call_type"],
        values["status"],
        values["since"],
        values["until"],
        values["offset"],
        own.get("limit"),
    )
    checked(filters)
    return filters


def takes_filters(command: Callable[..., None]) -> Callable[..., None]:
    """The command with the filter options added; called with them as `filters: CallFilters` (a
    `limit` option of its own, if any, goes in too), once they are checked."""
    return with_options(command, _FILTER_OPTIONS, "filters", _gather)
