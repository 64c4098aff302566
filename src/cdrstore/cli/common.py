"""What every command shares: the consoles, the database option, and how errors are said.

Commands print their result (an app ID, a token, a summary) on stdout and everything else (progress,
notices, errors) on stderr, so `TOKEN=$(cdrstore tokens create ...)` captures just the token.
Exit code 1: a refused operation; 2: bad usage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import DomainError
from ..settings import DATABASE_URL_ENV, database_url

# soft_wrap: a message is one line however long; a terminal folds it, a log keeps it whole (Rich
# would otherwise hard-wrap at 80 columns when it cannot find out a width).
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help=f"Database URL (default: ${DATABASE_URL_ENV} or sqlite:///cdrstore.db).",
        show_default=False,
    ),
]
# `--db` given before the command (`cdrstore --db URL apps list`).
global_options: dict[str, str | None] = {"db": None}


def fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True)
    return typer.Exit(code)


@contextmanager
def refusals(code: int = EXIT_REFUSED) -> Iterator[None]:
    """Say a domain error as an error line and exit with `code`."""
    try:
        yield
    except DomainError as exc:
        raise fail(exc.message, code) from None


def chosen_database(db: str | None) -> str:
    return database_url(db or global_options["db"])


def iso(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def plural(n: int, noun: str) -> str:
    """The noun for n of it: 1 record, 2 records."""
    return noun if n == 1 else f"{noun}s"
