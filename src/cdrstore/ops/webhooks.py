"""Webhook subscriptions as CINNOX configures them (docs/webhooks.md): show one, change one (a URL is
checked, then challenged, before it is enabled), rotate a secret; and the operator's view of the
deliveries: list, retry the failed, replay from the change log."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace

import anyio.to_thread
import msgspec

from ..contract import WEBHOOK_KINDS
from ..errors import DomainError, InvalidRequest
from ..store import Delivery, Store, Subscription
from ..store.webhooks import DELIVERY_STATES
from ..webhooks.sealing import Sealer, new_key
from ..webhooks.signing import new_secret
from ..webhooks.targets import SendFailed, check_url, new_client, post
from .accounts import require_app


class ChallengeFailed(InvalidRequest):
    """The receiver did not echo the challenge as it must."""


class NoSubscription(DomainError):
    """The app has never had this kind of subscription."""


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as the API answers it; `secret` only when just made or rotated."""

    enabled: bool
    url: str
    updated_at: int | None  # epoch ms; None: never configured
    secret: str | None = None


@dataclass(frozen=True)
class WebhookOptions:
    allow_private: bool
    challenge_timeout: float
    database_url: str  # where the sealing key lives unless CDRSTORE_WEBHOOKS_KEY is set


class SubscriptionPatch(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool
    url: str | None = None


class _Echo(msgspec.Struct):
    challenge: str


class _ChallengeAnswer(msgspec.Struct):
    code: int
    result: _Echo


def _view(sub: Subscription | None, secret: str | None = None) -> SubscriptionView:
    if sub is None:
        return SubscriptionView(False, "", None)
    return SubscriptionView(sub.enabled, sub.url, sub.updated_at, secret)


def check_kind(kind: str) -> str:
    if kind not in WEBHOOK_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(WEBHOOK_KINDS)}, got {kind!r}")
    return kind


def show_subscription(store: Store, app_id: str, kind: str) -> SubscriptionView:
    return _view(store.webhooks.get_subscription(app_id, check_kind(kind)))


def parse_patch(body: bytes) -> SubscriptionPatch:
    try:
        return msgspec.json.decode(body, type=SubscriptionPatch)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid body: {exc}") from None
    except msgspec.DecodeError:
        raise InvalidRequest(
            'invalid body: expected JSON {"enabled": true, "url": "https://..."}'
        ) from None


async def challenge(url: str, options: WebhookOptions) -> None:
    """POST {"challenge": "<random>"}: the receiver must answer 200 with
    {"code": 0, "result": {"challenge": "<same>"}} in time, or ChallengeFailed says what it did."""
    target = check_url(url, options.allow_private)
    word = secrets.token_urlsafe(24)
    body = msgspec.json.encode({"challenge": word})
    try:
        async with new_client() as client:
            answer = await post(
                client,
                target,
                body,
                {},
                allow_private=options.allow_private,
                timeout=options.challenge_timeout,
            )
    except SendFailed as exc:
        raise ChallengeFailed(f"challenge failed: {exc}") from None
    try:
        echoed = msgspec.json.decode(answer.head, type=_ChallengeAnswer)
    except msgspec.MsgspecError:
        echoed = None
    if answer.status != 200 or echoed is None or echoed.code != 0:
        raise ChallengeFailed(
            "challenge failed: the receiver must answer HTTP 200 with"
            f' {{"code": 0, "result": {{"challenge": "<the same>"}}}}; it answered {answer.shown()}'
        )
    if echoed.result.challenge != word:
        raise ChallengeFailed(
            "challenge failed: the receiver answered another challenge than the one sent"
            f" ({answer.shown()})"
        )


async def change_subscription(
    store: Store, options: WebhookOptions, app_id: str, kind: str, body: bytes
) -> SubscriptionView:
    """Apply a PATCH: enabling checks the URL and challenges it first; the secret is shown when
    the subscription is first enabled."""
    check_kind(kind)
    patch = parse_patch(body)
    before = await anyio.to_thread.run_sync(store.webhooks.get_subscription, app_id, kind)
    url = patch.url if patch.url is not None else (before.url if before else "")
    if patch.enabled and not url:
        raise InvalidRequest('url is required to enable: {"enabled": true, "url": "https://..."}')
    if url:
        check_url(url, options.allow_private)
    if patch.enabled:
        await challenge(url, options)
    return await anyio.to_thread.run_sync(_save, store, options, app_id, kind, patch.enabled, url)


