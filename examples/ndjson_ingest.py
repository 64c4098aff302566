"""Send a few call details as NDJSON to cdrstore's POST extension, then send the same again.

    export CDRSTORE_URL=http://127.0.0.1:8080 CDRSTORE_APP=demo CDRSTORE_TOKEN=cdr_...
    python examples/ndjson_ingest.py

The token needs the `ingest` scope. Ingest is idempotent: a record whose id the app already holds
replaces the stored one, so the second POST reports every record as unchanged. Prints each answer's
JSON body on its own line.
"""

from __future__ import annotations

import json
import os
import sys

import httpx

STATUSES = ("Call Ended", "Busy", "Not Answered")


def records(n: int = 3) -> list[dict[str, object]]:
    """A few minimal valid records: id, callDirection, callType, callDate and status are required;
    every other key is served with its empty value."""
    return [
        {
            "id": f"example-ndjson-{i}",
            "callDirection": "Inbound",
            "callType": "offnet",
            "callDate": f"2026-11-01T09:0{i}:00.000Z",
            "status": STATUSES[i % len(STATUSES)],
            "caller": "+85212345678",
            "callee": "+85287654321",
        }
        for i in range(n)
    ]


def main() -> int:
    base_url = os.environ.get("CDRSTORE_URL", "http://127.0.0.1:8080").rstrip("/")
    app_id = os.environ["CDRSTORE_APP"]
    token = os.environ["CDRSTORE_TOKEN"]
    url = f"{base_url}/v1/api/apps/{app_id}/data/call-detail"
    body = "".join(json.dumps(record) + "\n" for record in records())
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/x-ndjson",
        "accept": "application/json",
    }
    for _ in range(2):  # the second time, nothing changes
        response = httpx.post(url, content=body.encode(), headers=headers, timeout=30)
        print(response.text)
        if response.status_code != 200:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
