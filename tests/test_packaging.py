"""`pip install cdrstore` is the client and the CLI's client mode: they run without the server's
packages (the extras `server`, `postgresql`, `parquet`, `redis`), and what needs one says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdrstore.testing import app_with_token, live_server
from tests.conftest import calls_path, record

ROOT = Path(__file__).resolve().parents[1]
SERVER_PACKAGES = (
    "litestar",
    "sqlalchemy",
    "alembic",
    "uvicorn",
    "psycopg",
    "psycopg_pool",
    "pyarrow",
    "redis",
    "prometheus_client",
    "jinja2",
)
# Runs the CLI (or a snippet) in an interpreter where the server's packages cannot be imported.
WITHOUT_SERVER = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in {SERVER_PACKAGES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
"""


def run_without_server(code: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER + code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


CLI = "import sys; sys.argv[0] = 'cdrstore'; from cdrstore.cli import main; main()"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp("packaging")
    url = f"sqlite:///{work / 'p.db'}"
    token = app_with_token(url, "acme")
    with live_server(url, cwd=work) as base:
        import httpx

        records = [record(id=f"p{i}") for i in range(7)]
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.post(base + calls_path("acme"), json=records, headers=headers).status_code == 200
        )
        yield base, token


def test_the_base_install_leaves_the_server_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert not [p for p in SERVER_PACKAGES if p.replace("_", "-") in base or p in base]
    assert {"server", "postgresql", "parquet", "redis"} <= set(project["optional-dependencies"])


def test_the_blocker_blocks():
    proc = run_without_server("import sqlalchemy")
    assert proc.returncode != 0 and "No module named 'sqlalchemy'" in proc.stderr


def test_client_mode_runs_without_the_server_packages(server):
    base, token = server
    env = {"CDRSTORE_URL": base, "CDRSTORE_APP": "acme", "CDRSTORE_TOKEN": token}
    listed = run_without_server(CLI, "calls", "list", "--format", "ndjson", "--limit", "5", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [
        f"p{i}" for i in range(5)
    ]
    exported = run_without_server(CLI, "calls", "export", "--format", "csv", env=env)
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == 1 + 7
    client = run_without_server(
        "from cdrstore.client import Client\n"
        f"with Client({base!r}, 'acme', {token!r}) as c: print(len(list(c.iter_calls())))"
    )
    assert client.returncode == 0 and client.stdout.strip() == "7", client.stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (("serve", "--port", "1"), "cdrstore[server]"),
        (("apps", "list"), "cdrstore[server]"),
        (("calls", "export", "--format", "parquet", "-o", "x.parquet"), "cdrstore[parquet]"),
    ],
)
def test_what_needs_an_extra_names_it(server, tmp_path, args, extra):
    base, token = server
    env = {"CDRSTORE_URL": base, "CDRSTORE_APP": "acme", "CDRSTORE_TOKEN": token}
    proc = run_without_server(f"import os; os.chdir({str(tmp_path)!r});" + CLI, *args, env=env)
    assert proc.returncode == 1, proc.stderr
    assert extra in proc.stderr and "Traceback" not in proc.stderr
