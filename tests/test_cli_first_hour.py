"""What a newcomer meets in the first hour with the `cdrstore` command, run as a user runs it."""

from __future__ import annotations

import json
import os

import pytest

from cdrstore import __version__
from tests.conftest import run_cli


def plain_env(**extra: str) -> dict[str, str]:
    """The environment of a user who has set nothing: no database URL, no terminal width."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDRSTORE_")}
    env.pop("COLUMNS", None)
    return {**env, "NO_COLOR": "1", **extra}


def test_version_prints_the_version(tmp_path):
    proc = run_cli(("--version",), plain_env(), tmp_path)
    assert proc.stdout.strip() == __version__


def test_errors_are_one_line_when_stderr_is_not_a_terminal(tmp_path):
    # No COLUMNS: Rich would fold this at 80 columns when it cannot find a terminal width.
    proc = run_cli(
        ("retention", "apply", "--older-than", "13weeks-or-so", "--db", "sqlite:///x.db"),
        plain_env(),
        tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) > 100, proc.stderr
    assert lines[0].startswith("error: --older-than: invalid age '13weeks-or-so'")


# --- one duration grammar -----------------------------------------------------------------------
ALL_UNITS = "s (seconds), m (minutes), h (hours), d (days), w (weeks), mo (months), y (years)"


@pytest.mark.parametrize("lifetime", ["0s", "soon", "12", "3x"])
def test_token_lifetime_errors_list_the_units(cli, lifetime):
    cli("apps", "create", "Acme", "--id", "acme")
    proc = cli(
        "tokens",
        "create",
        "--app",
        "acme",
        "--scope",
        "read",
        "--expires-in",
        lifetime,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--expires-in" in proc.stderr and ALL_UNITS in proc.stderr
    if lifetime == "0s":
        assert "more than zero" in proc.stderr


def test_token_lifetimes_take_months_and_years(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    cli("tokens", "create", "--app", "acme", "--scope", "read", "--expires-in", "1y")
    cli("tokens", "create", "--app", "acme", "--scope", "read", "--expires-in", "2mo")
    listing = cli("tokens", "list", "--app", "acme", "--json").stdout
    rows = [json.loads(line) for line in listing.splitlines()]
    created = [int(r["created"][:4]) for r in rows]
    assert int(rows[0]["expires"][:4]) == created[0] + 1
    assert rows[1]["expires"] > rows[1]["created"]


@pytest.mark.parametrize("age", ["0d", "13m", "12h", "7years"])
def test_retention_ages_share_the_grammar(cli, age):
    proc = cli("retention", "apply", "--older-than", age, "--dry-run", check=False)
    assert proc.returncode == 2 and ALL_UNITS in proc.stderr and "--older-than" in proc.stderr
    if age == "13m":
        assert "13mo" in proc.stderr  # the likely typo is named


@pytest.mark.parametrize("age", ["2w", "1y", "400d", "13mo"])
def test_retention_takes_every_unit_of_a_day_or_more(cli, age):
    assert "records in all" in cli("retention", "apply", "--older-than", age, "--dry-run").stdout
