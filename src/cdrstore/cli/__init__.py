"""The `cdrstore` command: one module per group of commands, each command parsing its options,
calling one operation (`cdrstore.ops`) and printing what it returns (docs/cli.md)."""

from __future__ import annotations

from typing import Annotated, Final

import typer

from .. import __version__
from .admin import apps_cli, db_cli, tokens_cli
from .calls import calls_cli
from .common import DbOption, fail, global_options, out
from .data import demo, export_, import_, retention_cli
from .erase import erase
from .follow import follow_cli
from .helptext import tidy_help
from .mirror import mirror
from .serve import serve
from .stats import stats
from .webhooks import webhooks_cli

tidy_help()

app = typer.Typer(
    name="cdrstore",
    help="Store call detail records and serve them through the CINNOX-compatible call-detail API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.command("import")(import_)
app.command("export")(export_)
app.command("stats")(stats)
app.command()(demo)
app.command()(mirror)
app.command()(erase)
app.add_typer(apps_cli, name="apps")
app.add_typer(tokens_cli, name="tokens")
app.add_typer(db_cli, name="db")
app.add_typer(retention_cli, name="retention")
app.add_typer(calls_cli, name="calls")
app.add_typer(follow_cli, name="follow")
app.add_typer(webhooks_cli, name="webhooks")


def _print_version(given: bool) -> None:
    if given:
        out.print(__version__, markup=False)
        raise typer.Exit()


@app.callback()
def main_options(
    db: DbOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,  # before the group asks for a command
            callback=_print_version,
            expose_value=False,
        ),
    ] = False,
) -> None:
    global_options["db"] = db


# The package each extra brings, for a command run without it (`pip install cdrstore` is the
# client and client mode only).
EXTRA_OF_PACKAGE: Final = {
    "litestar": "server",
    "sqlalchemy": "server",
    "alembic": "server",
    "uvicorn": "server",
    "prometheus_client": "server",
    "psycopg": "postgresql",
    "psycopg_pool": "postgresql",
    "pyarrow": "parquet",
    "redis": "redis",
    "cryptography": "server",
    "standardwebhooks": "server",
}


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF_PACKAGE.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        raise SystemExit(
            fail(
                f"this needs cdrstore's {extra} packages: pip install 'cdrstore[{extra}]' ({exc})"
            ).exit_code
        ) from None
