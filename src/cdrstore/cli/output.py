"""Records out: streamed into an export format (progress on a terminal), or as a table."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
from rich.progress import Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..export import EXPORT_FORMATS, FORMAT_OF_EXTENSION, open_writer
from ..timestamps import parse_timestamp
from .common import EXIT_USAGE, err, fail, out, plural


def check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise fail(
            f"--format must be one of {', '.join(EXPORT_FORMATS)} (or table for list), got {fmt!r}",
            EXIT_USAGE,
        )


def choose_format(
    given: str | None, output: Path | None, excel: bool, default: str, table: bool = False
) -> str:
    """The format asked for: `--format`, else the one `-o`'s extension names (`.ndjson`,
    `.jsonl`, `.json`, `.csv`, `.parquet`), else csv with `--excel`, else the command's default.
    An extension that names another format than `--format` is bad usage."""
    named = FORMAT_OF_EXTENSION.get(output.suffix.lower()) if output is not None else None
    if given is not None and not (table and given == "table"):
        check_format(given)
    if given is not None and named is not None and given != named:
        raise fail(
            f"--format {given} but -o {output} names a {named} file: change one of them",
            EXIT_USAGE,
        )
    fmt = given or named or ("csv" if excel else default)
    if excel and fmt != "csv":
        raise fail(f"--excel writes CSV, not {fmt}: leave out --format or use csv", EXIT_USAGE)
    return fmt


def progress(*columns: ProgressColumn) -> Progress:
    """A progress display on stderr, shown only on a terminal, gone when done."""
    return Progress(
        *columns, TimeElapsedColumn(), console=err, disable=not err.is_terminal, transient=True
    )


def write_docs(
    docs: Iterator[bytes], fmt: str, output: Path | None, what: str, excel: bool = False
) -> int:
    """Stream docs into the format; a progress line on a terminal. Returns how many."""
    if fmt == "parquet" and output is None:
        raise fail("--format parquet needs --output FILE", EXIT_USAGE)
    stream = output.open("wb") if output is not None else sys.stdout.buffer
    writer = open_writer(fmt, stream, excel=excel)
    started = time.perf_counter()
    with progress(TextColumn(what), TextColumn("{task.completed:,} records")) as bar:
        task = bar.add_task(what, total=None)
        try:
            for doc in docs:
                writer.write(doc)
                if writer.count % 1000 == 0:
                    bar.update(task, completed=writer.count)
        finally:
            writer.close()
            if output is not None:
                stream.close()
    elapsed = time.perf_counter() - started
    if output is not None:
        records = plural(writer.count, "record")
        err.print(f"{what}: {writer.count:,} {records} to {output} ({elapsed:.1f} s)")
    return writer.count


def print_table(docs: Iterator[bytes]) -> None:
    table = Table("id", "callDate", "type", "direction", "status", "caller", "callee", "seconds")
    for doc in docs:
        r = msgspec.json.decode(doc)
        seconds = ""
        if r.get("callEndTime"):
            talk_ms = parse_timestamp(r["callEndTime"]) - parse_timestamp(r["callDate"])
            seconds = f"{talk_ms / 1000:.0f}"
        table.add_row(
            r["id"],
            r["callDate"],
            r["callType"],
            r["callDirection"],
            r["status"],
            str(r.get("caller", "")),
            str(r.get("callee", "")),
            seconds,
        )
    out.print(table)
