"""CDR sources posting in their own formats (docs/sources/): FreeSWITCH's mod_json_cdr at
`POST /v1/api/apps/{appID}/ingest/freeswitch` (docs/sources/freeswitch.md)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import anyio.to_thread
from litestar import Request, post
from litestar.datastructures import State
from litestar.params import PathParameter

from .. import contract
from ..errors import InvalidRequest, UnsupportedMediaType
from ..ingest.sources import Policy
from ..ingest.sources.freeswitch import BASE64_MEDIA_TYPE, FORM_MEDIA_TYPE, FREESWITCH_JSON
from ..ops.records import ingest_source_document, source_policy
from ..query import parse_source_query
from .auth import caller
from .calls import (
    _INGEST_ERRORS,
    IngestResponse,
    _check_declared_length,
    _error,
    _read_body,
    ingested,
)
from .errors import JSON

FREESWITCH_MEDIA_TYPES: Final = (JSON, FORM_MEDIA_TYPE, BASE64_MEDIA_TYPE)


def _media_type(request: Request[Any, Any, Any]) -> str:
    given = request.headers.getall("content-type", [])
    media_types = [value.split(";", 1)[0].strip().lower() for value in given]
    if len(given) > 1:
        raise InvalidRequest("malformed request: Content-Type given more than once")
    media_type = media_types[0] if media_types else ""
    if media_type not in FREESWITCH_MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"unsupported content type {shown!r}: use {', '.join(FREESWITCH_MEDIA_TYPES)}, as"
            " mod_json_cdr sends"
        )
    return media_type


def _authorised_policy(request: Request[Any, Any, Any], app_id: str) -> Policy:
    caller(request, app_id, "ingest", basic=True)
    return source_policy(*parse_source_query(request.query_params.multi_items()))


def _ingest(state: State, app_id: str, body: bytes, policy: Policy) -> IngestResponse:
    return ingested(ingest_source_document(state.store, app_id, FREESWITCH_JSON.name, body, policy))


@post(
    contract.FREESWITCH_INGEST_PATH,
    summary="Ingest a FreeSWITCH mod_json_cdr document (extension)",
    description=(
        "One channel leg as FreeSWITCH's mod_json_cdr posts it at hang-up: raw JSON, or"
        " `cdr=<url-encoded JSON>` (`encode=true`) or `cdr=<base64>` (`encode=base64`);"
        " variable values url-encoded"
        " (`encode-values=true`) or not. 200 only once the record is stored (mod_json_cdr"
        " retries otherwise); posting the same leg again changes nothing. Authorization: Bearer,"
        " or HTTP Basic with any user name and the token as the password. Query: `internal` (a"
        " regular expression for the internal extensions: direction and onnet), `tz`, and"
        " `uuid` (appended by mod_json_cdr; not used)."
        " Mapping: docs/sources/freeswitch.md."
    ),
    responses={
        **_INGEST_ERRORS,
        415: _error(f"Content-Type is none of {', '.join(FREESWITCH_MEDIA_TYPES)}"),
    },
    status_code=200,
    request_max_body_size=contract.BATCH_MAX_BYTES,
    tags=["sources"],
)
async def post_freeswitch_cdr(
    request: Request[Any, Any, Any],
    state: State,
    appID: Annotated[str, PathParameter(description="App ID")],
) -> IngestResponse:
    policy = await anyio.to_thread.run_sync(_authorised_policy, request, appID)
    _media_type(request)
    _check_declared_length(request)
    body = await _read_body(request, state.body_timeout)
    return await anyio.to_thread.run_sync(_ingest, state, appID, body, policy)
