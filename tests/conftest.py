"""Shared fixtures: a fresh store per test, an in-process client, tokens, and record builders."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import Store, open_store
from cdrstore.tokens import hash_secret, new_secret

BASE_RECORD: dict[str, Any] = {
    "id": "rec-0001",
    "callDirection": "Inbound",
    "callType": "offnet",
    "callDate": "2022-11-07T00:00:00.000Z",
    "status": "Call Ended",
}


def record(**overrides: Any) -> dict[str, Any]:
    """A minimal valid wire record with the given keys replaced."""
    rec = copy.deepcopy(BASE_RECORD)
    rec.update(overrides)
    return rec


def calls_path(app_id: str) -> str:
    return f"/v1/api/apps/{app_id}/data/call-detail"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cdrstore.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.upgrade()
    yield s
    s.close()


class Tokens:
    """Makes apps and tokens directly in the store (the CLI does the same; see test_cli)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def app(self, app_id: str) -> str:
        if self.store.get_app(app_id) is None:
            self.store.create_app(app_id.title(), app_id)
        return app_id

    def token(
        self,
        app_id: str,
        scopes: tuple[str, ...] = ("read", "ingest"),
        expires_at: int | None = None,
    ) -> str:
        self.app(app_id)
        secret = new_secret()
        self.store.add_token(app_id, hash_secret(secret), frozenset(scopes), "test", expires_at)
        return secret

    def headers(self, app_id: str, scopes: tuple[str, ...] = ("read", "ingest")) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(app_id, scopes)}"}


@pytest.fixture
def tokens(store: Store) -> Tokens:
    return Tokens(store)


@pytest.fixture
def client(store: Store, db_url: str) -> Iterator[TestClient[Any]]:
    app = create_app(Settings(db_url, rate_limit_per_minute=0), store)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def auth(tokens: Tokens) -> dict[str, str]:
    """Headers with a read+ingest token for app "acme"."""
    return tokens.headers("acme")
