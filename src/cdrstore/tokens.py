"""Bearer tokens (docs/api.md#apps-and-tokens): made here, shown once, stored only as their SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from .contract import TOKEN_PREFIX

# 32 random bytes: far beyond guessing; urlsafe so it pastes into a header or a shell unquoted.
_SECRET_BYTES: Final = 32
_TOKEN_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{20,100}\Z")


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def hash_matches(secret: str, token_hash: str) -> bool:
    """Whether token_hash is this secret's hash, compared in constant time."""
    # compare_digest takes as long wherever the first differing character is, so the time a
    # comparison takes says nothing about how much of a stored hash a guess got right.
    return hmac.compare_digest(
        hash_secret(secret).encode(), token_hash.encode("utf-8", "surrogatepass")
    )


def looks_like_secret(text: str) -> bool:
    """Whether text has a token's shape (prefix and alphabet); says nothing about validity."""
    return _TOKEN_SHAPE.match(text) is not None
