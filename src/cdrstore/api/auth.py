"""Who is calling (docs/api.md#apps-and-tokens): the bearer token of a request, checked, counted
against its rate limit, and authorised for the app and scope."""

from __future__ import annotations

import binascii
from typing import Any

from litestar import Request

from ..errors import RateLimited, Unauthenticated
from ..ops.accounts import authenticate, authorize
from ..store import Store, TokenInfo
from .headers import RATE_LIMIT_STATE
from .ratelimit import RateLimiter


def _basic_password(credentials: str) -> str:
    """The password of HTTP Basic credentials (RFC 7617), which is the token; the user name is
    ignored. Never echoes what was sent."""
    try:
        decoded = binascii.a2b_base64(credentials, strict_mode=True).decode()
    except (binascii.Error, ValueError):
        raise Unauthenticated(
            "malformed Basic credentials: expected base64 of user:token"
        ) from None
    _, colon, password = decoded.partition(":")
    if not colon or not password:
        raise Unauthenticated("malformed Basic credentials: the token goes in the password")
    return password


def bearer_secret(request: Request[Any, Any, Any], basic: bool = False) -> str:
    """The token of `Authorization: Bearer <token>`; with `basic`, also of HTTP Basic with the
    token as the password (for senders that can only do Basic, such as FreeSWITCH's
    mod_json_cdr)."""
    given = request.headers.getall("authorization", [])
    # RFC 9110: a field that takes one value may not be repeated, nor folded into one line with
    # commas (a bearer token never holds one).
    if len(given) > 1 or any("," in value for value in given):
        raise Unauthenticated("malformed request: Authorization given more than once")
    header = given[0] if given else ""
    if not header:
        raise Unauthenticated("missing bearer token", presented=False)
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if basic and scheme.lower() == "basic" and secret:
        return _basic_password(secret)
    if scheme.lower() != "bearer" or not secret:
        expected = (
            "'Bearer <token>' or Basic with the token as password" if basic else "'Bearer <token>'"
        )
        raise Unauthenticated(f"malformed Authorization header: expected {expected}")
    return secret


def caller(
    request: Request[Any, Any, Any], app_id: str, scope: str, basic: bool = False
) -> TokenInfo:
    """Authenticate, count the request against the token's rate limit, authorise (so that a
    refused request counts too, and its answer carries the RateLimit headers). `basic`: the
    route also takes HTTP Basic with the token as the password (and challenges for it)."""
    store: Store = request.app.state.store
    try:
        token = authenticate(store, bearer_secret(request, basic))
    except Unauthenticated as exc:
        exc.basic = basic
        raise
    limiter: RateLimiter = request.app.state.rate_limiter
    if limiter.enabled:
        verdict = limiter.hit(token.token_id)
        request.scope.setdefault("state", {})[RATE_LIMIT_STATE] = verdict
        if not verdict.allowed:
            raise RateLimited(
                f"too many requests: at most {verdict.limit} a minute for this token",
                verdict.reset_after,
            )
    authorize(token, app_id, scope)
    return token
