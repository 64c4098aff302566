"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import anyio.to_thread
import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from ..store import Store
from .errors import ErrorBody, error_response


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
async def readyz(state: State) -> Response[Health] | Response[bytes]:
    return await anyio.to_thread.run_sync(_readiness, state.store)


def _readiness(store: Store) -> Response[Health] | Response[bytes]:
    try:
        store.ping()
        current = store.is_current()
    except Exception:
        return error_response(503, "database unavailable")
    if not current:
        return error_response(503, "database schema is not current: run `cdrstore db upgrade`")
    return Response(Health("ready"))
