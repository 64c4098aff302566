"""Server configuration, from the environment (so that every worker process reads the same).

Every setting is documented in docs/configuration.md (a test holds the two together).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from .contract import RATE_LIMIT_DEFAULT_PER_MINUTE

DATABASE_URL_ENV: Final = "CDRSTORE_DATABASE_URL"
DEFAULT_DATABASE_URL: Final = "sqlite:///cdrstore.db"
RATE_LIMIT_ENV: Final = "CDRSTORE_RATE_LIMIT"
REDIS_URL_ENV: Final = "CDRSTORE_REDIS_URL"
BODY_TIMEOUT_ENV: Final = "CDRSTORE_BODY_TIMEOUT"
HEADER_TIMEOUT_ENV: Final = "CDRSTORE_HEADER_TIMEOUT"
HEADER_TIMEOUT_DEFAULT: Final = 10.0  # seconds for a request's whole head (nginx: 60)
METRICS_ENV: Final = "CDRSTORE_METRICS"
CORS_ORIGINS_ENV: Final = "CDRSTORE_CORS_ORIGINS"
# How long the change log keeps its entries (docs/configuration.md#the-change-log): read by
# `cdrstore retention apply`, which trims it; a duration of durations.py, a day or more.
CHANGE_LOG_RETENTION_ENV: Final = "CDRSTORE_CHANGE_LOG_RETENTION"
CHANGE_LOG_RETENTION_DEFAULT: Final = "30d"
CONSOLE_ENV: Final = "CDRSTORE_CONSOLE"
# prometheus_client's own variable; read when it is first imported, so set before any import of it.
MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
BODY_TIMEOUT_DEFAULT: Final = 30.0  # seconds without a byte of a request body (nginx: 60)
WEBHOOK_DELIVERY_ENV: Final = "CDRSTORE_WEBHOOK_DELIVERY"
WEBHOOKS_ALLOW_PRIVATE_ENV: Final = "CDRSTORE_WEBHOOKS_ALLOW_PRIVATE"
WEBHOOKS_HORIZON_ENV: Final = "CDRSTORE_WEBHOOKS_HORIZON"
WEBHOOKS_HORIZON_DEFAULT: Final = 86_400  # seconds an event is retried before it is failed
WEBHOOKS_CHALLENGE_TIMEOUT_ENV: Final = "CDRSTORE_WEBHOOKS_CHALLENGE_TIMEOUT"
WEBHOOKS_CHALLENGE_TIMEOUT_DEFAULT: Final = 10.0  # seconds, as CINNOX allows a receiver
_ON: Final = ("1", "on", "true", "yes")
_OFF: Final = ("0", "off", "false", "no")


def database_url(explicit: str | None = None) -> str:
    """The database to use: the one given, else the environment's, else `cdrstore.db` here."""
    return explicit or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def change_log_retention() -> str:
    """The change log's retention age: the environment's, else 30 days."""
    return os.environ.get(CHANGE_LOG_RETENTION_ENV, "").strip() or CHANGE_LOG_RETENTION_DEFAULT


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
    try:
        from redis.connection import parse_url
    except ImportError:
        raise ValueError(
            f"{REDIS_URL_ENV} needs the redis package: pip install 'cdrstore[redis]'"
        ) from None

    try:
        parse_url(text)  # type: ignore[no-untyped-call]
    except ValueError:
        raise ValueError(
            f"{REDIS_URL_ENV} must be a redis://, rediss:// or unix:// URL (serve --redis-url)"
        ) from None
    return text


def parse_cors_origins(text: str) -> tuple[str, ...]:
    """Origins allowed to call the API from a browser: comma-separated `http(s)://host[:port]`,
    or `*` alone (any origin; credentials are never allowed, so `*` never goes with them)."""
    origins = [item.strip() for item in text.split(",") if item.strip()]
    if "*" in origins:
        if len(origins) > 1:
            raise ValueError(
                f"{CORS_ORIGINS_ENV}: '*' (any origin) must stand alone, got {text!r}"
                " (serve --cors-origin)"
            )
        return ("*",)
    return tuple(dict.fromkeys(_origin(item) for item in origins))


def _origin(text: str) -> str:
    """One origin as a browser sends it (`Origin`): scheme, host, port if not the default."""
    try:
        parts = urlsplit(text)
        port = parts.port  # refuses a port that is not a number from 0 to 65535
    except ValueError:
        port, parts = None, urlsplit("")
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or "?" in text
        or "#" in text
        or (port is None and parts.netloc.endswith(":"))
    ):
        raise ValueError(
            f"{CORS_ORIGINS_ENV} must list origins like https://app.example.com or"
            f" http://localhost:3000 (scheme, host, optional port; no path), comma-separated,"
            f" or '*' alone; got {text!r} (serve --cors-origin)"
        )
    return text.lower()


def flag_from_env(name: str, default: bool) -> bool:
    """A switch: `on`, `1`, `true`, `yes` turn it on, `off`, `0`, `false`, `no` off; unset, the
    default."""
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text not in _ON + _OFF:
        raise ValueError(f"{name} must be on or off (1/0, true/false, yes/no), got {text!r}")
    return text in _ON


def horizon_from_env() -> int:
    """Seconds: a number and a unit of the duration grammar (24h, 2d, 90m)."""
    from datetime import UTC, datetime

    from .durations import lifetime_seconds

    text = os.environ.get(WEBHOOKS_HORIZON_ENV, "").strip()
    if not text:
        return WEBHOOKS_HORIZON_DEFAULT
    try:
        return lifetime_seconds(text, datetime.now(UTC))
    except ValueError as exc:
        raise ValueError(f"{WEBHOOKS_HORIZON_ENV}: {exc} (serve --webhooks-horizon)") from None


