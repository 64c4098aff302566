"""Bearer tokens (spec section 6): made here, shown once, stored only as their SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

from .contract import TOKEN_PREFIX

# 32 random bytes: far beyond guessing; urlsafe so it pastes into a header or a shell unquoted.
_SECRET_BYTES: Final = 32
_TOKEN_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{20,100}\Z")
_DURATION = re.compile(r"(\d+)(s|m|h|d|w)\Z")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_secret(text: str) -> bool:
    """Whether text has a token's shape (prefix and alphabet); says nothing about validity."""
    return _TOKEN_SHAPE.match(text) is not None


def parse_duration(text: str) -> int:
    """Seconds in `30s`, `15m`, `12h`, `90d` or `2w`; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 30s, 15m, 12h or 90d, got {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
