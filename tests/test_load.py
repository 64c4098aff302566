"""The mixed load of bench/load.py, bounded: readers and writers against a live server on each backend
find no error, and the database holds exactly the acknowledged records; and the verification it ends
with does catch a lost, an unexpected or an altered record."""

from __future__ import annotations

import dataclasses

from bench.load import Ledger, make_batch, run_load, verify

from cdrstore.ingest.batch import parse_body
from cdrstore.store import open_store
from cdrstore.synth import Generator


def test_bounded_mixed_load_stores_exactly_what_was_acknowledged(db_url):
    report = run_load(
        db_url,
        seconds=5,
        readers=4,
        writers=2,
        batch=200,
        seed_records=1000,
        workers=2,
        resend_every=3,
    )
    text = "\n".join(report.lines())
    assert report.server_errors == 0, text
    assert report.transport_errors == 0, text
    assert report.unexpected_answers == 0, text
    assert report.requests("read") > 0 and report.stats.statuses[("read", 200)] > 0, text
    assert report.ledger.acknowledged_by_kind["write"] > 0, text
    assert report.ledger.resends > 0 and report.ledger.resend_inserted == 0, text
    v = report.verification
    assert v.uncertain == 0, text
    assert v.stored_rows == v.counted == v.acknowledged == report.records_acknowledged, text
    assert not (v.lost or v.unexpected or v.duplicated or v.altered), text
    assert v.ids_sha[0] == v.ids_sha[1] and v.records_sha[0] == v.records_sha[1], text
    assert report.ok and text.splitlines()[-1].startswith("PASS"), text


def test_verification_catches_lost_unexpected_and_altered_records(db_url):
    store = open_store(db_url)
    store.upgrade()
    store.accounts.create_app("Verify", "verify")
    batch = make_batch(Generator(seed=7), 6)
    store.records.ingest("verify", parse_body(batch.body, "application/json"))
    store.close()
    ids = sorted(batch.digests)
    exact = Ledger(acknowledged=dict(batch.digests))
    assert verify(db_url, "verify", exact).ok

    never_stored = Ledger(acknowledged={**batch.digests, "never-stored": b"x" * 32})
    v = verify(db_url, "verify", never_stored)
    assert v.lost == ["never-stored"] and not v.ok

    one_missing = Ledger(acknowledged={k: d for k, d in batch.digests.items() if k != ids[0]})
    v = verify(db_url, "verify", one_missing)
    assert v.unexpected == [ids[0]] and v.ids_sha[0] != v.ids_sha[1] and not v.ok

    changed = Ledger(acknowledged={**batch.digests, ids[1]: b"\0" * 32})
    v = verify(db_url, "verify", changed)
    assert v.altered == [ids[1]] and v.records_sha[0] != v.records_sha[1] and not v.ok

    # A batch that got no answer may or may not be there: both are fine, and counted apart.
    uncertain = dataclasses.replace(
        one_missing, uncertain={ids[0]: batch.digests[ids[0]], "not-there": b"y" * 32}
    )
    v = verify(db_url, "verify", uncertain)
    assert v.ok and v.uncertain_stored == 1 and v.acknowledged == 5
