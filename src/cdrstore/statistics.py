"""A row of call statistics as served (docs/api.md#statistics): the server builds it, the client
decodes into it."""

from __future__ import annotations

import msgspec

from .record import STATUSES


class StatsRow(msgspec.Struct):
    """One group's figures."""

    key: str | int  # the group's key ("total" without a group)
    calls: int
    answered: int  # status "Call Ended"
    asr: float  # answered / calls (0.0 without calls)
    talkTimeMs: int  # callEndTime - callDate, summed over the answered calls with an end time
    acdMs: int  # talkTimeMs // answered (0 when none answered)
    abandoned: int  # status "Abandoned"
    byStatus: dict[str, int]  # every status, in the record model's order

    @classmethod
    def of(cls, key: str | int, by_status: dict[str, int], talk_ms: int) -> StatsRow:
        """The row of a group with these calls by status and this talk time."""
        calls = sum(by_status.values())
        answered = by_status.get("Call Ended", 0)
        return cls(
            key=key,
            calls=calls,
            answered=answered,
            asr=answered / calls if calls else 0.0,
            talkTimeMs=talk_ms,
            acdMs=talk_ms // answered if answered else 0,
            abandoned=by_status.get("Abandoned", 0),
            byStatus={status: by_status.get(status, 0) for status in STATUSES},
        )


class StatsBody(msgspec.Struct):
    """A 200 answer: `{"code": 0, "result": [rows]}`."""

    code: int
    result: list[StatsRow]
