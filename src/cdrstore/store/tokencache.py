"""Tokens found on PostgreSQL, kept in the process for a few seconds and forgotten the moment any
token is revoked or deleted anywhere (docs/architecture.md#token-lookups).

Looking a token up is a round trip to the database on every request: 15-20 % of a page's time
over HTTP on PostgreSQL (docs/performance.md). A revocation or an app's deletion in any process
sends a notification (`NOTIFY`) in its transaction; each serving process listens on a connection
of its own and empties its cache when one arrives. While that connection is down, nothing is
served from the cache. An entry lives at most TTL seconds even so, which bounds what a
listening connection that died without the process noticing could keep alive.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Final

from .base import TokenInfo

CHANNEL: Final = "cdrstore_tokens"
NOTIFY: Final = f"NOTIFY {CHANNEL}"
TTL: Final = 10.0
_RETRY_AFTER: Final = 5.0
_MAX_ENTRIES: Final = 10_000

log = logging.getLogger("cdrstore.tokens")


class TokenCache:
    """One process's found tokens by hash (unknown hashes are never kept: anyone can make those
    up), valid while this process listens for changes."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, TokenInfo]] = {}
        # Moves at every notification and at every change of listening: a lookup that started
        # before one is not kept, since it may have read the token as it was before the change.
        self._generation = 0
        self._listening = False
        self._pid: int | None = None  # the process the listener runs in (not inherited by forks)
        self._stop = threading.Event()

    def lookup(self, token_hash: str, find: Callable[[str], TokenInfo | None]) -> TokenInfo | None:
        """The token for this hash, from the cache while it can be trusted, else from `find`."""
        self._ensure_listener()
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(token_hash)
            generation, listening = self._generation, self._listening
        if hit is not None and listening and now - hit[0] < TTL:
            return hit[1]
        info = find(token_hash)
        if info is not None and listening:
            with self._lock:
                if self._generation == generation:
                    if len(self._entries) >= _MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[token_hash] = (now, info)
        return info

    def close(self) -> None:
        self._stop.set()
        self.forget(listening=False)

    def forget(self, listening: bool | None = None) -> None:
        """Look every token up afresh: after a change made by this process (its own notice would
        come back a moment later), a notice, or a change of `listening` when given."""
        with self._lock:
            self._entries.clear()
            self._generation += 1
            if listening is not None:
                self._listening = listening

    def _ensure_listener(self) -> None:
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._listening = False
            self._entries.clear()
        threading.Thread(target=self._listen, name="cdrstore-token-changes", daemon=True).start()

    def _listen(self) -> None:
        import psycopg  # the PostgreSQL extra's; a SQLite store has no cache

        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=5, keepalives_idle=10
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.forget(listening=True)
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.forget(listening=True)
            except Exception as exc:  # the database away: serve without the cache meanwhile
                self.forget(listening=False)
                log.warning(
                    "token change notifications unavailable (%s): tokens are read from the"
                    " database at every request until they are back",
                    type(exc).__name__,
                )
                self._stop.wait(_RETRY_AFTER)
        self.forget(listening=False)
