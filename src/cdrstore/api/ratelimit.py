"""Requests a minute a token (docs/api.md#rate-limit: 500 by default), counted over every worker
process.

A window opens at a token's first request and lasts a minute. The count lives where every worker
sees it: in Redis when `CDRSTORE_REDIS_URL` is set, else in the database (`Store.windows`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..store import Store, WindowCounter

log = logging.getLogger("cdrstore.ratelimit")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window starts afresh


class LocalCounter:
    """Counts in this process only: the fallback while Redis is unreachable."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float, window: float) -> tuple[int, float]:
        with self._lock:
            started, used = self._windows.get(key, (now, 0))
            if now - started >= window:
                started, used = now, 0
            self._windows[key] = (started, used + 1)
            if len(self._windows) > 100_000:
                for k in [k for k, (s, _) in self._windows.items() if now - s >= window]:
                    del self._windows[k]
            return used + 1, started


class RedisCounter:
    """One Redis key a token and window; it expires with the window, so nothing needs sweeping.
    If Redis cannot be reached the limit is kept per process (logged), rather than refusing calls;
    Redis is tried again after RETRY_AFTER seconds, so that a hung Redis costs one request its
    timeout, not every request."""

    RETRY_AFTER = 10.0

    def __init__(self, url: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._fallback = LocalCounter()
        self._down_until = -math.inf

    def hit(self, key: str, now: float, window: float) -> tuple[int, float]:
        if now < self._down_until:
            return self._fallback.hit(key, now, window)
        name = f"cdrstore:ratelimit:{key}"
        window_ms = int(window * 1000)
        try:
            pipe = self._redis.pipeline(transaction=True)  # MULTI/EXEC: the three run as one
            pipe.set(name, 0, nx=True, px=window_ms)
            pipe.incr(name)
            pipe.pttl(name)
            _, used, ttl_ms = pipe.execute()
            if ttl_ms < 0:  # expired between SET and INCR (Redis < 7 lets time pass in MULTI)
                self._redis.pexpire(name, window_ms)
                ttl_ms = window_ms
        except self._errors as exc:
            self._down_until = now + self.RETRY_AFTER
            log.warning(
                "rate limit: Redis unreachable (%s); counting per process for %g s",
                exc,
                self.RETRY_AFTER,
            )
            return self._fallback.hit(key, now, window)
        return int(used), now - (window_ms - ttl_ms) / 1000


class RateLimiter:
    """Fixed one-minute windows per key; a limit of 0 lets everything through."""

    WINDOW_SECONDS = 60

    def __init__(self, per_minute: int, counter: WindowCounter) -> None:
        self.per_minute = per_minute
        self._counter = counter

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def hit(self, key: str) -> Verdict:
        now = time.time()
        used, started = self._counter.hit(key, now, self.WINDOW_SECONDS)
        # Another worker may have opened the window a moment after this request read the clock
        # (started > now): the window is still no longer than a minute.
        left = math.ceil(started + self.WINDOW_SECONDS - now)
        reset_after = min(self.WINDOW_SECONDS, max(1, left))
        return Verdict(
            used <= self.per_minute, self.per_minute, max(0, self.per_minute - used), reset_after
        )


def shared_counter(store: Store, redis_url: str | None) -> WindowCounter:
    """Where every worker process counts: Redis if configured, else the database."""
    return RedisCounter(redis_url) if redis_url else store.windows
