"""Deep offsets without skipping rows: find the hour a page starts in from the per-hour counts.

SQL engines compute every row an OFFSET skips, so offset 100,000 costs 100,000 index steps. The store
keeps a count of records per (app, hour, callType, status) in the same transaction as the records;
`seek` turns (startAt, offset) into an equivalent (start, offset) whose offset is at most one hour's
records, by summing whole hours from those counts and counting the partial hours at the window's
edges directly. The page query then skips only within that hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..query import PageQuery
from .schema import COUNT_BUCKET_MS

# Below this many rows, skipping in the index is cheaper than consulting the counts.
SEEK_MIN_OFFSET = 2_000

CountRange = Callable[[int, int], int]
"""Records matching the query's filters with lo <= callDate < hi."""
BucketCounts = Callable[[int | None, int | None], Iterable[tuple[int, int]]]
"""(bucket, records) for lo_bucket <= bucket < hi_bucket (None: unbounded), ascending."""


def bucket_of(call_date_ms: int) -> int:
    return call_date_ms // COUNT_BUCKET_MS


def seek(
    query: PageQuery,
    count_range: CountRange,
    bucket_counts: BucketCounts,
    min_offset: int = SEEK_MIN_OFFSET,
) -> tuple[int | None, int] | None:
    """(start_ms, offset) that select the same page as the query; None when it starts past the end."""
    remaining = query.offset
    lo = query.start_ms
    if remaining < min_offset:
        return lo, remaining
    end = query.end_ms
    if lo is not None and lo % COUNT_BUCKET_MS:
        head_end = (bucket_of(lo) + 1) * COUNT_BUCKET_MS
        if end is not None:
            head_end = min(head_end, end)
        head = count_range(lo, head_end)
        if remaining < head:
            return lo, remaining
        remaining -= head
        lo = head_end
    first_bucket = None if lo is None else bucket_of(lo)
    end_bucket = None if end is None else bucket_of(end)  # buckets before it lie wholly inside
    if first_bucket is None or end_bucket is None or first_bucket < end_bucket:
        for bucket, records in bucket_counts(first_bucket, end_bucket):
            if remaining < records:
                return bucket * COUNT_BUCKET_MS, remaining
            remaining -= records
    if end is None or end_bucket is None:
        return None
    tail_start = end_bucket * COUNT_BUCKET_MS
    return (tail_start if lo is None else max(tail_start, lo)), remaining
