"""Compressed responses (docs/api.md#compression): zstd or gzip, as the request's Accept-Encoding
allows, for every response of at least 1 KiB.

Litestar's compression middleware compresses (whole bodies at once, streamed ones chunk by chunk);
zstd is given to it as a facade of its own. It matches the header by substring, so `gzip;q=0` would
still be gzipped: `AcceptEncoding` reads the header by RFC 9110 (q-values, `*`, `identity`) first
and hands the middleware only the coding chosen, or none.

The levels were chosen by measurement on a 500-record page (643 KB; docs/performance.md): zstd
level 1 takes 1.0 ms for a sixth of the bytes (6.6x); gzip level 1 takes 7.8 ms for 4.4x, and
higher gzip levels cost more time than the bytes they save on a fast network.
"""

from __future__ import annotations

import sys
from io import BytesIO
from typing import TYPE_CHECKING, Final

from litestar.config.compression import CompressionConfig
from litestar.enums import CompressionEncoding, ScopeType
from litestar.middleware.compression.facade import CompressionFacade

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

MINIMUM_SIZE: Final = 1024
ZSTD_LEVEL: Final = 1
GZIP_LEVEL: Final = 1
# Preferred first when a client accepts several with the same q-value.
CODINGS: Final = ("zstd", "gzip")


class ZstdCompression(CompressionFacade):
    """zstd for Litestar's compression middleware: each chunk flushed as a block (a streamed
    response reaches the client as it is written), the frame ended at close."""

    __slots__ = ("buffer", "compressor")

    encoding = "zstd"

    def __init__(
        self,
        buffer: BytesIO,
        compression_encoding: CompressionEncoding | str,
        config: CompressionConfig,
    ) -> None:
        self.buffer = buffer
        self.compressor = zstd.ZstdCompressor(level=ZSTD_LEVEL)

    def write(self, body: bytes) -> None:
        self.buffer.write(self.compressor.compress(body, zstd.ZstdCompressor.FLUSH_BLOCK))

    def close(self) -> None:
        self.buffer.write(self.compressor.flush(zstd.ZstdCompressor.FLUSH_FRAME))


def compression_config() -> CompressionConfig:
    return CompressionConfig(
        backend="zstd",
        compression_facade=ZstdCompression,
        gzip_fallback=True,
        gzip_compress_level=GZIP_LEVEL,
        minimum_size=MINIMUM_SIZE,
    )


def _q_value(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0  # a malformed weight accepts nothing rather than guess
    return 1.0


def chosen_coding(header: str) -> str | None:
    """The coding to answer with for this Accept-Encoding value; None for identity. A coding is
    acceptable if named with q > 0, or covered by `*` with q > 0 and not named."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, *params = item.split(";")
        name = name.strip().lower()
        if name:
            weights[name] = max(weights.get(name, 0.0), _q_value(params))
    wildcard = weights.get("*", 0.0)
    best, best_q = None, 0.0
    for coding in CODINGS:
        q = weights.get(coding, wildcard)
        if q > best_q:
            best, best_q = coding, q
    return best


class AcceptEncoding:
    """Replaces the request's Accept-Encoding with the one coding chosen (or removes it), so the
    compression middleware inside sees no coding the client refused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            given = [value for name, value in scope["headers"] if name == b"accept-encoding"]
            if given:
                coding = chosen_coding(b",".join(given).decode("latin-1"))
                headers = [(n, v) for n, v in scope["headers"] if n != b"accept-encoding"]
                if coding is not None:
                    headers.append((b"accept-encoding", coding.encode()))
                # In place: the access log outside reads what routing writes into this scope.
                scope["headers"] = headers
        await self.app(scope, receive, send)
