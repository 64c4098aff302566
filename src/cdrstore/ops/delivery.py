"""Delivering webhooks from the change log, at least once and in order per app and kind
(docs/webhooks.md#delivery).

- The change log is turned into the outbox (`webhook_deliveries`) in one transaction with the
  subscription's position, so that every event is enqueued once, with an id and a body that never
  change: a retry, a restart or a replay sends the same `webhook-id`.
- Each subscription has a task of its own, which sends its oldest pending event and nothing after it
  until that one is delivered or failed (order); tasks of different apps run side by side, bounded
  in number of sends at once, so that one app's dead receiver delays nobody else's events.
- One loop delivers for every worker and host: the holder of a lease in the database. The others
  wait for it to expire (a holder killed with SIGKILL loses it after `LEASE_TTL`).
- Database calls run in threads of the loop's own (a few), apart from the request handlers'.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.abc
import anyio.to_thread
import httpx

from ..store import Delivery, NewDelivery, Outcome, Store, StoreError, Subscription
from ..store.webhooks import DELIVERED, FAILED, PENDING
from ..webhooks.payloads import event_body
from ..webhooks.sealing import Sealer, SealingError
from ..webhooks.signing import Signer
from ..webhooks.targets import (
    Answer,
    SendFailed,
    TargetRefused,
    check_url,
    new_client,
    post,
)

log = logging.getLogger("cdrstore.webhooks")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

LEASE_TTL_MS: Final = 8_000
LEASE_RENEW_S: Final = 2.0
IDLE_POLL_S: Final = 0.1  # a subscription with nothing to send looks again this often
CHANGES_BATCH: Final = 500
QUEUE_READ: Final = 100
SENDS_AT_ONCE: Final = 64
# The outcomes of consecutive attempts are written together, at most this many or this long after
# the first: what a crash can send twice (the sent events whose outcome was not yet written).
OUTCOMES_AT_ONCE: Final = 20
OUTCOMES_EVERY_S: Final = 0.05
DB_THREADS: Final = 4
RETRY_BASE_S: Final = 1.0
RETRY_CAP_S: Final = 1800.0
KEEP_DELIVERED_MS: Final = 7 * 86_400_000  # delivered events stay listed this long
TRIM_EVERY_S: Final = 600.0
RETRYABLE_STATUSES: Final = frozenset({408, 429})
ERROR_MAX: Final = 300


def now_ms() -> int:
    return int(time.time() * 1000)


def webhook_id(app_id: str, kind: str, position: int) -> str:
    """The same for every attempt at one event, and for a replay of it."""
    return f"msg_{kind}_{position}_{app_id}"


@dataclass(frozen=True)
class DeliveryOptions:
    allow_private: bool
    horizon_s: int
    database_url: str


@dataclass
class Observer:
    """What the loop reports, for metrics: an attempt's outcome, the age of the oldest backlog."""

    attempted: Callable[[str, str], None] = lambda kind, outcome: None
    backlog: Callable[[float], None] = lambda seconds: None


def backoff_seconds(attempts: int) -> float:
    """Exponential from 1 s, doubling, capped at 30 min; half of it random (jitter), so that
    receivers coming back are not met by every retry at once."""
    delay = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(attempts - 1, 0))
    return float(delay / 2 + random.uniform(0, delay / 2))


def judge(
    delivery: Delivery, answer: Answer | None, error: str | None, horizon_s: int, at_ms: int
) -> Outcome:
    """The state an attempt leaves an event in."""
    attempts = delivery.attempts + 1
    status = answer.status if answer else None
    if answer is not None and 200 <= answer.status < 300:
        return Outcome(DELIVERED, attempts, at_ms, status, None, at_ms)
    if answer is not None:
        error = answer.shown()[:ERROR_MAX]
        retryable = answer.status in RETRYABLE_STATUSES or answer.status >= 500
        if not retryable:  # other 4xx (and redirects, not followed): the receiver said no
            return Outcome(FAILED, attempts, at_ms, status, error, at_ms)
    delay = backoff_seconds(attempts)
    if answer is not None and answer.retry_after is not None:
        delay = max(delay, answer.retry_after)
    next_at = at_ms + int(delay * 1000)
    if next_at > delivery.queued_at + horizon_s * 1000:
        return Outcome(
            FAILED, attempts, at_ms, status, f"gave up after {attempts} attempts: {error}", at_ms
        )
    return Outcome(PENDING, attempts, next_at, status, error, None)


