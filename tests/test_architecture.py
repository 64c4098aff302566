"""The layers of docs/architecture.md, held against the code's own imports: data flows one way
(HTTP/CLI -> validation -> operations -> store -> database) and no layer reaches around another."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cdrstore"
DRIVERS = ("sqlite3", "psycopg", "sqlalchemy", "alembic")


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """Every module a file imports, absolute, wherever the import stands (lazy ones too)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = node.module or ""
            if node.level:
                target = f"{base}.{target}" if target else base
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    # `from .. import __version__` names the package itself
    return parts[1] if len(parts) > 1 and parts[1] != "__version__" else ""


def layers_reached(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    return {
        layer_of(target) or "__init__"
        for target in imports_of(path, root)
        if target.split(".")[0] == "cdrstore"
    }


SOURCES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
# What each layer may import of cdrstore (besides itself); the domain modules are open to all.
DOMAIN = {
    "contract",
    "record",
    "timestamps",
    "validation",
    "query",
    "errors",
    "durations",
    "tokens",
    "gcpause",
    "settings",
    "zones",
    "statistics",
}
ALLOWED = {
    "store": DOMAIN,
    "ingest": DOMAIN,
    "ops": DOMAIN | {"store", "ingest", "synth", "client", "webhooks"},
    "webhooks": DOMAIN,
    "api": DOMAIN | {"ops", "store", "ingest", "console", "__init__"},
    "console": DOMAIN | {"ops", "store", "export", "__init__"},
    "cli": DOMAIN | {"ops", "store", "ingest", "export", "client", "api", "__init__"},
    "client": DOMAIN,
    "export": DOMAIN,
    "synth": DOMAIN,
    "testing": DOMAIN | {"ops", "store"},
}


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer_of(m) in ALLOWED))
def test_each_layer_imports_only_what_lies_beneath(module):
    layer = layer_of(module)
    reached = layers_reached(SOURCES[module])
    assert reached - {layer} <= ALLOWED[layer], (
        f"{module} reaches {reached - {layer} - ALLOWED[layer]}"
    )


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer_of(m) != "store"))
def test_only_the_store_knows_a_database_driver(module):
    drivers = {t for t in imports_of(SOURCES[module]) if t.split(".")[0] in DRIVERS}
    allowed = {"sqlalchemy.engine.make_url"} if layer_of(module) == "testing" else set()
    assert drivers <= allowed, f"{module} imports {drivers}"


def test_no_dialect_checks_outside_the_store():
    offenders = [
        m for m, p in SOURCES.items() if layer_of(m) != "store" and "dialect.name" in p.read_text()
    ]
    assert offenders == []


def test_only_operations_compose_store_calls():
    # The store's parts are asked for by the operations alone (the API's rate limiter is handed
    # the store's window counter as its counter, and nothing else).
    calls = re.compile(r"\bstore\.(records|accounts)\.")
    offenders = [
        m
        for m, p in SOURCES.items()
        if layer_of(m) not in ("ops", "store") and calls.search(p.read_text())
    ]
    assert offenders == []


def test_the_checks_see_a_violation(tmp_path):
    text = (PACKAGE / "api" / "calls.py").read_text() + "\nimport psycopg\nfrom ..cli import app\n"
    fake = tmp_path / "cdrstore" / "api" / "calls.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(text)
    assert "psycopg" in imports_of(fake, tmp_path)
    assert "cli" in layers_reached(fake, tmp_path) - ALLOWED["api"]
