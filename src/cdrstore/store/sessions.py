"""The web console's sessions: plain SQLAlchemy Core, the same on every backend.

A session is found only together with its token, still unrevoked and unexpired: revoking or
expiring the token ends every session opened with it, with nothing else to clean up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.engine import Engine

from .errors import translating
from .schema import console_sessions, tokens


@dataclass(frozen=True)
class SessionInfo:
    app_id: str
    token_id: str
    expires_at: int  # epoch seconds


class SessionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @translating
    def add(self, session_hash: str, app_id: str, token_id: str, now: int, expires_at: int) -> None:
        with self._engine.begin() as connection:
            # Sessions that ran out go when a new one starts: the table holds only live ones.
            connection.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
            connection.execute(
                insert(console_sessions).values(
                    session_hash=session_hash,
                    app_id=app_id,
                    token_id=token_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    @translating
    def find(self, session_hash: str, now: int) -> SessionInfo | None:
        """The live session with this hash, whose token is live too and of the same app."""
        query = (
            select(
                console_sessions.c.app_id,
                console_sessions.c.token_id,
                console_sessions.c.expires_at,
            )
            .join(
                tokens,
                and_(
                    tokens.c.token_id == console_sessions.c.token_id,
                    tokens.c.app_id == console_sessions.c.app_id,
                ),
            )
            .where(
                console_sessions.c.session_hash == session_hash,
                console_sessions.c.expires_at > now,
                tokens.c.revoked_at.is_(None),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            )
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return SessionInfo(row.app_id, row.token_id, row.expires_at) if row else None

    @translating
    def remove(self, session_hash: str) -> bool:
        """End the session; whether there was one."""
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(console_sessions).where(console_sessions.c.session_hash == session_hash)
            )
        return result.rowcount > 0
