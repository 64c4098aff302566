"""Webhook subscriptions, the outbox of deliveries and the delivery lease: plain SQLAlchemy Core,
the same on every backend. Every statement on the outbox names one app; the subscriptions and the
lease are small catalogues read across apps (like `apps`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .errors import UnknownApp, translating
from .schema import webhook_deliveries, webhook_lease, webhook_subscriptions

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
DELIVERY_STATES: Final = (PENDING, DELIVERED, FAILED)
DELIVERY_LEASE: Final = "delivery"


@dataclass(frozen=True)
class Subscription:
    app_id: str
    kind: str  # "call" or "recording"
    enabled: bool
    url: str
    sealed_secret: str | None = field(repr=False)  # encrypted; None until first enabled
    updated_at: int  # epoch ms
    through: int  # change-log position turned into deliveries


@dataclass(frozen=True)
class NewDelivery:
    """An event to deliver, made from one change-log entry."""

    position: int
    webhook_id: str
    record_id: str
    body: bytes = field(repr=False)
    logged_at: int


@dataclass(frozen=True)
class Delivery:
    app_id: str
    kind: str
    position: int
    webhook_id: str
    record_id: str
    body: bytes = field(repr=False)
    logged_at: int
    state: str
    attempts: int
    next_attempt_at: int
    queued_at: int
    last_status: int | None
    last_error: str | None
    finished_at: int | None


@dataclass(frozen=True)
class Outcome:
    """What one attempt left: the new state and when to try again."""

    state: str
    attempts: int
    next_attempt_at: int
    last_status: int | None
    last_error: str | None
    finished_at: int | None


def _subscription(row: Any) -> Subscription:
    r = row._mapping
    return Subscription(
        r["app_id"],
        r["kind"],
        bool(r["enabled"]),
        r["url"],
        r["secret"],
        r["updated_at"],
        r["through"],
    )


def _delivery(row: Any) -> Delivery:
    r = row._mapping
    return Delivery(
        app_id=r["app_id"],
        kind=r["kind"],
        position=r["position"],
        webhook_id=r["webhook_id"],
        record_id=r["record_id"],
        body=bytes(r["body"]),
        logged_at=r["logged_at"],
        state=r["state"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        queued_at=r["queued_at"],
        last_status=r["last_status"],
        last_error=r["last_error"],
        finished_at=r["finished_at"],
    )


def _one_app(app_id: str, kind: str | None) -> Any:
    where = webhook_deliveries.c.app_id == app_id
    return where if kind is None else and_(where, webhook_deliveries.c.kind == kind)


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _writing(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front, so that reading then
        writing never fails half-way on a lock another writer took in between.

        Not `durable`: committed without waiting for the disk (SQLite `synchronous = NORMAL` in
        WAL mode, PostgreSQL `synchronous_commit = off`). For the delivery loop's own writes, whose
        loss in a power failure (never in a crash of the process) only sends an event again: a
        delivery costs no disk flush of its own."""
        with self._engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn:
            sqlite = conn.dialect.name == "sqlite"
            driver = conn.connection.driver_connection
            if sqlite and not durable:
                driver.execute("PRAGMA synchronous = NORMAL")  # type: ignore[union-attr]
            try:
                with conn.begin():
                    if not sqlite and not durable:
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    yield conn
            finally:
                if sqlite and not durable:
                    driver.execute("PRAGMA synchronous = FULL")  # type: ignore[union-attr]

    # --- subscriptions ----------------------------------------------------------------------
    @translating
    def get_subscription(self, app_id: str, kind: str) -> Subscription | None:
        t = webhook_subscriptions.c
        with self._engine.connect() as conn:
            row = conn.execute(
                select(webhook_subscriptions).where(t.app_id == app_id, t.kind == kind)
            ).first()
        return _subscription(row) if row else None

    @translating
    def list_subscriptions(self, *, enabled_only: bool = False) -> list[Subscription]:
        t = webhook_subscriptions.c
        query = select(webhook_subscriptions).order_by(t.app_id, t.kind)
        if enabled_only:
            query = query.where(t.enabled.is_(True))
        with self._engine.connect() as conn:
            return [_subscription(row) for row in conn.execute(query)]

    @translating
    def save_subscription(self, sub: Subscription) -> None:
        t = webhook_subscriptions.c
        values = {
            "enabled": sub.enabled,
            "url": sub.url,
            "secret": sub.sealed_secret,
            "updated_at": sub.updated_at,
            "through": sub.through,
        }
        try:
            with self._writing() as conn:
                done = conn.execute(
                    update(webhook_subscriptions)
                    .where(t.app_id == sub.app_id, t.kind == sub.kind)
                    .values(**values)
                )
                if done.rowcount == 0:
                    conn.execute(
                        insert(webhook_subscriptions).values(
                            app_id=sub.app_id, kind=sub.kind, **values
                        )
                    )
        except IntegrityError:  # the app's foreign key
            raise UnknownApp(sub.app_id) from None

    # --- the outbox -------------------------------------------------------------------------
    @translating
    def enqueue(
        self,
        app_id: str,
        kind: str,
        after: int,
        through: int,
        events: Sequence[NewDelivery],
        now_ms: int,
    ) -> bool:
        """Add the events made from the change log's entries (after, through], and move the
        subscription's position to `through`, in one transaction; False (nothing done) if the
        position is no longer `after` (a replay moved it)."""
        t = webhook_subscriptions.c
        with self._writing(durable=False) as conn:
            moved = conn.execute(
                update(webhook_subscriptions)
                .where(t.app_id == app_id, t.kind == kind, t.through == after)
                .values(through=through)
            )
            if moved.rowcount != 1:
                return False
            if events:
                conn.execute(
                    insert(webhook_deliveries),
                    [
                        {
                            "app_id": app_id,
                            "kind": kind,
                            "position": e.position,
                            "webhook_id": e.webhook_id,
                            "record_id": e.record_id,
                            "body": e.body,
                            "logged_at": e.logged_at,
                            "state": PENDING,
                            "attempts": 0,
                            "next_attempt_at": 0,
                            "queued_at": now_ms,
                        }
                        for e in events
                    ],
                )
        return True

    @translating
    def pending(self, app_id: str, kind: str, limit: int) -> list[Delivery]:
        """The oldest undelivered events, in change-log order."""
        d = webhook_deliveries.c
        query = (
            select(webhook_deliveries)
            .where(_one_app(app_id, kind), d.state == PENDING)
            .order_by(d.position)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    @translating
    def record_outcomes(
        self, app_id: str, kind: str, outcomes: Sequence[tuple[int, Outcome]]
    ) -> None:
        """What attempts at these events (by position) gave, in one transaction."""
        d = webhook_deliveries.c
        statement = (
            update(webhook_deliveries)
            .where(
                d.app_id == app_id,
                d.kind == kind,
                d.position == bindparam("at"),
                d.state == PENDING,
            )
            .values(
                state=bindparam("new_state"),
                attempts=bindparam("new_attempts"),
                next_attempt_at=bindparam("new_next"),
                last_status=bindparam("new_status"),
                last_error=bindparam("new_error"),
                finished_at=bindparam("new_finished"),
            )
        )
        rows = [
            {
                "at": position,
                "new_state": o.state,
                "new_attempts": o.attempts,
                "new_next": o.next_attempt_at,
                "new_status": o.last_status,
                "new_error": o.last_error,
                "new_finished": o.finished_at,
            }
            for position, o in outcomes
        ]
        with self._writing(durable=False) as conn:
            conn.execute(statement, rows)

    @translating
    def deliveries(
        self, app_id: str, kind: str | None, states: Sequence[str], limit: int
    ) -> list[Delivery]:
        """The app's most recent deliveries in these states, newest first."""
        d = webhook_deliveries.c
        query = (
            select(webhook_deliveries)
            .where(_one_app(app_id, kind), d.state.in_(list(states)))
            .order_by(d.position.desc(), d.kind)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    @translating
    def retry_failed(self, app_id: str, kind: str | None, now_ms: int) -> int:
        """Failed events back to pending, to be tried again from now (with a fresh horizon)."""
        d = webhook_deliveries.c
        with self._writing() as conn:
            done = conn.execute(
                update(webhook_deliveries)
                .where(_one_app(app_id, kind), d.state == FAILED)
                .values(
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now_ms,
                    queued_at=now_ms,
                    finished_at=None,
                )
            )
        return max(done.rowcount, 0)

    @translating
    def rewind(self, app_id: str, kind: str, through: int) -> int:
        """Replay: forget the events after `through` and read the change log again from there
        (the same positions give the same webhook-ids). How many events were forgotten."""
        d, t = webhook_deliveries.c, webhook_subscriptions.c
        with self._writing() as conn:
            gone = conn.execute(
                delete(webhook_deliveries).where(_one_app(app_id, kind), d.position > through)
            )
            conn.execute(
                update(webhook_subscriptions)
                .where(t.app_id == app_id, t.kind == kind)
                .values(through=through)
            )
        return max(gone.rowcount, 0)

    @translating
    def oldest_pending(self, app_id: str, kind: str) -> int | None:
        """When the oldest undelivered event's change was logged (epoch ms), if any."""
        d = webhook_deliveries.c
        query = select(func.min(d.logged_at)).where(_one_app(app_id, kind), d.state == PENDING)
        with self._engine.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else int(value)

    @translating
    def trim_delivered(self, app_id: str, kind: str, before_ms: int) -> int:
        """Forget delivered events finished before this time (failed ones stay until retried)."""
        d = webhook_deliveries.c
        with self._writing(durable=False) as conn:
            gone = conn.execute(
                delete(webhook_deliveries).where(
                    _one_app(app_id, kind), d.state == DELIVERED, d.finished_at < before_ms
                )
            )
        return max(gone.rowcount, 0)

    # --- the lease --------------------------------------------------------------------------
    @translating
    def take_lease(self, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew the delivery lease: True if `holder` holds it until now + ttl."""
        t = webhook_lease.c
        try:
            with self._writing(durable=False) as conn:
                taken = conn.execute(
                    update(webhook_lease)
                    .where(t.name == DELIVERY_LEASE, (t.holder == holder) | (t.expires_at < now_ms))
                    .values(holder=holder, expires_at=now_ms + ttl_ms)
                )
                if taken.rowcount == 1:
                    return True
                if conn.execute(select(t.holder).where(t.name == DELIVERY_LEASE)).first():
                    return False
                conn.execute(
                    insert(webhook_lease).values(
                        name=DELIVERY_LEASE, holder=holder, expires_at=now_ms + ttl_ms
                    )
                )
        except IntegrityError:  # another process made the row first: the lease is theirs
            return False
        return True

    @translating
    def release_lease(self, holder: str) -> None:
        t = webhook_lease.c
        with self._writing(durable=False) as conn:
            conn.execute(delete(webhook_lease).where(t.name == DELIVERY_LEASE, t.holder == holder))
