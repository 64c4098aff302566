"""Walk every page of an app's call details with the Python client and count the calls by status.

    export CDRSTORE_URL=http://127.0.0.1:8080 CDRSTORE_APP=demo CDRSTORE_TOKEN=cdr_...
    python examples/client_walk.py

Optional filters, as the GET query takes them: CALL_TYPE (onnet, offnet, smartcall), STATUS (one of
the 8 statuses), START_AT and END_AT (RFC3339; callDate >= START_AT and < END_AT).
Prints one line a status (`<count> <status>`), then `<count> in all`.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

from cdrstore.client import Client


def main() -> int:
    base_url = os.environ.get("CDRSTORE_URL", "http://127.0.0.1:8080")
    app_id = os.environ["CDRSTORE_APP"]
    token = os.environ["CDRSTORE_TOKEN"]
    filters = {
        "call_type": os.environ.get("CALL_TYPE") or None,
        "status": os.environ.get("STATUS") or None,
        "start_at": os.environ.get("START_AT") or None,
        "end_at": os.environ.get("END_AT") or None,
    }

    by_status: Counter[str] = Counter()
    first = last = None
    with Client(base_url, app_id, token) as client:
        # iter_calls fetches page after page (500 records each) until a short page ends the walk.
        for call in client.iter_calls(**filters):
            by_status[call.status] += 1
            first = first or call.call_datetime()
            last = call.call_datetime()

    for status, count in by_status.most_common():
        print(f"{count} {status}")
    print(f"{sum(by_status.values())} in all")
    if first is not None:
        print(f"from {first.isoformat()} to {last.isoformat()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
