"""Streaming exports of records in NDJSON, JSON, CSV or Parquet; memory stays flat however many.

Every writer takes each record as its canonical JSON (as the store keeps it and the API serves it).

CSV has one row per call: the 45 scalar keys in the served order, then the nested
`recordingEventList` flattened into `recordingCount` (events), `recordingFileCount` (files in all
events), `recordingDurationMs` (sum of the files' durations) and `recordingFileUrls` (the files'
download URLs joined by a space). Parquet keeps the nesting (a list of structs of a list of structs).

CSV for spreadsheets (`excel=True`): the same columns plus `talkTimeSeconds` (whole seconds from
`callDate` to `callEndTime`, empty without an end time), a UTF-8 byte order mark so that Excel reads
accented names as UTF-8, and every value that starts with `+` written as the formula `="+852..."`,
which Excel shows as that text rather than turning it into a number and dropping the `+`.
"""

from __future__ import annotations

import csv
import io
import re
import typing
from abc import ABC, abstractmethod
from typing import IO, Any, Final

import msgspec

from .record import FIELDS, Record
from .timestamps import parse_timestamp

EXPORT_FORMATS: Final = ("ndjson", "json", "csv", "parquet")
# A file name's extension -> the format it names (`-o calls.csv` without `--format`).
FORMAT_OF_EXTENSION: Final = {
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
RECORDING_COLUMNS: Final = (
    "recordingCount",
    "recordingFileCount",
    "recordingDurationMs",
    "recordingFileUrls",
)
CSV_COLUMNS: Final = (*(f for f in FIELDS if f != "recordingEventList"), *RECORDING_COLUMNS)
TALK_TIME_COLUMN: Final = "talkTimeSeconds"
EXCEL_CSV_COLUMNS: Final = (*CSV_COLUMNS, TALK_TIME_COLUMN)
UTF8_BOM: Final = b"\xef\xbb\xbf"
PARQUET_ROW_GROUP: Final = 10_000


class ExportWriter(ABC):
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.count = 0

    @abstractmethod
    def write(self, doc: bytes) -> None: ...

    def close(self) -> None:
        self.stream.flush()


class NdjsonWriter(ExportWriter):
    def write(self, doc: bytes) -> None:
        self.stream.write(doc)
        self.stream.write(b"\n")
        self.count += 1


class JsonWriter(ExportWriter):
    """A JSON array, written as it goes (`cdrstore import` and POST read it back)."""

    def write(self, doc: bytes) -> None:
        self.stream.write(b"," if self.count else b"[")
        self.stream.write(doc)
        self.count += 1

    def close(self) -> None:
        self.stream.write(b"]\n" if self.count else b"[]\n")
        super().close()


def flatten(record: dict[str, Any]) -> list[Any]:
    """One CSV row: scalars as served, recordings summarised (see the module docstring)."""
    events = record.get("recordingEventList") or []
    files = [f for event in events for f in (event.get("files") or [])]
    summary = {
        "recordingCount": len(events),
        "recordingFileCount": len(files),
        "recordingDurationMs": sum(int(f.get("duration") or 0) for f in files),
        "recordingFileUrls": " ".join(
            f.get("downloadUrl", "") for f in files if f.get("downloadUrl")
        ),
    }
    row = []
    for column in CSV_COLUMNS:
        value = summary[column] if column in summary else record.get(column, "")
        row.append(("true" if value else "false") if isinstance(value, bool) else value)
    return row


def talk_seconds(record: dict[str, Any]) -> int | str:
    """Whole seconds from callDate to callEndTime; empty when the call has no end time (or, from
    another server, no readable one)."""
    end, start = record.get("callEndTime"), record.get("callDate")
    if not end or not isinstance(end, str) or not isinstance(start, str):
        return ""
    try:
        return round((parse_timestamp(end) - parse_timestamp(start)) / 1000)
    except ValueError:
        return ""


# What a spreadsheet would read as a formula or a number and so change: a leading `+` or `0` of a
# phone number lost, or (from text any API client wrote) `=`, `-`, `@`, a tab or a CR run as a
# formula (CSV injection).
_ALTERED_BY_SPREADSHEETS = re.compile(r"[+=\-@\t\r]|0[0-9]")


def as_spreadsheet_text(value: Any) -> Any:
    """A text a spreadsheet would alter, as a formula that gives the text back, unchanged."""
    if isinstance(value, str) and _ALTERED_BY_SPREADSHEETS.match(value):
        return '="' + value.replace('"', '""') + '"'
    return value


class CsvWriter(ExportWriter):
    columns: tuple[str, ...] = CSV_COLUMNS

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(stream)
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
        self.csv = csv.writer(self.text)
        self.csv.writerow(self.columns)

    def row(self, record: dict[str, Any]) -> list[Any]:
        return flatten(record)

    def write(self, doc: bytes) -> None:
        self.csv.writerow(self.row(msgspec.json.decode(doc)))
        self.count += 1

    def close(self) -> None:
        self.text.flush()
        self.text.detach()
        super().close()


class ExcelCsvWriter(CsvWriter):
    """CSV for spreadsheets: see the module docstring."""

    columns = EXCEL_CSV_COLUMNS

    def __init__(self, stream: IO[bytes]) -> None:
        stream.write(UTF8_BOM)
        super().__init__(stream)

    def row(self, record: dict[str, Any]) -> list[Any]:
        return [as_spreadsheet_text(v) for v in flatten(record)] + [talk_seconds(record)]


def _served_arrow_type(field: msgspec.structs.FieldInfo) -> Any:
    """A field's Arrow type, from what is served: a value never given is served as its type's empty
    value (docs/api.md#the-record), so a field's default says its served type; a list of nested
    records is a list of their structs; the required fields are all text."""
    import pyarrow as pa

    if field.default_factory is list:
        (item,) = typing.get_args(field.type)
        return pa.list_(arrow_struct(item))
    default = field.default
    if isinstance(default, bool):
        return pa.bool_()
    if isinstance(default, int):
        return pa.int64()
    return pa.string()


def arrow_struct(model: type[msgspec.Struct]) -> Any:
    import pyarrow as pa

    return pa.struct([(f.name, _served_arrow_type(f)) for f in msgspec.structs.fields(model)])


def parquet_schema() -> Any:
    """The record model as an Arrow schema (nesting kept), derived from `record.Record`."""
    import pyarrow as pa

    return pa.schema(list(arrow_struct(Record)))


class ParquetWriter(ExportWriter):
    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(stream)
        import pyarrow.parquet as pq

        self.schema = parquet_schema()
        self.rows: list[dict[str, Any]] = []
        self.parquet = pq.ParquetWriter(stream, self.schema, compression="zstd")

    def write(self, doc: bytes) -> None:
        self.rows.append(msgspec.json.decode(doc))
        self.count += 1
        if len(self.rows) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self.parquet.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.parquet.close()
        super().close()


def open_writer(fmt: str, stream: IO[bytes], *, excel: bool = False) -> ExportWriter:
    """A writer of the format; `excel`: CSV for spreadsheets (CSV only)."""
    if excel:
        if fmt != "csv":
            raise ValueError(f"excel applies to csv only, not {fmt!r}")
        return ExcelCsvWriter(stream)
    writers: dict[str, type[ExportWriter]] = {
        "ndjson": NdjsonWriter,
        "json": JsonWriter,
        "csv": CsvWriter,
        "parquet": ParquetWriter,
    }
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    return writers[fmt](stream)
