"""Batches of records to ingest (docs/api.md#writing-call-details): bodies and files in, validated
stored records out.

POST and `cdrstore import` share these rules: a JSON array, an object `{"result": [...]}` (a page read
from any compatible API), or NDJSON; every record checked against `record.Record`; the same `id` twice
reported at the later index; one invalid record rejects the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Final

import msgspec

from ..contract import BATCH_MAX_RECORDS, BATCH_MAX_REPORTED_ERRORS
from ..errors import DomainError
from ..record import FieldError, StoredRecord, decode_record

JSON_MEDIA_TYPE: Final = "application/json"
NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"
INGEST_MEDIA_TYPES: Final = (JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE)


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """A page as any compatible API serves it; posted back unchanged."""

    result: list[msgspec.Raw]
    code: int = 0


_BODY_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw] | Envelope)


class RecordError(msgspec.Struct):
    """One invalid record of a batch, as the 400 body lists it."""

    index: int
    field: str
    message: str


class BatchError(DomainError):
    """The batch cannot be stored; `errors` names the records at fault (may be empty)."""

    def __init__(self, message: str, errors: list[RecordError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class BatchTooLarge(BatchError):
    """More records than one request may carry (413)."""


def decode_json_body(body: bytes) -> list[msgspec.Raw]:
    """The records of a JSON array or `{"result": [...]}` document, each still raw."""
    try:
        decoded = _BODY_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise BatchError(
            f'body must be a JSON array of records or an object {{"result": [...]}}: {exc}'
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BatchError(f"malformed JSON body: {exc}") from None
    return decoded.result if isinstance(decoded, Envelope) else decoded


def split_ndjson(body: bytes) -> list[bytes]:
    """The non-blank lines of an NDJSON body."""
    return [line for line in body.split(b"\n") if line.strip()]


Decoded = list[tuple[int, StoredRecord | RecordError]]


def decode_chunk(raws: Iterable[tuple[int, bytes | msgspec.Raw]]) -> Decoded:
    """Each raw record decoded and checked on its own (pure: safe to run in a worker process)."""
    out: Decoded = []
    for index, raw in raws:
        try:
            out.append((index, decode_record(raw)))
        except FieldError as exc:
            out.append((index, RecordError(index, exc.field, exc.message)))
    return out


@dataclass
class BatchValidator:
    """Accepts decoded records in order, across as many chunks as a batch arrives in.

    Remembers every id it has seen, so a duplicate is caught even when its twin came in an
    earlier chunk (or an earlier file) of the same import.
    """

    source: str = ""
    seen: dict[str, str] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    invalid: int = 0

    def validate(self, raws: Iterable[tuple[int, bytes | msgspec.Raw]]) -> list[StoredRecord]:
        return self.accept(decode_chunk(raws))

    def accept(self, decoded: Decoded) -> list[StoredRecord]:
        """The valid records of a decoded chunk; the others counted and (the first ones) kept."""
        records: list[StoredRecord] = []
        where = f"{self.source} " if self.source else ""
        for index, item in decoded:
            if isinstance(item, RecordError):
                self._fail(item)
                continue
            here = f"{where}index {index}"
            first = self.seen.setdefault(item.id, here)
            if first != here:
                self._fail(RecordError(index, "id", f"duplicate id {item.id!r} (first at {first})"))
                continue
            records.append(item)
        return records

    def _fail(self, error: RecordError) -> None:
        self.invalid += 1
        if len(self.errors) < BATCH_MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def raise_if_invalid(self) -> None:
        if self.invalid:
            first = self.errors[0]
            where = f"{first.field}: " if first.field else ""
            raise BatchError(
                f"{self.invalid} invalid record(s), nothing stored; first at index {first.index}: "
                f"{where}{first.message}",
                self.errors,
            )


def parse_body(body: bytes, media_type: str) -> list[StoredRecord]:
    """Validate a whole POST body; BatchError (or BatchTooLarge) says why it cannot be stored."""
    raws: list[bytes] | list[msgspec.Raw]
    raws = split_ndjson(body) if media_type == NDJSON_MEDIA_TYPE else decode_json_body(body)
    if len(raws) > BATCH_MAX_RECORDS:
        raise BatchTooLarge(
            f"request too large: {len(raws)} records, at most {BATCH_MAX_RECORDS} a request"
        )
    validator = BatchValidator()
    records = validator.validate(enumerate(raws))
    validator.raise_if_invalid()
    return records


def read_file_chunks(stream: IO[bytes], chunk_records: int) -> Iterator[list[tuple[int, bytes]]]:
    """Raw records of an import file in chunks, with their index in the file.

    NDJSON is streamed line by line, so memory stays flat however long the file; a JSON array or
    `{"result": [...]}` document has to be read whole (use NDJSON for very large files).
    """
    head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
    first = head.lstrip()[:1]
    if first == b"[" or (first == b"{" and _starts_envelope(head)):
        raws = decode_json_body(stream.read())
        for start in range(0, len(raws), chunk_records):
            yield [
                (start + i, bytes(raw)) for i, raw in enumerate(raws[start : start + chunk_records])
            ]
        return
    chunk: list[tuple[int, bytes]] = []
    index = 0
    for line in stream:
        if not line.strip():
            continue
        chunk.append((index, line))
        index += 1
        if len(chunk) >= chunk_records:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _starts_envelope(head: bytes) -> bool:
    # NDJSON also starts with "{", but a record's keys are never "result" or "code".
    text = head.lstrip()[1:].lstrip()
    return text.startswith((b'"result"', b'"code"'))
