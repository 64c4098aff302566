"""Asterisk's `Master.csv` (cdr_csv): one CDR a line, every value double-quoted, no header.

18 columns: accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start,
answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield; with `newcdrcolumns`
three more: peeraccount, linkedid, sequence. Times are `YYYY-MM-DD HH:MM:SS` in the server's local
time (`--tz`; UTC with `usegmtime=yes`). Mapping and what is lost: docs/sources/asterisk.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import IO, Any, Final

import msgspec

from ..batch import RecordError
from . import Converted, register
from .policy import Policy, record_id

COLUMNS: Final = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
)
NEW_COLUMNS: Final = (*COLUMNS, "peeraccount", "linkedid", "sequence")
# disposition -> status. A call the callee declined shows as FAILED, and a caller's hang-up before
# an answer as NO ANSWER, unless `canceldispositionenabled=yes` makes it CANCEL.
STATUS_OF_DISPOSITION: Final = {
    "ANSWERED": "Call Ended",
    "NO ANSWER": "Not Answered",
    "BUSY": "Busy",
    "FAILED": "Call Failed",
    "CONGESTION": "Unreachable",
    "CANCEL": "Cancelled",
}
_CLID = re.compile(r'\s*"?(?P<name>[^"<]*?)"?\s*<(?P<number>[^>]*)>\s*\Z')
_ENCODER: Final = msgspec.json.Encoder()


def _display_name(clid: str) -> str:
    match = _CLID.match(clid)
    return match.group("name").strip() if match else ""


def to_record(row: dict[str, str], policy: Policy) -> dict[str, Any]:
    """One Master.csv row as a record of the 46-key model (ValueError names the column at fault)."""
    disposition = row["disposition"].strip().upper()
    if disposition not in STATUS_OF_DISPOSITION:
        known = ", ".join(STATUS_OF_DISPOSITION)
        raise _ColumnError(
            "disposition", f"unknown disposition {row['disposition']!r} (one of {known})"
        )
    call_id = row.get("linkedid") or row["uniqueid"]
    sequence = row.get("sequence", "")
    caller, callee = row["src"], row["dst"]
    direction, call_type = policy.direction(caller, callee)
    record: dict[str, Any] = {
        "id": record_id("ast", row["uniqueid"], sequence),
        "callID": call_id,
        # Asterisk's sequence grows with every CDR it writes: it orders a call's CDRs as is.
        "callSeq": int(sequence) if sequence.isascii() and sequence.isdigit() else 0,
        "callDirection": direction,
        "callType": call_type,
        "caller": caller,
        "callee": callee,
        "callDate": _instant(row, "start", policy),
        "status": STATUS_OF_DISPOSITION[disposition],
        "fromDisplayName": _display_name(row["clid"]),
    }
    if row["end"]:
        record["callEndTime"] = _instant(row, "end", policy)
    return record


class _ColumnError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _instant(row: dict[str, str], column: str, policy: Policy) -> str:
    try:
        return policy.local_instant(row[column])
    except ValueError:
        raise _ColumnError(column, f"expected YYYY-MM-DD HH:MM:SS, got {row[column]!r}") from None


class AsteriskCsv:
    name = "asterisk-csv"
    unit = "line"

    def convert(self, stream: IO[bytes], source: str, policy: Policy) -> Iterator[Converted]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        for fields in reader:
            line = reader.line_num
            if not fields or fields == [""]:
                continue
            if len(fields) not in (len(COLUMNS), len(NEW_COLUMNS)):
                got = f"{len(fields)} columns"
                yield (
                    line,
                    [
                        RecordError(
                            line, "", f"expected 18 or 21 columns (newcdrcolumns), got {got}"
                        )
                    ],
                )
                continue
            names = COLUMNS if len(fields) == len(COLUMNS) else NEW_COLUMNS
            try:
                record = to_record(dict(zip(names, fields, strict=True)), policy)
            except _ColumnError as exc:
                column = names.index(exc.column) + 1
                yield line, [RecordError(line, f"{exc.column} (column {column})", exc.message)]
                continue
            yield line, _ENCODER.encode(record)


register(AsteriskCsv())
