"""Batches of records to ingest (docs/api.md#writing-call-details): bodies and files in, validated
stored records out.

POST and `cdrstore import` share these rules: a JSON array, an object `{"result": [...]}` (a page read
from any compatible API), or NDJSON; every record checked against `record.Record`; the same `id` twice
reported at the later index; one invalid record rejects the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Final, Literal

import msgspec

from ..contract import BATCH_MAX_RECORDS, BATCH_MAX_REPORTED_ERRORS
from ..errors import DomainError
from ..record import FIELDS, StoredRecord
from ..validation import RecordInvalid, decode_record

JSON_MEDIA_TYPE: Final = "application/json"
NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"
INGEST_MEDIA_TYPES: Final = (JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE)


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """A page as any compatible API serves it; posted back unchanged."""

    result: list[msgspec.Raw]
    code: int = 0


_BODY_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw] | Envelope)


class RecordError(msgspec.Struct, omit_defaults=True):
    """One invalid record of a batch, as the 400 body lists it."""

    index: int
    field: str
    message: str
    column: int = 0  # a CSV source's column (1-based), for FILE:LINE:COLUMN; never served


class BatchError(DomainError):
    """The batch cannot be stored; `errors` names the records at fault (may be empty)."""

    def __init__(self, message: str, errors: list[RecordError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class BatchTooLarge(BatchError):
    """More records than one request may carry (413)."""


BOM: Final = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, as spreadsheet programs write
_BODY_FORMS: Final = (
    'a JSON array of records, an object {"result": [...]}, or NDJSON'
    " (Content-Type: application/x-ndjson, one record a line)"
)


def _looks_like_one_record(body: bytes) -> bool:
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(decoded, dict) and bool(set(decoded) & set(FIELDS))


def decode_json_body(body: bytes) -> list[msgspec.Raw]:
    """The records of a JSON array or `{"result": [...]}` document, each still raw."""
    body = body.removeprefix(BOM)
    try:
        decoded = _BODY_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        if _looks_like_one_record(body):
            raise BatchError(
                f"body must be {_BODY_FORMS}; this is a single record: send it as [{{...}}]"
            ) from None
        raise BatchError(f"body must be {_BODY_FORMS}: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BatchError(f"malformed JSON body: {exc}") from None
    except RecursionError:
        raise BatchError("malformed JSON body: nested too deeply") from None
    return decoded.result if isinstance(decoded, Envelope) else decoded


def split_ndjson(body: bytes) -> list[bytes]:
    """The non-blank lines of an NDJSON body."""
    return [line for line in body.removeprefix(BOM).split(b"\n") if line.strip()]


Decoded = list[tuple[int, StoredRecord | list[RecordError]]]


Outline = list[tuple[int, str | list[RecordError]]]
"""Each record of a chunk by its position: its id, or what is wrong with it (all a validator
needs to see of a chunk decoded elsewhere)."""


def outline(decoded: Decoded) -> Outline:
    return [(index, item if isinstance(item, list) else item.id) for index, item in decoded]


RawRecord = bytes | msgspec.Raw | list[RecordError]
"""A record as JSON, or (from a source format) the errors of a row that could not be converted."""


def decode_chunk(raws: Iterable[tuple[int, RawRecord]], ignore_unknown: bool = False) -> Decoded:
    """Each raw record decoded and checked on its own (pure: safe to run in a worker process)."""
    out: Decoded = []
    for index, raw in raws:
        if isinstance(raw, list):
            out.append((index, raw))
            continue
        try:
            out.append((index, decode_record(raw, ignore_unknown=ignore_unknown)))
        except RecordInvalid as exc:
            out.append((index, [RecordError(index, e.field, e.message) for e in exc.errors]))
    return out


def at_index(index: int) -> str:
    return f"index {index}"


@dataclass
class BatchValidator:
    """Accepts decoded records in order, across as many chunks as a batch arrives in.

    Remembers every id it has seen, so a duplicate is caught even when its twin came in an
    earlier chunk (or an earlier file) of the same import.
    """

    locate: Callable[[int], str] = at_index  # how a record's position reads in a message
    seen: dict[str, str] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    invalid: int = 0

    def validate(
        self, raws: Iterable[tuple[int, RawRecord]], ignore_unknown: bool = False
    ) -> list[StoredRecord]:
        return self.accept(decode_chunk(raws, ignore_unknown))

    def accept(self, decoded: Decoded) -> list[StoredRecord]:
        """The valid records of a decoded chunk; the others counted and (the first errors) kept."""
        kept = self.check(outline(decoded))
        return [item for index, item in decoded if index in kept and not isinstance(item, list)]

    def check(self, items: Outline) -> set[int]:
        """The positions of the records accepted from a chunk's outline; the others counted and
        (the first errors) kept."""
        accepted = set()
        for index, item in items:
            if isinstance(item, list):
                self._fail(item)
                continue
            here = self.locate(index)
            first = self.seen.setdefault(item, here)
            if first != here:
                self._fail([RecordError(index, "id", f"duplicate id {item!r} (first at {first})")])
                continue
            accepted.add(index)
        return accepted

    def _fail(self, errors: list[RecordError]) -> None:
        self.invalid += 1
        room = BATCH_MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(errors[: max(0, room)])

    def raise_if_invalid(self) -> None:
        if self.invalid:
            first = self.errors[0]
            where = f"{first.field}: " if first.field else ""
            raise BatchError(
                f"{self.invalid} invalid record(s), nothing stored; first at index {first.index}: "
                f"{where}{first.message}",
                self.errors,
            )


def parse_body(body: bytes, media_type: str, ignore_unknown: bool = False) -> list[StoredRecord]:
    """Validate a whole POST body; BatchError (or BatchTooLarge) says why it cannot be stored."""
    raws: list[bytes] | list[msgspec.Raw]
    raws = split_ndjson(body) if media_type == NDJSON_MEDIA_TYPE else decode_json_body(body)
    if len(raws) > BATCH_MAX_RECORDS:
        raise BatchTooLarge(
            f"request too large: {len(raws)} records, at most {BATCH_MAX_RECORDS} a request"
        )
    validator = BatchValidator()
    records = validator.validate(enumerate(raws), ignore_unknown)
    validator.raise_if_invalid()
    return records


Layout = Literal["json", "ndjson"]
_CSV_SEPARATORS: Final = (b",", b";", b"\t")


def detect_layout(stream: IO[bytes], name: str) -> Layout:
    """Whether an import file is one JSON document or NDJSON (a byte order mark is skipped); a
    file that looks like CSV is refused with what to do instead."""
    head = stream.peek(256)[:256] if hasattr(stream, "peek") else b""
    if head.startswith(BOM):
        stream.read(len(BOM))
        head = head[len(BOM) :]
    start = head.lstrip()
    if start[:1] == b"[" or (start[:1] == b"{" and _starts_envelope(start)):
        return "json"
    first_line = start.split(b"\n", 1)[0]
    if start[:1] not in (b"{", b"") and any(sep in first_line for sep in _CSV_SEPARATORS):
        raise BatchError(
            f"{name} looks like CSV (it starts {first_line[:60]!r}): this input needs --format"
            " with a CSV format; --format json (the default) reads a JSON array, "
            '{"result": [...]} or NDJSON'
        )
    return "ndjson"


def read_file_chunks(
    stream: IO[bytes], layout: Layout, chunk_records: int
) -> Iterator[list[tuple[int, bytes]]]:
    """Raw records of an import file in chunks, each with its position: the record's index in a
    JSON document, the 1-based line number in NDJSON.

    NDJSON is streamed line by line, so memory stays flat however long the file; a JSON array or
    `{"result": [...]}` document has to be read whole (use NDJSON for very large files).
    """
    if layout == "json":
        raws = decode_json_body(stream.read())
        for start in range(0, len(raws), chunk_records):
            yield [
                (start + i, bytes(raw)) for i, raw in enumerate(raws[start : start + chunk_records])
            ]
        return
    chunk: list[tuple[int, bytes]] = []
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        chunk.append((line_number, line))
        if len(chunk) >= chunk_records:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _starts_envelope(start: bytes) -> bool:
    # NDJSON also starts with "{", but a record's keys are never "result" or "code".
    text = start[1:].lstrip()
    return text.startswith((b'"result"', b'"code"'))
