"""Webhook subscriptions (docs/webhooks.md): `GET` and `PATCH` of
`/v1/api/apps/{appID}/call-event-sub` and `/v1/api/apps/{appID}/recording-event-sub`, as CINNOX
configures them; token scope `webhooks`."""

from __future__ import annotations

from typing import Annotated, Any, Final

import anyio.to_thread
import msgspec
from litestar import Request, get, patch
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from .. import contract
from ..ops.webhooks import SubscriptionView, WebhookOptions, change_subscription, show_subscription
from ..timestamps import format_timestamp
from .auth import caller
from .calls import COMMON_ERRORS, _read_body

SCOPE: Final = "webhooks"
SUBSCRIPTION_BODY_MAX: Final = 16 * 1024
PATH_OF_KIND: Final = {
    "call": contract.CALL_EVENT_SUB_PATH,
    "recording": contract.RECORDING_EVENT_SUB_PATH,
}


class SubscriptionResult(msgspec.Struct, omit_defaults=True):
    enabled: bool
    url: str
    updatedAt: str | None  # RFC3339 with milliseconds, UTC; null: never configured
    secret: str | None = None  # whsec_...: only when first enabled (or rotated by the CLI)


class SubscriptionResponse(msgspec.Struct):
    code: int
    result: SubscriptionResult


def _answer(view: SubscriptionView) -> SubscriptionResponse:
    updated = None if view.updated_at is None else format_timestamp(view.updated_at)
    return SubscriptionResponse(
        contract.CODE_OK, SubscriptionResult(view.enabled, view.url, updated, view.secret)
    )


def _show(request: Request[Any, Any, Any], app_id: str, kind: str) -> SubscriptionResponse:
    caller(request, app_id, SCOPE)
    return _answer(show_subscription(request.app.state.store, app_id, kind))


def _handlers(kind: str) -> list[HTTPRouteHandler]:
    path = PATH_OF_KIND[kind]
    what = f"{kind} event"

    @get(
        path,
        summary=f"Show the {what} subscription",
        description=f"Whether {what}s are sent, and where. Token scope: `{SCOPE}`.",
        responses=COMMON_ERRORS,
        tags=["webhooks"],
        name=f"get_{kind}_event_sub",
    )
    async def show(
        request: Request[Any, Any, Any],
        appID: Annotated[str, PathParameter(description="App ID")],
    ) -> SubscriptionResponse:
        return await anyio.to_thread.run_sync(_show, request, appID, kind)

    @patch(
        path,
        summary=f"Enable, disable or move the {what} subscription",
        description=(
            f'`{{"enabled": true, "url": "https://..."}}` enables {what}s: the URL is first'
            ' challenged (POST `{"challenge": "<random>"}`, to be echoed as'
            ' `{"code": 0, "result": {"challenge": "<same>"}}` with 200 within 10 s), and a'
            " `secret` (whsec_...) to verify signatures with is answered when the subscription"
            ' is first enabled. `{"enabled": false}` turns it off. Private, loopback and'
            f" link-local receivers are refused. Token scope: `{SCOPE}`."
        ),
        responses=COMMON_ERRORS,
        tags=["webhooks"],
        name=f"patch_{kind}_event_sub",
        request_max_body_size=SUBSCRIPTION_BODY_MAX,
    )
    async def change(
        request: Request[Any, Any, Any],
        state: State,
        appID: Annotated[str, PathParameter(description="App ID")],
    ) -> SubscriptionResponse:
        await anyio.to_thread.run_sync(caller, request, appID, SCOPE)
        body = await _read_body(request, state.body_timeout)
        view = await change_subscription(state.store, state.webhook_options, appID, kind, body)
        return _answer(view)

    return [show, change]


def webhook_handlers() -> list[HTTPRouteHandler]:
    return [handler for kind in PATH_OF_KIND for handler in _handlers(kind)]


def webhook_options(settings: Any) -> WebhookOptions:
    return WebhookOptions(
        allow_private=settings.webhooks_allow_private,
        challenge_timeout=settings.webhooks_challenge_timeout,
        database_url=settings.database_url,
    )
