"""Apps and tokens: create an app, issue, check and revoke tokens (docs/api.md#apps-and-tokens)."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from typing import Final

from ..contract import APP_ID_PATTERN, SCOPES
from ..errors import DomainError, Forbidden, Unauthenticated
from ..store import App, RemovedApp, Store, TokenInfo, UnknownApp
from ..tokens import hash_matches, hash_secret, looks_like_secret, new_secret

_APP_ID = re.compile(APP_ID_PATTERN)
TOKEN_STATES: Final = ("active", "expired", "revoked")


class InvalidAccount(DomainError):
    """An app ID, name or scope that breaks the rules of docs/api.md#apps-and-tokens."""


class UnknownToken(DomainError):
    """No token has this ID or secret."""


class AppInUse(DomainError):
    """The app still has active tokens: deleting it would cut off whoever holds them."""


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # shown once; only its hash is stored
    info: TokenInfo


def check_app_id(app_id: str) -> str:
    if not _APP_ID.match(app_id):
        raise InvalidAccount(f"invalid app ID {app_id!r}: 1-64 of A-Z a-z 0-9 _ -")
    return app_id


def check_scopes(given: list[str]) -> frozenset[str]:
    """Scopes as typed: repeated, or comma-separated (`read,ingest`)."""
    scopes = frozenset(part.strip() for value in given for part in value.split(",") if part.strip())
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise InvalidAccount(
            f"scope must be one of {', '.join(SCOPES)} (got {', '.join(sorted(unknown)) or 'none'})"
        )
    return scopes


def create_app(store: Store, name: str, app_id: str | None = None) -> App:
    if app_id is not None:
        check_app_id(app_id)
    if not name.strip():
        raise InvalidAccount("the app name must not be empty")
    return store.accounts.create_app(name, app_id)


def ensure_app(store: Store, app_id: str, name: str) -> bool:
    """Create the app unless it exists; whether it was created."""
    if store.accounts.get_app(app_id) is not None:
        return False
    create_app(store, name, app_id)
    return True


def require_app(store: Store, app_id: str) -> App:
    app = store.accounts.get_app(app_id)
    if app is None:
        raise UnknownApp(app_id)
    return app


def list_apps(store: Store) -> list[tuple[App, int]]:
    """Every app with how many records it holds (counted app by app: every query that touches
    records names one app, so that a distributed database can route it)."""
    return [(app, store.records.count_records(app.app_id)) for app in store.accounts.list_apps()]


def delete_app(store: Store, app_id: str, force: bool = False) -> RemovedApp:
    """Remove the app with its records, counts, identities and tokens, in one transaction;
    refused while it has active tokens unless `force`."""
    require_app(store, app_id)
    if not force:
        now = time.time()
        active = [t.token_id for t in store.accounts.list_tokens(app_id) if t.is_active(now)]
        if active:
            raise AppInUse(
                f"app {app_id!r} has {len(active)} active token{'s' if len(active) > 1 else ''}"
                f" ({', '.join(active)}): revoke {'them' if len(active) > 1 else 'it'} first,"
                " or delete with --force"
            )
    removed = store.records.delete_app(app_id)
    store.accounts.forget_found_tokens()  # the other processes are told by the database
    return removed


def issue_token(
    store: Store,
    app_id: str,
    scopes: frozenset[str],
    name: str = "",
    expires_in: int | None = None,
) -> IssuedToken:
    """A new token for the app: the secret (to show once) and what is stored of it."""
    require_app(store, app_id)
    secret = new_secret()
    expires_at = None if expires_in is None else int(time.time()) + expires_in
    info = store.accounts.add_token(app_id, hash_secret(secret), scopes, name, expires_at)
    return IssuedToken(secret, info)


def token_state(token: TokenInfo, now: float) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.is_active(now) else "expired"


def list_tokens(store: Store, app_id: str) -> list[TokenInfo]:
    require_app(store, app_id)
    return store.accounts.list_tokens(app_id)


def revoke_token(store: Store, token_or_id: str) -> TokenInfo:
    """Revoke by public ID (tok_...) or by the secret itself; the token as it was before."""
    if looks_like_secret(token_or_id):
        info = store.accounts.revoke_token(None, hash_secret(token_or_id))
    else:
        info = store.accounts.revoke_token(token_or_id, None)
    if info is None:
        raise UnknownToken("no such token")
    return info


def authenticate(store: Store, secret: str) -> TokenInfo:
    """The active token for this secret; Unauthenticated for an unknown, revoked or expired one."""
    if not looks_like_secret(secret):
        raise Unauthenticated("invalid token")
    # Looked up by SHA-256 of the secret: lookup time depends on the hash, which a caller cannot
    # steer byte by byte, so it reveals nothing about stored secrets; the match found is then
    # confirmed in constant time, so that no comparison of ours depends on how much of it matched.
    token = store.accounts.find_token(hash_secret(secret))
    if token is None or not hash_matches(secret, token.token_hash):
        raise Unauthenticated("invalid token")
    if token.revoked_at is not None:
        raise Unauthenticated("token revoked")
    if not token.is_active(time.time()):
        raise Unauthenticated("token expired")
    return token


def authorize(token: TokenInfo, app_id: str, scope: str) -> None:
    """Forbidden when the token belongs to another app (existing or not) or lacks the scope."""
    if not hmac.compare_digest(token.app_id.encode(), app_id.encode("utf-8", "surrogatepass")):
        raise Forbidden("token is not valid for this app")
    if scope not in token.scopes:
        raise Forbidden(f"token lacks the {scope!r} scope")


def admits(store: Store, secret: str, app_id: str, scopes: frozenset[str]) -> bool:
    """Whether this secret is an active token of the app with at least these scopes."""
    try:
        token = authenticate(store, secret)
        for scope in sorted(scopes):
            authorize(token, app_id, scope)
    except (Unauthenticated, Forbidden):
        return False
    return True
