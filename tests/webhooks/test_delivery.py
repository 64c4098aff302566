"""Delivery from the change log to a real receiver on loopback: every inserted record once, signed
as Standard Webhooks verifies, in order; retries, failures that stay visible, retry and replay;
one app's dead receiver delays nobody else."""

from __future__ import annotations

import json
import time

from tests.conftest import record
from tests.support.receiver import running_receiver
from tests.webhooks.conftest import delivery_process, in_process, ingest, numbered, subscribe


def test_every_inserted_record_is_one_callend_delivery_signed_and_in_order(
    delivering, tokens, receiver
):
    secret = subscribe(delivering, tokens, receiver)
    for start in range(0, 1000, 250):
        ingest(delivering, tokens, numbered(start, 250))
    receiver.wait_for(1000)
    ingest(delivering, tokens, numbered(0, 10))  # sent again, unchanged: no change, no event
    ingest(
        delivering,
        tokens,
        [record(id="rec-00001", svcID="svc-1", callDate="2025-01-01T00:00:01.000Z", caller="123")],
    )  # an update: no call event
    time.sleep(2)
    payloads = receiver.verified(secret)  # raises unless every signature verifies
    assert len(payloads) == 1000
    assert [p["message"]["id"] for p in payloads] == [f"rec-{i:05d}" for i in range(1000)]
    for p in payloads:
        assert p["type"] == "message"
        message = p["message"]
        assert set(message) == {"id", "status", "serviceId", "record"}
        assert message["status"] == "CallEnd"
        assert len(message["record"]) == 46
        assert message["record"]["id"] == message["id"]
        assert (
            message["serviceId"]
            == message["record"]["svcID"]
            == f"svc-{int(message['id'][4:]) % 7}"
        )
    ids = [e.headers["webhook-id"] for e in receiver.events]
    assert len(set(ids)) == 1000


def test_recording_events_for_records_with_recording_files(delivering, tokens, receiver):
    secret = subscribe(delivering, tokens, receiver, kind="recording")
    files = [
        {"recorderEID": "r1", "files": [{"id": "f1", "name": "a.mp3", "mimeType": "audio/mpeg"}]}
    ]
    ingest(
        delivering,
        tokens,
        [
            record(id="plain", svcID="s1"),
            record(id="with-files", svcID="s2", isRecording=True, recordingEventList=files),
        ],
    )
    receiver.wait_for(1)
    ingest(
        delivering,
        tokens,
        [record(id="plain", svcID="s1", isRecording=True, recordingEventList=files)],
    )  # updated: now has files
    receiver.wait_for(2)
    time.sleep(1)
    assert receiver.verified(secret) == [
        {
            "type": "message",
            "message": {"type": "call", "status": "success", "serviceId": "s2", "id": "with-files"},
        },
        {
            "type": "message",
            "message": {"type": "call", "status": "success", "serviceId": "s1", "id": "plain"},
        },
    ]


def test_receiver_down_then_up_everything_arrives_in_order(delivering, tokens, receiver, cli):
    secret = subscribe(delivering, tokens, receiver)
    receiver.stop()
    ingest(delivering, tokens, numbered(0, 40))
    time.sleep(3)  # attempts meet a closed port
    pending = [
        json.loads(line)
        for line in cli("webhooks", "deliveries", "--app", "acme", "--json").stdout.splitlines()
    ]
    assert pending and {row["state"] for row in pending} == {"pending"}
    assert max(row["attempts"] for row in pending) >= 2
    assert any("cannot reach 127.0.0.1" in (row["lastError"] or "") for row in pending)
    receiver.start()  # the same port
    receiver.wait_for(40, timeout=30)
    time.sleep(1)
    assert [p["message"]["id"] for p in receiver.verified(secret)] == [
        f"rec-{i:05d}" for i in range(40)
    ]


def test_retry_after_is_honoured_and_5xx_retried_with_the_same_webhook_id(
    delivering, tokens, receiver
):
    secret = subscribe(delivering, tokens, receiver)
    receiver.statuses = [429, 503]
    receiver.retry_after = "3"
    ingest(delivering, tokens, numbered(0, 2))
    events = receiver.wait_for(4, timeout=30)
    assert [e.payload["message"]["id"] for e in events] == ["rec-00000"] * 3 + ["rec-00001"]
    assert len({e.headers["webhook-id"] for e in events[:3]}) == 1
    assert events[1].at - events[0].at >= 2.9  # Retry-After: 3
    receiver.verified(secret)


