"""Client mode: `cdrstore calls list|export` read calls from a call-detail API, this server's or any
CINNOX-compatible one's (`--base-url`, `--app`, `--token` or CDRSTORE_URL, _APP, _TOKEN)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated, Final

import typer

from ..query import CallFilters
from .common import EXIT_USAGE, fail
from .filters import ExcelOption, FormatOption, OutputOption, takes_filters
from .output import choose_format, print_table, write_docs

calls_cli = typer.Typer(
    help="Read calls from a call-detail API: this server or any CINNOX-compatible one.",
    no_args_is_help=True,
)

DEFAULT_BASE_URL: Final = "http://127.0.0.1:8080"
BASE_URL_ENV: Final = "CDRSTORE_URL"

BaseUrlOption = Annotated[
    str, typer.Option(envvar=BASE_URL_ENV, help="The API's base URL ($CDRSTORE_URL).")
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
AllOption = Annotated[bool, typer.Option("--all", help="Walk every page, not just one.")]


def _where_from(base_url: str) -> str:
    """Where the base URL came from, for a message about it."""
    if base_url == os.environ.get(BASE_URL_ENV):
        return f"from ${BASE_URL_ENV}"
    if base_url == DEFAULT_BASE_URL:
        return f"the default; neither --base-url nor ${BASE_URL_ENV} is set"
    return "from --base-url"


def check_base_url(base_url: str) -> None:
    if not base_url.startswith(("http://", "https://")):
        raise fail(
            f"the base URL {base_url!r} ({_where_from(base_url)}) must start with http:// or"
            f" https://, e.g. {DEFAULT_BASE_URL}",
            EXIT_USAGE,
        )


def _served_docs(
    base_url: str, app_id: str, token: str, filters: CallFilters, every_page: bool
) -> Iterator[bytes]:
    """The records the server serves for these filters: one page, or every page."""
    from ..client import CdrstoreError, Client, TransportError

    try:
        with Client(base_url, app_id, token) as client:
            if every_page:
                yield from client.iter_raw(filters)
            else:
                yield from client.page_raw(filters)
    except TransportError as exc:
        reason = str(exc).rpartition(": ")[2]
        raise fail(
            f"cannot reach the API at {base_url} ({_where_from(base_url)}): {reason}; is the server"
            f" running there? Set the URL with --base-url URL or {BASE_URL_ENV}=URL (`make run`"
            " serves on http://HOST:PORT, 127.0.0.1:8080 unless HOST or PORT are given)"
        ) from None
    except CdrstoreError as exc:
        raise fail(str(exc)) from None


@calls_cli.command("list")
@takes_filters
def calls_list(
    filters: CallFilters,
    token: TokenOption,
    app_id: ClientAppOption,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    limit: Annotated[
        int | None, typer.Option(help="Page size (1-500; the server's default if absent).")
    ] = None,
    all_pages: AllOption = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="table, json, ndjson, csv or parquet (default: from -o's extension, else table;"
            " ndjson into a file of another extension).",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = None,
    excel: ExcelOption = False,
) -> None:
    """One page of calls (or every page with --all), as a table or in an export format."""
    chosen = choose_format(fmt, output, excel, "table" if output is None else "ndjson", table=True)
    check_base_url(base_url)
    docs = _served_docs(base_url, app_id, token, filters, all_pages)
    if chosen == "table":
        print_table(docs)
        return
    write_docs(docs, chosen, output, "listing", excel)


@calls_cli.command("export")
@takes_filters
def calls_export(
    filters: CallFilters,
    token: TokenOption,
    app_id: ClientAppOption,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    all_pages: Annotated[
        bool,
        typer.Option("--all", help="Accepted as in `calls list`: export always walks every page."),
    ] = True,
    fmt: FormatOption = None,
    output: OutputOption = None,
    excel: ExcelOption = False,
) -> None:
    """Every matching call, page by page, streamed into a file (memory stays flat)."""
    chosen = choose_format(fmt, output, excel, "ndjson")
    check_base_url(base_url)
    docs = _served_docs(base_url, app_id, token, filters, True)
    write_docs(docs, chosen, output, "exporting", excel)
