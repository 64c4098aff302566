"""`cdrstore erase`: remove every record of an app that names a telephone number, from the local
database, logging the deletes in the change log (docs/cli.md#erase)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import EXIT_USAGE, DbOption, fail, out, plural, refusals
from .database import open_db


def erase(
    app_id: Annotated[str, typer.Option("--app", help="The app whose records to search.")],
    number: Annotated[
        str,
        typer.Option(
            help="The telephone number: records whose caller, callee or callPrepareFromNum is"
            " this number go (spaces, dashes and a leading + are ignored)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Say how many records would go; remove nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Erase a data subject's records: every record naming the number, in one transaction."""
    from ..ops.erasure import erase_number, normalise_number

    if not normalise_number(number):
        raise fail(f"--number: {number!r} holds no digits to compare", EXIT_USAGE)
    store = open_db(db, creates=False)
    with refusals():
        ids = erase_number(store, app_id, number, dry_run=dry_run)
    if dry_run:
        out.print(
            f"would remove {len(ids):,} {plural(len(ids), 'record')} of app {app_id}"
            " naming that number",
            markup=False,
        )
        return
    for record_id in ids:
        out.print(record_id, markup=False)
    out.print(
        f"removed {len(ids):,} {plural(len(ids), 'record')} of app {app_id} naming that number",
        markup=False,
    )
