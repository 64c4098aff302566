"""The statistics resource (docs/api.md#statistics): `GET /v1/api/apps/{appID}/data/call-stats`."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from litestar import Request, Response, get
from litestar.params import PathParameter

from .. import contract
from ..ops.stats import stats_body, stats_for_params
from ..statistics import StatsBody
from .auth import caller
from .calls import COMMON_ERRORS
from .errors import JSON


@get(
    contract.CALL_STATS_PATH,
    summary="Get call statistics (extension)",
    description=(
        "Calls, answered, ASR, talk time, ACD, abandoned and calls by status for the matching"
        " records, one row a group (groupBy) in key order, or one total row. Every other query"
        " parameter is refused."
    ),
    responses=COMMON_ERRORS,
    tags=["call-stats"],
)
async def get_call_stats(
    request: Request[Any, Any, Any],
    appID: Annotated[str, PathParameter(description="App ID")],
) -> Response[StatsBody]:
    # As on call-detail, the raw query string is what is checked.
    return await anyio.to_thread.run_sync(_stats, request, appID)  # type: ignore[arg-type]


def _stats(request: Request[Any, Any, Any], app_id: str) -> Response[bytes]:
    caller(request, app_id, "read")
    _, rows = stats_for_params(request.app.state.store, app_id, request.query_params.multi_items())
    return Response(content=stats_body(rows), media_type=JSON)