def _save(
    store: Store, options: WebhookOptions, app_id: str, kind: str, enabled: bool, url: str
) -> SubscriptionView:
    require_app(store, app_id)
    before = store.webhooks.get_subscription(app_id, kind)
    shown = None
    sealed = before.sealed_secret if before else None
    if enabled and sealed is None:
        shown = new_secret()
        sealed = Sealer.for_database(options.database_url).seal(shown)
    through = before.through if before else 0
    if enabled and not (before and before.enabled):
        # Events start now: what was logged while the subscription was off is not sent.
        through = store.records.change_bounds(app_id)[1]
    after = Subscription(app_id, kind, enabled, url, sealed, int(time.time() * 1000), through)
    store.webhooks.save_subscription(after)
    return _view(after, shown)


def rotate_secret(store: Store, database_url: str, app_id: str, kind: str) -> str:
    """A new secret for the subscription (the old one stops signing at once): shown once."""
    check_kind(kind)
    require_app(store, app_id)
    sub = store.webhooks.get_subscription(app_id, kind)
    if sub is None:
        raise NoSubscription(f"app {app_id!r} has no {kind} event subscription")
    secret = new_secret()
    sealed = Sealer.for_database(database_url).seal(secret)
    store.webhooks.save_subscription(
        replace(sub, sealed_secret=sealed, updated_at=int(time.time() * 1000))
    )
    return secret


def list_subscriptions(store: Store, app_id: str | None = None) -> list[Subscription]:
    if app_id is not None:
        require_app(store, app_id)
    found = store.webhooks.list_subscriptions()
    return [s for s in found if app_id is None or s.app_id == app_id]


def list_deliveries(
    store: Store, app_id: str, kind: str | None, state: str | None, limit: int
) -> list[Delivery]:
    require_app(store, app_id)
    if kind is not None:
        check_kind(kind)
    if state is not None and state not in DELIVERY_STATES:
        raise InvalidRequest(f"state must be one of {', '.join(DELIVERY_STATES)}, got {state!r}")
    return store.webhooks.deliveries(app_id, kind, [state] if state else DELIVERY_STATES, limit)


def retry_failed(store: Store, app_id: str, kind: str | None) -> int:
    """Every failed event of the app back to pending, with a fresh horizon: how many."""
    require_app(store, app_id)
    if kind is not None:
        check_kind(kind)
    return store.webhooks.retry_failed(app_id, kind, int(time.time() * 1000))


def replay(store: Store, app_id: str, kind: str | None, since_ms: int | None) -> dict[str, int]:
    """Send again every event from the change log logged at or after `since_ms` (all it retains
    if None), with the webhook-ids they had: per kind, the position replayed from."""
    require_app(store, app_id)
    kinds = [check_kind(kind)] if kind else list(WEBHOOK_KINDS)
    subs = {k: store.webhooks.get_subscription(app_id, k) for k in kinds}
    if not any(subs.values()):
        raise NoSubscription(f"app {app_id!r} has no event subscription to replay")
    start = _position_before(store, app_id, since_ms)
    replayed = {}
    for k, sub in subs.items():
        if sub is not None:
            store.webhooks.rewind(app_id, k, start)
            replayed[k] = start
    return replayed


def _position_before(store: Store, app_id: str, since_ms: int | None) -> int:
    """The last change-log position logged before `since_ms` (the oldest retained if None)."""
    trimmed_through, _head = store.records.change_bounds(app_id)
    if since_ms is None:
        return trimmed_through
    position = trimmed_through
    while True:
        changes = store.records.changes(app_id, position, 1000)
        for change in changes:
            if change.logged_at >= since_ms:
                return position
            position = change.position
        if not changes:
            return position


def new_sealing_key() -> str:
    """A new key to seal secrets with (for CDRSTORE_WEBHOOKS_KEY)."""
    return new_key()
