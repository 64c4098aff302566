"""Errors a person can act on: what a newcomer's first mistakes get back, through HTTP and the CLI."""

from __future__ import annotations

import json

import msgspec

from cdrstore.contract import BATCH_MAX_REPORTED_ERRORS
from cdrstore.record import STATUSES
from tests.conftest import calls_path, record

PATH = calls_path("acme")
JSON = {"Content-Type": "application/json"}


def post(client, auth, body: bytes, content_type: str = "application/json", query: str = ""):
    headers = {**auth, "Content-Type": content_type}
    return client.post(PATH + query, content=body, headers=headers)


def ids(client, auth) -> list[str]:
    return [r["id"] for r in client.get(PATH, headers=auth, params={"limit": 500}).json()["result"]]


# --- enums list what they allow -------------------------------------------------------------------
def test_an_invalid_enum_value_lists_the_allowed_ones(client, auth):
    r = post(client, auth, msgspec.json.encode([record(status="Finished", callType="pstn")]))
    assert r.status_code == 400
    by_field = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert all(status in by_field["status"] for status in STATUSES)
    assert "onnet, offnet, smartcall" in by_field["callType"]


def test_every_field_error_of_a_record_is_listed(client, auth):
    bad = record(status="x", seq="one", colour="red")
    r = post(client, auth, msgspec.json.encode([bad]))
    assert {e["field"] for e in r.json()["errors"]} == {"status", "seq", "colour"}
    assert all(e["index"] == 0 for e in r.json()["errors"])


# --- a byte order mark is not an error ----------------------------------------------------------
def test_a_body_with_a_byte_order_mark_is_read(client, auth):
    bom = b"\xef\xbb\xbf"
    assert post(client, auth, bom + msgspec.json.encode([record(id="j")])).status_code == 200
    ndjson = bom + msgspec.json.encode(record(id="n")) + b"\n"
    assert post(client, auth, ndjson, "application/x-ndjson").status_code == 200
    assert sorted(ids(client, auth)) == ["j", "n"]


# --- a page from any compatible API posts back: nulls read as empty, unknown keys on request -----
def foreign_page() -> bytes:
    rec = {**record(id="f1"), "hid": None, "callerFirstName": None, "vendorExtra": {"x": 1}}
    return msgspec.json.encode({"code": 0, "result": [rec]})


def test_null_reads_as_the_empty_value(client, auth):
    rec = {**record(id="nul"), "hid": None, "seq": None, "isRecording": None}
    assert post(client, auth, msgspec.json.encode([rec])).status_code == 200
    got = client.get(PATH, headers=auth).json()["result"][0]
    assert (got["hid"], got["seq"], got["isRecording"]) == ("", 0, False)


def test_unknown_keys_are_refused_unless_asked_to_ignore_them(client, auth):
    refused = post(client, auth, foreign_page())
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "vendorExtra"
    taken = post(client, auth, foreign_page(), query="?ignoreUnknown=true")
    assert taken.status_code == 200 and taken.json()["result"]["inserted"] == 1
    bad_flag = post(client, auth, foreign_page(), query="?ignoreUnknown=yes")
    assert bad_flag.status_code == 400 and "ignoreUnknown" in bad_flag.json()["message"]


def test_a_single_unwrapped_record_is_explained(client, auth):
    r = post(client, auth, msgspec.json.encode(record()))
    assert r.status_code == 400
    message = r.json()["message"]
    assert "JSON array" in message and "NDJSON" in message and "single record" in message


# --- typos in the query ------------------------------------------------------------------------
def test_a_close_typo_gets_a_suggestion(client, auth):
    r = client.get(PATH, params={"starAt": "2026-01-01T00:00:00Z"}, headers=auth)
    assert r.status_code == 400
    assert r.json()["message"] == "invalid query: starAt (did you mean startAt?)"
    far = client.get(PATH, params={"colour": "red"}, headers=auth)
    assert far.json()["message"] == "invalid query: colour"


# --- import: FILE:LINE, every field error, bounded; BOM; CSV recognised --------------------------
def test_import_reports_file_and_line_for_every_field_error(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    lines = [
        msgspec.json.encode(record(id="ok")),
        b"",  # a blank line still counts as a line of the file
        msgspec.json.encode(record(id="bad", status="x", seq="one")),
    ]
    (cli.dir / "one.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    proc = cli("import", "--app", "acme", "one.ndjson", check=False)
    assert proc.returncode == 1
    assert "one.ndjson:3: status: Invalid enum value 'x'" in proc.stderr
    assert "one.ndjson:3: seq: Expected `int`, got `str`" in proc.stderr
    assert "1 invalid record(s); nothing imported" in proc.stderr


def test_import_lists_a_bounded_number_of_errors(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    lines = [msgspec.json.encode(record(id=f"r{i}", status="x", seq="s")) for i in range(80)]
    (cli.dir / "many.ndjson").write_bytes(b"\n".join(lines))
    proc = cli("import", "--app", "acme", "many.ndjson", check=False)
    listed = [line for line in proc.stderr.splitlines() if line.startswith("many.ndjson:")]
    assert len(listed) == BATCH_MAX_REPORTED_ERRORS
    assert (
        f"80 invalid record(s) (the first {BATCH_MAX_REPORTED_ERRORS} errors listed)" in proc.stderr
    )


def test_import_reads_a_byte_order_mark_and_recognises_csv(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    (cli.dir / "bom.ndjson").write_bytes(b"\xef\xbb\xbf" + msgspec.json.encode(record(id="b")))
    (cli.dir / "bom.json").write_bytes(b"\xef\xbb\xbf" + msgspec.json.encode([record(id="c")]))
    assert "2 inserted" in cli("import", "--app", "acme", "bom.ndjson", "bom.json").stdout
    (cli.dir / "calls.csv").write_text("id,callDate,status\nx,2026-01-01,Busy\n")
    proc = cli("import", "--app", "acme", "calls.csv", check=False)
    assert proc.returncode == 1
    assert "calls.csv looks like CSV" in proc.stderr and "--format" in proc.stderr
    assert "malformed JSON" not in proc.stderr


def test_import_ignore_unknown(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    (cli.dir / "page.json").write_bytes(foreign_page())
    assert cli("import", "--app", "acme", "page.json", check=False).returncode == 1
    done = cli("import", "--app", "acme", "--ignore-unknown", "page.json")
    assert "1 inserted" in done.stdout
    listed = json.loads(cli("export", "--app", "acme", "--format", "json").stdout)
    assert listed[0]["id"] == "f1" and "vendorExtra" not in listed[0]
