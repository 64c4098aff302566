"""`cdrstore webhooks`: subscriptions and deliveries seen and steered by the operator, and the
delivery loop run on its own (docs/webhooks.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ..contract import WEBHOOK_KINDS
from .admin import print_json_lines
from .common import EXIT_USAGE, DbOption, chosen_database, err, fail, out, plural, refusals
from .database import open_db

if TYPE_CHECKING:
    from ..ops.delivery import DeliveryOptions
    from ..store import Store

webhooks_cli = typer.Typer(
    help="Webhook subscriptions and deliveries: list, retry, replay, rotate a secret, deliver.",
    no_args_is_help=True,
)

AppOption = Annotated[str, typer.Option("--app", metavar="ID", help="The app.")]
KindOption = Annotated[
    str | None,
    typer.Option("--kind", metavar="KIND", help=f"{' or '.join(WEBHOOK_KINDS)} (default: both)."),
]


def _ms(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms / 1000))


def _kind(kind: str | None) -> str | None:
    if kind is not None and kind not in WEBHOOK_KINDS:
        raise fail(f"--kind must be {' or '.join(WEBHOOK_KINDS)}, got {kind!r}", EXIT_USAGE)
    return kind


def since_ms(text: str | None, now: datetime) -> int | None:
    """`--since`: an RFC3339 instant, or a duration before now (30m, 2h, 7d)."""
    from ..durations import parse_duration
    from ..timestamps import parse_timestamp

    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        pass
    try:
        moment = parse_duration(text, "--since", "2h, 7d or 2026-11-27T10:00:00Z").before(now)
    except ValueError as exc:
        raise fail(f"{exc}; or an RFC3339 instant (2026-11-27T10:00:00Z)", EXIT_USAGE) from None
    return int(moment.timestamp() * 1000)


@webhooks_cli.command("list")
def webhooks_list(
    app_id: Annotated[
        str | None, typer.Option("--app", metavar="ID", help="Only this app's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List the subscriptions (never their secrets)."""
    from ..ops.webhooks import list_subscriptions

    with refusals():
        found = list_subscriptions(open_db(db, creates=False), app_id)
    rows: list[dict[str, Any]] = [
        {
            "app": s.app_id,
            "kind": s.kind,
            "enabled": s.enabled,
            "url": s.url,
            "updated": _ms(s.updated_at),
            "position": s.through,
        }
        for s in found
    ]
    if as_json:
        print_json_lines(rows)
        return
    table = Table("App", "Kind", "Enabled", "URL", "Updated", "Log position")
    for row in rows:
        table.add_row(
            row["app"],
            row["kind"],
            "yes" if row["enabled"] else "no",
            row["url"],
            row["updated"],
            str(row["position"]),
        )
    out.print(table)


