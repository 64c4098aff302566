"""Administration of the local database: `db upgrade`, `apps create|list`, `tokens create|list|revoke`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table

from ..errors import DomainError
from .common import EXIT_USAGE, DbOption, err, fail, iso, out, plural, refusals
from .database import open_db

apps_cli = typer.Typer(help="Create, list and delete apps.", no_args_is_help=True)
tokens_cli = typer.Typer(help="Create, list and revoke bearer tokens.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)


def print_json_lines(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        out.print(msgspec.json.encode(row).decode(), markup=False)


# --- db ---------------------------------------------------------------------------------------
@db_cli.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema to the newest revision."""
    from ..ops.database import upgrade_schema

    store = open_db(db, migrate=False)
    with refusals():
        before, after = upgrade_schema(store)
    if before == after:
        err.print(f"schema already at revision {after}")
    else:
        err.print(f"schema upgraded from {before or 'empty'} to {after}")


@db_cli.command("distribute")
def db_distribute(
    shard_count: Annotated[
        int,
        typer.Option(
            min=1, help="Shards of the distributed tables, chosen when they are first distributed."
        ),
    ] = 32,
    db: DbOption = None,
) -> None:
    """Citus: place every table on the cluster (by app ID, co-located); a second run changes nothing."""
    from ..ops.database import distribute_schema

    store = open_db(db, migrate=False)
    with refusals():
        done = distribute_schema(store, shard_count)
    for name, what in done.placed:
        out.print(f"{name}: {what}", markup=False)
    for name in done.emptied_locally:
        out.print(f"{name}: emptied the coordinator's local copy of its rows", markup=False)
    for name, how in done.already:
        out.print(f"{name}: already {how}, unchanged", markup=False)
    if done.placed:
        err.print(
            f"placed {len(done.placed)} {plural(len(done.placed), 'table')};"
            f" {len(done.already)} already placed"
        )
    else:
        err.print("nothing to change: every table is already placed")


# --- apps -------------------------------------------------------------------------------------
@apps_cli.command("create")
def apps_create(
    name: Annotated[str, typer.Argument(help="A name for people.")],
    app_id: Annotated[
        str | None, typer.Option("--id", help="The app ID ([A-Za-z0-9_-], 1-64); random if absent.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Create an app; prints its ID alone on stdout."""
    from ..ops.accounts import InvalidAccount, create_app

    store = open_db(db)
    try:
        created = create_app(store, name, app_id)
    except InvalidAccount as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    except DomainError as exc:
        raise fail(exc.message) from None
    out.print(created.app_id)


@apps_cli.command("list")
def apps_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List apps with how many records each holds."""
    from ..ops.accounts import list_apps

    with refusals():
        rows = list_apps(open_db(db, creates=False))
    if as_json:
        print_json_lines(
            [
                {"id": a.app_id, "name": a.name, "records": n, "created": iso(a.created_at)}
                for a, n in rows
            ]
        )
        return
    table = Table("ID", "Name", "Records", "Created")
    for a, n in rows:
        table.add_row(a.app_id, a.name, f"{n:,}", iso(a.created_at))
    out.print(table)


@apps_cli.command("delete")
def apps_delete(
    app_id: Annotated[str, typer.Argument(metavar="ID", help="The app to delete.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Really delete: its records and tokens go with it.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete even while the app has active tokens.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Delete an app with all its records, counts and tokens, in one transaction."""
    from ..ops.accounts import delete_app

    if not yes:
        raise fail(
            f"deleting app {app_id} removes all its records and tokens for good:"
            " add --yes to go ahead",
            EXIT_USAGE,
        )
    with refusals():
        removed = delete_app(open_db(db, creates=False), app_id, force)
    out.print(
        f"deleted app {app_id}: {removed.records:,} {plural(removed.records, 'record')},"
        f" {removed.tokens:,} {plural(removed.tokens, 'token')}",
        markup=False,
    )


# --- tokens -----------------------------------------------------------------------------------
@tokens_cli.command("create")
def tokens_create(
    app_id: Annotated[str, typer.Option("--app", help="The app the token is for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="read, ingest or webhooks; repeat (or read,ingest) for more than one.",
        ),
    ],
    expires_in: Annotated[
        str | None,
        typer.Option(
            help="Lifetime: a number and a unit, s m h d w mo y (30s, 12h, 90d, 6mo); none if absent."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A label, to tell tokens apart.")] = "",
    db: DbOption = None,
) -> None:
    """Create a token; prints the secret alone on stdout (shown once, stored hashed)."""
    from datetime import UTC, datetime

    from ..durations import lifetime_seconds
    from ..ops.accounts import InvalidAccount, check_scopes, issue_token

    try:
        scopes = check_scopes(scope)
    except InvalidAccount as exc:
        raise fail(f"--{exc.message}", EXIT_USAGE) from None  # "--scope must be one of ..."
    try:
        lifetime = None if expires_in is None else lifetime_seconds(expires_in, datetime.now(UTC))
    except ValueError as exc:
        raise fail(f"--expires-in: {exc}", EXIT_USAGE) from None
    store = open_db(db, creates=False)
    with refusals():
        issued = issue_token(store, app_id, scopes, name, lifetime)
    expires = issued.info.expires_at
    err.print(
        f"token {issued.info.token_id} for app {app_id} ({', '.join(sorted(scopes))}"
        f"{', expires ' + iso(expires) if expires else ''}); it is shown only once"
    )
    out.print(issued.secret, markup=False)


@tokens_cli.command("list")
def tokens_list(
    app_id: Annotated[str, typer.Option("--app", help="The app whose tokens to list.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List an app's tokens (never their secrets)."""
    import time

    from ..ops.accounts import list_tokens, token_state

    with refusals():
        found = list_tokens(open_db(db, creates=False), app_id)
    now = time.time()
    rows: list[dict[str, Any]] = [
        {
            "id": t.token_id,
            "name": t.name,
            "scopes": sorted(t.scopes),
            "created": iso(t.created_at),
            "expires": iso(t.expires_at),
            "state": token_state(t, now),
        }
        for t in found
    ]
    if as_json:
        print_json_lines(rows)
        return
    table = Table("ID", "Name", "Scopes", "Created", "Expires", "State")
    for row in rows:
        table.add_row(
            row["id"],
            row["name"],
            ",".join(row["scopes"]),
            row["created"],
            row["expires"],
            row["state"],
        )
    out.print(table)


@tokens_cli.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="The token's ID (tok_...) or the token itself.")],
    db: DbOption = None,
) -> None:
    """Revoke a token; takes effect on the next request."""
    from ..ops.accounts import revoke_token

    with refusals():
        before = revoke_token(open_db(db, creates=False), token)
    if before.revoked_at is not None:  # nothing to do: the token stays revoked (exit 0)
        err.print(
            f"token {before.token_id} of app {before.app_id} was already revoked"
            f" (at {iso(before.revoked_at)})"
        )
        return
    err.print(f"token {before.token_id} of app {before.app_id} revoked")
