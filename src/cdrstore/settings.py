"""Server configuration, from the environment (so that every worker process reads the same)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from .contract import RATE_LIMIT_DEFAULT_PER_MINUTE
from .store import database_url

RATE_LIMIT_ENV: Final = "CDRSTORE_RATE_LIMIT"
REDIS_URL_ENV: Final = "CDRSTORE_REDIS_URL"
BODY_TIMEOUT_ENV: Final = "CDRSTORE_BODY_TIMEOUT"
HEADER_TIMEOUT_ENV: Final = "CDRSTORE_HEADER_TIMEOUT"
HEADER_TIMEOUT_DEFAULT: Final = 10.0  # seconds for a request's whole head (nginx: 60)
METRICS_ENV: Final = "CDRSTORE_METRICS"
# prometheus_client's own variable; read when it is first imported, so set before any import of it.
MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
BODY_TIMEOUT_DEFAULT: Final = 30.0  # seconds without a byte of a request body (nginx: 60)


def parse_seconds(text: str, name: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86_400:
        raise ValueError(f"{name} must be seconds (a positive number), got {text!r} ({option})")
    return value


def parse_rate_limit(text: str) -> int:
    """Requests a minute a token: a number, or `off`/`0` for no limit."""
    value = text.strip().lower()
    if value in ("off", "0", "none", "false"):
        return 0
    if value.endswith("/min"):
        value = value[: -len("/min")]
    if not value.isdigit():
        raise ValueError(
            f"{RATE_LIMIT_ENV} must be requests a minute (e.g. 500) or 'off', got {text!r}"
            " (serve --rate-limit)"
        )
    return int(value)


def parse_redis_url(text: str | None) -> str | None:
    """The URL if redis-py can use it (checked here, once, rather than in every worker)."""
    if text is None:
        return None
    from redis.connection import parse_url

    try:
        parse_url(text)  # type: ignore[no-untyped-call]
    except ValueError:
        raise ValueError(
            f"{REDIS_URL_ENV} must be a redis://, rediss:// or unix:// URL (serve --redis-url)"
        ) from None
    return text


def seconds_from_env(name: str, option: str, default: float) -> float:
    text = os.environ.get(name)
    return parse_seconds(text, name, f"serve {option}") if text else default


@dataclass(frozen=True)
class Settings:
    database_url: str
    rate_limit_per_minute: int = RATE_LIMIT_DEFAULT_PER_MINUTE  # 0: no limit
    redis_url: str | None = None  # where workers count requests; None: in the database
    body_timeout: float = BODY_TIMEOUT_DEFAULT
    header_timeout: float = HEADER_TIMEOUT_DEFAULT  # applied by api/protocol.py, not the app
    metrics: bool = False  # serve /metrics (Prometheus); off: it answers 404 like any unknown path

    @classmethod
    def from_env(cls) -> Settings:
        limit = os.environ.get(RATE_LIMIT_ENV)
        return cls(
            database_url=database_url(),
            rate_limit_per_minute=(
                parse_rate_limit(limit) if limit is not None else RATE_LIMIT_DEFAULT_PER_MINUTE
            ),
            redis_url=parse_redis_url(os.environ.get(REDIS_URL_ENV) or None),
            metrics=os.environ.get(METRICS_ENV, "").strip().lower() in ("1", "on", "true", "yes"),
            header_timeout=seconds_from_env(
                HEADER_TIMEOUT_ENV, "--header-timeout", HEADER_TIMEOUT_DEFAULT
            ),
            body_timeout=seconds_from_env(BODY_TIMEOUT_ENV, "--body-timeout", BODY_TIMEOUT_DEFAULT),
        )
