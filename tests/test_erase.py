"""`cdrstore erase` on each backend: every record naming the number goes, in one transaction that
logs the deletes (the change feed and the per-hour counts stay right); --dry-run changes nothing.
And `cdrstore retention apply` trims the change log to its retention."""

from __future__ import annotations

import os

import msgspec

from cdrstore.ops.stats import call_stats
from cdrstore.query import parse_call_query, parse_stats_query
from cdrstore.store import open_store
from tests.conftest import record, run_cli

NUMBER_FORMS = {"e-0": "+1 555-0100", "e-1": "15550100", "e-2": "1-555-0100"}


def load(cli) -> None:
    cli("apps", "create", "Acme", "--id", "acme")
    recs = [record(id=eid, caller=form) for eid, form in NUMBER_FORMS.items()]
    recs += [
        record(id="e-3", callee="+15550100", callDate="2022-12-01T00:00:00Z"),
        record(id="e-4", callPrepareFromNum="1555 0100"),
        record(id="keep-0", caller="15550101", callee="5550100"),  # neither is the number
        record(id="keep-1"),
    ]
    (cli.dir / "acme.json").write_bytes(msgspec.json.encode(recs))
    cli("import", "--app", "acme", "acme.json")


def exported(cli) -> list[str]:
    out = cli("export", "--app", "acme", "--format", "ndjson").stdout
    return sorted(msgspec.json.decode(line)["id"] for line in out.splitlines())


def log_of(url: str) -> tuple[list[tuple[str, str]], int]:
    store = open_store(url)
    try:
        changes = store.records.changes("acme", 0, 1000)
        return [(c.op, c.id) for c in changes], store.records.count_records("acme")
    finally:
        store.close()


def statistics_and_search(url: str) -> tuple[int, list[bytes]]:
    """The app's call total from the statistics, and the records the number search finds."""
    store = open_store(url)
    try:
        (total,) = call_stats(store, "acme", parse_stats_query([]))
        return total.calls, store.records.page(
            "acme", parse_call_query([("number", "15550100")])
        ).docs
    finally:
        store.close()


def test_dry_run_changes_nothing_then_erase_removes_and_logs(cli):
    load(cli)
    before = log_of(cli.url)
    dry = cli("erase", "--app", "acme", "--number", "+1 555 0100", "--dry-run")
    assert "would remove 5 records of app acme" in dry.stdout
    assert exported(cli) == ["e-0", "e-1", "e-2", "e-3", "e-4", "keep-0", "keep-1"]
    assert log_of(cli.url) == before

    done = cli("erase", "--app", "acme", "--number", "+15550100").stdout.splitlines()
    assert done == [
        "e-0",
        "e-1",
        "e-2",
        "e-3",
        "e-4",
        "removed 5 records of app acme naming that number",
    ]
    assert exported(cli) == ["keep-0", "keep-1"]
    log, counted = log_of(cli.url)
    assert log[-5:] == [("delete", i) for i in ["e-0", "e-1", "e-2", "e-3", "e-4"]]
    assert counted == 2  # the per-hour counts moved with the records
    assert statistics_and_search(cli.url) == (2, [])  # so did the rollups and the number index

    again = cli("erase", "--app", "acme", "--number", "15550100").stdout
    assert "removed 0 records" in again and log_of(cli.url)[0] == log


def test_refusals(cli):
    load(cli)
    unknown = cli("erase", "--app", "ghost", "--number", "1", check=False)
    assert unknown.returncode == 1 and "ghost" in unknown.stderr
    empty = cli("erase", "--app", "acme", "--number", " - +", check=False)
    assert empty.returncode == 2 and "--number" in empty.stderr
    missing = cli("erase", "--app", "acme", check=False)
    assert missing.returncode == 2


def test_retention_apply_trims_the_change_log(cli):
    load(cli)
    store = open_store(cli.url)
    try:
        with store.engine.begin() as connection:  # as if logged two days ago
            for table in ("change_log", "change_marks"):
                connection.exec_driver_sql(
                    f"UPDATE {table} SET logged_at = logged_at - 172800000 WHERE app_id = 'acme'"
                )
    finally:
        store.close()
    env = {**os.environ, "CDRSTORE_DATABASE_URL": cli.url, "CDRSTORE_CHANGE_LOG_RETENTION": "1d"}
    dry = run_cli(("retention", "apply", "--older-than", "10y", "--dry-run"), env, cli.dir)
    assert "change log" not in dry.stdout
    done = run_cli(("retention", "apply", "--older-than", "10y"), env, cli.dir).stdout
    assert "trimmed 7 change log entries" in done and "CDRSTORE_CHANGE_LOG_RETENTION=1d" in done
    assert log_of(cli.url)[0] == []
    bad = run_cli(
        ("retention", "apply", "--older-than", "10y"),
        {**env, "CDRSTORE_CHANGE_LOG_RETENTION": "12h"},
        cli.dir,
        check=False,
    )
    assert bad.returncode == 2 and "CDRSTORE_CHANGE_LOG_RETENTION" in bad.stderr
