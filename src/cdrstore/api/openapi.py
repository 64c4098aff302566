"""What the OpenAPI document says that Litestar cannot infer: the GET query (checked raw, so that
unknown, repeated and malformed parameters are all refused the same way) and the POST body (read
raw, to refuse it before buffering and to accept NDJSON). Both from the domain's own facts."""

from __future__ import annotations

from typing import Any, Final

from litestar import Litestar, Request, get
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)

from .. import contract
from ..query import CHANGES_PARAMETERS, GROUPS, QUERY_PARAMETERS, STATS_PARAMETERS
from ..record import CALL_TYPES, DIRECTIONS, STATUSES

# "Authorize" in /docs, then "Try it out": every call-detail operation takes a bearer token.
BEARER: Final = "bearerAuth"
BASIC: Final = "basicAuth"  # the sources' routes only (mod_json_cdr can only do Basic)
COMPONENTS: Final = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description=(
                f"A token made by `cdrstore tokens create` ({contract.TOKEN_PREFIX}...). Its scopes"
                f" ({', '.join(contract.SCOPES)}) say what it may do; each operation names the"
                " one it needs."
            ),
        ),
        BASIC: SecurityScheme(
            type="http",
            scheme="basic",
            description="Any user name, the token as the password (the source ingest routes only).",
        ),
    }
)
# The scope each call-detail operation needs (as api/calls.py asks ops to check it).
SCOPE_OF: Final = {"get": "read", "post": "ingest"}
WEBHOOK_SCOPE: Final = "webhooks"  # the subscriptions' routes (api/webhooks.py)
assert set(SCOPE_OF.values()) | {WEBHOOK_SCOPE} == set(contract.SCOPES)


def _instant(text: str) -> tuple[Schema, str]:
    schema = Schema(
        type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME, description=text, default=""
    )
    return schema, text


# The query's parameters as documented; the rules themselves are query.parse_call_query's.
_QUERY: Final[dict[str, tuple[Schema, str | None]]] = {
    "callType": (Schema(type=OpenAPIType.STRING, enum=["", *CALL_TYPES], default=""), None),
    "status": (Schema(type=OpenAPIType.STRING, enum=["", *STATUSES], default=""), None),
    "startAt": _instant("callDate >= startAt (RFC3339, any offset)"),
    "endAt": _instant("callDate < endAt (RFC3339, any offset)"),
    "offset": (Schema(type=OpenAPIType.INTEGER, minimum=0, default=0), None),
    "limit": (
        Schema(
            type=OpenAPIType.INTEGER,
            minimum=1,
            maximum=contract.PAGE_LIMIT_MAX,
            default=contract.PAGE_LIMIT_DEFAULT,
        ),
        None,
    ),
    "number": (
        Schema(type=OpenAPIType.STRING, default=""),
        "Calls whose caller or callee is this number, compared without spaces, dashes and a"
        " leading + (an extension); paged by offset",
    ),
}
assert tuple(_QUERY) == QUERY_PARAMETERS  # one list of parameters
_STATS_QUERY: Final[dict[str, tuple[Schema, str | None]]] = {
    "startAt": _QUERY["startAt"],
    "endAt": _QUERY["endAt"],
    "callType": _QUERY["callType"],
    "status": _QUERY["status"],
    "callDirection": (Schema(type=OpenAPIType.STRING, enum=["", *DIRECTIONS], default=""), None),
    "groupBy": (
        Schema(type=OpenAPIType.STRING, enum=["", *GROUPS], default=""),
        "One row a group, in key order; absent: one total row",
    ),
    "tz": (
        Schema(type=OpenAPIType.STRING, default="UTC"),
        "IANA time zone of the time groups' days and hours",
    ),
}
assert tuple(_STATS_QUERY) == STATS_PARAMETERS


