"""The change feed (an extension): `GET /v1/api/apps/{appID}/data/call-detail/changes`
(docs/api.md#following-changes)."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import anyio.to_thread
import msgspec
from litestar import Request, Response, get
from litestar.params import PathParameter

from .. import contract
from ..ops.changes import ChangesPage, read_changes
from ..record import Record
from .auth import caller
from .calls import COMMON_ERRORS, _error
from .errors import JSON

_UPSERT_PREFIX: Final = b'{"op":"upsert","id":'
_DELETE_PREFIX: Final = b'{"op":"delete","id":'


class FeedEntry(msgspec.Struct, omit_defaults=True):
    """One entry of the feed, as documented (the body itself is joined from the stored JSON)."""

    op: Literal["upsert", "delete"]
    id: str
    record: Record | None = None  # an upsert's record as it is now


class ChangesBody(msgspec.Struct):
    code: int
    result: list[FeedEntry]
    cursor: str
    hasMore: bool  # the wire's name


def changes_body(page: ChangesPage) -> bytes:
    """The 200 body: each upsert carries its stored document as stored, never re-encoded. An
    upsert whose record is gone since is left out: its delete comes later in the log."""
    entries = []
    for change in page.changes:
        record_id = msgspec.json.encode(change.id)
        if change.op == "delete":
            entries.append(_DELETE_PREFIX + record_id + b"}")
        elif change.doc is not None:
            entries.append(_UPSERT_PREFIX + record_id + b',"record":' + change.doc + b"}")
    tail = msgspec.json.encode({"cursor": page.cursor, "hasMore": page.has_more})
    return b'{"code":0,"result":[' + b",".join(entries) + b"]," + tail[1:]


@get(
    contract.CHANGES_PATH,
    summary="Follow changes to call details (extension)",
    description=(
        "What changed in the app's records since a cursor, oldest first: an `upsert` carries the "
        "record as it is now, a `delete` its id. Keep the answer's `cursor` and send it back for "
        "the next page; `hasMore` is false once the feed is read to its end. Without a cursor "
        "the feed starts at the oldest change kept. A cursor older than that is answered 410: "
        "start a full sync."
    ),
    responses={
        **COMMON_ERRORS,
        410: _error("The cursor is older than the change log kept: start a full sync"),
    },
    tags=["call-detail"],
)
async def get_changes(
    request: Request[Any, Any, Any],
    appID: Annotated[str, PathParameter(description="App ID")],  # the reference's name
) -> Response[ChangesBody]:
    # As on the call-detail GET: the raw query string is what is checked.
    return await anyio.to_thread.run_sync(_read_changes, request, appID)  # type: ignore[arg-type]


def _read_changes(request: Request[Any, Any, Any], app_id: str) -> Response[bytes]:
    caller(request, app_id, "read")
    page = read_changes(request.app.state.store, app_id, request.query_params.multi_items())
    return Response(content=changes_body(page), media_type=JSON)