@webhooks_cli.command("deliveries")
def webhooks_deliveries(
    app_id: AppOption,
    kind: KindOption = None,
    state: Annotated[
        str | None,
        typer.Option(metavar="STATE", help="pending, delivered or failed (default: all)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List an app's recent deliveries with their state, attempts and last outcome."""
    from ..ops.webhooks import list_deliveries

    with refusals():
        found = list_deliveries(open_db(db, creates=False), app_id, _kind(kind), state, limit)
    rows: list[dict[str, Any]] = [
        {
            "webhookId": d.webhook_id,
            "kind": d.kind,
            "recordId": d.record_id,
            "state": d.state,
            "attempts": d.attempts,
            "lastStatus": d.last_status,
            "lastError": d.last_error,
            "nextAttempt": _ms(d.next_attempt_at) if d.state == "pending" else "",
            "finished": _ms(d.finished_at),
        }
        for d in found
    ]
    if as_json:
        print_json_lines(rows)
        return
    table = Table("Webhook ID", "Kind", "Record", "State", "Attempts", "Last answer", "When")
    for row in rows:
        answer = row["lastError"] or (str(row["lastStatus"]) if row["lastStatus"] else "")
        table.add_row(
            row["webhookId"],
            row["kind"],
            row["recordId"],
            row["state"],
            str(row["attempts"]),
            answer,
            row["finished"] or row["nextAttempt"],
        )
    out.print(table)


@webhooks_cli.command("retry")
def webhooks_retry(app_id: AppOption, kind: KindOption = None, db: DbOption = None) -> None:
    """Send an app's failed events again (in order, with the same webhook-ids, a new horizon)."""
    from ..ops.webhooks import retry_failed

    with refusals():
        n = retry_failed(open_db(db, creates=False), app_id, _kind(kind))
    out.print(f"{n:,} failed {plural(n, 'event')} of app {app_id} queued again", markup=False)


@webhooks_cli.command("replay")
def webhooks_replay(
    app_id: AppOption,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="T",
            help="From this RFC3339 instant, or this long ago (2h, 7d); default: all the change"
            " log holds.",
        ),
    ] = None,
    kind: KindOption = None,
    db: DbOption = None,
) -> None:
    """Send an app's events again from the change log (each with the webhook-id it had)."""
    from ..ops.webhooks import replay

    start = since_ms(since, datetime.now(UTC))
    with refusals():
        replayed = replay(open_db(db, creates=False), app_id, _kind(kind), start)
    for replayed_kind, position in replayed.items():
        out.print(
            f"{replayed_kind} events of app {app_id} replayed from change-log position"
            f" {position + 1}",
            markup=False,
        )


@webhooks_cli.command("rotate-secret")
def webhooks_rotate_secret(
    app_id: AppOption,
    kind: Annotated[
        str, typer.Option("--kind", metavar="KIND", help=f"{' or '.join(WEBHOOK_KINDS)}.")
    ] = "call",
    db: DbOption = None,
) -> None:
    """A new signing secret for a subscription; prints it alone on stdout (shown once)."""
    from ..ops.webhooks import rotate_secret

    _kind(kind)
    store = open_db(db, creates=False)
    with refusals():
        secret = rotate_secret(store, chosen_database(db), app_id, kind)
    err.print(
        f"new secret for the {kind} event subscription of app {app_id}; the old one no longer"
        " signs. It is shown only once"
    )
    out.print(secret, markup=False)


@webhooks_cli.command("key")
def webhooks_key() -> None:
    """Print a new key for CDRSTORE_WEBHOOKS_KEY (the key that encrypts secrets at rest)."""
    from ..ops.webhooks import new_sealing_key

    out.print(new_sealing_key(), markup=False)


@webhooks_cli.command("run")
def webhooks_run(
    quiet: Annotated[bool, typer.Option("--quiet", help="Say nothing when starting.")] = False,
    db: DbOption = None,
) -> None:
    """Deliver webhooks until stopped (Ctrl-C, SIGTERM), apart from `cdrstore serve` (which runs
    this itself unless --no-webhook-delivery); settings from the environment (CDRSTORE_WEBHOOKS_*).
    Where several run on one database, one delivers at a time (a lease)."""
    import anyio

    from ..ops.delivery import DeliveryOptions
    from ..settings import Settings

    url = chosen_database(db)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    store = open_db(db)
    options = DeliveryOptions(settings.webhooks_allow_private, settings.webhooks_horizon, url)
    if not quiet:
        err.print("delivering webhooks (Ctrl-C to stop)")
    try:
        anyio.run(_deliver_until_signalled, store, options, settings.metrics)
    finally:
        store.close()


async def _deliver_until_signalled(store: Store, options: DeliveryOptions, metrics: bool) -> None:
    """Deliver until SIGINT or SIGTERM, then let the lease go (the next holder need not wait for
    it to expire)."""
    import signal

    import anyio

    from ..ops.delivery import Observer, deliver_forever

    observer = None
    if metrics:  # counted where `serve`'s /metrics adds up every process's values
        from ..api.metrics import count_webhook_attempt, set_webhook_backlog

        observer = Observer(count_webhook_attempt, set_webhook_backlog)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(deliver_forever, store, options, observer)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                tasks.cancel_scope.cancel()
                break
