"""`cdrstore follow kamailio`: Kamailio's CDR table (contrib/kamailio/) read into an app, checked
field by field through `cdrstore export`; first from hand-written rows (fast, both backends), then
from real SIP calls placed with SIPp through a real Kamailio running the shipped configuration."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, require, run_cli
from tests.support.postgres import create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = ROOT / "contrib" / "kamailio"
SIPP = Path(__file__).resolve().parent / "data" / "sipp"
COLUMNS = (
    "start_time",
    "end_time",
    "duration",
    "call_id",
    "caller",
    "callee",
    "src_ip",
    "sip_code",
    "sip_reason",
    "ring_time",
    "answer_time",
    "reply_time",
    "bye_by",
    "bye_reason",
    "cancelled",
)


def kamailio_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript((CONTRIB / "cdrs.sql").read_text())
    conn.close()
    return path


def add_rows(path: Path, *rows: dict[str, Any]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for row in rows:
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO cdrs ({names}) VALUES ({marks})", tuple(row.values()))
    conn.close()


def exported(cli) -> dict[str, dict[str, Any]]:
    out = cli("export", "--app", "acme", "--format", "ndjson").stdout
    return {rec["callID"]: rec for rec in map(json.loads, out.splitlines())}


ANSWERED = {
    "start_time": "2026-11-02 09:00:00",
    "end_time": "2026-11-02 09:02:05",
    "duration": 125.2,
    "call_id": "a84b4c76e66710@pc33",
    "caller": "2001",
    "callee": "+85291234567",
    "src_ip": "192.0.2.10",
    "sip_code": "200",
    "sip_reason": "OK",
    "ring_time": "1793610001.5",
    "answer_time": "1793610005.25",
    "reply_time": "1793610005.25",
    "bye_by": "callee",
    "bye_reason": 'Q.850;cause=16;text="Normal call clearing"',
}
BUSY = {
    "start_time": "2026-11-02 10:00:00",
    "end_time": "2026-11-02 10:00:00",
    "duration": 0,
    "call_id": "busy-1@host",
    "caller": "+6591234567",
    "callee": "2002",
    "src_ip": "2001:db8::1",
    "sip_code": "486",
    "sip_reason": "Busy Here",
    "reply_time": "1793613600.75",
}
CANCELLED_JULIAN = {  # times as db_sqlite writes a datetime by default: Julian days
    "start_time": 2_461_346.875,  # 2026-11-02T09:00:00Z
    "end_time": 2_461_346.875,
    "call_id": "cancel-1@host",
    "caller": "2001",
    "callee": "2003",
    "sip_code": "487",
    "sip_reason": "Request Terminated",
    "ring_time": "1793610000.5",
    "reply_time": "1793610004.5",
    "cancelled": "1",
}


@pytest.fixture
def acme(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    return cli


def follow_once(cli, source: Path, *args: str, check: bool = True):
    return cli(
        "follow", "kamailio", "--source", f"sqlite:///{source}", "--app", "acme",
        "--internal", "2[0-9]{3}", *args, "--once", check=check,
    )  # fmt: skip


def test_rows_map_to_the_model_and_a_rerun_adds_nothing(acme, tmp_path):
    source = kamailio_db(tmp_path / "kamailio.sqlite")
    add_rows(source, ANSWERED, BUSY)
    proc = follow_once(acme, source)
    assert (
        "2 rows" in proc.stdout and "2 inserted" in proc.stdout and "position id 2" in proc.stdout
    )
    assert "read 2 rows up to id 2" in proc.stderr
    records = exported(acme)
    answered, busy = records["a84b4c76e66710@pc33"], records["busy-1@host"]
    assert answered["id"].startswith("kam-") and answered["callSeq"] == 1
    assert (answered["callDirection"], answered["callType"]) == ("Outbound", "offnet")
    assert (answered["caller"], answered["callee"]) == ("2001", "+85291234567")
    assert answered["callDate"] == "2026-11-02T09:00:00.000Z"
    assert answered["callEndTime"] == "2026-11-02T09:02:05.000Z"
    assert answered["date"] == "20261102"
    assert (answered["status"], answered["lastResponseCode"]) == ("Call Ended", "200")
    assert answered["byeReason"] == 'Q.850;cause=16;text="Normal call clearing"'
    assert (answered["releaseParty"], answered["fromIP"]) == ("callee", "192.0.2.10")
    assert (busy["callDirection"], busy["callType"]) == ("Inbound", "offnet")
    assert (busy["status"], busy["lastResponseCode"], busy["byeReason"]) == (
        "Busy",
        "486",
        "Busy Here",
    )
    # a failed call's end is the final reply the configuration recorded, not acc's end = start
    assert busy["callDate"] == "2026-11-02T10:00:00.000Z"
    assert busy["callEndTime"] == "2026-11-02T10:00:00.750Z"
    assert (busy["releaseParty"], busy["fromIP"]) == ("", "2001:db8::1")

    again = follow_once(acme, source)
    assert "0 rows" in again.stdout and "position id 2" in again.stdout

    add_rows(source, CANCELLED_JULIAN)
    more = follow_once(acme, source)
    assert (
        "1 row " in more.stdout and "1 inserted" in more.stdout and "position id 3" in more.stdout
    )
    records = exported(acme)
    assert len(records) == 3
    cancelled = records["cancel-1@host"]
    assert cancelled["callDate"] == "2026-11-02T09:00:00.000Z"
    assert cancelled["callEndTime"] == "2026-11-02T09:00:04.500Z"
    assert (cancelled["status"], cancelled["callType"]) == ("Cancelled", "onnet")
    assert records["a84b4c76e66710@pc33"] == answered  # untouched


def test_a_postgresql_source(acme, postgres_url, tmp_path):
    """Kamailio writing through db_postgres: the table of cdrs-postgres.sql, timestamps as
    PostgreSQL types."""
    # Kamailio's database, on the admin URL's server (not on the store's, a Citus coordinator
    # under make test-citus).
    source = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/kamailio_{os.getpid()}"
    create_postgres_database(source, POSTGRES_ADMIN_URL)
    try:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute((CONTRIB / "cdrs-postgres.sql").read_text())
            for row in (ANSWERED, BUSY):
                names = ", ".join(row)
                marks = ", ".join("%s" for _ in row)
                conn.execute(f"INSERT INTO cdrs ({names}) VALUES ({marks})", tuple(row.values()))
        proc = acme(
            "follow", "kamailio", "--source", source, "--app", "acme", "--internal",
            "2[0-9]{3}", "--once",
        )  # fmt: skip
        assert "2 inserted" in proc.stdout and "position id 2" in proc.stdout
        records = exported(acme)
        answered, busy = records["a84b4c76e66710@pc33"], records["busy-1@host"]
        assert (answered["callDate"], answered["callEndTime"]) == (
            "2026-11-02T09:00:00.000Z",
            "2026-11-02T09:02:05.000Z",
        )
        assert (answered["status"], answered["releaseParty"]) == ("Call Ended", "callee")
        assert (busy["status"], busy["callEndTime"]) == ("Busy", "2026-11-02T10:00:00.750Z")
        again = acme("follow", "kamailio", "--source", source, "--app", "acme", "--once")
        assert "0 rows" in again.stdout
    finally:
        drop_postgres_database(source, POSTGRES_ADMIN_URL)


def test_the_same_row_read_again_is_unchanged(acme, tmp_path):
    """A row stored before a crash that lost the position (or the same call read from a copy)
    gets the same id: stored once."""
    source = kamailio_db(tmp_path / "kamailio.sqlite")
    add_rows(source, BUSY)
    follow_once(acme, source)
    other = kamailio_db(tmp_path / "copy.sqlite")  # another source URL: its own position
    add_rows(other, BUSY)
    proc = follow_once(acme, other)
    assert "1 unchanged" in proc.stdout
    assert len(exported(acme)) == 1


def test_a_call_id_twice_is_one_record_the_later_row(acme, tmp_path):
    source = kamailio_db(tmp_path / "kamailio.sqlite")
    add_rows(source, BUSY, {**BUSY, "sip_code": "603", "sip_reason": "Decline"})
    proc = follow_once(acme, source)
    assert "2 rows" in proc.stdout and "1 inserted" in proc.stdout
    assert exported(acme)["busy-1@host"]["status"] == "Declined"
    add_rows(source, BUSY)  # once more, in a batch of its own
    assert "1 updated" in follow_once(acme, source).stdout
    assert exported(acme)["busy-1@host"]["status"] == "Busy"


def test_an_invalid_row_stops_with_its_id_and_keeps_the_rows_before(acme, tmp_path):
    source = kamailio_db(tmp_path / "kamailio.sqlite")
    add_rows(source, ANSWERED, {**BUSY, "sip_code": "busy"}, CANCELLED_JULIAN)
    proc = follow_once(acme, source, check=False)
    assert proc.returncode == 1
    assert "row id 2" in proc.stderr and "sip_code" in proc.stderr
    assert list(exported(acme)) == ["a84b4c76e66710@pc33"]
    # fixed in the source, the next run goes on from row 2
    conn = sqlite3.connect(source)
    with conn:
        conn.execute("UPDATE cdrs SET sip_code = '486' WHERE id = 2")
    conn.close()
    proc = follow_once(acme, source)
    assert "2 rows" in proc.stdout and "position id 3" in proc.stdout
    assert len(exported(acme)) == 3


def test_killed_while_following_and_restarted_loses_and_repeats_nothing(acme, tmp_path):
    source = kamailio_db(tmp_path / "kamailio.sqlite")
    rows = [{**BUSY, "call_id": f"call-{n}@host"} for n in range(30)]
    add_rows(source, *rows[:10])
    env = {**os.environ, "CDRSTORE_DATABASE_URL": acme.url, "NO_COLOR": "1"}
    follower = subprocess.Popen(
        [sys.executable, "-m", "cdrstore", "follow", "kamailio", "--source",
         f"sqlite:///{source}", "--app", "acme", "--interval", "1s"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(exported(acme)) < 10:
            assert follower.poll() is None, follower.communicate()
            assert time.monotonic() < deadline, "the follower stored nothing"
            time.sleep(0.2)
        add_rows(source, *rows[10:20])  # the follower may be reading these as it is killed
        time.sleep(0.3)
    finally:
        follower.kill()  # SIGKILL: no clean-up of any kind
        follower.communicate()
    stored = len(exported(acme))
    add_rows(source, *rows[20:])
    proc = follow_once(acme, source)
    # the restart reads exactly the rows the killed run had not committed: none of those it had
    # (they would show as unchanged), none lost
    assert f"{30 - stored} inserted, 0 updated, 0 unchanged; position id 30" in proc.stdout
    assert sorted(exported(acme)) == sorted(row["call_id"] for row in rows)


def test_refusals_are_plain(acme, tmp_path):
    missing = follow_once(acme, tmp_path / "nowhere.sqlite", check=False)
    assert missing.returncode == 1 and "no SQLite file" in missing.stderr
    source = kamailio_db(tmp_path / "kamailio.sqlite")
    other = acme(
        "follow", "kamailio", "--source", "mysql://kam:secret@db/kamailio", "--app", "acme",
        "--once", check=False,
    )  # fmt: skip
    assert other.returncode == 1 and "sqlite:///PATH" in other.stderr
    assert "secret" not in other.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once closed
    unreachable = acme(
        "follow", "kamailio", "--source", f"postgresql://kam:secret@127.0.0.1:{closed}/kam",
        "--app", "acme", "--once", check=False,
    )  # fmt: skip
    assert unreachable.returncode == 1 and "cannot read table cdrs" in unreachable.stderr
    assert "secret" not in unreachable.stderr and "***" in unreachable.stderr
    bad = acme(
        "follow", "kamailio", "--source", f"sqlite:///{source}", "--app", "acme",
        "--interval", "2d", check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "--interval" in bad.stderr
    unknown = acme(
        "follow", "kamailio", "--source", f"sqlite:///{source}", "--app", "nobody", "--once",
        check=False,
    )  # fmt: skip
    assert unknown.returncode == 1 and "nobody" in unknown.stderr


# --- real SIP calls through a real Kamailio ----------------------------------------------------------
# (caller, callee, SIPp scenario of the caller, of the callee or None for nobody listening,
#  then what the record must say: status, lastResponseCode, releaseParty)
REAL_CALLS = [
    ("1001", "2001", "uac_caller_hangs_up", "uas_answers", "Call Ended", "200", "caller"),
    ("1002", "2002", "uac_callee_hangs_up", "uas_answers_hangs_up", "Call Ended", "200", "callee"),
    ("1003", "2003", "uac_fails", "uas_busy", "Busy", "486", ""),
    ("1004", "2004", "uac_fails", "uas_declines", "Declined", "603", ""),
    ("1005", "2005", "uac_fails", "uas_rings_no_answer", "Not Answered", "480", ""),
    ("1006", "2006", "uac_cancels", "uas_rings_until_cancelled", "Cancelled", "487", ""),
    ("1007", "2007", "uac_fails", None, "Unreachable", "408", ""),
]


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


@pytest.fixture
def sip_tools() -> tuple[str, str]:
    kamailio, sipp = _tool("kamailio"), _tool("sipp")
    sqlite_module = any(Path("/usr/lib").glob("*/kamailio/modules/db_sqlite.so")) or any(
        Path("/usr/lib/kamailio/modules").glob("db_sqlite.so")
    )
    found = (("kamailio", kamailio), ("kamailio-sqlite-modules", sqlite_module), ("sipp", sipp))
    if not all(present for _, present in found):
        missing = " and ".join(name for name, present in found if not present)
        install = "apt-get install kamailio kamailio-sqlite-modules sip-tester"
        require(f"{missing} not installed ({install})", "the real Kamailio test")
    return kamailio, sipp


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def sipp(binary: str, scenario: str, port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [binary, *args, "-sf", str(SIPP / f"{scenario}.xml"), "-i", "127.0.0.1"]
    command += ["-p", str(port), "-m", "1", "-nostdin", "-timeout", "15s", "-timeout_error"]
    return subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def place_real_calls(kamailio: str, sipp_binary: str, work: Path) -> Path:
    """Kamailio with the shipped configuration on free ports, and every call of REAL_CALLS placed
    through it with SIPp; returns Kamailio's CDR database once every call's row is there."""
    db = kamailio_db(work / "kamailio.sqlite")
    port = free_udp_port()
    kam_log = work / "kamailio.log"
    kam = subprocess.Popen(
        [kamailio, "-f", str(CONTRIB / "kamailio.cfg"), "-DD", "-E",
         "-A", f"SIP_PORT={port}", "-A", f'CDR_DB="sqlite://{db}"', "-A", "FR_TIMER=2000"],
        stdout=kam_log.open("wb"), stderr=subprocess.STDOUT, cwd=work,
    )  # fmt: skip
    calls: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        deadline = time.monotonic() + 10
        while not udp_port_taken(port):
            assert kam.poll() is None, f"kamailio exited: {kam_log.read_text()}"
            assert time.monotonic() < deadline, f"kamailio not listening: {kam_log.read_text()}"
            time.sleep(0.05)
        answerers = {}
        for caller, callee, _, uas, *_ in REAL_CALLS:
            answerers[caller] = free_udp_port()
            if uas:
                log = work / f"uas-{callee}.log"
                calls.append((f"callee {callee}", sipp(sipp_binary, uas, answerers[caller], log)))
        time.sleep(0.3)
        for caller, callee, uac, *_ in REAL_CALLS:
            # a little apart: db_sqlite has no busy timeout, and two CDRs written in the same
            # instant by two Kamailio processes would lose one (contrib/kamailio/README.md)
            time.sleep(0.15)
            log = work / f"uac-{caller}.log"
            args = (f"127.0.0.1:{answerers[caller]}", "-rsa", f"127.0.0.1:{port}")
            args += ("-key", "caller", caller, "-s", callee)
            calls.append((f"caller {caller}", sipp(sipp_binary, uac, free_udp_port(), log, *args)))
        for name, proc in calls:
            code = proc.wait(30)
            assert code == 0, f"SIPp {name} failed ({code}): {Path(str(proc.args[-1])).name}"
        deadline = time.monotonic() + 10
        while count_rows(db) < len(REAL_CALLS):
            assert time.monotonic() < deadline, f"CDRs missing: {kam_log.read_text()[-3000:]}"
            time.sleep(0.1)
    finally:
        for _, proc in calls:
            stop(proc)
        stop(kam)
    assert "failed to write cdr" not in kam_log.read_text()
    return db


def count_rows(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (n,) = conn.execute("SELECT count(*) FROM cdrs").fetchone()
        return int(n)
    finally:
        conn.close()


def test_real_calls_through_kamailio(sip_tools, tmp_path):
    started = time.monotonic()
    source = place_real_calls(*sip_tools, tmp_path)
    calls_done = time.monotonic()

    env = {
        **os.environ,
        "CDRSTORE_DATABASE_URL": f"sqlite:///{tmp_path / 'cdrstore.db'}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(args, env, tmp_path)

    cli("apps", "create", "Acme", "--id", "acme")
    proc = cli(
        "follow", "kamailio", "--source", f"sqlite:///{source}", "--app", "acme",
        "--internal", "1[0-9]{3}", "--once",
    )  # fmt: skip
    assert f"{len(REAL_CALLS)} rows" in proc.stdout, proc.stdout
    assert f"{len(REAL_CALLS)} inserted" in proc.stdout
    out = cli("export", "--app", "acme", "--format", "ndjson").stdout
    records = {rec["caller"]: rec for rec in map(json.loads, out.splitlines())}
    assert sorted(records) == [call[0] for call in REAL_CALLS]
    for caller, callee, _, _, status, code, release in REAL_CALLS:
        rec = records[caller]
        seen = (rec["callee"], rec["status"], rec["lastResponseCode"], rec["releaseParty"])
        assert seen == (callee, status, code, release), rec
        assert (rec["callDirection"], rec["callType"], rec["fromIP"]) == (
            "Outbound",
            "offnet",
            "127.0.0.1",
        )
        assert rec["callID"] and rec["id"].startswith("kam-")
        assert rec["callEndTime"] >= rec["callDate"], rec
    assert records["1001"]["byeReason"].startswith("Q.850;cause=16")
    assert records["1002"]["byeReason"].startswith("SIP;cause=200")
    assert records["1003"]["byeReason"] == "Busy Here"
    # the unreachable call ends when Kamailio gives up waiting (FR_TIMER, 2 s)
    assert records["1007"]["callEndTime"] > records["1007"]["callDate"]
    again = cli("follow", "kamailio", "--source", f"sqlite:///{source}", "--app", "acme", "--once")
    assert "0 rows" in again.stdout
    print(
        f"real calls: {calls_done - started:.1f} s; follower and checks:"
        f" {time.monotonic() - calls_done:.1f} s"
    )
