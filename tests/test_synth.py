"""Synthetic CDRs: deterministic, valid, and shaped like a contact centre's traffic."""

from __future__ import annotations

from collections import Counter

import msgspec

from cdrstore.ingest.batch import BatchValidator
from cdrstore.record import CALL_TYPES, STATUSES
from cdrstore.synth import generate


def test_same_seed_same_records_other_seed_other_records():
    assert list(generate(50, seed=3)) == list(generate(50, seed=3))
    assert list(generate(50, seed=3)) != list(generate(50, seed=4))


def test_records_are_valid_unique_and_in_call_date_order():
    recs = list(generate(3000, seed=9))
    validator = BatchValidator()
    stored = validator.validate((i, msgspec.json.encode(r)) for i, r in enumerate(recs))
    validator.raise_if_invalid()
    assert len(stored) == 3000
    assert [s.call_date_ms for s in stored] == sorted(s.call_date_ms for s in stored)


def test_shapes_are_realistic():
    recs = list(generate(5000, seed=2))
    statuses = Counter(r["status"] for r in recs)
    assert set(statuses) == set(STATUSES)
    assert statuses.most_common(1)[0][0] == "Call Ended"
    assert set(Counter(r["callType"] for r in recs)) == set(CALL_TYPES)
    assert {r["callDirection"] for r in recs} == {"Inbound", "Outbound"}
    for r in recs:
        connected = r["status"] == "Call Ended"
        if not connected:
            assert r["callEndTime"] == r["callDate"]
            assert not r["isRecording"] and r["recordingEventList"] == []
        if r["isRecording"]:
            assert r["recordingEventList"][0]["files"][0]["type"] in (2, 3)
        assert r["caller"].startswith("+") and r["callee"].startswith("+")
    hours = Counter(int(r["callDate"][11:13]) for r in recs)
    assert hours[10] > 4 * hours[2]  # busy mornings, quiet nights
    days = {r["callDate"][:10] for r in recs}
    assert len(days) > 40  # spread over weeks
    roles = {r["fromRole"] for r in recs} | {r["toRole"] for r in recs}
    assert {"AGENT", "SUPERVISOR", ""} <= roles
