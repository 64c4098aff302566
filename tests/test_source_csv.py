"""`cdrstore import --format csv --mapping FILE.toml` (and `--infer`): any CSV export, mapped to
the record model, through the CLI as a user runs it, on both backends."""

from __future__ import annotations

import json

import pytest

EXPORT = """Call ID;Start;End;From;To;Result;Agent;Recorded
c-1;02/11/2026 09:00;02/11/2026 09:02;2001;+85291234567;ANSWERED;Amy;yes
c-2;02/11/2026 10:00;;+6591234567;2002;NO ANSWER;;no
"""
MAPPING = """
[source]
delimiter = ";"
time_format = "%d/%m/%Y %H:%M"
tz = "Asia/Hong_Kong"

[fields]
id = { column = "Call ID" }
callDate = { column = "Start" }
callEndTime = { column = "End" }
caller = { column = "From" }
callee = { column = "To" }
status = { column = "Result", map = { "ANSWERED" = "Call Ended", "NO ANSWER" = "Not Answered" } }
lastHandledParty = { column = "Agent" }
isRecording = { column = "Recorded" }
recordType = { value = "call" }
"""


@pytest.fixture
def acme(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    (cli.dir / "export.csv").write_text(EXPORT)
    (cli.dir / "map.toml").write_text(MAPPING)
    return cli


def records(cli) -> list[dict]:
    out = cli("export", "--app", "acme", "--format", "ndjson").stdout
    return [json.loads(line) for line in out.splitlines()]


def run(cli, *args: str, check: bool = True):
    return cli("import", "--app", "acme", "--format", "csv", *args, check=check)


def test_a_mapped_export_becomes_records(acme):
    proc = run(acme, "--mapping", "map.toml", "--internal", "2[0-9]{3}", "export.csv")
    assert "2 inserted" in proc.stdout
    first, second = records(acme)
    assert first["id"] == "c-1" and first["callDate"] == "2026-11-02T01:00:00.000Z"
    assert first["callEndTime"] == "2026-11-02T01:02:00.000Z"
    assert (first["status"], first["callDirection"], first["callType"]) == (
        "Call Ended",
        "Outbound",
        "offnet",
    )
    assert first["isRecording"] is True and first["lastHandledParty"] == "Amy"
    assert (second["status"], second["callDirection"], second["callEndTime"]) == (
        "Not Answered",
        "Inbound",
        "",
    )
    again = run(acme, "--mapping", "map.toml", "--internal", "2[0-9]{3}", "export.csv")
    assert "2 unchanged" in again.stdout


def test_without_an_id_column_ids_come_from_the_row_and_stay_the_same(acme):
    (acme.dir / "noid.toml").write_text(MAPPING.replace('id = { column = "Call ID" }\n', ""))
    run(acme, "--mapping", "noid.toml", "export.csv")
    ids = [r["id"] for r in records(acme)]
    assert all(i.startswith("csv-") for i in ids) and len(set(ids)) == 2
    assert "2 unchanged" in run(acme, "--mapping", "noid.toml", "export.csv").stdout


def test_errors_give_file_line_and_column(acme):
    bad = EXPORT.replace("02/11/2026 10:00", "tomorrow").replace("NO ANSWER", "MAYBE")
    (acme.dir / "bad.csv").write_text(bad)
    proc = run(acme, "--mapping", "map.toml", "bad.csv", check=False)
    assert proc.returncode == 1
    assert (
        "bad.csv:3:2: callDate (column 'Start'): expected a time as '%d/%m/%Y %H:%M'" in proc.stderr
    )
    assert records(acme) == []


def test_a_value_the_map_misses_is_refused_by_the_record_rules(acme):
    (acme.dir / "odd.csv").write_text(EXPORT.replace("NO ANSWER", "MAYBE"))
    proc = run(acme, "--mapping", "map.toml", "odd.csv", check=False)
    assert proc.returncode == 1 and "odd.csv:3: status: Invalid enum value 'MAYBE'" in proc.stderr


def test_bad_mappings_are_usage_errors(acme):
    assert "--mapping" in run(acme, "export.csv", check=False).stderr
    (acme.dir / "typo.toml").write_text('[fields]\ncalDate = { column = "Start" }\n')
    typo = run(acme, "--mapping", "typo.toml", "export.csv", check=False)
    assert typo.returncode == 2 and "did you mean callDate?" in typo.stderr
    (acme.dir / "gone.toml").write_text(MAPPING.replace('"Agent"', '"Handler"'))
    gone = run(acme, "--mapping", "gone.toml", "export.csv", check=False)
    assert gone.returncode == 1 and "no column 'Handler'" in gone.stderr


def test_infer_prints_a_starting_mapping_that_imports(acme):
    inferred = acme("import", "--format", "csv", "--infer", "export.csv").stdout
    assert 'delimiter = ";"' in inferred
    assert (
        'callDate = { column = "Start" }' in inferred and 'caller = { column = "From" }' in inferred
    )
    assert 'status = { column = "Result" }' in inferred
    edited = inferred.replace('"%Y-%m-%d %H:%M:%S"', '"%d/%m/%Y %H:%M"').replace(
        'status = { column = "Result" }',
        'status = { column = "Result", map = { "ANSWERED" = "Call Ended", "NO ANSWER" = "Not Answered" } }',
    )
    (acme.dir / "inferred.toml").write_text(edited)
    assert "2 inserted" in run(acme, "--mapping", "inferred.toml", "export.csv").stdout