def test_a_4xx_fails_at_once_stays_visible_then_retry_sends_it(delivering, tokens, receiver, cli):
    subscribe(delivering, tokens, receiver)
    receiver.status = 410
    ingest(delivering, tokens, numbered(0, 3))
    receiver.wait_for(3)
    time.sleep(1)
    assert len(receiver.events) == 3  # each tried once: a 410 is not retried
    failed = [
        json.loads(line)
        for line in cli(
            "webhooks", "deliveries", "--app", "acme", "--state", "failed", "--json"
        ).stdout.splitlines()
    ]
    assert sorted(row["recordId"] for row in failed) == ["rec-00000", "rec-00001", "rec-00002"]
    assert {(row["state"], row["attempts"], row["lastStatus"]) for row in failed} == {
        ("failed", 1, 410)
    }
    table = cli("webhooks", "deliveries", "--app", "acme").stdout
    assert "failed" in table and "HTTP 410" in table
    first_ids = [e.headers["webhook-id"] for e in receiver.events]

    receiver.status = 200
    said = cli("webhooks", "retry", "--app", "acme").stdout
    assert "3 failed events of app acme queued again" in said
    events = receiver.wait_for(6)
    assert [e.headers["webhook-id"] for e in events[3:]] == first_ids
    time.sleep(1)
    delivered = cli(
        "webhooks", "deliveries", "--app", "acme", "--state", "delivered", "--json"
    ).stdout.splitlines()
    assert len(delivered) == 3


def test_the_horizon_ends_retries_with_a_failure(store, db_url, tokens, receiver, cli, tmp_path):
    with (
        in_process(store, db_url) as client,
        delivery_process(db_url, tmp_path, CDRSTORE_WEBHOOKS_HORIZON="2s"),
    ):
        subscribe(client, tokens, receiver)
        receiver.status = 503
        ingest(client, tokens, numbered(0, 1))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = cli(
                "webhooks", "deliveries", "--app", "acme", "--state", "failed", "--json"
            ).stdout.splitlines()
            if rows:
                break
            time.sleep(0.5)
        row = json.loads(rows[0])
        assert row["lastStatus"] == 503 and row["attempts"] >= 2
        assert row["lastError"].startswith("gave up after")


def test_replay_sends_again_with_the_same_webhook_ids(delivering, tokens, receiver, cli):
    subscribe(delivering, tokens, receiver)
    ingest(delivering, tokens, numbered(0, 5))
    receiver.wait_for(5)
    time.sleep(1.5)
    between = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 0.5))
    ingest(delivering, tokens, numbered(5, 5))
    first = receiver.wait_for(10)
    time.sleep(0.5)
    said = cli("webhooks", "replay", "--app", "acme", "--since", between).stdout
    assert "call events of app acme replayed from change-log position" in said
    again = receiver.wait_for(15)[10:]
    assert [e.headers["webhook-id"] for e in again] == [e.headers["webhook-id"] for e in first[5:]]
    cli("webhooks", "replay", "--app", "acme")  # everything the change log holds
    everything = receiver.wait_for(25)[15:]
    assert [e.headers["webhook-id"] for e in everything] == [e.headers["webhook-id"] for e in first]
    time.sleep(1)
    assert len(receiver.events) == 25


def test_one_apps_dead_receiver_does_not_delay_another(delivering, tokens):
    with running_receiver() as hanging, running_receiver() as healthy:
        subscribe(delivering, tokens, hanging, app_id="stuck")
        subscribe(delivering, tokens, healthy, app_id="fine")
        hanging.slow_seconds = 30  # past the 10 s a request may take
        ingest(delivering, tokens, numbered(0, 5), app_id="stuck")
        hanging.wait_for(1)
        started = time.monotonic()
        ingest(delivering, tokens, numbered(0, 20), app_id="fine")
        healthy.wait_for(20, timeout=8)
        assert time.monotonic() - started < 8
        assert len(hanging.events) == 1  # still waiting on its first
