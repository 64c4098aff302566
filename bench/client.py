"""Client benchmark: `iter_calls` beside raw HTTP, and the memory of a streaming CSV export.

    python -m bench.client [--records 100000] [--export-records 1000000] [--workdir bench/data]

- `Client.iter_calls` over every record of a store (records/s), beside its floor: raw httpx GETs of
  the same 500-record pages, no record decoding (records/s), and the ratio.
- Peak resident memory (max RSS) of `cdrstore calls export --all --format csv` over the whole
  export store, a separate process measured by the OS (target: at most 150 MB).
Builds the stores with `cdrstore demo` (synthetic CDRs) unless they exist in --workdir.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec

from cdrstore.client import Client
from cdrstore.testing import live_server

_MEASURED_EXPORT = """
import resource, sys
from cdrstore.cli import app
try:
    app(["calls", "export", "--format", "csv", "-o", sys.argv[1]])
except SystemExit as done:
    if done.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


class _RawPage(msgspec.Struct):
    result: list[msgspec.Raw]


_RAW_PAGE = msgspec.json.Decoder(_RawPage)


def build(workdir: Path, records: int) -> tuple[str, str]:
    db = workdir / f"client-{records}.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "CDRSTORE_DATABASE_URL": url}
    token_file = workdir / f"client-{records}.token"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cdrstore",
            "demo",
            "--records",
            str(records),
            "--token-file",
            str(token_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return url, out.split("token: ")[1].split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--export-records", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    url, token = build(args.workdir, args.records)
    with live_server(url, workers=2) as base:
        path = "/v1/api/apps/demo/data/call-detail"
        start = time.perf_counter()
        raw = 0
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            offset = 0
            while True:
                body = http.get(path, params={"offset": offset, "limit": 500}).content
                n = len(_RAW_PAGE.decode(body).result)  # split into records, none decoded
                raw += n
                offset += 500
                if n < 500:
                    break
        floor = raw / (time.perf_counter() - start)
        start = time.perf_counter()
        with Client(base, "demo", token) as client:
            typed = sum(1 for _ in client.iter_calls())
        rate = typed / (time.perf_counter() - start)
        assert typed == raw == args.records
        print(
            f"iter_calls over {typed:,} records: {rate:,.0f} records/s; raw httpx pages (floor):"
            f" {floor:,.0f} records/s; ratio {rate / floor:.2f}"
        )

    url, token = build(args.workdir, args.export_records)
    with live_server(url, workers=2) as base:
        env = {**os.environ, "CDRSTORE_URL": base, "CDRSTORE_APP": "demo", "CDRSTORE_TOKEN": token}
        out = args.workdir / "export.csv"
        start = time.perf_counter()
        # The export runs in a process of its own that reports its own peak resident memory.
        measured = subprocess.run(
            [sys.executable, "-c", _MEASURED_EXPORT, str(out)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        peak_kb = int(measured.stdout.split()[-1])
        elapsed = time.perf_counter() - start
        rows = sum(1 for _ in out.open("rb")) - 1
        print(
            f"calls export --all --format csv of {rows:,} records: {elapsed:.0f} s,"
            f" peak RSS {peak_kb / 1024:.0f} MB (target <= 150 MB)"
        )


if __name__ == "__main__":
    main()