def enqueue_changes(store: Store, sub: Subscription, limit: int = CHANGES_BATCH) -> int | None:
    """Turn the change-log entries after the subscription's position into pending events: the new
    position, or None if there was nothing new (or a replay moved the position meanwhile)."""
    changes = store.records.changes(sub.app_id, sub.through, limit)
    if not changes:
        return None
    events = []
    for change in changes:
        body = event_body(sub.kind, change.op, change.doc)
        if body is not None:
            events.append(
                NewDelivery(
                    change.position,
                    webhook_id(sub.app_id, sub.kind, change.position),
                    change.id,
                    body,
                    change.logged_at,
                )
            )
    through = changes[-1].position
    moved = store.webhooks.enqueue(sub.app_id, sub.kind, sub.through, through, events, now_ms())
    return through if moved else None


class SubscriptionWorker:
    """Delivers one subscription's events, oldest first."""

    def __init__(self, loop: DeliveryLoop, sub: Subscription) -> None:
        self.loop = loop
        self.sub = sub
        self.key = (sub.app_id, sub.kind)

    async def run(self) -> None:
        sub, loop = self.sub, self.loop
        try:
            url = check_url(sub.url, loop.options.allow_private)
            signer = Signer(loop.sealer.open(sub.sealed_secret or ""))
        except (TargetRefused, SealingError) as exc:
            log.error(
                "webhooks of app %s (%s) not delivered: %s", sub.app_id, sub.kind, exc.message
            )
            return
        async with new_client() as client:
            while True:
                try:
                    await self._step(client, url, signer)
                except StoreError as exc:
                    log.warning("webhooks of app %s (%s): %s", sub.app_id, sub.kind, exc)
                    await anyio.sleep(1)

    async def _step(self, client: httpx.AsyncClient, url: httpx.URL, signer: Signer) -> None:
        queue = await self.loop.db(self.loop.store.webhooks.pending, *self.key, QUEUE_READ)
        if len(queue) < QUEUE_READ and await self._refill():
            return  # read the queue again, with what was just added
        if not queue:
            await anyio.sleep(IDLE_POLL_S)
            return
        outcomes: list[tuple[int, Outcome]] = []
        written = time.monotonic()
        try:
            for delivery in queue:
                wait = (delivery.next_attempt_at - now_ms()) / 1000
                if wait > 0:
                    await self._write(outcomes)
                    await anyio.sleep(min(wait, 1.0))  # look again soon: a retry may be asked
                    return
                outcome = await self._attempt(client, url, signer, delivery)
                outcomes.append((delivery.position, outcome))
                if outcome.state == PENDING:
                    return  # in order: nothing after it goes before it
                if (
                    len(outcomes) >= OUTCOMES_AT_ONCE
                    or time.monotonic() - written > OUTCOMES_EVERY_S
                ):
                    await self._write(outcomes)
                    written = time.monotonic()
        finally:
            with anyio.CancelScope(shield=True):
                await self._write(outcomes)

    async def _write(self, outcomes: list[tuple[int, Outcome]]) -> None:
        """Write down what the last attempts gave, in one transaction (emptying the list)."""
        if outcomes:
            done = list(outcomes)
            outcomes.clear()
            await self.loop.db(self.loop.store.webhooks.record_outcomes, *self.key, done)

    async def _refill(self) -> bool:
        through = await self.loop.db(enqueue_changes, self.loop.store, self.sub)
        if through is None:
            fresh = await self.loop.db(self.loop.store.webhooks.get_subscription, *self.key)
            moved = fresh is not None and fresh.through != self.sub.through
            if fresh is not None:
                self.sub = fresh
            return moved
        self.sub = Subscription(
            self.sub.app_id,
            self.sub.kind,
            self.sub.enabled,
            self.sub.url,
            self.sub.sealed_secret,
            self.sub.updated_at,
            through,
        )
        return True

    async def _attempt(
        self, client: httpx.AsyncClient, url: httpx.URL, signer: Signer, delivery: Delivery
    ) -> Outcome:
        answer, error = None, None
        async with self.loop.sends:
            headers = signer.headers(delivery.webhook_id, delivery.body, time.time())
            try:
                answer = await post(
                    client,
                    url,
                    delivery.body,
                    headers,
                    allow_private=self.loop.options.allow_private,
                )
            except (SendFailed, TargetRefused) as exc:
                error = str(exc)[:ERROR_MAX]
        outcome = judge(delivery, answer, error, self.loop.options.horizon_s, now_ms())
        self.loop.observer.attempted(self.sub.kind, _outcome_label(outcome))
        if outcome.state == FAILED:
            log.warning(
                "webhook %s of app %s failed: %s",
                delivery.webhook_id,
                self.sub.app_id,
                outcome.last_error,
            )
        return outcome


