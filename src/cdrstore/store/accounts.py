"""Apps and their tokens: plain SQLAlchemy Core, the same on every backend."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .base import App, TokenInfo
from .errors import AppExists, UnknownApp, translating
from .schema import apps, tokens
from .tokencache import NOTIFY as NOTIFY_TOKENS_CHANGED
from .tokencache import TokenCache


def _token_info(row: Any) -> TokenInfo:
    r = row._mapping
    return TokenInfo(
        token_id=r["token_id"],
        app_id=r["app_id"],
        name=r["name"],
        scopes=frozenset(r["scopes"].split(",")),
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        revoked_at=r["revoked_at"],
        token_hash=r["token_hash"],
    )


class AccountStore:
    def __init__(self, engine: Engine, cache: TokenCache | None = None) -> None:
        self._engine = engine
        # Found tokens kept in the process, told of changes (PostgreSQL, where a lookup is a
        # round trip); every revocation then notifies the other processes in its transaction.
        self._cache = cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def forget_found_tokens(self) -> None:
        """After tokens changed: this process looks them up afresh (others get the notice)."""
        if self._cache is not None:
            self._cache.forget()

    @translating
    def create_app(self, name: str, app_id: str | None = None) -> App:
        app = App(app_id or secrets.token_hex(8), name, int(time.time()))
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(apps).values(app_id=app.app_id, name=app.name, created_at=app.created_at)
                )
        except IntegrityError:
            raise AppExists(app.app_id) from None
        return app

    @translating
    def get_app(self, app_id: str) -> App | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(apps).where(apps.c.app_id == app_id)).first()
        return App(row.app_id, row.name, row.created_at) if row else None

    @translating
    def list_apps(self) -> list[App]:
        query = select(apps).order_by(apps.c.created_at, apps.c.app_id)
        with self._engine.connect() as connection:
            return [App(r.app_id, r.name, r.created_at) for r in connection.execute(query)]

    @translating
    def add_token(
        self,
        app_id: str,
        token_hash: str,
        scopes: frozenset[str],
        name: str,
        expires_at: int | None,
    ) -> TokenInfo:
        info = TokenInfo(
            token_id="tok_" + secrets.token_hex(6),
            app_id=app_id,
            name=name,
            scopes=scopes,
            created_at=int(time.time()),
            expires_at=expires_at,
            revoked_at=None,
            token_hash=token_hash,
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(tokens).values(
                        token_id=info.token_id,
                        app_id=app_id,
                        name=name,
                        token_hash=token_hash,
                        scopes=",".join(sorted(scopes)),
                        created_at=info.created_at,
                        expires_at=expires_at,
                    )
                )
        except IntegrityError:  # the app's foreign key
            raise UnknownApp(app_id) from None
        return info

    @translating
    def list_tokens(self, app_id: str) -> list[TokenInfo]:
        query = select(tokens).where(tokens.c.app_id == app_id).order_by(tokens.c.created_at)
        with self._engine.connect() as connection:
            return [_token_info(row) for row in connection.execute(query)]

    def find_token(self, token_hash: str) -> TokenInfo | None:
        if self._cache is None:
            return self._find_token(token_hash)
        return self._cache.lookup(token_hash, self._find_token)

    @translating
    def _find_token(self, token_hash: str) -> TokenInfo | None:
        # One statement, no transaction: on PostgreSQL a BEGIN and a ROLLBACK fewer a request.
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            row = connection.execute(
                select(tokens).where(tokens.c.token_hash == token_hash)
            ).first()
        return _token_info(row) if row else None

    @translating
    def revoke_token(self, token_id: str | None, token_hash: str | None) -> TokenInfo | None:
        """Revoke by public ID or by the secret's hash: the token as it was before, None if there
        is no such token."""
        where = tokens.c.token_id == token_id if token_id else tokens.c.token_hash == token_hash
        with self._engine.begin() as connection:
            row = connection.execute(select(tokens).where(where)).first()
            if row is None:
                return None
            if row.revoked_at is None:
                connection.execute(update(tokens).where(where).values(revoked_at=int(time.time())))
                if self._cache is not None:
                    connection.execute(text(NOTIFY_TOKENS_CHANGED))
        self.forget_found_tokens()
        return _token_info(row)
