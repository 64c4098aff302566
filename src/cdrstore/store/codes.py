"""How `callType`, `status` and a change log entry's op are stored: a small integer each, fixed here for ever.

Stored rows carry these numbers, so a code once given never changes meaning; a new value gets a new
number. A test freezes both maps (`tests/store/test_schema.py`).
"""

from __future__ import annotations

from typing import Final

CALL_TYPE_CODES: Final[dict[str, int]] = {"onnet": 0, "offnet": 1, "smartcall": 2}
STATUS_CODES: Final[dict[str, int]] = {
    "Call Ended": 0,
    "Declined": 1,
    "Busy": 2,
    "Not Answered": 3,
    "Cancelled": 4,
    "Abandoned": 5,
    "Unreachable": 6,
    "Call Failed": 7,
}

# What a change log entry records. The feed serves insert and update alike as "upsert"; call
# events need to tell them apart.
CHANGE_OP_CODES: Final[dict[str, int]] = {"insert": 0, "update": 1, "delete": 2}
CHANGE_OPS: Final[dict[int, str]] = {code: op for op, code in CHANGE_OP_CODES.items()}
