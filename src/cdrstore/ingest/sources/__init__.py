"""CDR sources in their own formats (docs/sources/): each module turns one system's CDRs into
records of the 46-key model, which then take the same validation path as a POST.

A source format converts a file (or one document) into raw JSON records with their position in
the source; a row it cannot convert becomes that row's errors instead. Every record gets a
deterministic `id` from the source's own identifiers, so importing or posting it again changes
nothing, and one call seen as several rows keeps one `callID` with `callSeq` ordering them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Protocol

from ..batch import RecordError
from .policy import Policy

Converted = tuple[int, bytes | list[RecordError]]
"""(position in the source, the record as JSON, or why the row could not be converted)."""


class SourceFormat(Protocol):
    name: str  # as `cdrstore import --format` names it
    unit: str  # what a position counts: "line" (1-based) or "record" (0-based)

    def convert(self, stream: IO[bytes], source: str, policy: Policy) -> Iterator[Converted]:
        """The records of one file, in file order."""
        ...


FORMATS: dict[str, SourceFormat] = {}


def register(source_format: SourceFormat) -> SourceFormat:
    FORMATS[source_format.name] = source_format
    return source_format


# The formats, each registering itself (imported last: they use the names above).
from . import asterisk, csvmap, freeswitch  # noqa: E402

__all__ = [
    "FORMATS",
    "Converted",
    "Policy",
    "SourceFormat",
    "asterisk",
    "csvmap",
    "freeswitch",
    "register",
]
