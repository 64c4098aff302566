"""Who is calling (docs/api.md#apps-and-tokens): the bearer token of a request, checked, counted
against its rate limit, and authorised for the app and scope."""

from __future__ import annotations

from typing import Any

from litestar import Request

from ..errors import RateLimited, Unauthenticated
from ..ops.accounts import authenticate, authorize
from ..store import Store, TokenInfo
from .headers import RATE_LIMIT_STATE
from .ratelimit import RateLimiter


def bearer_secret(request: Request[Any, Any, Any]) -> str:
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
    if scheme.lower() != "bearer" or not secret:
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
    return secret


def caller(request: Request[Any, Any, Any], app_id: str, scope: str) -> TokenInfo:
    """Authenticate, count the request against the token's rate limit, authorise (so that a
    refused request counts too, and its answer carries the RateLimit headers)."""
    store: Store = request.app.state.store
    token = authenticate(store, bearer_secret(request))
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
