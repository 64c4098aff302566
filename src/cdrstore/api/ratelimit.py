"""Requests a minute a token (spec section 5: 500 by default), counted in this process."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window starts afresh


class RateLimiter:
    """Fixed one-minute windows per key; a limit of 0 lets everything through."""

    WINDOW_SECONDS = 60

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def hit(self, key: str) -> Verdict:
        now = self._clock()
        with self._lock:
            started, used = self._windows.get(key, (now, 0))
            if now - started >= self.WINDOW_SECONDS:
                started, used = now, 0
            allowed = used < self.per_minute
            if allowed:
                used += 1
            self._windows[key] = (started, used)
            if len(self._windows) > 100_000:
                self._forget_idle(now)
        reset_after = max(1, math.ceil(started + self.WINDOW_SECONDS - now))
        return Verdict(allowed, self.per_minute, self.per_minute - used, reset_after)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, (s, _) in self._windows.items() if now - s >= self.WINDOW_SECONDS]:
            del self._windows[key]
