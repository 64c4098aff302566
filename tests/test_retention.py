"""`cdrstore retention apply` on each backend: old records go, recent ones and paging stay right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store import open_store
from cdrstore.timestamps import format_timestamp
from tests.conftest import calls_path, record


def ago(days: float) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return format_timestamp(int(moment.timestamp() * 1000))


def load(cli, app_id: str, ages: list[float]) -> str:
    cli("apps", "create", app_id.title(), "--id", app_id)
    token = cli("tokens", "create", "--app", app_id, "--scope", "read").stdout.strip()
    recs = [record(id=f"{app_id}-{i}", callDate=ago(days)) for i, days in enumerate(ages)]
    (cli.dir / f"{app_id}.json").write_bytes(msgspec.json.encode(recs))
    cli("import", "--app", app_id, f"{app_id}.json")
    return token


def served(url: str, app_id: str, token: str) -> list[str]:
    with TestClient(create_app(Settings(url, 0))) as client:
        r = client.get(
            calls_path(app_id), params={"limit": 500}, headers={"Authorization": f"Bearer {token}"}
        )
        return [x["id"] for x in r.json()["result"]]


OLD = [900, 700, 500, 420]  # days: well past 13 months
KEEP = [380, 200, 30, 1]


def test_dry_run_then_apply_for_all_apps(cli):
    a = load(cli, "alpha", OLD + KEEP)
    b = load(cli, "beta", OLD[:2] + KEEP[:1])
    dry = cli("retention", "apply", "--older-than", "13mo", "--dry-run").stdout
    assert "would remove 4 records of app alpha" in dry
    assert "would remove 2 records of app beta" in dry
    assert "would remove 6 records in all" in dry
    assert len(served(cli.url, "alpha", a)) == 8
    done = cli("retention", "apply", "--older-than", "13mo").stdout
    assert "removed 6 records in all" in done
    assert served(cli.url, "alpha", a) == [f"alpha-{i}" for i in range(4, 8)]
    assert served(cli.url, "beta", b) == ["beta-2"]
    store = open_store(cli.url)
    assert store.records.count_records("alpha") == 4 and store.records.count_records("beta") == 1
    if store.engine.dialect.name == "postgresql":
        assert "dropped partition calls_y" in done
        cutoff_month = (datetime.now(UTC) - timedelta(days=400)).strftime("y%Ym%m")
        assert all(
            name < f"calls_{cutoff_month}" for name in done.split() if name.startswith("calls_y")
        )
    again = cli("retention", "apply", "--older-than", "13mo").stdout
    assert "removed 0 records in all" in again
    store.close()


def test_one_app_only_and_reingest_after_retention(cli):
    a = load(cli, "alpha", OLD + KEEP)
    b = load(cli, "beta", OLD + KEEP)
    out = cli("retention", "apply", "--older-than", "13mo", "--app", "alpha").stdout
    assert "removed 4 records of app alpha" in out and "partition" not in out
    assert len(served(cli.url, "alpha", a)) == 4
    assert len(served(cli.url, "beta", b)) == 8
    # an expired record sent again is a new record, stored once
    cli("import", "--app", "alpha", "alpha.json")
    assert len(served(cli.url, "alpha", a)) == 8
    assert sorted(served(cli.url, "alpha", a)) == sorted(f"alpha-{i}" for i in range(8))


def test_bad_age_and_unknown_app(cli):
    bad = cli("retention", "apply", "--older-than", "13 months", check=False)
    assert bad.returncode == 2 and "13mo" in bad.stderr
    assert (
        cli("retention", "apply", "--older-than", "1y", "--app", "ghost", check=False).returncode
        == 1
    )
