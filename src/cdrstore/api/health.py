"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import anyio.to_thread
import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from ..ops.database import check_ready
from .errors import ErrorBody


class Health(msgspec.Struct):
    status: str


@get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> Health:
    return Health("ok")


@get(
    "/readyz",
    tags=["health"],
    summary="The database is reachable and its schema current",
    responses={503: ResponseSpec(data_container=ErrorBody, description="Not ready")},
)
async def readyz(state: State) -> Health:
    await anyio.to_thread.run_sync(check_ready, state.store)
    return Health("ready")
