"""Any CSV, with a mapping (`cdrstore import --format csv --mapping FILE.toml`): the exports of
other systems (3CX, hosted PBXs, spreadsheets). The mapping names, for each record field, a column
or a constant, with a time format and zone and a value map; `--infer FILE` prints a starting
mapping from a file's header. Format of the mapping: docs/sources/csv.md.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from ...record import FIELDS
from ..batch import BatchError, RecordError
from . import Converted, register
from .policy import Policy, PolicyError, record_id, served

TIME_FIELDS: Final = ("callDate", "callEndTime")
INTEGER_FIELDS: Final = ("seq", "callSeq")
BOOLEAN_FIELDS: Final = ("isRecording", "hasAudioFile")
_TRUE: Final = frozenset({"1", "true", "yes", "y", "t"})
_ENCODER: Final = msgspec.json.Encoder()


class MappingError(BatchError):
    """A mapping that cannot be used, or a file it does not fit; the message says where."""


@dataclass(frozen=True)
class FieldRule:
    column: str | None = None  # the CSV column's header; or
    value: str | None = None  # a constant
    time_format: str | None = None  # strptime format, "rfc3339", "epoch" or "epoch_ms"
    values: dict[str, str] = field(default_factory=dict)  # source value -> record value


@dataclass(frozen=True)
class Mapping:
    fields: dict[str, FieldRule]
    delimiter: str = ","
    time_format: str = "%Y-%m-%d %H:%M:%S"
    tz: str | None = None  # the times' zone; --tz when absent

    @classmethod
    def load(cls, path: Path) -> Mapping:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MappingError(f"{path}: {exc}") from None
        source = data.get("source", {})
        rules: dict[str, FieldRule] = {}
        for name, rule in data.get("fields", {}).items():
            if name not in FIELDS:
                close = difflib.get_close_matches(name, FIELDS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise MappingError(f"{path}: [fields] {name}: not a record field{hint}")
            if not isinstance(rule, dict) or ("column" in rule) == ("value" in rule):
                raise MappingError(f"{path}: [fields] {name}: give either column or value")
            rules[name] = FieldRule(
                column=rule.get("column"),
                value=None if rule.get("value") is None else str(rule["value"]),
                time_format=rule.get("time_format"),
                values={str(k): str(v) for k, v in rule.get("map", {}).items()},
            )
        return cls(
            rules,
            source.get("delimiter", ","),
            source.get("time_format", cls.time_format),
            source.get("tz"),
        )


class _CellError(ValueError):
    def __init__(self, field_name: str, column: str | None, message: str) -> None:
        super().__init__(message)
        self.field_name, self.column, self.message = field_name, column, message


def _instant(text: str, time_format: str, policy: Policy) -> str:
    if time_format == "rfc3339":
        return text  # the record's own validation reads it
    if time_format in ("epoch", "epoch_ms"):
        seconds = float(text) / (1000 if time_format == "epoch_ms" else 1)
        return served(datetime.fromtimestamp(seconds, UTC))
    return policy.local_instant(text, time_format)


def _cell(name: str, rule: FieldRule, row: dict[str, str], mapping: Mapping, policy: Policy) -> Any:
    raw = rule.value if rule.column is None else row.get(rule.column, "")
    text = (raw or "").strip()
    text = rule.values.get(text, text)
    if name in TIME_FIELDS and text:
        time_format = rule.time_format or mapping.time_format
        try:
            return _instant(text, time_format, policy)
        except ValueError:
            raise _CellError(
                name, rule.column, f"expected a time as {time_format!r}, got {text!r}"
            ) from None
    if name in INTEGER_FIELDS:
        if text and not (text.isascii() and text.lstrip("-").isdigit()):
            raise _CellError(name, rule.column, f"expected an integer, got {text!r}")
        return int(text) if text else 0
    if name in BOOLEAN_FIELDS:
        return text.lower() in _TRUE
    return text


def to_record(row: dict[str, str], mapping: Mapping, policy: Policy) -> dict[str, Any]:
    record = {
        name: _cell(name, rule, row, mapping, policy) for name, rule in mapping.fields.items()
    }
    record = {k: v for k, v in record.items() if v != "" or k in ("caller", "callee")}
    if "callDirection" not in mapping.fields or "callType" not in mapping.fields:
        direction, call_type = policy.direction(
            str(record.get("caller", "")), str(record.get("callee", ""))
        )
        record.setdefault("callDirection", direction)
        record.setdefault("callType", call_type)
    if not record.get("id"):  # no id column: one from the row itself, the same on every import
        digest = hashlib.sha256("\x1f".join(f"{k}={row[k]}" for k in sorted(row)).encode())
        record["id"] = record_id("csv", digest.hexdigest())
    return record


@dataclass
class MappedCsv:
    """The `csv` format, bound to a mapping."""

    mapping: Mapping
    name: str = "csv"
    unit: str = "line"

    def convert(self, stream: IO[bytes], source: str, policy: Policy) -> Iterator[Converted]:
        if self.mapping.tz:
            try:
                policy = Policy.from_options(
                    policy.internal.pattern if policy.internal else None, self.mapping.tz
                )
            except PolicyError as exc:
                raise MappingError(f"[source] tz: {exc}") from None
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.DictReader(text, delimiter=self.mapping.delimiter)
        headers = reader.fieldnames or []
        missing = sorted(
            {r.column for r in self.mapping.fields.values() if r.column is not None} - set(headers)
        )
        if missing:
            raise MappingError(f"{source}: no column {', '.join(map(repr, missing))} in its header")
        for row in reader:
            line = reader.line_num
            try:
                record = to_record(
                    {k: v or "" for k, v in row.items() if k is not None}, self.mapping, policy
                )
            except _CellError as exc:
                column = headers.index(exc.column) + 1 if exc.column in headers else 0
                where = (
                    f"{exc.field_name} (column {exc.column!r})" if exc.column else exc.field_name
                )
                yield line, [RecordError(line, where, exc.message, column)]
                continue
            yield line, _ENCODER.encode(record)


# --- a starting mapping from a header -------------------------------------------------------------
_GUESSES: Final = {
    "id": ("id", "call id", "callid", "uniqueid", "cdr id"),
    "callDate": ("start", "start time", "date", "time", "call date", "started", "calldate"),
    "callEndTime": ("end", "end time", "ended", "hangup time"),
    "caller": ("from", "caller", "src", "source", "calling number", "caller number"),
    "callee": ("to", "callee", "dst", "destination", "called number", "dialed number"),
    "status": ("status", "result", "disposition", "outcome", "call result"),
    "lastHandledParty": ("agent", "extension", "handled by"),
}


def infer(header: list[str]) -> str:
    """A mapping (TOML) guessed from a CSV header, to edit before use."""
    lowered = {h.strip().lower(): h for h in header}
    lines = ["[source]", 'delimiter = ","', 'time_format = "%Y-%m-%d %H:%M:%S"', "", "[fields]"]
    for name, guesses in _GUESSES.items():
        found = next((lowered[g] for g in guesses if g in lowered), None)
        if found is not None:
            lines.append(f"{name} = {{ column = {json_string(found)} }}")
        else:
            lines.append(f'# {name} = {{ column = "..." }}')
    lines.append(
        '# status values -> the 8 statuses, e.g.: status = { column = "Result", map = { "ANSWERED" = "Call Ended" } }'
    )
    lines.append("# columns in the file: " + ", ".join(header))
    return "\n".join(lines) + "\n"


def json_string(text: str) -> str:
    return msgspec.json.encode(text).decode()


def infer_from(path: Path) -> str:
    """The starting mapping for a CSV file (its delimiter sniffed from the first line)."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        first = file.readline()
    delimiter = max(",;\t|", key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), [])
    return infer(header).replace('delimiter = ","', f"delimiter = {json_string(delimiter)}")


register(MappedCsv(Mapping({})))  # the name, for --format; import binds it to --mapping