def _outcome_label(outcome: Outcome) -> str:
    return {DELIVERED: "delivered", FAILED: "failed"}.get(outcome.state, "retried")


class DeliveryLoop:
    """The one delivery loop: while this process holds the lease, a worker per enabled
    subscription."""

    def __init__(self, store: Store, options: DeliveryOptions, observer: Observer | None = None):
        self.store = store
        self.options = options
        self.observer = observer or Observer()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.sends = anyio.CapacityLimiter(SENDS_AT_ONCE)
        self._threads = anyio.CapacityLimiter(DB_THREADS)
        self._sealer: Sealer | None = None
        self._workers: dict[tuple[str, str], tuple[Subscription, anyio.CancelScope]] = {}
        self.holding = False
        self._next_trim = 0.0

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            self._sealer = Sealer.for_database(self.options.database_url)
        return self._sealer

    async def db(self, function: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
        """Run a blocking store call in one of the loop's own threads."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self._threads)

    async def run(self) -> None:
        """Deliver until cancelled: take (or wait for) the lease, keep a worker per enabled
        subscription, report the backlog, and let the lease go when stopped."""
        try:
            async with anyio.create_task_group() as tasks:
                while True:
                    try:
                        await self._round(tasks)
                    except StoreError as exc:
                        log.warning("webhook delivery: %s", exc)
                        self._stop_all()
                    await anyio.sleep(LEASE_RENEW_S)
        finally:
            self._stop_all()
            if self.holding:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(StoreError):  # else it expires by itself
                        await self.db(self.store.webhooks.release_lease, self.holder)

    async def _round(self, tasks: anyio.abc.TaskGroup) -> None:
        subs = await self.db(self._enabled)
        if not subs:
            self._stop_all()
            return
        self.holding = await self.db(
            self.store.webhooks.take_lease, self.holder, now_ms(), LEASE_TTL_MS
        )
        if not self.holding:
            self._stop_all()
            return
        wanted = {(s.app_id, s.kind): s for s in subs}
        for key, (sub, scope) in list(self._workers.items()):
            new = wanted.get(key)
            if new is None or (new.url, new.sealed_secret) != (sub.url, sub.sealed_secret):
                scope.cancel()
                del self._workers[key]
        for key, sub in wanted.items():
            if key not in self._workers:
                scope = anyio.CancelScope()
                self._workers[key] = (sub, scope)
                tasks.start_soon(self._work, SubscriptionWorker(self, sub), scope)
        await self._report_backlog(subs)
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + TRIM_EVERY_S
            for sub in subs:
                await self.db(
                    self.store.webhooks.trim_delivered,
                    sub.app_id,
                    sub.kind,
                    now_ms() - KEEP_DELIVERED_MS,
                )

    def _enabled(self) -> list[Subscription]:
        return self.store.webhooks.list_subscriptions(enabled_only=True)

    async def _work(self, worker: SubscriptionWorker, scope: anyio.CancelScope) -> None:
        with scope:
            try:
                await worker.run()
            except Exception:
                log.exception("webhook delivery of app %s stopped", worker.sub.app_id)
        if self._workers.get(worker.key, (None, None))[1] is scope:
            del self._workers[worker.key]  # started again next round

    def _stop_all(self) -> None:
        for _sub, scope in self._workers.values():
            scope.cancel()
        self._workers.clear()

    async def _report_backlog(self, subs: list[Subscription]) -> None:
        oldest = None
        for sub in subs:
            logged = await self.db(self.store.webhooks.oldest_pending, sub.app_id, sub.kind)
            if logged is not None and (oldest is None or logged < oldest):
                oldest = logged
        self.observer.backlog(0.0 if oldest is None else max(0.0, (now_ms() - oldest) / 1000))


async def deliver_forever(
    store: Store, options: DeliveryOptions, observer: Observer | None
) -> None:
    await DeliveryLoop(store, options, observer).run()
