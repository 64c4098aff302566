"""Worker processes that share the load: each listens on a socket of its own (SO_REUSEPORT).

uvicorn's workers share one listening socket, and whichever wakes first accepts every connection
waiting: measured with `wrk -c8` and 2 workers, all 8 keep-alive connections often went to one
worker, which then served alone on one core while the other idled (docs/performance.md). With a
socket a worker, the kernel spreads new connections over the workers by their addresses.
uvicorn's supervisor still starts, watches and stops the workers; only the socket each one gets
differs: what is handed to a worker is the address, and the worker binds its own socket.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _bound(host: str, port: int) -> socket.socket:
    """A socket bound to the address with SO_REUSEPORT, in the worker that will listen on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class OwnSocket:
    """Pickled into a worker as the address it stands for, unpickled there as a fresh socket bound
    with SO_REUSEPORT (uvicorn hands every worker the list of sockets it was given)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return _bound, (self.host, self.port)


def run_workers(config: uvicorn.Config) -> None:
    """Run config.workers uvicorn workers, each on a socket of its own, until told to stop."""
    Multiprocess(config, sockets=[OwnSocket(config.host, config.port)]).run()  # type: ignore[list-item]
