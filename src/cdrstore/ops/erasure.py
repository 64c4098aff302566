"""Erasure: remove every record of an app that names a telephone number (a data subject's right to
erasure), in one transaction that logs each delete in the change log, so that a consumer of the
change feed removes them too."""

from __future__ import annotations

from typing import Final

import msgspec

from ..errors import InvalidRequest
from ..store import Store
from .accounts import require_app

# Ignored when numbers are compared: how people write the same number differently.
_SEPARATORS: Final = str.maketrans("", "", " -")


class _Numbers(msgspec.Struct):
    """The keys of a stored record that may hold the subject's number; the rest is skipped."""

    caller: str = ""
    callee: str = ""
    callPrepareFromNum: str = ""  # the wire's name


_NUMBERS: Final = msgspec.json.Decoder(_Numbers)


def normalise_number(text: str) -> str:
    """The number as compared: without spaces, dashes and a leading `+`."""
    return text.translate(_SEPARATORS).removeprefix("+")


def erase_number(store: Store, app_id: str, number: str, *, dry_run: bool) -> list[str]:
    """The ids of the app's records whose caller, callee or callPrepareFromNum is this number,
    removed (on a dry run: what would be, removing nothing)."""
    wanted = normalise_number(number)
    if not wanted:
        raise InvalidRequest(
            f"invalid number {number!r}: nothing left to compare once spaces,"
            " dashes and a leading + are removed"
        )
    require_app(store, app_id)

    def names_the_number(doc: bytes) -> bool:
        numbers = _NUMBERS.decode(doc)
        return wanted in (
            normalise_number(numbers.caller),
            normalise_number(numbers.callee),
            normalise_number(numbers.callPrepareFromNum),
        )

    return store.records.erase(app_id, names_the_number, dry_run=dry_run)
