"""The call-detail resource: `GET` (docs/api.md#reading-call-details) and `POST`
(docs/api.md#writing-call-details) of `/v1/api/apps/{appID}/data/call-detail`."""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import InternalServerException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter

from .. import contract
from ..errors import InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from ..ingest.batch import INGEST_MEDIA_TYPES
from ..ops.records import ingest_body, read_page
from ..query import parse_ingest_query
from ..record import IngestSummary, Record
from ..store import Page
from .auth import caller
from .errors import JSON, ErrorBody
from .metrics import count_ingested


class CallDetailPage(msgspec.Struct):
    code: int
    result: list[Record]


class IngestResponse(msgspec.Struct):
    code: int
    result: IngestSummary


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


COMMON_ERRORS: Final = {
    400: _error("A bad parameter or body; the message says which"),
    401: _error("Token missing, malformed, unknown, revoked or expired"),
    403: _error("The token is not valid for this appID, or lacks the scope"),
    404: _error("No such path"),
    405: _error("No such method"),
    429: _error("Too many requests; see Retry-After"),
    500: _error("Internal fault"),
    503: _error("Database unavailable"),
}
_INGEST_ERRORS: Final = {
    **COMMON_ERRORS,
    408: _error("The body stalled: nothing received for the body timeout (default 30 s)"),
    413: _error("More than 10,000 records or 32 MiB"),
    415: _error("Content-Type is neither application/json nor application/x-ndjson"),
}


def _next_link(request: Request[Any, Any, Any], offset: int, page: Page) -> dict[str, str]:
    if not page.has_more:
        return {}
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    pairs.append(("offset", str(offset + len(page.docs))))
    url = f"{request.url.path}?{urlencode(pairs, quote_via=quote)}"
    return {"Link": f'<{url}>; rel="next"'}


@get(
    contract.CALL_DETAIL_PATH,
    summary="Get call details",
    description=(
        "One page of the app's call records, ordered by callDate then id. Every other query "
        'parameter is refused. A `Link: rel="next"` header follows when more records match.'
    ),
    responses=COMMON_ERRORS,
    tags=["call-detail"],
)
async def get_call_details(
    request: Request[Any, Any, Any],
    appID: Annotated[str, PathParameter(description="App ID")],  # the reference's name
) -> Response[CallDetailPage]:
    # The declared parameters document the API; the raw query string is what is checked, so that
    # unknown, repeated and malformed parameters are all refused the same way.
    return await anyio.to_thread.run_sync(_read_page, request, appID)  # type: ignore[arg-type]


def _read_page(request: Request[Any, Any, Any], app_id: str) -> Response[bytes]:
    caller(request, app_id, "read")
    query, page = read_page(request.app.state.store, app_id, request.query_params.multi_items())
    return Response(
        content=contract.page_body(page.docs),
        media_type=JSON,
        headers=_next_link(request, query.offset, page),
    )


def _media_type(request: Request[Any, Any, Any]) -> str:
    given = request.headers.getall("content-type", [])
    media_types = [value.split(";", 1)[0].strip().lower() for value in given]
    if len(given) > 1 or any("," in media_type for media_type in media_types):
        raise InvalidRequest("malformed request: Content-Type given more than once")
    media_type = media_types[0] if media_types else ""
    if media_type not in INGEST_MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"unsupported content type {shown!r}: use application/json or application/x-ndjson"
        )
    return media_type


def _check_declared_length(request: Request[Any, Any, Any]) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > contract.BATCH_MAX_BYTES:
        raise PayloadTooLarge(
            f"request too large: at most {contract.BATCH_MAX_BYTES} bytes a request"
        )


async def _read_body(request: Request[Any, Any, Any], idle_timeout: float) -> bytes:
    """The body, refused (413) as soon as it passes the limit, so never buffered beyond it; and
    given up (408) once the client sends nothing for `idle_timeout` seconds, so that a slow or
    stalled client holds one connection, not a worker."""
    chunks: list[bytes] = []
    stream = request.stream()
    try:
        while True:
            with anyio.fail_after(idle_timeout):
                chunk = await anext(stream, None)
            if chunk is None:
                return b"".join(chunks)
            chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"request body too slow: nothing received for {idle_timeout:g} s"
        ) from None
    except InternalServerException:  # Litestar's word for a client gone mid-body
        raise InvalidRequest("client disconnected before the body was complete") from None
    finally:
        await stream.aclose()


def ingested(counts: IngestSummary) -> IngestResponse:
    """The 200 answer to an ingest, counted in the metrics."""
    count_ingested(counts.inserted, counts.updated, counts.unchanged)
    return IngestResponse(contract.CODE_OK, counts)


def _ingest(
    state: State, app_id: str, body: bytes, media_type: str, ignore_unknown: bool
) -> IngestResponse:
    return ingested(ingest_body(state.store, app_id, body, media_type, ignore_unknown))


@post(
    contract.CALL_DETAIL_PATH,
    summary="Ingest call details (extension)",
    description=(
        'A JSON array of records, `{"result": [...]}`, or NDJSON. At most 10,000 records and '
        "32 MiB. One invalid record rejects the whole request; a known id replaces its record."
    ),
    responses=_INGEST_ERRORS,
    status_code=200,
    request_max_body_size=contract.BATCH_MAX_BYTES,
    tags=["call-detail"],
)
async def post_call_details(
    request: Request[Any, Any, Any],
    state: State,
    appID: Annotated[str, PathParameter(description="App ID")],  # the reference's name
) -> IngestResponse:
    # Refuse what can be refused before a byte of the body is read.
    await anyio.to_thread.run_sync(caller, request, appID, "ingest")
    ignore_unknown = parse_ingest_query(request.query_params.multi_items())
    media_type = _media_type(request)
    _check_declared_length(request)
    body = await _read_body(request, state.body_timeout)
    return await anyio.to_thread.run_sync(_ingest, state, appID, body, media_type, ignore_unknown)
