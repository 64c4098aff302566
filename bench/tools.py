"""The outside tools the benchmarks drive: wrk (HTTP load), pgbench (the same SQL, no HTTP), and the
peers a user would otherwise reach for (sqlite-utils, Datasette) in an environment of their own.

The peers are not cdrstore dependencies: `make bench-peers` (or the first benchmark that needs them)
makes `.venv-peers` with `pip install sqlite-utils datasette` beside the project's own venv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cdrstore.testing import free_port

PEERS_VENV = Path(".venv-peers")
PEERS = ("sqlite-utils>=3.36", "datasette>=0.64")
_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


@dataclass
class WrkResult:
    requests_per_s: float
    bytes_per_s: float
    errors: int  # non-2xx answers and socket errors


def wrk(
    url: str,
    seconds: float,
    headers: dict[str, str],
    threads: int = 2,
    connections: int = 8,
) -> WrkResult:
    """`wrk -tT -cC -dSs` against one URL: a load generator in C, which leaves the CPU to the server."""
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    command = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return WrkResult(
        float(rps.group(1)) if rps else 0.0,
        float(transfer.group(1)) * _UNITS[transfer.group(2)] if transfer else 0.0,
        errors,
    )


def pgbench(url: str, script: str, seconds: float, clients: int = 2) -> float:
    """Transactions/s of `pgbench -n -cC -jC -T` running the script (statements, one a line)."""
    binary = shutil.which("pgbench")
    if binary is None:
        raise SystemExit("pgbench is needed (apt-get install postgresql-client)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
        f.write(script)
        f.flush()
        out = subprocess.run(
            [binary, "-n", f"-c{clients}", f"-j{clients}", f"-T{seconds:.0f}", "-f", f.name, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    tps = re.search(r"tps = ([\d.]+)", out)
    assert tps is not None, out
    return float(tps.group(1))


def peer(command: str) -> str:
    """The path of a peer's command, installing the peers' environment the first time."""
    path = PEERS_VENV / "bin" / command
    if not path.exists():
        print(f"installing {', '.join(PEERS)} into {PEERS_VENV} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        pip = [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *PEERS]
        subprocess.run(pip, check=True)
    return str(path.resolve())


@contextmanager
def datasette(database: Path) -> Iterator[str]:
    """Datasette serving the file read-only (immutable, as a published copy would be), its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [peer("datasette"), "serve", "-i", str(database), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/-/versions.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("datasette did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
