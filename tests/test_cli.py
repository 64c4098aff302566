"""The `cdrstore` command, run as a user runs it (a subprocess), against a fresh SQLite file."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.settings import Settings
from cdrstore.store.migrate import head_revision
from tests.conftest import calls_path, record


def get(url: str, app_id: str, token: str, **params: Any) -> Any:
    with TestClient(create_app(Settings(url, 0))) as client:
        return client.get(
            calls_path(app_id), params=params, headers={"Authorization": f"Bearer {token}"}
        )


def test_every_command_has_help(cli):
    for args in (
        [],
        ["serve"],
        ["db", "upgrade"],
        ["apps", "create"],
        ["apps", "list"],
        ["tokens", "create"],
        ["tokens", "list"],
        ["tokens", "revoke"],
        ["import"],
        ["demo"],
    ):
        proc = cli(*args, "--help")
        assert "Usage" in proc.stdout


def test_db_upgrade_is_repeatable(cli, tmp_path):
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert "upgraded" in cli("db", "upgrade", "--db", fresh).stderr
    assert "already" in cli("db", "upgrade", "--db", fresh).stderr
    assert str(head_revision()) in cli("db", "upgrade").stderr


def test_apps_create_prints_the_id_alone(cli):
    assert cli("apps", "create", "Acme Ltd", "--id", "acme").stdout == "acme\n"
    generated = cli("apps", "create", "Other").stdout.strip()
    assert generated and "\n" not in generated
    listing = cli("apps", "list", "--json").stdout.splitlines()
    # (in order of creation, by the second: two made in one second are listed by ID)
    assert sorted(json.loads(line)["id"] for line in listing) == sorted(["acme", generated])
    again = cli("apps", "create", "Acme", "--id", "acme", check=False)
    assert again.returncode == 1 and "exists" in again.stderr


def test_apps_create_refuses_a_bad_id(cli):
    proc = cli("apps", "create", "x", "--id", "bad/id", check=False)
    assert proc.returncode == 2 and "invalid app ID" in proc.stderr


def test_tokens_lifecycle(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    token = cli(
        "tokens", "create", "--app", "acme", "--scope", "read", "--scope", "ingest", "--name", "etl"
    ).stdout
    assert token.endswith("\n") and token.count("\n") == 1
    token = token.strip()
    assert token.startswith("cdr_")
    assert get(cli.url, "acme", token).status_code == 200
    listing = cli("tokens", "list", "--app", "acme", "--json").stdout
    assert token not in listing
    row = json.loads(listing)
    assert row["name"] == "etl" and row["scopes"] == ["ingest", "read"] and row["state"] == "active"
    assert token not in cli("tokens", "list", "--app", "acme").stdout
    cli("tokens", "revoke", row["id"])
    assert get(cli.url, "acme", token).status_code == 401
    assert json.loads(cli("tokens", "list", "--app", "acme", "--json").stdout)["state"] == "revoked"


def test_scopes_may_be_comma_separated(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    cli("tokens", "create", "--app", "acme", "--scope", "read,ingest")
    assert json.loads(cli("tokens", "list", "--app", "acme", "--json").stdout)["scopes"] == [
        "ingest",
        "read",
    ]


def test_tokens_revoke_by_secret_and_expiry(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    token = cli(
        "tokens", "create", "--app", "acme", "--scope", "read", "--expires-in", "12h"
    ).stdout.strip()
    assert json.loads(cli("tokens", "list", "--app", "acme", "--json").stdout)["expires"]
    cli("tokens", "revoke", token)
    assert get(cli.url, "acme", token).status_code == 401
    assert cli("tokens", "revoke", "tok_nope", check=False).returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "write"], "--scope"),
        (["--scope", "read", "--expires-in", "soon"], "duration"),
    ],
)
def test_tokens_create_refuses_bad_options(cli, args, message):
    cli("apps", "create", "Acme", "--id", "acme")
    proc = cli("tokens", "create", "--app", "acme", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""


def test_tokens_create_for_unknown_app(cli):
    proc = cli("tokens", "create", "--app", "ghost", "--scope", "read", check=False)
    assert proc.returncode == 1 and "no app" in proc.stderr


def _ids(url: str, token: str) -> list[str]:
    return [r["id"] for r in get(url, "acme", token, limit=500).json()["result"]]


def test_import_formats_and_idempotency(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    token = cli("tokens", "create", "--app", "acme", "--scope", "read").stdout.strip()
    d = cli.dir
    (d / "a.json").write_bytes(msgspec.json.encode([record(id="a1"), record(id="a2")]))
    (d / "b.json").write_bytes(msgspec.json.encode({"code": 0, "result": [record(id="b1")]}))
    (d / "c.ndjson").write_bytes(
        b"\n".join(msgspec.json.encode(record(id=f"c{i}")) for i in range(3)) + b"\n"
    )
    proc = cli("import", "--app", "acme", "a.json", "b.json", "c.ndjson")
    assert "imported 6 records into acme: 6 inserted, 0 updated, 0 unchanged" in proc.stdout
    again = cli(
        "import", "--app", "acme", "a.json", "b.json", "c.ndjson", "--jobs", "1", "--cache-mb", "16"
    )
    assert "0 inserted, 0 updated, 6 unchanged" in again.stdout
    stdin = msgspec.json.encode(record(id="a1", status="Busy")) + b"\n"
    assert "1 updated" in cli("import", "--app", "acme", "-", input=stdin).stdout
    assert sorted(_ids(cli.url, token)) == ["a1", "a2", "b1", "c0", "c1", "c2"]


def test_import_with_an_invalid_record_stores_nothing(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    token = cli("tokens", "create", "--app", "acme", "--scope", "read").stdout.strip()
    d = cli.dir
    (d / "good.ndjson").write_bytes(msgspec.json.encode(record(id="g")) + b"\n")
    lines = [msgspec.json.encode(record(id=f"r{i}")) for i in range(5)]
    lines[3] = msgspec.json.encode(record(id="r3", callDate="2022-13-01T00:00:00Z"))
    (d / "bad.ndjson").write_bytes(b"\n".join(lines))
    proc = cli("import", "--app", "acme", "good.ndjson", "bad.ndjson", check=False)
    assert proc.returncode == 1
    assert "bad.ndjson:4: callDate" in proc.stderr  # FILE:LINE, 1-based
    assert "nothing imported" in proc.stderr
    assert _ids(cli.url, token) == []


def test_import_of_a_file_read_in_ranges_loses_no_line(cli):
    """An NDJSON file on disk is read by the decoding processes a range of bytes each (0.75 MiB
    first, doubling up to 12 MiB): every record is stored once, across the ranges' edges, and a
    position is its line in the whole file, blank lines counted."""
    cli("apps", "create", "Acme", "--id", "acme")
    pad = "x" * 6000  # 2,400 records of 6 kB: five ranges
    lines = [msgspec.json.encode(record(id=f"r{i:04d}", callID=pad)) for i in range(2400)]
    lines[100:100] = [b"", b"  "]  # blank lines count as lines
    (cli.dir / "big.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    proc = cli("import", "--app", "acme", "big.ndjson")
    assert "imported 2,400 records into acme: 2,400 inserted" in proc.stdout, proc.stdout
    token = cli("tokens", "create", "--app", "acme", "--scope", "read").stdout.strip()
    assert get(cli.url, "acme", token, limit=1, offset=2399).json()["result"][0]["id"] == "r2399"
    bad = list(lines)
    bad[2301] = msgspec.json.encode(record(id="late", callDate="2022-13-01T00:00:00Z"))
    bad[2302] = msgspec.json.encode(record(id="r0007"))  # a duplicate, far from its twin
    (cli.dir / "bad.ndjson").write_bytes(b"\n".join(bad))
    proc = cli("import", "--app", "acme", "bad.ndjson", check=False)
    assert proc.returncode == 1 and "bad.ndjson:2302: callDate" in proc.stderr, proc.stderr
    assert "duplicate id 'r0007' (first at bad.ndjson:8)" in proc.stderr, proc.stderr


def test_import_reports_duplicates_across_files(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    d = cli.dir
    (d / "one.json").write_bytes(msgspec.json.encode([record(id="x")]))
    (d / "two.json").write_bytes(msgspec.json.encode([record(id="y"), record(id="x")]))
    proc = cli("import", "--app", "acme", "one.json", "two.json", check=False)
    assert proc.returncode == 1 and "duplicate id 'x' (first at one.json index 0)" in proc.stderr


def test_import_errors(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    (cli.dir / "x.json").write_bytes(b"[{")
    assert "malformed JSON" in cli("import", "--app", "acme", "x.json", check=False).stderr
    assert "no such file" in cli("import", "--app", "acme", "missing.json", check=False).stderr
    assert "no app" in cli("import", "--app", "ghost", "x.json", check=False).stderr
    small = cli("import", "--app", "acme", "x.json", "--cache-mb", "8", check=False)
    assert small.returncode == 2 and "--cache-mb" in small.stderr, small.stderr


def test_demo_creates_then_reuses(cli):
    first = cli("demo", "--records", "300", "--seed", "4")
    token = first.stdout.split("token: ")[1].split()[0]
    assert "curl" in first.stdout and "/v1/api/apps/demo/data/call-detail" in first.stdout
    assert len(get(cli.url, "demo", token, limit=500).json()["result"]) == 300
    second = cli("demo", "--records", "300", "--seed", "4")
    assert "adding none" in second.stderr and "reusing" in second.stderr
    assert second.stdout.split("token: ")[1].split()[0] == token
    assert len(get(cli.url, "demo", token, limit=500).json()["result"]) == 300
    assert oct((cli.dir / "cdrstore-demo.token").stat().st_mode & 0o777) == "0o600"
    cli("tokens", "revoke", token)
    third = cli("demo")
    assert "no longer valid" in third.stderr
    assert third.stdout.split("token: ")[1].split()[0] != token


def test_db_option_overrides_the_environment(cli, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    cli("--db", other, "apps", "create", "X", "--id", "x1")
    cli("apps", "create", "Y", "--id", "y1", "--db", other)
    ids = [
        json.loads(line)["id"]
        for line in cli("apps", "list", "--json", "--db", other).stdout.splitlines()
    ]
    assert ids == ["x1", "y1"]
    assert cli("apps", "list", "--json").stdout == ""


def test_serve_refuses_a_bad_redis_url_before_starting(cli):
    proc = cli("serve", "--redis-url", "nonsense", "--port", "1", check=False)
    assert proc.returncode == 1 and "CDRSTORE_REDIS_URL must be" in proc.stderr
    assert "Traceback" not in proc.stderr
