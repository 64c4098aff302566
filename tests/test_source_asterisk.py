"""`cdrstore import --format asterisk-csv`: Asterisk's Master.csv in, records of the model out,
through the CLI as a user runs it, on both backends."""

from __future__ import annotations

import json

import pytest

# Lines as cdr_csv writes them (every value quoted; 18 columns, then 21 with newcdrcolumns).
PLAIN = [
    # an internal extension calls out; answered; the local time is Hong Kong's (UTC+8)
    '"","2001","+85291234567","from-internal","""Amy Chan"" <2001>","PJSIP/2001-00000001",'
    '"PJSIP/trunk-00000002","Dial","PJSIP/+85291234567@trunk,30","2026-11-02 09:00:00",'
    '"2026-11-02 09:00:05","2026-11-02 09:02:05",125,120,"ANSWERED","DOCUMENTATION",'
    '"1730000000.1",""',
    # a customer calls in; the agent is busy
    '"","+6591234567","2002","from-trunk","""+6591234567"" <+6591234567>","PJSIP/trunk-03",'
    '"PJSIP/2002-04","Dial","PJSIP/2002,20","2026-11-02 10:00:00","","2026-11-02 10:00:03",'
    '3,0,"BUSY","DOCUMENTATION","1730000000.2",""',
    # an internal call nobody answered
    '"","2001","2003","from-internal","""Amy"" <2001>","PJSIP/2001-05","PJSIP/2003-06","Dial",'
    '"PJSIP/2003,20","2026-11-02 11:00:00","","2026-11-02 11:00:20",20,0,"NO ANSWER",'
    '"DOCUMENTATION","1730000000.3",""',
]
# one call transferred: two CDRs sharing a linkedid, ordered by sequence
LINKED = [
    '"","+6591234567","2002","from-trunk","""Bob"" <+6591234567>","PJSIP/trunk-07",'
    '"PJSIP/2002-08","Dial","PJSIP/2002","2026-11-02 12:00:00","2026-11-02 12:00:02",'
    '"2026-11-02 12:01:00",60,58,"ANSWERED","DOCUMENTATION","1730000000.7","","","1730000000.7","41"',
    '"","+6591234567","2004","from-trunk","""Bob"" <+6591234567>","PJSIP/trunk-07",'
    '"PJSIP/2004-09","Dial","PJSIP/2004","2026-11-02 12:01:00","2026-11-02 12:01:01",'
    '"2026-11-02 12:03:00",120,119,"ANSWERED","DOCUMENTATION","1730000000.9","","","1730000000.7","42"',
]
ARGS = ("--format", "asterisk-csv", "--internal", "2[0-9]{3}", "--tz", "Asia/Hong_Kong")


def imported(cli, lines: list[str], *args: str, check: bool = True):
    (cli.dir / "Master.csv").write_text("\n".join(lines) + "\n")
    return cli("import", "--app", "acme", *args, "Master.csv", check=check)


def records(cli) -> list[dict]:
    out = cli("export", "--app", "acme", "--format", "ndjson").stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def acme(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    return cli


def test_master_csv_maps_to_the_model(acme):
    proc = imported(acme, PLAIN, *ARGS)
    assert "3 inserted" in proc.stdout
    out, busy, missed = records(acme)
    assert out["callDate"] == "2026-11-02T01:00:00.000Z"  # 09:00 in Hong Kong
    assert out["callEndTime"] == "2026-11-02T01:02:05.000Z"
    assert (out["status"], out["callDirection"], out["callType"]) == (
        "Call Ended",
        "Outbound",
        "offnet",
    )
    assert (out["caller"], out["callee"], out["fromDisplayName"]) == (
        "2001",
        "+85291234567",
        "Amy Chan",
    )
    assert (busy["status"], busy["callDirection"], busy["callType"]) == (
        "Busy",
        "Inbound",
        "offnet",
    )
    assert (missed["status"], missed["callDirection"], missed["callType"]) == (
        "Not Answered",
        "Outbound",
        "onnet",
    )
    assert out["callID"] == "1730000000.1" and out["id"].startswith("ast-")


def test_reimporting_changes_nothing(acme):
    imported(acme, PLAIN, *ARGS)
    again = imported(acme, PLAIN, *ARGS)
    assert "0 inserted, 0 updated, 3 unchanged" in again.stdout


def test_cdrs_of_one_call_share_its_id_in_sequence(acme):
    imported(acme, LINKED, *ARGS)
    first, second = records(acme)
    assert first["callID"] == second["callID"] == "1730000000.7"
    assert (first["callSeq"], second["callSeq"]) == (41, 42)
    assert first["id"] != second["id"]


def test_times_default_to_utc(acme):
    imported(acme, PLAIN[:1], "--format", "asterisk-csv")
    assert records(acme)[0]["callDate"] == "2026-11-02T09:00:00.000Z"


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_stored(acme):
    bad_time = PLAIN[1].replace("2026-11-02 10:00:00", "yesterday")
    bad_disposition = PLAIN[2].replace('"NO ANSWER"', '"MAYBE"')
    proc = imported(acme, [PLAIN[0], bad_time, '"too","few"', bad_disposition], *ARGS, check=False)
    assert proc.returncode == 1
    assert "Master.csv:2: start (column 10): expected YYYY-MM-DD HH:MM:SS" in proc.stderr
    assert "Master.csv:3: expected 18 or 21 columns" in proc.stderr
    assert "Master.csv:4: disposition (column 15): unknown disposition 'MAYBE'" in proc.stderr
    assert records(acme) == []


def test_bad_policy_options_are_usage_errors(acme):
    assert (
        imported(
            acme, PLAIN, "--format", "asterisk-csv", "--tz", "Mars/Base", check=False
        ).returncode
        == 2
    )
    assert (
        imported(acme, PLAIN, "--format", "asterisk-csv", "--internal", "(", check=False).returncode
        == 2
    )