def seconds_from_env(name: str, option: str, default: float) -> float:
    text = os.environ.get(name)
    return parse_seconds(text, name, f"serve {option}") if text else default


def _setting(env: str, option: str, help: str) -> dict[str, str]:
    """Where a setting comes from: its variable, and the `serve` option that sets that variable."""
    return {"env": env, "option": option, "help": help}


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        metadata=_setting(
            DATABASE_URL_ENV, "--db", "Database URL (default: sqlite:///cdrstore.db)."
        )
    )
    rate_limit_per_minute: int = field(  # 0: no limit
        default=RATE_LIMIT_DEFAULT_PER_MINUTE,
        metadata=_setting(
            RATE_LIMIT_ENV,
            "--rate-limit",
            f"Requests a minute a token, or 'off' (default: ${RATE_LIMIT_ENV} or 500).",
        ),
    )
    redis_url: str | None = field(  # None: workers count requests in the database
        default=None,
        metadata=_setting(
            REDIS_URL_ENV,
            "--redis-url",
            f"Count rate limits in this Redis (default: ${REDIS_URL_ENV}; else in the database).",
        ),
    )
    body_timeout: float = field(
        default=BODY_TIMEOUT_DEFAULT,
        metadata=_setting(
            BODY_TIMEOUT_ENV,
            "--body-timeout",
            f"Seconds a request body may stall before a 408 (default: ${BODY_TIMEOUT_ENV} or 30).",
        ),
    )
    header_timeout: float = field(  # applied by api/protocol.py, not the app
        default=HEADER_TIMEOUT_DEFAULT,
        metadata=_setting(
            HEADER_TIMEOUT_ENV,
            "--header-timeout",
            f"Seconds for a request's headers before a 408 (default: ${HEADER_TIMEOUT_ENV} or 10).",
        ),
    )
    metrics: bool = field(  # off: /metrics answers 404 like any unknown path
        default=False,
        metadata=_setting(
            METRICS_ENV,
            "--metrics/--no-metrics",
            f"Serve Prometheus metrics at /metrics (default: ${METRICS_ENV}, else off).",
        ),
    )
    cors_origins: tuple[str, ...] = field(  # empty: no CORS headers, as without the setting
        default=(),
        metadata=_setting(
            CORS_ORIGINS_ENV,
            "--cors-origin",
            "Let browser pages from this origin (https://host[:port]) call the API; repeatable,"
            f" or '*' for any (default: ${CORS_ORIGINS_ENV}, comma-separated; else none).",
        ),
    )

    console: bool = field(  # off: /console answers 404 and / goes to /docs
        default=True,
        metadata=_setting(
            CONSOLE_ENV,
            "--console/--no-console",
            f"Serve the web console at /console/ (default: ${CONSOLE_ENV}, else on).",
        ),
    )
    webhook_delivery: bool = field(  # the delivery loop runs in one worker of all (a lease)
        default=True,
        metadata=_setting(
            WEBHOOK_DELIVERY_ENV,
            "--webhook-delivery/--no-webhook-delivery",
            "Deliver webhooks from this server while any subscription is enabled"
            f" (default: ${WEBHOOK_DELIVERY_ENV}, else on).",
        ),
    )
    webhooks_allow_private: bool = field(
        default=False,
        metadata=_setting(
            WEBHOOKS_ALLOW_PRIVATE_ENV,
            "--webhooks-allow-private/--no-webhooks-allow-private",
            "Let webhook receivers be private, loopback or link-local addresses, over http too"
            f" (default: ${WEBHOOKS_ALLOW_PRIVATE_ENV}, else off).",
        ),
    )
    webhooks_horizon: int = field(  # seconds
        default=WEBHOOKS_HORIZON_DEFAULT,
        metadata=_setting(
            WEBHOOKS_HORIZON_ENV,
            "--webhooks-horizon",
            "How long an event is retried before it is marked failed: 30m, 24h, 3d"
            f" (default: ${WEBHOOKS_HORIZON_ENV} or 24h).",
        ),
    )
    webhooks_challenge_timeout: float = field(
        default=WEBHOOKS_CHALLENGE_TIMEOUT_DEFAULT,
        metadata=_setting(
            WEBHOOKS_CHALLENGE_TIMEOUT_ENV,
            "--webhooks-challenge-timeout",
            "Seconds a receiver has to answer the challenge when a subscription is enabled"
            f" (default: ${WEBHOOKS_CHALLENGE_TIMEOUT_ENV} or 10).",
        ),
    )

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
            cors_origins=parse_cors_origins(os.environ.get(CORS_ORIGINS_ENV, "")),
            console=flag_from_env(CONSOLE_ENV, True),
            webhook_delivery=flag_from_env(WEBHOOK_DELIVERY_ENV, True),
            webhooks_allow_private=flag_from_env(WEBHOOKS_ALLOW_PRIVATE_ENV, False),
            webhooks_horizon=horizon_from_env(),
            webhooks_challenge_timeout=seconds_from_env(
                WEBHOOKS_CHALLENGE_TIMEOUT_ENV,
                "--webhooks-challenge-timeout",
                WEBHOOKS_CHALLENGE_TIMEOUT_DEFAULT,
            ),
        )
