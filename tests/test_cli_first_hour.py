"""What a newcomer meets in the first hour with the `cdrstore` command, run as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from cdrstore import __version__
from cdrstore.export import CSV_COLUMNS
from tests.conftest import record, run_cli
from tests.test_cli import get


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


# out of range, or digits of another script: refused as plainly (no traceback)
OUT_OF_GRAMMAR = ["99999999d", "999999999w", "\u0669\u0660d"]


@pytest.mark.parametrize("lifetime", ["0s", "soon", "12", "3x", *OUT_OF_GRAMMAR])
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


@pytest.mark.parametrize("age", ["0d", "13m", "12h", "7years", *OUT_OF_GRAMMAR])
def test_retention_ages_share_the_grammar(cli, age):
    proc = cli("retention", "apply", "--older-than", age, "--dry-run", check=False)
    assert proc.returncode == 2 and ALL_UNITS in proc.stderr and "--older-than" in proc.stderr
    if age == "13m":
        assert "13mo" in proc.stderr  # the likely typo is named


@pytest.mark.parametrize("age", ["2w", "1y", "400d", "13mo"])
def test_retention_takes_every_unit_of_a_day_or_more(cli, age):
    assert "records in all" in cli("retention", "apply", "--older-than", age, "--dry-run").stdout


# --- filters: plain dates, errors in the options' names -------------------------------------------
def load(cli, app_id: str, records: list[dict[str, Any]]) -> None:
    cli("apps", "create", app_id.title(), "--id", app_id)
    (cli.dir / f"{app_id}.json").write_bytes(msgspec.json.encode(records))
    cli("import", "--app", app_id, f"{app_id}.json")


def exported_ids(cli, *args: str) -> list[str]:
    out = cli("export", "--app", "acme", "--format", "ndjson", *args).stdout
    return [json.loads(line)["id"] for line in out.splitlines()]


def test_since_and_until_take_a_plain_date_as_midnight_utc(cli):
    dates = {
        "before": "2026-10-31T23:59:59.999Z",
        "midnight": "2026-11-01T00:00:00.000Z",
        "noon": "2026-11-01T12:00:00.000Z",
        "next": "2026-11-02T00:00:00.000Z",
    }
    load(cli, "acme", [record(id=i, callDate=d) for i, d in dates.items()])
    assert exported_ids(cli, "--since", "2026-11-01", "--until", "2026-11-02") == [
        "midnight",
        "noon",
    ]
    assert exported_ids(cli, "--until", "2026-11-01") == ["before"]
    assert "midnight UTC" in cli("export", "--help").stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--since", "yesterday"], "invalid --since: 'yesterday'"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "--until is prior to --since"),
        (["--type", "landline"], "invalid --type: 'landline'"),
        (["--status", "offset"], "invalid --status: 'offset'"),
        (["--offset", "-1"], "negative --offset"),
    ],
)
def test_filter_errors_name_the_option_typed(cli, args, said):
    for command in (["export", "--app", "acme"], ["calls", "list", "--app", "a", "--token", "t"]):
        proc = cli(*command, *args, check=False)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr
        assert not re.search(r"startAt|endAt|callType", proc.stderr)


# --- the format from -o's extension; CSV for spreadsheets ---------------------------------------
def test_output_format_follows_the_file_extension(cli):
    load(cli, "acme", [record(id="a"), record(id="b")])
    export = ("export", "--app", "acme", "-o")
    cli(*export, "calls.csv")
    assert (cli.dir / "calls.csv").read_text().startswith("id,hid,")
    cli(*export, "calls.json")
    assert [r["id"] for r in json.loads((cli.dir / "calls.json").read_text())] == ["a", "b"]
    for name in ("calls.jsonl", "calls.ndjson", "calls.out"):
        cli(*export, name)
        lines = (cli.dir / name).read_text().splitlines()
        assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    cli(*export, "calls.parquet")
    assert (cli.dir / "calls.parquet").read_bytes()[:4] == b"PAR1"


@pytest.mark.parametrize(
    "command", [["export", "--app", "acme"], ["calls", "export", "--app", "a", "--token", "t"]]
)
def test_an_extension_that_disagrees_with_format_is_refused(cli, command):
    proc = cli(*command, "--format", "json", "-o", "calls.csv", check=False)
    assert proc.returncode == 2 and "--format json" in proc.stderr and "csv" in proc.stderr
    assert not (cli.dir / "calls.csv").exists()
    excel = cli(*command, "--excel", "--format", "ndjson", check=False)
    assert excel.returncode == 2 and "--excel" in excel.stderr


SPREADSHEET_RECORDS = [
    record(
        id="talked",
        callDate="2026-11-01T09:00:00.000Z",
        callEndTime="2026-11-01T09:01:13.400Z",
        caller="+85212345678",
        callee="+6591234567",
        fromDisplayName="Zoë Łukasz",
    ),
    record(id="unfinished", callDate="2026-11-01T10:00:00.000Z", caller="2001"),
]


def test_excel_csv_has_a_bom_keeps_the_plus_and_adds_talk_time(cli):
    load(cli, "acme", SPREADSHEET_RECORDS)
    cli("export", "--app", "acme", "--excel", "-o", "calls.csv")
    raw = (cli.dir / "calls.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == [*CSV_COLUMNS, "talkTimeSeconds"]
    talked, unfinished = rows
    assert talked["caller"] == '="+85212345678"' and talked["callee"] == '="+6591234567"'
    assert talked["fromDisplayName"] == "Zoë Łukasz"
    assert talked["talkTimeSeconds"] == "73" and unfinished["talkTimeSeconds"] == ""
    assert unfinished["caller"] == "2001"
    # --excel alone means CSV, on stdout too
    assert cli("export", "--app", "acme", "--excel").stdout.startswith("\ufeffid,")


def test_excel_csv_neither_runs_formulas_nor_loses_leading_zeros(cli):
    hostile = [
        record(id="f1", callerFirstName='=HYPERLINK("http://x")', callee="0212345678"),
        record(id="f2", callerFirstName="-1+1", calleeFirstName="@SUM(A1)", byeReason="\tx"),
    ]
    load(cli, "acme", hostile)
    cli("export", "--app", "acme", "--excel", "-o", "calls.csv")
    text = (cli.dir / "calls.csv").read_bytes().decode("utf-8-sig")
    first, second = csv.DictReader(io.StringIO(text, newline=""))
    assert first["callerFirstName"] == '="=HYPERLINK(""http://x"")"'
    assert first["callee"] == '="0212345678"'
    assert second["callerFirstName"] == '="-1+1"' and second["calleeFirstName"] == '="@SUM(A1)"'
    assert second["byeReason"] == '="\tx"'


def test_plain_csv_is_unchanged(cli):
    load(cli, "acme", SPREADSHEET_RECORDS)
    raw = cli("export", "--app", "acme", "--format", "csv").stdout.encode()
    assert raw.startswith(b"id,hid,")
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["caller"] == "+85212345678"


# --- apps delete ----------------------------------------------------------------------------------
def app_ids(cli) -> list[str]:
    return [json.loads(line)["id"] for line in cli("apps", "list", "--json").stdout.splitlines()]


def test_apps_delete_removes_the_app_its_records_and_tokens(cli):
    load(
        cli, "acme", [record(id=f"a{i}", callDate=f"2026-0{i + 1}-01T00:00:00Z") for i in range(3)]
    )
    load(cli, "other", [record(id="a0"), record(id="o1")])
    acme_token = cli("tokens", "create", "--app", "acme", "--scope", "read").stdout.strip()
    other_token = cli("tokens", "create", "--app", "other", "--scope", "read").stdout.strip()

    unconfirmed = cli("apps", "delete", "acme", check=False)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    in_use = cli("apps", "delete", "acme", "--yes", check=False)
    assert in_use.returncode == 1 and "active token" in in_use.stderr and "--force" in in_use.stderr
    assert app_ids(cli) == ["acme", "other"]
    assert len(get(cli.url, "acme", acme_token).json()["result"]) == 3

    done = cli("apps", "delete", "acme", "--yes", "--force")
    assert done.stdout == "deleted app acme: 3 records, 1 token\n"
    assert app_ids(cli) == ["other"]
    assert get(cli.url, "acme", acme_token).status_code == 401  # its token went with it
    assert cli("tokens", "list", "--app", "acme", check=False).returncode == 1
    assert [r["id"] for r in get(cli.url, "other", other_token).json()["result"]] == ["a0", "o1"]
    assert cli("apps", "delete", "acme", "--yes", check=False).returncode == 1  # gone

    # the same ID can be made again, empty, and take the same record IDs
    load(cli, "acme", [record(id="a0")])
    assert json.loads(cli("apps", "list", "--json").stdout.splitlines()[-1])["records"] == 1


def test_apps_delete_without_active_tokens_needs_no_force(cli):
    load(cli, "acme", [record(id="a")])
    token = cli("tokens", "create", "--app", "acme", "--scope", "read").stdout.strip()
    first = cli("tokens", "revoke", token)
    assert "revoked" in first.stderr and "already" not in first.stderr
    again = cli("tokens", "revoke", token)
    assert again.returncode == 0 and "already revoked" in again.stderr
    assert cli("apps", "delete", "acme", "--yes").stdout == "deleted app acme: 1 record, 1 token\n"


def test_import_says_record_for_one(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    proc = cli("import", "--app", "acme", "-", input=msgspec.json.encode(record()) + b"\n")
    assert proc.stdout.startswith("imported 1 record into acme: 1 inserted")


# --- the demo -------------------------------------------------------------------------------------
def test_demo_weeks_end_at_the_present_hour(cli):
    started = datetime.now(UTC)
    shown = cli("demo", "--records", "2000", "--base-url", "http://127.0.0.1:9123").stdout
    assert "docs:    http://127.0.0.1:9123/docs" in shown
    assert "console: http://127.0.0.1:9123/console/" in shown
    assert "curl --request GET --url 'http://127.0.0.1:9123/v1/api/apps/demo/" in shown
    out = cli("export", "--app", "demo", "--format", "ndjson").stdout
    dates = [datetime.fromisoformat(json.loads(line)["callDate"]) for line in out.splitlines()]
    assert len(dates) == 2000
    hour = started.replace(minute=0, second=0, microsecond=0)
    assert max(dates) < hour + timedelta(hours=1)  # nothing in the future
    assert max(dates) > started - timedelta(days=2)  # the last calls are recent
    assert min(dates) >= hour - timedelta(days=60, hours=1)


# --- the default database file is not created by a command that only reads ---------------------
@pytest.mark.parametrize(
    "args",
    [
        ["apps", "list"],
        ["tokens", "list", "--app", "demo"],
        ["tokens", "revoke", "tok_abc"],
        ["export", "--app", "demo"],
        ["retention", "apply", "--older-than", "90d", "--dry-run"],
        ["apps", "delete", "demo", "--yes"],
        ["import", "--app", "demo", "-"],  # it needs an app, so an existing database
    ],
)
def test_a_reading_command_does_not_create_the_default_database(tmp_path, args):
    proc = run_cli(tuple(args), plain_env(), tmp_path, check=False)
    assert proc.returncode == 1
    assert f"no database at {tmp_path / 'cdrstore.db'}" in proc.stderr
    assert "--db" in proc.stderr and "CDRSTORE_DATABASE_URL" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_writing_command_still_creates_the_default_database(tmp_path):
    assert run_cli(("apps", "create", "Acme", "--id", "acme"), plain_env(), tmp_path).stdout
    assert (tmp_path / "cdrstore.db").is_file()
    listing = run_cli(("apps", "list", "--json"), plain_env(), tmp_path).stdout
    assert json.loads(listing)["id"] == "acme"


# --- serve checks its port before it says it serves --------------------------------------------
def test_serve_refuses_a_taken_port_before_its_banner(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = str(held.getsockname()[1])
        env = plain_env(CDRSTORE_DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}")
        for extra in (["--check"], []):
            proc = run_cli(("serve", "--port", port, *extra), env, tmp_path, check=False)
            assert proc.returncode == 1, proc.stderr
            assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
            assert "--port" in proc.stderr and "PORT=9000 make run" in proc.stderr
            assert "serving" not in proc.stderr and "Errno" not in proc.stderr
    free = run_cli(("serve", "--port", port, "--check"), env, tmp_path)
    assert "is free" in free.stderr and not (tmp_path / "s.db").exists()


# --- client mode: a server that is not there ----------------------------------------------------
def test_calls_says_which_url_failed_and_how_to_set_it(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    env = plain_env(CDRSTORE_APP="demo", CDRSTORE_TOKEN="cdr_" + "x" * 43)
    given = run_cli(("calls", "list", "--base-url", f"http://127.0.0.1:{port}"), env, tmp_path,
                    check=False)  # fmt: skip
    assert given.returncode == 1
    assert f"cannot reach the API at http://127.0.0.1:{port} (from --base-url)" in given.stderr
    assert "CDRSTORE_URL" in given.stderr and "ConnectError" in given.stderr
    from_env = run_cli(("calls", "export"), {**env, "CDRSTORE_URL": f"http://127.0.0.1:{port}"},
                       tmp_path, check=False)  # fmt: skip
    assert from_env.returncode == 1 and "(from $CDRSTORE_URL)" in from_env.stderr
    bare = run_cli(("calls", "list", "--base-url", f"127.0.0.1:{port}"), env, tmp_path,
                   check=False)  # fmt: skip
    assert bare.returncode == 2 and "must start with http:// or https://" in bare.stderr
    assert "UnsupportedProtocol" not in bare.stderr


# --- help -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args", [["tokens", "create"], ["import"], ["export"], ["apps", "delete"], ["serve"]]
)
def test_help_shows_no_python_types(tmp_path, args):
    shown = run_cli((*args, "--help"), plain_env(), tmp_path).stdout
    assert "<bool>" not in shown and "list[" not in shown, shown
