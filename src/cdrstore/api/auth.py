"""Bearer tokens (spec sections 5 and 6): who is calling, for which app, with which scopes."""

from __future__ import annotations

import hmac
import time
from typing import Any, Final

from litestar import Request

from ..store import Store, TokenInfo
from ..tokens import hash_matches, hash_secret, looks_like_secret
from .errors import ApiError

_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="cdrstore"'}
_INVALID: Final = {"WWW-Authenticate": 'Bearer realm="cdrstore", error="invalid_token"'}


def bearer_secret(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "missing bearer token", headers=_CHALLENGE)
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise ApiError(
            401, "malformed Authorization header: expected 'Bearer <token>'", headers=_INVALID
        )
    return secret


def authenticate(store: Store, secret: str) -> TokenInfo:
    """The active token for this secret; 401 for an unknown, revoked or expired one."""
    if not looks_like_secret(secret):
        raise ApiError(401, "invalid token", headers=_INVALID)
    # Looked up by SHA-256 of the secret: lookup time depends on the hash, which a caller cannot
    # steer byte by byte, so it reveals nothing about stored secrets; the match found is then
    # confirmed in constant time, so that no comparison of ours depends on how much of it matched.
    token = store.find_token(hash_secret(secret))
    if token is None or not hash_matches(secret, token.token_hash):
        raise ApiError(401, "invalid token", headers=_INVALID)
    if token.revoked_at is not None:
        raise ApiError(401, "token revoked", headers=_INVALID)
    if not token.is_active(time.time()):
        raise ApiError(401, "token expired", headers=_INVALID)
    return token


def authorize(token: TokenInfo, app_id: str, scope: str) -> None:
    """403 when the token belongs to another app (existing or not) or lacks the scope."""
    if not hmac.compare_digest(token.app_id.encode(), app_id.encode("utf-8", "surrogatepass")):
        raise ApiError(403, "token is not valid for this app")
    if scope not in token.scopes:
        raise ApiError(403, f"token lacks the {scope!r} scope")