@get("/openapi.json", include_in_schema=False, media_type="application/vnd.oai.openapi+json")
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI document at the root, where generic tools look first (also at /docs/openapi.json)."""
    return request.app.openapi_schema.to_schema()


def _optional_query(name: str, text: str, default: str | None = None) -> Parameter:
    schema = Schema(type=OpenAPIType.STRING, default=default)
    return Parameter(name=name, param_in="query", schema=schema, description=text, required=False)


def _call_detail(app: Litestar, method: str) -> Operation:
    operation = getattr(app.openapi_schema.paths[contract.CALL_DETAIL_ROUTE], method)  # type: ignore[index]
    assert isinstance(operation, Operation)
    return operation


def _add_query(operation: Operation, query: dict[str, tuple[Schema, str | None]]) -> None:
    operation.parameters = [
        *(operation.parameters or []),
        *(
            Parameter(name=name, param_in="query", schema=schema, description=text, required=False)
            for name, (schema, text) in query.items()
        ),
    ]


def document_query(app: Litestar) -> None:
    _add_query(_call_detail(app, "get"), _QUERY)


def document_stats(app: Litestar) -> None:
    operation = app.openapi_schema.paths[contract.CALL_STATS_ROUTE].get  # type: ignore[index]
    assert isinstance(operation, Operation)
    _add_query(operation, _STATS_QUERY)
    operation.security = [{BEARER: []}]
    operation.description = f"{operation.description}\n\nToken scope: `read`."


def document_ingest_query(app: Litestar) -> None:
    operation = _call_detail(app, "post")
    ignore = Schema(type=OpenAPIType.STRING, enum=["true", "false"], default="false")
    text = "true: keys the record model does not know are dropped instead of refused"
    operation.parameters = [
        *(operation.parameters or []),
        Parameter(
            name="ignoreUnknown", param_in="query", schema=ignore, description=text, required=False
        ),
    ]


def document_ingest_body(app: Litestar) -> None:
    records = Schema(type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/Record"))
    envelope = Schema(
        type=OpenAPIType.OBJECT,
        properties={"result": records, "code": Schema(type=OpenAPIType.INTEGER)},
        required=["result"],
    )
    _call_detail(app, "post").request_body = RequestBody(
        required=True,
        description="At most 10,000 records and 32 MiB; one invalid record rejects the whole request.",
        content={
            "application/json": OpenAPIMediaType(schema=Schema(one_of=[records, envelope])),
            "application/x-ndjson": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description="one JSON record a line")
            ),
        },
    )


def document_security(app: Litestar) -> None:
    """Each call-detail operation requires the bearer scheme, and says which scope (OpenAPI 3.1
    has no scopes for bearer auth: in the description)."""
    for method, scope in SCOPE_OF.items():
        operation = _call_detail(app, method)
        operation.security = [{BEARER: []}]
        operation.description = f"{operation.description}\n\nToken scope: `{scope}`."


def document_sources(app: Litestar) -> None:
    """FreeSWITCH's route: its body (read raw, as mod_json_cdr sends it), query and security."""
    operation = app.openapi_schema.paths[contract.FREESWITCH_INGEST_ROUTE].post  # type: ignore[index]
    assert isinstance(operation, Operation)
    document_schema = Schema(
        type=OpenAPIType.OBJECT,
        description="One mod_json_cdr document: variables, callflow, app_log, ...",
        required=["variables"],
    )
    form = Schema(
        type=OpenAPIType.OBJECT,
        properties={"cdr": Schema(type=OpenAPIType.STRING, description="the document as JSON")},
        required=["cdr"],
    )
    operation.request_body = RequestBody(
        required=True,
        description=(
            "One channel leg's CDR as mod_json_cdr posts it: raw JSON, a form with cdr=<JSON>"
            " (encode=true), or cdr=<base64> (encode=base64). Variable values may be url-encoded (encode-values=true); encode=true"
            " with encode-values=true makes invalid JSON and is refused (400)."
        ),
        content={
            "application/json": OpenAPIMediaType(schema=document_schema),
            "application/x-www-form-urlencoded": OpenAPIMediaType(schema=form),
            "application/x-www-form-base64-encoded": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description="cdr=<the document in base64>")
            ),
        },
    )
    operation.parameters = [
        *(operation.parameters or []),
        _optional_query("uuid", "The leg's uuid, as mod_json_cdr appends it to its url; not used"),
        _optional_query(
            "internal", "A regular expression for the internal extensions (direction, onnet)"
        ),
        _optional_query("tz", "The time zone of times written without an offset", default="UTC"),
    ]
    operation.security = [{BEARER: []}, {BASIC: []}]
    operation.description = f"{operation.description}\n\nToken scope: `ingest`."


# The change feed's parameters; the rules are query.parse_changes_query's and ops.changes'.
_CHANGES_QUERY: Final[dict[str, tuple[Schema, str]]] = {
    "cursor": (
        Schema(type=OpenAPIType.STRING),
        "Opaque: the `cursor` of the previous answer. Absent: from the oldest change kept.",
    ),
    "limit": (
        Schema(
            type=OpenAPIType.INTEGER,
            minimum=1,
            maximum=contract.CHANGES_LIMIT_MAX,
            default=contract.CHANGES_LIMIT_DEFAULT,
        ),
        "Changes a page at most",
    ),
}
assert tuple(_CHANGES_QUERY) == CHANGES_PARAMETERS


def document_changes(app: Litestar) -> None:
    """The change feed's query and security (scope `read`)."""
    operation = app.openapi_schema.paths[contract.CHANGES_ROUTE].get  # type: ignore[index]
    assert isinstance(operation, Operation)
    operation.parameters = [
        *(operation.parameters or []),
        *(
            Parameter(name=name, param_in="query", schema=schema, description=text, required=False)
            for name, (schema, text) in _CHANGES_QUERY.items()
        ),
    ]
    operation.security = [{BEARER: []}]
    operation.description = f"{operation.description}\n\nToken scope: `read`."


def document_webhooks(app: Litestar) -> None:
    """The subscriptions' PATCH body (read raw) and the bearer scheme on each of their routes."""
    body = Schema(
        type=OpenAPIType.OBJECT,
        properties={
            "enabled": Schema(type=OpenAPIType.BOOLEAN),
            "url": Schema(
                type=OpenAPIType.STRING,
                format=OpenAPIFormat.URI,
                description="https://...; required to enable unless one is set already",
            ),
        },
        required=["enabled"],
        additional_properties=False,
    )
    for path in (contract.CALL_EVENT_SUB_PATH, contract.RECORDING_EVENT_SUB_PATH):
        item = app.openapi_schema.paths[path.replace(":str}", "}")]  # type: ignore[index]
        for operation in (item.get, item.patch):
            assert isinstance(operation, Operation)
            operation.security = [{BEARER: []}]
        assert isinstance(item.patch, Operation)
        item.patch.request_body = RequestBody(
            required=True, content={"application/json": OpenAPIMediaType(schema=body)}
        )


def document(app: Litestar) -> None:
    document_query(app)
    document_ingest_query(app)
    document_ingest_body(app)
    document_security(app)
    document_sources(app)
    document_changes(app)
    document_stats(app)
    document_webhooks(app)
