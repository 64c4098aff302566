"""Fixtures for the webhook tests: a receiver on loopback, and in-process apps configured to
allow it (or, for the SSRF checks, not)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import Store
from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


def in_process(store: Store, db_url: str, **settings: Any) -> TestClient[Any]:
    options = {
        "rate_limit_per_minute": 0,
        "webhook_delivery": False,
        "webhooks_allow_private": True,
        "webhooks_challenge_timeout": 1.0,
        **settings,
    }
    return TestClient(create_app(Settings(db_url, **options), store))


@pytest.fixture
def hooks(store: Store, db_url: str) -> Iterator[TestClient[Any]]:
    """The API with private receivers allowed (the receiver is on loopback), no delivery loop."""
    with in_process(store, db_url) as c:
        yield c


@pytest.fixture
def strict(store: Store, db_url: str) -> Iterator[TestClient[Any]]:
    """The API as deployed: public https receivers only."""
    with in_process(store, db_url, webhooks_allow_private=False) as c:
        yield c


def sub_path(app_id: str, kind: str = "call") -> str:
    return f"/v1/api/apps/{app_id}/{kind}-event-sub"
