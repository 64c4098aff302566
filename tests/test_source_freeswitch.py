"""FreeSWITCH mod_json_cdr (docs/sources/freeswitch.md): posted over HTTP and imported from disk,
on both backends. Failed-call variants and the B-leg are derived from the one real sample."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from cdrstore.api import create_app
from cdrstore.contract import CODE_BAD_REQUEST
from cdrstore.settings import Settings
from tests.conftest import calls_path

SAMPLE = Path(__file__).parent / "data" / "freeswitch" / "answered-call.json"
A_UUID = "3da8bf84-c133-4959-9e24-e72875cb33a1"
B_UUID = "f52c26f1-b018-4963-bf6d-a3111d1a0320"


def sample() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SAMPLE.read_bytes())
    return document


def failed(**variables: str) -> dict[str, Any]:
    """The sample as a call that was never answered: no answer, no bridge, no billed time."""
    document = sample()
    v = document["variables"]
    for name in ("answer", "bridge", "progress", "progress_media"):
        v[f"{name}_epoch"] = v[f"{name}_uepoch"] = "0"
    v["billsec"] = v["billmsec"] = v["billusec"] = "0"
    v.update(variables)
    return document


def busy() -> dict[str, Any]:
    return failed(
        hangup_cause="USER_BUSY", sip_term_status="486", sip_hangup_disposition="send_refuse"
    )


def no_answer() -> dict[str, Any]:
    # rang for the call timeout; only the Q.850 cause, no sip_term_status: derived 480
    return failed(
        hangup_cause="NO_ANSWER",
        progress_uepoch="1515666344594267",
        sip_hangup_disposition="send_refuse",
    )


def cancelled() -> dict[str, Any]:
    return failed(
        hangup_cause="ORIGINATOR_CANCEL",
        progress_uepoch="1515666344594267",
        sip_term_status="487",
        sip_hangup_disposition="recv_cancel",
    )


def unreachable() -> dict[str, Any]:
    return failed(hangup_cause="UNALLOCATED_NUMBER", sip_hangup_disposition="send_refuse")


def b_leg() -> dict[str, Any]:
    """The other leg of the sample's call: its own uuid, tied to the A-leg by
    originating_leg_uuid (its call_uuid reset to its own uuid, as when the A-leg hung up first)."""
    document = sample()
    v = document["variables"]
    v.update(
        uuid=B_UUID,
        direction="outbound",
        call_uuid=B_UUID,
        originating_leg_uuid=A_UUID,
        bridge_uuid=A_UUID,
        sip_hangup_disposition="recv_bye",
        sip_network_ip="198.51.100.22",
        caller_id_number="1001",
        destination_number="1002",
        start_uepoch="1515666344580000",
    )
    document["channel_data"]["direction"] = "outbound"
    return document


# FreeSWITCH's switch_url_encode: escapes control and non-ASCII bytes and SWITCH_URL_UNSAFE, and
# leaves a `%` that already starts `%XX` alone (so it never double-encodes).
URL_UNSAFE = '\r\n #%&+:;<=>?@[\\]^`{|}"'
_ALREADY_ENCODED = re.compile(r"%[0-9A-F]{2}")


def fs_url_encode(text: str) -> str:
    out = []
    data = text.encode()
    i = 0
    while i < len(data):
        byte = data[i]
        if _ALREADY_ENCODED.match(data[i : i + 3].decode("latin-1")):
            out.append(data[i : i + 3].decode())
            i += 3
            continue
        char = chr(byte)
        unsafe = byte < 0x20 or byte > 0x7E or char in URL_UNSAFE
        out.append(f"%{byte:02X}" if unsafe else char)
        i += 1
    return "".join(out)


def url_encoded_values(document: dict[str, Any]) -> dict[str, Any]:
    """As mod_json_cdr sends with encode-values=true (its default)."""
    document = copy.deepcopy(document)
    document["variables"] = {k: fs_url_encode(v) for k, v in document["variables"].items()}
    return document


def form(document: dict[str, Any]) -> bytes:
    """As mod_json_cdr posts with encode=true: the whole document url-encoded in `cdr=`."""
    return b"cdr=" + fs_url_encode(json.dumps(document)).encode()


def path(app_id: str) -> str:
    return f"/v1/api/apps/{app_id}/ingest/freeswitch"


def basic(token: str, user: str = "freeswitch") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def post(
    client: TestClient[Any], headers: dict[str, str], document: dict[str, Any], **params: str
) -> Any:
    return client.post(
        path("acme"),
        content=json.dumps(document).encode(),
        headers={**headers, "Content-Type": "application/json"},
        params=params,
    )


def served(client: TestClient[Any], auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    page = client.get(calls_path("acme"), headers=auth, params={"limit": 500})
    assert page.status_code == 200, page.text
    return {r["callID"] + f"/{r['callSeq']}/{r['status']}": r for r in page.json()["result"]}


def only(client: TestClient[Any], auth: dict[str, str]) -> dict[str, Any]:
    (record,) = served(client, auth).values()
    return record


def test_the_sample_posted_raw_is_served_field_by_field(client, auth):
    response = post(client, auth, sample())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0 and body["result"]["inserted"] == 1
    r = only(client, auth)
    assert r["callDate"] == "2018-01-11T10:25:44.534Z"  # start_uepoch 1515666344534355 us, UTC
    assert r["callEndTime"] == "2018-01-11T10:26:55.494Z"  # end_uepoch 1515666415494269
    assert r["status"] == "Call Ended"
    assert r["lastResponseCode"] == ""  # no sip_term_status in the sample
    assert r["byeReason"] == "NORMAL_CLEARING"
    assert r["releaseParty"] == "callee"  # send_bye on the inbound leg: FreeSWITCH for the callee
    assert r["fromIP"] == "198.51.100.21"
    assert (r["caller"], r["callee"]) == ("1001", "1002")  # from the callflow's caller profile
    assert (r["callID"], r["callSeq"]) == (A_UUID, 1)
    assert (r["callDirection"], r["callType"]) == ("Inbound", "offnet")  # no internal pattern
    assert r["id"].startswith("fs-") and r["recordingEventList"] == []


def test_reposting_changes_nothing(client, auth):
    assert post(client, auth, sample()).json()["result"]["inserted"] == 1
    again = post(client, auth, sample())
    assert again.status_code == 200
    result = again.json()["result"]
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 0, 1)


def test_form_body_and_url_encoded_values_give_the_same_record(client, auth):
    encoded = url_encoded_values(sample())
    assert encoded["variables"]["caller_id"] == "%221001%22%20%3C1001%3E"
    assert post(client, auth, encoded).json()["result"]["inserted"] == 1  # encode-values=true
    assert post(client, auth, sample()).json()["result"]["unchanged"] == 1  # encode-values=false
    response = client.post(  # encode=true, encode-values=false
        path("acme"),
        content=form(sample()),
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["unchanged"] == 1
    r = only(client, auth)
    assert (r["caller"], r["callee"], r["fromIP"]) == ("1001", "1002", "198.51.100.21")


def test_base64_and_the_uuid_mod_json_cdr_appends(client, auth):
    # encode=base64: cdr=<base64>, its own content type; the url gets ?uuid=<leg uuid>
    body = b"cdr=" + base64.b64encode(json.dumps(url_encoded_values(sample())).encode())
    response = client.post(
        path("acme") + f"?uuid={A_UUID}",
        content=body,
        headers={**auth, "Content-Type": "application/x-www-form-base64-encoded"},
    )
    assert response.status_code == 200, response.text
    # a url configured as `...?internal=RE&` becomes `...?internal=RE&?uuid=...`
    response = client.post(
        path("acme") + f"?internal=10%5Cd%5Cd&?uuid={A_UUID}",
        content=json.dumps(sample()).encode(),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["updated"] == 1
    assert only(client, auth)["callType"] == "onnet"


def test_a_plus_and_spaces_survive_both_encodings(client, auth):
    document = sample()
    document["variables"].update(caller_id_number="+852 9123 4567", caller_id_name="Ann & Bo")
    for body in (form(document), json.dumps(url_encoded_values(document)).encode()):
        kind = (
            "application/x-www-form-urlencoded" if body.startswith(b"cdr=") else "application/json"
        )
        response = client.post(path("acme"), content=body, headers={**auth, "Content-Type": kind})
        assert response.status_code == 200, response.text
    r = only(client, auth)
    assert (r["caller"], r["fromDisplayName"]) == ("+852 9123 4567", "Ann & Bo")


def test_encode_with_encode_values_is_refused_naming_both(client, auth):
    # encode-values escapes each value (the caller_id's quotes become %22); encode=true leaves
    # those escapes as they are, so the form's decoding turns them back into quotes inside JSON
    # strings: not one JSON document.
    body = form(url_encoded_values(sample()))
    response = client.post(
        path("acme"),
        content=body,
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    message = response.json()["message"]
    assert response.json()["code"] == CODE_BAD_REQUEST
    assert "encode=true" in message and "encode-values=true" in message
    assert served(client, auth) == {}


def test_failed_calls_map_to_their_status(client, auth):
    cases = {
        "Busy": (busy(), "486", "USER_BUSY", "callee"),
        "Not Answered": (no_answer(), "", "NO_ANSWER", "callee"),
        "Cancelled": (cancelled(), "487", "ORIGINATOR_CANCEL", "caller"),
        "Unreachable": (unreachable(), "", "UNALLOCATED_NUMBER", "callee"),
    }
    for status, (document, code, cause, party) in cases.items():
        document["variables"].update(uuid=f"leg-{status}", call_uuid=f"leg-{status}")
        response = post(client, auth, document)
        assert response.status_code == 200, response.text
    records = {r["status"]: r for r in served(client, auth).values()}
    assert set(records) == set(cases)
    for status, (_, code, cause, party) in cases.items():
        r = records[status]
        assert (r["lastResponseCode"], r["byeReason"], r["releaseParty"]) == (code, cause, party)


def test_a_and_b_legs_share_the_call_id(client, auth):
    assert post(client, auth, sample()).status_code == 200
    assert post(client, basic(auth["Authorization"].split()[1]), b_leg()).status_code == 200
    records = sorted(served(client, auth).values(), key=lambda r: r["callSeq"])
    assert [(r["callID"], r["callSeq"]) for r in records] == [(A_UUID, 1), (A_UUID, 2)]
    assert records[0]["id"] != records[1]["id"]
    assert records[1]["releaseParty"] == "callee"  # recv_bye on the outbound leg
    assert records[1]["fromIP"] == "198.51.100.22"


def test_recording_from_record_path_and_name(client, auth):
    document = sample()
    document["variables"].update(record_path="/rec/2018/01/11", record_name="a%20b.mp3")
    assert post(client, auth, document).status_code == 200
    (event,) = only(client, auth)["recordingEventList"]
    assert event["startAt"] == "2018-01-11T10:25:47.954Z"  # answer_uepoch
    assert event["files"][0]["name"] == "a b.mp3" and event["files"][0]["mimeType"] == "audio/mpeg"


def test_internal_policy_and_recordings(client, auth):
    document = sample()
    document["app_log"]["applications"].append(
        {
            "app_name": "record_session",
            "app_data": "/var/lib/freeswitch/recordings/2018-01-11/call-1001-1002.wav",
            "app_stamp": "1515666347960000",
        }
    )
    document["variables"].update(record_ms="67000", record_file_size="1072044")
    assert post(client, auth, document, internal=r"10\d\d").status_code == 200
    r = only(client, auth)
    assert (r["callDirection"], r["callType"]) == ("Outbound", "onnet")
    assert r["isRecording"] and r["hasAudioFile"]
    (event,) = r["recordingEventList"]
    (file,) = event["files"]
    assert file["name"] == "call-1001-1002.wav" and file["duration"] == 67000
    assert file["size"] == 1072044 and file["type"] == 3 and file["mimeType"] == "audio/x-wav"
    assert event["startAt"] == "2018-01-11T10:25:47.960Z"


def test_bearer_and_basic_are_accepted_and_the_others_refused(client, tokens):
    token = tokens.token("acme", ("ingest",))
    assert post(client, basic(token, user=""), sample()).status_code == 200
    assert post(client, {"Authorization": f"Bearer {token}"}, sample()).status_code == 200
    missing = post(client, {}, sample())
    assert missing.status_code == 401
    challenge = missing.headers["WWW-Authenticate"]
    assert "Bearer" in challenge and "Basic" in challenge
    wrong = post(client, basic("cdr_not-a-token"), sample())
    assert wrong.status_code == 401 and "cdr_not-a-token" not in wrong.text
    garbled = post(client, {"Authorization": "Basic !!!"}, sample())
    assert garbled.status_code == 401 and "!!!" not in garbled.text
    reader = tokens.token("acme", ("read",))
    assert post(client, basic(reader), sample()).status_code == 403
    # elsewhere Basic is not a scheme: the call-detail routes stay Bearer only
    listing = client.get(calls_path("acme"), headers=basic(reader))
    assert listing.status_code == 401


def test_invalid_documents_and_parameters_are_400(client, auth):
    no_start = sample()
    del no_start["variables"]["start_uepoch"]
    response = post(client, auth, no_start)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 0, "field": "start_uepoch", "message": response.json()["errors"][0]["message"]}
    ]
    for value in ("99999999999999999999", "1e15", "-5"):
        far = sample()
        far["variables"]["end_uepoch"] = value
        response = post(client, auth, far)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "end_uepoch"
    odd = sample()
    odd["channel_data"] = ["not", "an", "object"]
    odd["callflow"] = "nothing"
    odd["app_log"] = {"applications": [{"app_name": "record", "app_data": "/r/x.wav"}, 7]}
    odd["variables"].update(record_ms="9" * 40, uuid="odd-leg", call_uuid="odd-leg")
    response = post(client, auth, odd)
    assert response.status_code == 200, response.text
    assert post(client, auth, sample(), color="blue").status_code == 400
    assert post(client, auth, sample(), internal="(").status_code == 400
    assert post(client, auth, sample(), tz="Mars/Olympus").status_code == 400
    assert (
        client.post(
            path("acme"), content=b"x", headers={**auth, "Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    (stored,) = served(client, auth).values()  # only the odd but usable document
    assert stored["callID"] == "odd-leg" and stored["releaseParty"] == "callee"
    assert stored["recordingEventList"][0]["files"][0]["duration"] == 0


def test_openapi_documents_the_route(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/api/apps/{appID}/ingest/freeswitch"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-base64-encoded",
    }
    assert {"bearerAuth": []} in operation["security"] and {"basicAuth": []} in operation[
        "security"
    ]


def test_import_a_file_and_a_directory(cli):
    cli("apps", "create", "Acme", "--id", "acme")
    d = cli.dir
    (d / "one.json").write_text(json.dumps(sample()))
    proc = cli("import", "--app", "acme", "--format", "freeswitch-json", "one.json")
    assert "1 inserted" in proc.stdout
    log = d / "json_cdr"
    log.mkdir()
    (log / f"{A_UUID}.cdr.json").write_text(json.dumps(url_encoded_values(sample())))
    (log / f"{B_UUID}.cdr.json").write_text(json.dumps(b_leg()))
    other = busy()
    other["variables"].update(uuid="busy-leg", call_uuid="busy-leg")
    (log / "busy.json").write_text(json.dumps(other))
    (log / "notes.txt").write_text("not a CDR")
    proc = cli(
        "import", "--app", "acme", "--format", "freeswitch-json", "--internal", "10..", "json_cdr"
    )
    # the A-leg again, now Outbound onnet under --internal: updated; the B-leg and busy: new
    assert "imported 3 records into acme: 2 inserted, 1 updated, 0 unchanged" in proc.stdout
    # what mod_json_cdr writes with encode=true / encode=base64: the escaped text, no cdr=
    escaped = d / "escaped"
    escaped.mkdir()
    (escaped / f"a_{A_UUID}.cdr.json").write_text(fs_url_encode(json.dumps(sample())) + "\n")
    b64 = base64.b64encode(json.dumps(b_leg()).encode()) + b"\n"
    (escaped / f"{B_UUID}.cdr.json").write_bytes(b64)
    proc = cli(
        "import", "--app", "acme", "--format", "freeswitch-json", "--internal", "10..", "escaped"
    )
    assert "imported 2 records into acme: 0 inserted, 0 updated, 2 unchanged" in proc.stdout
    token = cli("tokens", "create", "--app", "acme", "--scope", "read").stdout.strip()
    with TestClient(create_app(Settings(cli.url, 0))) as client:
        page = client.get(calls_path("acme"), headers={"Authorization": f"Bearer {token}"})
    records = {(r["callID"], r["callSeq"], r["status"]) for r in page.json()["result"]}
    assert records == {
        (A_UUID, 1, "Call Ended"),
        (A_UUID, 2, "Call Ended"),
        ("busy-leg", 1, "Busy"),
    }
    bad = d / "bad.json"
    bad.write_text("{}")
    proc = cli("import", "--app", "acme", "--format", "freeswitch-json", "bad.json", check=False)
    assert proc.returncode != 0 and "bad.json index 0: variables:" in proc.stderr
