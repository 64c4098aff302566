"""The server, with its delivery process, killed with SIGKILL while delivering, then restarted, a
few times: every event arrives at least once, in order of first arrival, and an event arrives twice
only if it was in flight at a kill, with the same webhook-id."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from cdrstore.testing import app_with_token, start_server
from tests.support.receiver import Receiver
from tests.webhooks.conftest import numbered

KILLS = 3
RECORDS = 300


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def kill_hard(proc) -> None:
    """SIGKILL the delivery process and the server at once: nothing of either gets to tidy up."""
    for pid in [*children(proc.pid), proc.pid]:
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=20)
    if proc.stderr is not None:
        proc.stderr.close()


def serve(db_url: str, cwd: Path):
    return start_server(db_url, env={"CDRSTORE_WEBHOOKS_ALLOW_PRIVATE": "1"}, cwd=cwd)


def test_sigkill_during_deliveries_loses_nothing(db_url, tmp_path, receiver: Receiver):
    token = app_with_token(db_url, "acme", ("read", "ingest", "webhooks"))
    auth = {"Authorization": f"Bearer {token}"}
    receiver.slow_seconds = 0.02  # a receiver that takes a moment: kills land mid-delivery
    proc, base = serve(db_url, tmp_path)
    try:
        answer = httpx.patch(
            f"{base}/v1/api/apps/acme/call-event-sub",
            json={"enabled": True, "url": receiver.url},
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        secret = answer.json()["result"]["secret"]
        records = numbered(0, RECORDS)
        for start in range(0, RECORDS, 100):
            posted = httpx.post(
                f"{base}/v1/api/apps/acme/data/call-detail",
                json=records[start : start + 100],
                headers=auth,
                timeout=60,
            )
            assert posted.status_code == 200, posted.text
        kills_at = []
        for k in range(KILLS):
            receiver.wait_for(len(receiver.events) + 20, timeout=60)  # delivering now
            kills_at.append(time.time())
            kill_hard(proc)
            proc, base = serve(db_url, tmp_path)
        deadline = time.monotonic() + 120
        while (
            len({e.payload["message"]["id"] for e in receiver.events}) < RECORDS
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    payloads = receiver.verified(secret)
    ids = [p["message"]["id"] for p in payloads]
    first_seen = list(dict.fromkeys(ids))
    assert first_seen == [r["id"] for r in records]  # every event, in order of first arrival

    webhook_ids: dict[str, set[str]] = {}
    arrivals: dict[str, list[float]] = {}
    for event in receiver.events:
        rid = event.payload["message"]["id"]
        webhook_ids.setdefault(rid, set()).add(event.headers["webhook-id"])
        arrivals.setdefault(rid, []).append(event.at)
    assert all(len(v) == 1 for v in webhook_ids.values())  # a resend carries the same webhook-id
    duplicated = {rid: at for rid, at in arrivals.items() if len(at) > 1}
    for rid, at in duplicated.items():
        # sent again only if in flight at a kill: its first arrival just before one (or just
        # after: an arrival is stamped once the receiver has read the body, which a request sent
        # before the kill can finish after it)
        assert any(kill - 2.0 <= at[0] <= kill + 0.5 for kill in kills_at), (rid, at, kills_at)
    assert len(duplicated) <= KILLS * 25
